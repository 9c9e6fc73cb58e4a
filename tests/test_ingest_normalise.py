"""Normalise: every raw record becomes an Ad or a Reject with a reason, never a crash."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safelight.ingest.normalise import clean_text, looks_like_html, normalise, parse_posted_at
from safelight.ingest.sources import RawRecord
from safelight.records import Ad, Image, Reject

SHA_A = "ab" * 32
PDQ_A = "0f" * 32


def rec(
    data: dict[str, Any] | None,
    source: str = "/data/crawl-01.jsonl.gz",
    line: int = 3,
    error: str | None = None,
    raw: bytes | None = None,
) -> RawRecord:
    if raw is None:
        raw = json.dumps(data).encode() if data is not None else b"{broken"
    return RawRecord(source, line, data, raw, error)


def ad(data: dict[str, Any], **kw: Any) -> Ad:
    out = normalise(rec(data), **kw)
    assert isinstance(out, Ad), out
    return out


def reject(data: dict[str, Any] | None, **kw: Any) -> Reject:
    out = normalise(rec(data, **kw))
    assert isinstance(out, Reject), out
    return out


def test_ordinary_record() -> None:
    data = {
        "id": " x-1 ",
        "site": "listings",
        "url": "https://listings.example.com/ad/1",
        "posted_at": "2026-03-01T08:00:00-06:00",
        "title": "New in town",
        "body": "Sweet companionship. Call 713-555-0142",
        "location": "Houston, TX",
        "images": [
            {
                "url": "https://img.example.com/1.jpg",
                "sha256": SHA_A.upper(),
                "pdq": PDQ_A,
                "quality": 90,
            }
        ],
        "phone": "713-555-0142",
        "email": "sweet@example.com",
        "age": 19,
        "name": "Candy",
        "crawler": {"run": 7},
    }
    r = rec(data)
    a = normalise(r)
    assert isinstance(a, Ad)
    assert a.id == "x-1" and a.site == "listings" and a.url == data["url"]
    assert a.posted_at == "2026-03-01T14:00:00Z"
    assert a.title == "New in town" and a.body == data["body"] and a.location == "Houston, TX"
    assert a.images == [
        Image(url="https://img.example.com/1.jpg", sha256=SHA_A, pdq=PDQ_A, quality=90)
    ]
    assert a.structured == {
        "phone": "713-555-0142",
        "email": "sweet@example.com",
        "age": 19,
        "name": "Candy",
    }
    assert a.extra == {"crawler": {"run": 7}}
    assert a.raw_sha256 == hashlib.sha256(r.raw).hexdigest()
    assert (a.source, a.source_line) == ("/data/crawl-01.jsonl.gz", 3)
    assert a.html is None


def test_error_record_becomes_reject_with_reason_excerpt_and_hash() -> None:
    r = rec(None, error="invalid JSON at column 2: Expecting property name", raw=b"{broken\x00")
    out = normalise(r)
    assert isinstance(out, Reject)
    assert out.reason == "invalid JSON at column 2: Expecting property name"
    assert out.excerpt == "{broken" and out.line == 3
    assert out.raw_sha256 == hashlib.sha256(b"{broken\x00").hexdigest()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"title": "", "body": ""},
        {"title": "  \n\t ", "body": "\x00\x01\x1b"},
        {"id": "1", "phone": "713-555-0100"},
        {"body": "<script>only()</script>"},
    ],
)
def test_no_text_is_rejected(data: dict[str, Any]) -> None:
    assert reject(data).reason == "no title or body"


def test_unsalvageable_text_is_rejected_with_the_reason() -> None:
    out = reject({"body": {"text": "x"}})
    assert out.reason == "no title or body (body is an object, not text)"


def test_title_or_body_alone_is_enough() -> None:
    assert ad({"title": "Only a title"}).body == ""
    assert ad({"body": "Only a body"}).title == ""


def test_salvageable_types_are_coerced() -> None:
    a = ad(
        {
            "id": 12.0,
            "title": 12345,
            "body": ["line one", 2],
            "images": "https://i.example.com/1.jpg",
            "phone": 7135550142,
            "age": "21",
            "location": ["Houston", "TX"],
        }
    )
    assert a.id == "12" and a.title == "12345" and a.body == "line one\n2"
    assert a.images == [Image(url="https://i.example.com/1.jpg")]
    assert a.structured == {"phone": "7135550142", "age": 21}
    assert a.location == "Houston, TX"
    b = ad(
        {"body": "x", "images": {"url": "https://i.example.com/2.jpg"}, "email": ["a@example.com"]}
    )
    assert b.images == [Image(url="https://i.example.com/2.jpg")]
    assert b.structured == {"email": ["a@example.com"]}
    assert "invalid" not in a.extra and "invalid" not in b.extra


def test_unsalvageable_values_are_kept_with_reasons() -> None:
    a = ad(
        {
            "title": "ok",
            "body": {"nested": 1},
            "url": ["x"],
            "site": True,
            "age": {"y": 1},
            "id": [1],
            "images": [5, {"alt": "no source"}],
        }
    )
    invalid = {i["field"]: i for i in a.extra["invalid"]}
    assert invalid["body"]["reason"] == "body is an object, not text"
    assert invalid["body"]["value"] == {"nested": 1}
    assert invalid["url"]["reason"] == "url is a list, not text"
    assert invalid["site"]["reason"] == "site is a boolean, not text"
    assert invalid["age"]["reason"] == "age is an object, not text or a number"
    assert invalid["id"]["reason"] == "id is a list, not text"
    assert invalid["images[0]"]["reason"] == "image is a int, not a URL or an object"
    assert invalid["images[1]"]["reason"] == "image has no usable url, path or hash"
    assert a.id.startswith("sha-") and a.id == "sha-" + a.raw_sha256[:20]
    assert a.site == "crawl-01"  # no site, no url: the source file's stem


def test_images_hashes_validated() -> None:
    a = ad(
        {
            "body": "x",
            "images": [
                {
                    "url": "https://i.example.com/1.jpg",
                    "sha256": "xyz",
                    "pdq": PDQ_A,
                    "quality": "77",
                },
                {"path": "photos/2.jpg", "sha256": SHA_A, "pdq": "00", "quality": 300, "alt": "b"},
                "photos/3.jpg",
                "data:image/png;base64,AAAA",
            ],
        }
    )
    assert a.images == [
        Image(url="https://i.example.com/1.jpg", pdq=PDQ_A, quality=77),
        Image(path="photos/2.jpg", sha256=SHA_A),
        Image(path="photos/3.jpg"),
    ]
    reasons = {i["field"]: i["reason"] for i in a.extra["invalid"]}
    assert reasons == {
        "images[0].sha256": "not 64 hexadecimal digits",
        "images[1].pdq": "not 64 hexadecimal digits",
        "images[1].quality": "quality is not a whole number 0-100",
        "images[3].url": "inline image data is never kept",
        "images[3]": "image has no usable url, path or hash",
    }
    assert a.extra["images_unknown"] == [{"index": 1, "fields": {"alt": "b"}}]


def test_control_characters_newlines_and_unicode() -> None:
    a = ad(
        {
            "title": "Sweet\x00 new\ttown\nhere",
            "body": "a\x00b\x1b[31mc\x7f\u0085d\r\ne\rf\u2028g\th\ud800i",
            "location": "Cafe\u0301",
        }
    )
    assert a.title == "Sweet new town here"
    assert a.body == "ab[31mc\nd\ne\nf\ng\th\ufffdi"
    assert a.location == "Caf\u00e9"  # NFC composes
    full_width = "call \uff17\uff11\uff13 555 0142"
    assert ad({"body": full_width}).body == full_width  # NFC, not NFKC: disguise survives
    assert clean_text("plain") == "plain"


def test_html_body_becomes_text_and_html_is_kept() -> None:
    body = (
        '<p>Sweet &amp; new</p><script>alert("x")</script><img src=x onerror="alert(1)">'
        "<style>p{}</style><div>call 713-555-0142</div>"
    )
    a = ad({"title": "<b>Hi</b> there", "body": body})
    assert a.body == "Sweet & new\n\ncall 713-555-0142"
    assert a.title == "Hi there"
    assert a.html == body
    for bad in ("<script", "alert", "onerror", "<style"):
        assert bad not in a.text


@pytest.mark.parametrize("text", ["I <3 you", "if a<b, c>d", "x < y", "<br0ken", "2<5", "<<<"])
def test_text_with_angle_brackets_stays_text(text: str) -> None:
    assert not looks_like_html(text)
    a = ad({"body": text})
    assert a.body == text and a.html is None


def test_big_body_is_cut_not_rejected_and_memory_is_bounded() -> None:
    body = ("Sweet companionship, call 713-555-0142. " * 80_000)[:3_000_000]
    r = rec({"title": "long", "body": body})
    tracemalloc.start()
    out = normalise(r, max_body_chars=200_000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert isinstance(out, Ad)
    assert len(out.body) == 200_000 and out.extra["truncated_from"] == len(body.strip())
    assert peak < 40_000_000


def test_big_html_body_is_cut_and_html_capped() -> None:
    body = "<p>sweet</p>" * 300_000
    a = ad({"body": body}, max_body_chars=10_000)
    assert len(a.body) == 10_000 and a.extra["truncated_from"] == len(body)
    assert a.html is not None and len(a.html) == 10_000
    assert a.extra["html_truncated_from"] == len(body)


def test_deeply_nested_html_body_is_stripped_quickly() -> None:
    body = "<div>" * 30_000 + "call 713-555-0199<script>x()</script>" + "</div>" * 30_000
    a = ad({"body": body})
    assert a.body == "call 713-555-0199" and a.html == body[:200_000]
    assert "too deep" in a.extra["html_note"]


def test_over_limit_record_rejected() -> None:
    r = rec({"body": "x" * 2_000})
    out = normalise(r, max_record_bytes=1_000)
    assert isinstance(out, Reject) and "over the 1,000-byte limit" in out.reason


@pytest.mark.parametrize(
    ("value", "expected", "assumed_utc"),
    [
        ("2026-03-01T14:00:00Z", "2026-03-01T14:00:00Z", False),
        ("2026-03-01 14:00:00Z", "2026-03-01T14:00:00Z", False),
        ("2026-03-01T14:00:00.5+00:00", "2026-03-01T14:00:00Z", False),
        ("2026-03-01T08:00:00.123-06:00", "2026-03-01T14:00:00Z", False),
        ("2026-03-01 14:00", "2026-03-01T14:00:00Z", True),
        ("2026-03-01", "2026-03-01T00:00:00Z", True),
        (1772373600, "2026-03-01T14:00:00Z", False),
        ("1772373600", "2026-03-01T14:00:00Z", False),
        (1772373600000, "2026-03-01T14:00:00Z", False),
        ("Sun, 01 Mar 2026 14:00:00 +0000", "2026-03-01T14:00:00Z", False),
        ("03/01/2026 2:00 PM", "2026-03-01T14:00:00Z", True),
        ("Mar 1, 2026 2:00 PM", "2026-03-01T14:00:00Z", True),
    ],
)
def test_posted_at_formats(value: Any, expected: str, assumed_utc: bool) -> None:
    a = ad({"body": "x", "posted_at": value})
    assert a.posted_at == expected
    assert a.extra.get("posted_at_assumed_utc", False) is assumed_utc


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2026-13-45",
        "0",
        -5,
        "1800-01-01",
        [2026],
        "９９９",
        True,
        float("nan"),
        "2026-02-30T10:00:00Z",
        "1900-01-01T00:00:00Z",
    ],
)
def test_unparseable_posted_at_is_kept_raw(value: Any) -> None:
    a = ad({"body": "x", "posted_at": value})
    assert a.posted_at is None and "posted_at_raw" in a.extra
    assert parse_posted_at(value) == (None, False)


def test_id_site_and_source_fallbacks() -> None:
    assert ad({"id": "  ", "body": "x"}).id.startswith("sha-")
    assert ad({"id": "y" * 500, "body": "x"}).id == "y" * 200
    by_url = ad({"body": "x", "url": "https://Listings.Example.com/ad/1"})
    assert by_url.site == "listings.example.com"
    assert ad({"body": "x", "url": "http://[::1"}).site == "crawl-01"
    out = normalise(rec({"body": "x"}, source="/crawl/site-a.warc.gz#1234"))
    assert isinstance(out, Ad) and out.site == "site-a"


def test_unknown_fields_kept_bounded_and_never_overwrite_notes() -> None:
    a = ad(
        {
            "body": "x\x00",
            "invalid": "theirs",
            "notes": "n\x00" + "z" * 20_000,
            "tags": list(range(500)),
            "posted_at": "never",
        }
    )
    assert a.extra["input_invalid"] == "theirs"
    assert a.extra["notes"].startswith("nz") and "cut from 20001 chars" in a.extra["notes"]
    assert len(a.extra["tags"]) == 101 and a.extra["tags"][-1] == "…400 more items cut"
    assert a.extra["posted_at_raw"] == "never"


def test_page_record_html_field_goes_to_ad_html() -> None:
    a = ad({"title": "t", "body": "text", "html": "<div>text</div>", "recipe": "example-listings"})
    assert a.html == "<div>text</div>" and a.extra == {"recipe": "example-listings"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=12,
)
fields = st.sampled_from(
    [
        "id",
        "site",
        "url",
        "posted_at",
        "title",
        "body",
        "location",
        "images",
        "phone",
        "email",
        "age",
        "name",
        "html",
        "other",
    ]
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(fields, json_values, max_size=8))
def test_normalise_never_raises(data: dict[str, Any]) -> None:
    out = normalise(RawRecord("f.jsonl", 1, data, repr(data).encode(), None))
    assert isinstance(out, Ad | Reject)
    if isinstance(out, Reject):
        assert not out.reason.startswith("internal error"), out.reason
    else:
        assert out.title or out.body
        json.dumps(out.extra, allow_nan=False)
