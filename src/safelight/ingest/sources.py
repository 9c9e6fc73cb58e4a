"""Readers: one per source kind, each turning a file into a stream of `RawRecord`s.

Ads are hostile input, so a reader never raises on a bad record: it yields a record with
`error` set and moves on, and `normalise` turns that into a Reject. Readers stream in
constant memory (a JSONL line longer than the limit is drained in chunks, never held),
so a 100 GB crawl costs what a 1 MB one does. Only a path that cannot be read at all
(missing, unknown kind) raises, because that is the caller's mistake, not the data's.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from safelight.ingest.recipes import RecipeBook, apply, decode_html, page_url

DEFAULT_MAX_RECORD_BYTES = 8_000_000
_PREFIX_BYTES = 4096  # what an over-limit record keeps as its `raw` (for the excerpt)
_DRAIN_CHUNK = 1 << 20
_REASON_CHARS = 300
_JSON_TYPES = {
    list: "a JSON array",
    str: "a JSON string",
    int: "a JSON number",
    float: "a JSON number",
    bool: "a JSON boolean",
    type(None): "JSON null",
}
_SURROGATE = re.compile("[\udc80-\udcff]")
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
_HTML_SUFFIXES = (".html", ".htm")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:\-]+)", re.I)


@dataclass(slots=True)
class RawRecord:
    """One input record as read, before any cleaning; `error` says why it is unusable."""

    source: str  # file path; a page's path in a folder; WARC: "file.warc.gz#<record offset>"
    line: int  # 1-based: JSONL line, CSV line where the row starts, WARC record index, 1 for a page
    data: dict | None  # parsed fields (input field names), None when unparseable
    raw: bytes  # the record's own bytes (over-limit records: the first 4 KB only)
    error: str | None  # why it could not be parsed (then data is None)


def source_kind(path: str | Path) -> str:
    """The source kind of a path: "jsonl", "csv", "html" (also a folder of pages) or "warc"."""
    p = Path(path)
    if p.is_dir():
        return "html"
    name = p.name.lower()
    if name.endswith((".warc", ".warc.gz")):
        return "warc"
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(_JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(_HTML_SUFFIXES):
        return "html"
    raise ValueError(
        f"{path}: unknown source kind (expected .jsonl/.ndjson/.json, .csv, "
        ".html/.htm or a folder of pages, .warc/.warc.gz; .gz allowed)"
    )


def iter_records(
    path: str | Path,
    recipes: RecipeBook | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[RawRecord]:
    """Every record of a source file or folder, in a deterministic order."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    kind = source_kind(p)
    if kind == "jsonl":
        return _iter_jsonl(p, max_record_bytes)
    if kind == "csv":
        return _iter_csv(p, max_record_bytes)
    book = recipes if recipes is not None else RecipeBook.default()
    if kind == "warc":
        return _iter_warc(p, book, max_record_bytes)
    return _iter_pages(p, book, max_record_bytes)


def _open_binary(p: Path) -> IO[bytes]:
    if p.name.lower().endswith(".gz"):
        return cast(IO[bytes], gzip.open(p, "rb"))  # GzipFile buffers; bounded readline
    return p.open("rb", buffering=1 << 16)


def _broken(source: str, line: int, exc: BaseException, what: str) -> RawRecord:
    """The record standing for the unreadable rest of a file (truncated gzip, bad WARC)."""
    said = str(exc)  # warcio quotes the offending line whole
    if len(said) > _REASON_CHARS:
        said = said[:_REASON_CHARS] + "…"
    reason = f"{what} unreadable from here on: {type(exc).__name__}: {said}"
    return RawRecord(source, line, None, b"", reason)


def _over_limit(
    source: str, line: int, prefix: bytes, size: int, digest: str, limit: int
) -> RawRecord:
    reason = (
        f"record is {size:,} bytes, over the {limit:,}-byte limit "
        f"(sha256 of the whole record {digest})"
    )
    return RawRecord(source, line, None, prefix[:_PREFIX_BYTES], reason)


# --- JSONL -----------------------------------------------------------------------------


def _iter_jsonl(p: Path, limit: int) -> Iterator[RawRecord]:
    source = str(p)
    lineno = 0
    with _open_binary(p) as fh:
        while True:
            lineno += 1
            try:
                line = fh.readline(limit + 2)  # +2: room for "\r\n" on a line exactly at the limit
            except (OSError, EOFError, ValueError) as exc:  # gzip.BadGzipFile is an OSError
                yield _broken(source, lineno, exc, "compressed stream")
                return
            if not line:
                return
            if not line.endswith(b"\n") and len(line) == limit + 2:
                try:
                    yield _drain_long_line(fh, source, lineno, line, limit)
                except (OSError, EOFError, ValueError) as exc:
                    yield _broken(source, lineno, exc, "compressed stream")
                    return
                continue
            line = line.rstrip(b"\r\n")
            if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if not line.strip():
                continue
            if len(line) > limit:
                digest = hashlib.sha256(line).hexdigest()
                yield _over_limit(source, lineno, line, len(line), digest, limit)
                continue
            yield _parse_json_line(source, lineno, line)


def _drain_long_line(fh: IO[bytes], source: str, lineno: int, head: bytes, limit: int) -> RawRecord:
    """Read the rest of an over-limit line in chunks, hashing it, holding only the head."""
    digest = hashlib.sha256(head)
    size = len(head)
    while True:
        chunk = fh.readline(_DRAIN_CHUNK)
        if not chunk:
            break
        done = chunk.endswith(b"\n")
        chunk = chunk.rstrip(b"\r\n") if done else chunk
        digest.update(chunk)
        size += len(chunk)
        if done:
            break
    return _over_limit(source, lineno, head, size, digest.hexdigest(), limit)


def _parse_json_line(source: str, lineno: int, line: bytes) -> RawRecord:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RawRecord(source, lineno, None, line, f"invalid UTF-8 at byte {exc.start + 1}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return RawRecord(
            source, lineno, None, line, f"invalid JSON at column {exc.colno}: {exc.msg}"
        )
    except RecursionError:
        return RawRecord(source, lineno, None, line, "invalid JSON: nested too deeply")
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        return RawRecord(source, lineno, None, line, f"invalid JSON: {exc}")
    if not isinstance(value, dict):
        kind = _JSON_TYPES.get(type(value), type(value).__name__)
        return RawRecord(source, lineno, None, line, f"line is {kind}, not an object")
    return RawRecord(source, lineno, value, line, None)


# --- CSV -------------------------------------------------------------------------------


class _TooLong(Exception):
    """Raised inside the CSV line feed when one row passes the byte limit."""


class _LineFeed:
    """Feeds the csv module line by line, counting the current row's size.

    Reading with a bounded readline keeps memory flat even on a file with no newlines;
    a row past the limit raises `_TooLong`, and the csv reader starts afresh after it.
    """

    def __init__(self, text: IO[str], limit: int) -> None:
        self.text = text
        self.limit = limit
        self.row_chars = 0
        self.row_lines: list[str] = []  # the current row's lines (within the limit)
        self.lines = 0
        self.ended = False

    def new_row(self) -> None:
        self.row_chars = 0
        self.row_lines = []

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        line = self.text.readline(self.limit + 2)
        if not line:
            self.ended = True
            raise StopIteration
        self.lines += 1
        self.row_chars += len(line)
        self.row_lines.append(line)
        if self.row_chars > self.limit:
            size = self.row_chars
            while not line.endswith(("\n", "\r")):  # drain the rest of this physical line
                line = self.text.readline(_DRAIN_CHUNK)
                if not line:
                    break
                size += len(line)
            raise _TooLong(size)
        return line


def _set_csv_limit(limit: int) -> None:
    """Raise the csv module's per-field cap (128 KB by default) to the record limit."""
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)


def _quote_left_open(lines: list[str]) -> bool:
    """Whether the end of the file closed these lines' row inside a quoted field. The lenient
    reader (strict=False, for stray quotes such as 5'4") then returns what it read, so a
    quote never closed would turn every later record into the text of this one, unnoticed."""
    try:
        for _ in csv.reader(lines, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _spanned(first: int, last: int) -> str:
    """For a rejected row read over several lines: which, since an unclosed quote makes the
    csv module read every later line into one field, and the records there end in this one."""
    if last <= first:
        return ""
    return f"; it spans lines {first:,}-{last:,} (a quote that never closed?)"


class _RowEncoder:
    """Re-encodes a parsed row to CSV bytes (the record's `raw`), reusing one buffer."""

    def __init__(self) -> None:
        self.buf = io.StringIO()
        self.writer = csv.writer(self.buf, lineterminator="\n")

    def __call__(self, row: list[str]) -> bytes:
        self.buf.seek(0)
        self.buf.truncate()
        self.writer.writerow(row)
        return self.buf.getvalue()[:-1].encode("utf-8", "surrogateescape")


def _iter_csv(p: Path, limit: int) -> Iterator[RawRecord]:
    source = str(p)
    _set_csv_limit(limit)
    with _open_binary(p) as bfh:
        text = io.TextIOWrapper(bfh, encoding="utf-8-sig", errors="surrogateescape", newline="")
        feed = _LineFeed(text, limit)
        reader = csv.reader(feed, strict=False)
        header: list[str] | None = None
        encode = _RowEncoder()
        while True:
            start = feed.lines + 1
            feed.new_row()
            try:
                row = next(reader)
            except StopIteration:
                return
            except _TooLong as exc:
                reason = f"row is {exc.args[0]:,} characters, over the {limit:,}-byte limit"
                yield RawRecord(source, start, None, b"", reason + _spanned(start, feed.lines))
                continue
            except csv.Error as exc:
                yield RawRecord(source, start, None, b"", f"invalid CSV: {exc}")
                continue
            except (OSError, EOFError, ValueError) as exc:
                yield _broken(source, start, exc, "compressed stream")
                return
            if feed.ended and _quote_left_open(feed.row_lines):
                reason = (
                    f"a quoted field opened on line {start:,} never closes: lines"
                    f" {start:,}-{feed.lines:,} were read as this one record"
                )
                raw = "".join(feed.row_lines).encode("utf-8", "surrogateescape")
                yield RawRecord(source, start, None, raw, reason)
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if header is None:
                header = _header_names(row)
                continue
            raw = encode(row)
            if _SURROGATE.search("".join(row)):
                try:
                    raw.decode("utf-8")
                    pos = 0
                except UnicodeDecodeError as e:
                    pos = e.start
                yield RawRecord(source, start, None, raw, f"invalid UTF-8 at byte {pos + 1}")
                continue
            if len(row) != len(header):
                reason = f"row has {len(row)} fields, the header has {len(header)}"
                yield RawRecord(source, start, None, raw, reason + _spanned(start, feed.lines))
                continue
            data: dict[str, Any] = dict(zip(header, row, strict=True))
            if data.get("images"):
                data["images"] = _csv_images(data["images"])
            yield RawRecord(source, start, data, raw, None)


def _header_names(row: list[str]) -> list[str]:
    """Column names, made unique so no cell overwrites another ("phone", "phone_2")."""
    names: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(row, 1):
        base = raw.strip() or f"column_{i}"
        name, n = base, 1
        while name in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name)
        names.append(name)
    return names


def _csv_images(cell: str) -> Any:
    """A CSV images cell holds a JSON list, or URLs separated by '|'."""
    cell = cell.strip()
    if cell.startswith(("[", "{")):
        try:
            return json.loads(cell)
        except (ValueError, RecursionError):
            return cell  # normalise records it as one (odd) URL rather than losing it
    return [u.strip() for u in cell.split("|") if u.strip()]


# --- saved pages -----------------------------------------------------------------------


def _iter_pages(p: Path, book: RecipeBook, limit: int) -> Iterator[RawRecord]:
    files = [p] if p.is_file() else _walk_pages(p)
    for f in files:
        source = str(f)
        try:
            size = f.stat().st_size
            if size > limit:
                with f.open("rb") as fh:
                    head = fh.read(_PREFIX_BYTES)
                yield _over_limit(source, 1, head, size, _file_sha256(f), limit)
                continue
            page = f.read_bytes()
        except OSError as exc:
            yield RawRecord(source, 1, None, b"", f"page unreadable: {exc}")
            continue
        yield _page_record(source, 1, page, book, url="", path=source)


def _walk_pages(root: Path) -> Iterator[Path]:
    """Pages under a folder, depth first, sorted by name; symlinked folders not followed."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(Path(entry.path))
            elif entry.name.lower().endswith(_HTML_SUFFIXES) and entry.is_file():
                yield Path(entry.path)
        stack.extend(reversed(subdirs))


def _file_sha256(f: Path) -> str:
    digest = hashlib.sha256()
    with f.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_DRAIN_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _page_record(
    source: str,
    line: int,
    page: bytes,
    book: RecipeBook,
    url: str,
    path: str,
    http_charset: str | None = None,
) -> RawRecord:
    """Decode a page, pick its recipe (by URL, then by path) and map it to fields."""
    try:
        text, _charset, note = decode_html(page, http_charset)
        url = url or page_url(text)
        recipe = (book.recipe_for(url) if url else None) or book.recipe_for(path)
        data = apply(recipe, text, url)
    except Exception as exc:  # a parser failure on one hostile page must not stop the file
        return RawRecord(source, line, None, page, f"page could not be parsed: {exc}")
    if note:
        data["encoding_note"] = note
    return RawRecord(source, line, data, page, None)


# --- WARC ------------------------------------------------------------------------------


# A WARC or HTTP header block past this is hostile, not a crawl: servers and crawlers keep
# headers to tens of kilobytes.
WARC_HEADER_BYTES = 1 << 18


class WarcHeaderTooLong(ValueError):
    pass


def _bound_header_blocks(reader: Any, most: int) -> None:
    """Make warcio's reader refuse a header block longer than `most` bytes.

    warcio reads a header line whole, joining a long one piece by piece: one 20 MB line took
    4 s and a 300 MB one many minutes, and three million short lines took 600 MB. Lines read
    back to back, with no blank line or body read between them, count as one block."""
    readline, read = reader.readline, reader.read
    block = 0

    def bounded_readline(length: int | None = None) -> bytes:
        nonlocal block
        room = most - block + 1
        line: bytes = readline(room if length is None else min(length, room))
        block = 0 if not line.strip() else block + len(line)
        if block > most:
            raise WarcHeaderTooLong(f"a header block longer than {most:,} bytes")
        return line

    def body_read(*args: Any) -> bytes:
        nonlocal block
        block = 0
        data: bytes = read(*args)
        return data

    reader.readline, reader.read = bounded_readline, body_read


def _content_length_problem(record: Any) -> str | None:
    """Why a WARC record's length cannot be trusted: without one, warcio reads the rest of
    the file as its body, and every later record would vanish into it."""
    if record.format != "warc":
        return None
    length = record.rec_headers.get_header("Content-Length")
    if length is None:
        return "it has no Content-Length header"
    if not (digits := length.strip()).isascii() or not digits.isdigit():
        return f"its Content-Length {length[:40]!r} is not a byte count"
    return None


def _iter_warc(p: Path, book: RecipeBook, limit: int) -> Iterator[RawRecord]:
    from warcio.archiveiterator import ArchiveIterator

    with p.open("rb") as fh:
        records = ArchiveIterator(fh)
        _bound_header_blocks(records.reader, WARC_HEADER_BYTES)
        # warcio's warning would print the junk after a record whole, up to the bound above
        records.INC_RECORD = (
            "  WARNING: a WARC record at byte {0} is not followed by a blank line\n"
        )
        index = 0
        end = 0  # where the last complete record ended
        while True:
            index += 1
            try:
                record = next(records)
            except StopIteration:
                break
            except Exception as exc:  # corrupt archive: warcio raises various errors
                yield _broken(str(p), index, exc, "WARC")
                return
            problem = _content_length_problem(record)
            if problem is not None:
                reason = (
                    f"WARC unreadable from here on: record {index} (byte {end:,}) cannot be "
                    f"split from the records after it: {problem}"
                )
                yield RawRecord(f"{p}#{end}", index, None, b"", reason)
                return
            try:
                found = _warc_record(p, index, records, record, book, limit)
                end = records.get_record_offset() + records.get_record_length()
            except Exception as exc:  # a broken record body: report it, try the next one
                found = RawRecord(f"{p}#{end}", index, None, b"", f"WARC record unreadable: {exc}")
            if found is not None:
                yield found
        # warcio stops quietly at a truncated tail; anything but padding left over is a loss
        fh.seek(end)
        tail = fh.read(_PREFIX_BYTES)
        if tail.strip():
            size = p.stat().st_size
            reason = (
                f"WARC unreadable from here on: {size - end:,} bytes after the last "
                "complete record (truncated or corrupt archive)"
            )
            yield RawRecord(f"{p}#{end}", index, None, tail, reason)


def _warc_record(
    p: Path, index: int, records: Any, record: Any, book: RecipeBook, limit: int
) -> RawRecord | None:
    if record.rec_type is None:  # not a WARC record: say so rather than skip it
        records.read_to_end(record)
        source = f"{p}#{records.get_record_offset()}"
        return RawRecord(source, index, None, b"", "WARC record has no WARC-Type header")
    if record.rec_type != "response" or record.http_headers is None:
        return None
    ctype = record.http_headers.get_header("Content-Type") or ""
    if not ctype.lower().strip().startswith(_HTML_TYPES):
        return None
    url = record.rec_headers.get_header("WARC-Target-URI") or ""
    stream = record.content_stream()
    page = stream.read(limit + 1)
    if len(page) > limit:
        digest = hashlib.sha256(page)
        size = len(page)
        for chunk in iter(lambda: stream.read(_DRAIN_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
        source = f"{p}#{records.get_record_offset()}"
        return _over_limit(source, index, page, size, digest.hexdigest(), limit)
    # warcio knows a record's offset only once it has been read to its end
    source = f"{p}#{records.get_record_offset()}"
    charset = _CHARSET.search(ctype)
    rec = _page_record(
        source,
        index,
        page,
        book,
        url=url,
        path=str(p),
        http_charset=charset.group(1) if charset else None,
    )
    crawled = record.rec_headers.get_header("WARC-Date")
    if rec.data is not None and crawled:
        rec.data["crawled_at"] = crawled
    return rec
