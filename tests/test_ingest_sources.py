"""Readers: every record of every source kind comes out, bad ones with a precise reason."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from safelight.ingest.normalise import normalise
from safelight.ingest.sources import RawRecord, iter_records, source_kind
from safelight.records import Ad, Reject

AD = {
    "id": "a1",
    "title": "New in town",
    "body": "Call 713-555-0142 for companionship",
    "posted_at": "2026-03-01T14:00:00Z",
}


def write_lines(path: Path, lines: list[bytes]) -> Path:
    data = b"\n".join(lines) + b"\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def records(path: Path, **kw) -> list[RawRecord]:
    return list(iter_records(path, **kw))


# --- kinds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.json", "jsonl"),
        ("a.JSONL.gz", "jsonl"),
        ("a.csv", "csv"),
        ("a.csv.gz", "csv"),
        ("a.html", "html"),
        ("a.htm", "html"),
        ("a.warc", "warc"),
        ("a.warc.gz", "warc"),
    ],
)
def test_source_kind(tmp_path: Path, name: str, kind: str) -> None:
    assert source_kind(tmp_path / name) == kind


def test_source_kind_folder_and_unknown(tmp_path: Path) -> None:
    assert source_kind(tmp_path) == "html"
    with pytest.raises(ValueError, match="unknown source kind"):
        source_kind(tmp_path / "a.txt")
    with pytest.raises(FileNotFoundError):
        iter_records(tmp_path / "missing.jsonl")


# --- JSONL -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ads.jsonl", "ads.jsonl.gz", "ads.ndjson"])
def test_jsonl_reads_records_and_skips_blank_lines(tmp_path: Path, name: str) -> None:
    lines = [json.dumps(AD).encode(), b"", b"   ", json.dumps({**AD, "id": "a2"}).encode()]
    recs = records(write_lines(tmp_path / name, lines))
    assert [r.line for r in recs] == [1, 4]
    assert [r.data["id"] for r in recs if r.data] == ["a1", "a2"]
    assert recs[0].raw == lines[0]
    assert recs[0].error is None and recs[0].source == str(tmp_path / name)


def test_jsonl_crlf_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "ads.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(AD).encode() + b"\r\n" + b'{"title": "x"}\r\n')
    recs = records(path)
    assert [r.error for r in recs] == [None, None]
    assert recs[0].raw == json.dumps(AD).encode()


def test_empty_files(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_bytes(b"")
    (tmp_path / "e.jsonl.gz").write_bytes(gzip.compress(b""))
    (tmp_path / "e.csv").write_bytes(b"")
    for name in ("e.jsonl", "e.jsonl.gz", "e.csv"):
        assert records(tmp_path / name) == []


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"title": "a" "body": "b"}', "invalid JSON at column 15: Expecting ',' delimiter"),
        (b'{"title": "a",', "invalid JSON at column 15: Expecting property name enclosed"),
        (b"[1, 2]", "line is a JSON array, not an object"),
        (b'"just text"', "line is a JSON string, not an object"),
        (b"42", "line is a JSON number, not an object"),
        (b"null", "line is JSON null, not an object"),
        (b'{"title": "caf\xe9"}', "invalid UTF-8 at byte 15"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON: nested too deeply"),
    ],
)
def test_jsonl_bad_lines_have_precise_reasons(tmp_path: Path, line: bytes, reason: str) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [line, json.dumps(AD).encode()])
    bad, good = records(path)
    assert bad.data is None and bad.error is not None and bad.error.startswith(reason)
    assert bad.raw == line and bad.line == 1
    assert good.error is None and good.line == 2


def test_jsonl_over_limit_line_rejected_in_bounded_memory(tmp_path: Path) -> None:
    big = json.dumps({"body": "x" * 50_000}).encode()
    path = write_lines(tmp_path / "big.jsonl", [big, json.dumps(AD).encode(), big[:-1]])
    # the last line has no newline and is also too long
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    recs = records(path, max_record_bytes=10_000)
    assert [r.line for r in recs] == [1, 2, 3]
    assert recs[1].error is None
    for rec, line in ((recs[0], big), (recs[2], big[:-1])):
        assert rec.data is None and "over the 10,000-byte limit" in rec.error
        assert f"{len(line):,} bytes" in rec.error
        assert hashlib.sha256(line).hexdigest() in rec.error
        assert len(rec.raw) <= 4096  # only a prefix is kept


def test_jsonl_line_exactly_at_limit_is_kept(tmp_path: Path) -> None:
    line = json.dumps({"body": "y" * 100}).encode()
    recs = records(write_lines(tmp_path / "a.jsonl", [line]), max_record_bytes=len(line))
    assert recs[0].error is None


def test_truncated_gzip_is_a_record_not_a_crash(tmp_path: Path) -> None:
    data = gzip.compress(b"\n".join(json.dumps({**AD, "id": str(i)}).encode() for i in range(2000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    recs = records(path)
    assert recs[-1].error is not None and "unreadable" in recs[-1].error
    assert all(r.error is None for r in recs[:-1]) and len(recs) > 1


def test_nul_bytes_survive_the_reader(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "nul.jsonl", [b'{"title": "a\\u0000b", "body": "c"}'])
    (rec,) = records(path)
    assert rec.data == {"title": "a\x00b", "body": "c"}


# --- CSV -------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[list[str]], bom: bool = False) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    data = (("\ufeff" if bom else "") + buf.getvalue()).encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


HEADER = ["id", "title", "body", "images", "phone"]


@pytest.mark.parametrize("name", ["ads.csv", "ads.csv.gz"])
def test_csv_rows_and_images(tmp_path: Path, name: str) -> None:
    rows = [
        HEADER,
        ["c1", "Sweet", "line one\nline two", '["https://img.example.com/1.jpg"]', "713-555-0101"],
        ["c2", "Hello", "body", "https://img.example.com/a.jpg|https://img.example.com/b.jpg", ""],
        ["c3", "Hi", "body", "", ""],
    ]
    recs = records(write_csv(tmp_path / name, rows, bom=True))
    assert [r.error for r in recs] == [None, None, None]
    assert [r.line for r in recs] == [2, 4, 5]  # physical line where each row starts
    assert recs[0].data["body"] == "line one\nline two"
    assert recs[0].data["images"] == ["https://img.example.com/1.jpg"]
    assert recs[1].data["images"] == [
        "https://img.example.com/a.jpg",
        "https://img.example.com/b.jpg",
    ]
    assert recs[0].data["id"] == "c1"  # BOM not glued to the first header name
    assert recs[2].raw == b"c3,Hi,body,,"


def test_csv_bad_rows_are_rejected_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(
        b"id,title,body\n1,too,many,fields\n2,caf\xe9,body\n3,ok,nul\x00inside\n4,fine,body\n"
    )
    recs = records(path)
    assert [r.line for r in recs] == [2, 3, 4, 5]
    assert recs[0].error == "row has 4 fields, the header has 3"
    assert recs[1].error == "invalid UTF-8 at byte 6" and recs[1].raw == b"2,caf\xe9,body"
    assert recs[2].error is None and recs[2].data["body"] == "nul\x00inside"
    assert recs[3].data == {"id": "4", "title": "fine", "body": "body"}


def test_csv_unclosed_quote_says_which_lines_it_took(tmp_path: Path) -> None:
    """An unclosed quote makes the csv module read every later line into one field: the
    records on those lines end inside this reject, and its reason names them."""
    path = tmp_path / "unclosed.csv"
    path.write_bytes(b'id,title,body\n1,t,"never closed\n2,t,b\n3,t,b\n')
    (rec,) = records(path)  # the body is the last column: the field count alone passes
    assert (rec.line, rec.data, rec.raw) == (2, None, b'1,t,"never closed\n2,t,b\n3,t,b\n')
    assert rec.error == (
        "a quoted field opened on line 2 never closes: lines 2-4 were read as this one record"
    )
    mid = tmp_path / "unclosed-mid.csv"
    mid.write_bytes(b'id,body,title\n1,"never closed,t\n2,b,t\n3,b,t\n')
    (rec,) = records(mid)
    assert rec.error == (
        "a quoted field opened on line 2 never closes: lines 2-4 were read as this one record"
    )
    fine = tmp_path / "stray.csv"  # a stray quote in a bare field, a last line without "\n"
    fine.write_bytes(b'id,title,body\n1,t,5\'4" tall\n2,t,"quoted\nover lines"\n3,t,end')
    assert [r.error for r in records(fine)] == [None, None, None]
    long_path = tmp_path / "unclosed-long.csv"
    long_path.write_bytes(b'id,title,body\n1,t,"never closed\n' + b"2,t,b\n" * 2_000 + b"9,t,b\n")
    first, *rest = records(long_path, max_record_bytes=1_000)
    assert "over the 1,000-byte limit; it spans lines 2-" in str(first.error)
    assert rest and rest[-1].data == {"id": "9", "title": "t", "body": "b"}


def test_csv_duplicate_and_empty_header_names_lose_nothing(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dup.csv", [["body", "phone", "phone", ""], ["b", "1", "2", "x"]])
    (rec,) = records(path)
    assert rec.data == {"body": "b", "phone": "1", "phone_2": "2", "column_4": "x"}


def test_csv_large_field_and_over_limit_row(tmp_path: Path) -> None:
    rows = [["id", "body"], ["1", "z" * 300_000], ["2", "w" * 20_000], ["3", "short"]]
    path = write_csv(tmp_path / "big.csv", rows)
    recs = records(path, max_record_bytes=400_000)
    assert [r.error for r in recs] == [None, None, None]  # 300 KB passes the 128 KB default
    recs = records(path, max_record_bytes=50_000)
    assert "over the 50,000-byte limit" in recs[0].error
    assert recs[1].error is None and recs[2].data["body"] == "short"


# --- saved pages -----------------------------------------------------------------------

RECIPE_PAGE = """<html><head><title>Listing</title></head><body>
<article class="ad" data-ad-id="L-7"><h1 class="ad-title">Sweet and young-looking</h1>
<div class="ad-body"><p>Call 713-555-0150</p><script>steal()</script></div>
<time datetime="2026-03-01T10:00:00Z">1 March</time></article></body></html>"""


def test_folder_of_pages_recursive_sorted_with_recipe_and_fallback(tmp_path: Path) -> None:
    root = tmp_path / "pages"
    (root / "b" / "example-listings").mkdir(parents=True)
    (root / "a").mkdir()
    (root / "b" / "example-listings" / "p1.html").write_text(RECIPE_PAGE, encoding="utf-8")
    (root / "a" / "z.htm").write_text("<title>Other</title><p>Text here</p>", encoding="utf-8")
    (root / "a" / "notes.txt").write_text("not a page", encoding="utf-8")
    (root / "0.HTML").write_bytes(b"<h1>Top</h1><p>t</p>")
    recs = records(root)
    assert [Path(r.source).relative_to(root).as_posix() for r in recs] == [
        "0.HTML",
        "a/z.htm",
        "b/example-listings/p1.html",
    ]
    assert all(r.line == 1 and r.error is None for r in recs)
    listing = recs[2].data
    assert listing["site"] == "example-listings" and listing["id"] == "L-7"
    assert listing["title"] == "Sweet and young-looking"
    assert "steal" not in listing["body"] and "713-555-0150" in listing["body"]
    assert recs[1].data["recipe"] == "generic" and recs[1].data["title"] == "Other"
    assert recs[2].raw == RECIPE_PAGE.encode()


def test_single_page_file_and_encodings(tmp_path: Path) -> None:
    cp = tmp_path / "cp.html"
    cp.write_bytes("<p>Caf\u00e9 \u201csweet\u201d</p>".encode("cp1252"))
    bom = tmp_path / "bom.html"
    bom.write_bytes(b"\xef\xbb\xbf<p>Caf\xc3\xa9</p>")
    (rec,) = records(cp)
    assert rec.data["body"] == "Caf\u00e9 \u201csweet\u201d"
    assert "cp1252" in rec.data["encoding_note"]
    (rec,) = records(bom)
    assert rec.data["body"] == "Caf\u00e9" and "encoding_note" not in rec.data


def test_oversized_page_is_rejected(tmp_path: Path) -> None:
    page = tmp_path / "huge.html"
    page.write_bytes(b"<p>" + b"a" * 20_000 + b"</p>")
    (rec,) = records(page, max_record_bytes=10_000)
    assert rec.error is not None and "over the 10,000-byte limit" in rec.error
    assert len(rec.raw) <= 4096


# --- WARC ------------------------------------------------------------------------------


def write_warc(path: Path, pages: list[tuple[str, str, bytes]], gz: bool) -> None:
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=gz)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))
        for uri, ctype, body in pages:
            http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
            writer.write_record(
                writer.create_warc_record(
                    uri, "response", payload=io.BytesIO(body), http_headers=http
                )
            )
            writer.write_record(
                writer.create_warc_record(
                    uri,
                    "request",
                    payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n"),
                    warc_content_type="application/http; msgtype=request",
                )
            )


@pytest.mark.parametrize("name", ["crawl.warc", "crawl.warc.gz"])
def test_warc_html_responses_only(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_warc(
        path,
        [
            ("https://listings.example.com/ad/7", "text/html; charset=utf-8", RECIPE_PAGE.encode()),
            ("https://img.example.com/1.jpg", "image/jpeg", b"\xff\xd8\xff"),
            (
                "https://other.example.org/x",
                "text/html; charset=windows-1252",
                "<title>Other</title><p>Caf\u00e9</p>".encode("cp1252"),
            ),
        ],
        gz=name.endswith(".gz"),
    )
    recs = records(path)
    assert len(recs) == 2
    assert [r.line for r in recs] == [2, 6]  # index among all records (warcinfo is 1)
    assert all(r.source.startswith(f"{path}#") for r in recs)
    offsets = [int(r.source.rsplit("#", 1)[1]) for r in recs]
    assert offsets[0] > 0 and offsets[1] > offsets[0]
    first, second = recs[0].data, recs[1].data
    assert (
        first["site"] == "example-listings" and first["url"] == "https://listings.example.com/ad/7"
    )
    assert "crawled_at" in first and recs[0].raw == RECIPE_PAGE.encode()
    assert second["recipe"] == "generic" and second["body"] == "Caf\u00e9"


@pytest.mark.parametrize("name", ["cut.warc", "cut.warc.gz"])
def test_truncated_warc_is_a_record_not_a_crash(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_warc(
        path,
        [
            (f"https://listings.example.com/ad/{i}", "text/html", RECIPE_PAGE.encode())
            for i in range(20)
        ],
        gz=name.endswith(".gz"),
    )
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    recs = records(path)
    assert recs and recs[-1].error is not None
    assert all(r.error is None for r in recs[:-1])


def _page_record(uri: str, body: bytes, gz: bool, http: bytes | None = None) -> bytes:
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=gz)
    if http is None:
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(
                uri, "response", payload=io.BytesIO(body), http_headers=headers
            )
        )
    else:  # the HTTP message as given, headers and all
        writer.write_record(
            writer.create_warc_record(
                uri,
                "response",
                payload=io.BytesIO(http + body),
                warc_content_type="application/http; msgtype=response",
            )
        )
    return out.getvalue()


def _between_pages(path: Path, middle: bytes, gz: bool) -> Path:
    """A page, then `middle` (its own gzip member in a .gz), then another page."""
    first = _page_record("https://listings.example.com/ad/1", b"<title>One</title><p>1</p>", gz)
    last = _page_record("https://listings.example.com/ad/2", b"<title>Two</title><p>2</p>", gz)
    path.write_bytes(first + (gzip.compress(middle) if gz else middle) + last)
    return path


HOSTILE_WARC_PARTS = {
    "a 20 MB header line": b"WARC/1.0\r\nWARC-Type: response\r\nX-Junk: "
    + b"a" * 20_000_000
    + b"\r\n\r\n",
    "a million short header lines": b"WARC/1.0\r\n" + b"X-J: a\r\n" * 1_000_000 + b"\r\n",
    "20 MB of junk with no line break": b"a" * 20_000_000,
}


@pytest.mark.parametrize("gz", [False, True], ids=["warc", "warc.gz"])
@pytest.mark.parametrize("what", list(HOSTILE_WARC_PARTS))
def test_warc_hostile_headers_are_a_reject_in_bounded_memory(
    tmp_path: Path, what: str, gz: bool
) -> None:
    """warcio joins a header line whole (20 MB took 4 s, quadratic) and keeps every header
    line (three million took 600 MB): a header block is bounded, and what follows is reported."""
    import tracemalloc

    path = _between_pages(
        tmp_path / ("h.warc.gz" if gz else "h.warc"), HOSTILE_WARC_PARTS[what], gz
    )
    tracemalloc.start()
    try:
        recs = records(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a .gz: warcio inflates one 16 KB block at a time, up to zlib's ~1,000:1 at once
    assert peak < (64_000_000 if gz else 16_000_000)
    assert recs[0].error is None and recs[0].data is not None
    assert recs[-1].error is not None and "unreadable from here on" in recs[-1].error
    assert len(recs[-1].error) < 500


@pytest.mark.parametrize("gz", [False, True], ids=["warc", "warc.gz"])
@pytest.mark.parametrize(
    ("length_line", "said"),
    [
        (b"", "no Content-Length header"),
        (b"Content-Length: lots\r\n", "'lots' is not a byte count"),
    ],
)
def test_warc_record_without_a_length_is_reported_not_swallowed(
    tmp_path: Path, gz: bool, length_line: bytes, said: str
) -> None:
    """Without a length warcio reads the rest of the file as this record's body: every later
    record would vanish without a word."""
    head = b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: https://listings.example.com/x\r\n"
    middle = head + length_line + b"\r\nHTTP/1.1 200 OK\r\n\r\n"
    recs = records(_between_pages(tmp_path / ("n.warc.gz" if gz else "n.warc"), middle, gz))
    assert [r.error is None for r in recs] == [True, False]
    assert said in (recs[1].error or "") and "record 2" in (recs[1].error or "")


@pytest.mark.parametrize("gz", [False, True], ids=["warc", "warc.gz"])
def test_warc_record_without_a_type_is_rejected_and_reading_goes_on(
    tmp_path: Path, gz: bool
) -> None:
    middle = b"WARC/1.0\r\nContent-Length: 4\r\n\r\nabcd\r\n\r\n"
    recs = records(_between_pages(tmp_path / ("t.warc.gz" if gz else "t.warc"), middle, gz))
    assert [r.error for r in recs] == [None, "WARC record has no WARC-Type header", None]
    assert recs[2].data is not None and recs[2].data["url"].endswith("/ad/2")


def test_warc_page_in_many_chunks_is_read_whole(tmp_path: Path) -> None:
    """Chunk-size lines come back to back with the chunks between them: not a header block."""
    title = b"<title>Nine</title>"
    chunks = b"13\r\n" + title + b"\r\n"
    chunks += b"".join(b"8\r\n<b>x</b>\r\n" for _ in range(100_000)) + b"0\r\n\r\n"
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
    path = tmp_path / "chunked.warc"
    path.write_bytes(_page_record("https://other.example.org/ad/9", chunks, False, http))
    (rec,) = records(path)
    assert rec.error is None and rec.data is not None
    assert rec.data["title"] == "Nine" and rec.data["body"].count("x") == 100_000


def test_every_record_ends_as_ad_or_reject(tmp_path: Path) -> None:
    lines = [json.dumps(AD).encode(), b"{bad", b"[]", b'{"title": ""}', b'{"body": "ok"}']
    out = [normalise(r) for r in records(write_lines(tmp_path / "mix.jsonl", lines))]
    assert [type(x) for x in out] == [Ad, Reject, Reject, Reject, Ad]
