"""Web addresses in ad text ("www.example.com", "example.com/jane", "example dot com").

Personal sites and link pages tie a poster's ads together and lead off the ad site. Email
addresses and decimals are not URLs; a bare "name.tld" needs a TLD from the data list, and
TLDs that are everyday words ("here.me") need a scheme, "www." or a path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from safelight.extract._common import add_free, lowered, own_free, words
from safelight.records import Mention

_LABEL = r"[a-z0-9][a-z0-9-]{0,62}+"
_PATH = re.compile(r"[/?#][^\s<>\"'`{}|\\^\[\]]{0,2000}+")
_SCHEME = re.compile(
    rf"(?P<scheme>https?|ftp)://(?P<host>(?:{_LABEL}\.){{0,8}}+{_LABEL}(?::\d{{1,5}})?)"
)
_TLD_AFTER = re.compile(r"[a-z]{2,24}+(?![a-z0-9-])")
_PORT = re.compile(r":\d{1,5}(?!\d)")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")
_MAX_HOST = 253
_HOST_RUN = re.compile(r"[a-z0-9.-]*")
_TRAIL = ".,;:!?'\")]}>*"
_HIDDEN_MARKS = ("dot", ".)", ".]", ".}", ".>")
_EMAIL_BEFORE = re.compile(r"(?:@|[(\[{<][ \t]*(?:at|@)[ \t]*[)\]}>])[ \t]*$")
_AT_WORD_BEFORE = re.compile(r"([a-z0-9_][a-z0-9._%+-]*)[ \t]+at[ \t]+$")
_IP = re.compile(r"[0-9.]+")


@dataclass(frozen=True, slots=True)
class _Tables:
    hidden_re: re.Pattern[str]
    tlds: frozenset[str]
    weak: frozenset[str]
    second_level: frozenset[str]


@cache
def _tables() -> _Tables:
    tlds = words("tlds.yaml", "tlds")
    alt = "|".join(sorted(tlds, key=len, reverse=True))
    dot = r"(?:[ \t]+dot[ \t]+|[ \t]*[(\[{<][ \t]*(?:dot|\.)[ \t]*[)\]}>][ \t]*)"
    hidden_re = re.compile(rf"(?P<host>(?:{_LABEL}{dot}){{1,4}})(?P<tld>{alt})(?![\w@-])")
    return _Tables(hidden_re, tlds, words("tlds.yaml", "weak"), words("tlds.yaml", "second_level"))


def _trim(url: str) -> str:
    """Drop sentence punctuation that follows a URL, keeping balanced brackets."""
    while url and url[-1] in _TRAIL:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def registrable(host: str, second_level: frozenset[str] | None = None) -> str:
    """The registrable-ish domain of a host: last two labels, three under "co.uk" and kin."""
    host = host.lower().rstrip(".").split(":", 1)[0]
    if _IP.fullmatch(host):
        return host
    labels = host.split(".")
    levels = second_level if second_level is not None else _tables().second_level
    if len(labels) >= 3 and ".".join(labels[-2:]) in levels:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _mention(
    text: str,
    start: int,
    end: int,
    scheme: str,
    host: str,
    rest: str,
    t: _Tables,
    obfuscated: bool = False,
    conf: float = 0.9,
) -> Mention:
    value = f"{scheme}://{host}{'' if rest == '/' else rest}"
    return Mention(
        "url",
        value,
        text[start:end],
        start,
        end,
        conf,
        obfuscated,
        detail={"domain": registrable(host, t.second_level)},
    )


def _email_like(low: str, start: int) -> bool:
    """The host is the right side of an address: "jane@", "jane (at) ", "jane at "."""
    window = low[max(0, start - 70) : start]
    if _EMAIL_BEFORE.search(window):
        return True
    m = _AT_WORD_BEFORE.search(window)
    return m is not None and m.group(1) not in words("emails.yaml", "word_at_stop_locals")


# A dot a TLD can follow: the others are skipped in one C search rather than looked at.
_DOT_LETTER = re.compile(r"\.(?=[a-z])")


def _next_dot(low: str, pos: int) -> int:
    """The next "." at or after `pos` followed by a letter, or -1."""
    m = _DOT_LETTER.search(low, pos)
    return -1 if m is None else m.start()


def _bare(text: str, low: str, t: _Tables) -> list[Mention]:
    """Hosts without a scheme, found from each "." followed by a known TLD."""
    out: list[Mention] = []
    if low.startswith("."):
        return out  # (a text opening with "." has never been searched for hosts)
    run_start, run_dot = 0, -1  # where the host characters before the last dot began
    dot = _next_dot(low, 0)
    while dot > 0:
        m = _TLD_AFTER.match(low, dot + 1)
        if m is None or m.group() not in t.tlds or not low[dot - 1].isalnum():
            dot = _next_dot(low, dot + 1)
            continue
        if run_dot >= 0 and _HOST_RUN.fullmatch(low, run_dot, dot):
            start = max(run_start, dot - _MAX_HOST)  # same run of host characters as before
        else:
            start = dot
            while start > 0 and dot - start < _MAX_HOST and low[start - 1] in _HOST_CHARS:
                start -= 1
        run_start, run_dot = start, dot
        end = m.end()
        for _ in range(3):  # "example.co.uk"
            nxt = _TLD_AFTER.match(low, end + 1)
            if nxt is None or low[end : end + 1] != "." or nxt.group() not in t.tlds:
                break
            end = nxt.end()
        host = low[start:end].strip(".-")
        start = end - len(host)
        before = low[start - 1] if start else " "
        dot = _next_dot(low, end)
        if before.isalnum() or before in "_@+/:." or "@" in low[end : end + 1]:
            continue
        if (out and start < out[-1].end) or ".." in host or not host:
            continue
        port = _PORT.match(low, end)
        stop = port.end() if port else end
        path = _PATH.match(text, stop)
        raw = _trim(text[start : path.end() if path else stop])
        rest = raw[len(host) :]
        tld = host.rsplit(".", 1)[1]
        www = host.startswith("www.")
        if tld in t.weak and not (www or rest.startswith("/")):
            continue
        if host.split(".", 1)[0].isdigit() or _email_like(low, start):
            continue
        out.append(
            _mention(
                text,
                start,
                start + len(raw),
                "http",
                host,
                rest,
                t,
                conf=0.9 if www or rest else 0.8,
            )
        )
    return out


def _hidden(text: str, low: str, t: _Tables) -> list[Mention]:
    """ "example dot com", found from each disguised dot back to the label before it."""
    out: list[Mention] = []
    for mark in _HIDDEN_MARKS:
        i = low.find(mark)
        while i >= 0:
            j = i
            while j > 0 and i - j < 8 and low[j - 1] in " \t([{<":
                j -= 1
            start = j
            while start > 0 and j - start < 63 and low[start - 1] in _HOST_CHARS:
                start -= 1
            i = low.find(mark, i + 1)
            if start == j or (start and (low[start - 1].isalnum() or low[start - 1] in "_@")):
                continue
            m = t.hidden_re.match(low, start)
            if m is None:
                continue
            if _email_like(low, start):
                continue
            labels = [lab for lab in re.findall(r"[a-z0-9-]+", m.group("host")) if lab != "dot"]
            tld = m.group("tld")
            if not labels or tld in t.weak:
                continue
            out.append(
                _mention(
                    text,
                    start,
                    m.end(),
                    "http",
                    ".".join([*labels, tld]),
                    "",
                    t,
                    obfuscated=True,
                    conf=0.7,
                )
            )
    return own_free(out)


def find_urls(text: str) -> list[Mention]:
    """Every URL in `text`: with a scheme, "www.", a bare "name.tld[/path]" or "name dot com"."""
    low = lowered(text)
    hidden = any(mark in low for mark in _HIDDEN_MARKS)
    if "." not in low and not hidden:
        return []
    t = _tables()
    out: list[Mention] = []
    if "://" in low:
        for m in _SCHEME.finditer(low):
            if m.start() and (low[m.start() - 1].isalnum() or low[m.start() - 1] in "_.+-"):
                continue
            path = _PATH.match(text, m.end())
            raw = _trim(text[m.start() : path.end() if path else m.end()])
            rest = raw[m.end() - m.start() :]
            out.append(
                _mention(
                    text,
                    m.start(),
                    m.start() + len(raw),
                    m.group("scheme"),
                    m.group("host"),
                    rest,
                    t,
                    conf=1.0,
                )
            )
    if "." in low:
        out = add_free(out, _bare(text, low, t))
    if hidden:
        out = add_free(out, _hidden(text, low, t))
    return out
