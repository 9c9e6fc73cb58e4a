"""Normalise one raw record into an `Ad`, or a `Reject` that says why not.

The rules lean towards keeping evidence: wrong but salvageable types are coerced, values
that cannot be used are kept under `extra["invalid"]` with the reason, and the text keeps
every disguise an extractor may need (NFC, not NFKC: full-width digits survive). Only a
record with no usable text at all is rejected. Pure function: no I/O, no state.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

from safelight.ingest.htmltext import markup_text
from safelight.ingest.sources import RawRecord
from safelight.records import Ad, Image, Reject

MAX_ID_CHARS = 200
MAX_SHORT_CHARS = 2_000  # title, location, url, site
MAX_STRUCTURED_CHARS = 500  # each phone, email, age, name value
MAX_EXTRA_CHARS = 10_000  # each string kept under extra
MAX_IMAGES = 200
MAX_LIST_ITEMS = 100
EXCERPT_CHARS = 200
HTML_PARSE_FACTOR = 5  # markup parsed per body character kept (see _html_and_text)

# Controls to strip: C0 except tab and newline (CR is turned into newline first), DEL, C1.
_CTRL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# One cheap scan decides whether any of the slower repairs are needed.
_NEEDS_REPAIR = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_WS = re.compile(r"[\n\t ]+")
_HEX64 = re.compile(r"[0-9a-f]{64}")
# A '<' then a letter, '/' or '!' is the cheap hint; the confirm regex must then find a
# closing tag, a comment or a common or dangerous opening tag before we treat it as HTML,
# so "<3" or "a<b" stays plain text.
_TAG_HINT = re.compile(r"<[A-Za-z/!]")
_TAG_CONFIRM = re.compile(
    r"</[A-Za-z][A-Za-z0-9]*\s*>|<!--|<(?:a|b|i|u|p|br|hr|img|div|span|em|strong|font|center|"
    r"table|tr|td|th|li|ul|ol|h[1-6]|script|style|iframe|svg|object|embed|meta|link|base|"
    r"form|input|button|noscript|template|body|html|head|title|section|article|marquee|"
    r"video|audio|source|math)(?:\s[^<>]*)?/?>",
    re.I,
)
_DATE_FORMATS = (
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%b %d, %Y %I:%M %p",
    "%b %d, %Y %H:%M",
    "%b %d, %Y",
    "%B %d, %Y %I:%M %p",
    "%B %d, %Y",
    "%d %b %Y %H:%M",
    "%d %b %Y",
    "%d %B %Y",
)
# RFC 2822 ("Sun, 01 Mar 2026 14:00:00 +0000"): day month year time; email.utils parses
# far looser text than that, so only strings of this shape are given to it.
_RFC2822 = re.compile(r"(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+\d{1,2}:\d{2}")
_ISO_UTC = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]00:?00)")
_MIN_YEAR, _MAX_YEAR = 1970, 2100
_SOURCE_SUFFIXES = (".gz", ".jsonl", ".ndjson", ".json", ".csv", ".html", ".htm", ".warc")

_KNOWN = frozenset(
    {
        "id",
        "site",
        "url",
        "posted_at",
        "title",
        "body",
        "location",
        "images",
        "html",
        "phone",
        "email",
        "age",
        "name",
    }
)
_STRUCTURED = ("phone", "email", "age", "name")


def clean_text(s: str) -> str:
    """Strip control characters, unify newlines, repair lone surrogates, compose to NFC.

    Full-width and other compatibility forms are kept (NFC, not NFKC): they are how
    posters disguise numbers, and the extractors need to see them.
    """
    if s.isascii() and s.isprintable():  # most short fields: nothing to do (no \n either)
        return s
    if "\r" in s:
        s = s.replace("\r\n", "\n").replace("\r", "\n")
    if _NEEDS_REPAIR.search(s):
        s = s.replace("\x85", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
        s = _CTRL.sub("", s)
        s = _SURROGATE.sub("\ufffd", s)
    if not s.isascii() and not unicodedata.is_normalized("NFC", s):
        s = unicodedata.normalize("NFC", s)
    return s


def looks_like_html(s: str) -> bool:
    """Markup worth parsing: a tag hint confirmed by a real-looking tag."""
    return _TAG_HINT.search(s) is not None and _TAG_CONFIRM.search(s) is not None


def _fragment_text(html: str, max_chars: int, extra: dict[str, Any]) -> str:
    text, hazard = markup_text(html, max_chars)
    if hazard is not None:
        extra["html_note"] = f"{hazard}: not parsed, tags stripped"
    return text


class _Issues:
    """Collects values that could not be used, so they are kept with a reason."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, field: str, value: Any, reason: str) -> None:
        self.items.append({"field": field, "value": _jsonable(value), "reason": reason})


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def _scalar_str(value: Any) -> str | None:
    """A string, or a number written as one; None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def _text_value(value: Any, field: str, issues: _Issues) -> str:
    """title/body: a string, a number, or a list of those (joined by lines)."""
    if value is None or value == "":
        return ""
    s = _scalar_str(value)
    if s is None and isinstance(value, list):
        parts = [_scalar_str(v) for v in value]
        if all(p is not None for p in parts):
            s = "\n".join(p for p in parts if p)
    if s is None:
        issues.add(field, value, f"{field} is {_describe(value)}, not text")
        return ""
    return clean_text(s)


def _short(value: Any, field: str, issues: _Issues, extra: dict[str, Any]) -> str:
    """A one-line string field (site, url, location), capped with the cut recorded."""
    if value is None or value == "":
        return ""
    if (
        type(value) is str
        and len(value) <= MAX_SHORT_CHARS
        and value.isascii()
        and value.isprintable()
    ):
        return value.strip()  # the common case: plain one-line ASCII
    s = _scalar_str(value)
    if s is None and field == "location" and isinstance(value, list):
        parts = [_scalar_str(v) for v in value]
        if all(p is not None for p in parts):
            s = ", ".join(p for p in parts if p)
    if s is None:
        issues.add(field, value, f"{field} is {_describe(value)}, not text")
        return ""
    s = clean_text(s)
    if "\n" in s or "\t" in s:
        s = _LINE_WS.sub(" ", s)
    s = s.strip()
    if len(s) > MAX_SHORT_CHARS:
        extra[f"{field}_truncated_from"] = len(s)
        s = s[:MAX_SHORT_CHARS]
    return s


def _jsonable(value: Any, depth: int = 0) -> Any:
    """A bounded, JSON-safe copy of a value for `extra` (strings cleaned, cuts marked)."""
    if isinstance(value, str):
        s = clean_text(value)
        if len(s) > MAX_EXTRA_CHARS:
            s = f"{s[:MAX_EXTRA_CHARS]}…[cut from {len(s)} chars]"
        return s
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= 4:
        return _jsonable(json.dumps(value, default=str)[:MAX_EXTRA_CHARS], depth)
    if isinstance(value, dict):
        items = list(value.items())
        out = {
            clean_text(str(k))[:MAX_ID_CHARS]: _jsonable(v, depth + 1)
            for k, v in items[:MAX_LIST_ITEMS]
        }
        if len(items) > MAX_LIST_ITEMS:
            out["…"] = f"{len(items) - MAX_LIST_ITEMS} more keys cut"
        return out
    if isinstance(value, list | tuple):
        out_list = [_jsonable(v, depth + 1) for v in value[:MAX_LIST_ITEMS]]
        if len(value) > MAX_LIST_ITEMS:
            out_list.append(f"…{len(value) - MAX_LIST_ITEMS} more items cut")
        return out_list
    return _jsonable(str(value), depth)


def parse_posted_at(value: Any) -> tuple[str | None, bool]:
    """A date in any common form to ("YYYY-MM-DDTHH:MM:SSZ", zone_was_given).

    Accepts ISO 8601, epoch seconds (or milliseconds), "2026-03-01 14:00", RFC 2822 and
    a few US/European forms. A time without a zone is taken as UTC (the caller notes it).
    Returns (None, False) when nothing fits or the year is implausible.
    """
    dt: datetime | None = None
    if type(value) is str and _ISO_UTC.fullmatch(value):  # the common case, kept cheap
        try:
            year = datetime.fromisoformat(value[:19]).year  # validates every range
        except ValueError:
            return None, False
        if not _MIN_YEAR <= year <= _MAX_YEAR:
            return None, False
        plain = len(value) == 20 and value[10] == "T"
        return (value if plain else f"{value[:10]}T{value[11:19]}Z"), True
    if isinstance(value, int | float) and not isinstance(value, bool):
        dt = _from_epoch(float(value))
    elif isinstance(value, str):
        s = value.strip()
        if not s or len(s) > 100:
            return None, False
        numeric = s.isascii() and s.replace(".", "", 1).isdigit()
        dt = _from_epoch(float(s)) if numeric else _from_text(s)
    if dt is None or not _MIN_YEAR <= dt.year <= _MAX_YEAR:
        return None, False
    aware = dt.tzinfo is not None and dt.utcoffset() is not None
    dt = dt.astimezone(UTC) if aware else dt
    stamp = (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}Z"
    )
    return stamp, aware


def _from_epoch(x: float) -> datetime | None:
    if not math.isfinite(x) or x <= 0:
        return None
    if x > 1e11:  # milliseconds (seconds would be past the year 5000)
        x /= 1000.0
    try:
        return datetime.fromtimestamp(x, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _from_text(s: str) -> datetime | None:
    iso = s[:-4] + "+00:00" if s.endswith((" UTC", " GMT")) else s
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        pass
    if _RFC2822.match(s):
        try:
            return parsedate_to_datetime(s)
        except (TypeError, ValueError, IndexError):
            pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(s, fmt)
        except ValueError:
            continue
    return None


def _ad_id(value: Any, sha: str, issues: _Issues) -> str:
    s = _scalar_str(value) if value is not None else None
    if s is None and value is not None:
        issues.add("id", value, f"id is {_describe(value)}, not text")
    s = clean_text(s).strip()[:MAX_ID_CHARS] if s else ""
    return s or "sha-" + sha[:20]


def _source_stem(source: str) -> str:
    name = PurePath(source.split("#", 1)[0]).name
    lowered = name.lower()
    stripped = True
    while stripped:
        stripped = False
        for suffix in _SOURCE_SUFFIXES:
            if lowered.endswith(suffix) and len(lowered) > len(suffix):
                name, lowered = name[: -len(suffix)], lowered[: -len(suffix)]
                stripped = True
    return name


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _hash_value(value: Any, field: str, issues: _Issues) -> str:
    if isinstance(value, str):
        h = value.strip().lower()
        if _HEX64.fullmatch(h):
            return h
    issues.add(field, value, "not 64 hexadecimal digits")
    return ""


def _image(item: Any, i: int, issues: _Issues, unknown: list[dict[str, Any]]) -> Image | None:
    """One image reference; never the picture itself (inline data URIs are refused)."""
    if isinstance(item, str):
        item = {"url": item}
    where = f"images[{i}]"
    if not isinstance(item, dict):
        issues.add(where, item, f"image is {_describe(item)}, not a URL or an object")
        return None
    img = Image()
    for key in ("url", "path"):
        val = item.get(key)
        if val is None or val == "":
            continue
        if not isinstance(val, str):
            issues.add(f"{where}.{key}", val, f"{key} is {_describe(val)}, not text")
            continue
        val = clean_text(val).strip()
        if val[:5].lower() == "data:":
            issues.add(f"{where}.{key}", val[:40], "inline image data is never kept")
            continue
        if key == "url" and "://" not in val and not val.startswith("//"):
            img.path = img.path or val[:MAX_SHORT_CHARS]  # a bare name or path, not a URL
        else:
            setattr(img, key, val[:MAX_SHORT_CHARS])
    for key in ("sha256", "pdq"):
        if item.get(key) not in (None, ""):
            setattr(img, key, _hash_value(item[key], f"{where}.{key}", issues))
    q = item.get("quality")
    if q not in (None, ""):
        qi = _quality(q)
        if qi is None:
            issues.add(f"{where}.quality", q, "quality is not a whole number 0-100")
        img.quality = qi
    rest = {k: v for k, v in item.items() if k not in ("url", "path", "sha256", "pdq", "quality")}
    if rest:
        unknown.append({"index": i, "fields": _jsonable(rest)})
    if not (img.url or img.path or img.sha256 or img.pdq):
        issues.add(where, item, "image has no usable url, path or hash")
        return None
    return img


def _quality(q: Any) -> int | None:
    if isinstance(q, str) and q.strip().isdigit():
        q = int(q.strip())
    if isinstance(q, float) and math.isfinite(q) and q.is_integer():
        q = int(q)
    if isinstance(q, int) and not isinstance(q, bool) and 0 <= q <= 100:
        return q
    return None


def _images(value: Any, issues: _Issues, extra: dict[str, Any]) -> list[Image]:
    if value is None or value == "" or value == []:
        return []
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_IMAGES:
        extra["images_truncated_from"] = len(items)
        items = items[:MAX_IMAGES]
    unknown: list[dict[str, Any]] = []
    out: list[Image] = []
    for i, item in enumerate(items):
        url = item.get("url") if type(item) is dict and len(item) == 1 else item
        if type(url) is str and url.isascii() and url.isprintable() and "://" in url:
            url = url.strip()  # the common case: a plain URL, as a string or {"url": ...}
            if len(url) <= MAX_SHORT_CHARS and url[:5].lower() != "data:":
                out.append(Image(url=url))
                continue
        img = _image(item, i, issues, unknown)
        if img is not None:
            out.append(img)
    if unknown:
        extra["images_unknown"] = unknown
    return out


def _structured_one(value: Any, field: str, issues: _Issues) -> Any:
    if field == "age":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
    s = _scalar_str(value)
    if s is None:
        issues.add(field, value, f"{field} is {_describe(value)}, not text or a number")
        return None
    s = clean_text(s).strip()[:MAX_STRUCTURED_CHARS]
    if field == "age" and s.isascii() and s.isdigit() and len(s) <= 3:
        return int(s)
    return s or None


def _structured(data: dict[str, Any], issues: _Issues) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in _STRUCTURED:
        value = data.get(field)
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, list):
            vals = [_structured_one(v, field, issues) for v in value[:MAX_LIST_ITEMS]]
            kept = [v for v in vals if v is not None and v != ""]
            if kept:
                out[field] = kept
        else:
            one = _structured_one(value, field, issues)
            if one is not None:
                out[field] = one
    return out


def _excerpt(raw: bytes) -> str:
    text = clean_text(raw[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace"))
    return text[:EXCERPT_CHARS]


def _reject(rec: RawRecord, reason: str, sha: str) -> Reject:
    return Reject(
        source=rec.source, line=rec.line, reason=reason, excerpt=_excerpt(rec.raw), raw_sha256=sha
    )


def _html_and_text(
    text: str, ad_html: str | None, max_chars: int, extra: dict[str, Any]
) -> tuple[str, str | None]:
    """Convert a body holding markup; the markup itself is kept as `Ad.html`.

    Only the first HTML_PARSE_FACTOR x max_chars of markup are parsed: a parsed tree costs
    ~40 bytes per source byte of dense tags, so an 8 MB body of tiny tags would otherwise
    take 300 MB. A cut here is recorded as `truncated_from` (the markup's length).
    """
    if "<" not in text or not looks_like_html(text):
        return text.strip(), ad_html
    source = text
    cap = HTML_PARSE_FACTOR * max_chars
    if len(source) > cap:
        extra["truncated_from"] = len(source)
        source = source[:cap]
    body = _fragment_text(source, max_chars, extra)
    if len(body) > max_chars:  # the walk stopped early: the full text length is unknown
        extra.setdefault("truncated_from", len(text))
    return body, ad_html if ad_html is not None else text


def normalise(
    rec: RawRecord, max_body_chars: int = 200_000, max_record_bytes: int = 8_000_000
) -> Ad | Reject:
    """One RawRecord to an Ad, or to a Reject naming the reason (never raises on data)."""
    sha = hashlib.sha256(rec.raw).hexdigest()
    try:
        return _normalise(rec, sha, max_body_chars, max_record_bytes)
    except Exception as exc:  # a bug here must not lose the record: reject it, loudly
        return _reject(rec, f"internal error in normalise: {exc!r}", sha)


def _normalise(rec: RawRecord, sha: str, max_body_chars: int, max_record_bytes: int) -> Ad | Reject:
    if rec.error is not None:
        return _reject(rec, rec.error, sha)
    if not isinstance(rec.data, dict):
        return _reject(rec, "record has no fields", sha)
    if len(rec.raw) > max_record_bytes:
        return _reject(
            rec, f"record is {len(rec.raw):,} bytes, over the {max_record_bytes:,}-byte limit", sha
        )
    data = rec.data
    issues = _Issues()
    extra: dict[str, Any] = {}

    page_html = data.get("html")
    ad_html = clean_text(page_html) if isinstance(page_html, str) and page_html else None
    title = _text_value(data.get("title"), "title", issues)
    if "<" in title and looks_like_html(title):
        title = _fragment_text(title[: HTML_PARSE_FACTOR * MAX_SHORT_CHARS], MAX_SHORT_CHARS, extra)
    if "\n" in title or "\t" in title:
        title = _LINE_WS.sub(" ", title)
    title = title.strip()
    if len(title) > MAX_SHORT_CHARS:
        extra["title_truncated_from"] = len(title)
        title = title[:MAX_SHORT_CHARS]
    body, ad_html = _html_and_text(
        _text_value(data.get("body"), "body", issues), ad_html, max_body_chars, extra
    )
    if len(body) > max_body_chars:
        extra.setdefault("truncated_from", len(body))
        body = body[:max_body_chars]
    if not title and not body:
        reasons = "; ".join(i["reason"] for i in issues.items if i["field"] in ("title", "body"))
        return _reject(rec, "no title or body" + (f" ({reasons})" if reasons else ""), sha)
    if ad_html is not None and len(ad_html) > max_body_chars:
        extra["html_truncated_from"] = len(ad_html)
        ad_html = ad_html[:max_body_chars]

    url = _short(data.get("url"), "url", issues, extra)
    site = _short(data.get("site"), "site", issues, extra) or _host(url) or _source_stem(rec.source)
    posted_at = None
    raw_posted = data.get("posted_at")
    if raw_posted is not None and raw_posted != "":
        posted_at, aware = parse_posted_at(raw_posted)
        if posted_at is None:
            extra["posted_at_raw"] = _jsonable(raw_posted)
        elif not aware:
            extra["posted_at_assumed_utc"] = True

    ad = Ad(
        id=_ad_id(data.get("id"), sha, issues),
        title=title,
        body=body,
        site=site,
        url=url,
        posted_at=posted_at,
        location=_short(data.get("location"), "location", issues, extra),
        images=_images(data.get("images"), issues, extra),
        html=ad_html,
        structured=_structured(data, issues),
        raw_sha256=sha,
        source=rec.source,
        source_line=rec.line,
    )
    for key, value in data.items():
        if key not in _KNOWN:
            name = clean_text(str(key))[:MAX_ID_CHARS]
            if name in extra or name == "invalid":  # never let input overwrite our notes
                name = "input_" + name
            extra[name] = _jsonable(value)
    if page_html is not None and not isinstance(page_html, str):
        issues.add("html", page_html, f"html is {_describe(page_html)}, not text")
    if issues.items:
        extra["invalid"] = issues.items
    ad.extra = extra
    return ad
