"""Social-media and messenger handles ("IG: @sweet_jane99", "kik me jane", "t.me/jane").

Ads move contact off the site to apps; the same handle in two ads is strong evidence of one
poster. Platforms, their cue words and profile URLs come from `data/extract/handles.yaml`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from safelight.extract._common import add_free, load, lowered, standalone, word_set, words
from safelight.records import Mention

_HANDLE = r"(?P<handle>[a-z0-9_][a-z0-9_.\-]{0,31}+)"
_LETTER = re.compile(r"[a-z]")
_CLEAR_HANDLE = re.compile(r"[0-9_.]")
_TIME_OR_PRICE = re.compile(r"\d+(?:am|pm|ish|hr|hrs|hh|h|min|mins|k)?")
_BARE = re.compile(r"@(?P<handle>[a-z_][a-z0-9_.]{1,29}+)")
_CUE_SPLIT = re.compile(r"[ \t]*[/&,+|][ \t]*|[ \t]+(?:and|or)[ \t]+")
_NO_START_BEFORE = frozenset("@$./")


@dataclass(frozen=True, slots=True)
class _Tables:
    cue_re: re.Pattern[str]
    reverse_re: re.Pattern[str]
    url_re: re.Pattern[str]
    cue_platform: dict[str, str]
    weak: frozenset[str]
    first_words: dict[str, tuple[str, ...]]  # first word of a cue -> cues starting with it
    url_platform: dict[str, str]
    url_domains: tuple[str, ...]


def _squeeze(cue: str) -> str:
    return re.sub(r"\s+", "", cue.lower())


def _cue_pattern(cue: str) -> str:
    return r"[ \t]?".join(re.escape(part) for part in cue.lower().split())


@cache
def _tables() -> _Tables:
    data = load("handles.yaml")
    cue_platform: dict[str, str] = {}
    weak: set[str] = set()
    url_platform: dict[str, str] = {}
    spelled: list[str] = []
    for name, spec in data["platforms"].items():
        for cue in spec.get("strong") or ():
            cue_platform[_squeeze(cue)] = name
            spelled.append(str(cue).lower())
        for cue in spec.get("weak") or ():
            cue_platform[_squeeze(cue)] = name
            weak.add(_squeeze(cue))
            spelled.append(str(cue).lower())
        for url in spec.get("urls") or ():
            url_platform[str(url).lower()] = name
    first_words: dict[str, list[str]] = {}
    for cue in spelled:
        first_words.setdefault(cue.split()[0], []).append(cue)
        first_words.setdefault(_squeeze(cue), []).append(cue)
    cues = "|".join(_cue_pattern(c) for c in sorted(spelled, key=len, reverse=True))
    one = rf"(?:{cues})(?![\w])"
    fillers = "|".join(re.escape(w) for w in sorted(data["fillers"], key=len, reverse=True))
    # cue(s), then separators or filler words, then an optional "@", then the handle
    cue_re = re.compile(
        rf"(?P<cues>{one}(?:[ \t]*[/&,+|][ \t]*{one}|[ \t]+(?:and|or)[ \t]+{one}){{0,3}}+)"
        rf"(?P<mid>(?:[ \t]*(?:[:=>\-–—~|(\[]|(?:{fillers})(?![\w']))){{0,5}})"
        rf"[ \t]*(?P<at>@?)[ \t]*{_HANDLE}"
    )
    reverse_re = re.compile(
        rf"@{_HANDLE}[ \t]*(?:on|via|at|[(\-:|])?[ \t]*(?:my[ \t]+)?(?P<cues>{one})"
    )
    urls = "|".join(re.escape(u) for u in sorted(url_platform, key=len, reverse=True))
    url_re = re.compile(
        rf"(?<![\w.@/-])(?:https?://)?(?:www\.)?(?P<prefix>{urls})"
        r"(?P<handle>[a-z0-9_][a-z0-9_.\-]{0,49}+)"
    )
    domains = tuple(sorted({u.split("/", 1)[0] + "/" for u in url_platform}))
    return _Tables(
        cue_re,
        reverse_re,
        url_re,
        cue_platform,
        frozenset(weak),
        {k: tuple(v) for k, v in first_words.items()},
        url_platform,
        domains,
    )


@cache
def _platform_names() -> tuple[str, ...]:
    """Every platform name the extractor can report, plus "unknown"."""
    return (*sorted(load("handles.yaml")["platforms"]), "unknown")


# The platforms, for callers that expand a bare name into every platform (search queries).
PLATFORMS = _platform_names


@cache
def _after_cue_stop() -> frozenset[str]:
    """Words that are not a handle when they follow a cue: the list plus common English."""
    common = words("names.yaml", "common_words") - {"name"}  # "kik me name" is a handle
    return words("handles.yaml", "after_cue_stop") | common


def _clean(handle: str) -> str:
    return handle.rstrip(".-").lstrip("@")


def _platforms_of(cues: str, t: _Tables) -> list[tuple[str, bool]]:
    """(platform, cue is weak) for each cue in "ig/sc" or "snap and kik"."""
    found: list[tuple[str, bool]] = []
    for part in _CUE_SPLIT.split(cues):
        key = _squeeze(part)
        platform = t.cue_platform.get(key)
        if platform and all(platform != p for p, _ in found):
            found.append((platform, key in t.weak))
    return found


def _mention(text: str, start: int, end: int, platform: str, handle: str, conf: float) -> Mention:
    return Mention(
        "handle",
        f"{platform}:{handle.lower()}",
        text[start:end],
        start,
        end,
        conf,
        detail={"platform": platform},
    )


def _from_urls(text: str, low: str, t: _Tables) -> Iterator[Mention]:
    url_stop = words("handles.yaml", "url_stop")
    for m in t.url_re.finditer(low):
        handle = _clean(m.group("handle"))
        platform = t.url_platform[m.group("prefix")]
        if not handle or handle in url_stop:
            continue
        if platform != "whatsapp" and not _LETTER.search(handle):
            continue
        yield _mention(text, m.start(), m.start("handle") + len(handle), platform, handle, 0.95)


def _from_cues(text: str, low: str, t: _Tables, present: set[str]) -> Iterator[Mention]:
    stop = _after_cue_stop()
    starts = sorted({i for w in present for i in standalone(low, w)})
    done = 0
    for i in starts:
        if i < done or (i > 0 and low[i - 1] in _NO_START_BEFORE):
            continue
        m = t.cue_re.match(low, i)
        if m is None:
            continue
        handle = _clean(m.group("handle"))
        if not handle or not _LETTER.search(handle) or _TIME_OR_PRICE.fullmatch(handle):
            continue
        clear = bool(m.group("at")) or bool(_CLEAR_HANDLE.search(handle))
        if not clear and handle in stop:
            continue
        platforms = _platforms_of(m.group("cues"), t)
        separated = bool(m.group("at") or m.group("mid").strip())
        if not platforms or (all(w for _, w in platforms) and not (separated or clear)):
            continue
        end = m.start("handle") + len(handle)
        done = end
        for platform, _weak in platforms:
            yield _mention(text, m.start(), end, platform, handle, 0.9 if clear else 0.75)


def _from_at(text: str, low: str, t: _Tables) -> Iterator[Mention]:
    """ "@jane on IG" with a platform after it, else a bare "@jane" with none."""
    stop = words("handles.yaml", "bare_stop")
    tlds = words("tlds.yaml", "tlds")
    i = low.find("@")
    while i >= 0:
        nxt = i + 1
        before = low[i - 1] if i else " "
        if not (before.isalnum() or before in "_@.$/+-"):
            rev = t.reverse_re.match(low, i)
            handle = _clean(rev.group("handle")) if rev else ""
            platforms = _platforms_of(rev.group("cues"), t) if rev else []
            if rev and platforms and _LETTER.search(handle):
                for platform, _weak in platforms:
                    yield _mention(text, i, rev.end(), platform, handle, 0.9)
                nxt = rev.end()
            else:
                m = _BARE.match(low, i)
                handle = _clean(m.group("handle")) if m else ""
                domain = "." in handle and handle.rsplit(".", 1)[1] in tlds
                if (
                    m
                    and len(handle) >= 2
                    and handle not in stop
                    and not domain
                    and not _TIME_OR_PRICE.fullmatch(handle)
                ):
                    yield _mention(text, i, i + 1 + len(handle), "unknown", handle, 0.6)
                    nxt = i + 1 + len(handle)
        i = low.find("@", nxt)


def find_handles(text: str) -> list[Mention]:
    """Every platform handle in `text`; an "@name" with no platform named is "unknown:"."""
    t = _tables()
    low = lowered(text)
    present = t.first_words.keys() & word_set(low)
    has_url = "/" in low and any(d in low for d in t.url_domains)
    if not (present or has_url or "@" in low):
        return []
    out: list[Mention] = []
    sources: list[Iterator[Mention]] = []
    if has_url:
        sources.append(_from_urls(text, low, t))
    if present:
        sources.append(_from_cues(text, low, t, present))
    if "@" in low:
        sources.append(_from_at(text, low, t))
    for source in sources:
        out = add_free(out, source)
    return out
