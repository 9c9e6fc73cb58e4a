"""Email addresses, written plainly or disguised to dodge site filters.

Posters write "jane (at) example (dot) com" or "jane at example dot com" so that a site's
email filter misses them; analysts need all forms reduced to one value to link ads by it.
"""

from __future__ import annotations

import re
from functools import cache

from safelight.extract._common import add_free, lowered, word_set, words
from safelight.records import Mention

_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._%+-_")
_LABEL = r"[a-z0-9][a-z0-9-]{0,62}+"
_SP = r"[ \t]{1,3}"
_OSP = r"[ \t]{0,3}"
_OPEN, _CLOSE = r"[(\[{<]", r"[)\]}>]"

# "@" with spaces round it, or "at"/"@" in brackets: unmistakably an address.
_AT_SYMBOL = rf"(?:{_SP}@{_OSP}|@{_SP}|{_OSP}{_OPEN}{_OSP}(?:at|@){_OSP}{_CLOSE}{_OSP})"
_AT_WORD = rf"(?:{_SP}at{_SP}|{_OSP}-at-{_OSP})"
_DOT_SPACED = rf"(?:{_SP}\.{_OSP}|\.{_SP})"
_DOT_HIDDEN = (
    rf"(?:{_OSP}{_OPEN}{_OSP}(?:dot|\.){_OSP}{_CLOSE}{_OSP}|{_SP}dot{_SP}|{_OSP}-dot-{_OSP})"
)
_DOT_ANY = rf"(?:{_DOT_HIDDEN}|{_DOT_SPACED}|\.)"

_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL}){{0,6}}+(?![\w-])")
_DOT_SPLIT = re.compile(_DOT_ANY)
_HAS_LETTER = re.compile(r"[a-z]")
_SPACED_AT = ("@ ", " @", "@\t", "\t@", "(@", "[@", "{@", "<@")
_BRACKETED_AT = ("(at", "[at", "{at", "<at", "( at", "[ at", "{ at", "< at")
_HIDDEN_DOTS = ("dot", ".)", ".]", ".}", ".>")


@cache
def _tlds() -> frozenset[str]:
    return words("tlds.yaml", "tlds")


@cache
def _rests() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """What may follow a disguised "at": host labels and a listed TLD, joined by any dot
    (after a bracketed or spaced "@") or by a disguised dot only (after a bare word "at")."""
    tld = "|".join(sorted(_tlds(), key=len, reverse=True))
    tail = rf"(?P<tld>{tld})(?![\w-])"
    symbol = re.compile(rf"(?P<host>{_LABEL}(?:{_DOT_ANY}{_LABEL}){{0,4}}){_DOT_ANY}{tail}")
    word = re.compile(rf"(?P<host>{_LABEL}(?:{_DOT_HIDDEN}{_LABEL}){{0,3}}){_DOT_HIDDEN}{tail}")
    return symbol, word


_AT_SEPARATOR = re.compile(rf"(?P<symbol>{_AT_SYMBOL})|(?P<word>{_AT_WORD})")


def _at_tokens(low: str) -> list[tuple[int, int, bool]]:
    """(start, end, is_symbol) of every disguised "at" separator, found from "@" and "at"."""
    found: list[tuple[int, int, bool]] = []
    for needle in ("@", "at"):
        i = low.find(needle)
        while i >= 0:
            lo = i
            while lo > 0 and i - lo < 5 and low[lo - 1] in " \t([{<-":
                lo -= 1
            m = _AT_SEPARATOR.match(low, lo)
            while m is None and lo < i:
                lo += 1
                m = _AT_SEPARATOR.match(low, lo)
            if m is not None and m.end() > i and not (needle == "@" and m.group() == "@"):
                found.append((m.start(), m.end(), m.group("symbol") is not None))
            i = low.find(needle, i + 1)
    return sorted(set(found))


def _trim_plain(host: str) -> list[str]:
    """Labels of a plain host, cut after the last known TLD ("example.com.Call" -> com)."""
    labels = host.split(".")
    tlds = _tlds()
    while len(labels) > 2 and labels[-1] not in tlds and labels[-2] in tlds:
        labels.pop()
    return labels


def _plain(text: str, low: str) -> list[Mention]:
    """Plain addresses, found from each "@" outwards (cheaper than scanning every offset)."""
    out: list[Mention] = []
    at = low.find("@")
    while at > 0:
        start = at
        while start > 0 and at - start < 64 and low[start - 1] in _LOCAL_CHARS:
            start -= 1
        host = _HOST.match(low, at + 1)
        ok = start < at and (low[start].isalnum() or low[start] == "_")
        ok = ok and (start == 0 or not (low[start - 1].isalnum() or low[start - 1] in "_@"))
        if ok and host is not None:
            labels = _trim_plain(host.group())
            tld = labels[-1]
            if len(labels) >= 2 and tld.isalpha() and len(tld) >= 2:
                end = at + 1 + len(".".join(labels))
                value = low[start:end]
                out.append(Mention("email", value, text[start:end], start, end))
                at = low.find("@", end)
                continue
        at = low.find("@", at + 1)
    return out


def find_emails(text: str) -> list[Mention]:
    """Every email address in `text`, plain (obfuscated=False) or disguised (True)."""
    low = lowered(text)
    has_at = "@" in low
    at_word = "at" in word_set(low) or "-at-" in low
    symbol_form = (has_at and any(m in low for m in _SPACED_AT)) or (
        at_word and any(m in low for m in _BRACKETED_AT)
    )
    word_form = at_word and any(m in low for m in _HIDDEN_DOTS)
    if not (has_at or symbol_form or word_form):
        return []
    out = _plain(text, low) if has_at else []
    hidden: list[Mention] = []
    if symbol_form or word_form:
        symbol, word = _rests()
        stop = words("emails.yaml", "word_at_stop_locals")
        for at_start, at_end, is_symbol in _at_tokens(low):
            start = at_start
            while start > 0 and at_start - start < 64 and low[start - 1] in _LOCAL_CHARS:
                start -= 1
            local = low[start:at_start]
            rest = (symbol if is_symbol else word).match(low, at_end)
            if not local or rest is None or not (local[0].isalnum() or local[0] == "_"):
                continue
            end = rest.end()
            if hidden and start < hidden[-1].end:
                continue
            if not is_symbol and local in stop:
                continue
            if not (_HAS_LETTER.search(local) and _HAS_LETTER.search(rest.group("host"))):
                continue
            labels = [lab for lab in _DOT_SPLIT.split(rest.group("host")) if lab]
            value = f"{local}@{'.'.join([*labels, rest.group('tld')])}"
            conf = 0.95 if is_symbol else 0.85
            hidden.append(
                Mention("email", value, text[start:end], start, end, conf, obfuscated=True)
            )
    return add_free(out, hidden)
