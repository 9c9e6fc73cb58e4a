"""Known-hash lists: the MD5, SHA-256 and PDQ lists that hotlines and clearing houses share.

Lists arrive in many shapes, so the reader is tolerant and says what it did not take:

- CSV, TSV, semicolon- or pipe-separated, with a header or without (the delimiter is
  detected from the first lines);
- with a header, columns are recognised by name (`pdq`, `md5`, `sha256`, or a generic
  `hash`/`signal_str`/`raw_indicator` with a `signal_type`/`type` column, plus optional
  id, label/tags and opinion columns) — this covers ThreatExchange's
  `threatexchange dataset -P --csv` export (collab, signal_type, signal_str, category,
  tags), which is how Hasher-Matcher-Actioner's library exports a bank;
- ThreatExchange's plain signal files, one `<signal_type> <hash>` per line;
- headerless rows (the ThreatExchange CLI state files `indicator_id,hash,...,labels`, the
  reference `pdq-photo-hasher` output `hash,quality,filename`, or one hash a line): the
  first cell that looks like a hash is taken, its kind from its length (32 hex: MD5; 64
  hex: `hex64_kind`, PDQ by default, since SHA-256 has the same length).

Every row that is not taken becomes a `records.Reject` with its line and reason; rows that
the list itself marks as false positives are returned apart, in `skipped`.
Column and type names live in data/link/hashlists.yaml.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml

from safelight.records import Reject

HashKind = Literal["pdq", "md5", "sha256"]
KINDS: tuple[str, ...] = ("pdq", "md5", "sha256")
_HEX_LEN = {"pdq": 64, "md5": 32, "sha256": 64}
_PREFIXED = re.compile(r"^(pdq|md5|sha256)[:=](.+)$", re.IGNORECASE)
_DELIMITERS = (",", "\t", ";", "|")
_SNIFF_LINES = 20
_EXCERPT = 120


class KnownHash(NamedTuple):
    """One entry of a known-hash list (a named tuple: lists run to millions of rows)."""

    kind: str  # pdq, md5, sha256
    value: str  # lower-case hex
    label: str = ""
    ref: str = ""  # the list's own id for the entry, when it has one
    quality: int | None = None  # PDQ quality, when the list gives it
    line: int = 0  # 1-based line in the source


@dataclass(slots=True)
class HashList:
    """What a list yielded: hashes, rejected rows, and rows the list marks as not matches."""

    hashes: list[KnownHash] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    skipped: list[Reject] = field(default_factory=list)
    layout: str = ""  # how the file was read, e.g. "csv header" or "signal lines"


@cache
def _names() -> dict[str, Any]:
    """The column and type vocabulary, loaded once."""
    text = resources.files("safelight").joinpath("data/link/hashlists.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    return {key: val["entries"] for key, val in raw.items() if isinstance(val, dict)}


def _norm(name: str) -> str:
    return re.sub(r"[\s.\-/]+", "_", name.strip().strip('"').lower()).strip("_")


def normalise_hash(value: str, kind: str) -> str:
    """Lower-case hex of the right length for its kind, or ValueError saying why not."""
    if kind not in _HEX_LEN:
        raise ValueError(f"unknown hash kind {kind!r}")
    v = value.strip().lower()
    if v.startswith("0x"):
        v = v[2:]
    if not v:
        raise ValueError(f"empty {kind} value")
    if not _is_hex(v):
        raise ValueError(f"{kind} value is not hexadecimal")
    if len(v) != _HEX_LEN[kind]:
        raise ValueError(f"{kind} value has {len(v)} hex digits, expected {_HEX_LEN[kind]}")
    return v


def _is_hex(v: str) -> bool:
    """Hex digits only (bytes.fromhex is fast but also accepts spaces and needs even length)."""
    if not v or " " in v or "\t" in v:
        return False
    try:
        bytes.fromhex(v if len(v) % 2 == 0 else "0" + v)
    except ValueError:
        return False
    return True


def _kind_of_type(name: str) -> str | None:
    """Map a type name to a kind; '' for a known but unsupported type; None if unknown."""
    n = _norm(name)
    kinds: dict[str, str] = _names()["type_names"]
    if n in kinds:
        return kinds[n]
    if n in _names()["unsupported_type_names"]:
        return ""
    return None


def _guess_kind(value: str, hex64_kind: str) -> str | None:
    v = value.strip().lower().removeprefix("0x")
    if not _is_hex(v):
        return None
    if len(v) == 32:
        return "md5"
    if len(v) == 64:
        return hex64_kind
    return None


# ---------------------------------------------------------------- layout detection


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return line.split()
    if '"' not in line:
        return [c.strip() for c in line.split(delimiter)]
    return [c.strip() for c in next(csv.reader([line], delimiter=delimiter))]


def _sniff_delimiter(lines: list[str]) -> str | None:
    """The delimiter present in most sample lines (None: whitespace / one column)."""
    best, best_score = None, 0
    for d in _DELIMITERS:
        score = sum(1 for line in lines if d in line)
        if score > best_score and score >= max(1, len(lines) // 2):
            best, best_score = d, score
    return best


@dataclass(slots=True)
class _Columns:
    by_kind: dict[str, int] = field(default_factory=dict)
    generic: int | None = None
    type_col: int | None = None
    id_col: int | None = None
    labels: list[int] = field(default_factory=list)
    opinion: int | None = None
    quality: int | None = None


def _header_columns(cells: list[str]) -> _Columns | None:
    """Columns of a header line, or None when the line is data, not a header."""
    names = _names()
    cols = _Columns()
    for i, cell in enumerate(cells):
        n = _norm(cell)
        kind = next((k for k, al in names["value_columns"].items() if n in al), None)
        if kind and kind not in cols.by_kind:
            cols.by_kind[kind] = i
        elif n in names["generic_value_columns"] and cols.generic is None:
            cols.generic = i
        elif n in names["type_columns"] and cols.type_col is None:
            cols.type_col = i
        elif n in names["id_columns"] and cols.id_col is None:
            cols.id_col = i
        elif n in names["opinion_columns"] and cols.opinion is None:
            cols.opinion = i
        elif n in names["quality_columns"] and cols.quality is None:
            cols.quality = i
        elif n in names["label_columns"]:
            cols.labels.append(i)
    if not cols.by_kind and cols.generic is None:
        return None
    return cols


# ---------------------------------------------------------------- parsing


def parse_hash_list(text: str, *, source: str = "", hex64_kind: str = "pdq") -> HashList:
    """Read a known-hash list from its text; never raises on bad rows."""
    if hex64_kind not in ("pdq", "sha256"):
        raise ValueError("hex64_kind must be 'pdq' or 'sha256'")
    out = HashList()
    lines = text.splitlines()
    body = [(n, ln) for n, ln in enumerate(lines, start=1) if ln.strip() and not _comment(ln)]
    if not body:
        out.layout = "empty"
        return out
    delimiter = _sniff_delimiter([ln for _, ln in body[:_SNIFF_LINES]])
    first = body[0][1]
    cols: _Columns | None = None
    if delimiter is None and _is_signal_line(first):
        out.layout = "signal lines"
    else:
        try:
            cols = _header_columns(_split(first, delimiter))
        except csv.Error:
            cols = None
        with_header = "with" if cols is not None else "without"
        out.layout = f"{_delimiter_name(delimiter)} {with_header} header"
    rows = body[1:] if cols is not None else body
    for line_no, line in rows:
        try:
            cells = _split(line, delimiter)
        except csv.Error as exc:
            out.rejects.append(_reject(source, line_no, f"unreadable row: {exc}", line))
            continue
        if cols is not None:
            _row_with_header(cells, cols, source, line_no, line, hex64_kind, out)
        elif out.layout == "signal lines":
            _signal_line(cells, source, line_no, line, out)
        else:
            _row_without_header(cells, source, line_no, line, hex64_kind, out)
    return out


def load_hash_list(
    path: str | Path, *, hex64_kind: str = "pdq", max_bytes: int = 2_000_000_000
) -> HashList:
    """Read a known-hash list file (UTF-8, with or without BOM; Latin-1 as a fallback)."""
    p = Path(path)
    if p.stat().st_size > max_bytes:
        raise ValueError(f"{p}: over the {max_bytes}-byte limit")
    data = p.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return parse_hash_list(text, source=str(p), hex64_kind=hex64_kind)


def _comment(line: str) -> bool:
    return line.lstrip().startswith(("#", "//"))


def _delimiter_name(delimiter: str | None) -> str:
    return {",": "csv", "\t": "tsv", ";": "semicolon", "|": "pipe"}.get(delimiter or "", "plain")


def _is_signal_line(line: str) -> bool:
    parts = line.split()
    return len(parts) == 2 and _kind_of_type(parts[0]) is not None


def _reject(source: str, line_no: int, reason: str, line: str) -> Reject:
    return Reject(source=source, line=line_no, reason=reason, excerpt=line[:_EXCERPT])


def _cell(cells: list[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return cells[index].strip()


def _quality(raw: str) -> int | None:
    try:
        q = int(float(raw))
    except ValueError:
        return None
    return q if 0 <= q <= 100 else None


def _split_prefix(value: str) -> tuple[str | None, str]:
    """'pdq:abc...' -> ('pdq', 'abc...'); values without a kind prefix pass through."""
    if ":" not in value and "=" not in value:
        return None, value
    m = _PREFIXED.match(value.strip())
    if m:
        return m.group(1).lower(), m.group(2)
    return None, value


def _row_with_header(
    cells: list[str],
    cols: _Columns,
    source: str,
    line_no: int,
    line: str,
    hex64_kind: str,
    out: HashList,
) -> None:
    label = " | ".join(v for v in (_cell(cells, i) for i in cols.labels) if v)
    ref = _cell(cells, cols.id_col)
    quality = _quality(_cell(cells, cols.quality))
    opinion = _norm(_cell(cells, cols.opinion)) if cols.opinion is not None else ""
    if opinion and opinion in _names()["negative_opinions"]:
        out.skipped.append(_reject(source, line_no, f"marked {opinion} by the list", line))
        return
    wanted: list[tuple[str | None, str, str]] = []  # (kind or None, value, where)
    for column_kind, index in cols.by_kind.items():
        value = _cell(cells, index)
        if value:
            wanted.append((column_kind, value, column_kind))
    if cols.generic is not None and _cell(cells, cols.generic):
        value = _cell(cells, cols.generic)
        type_name = _cell(cells, cols.type_col)
        kind: str | None = None
        if type_name:
            kind = _kind_of_type(type_name)
            if kind == "":
                out.rejects.append(
                    _reject(source, line_no, f"unsupported hash type {type_name!r}", line)
                )
                return
            if kind is None:
                out.rejects.append(
                    _reject(source, line_no, f"unknown hash type {type_name!r}", line)
                )
                return
        wanted.append((kind, value, "hash"))
    if not wanted:
        out.rejects.append(_reject(source, line_no, "no hash in row", line))
        return
    _emit(wanted, label, ref, quality, source, line_no, line, hex64_kind, out)


def _emit(
    wanted: list[tuple[str | None, str, str]],
    label: str,
    ref: str,
    quality: int | None,
    source: str,
    line_no: int,
    line: str,
    hex64_kind: str,
    out: HashList,
) -> None:
    problems = []
    taken = []
    for kind, raw, where in wanted:
        prefix_kind, value = _split_prefix(raw)
        if prefix_kind:
            kind = prefix_kind
        if kind is None:
            kind = _guess_kind(value, hex64_kind)
            if kind is None:
                problems.append(f"{where}: not an MD5, SHA-256 or PDQ hex value")
                continue
        try:
            taken.append((kind, normalise_hash(value, kind)))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        out.rejects.append(_reject(source, line_no, "; ".join(problems), line))
    for kind, value in taken:
        q = quality if kind == "pdq" else None
        out.hashes.append(KnownHash(kind, value, label, ref, q, line_no))


def _signal_line(cells: list[str], source: str, line_no: int, line: str, out: HashList) -> None:
    if len(cells) != 2:
        out.rejects.append(_reject(source, line_no, "expected '<signal_type> <hash>'", line))
        return
    kind = _kind_of_type(cells[0])
    if not kind:
        what = "unsupported" if kind == "" else "unknown"
        out.rejects.append(_reject(source, line_no, f"{what} hash type {cells[0]!r}", line))
        return
    try:
        out.hashes.append(KnownHash(kind, normalise_hash(cells[1], kind), line=line_no))
    except ValueError as exc:
        out.rejects.append(_reject(source, line_no, str(exc), line))


def _row_without_header(
    cells: list[str], source: str, line_no: int, line: str, hex64_kind: str, out: HashList
) -> None:
    """Take the first hash-looking cell; a numeric cell before it is the list's id, a
    number right after it a PDQ quality, and the last other text cell the label."""
    found = None
    for i, cell in enumerate(cells):
        prefix_kind, value = _split_prefix(cell)
        kind = prefix_kind or _guess_kind(value, hex64_kind)
        if kind is not None:
            found = (i, kind, value)
            break
    if found is None:
        reason = "no MD5, SHA-256 or PDQ hex value in row"
        hexish = [c for c in cells if len(c) >= 16 and _is_hex(c.removeprefix("0x"))]
        if hexish:
            reason = f"hex value of {len(hexish[0])} digits is not an MD5, SHA-256 or PDQ"
        out.rejects.append(_reject(source, line_no, reason, line))
        return
    index, kind, value = found
    ref = next((c for c in cells[:index] if c.isdigit()), "")
    after = cells[index + 1 :]
    quality = _quality(after[0]) if after and kind == "pdq" else None
    texts = [c for c in after if c and not _looks_numeric(c) and _guess_kind(c, hex64_kind) is None]
    label = texts[-1] if texts else ""
    _emit([(kind, value, "hash")], label, ref, quality, source, line_no, line, hex64_kind, out)


def _looks_numeric(cell: str) -> bool:
    """Numbers and timestamps, which are not labels."""
    return bool(re.fullmatch(r"[\d\s:.+\-TZ]+", cell))
