"""Names a poster goes by ("ask for Jasmine", "my name is Jade", "– Jade xoxo").

Working names recur across a network's ads and cities; with phones and photos they help an
analyst see that two ads are the same person. Only capitalised words that are not common
English words count, so "I'm New" or "call me Now" stay out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from safelight.extract._common import add_free, load, lowered, standalone, word_set, words
from safelight.records import Mention

# A name: a letter, then letters, apostrophes or inner hyphens ("Mary-Jane", "D'Asia").
_NAME = r"(?P<name>[^\W\d_](?:[^\W\d_]|['’](?=[^\W\d_])|-(?=[^\W\d_])){1,19}+)(?![\w'’-])"
_BEFORE_NAME = re.compile(
    r"(?<![\w'’-])(?P<name>[^\W\d_](?:[^\W\d_]|['’](?=[^\W\d_])|-(?=[^\W\d_])){1,19}+)"
    r"(?P<sep>[ \t]{1,2}|)$"
)
_SPACES = re.compile(r"\s+")
_COMMA_AGE = re.compile(r",[ \t]?[1-8][0-9](?![0-9])")
_STRONG = frozenset(
    {
        "ask for",
        "asking for",
        "my name is",
        "my name's",
        "name is",
        "name's",
        "call me",
        "they call me",
        "known as",
        "aka",
    }
)


@dataclass(frozen=True, slots=True)
class _Tables:
    cue_re: re.Pattern[str]
    signoff_re: re.Pattern[str]
    stop: frozenset[str]
    cues: tuple[tuple[str, tuple[str, ...]], ...]  # (first word, spellings) of each cue
    # first word -> (the cue's other words, one spelling) for each spelling of a cue
    cue_index: dict[str, tuple[tuple[frozenset[str], str], ...]]
    tails: tuple[str, ...]
    tail_keys: tuple[str, ...]  # tails holding no other tail: one of them is in any text
    after: tuple[tuple[str, str], ...]  # (first word, phrase) of each phrase after a name


def _phrase(cue: str) -> str:
    parts = [re.escape(p).replace("'", "['’]") for p in cue.split()]
    return r"[ \t]+".join(parts)


@cache
def _tables() -> _Tables:
    data = load("names.yaml")
    cues = sorted({c.lower() for c in data["cues"]}, key=len, reverse=True)
    cue_alt = "|".join(_phrase(c) for c in cues)
    cue_re = re.compile(rf"(?P<cue>(?i:{cue_alt}))[ \t]*[,:\-–]?[ \t]+{_NAME}")
    tails = "|".join(re.escape(t) for t in data["signoff_tails"])
    signoff_re = re.compile(rf"[-–—~]{{1,2}}[ \t]*{_NAME}[ \t]*(?i:{tails})(?![\w])")
    spelled = tuple((c.split()[0], (c, c.replace("'", "’")) if "'" in c else (c,)) for c in cues)
    index: dict[str, list[tuple[frozenset[str], str]]] = {}
    for first, spellings in spelled:
        for spelling in spellings:
            # Where a cue can start a name, its words after the first stand between single
            # spaces, or, the last, before the spaces or punctuation `cue_re` wants: the
            # text's word set (which reads "’" as "'") holds every one of them then.
            rest = frozenset(w.replace("’", "'") for w in spelling.split()[1:])
            index.setdefault(first, []).append((rest, spelling))
    lower_tails = tuple(str(t).lower() for t in data["signoff_tails"])
    return _Tables(
        cue_re,
        signoff_re,
        words("names.yaml", "common_words") | words("names.yaml", "contractions"),
        spelled,
        {k: tuple(v) for k, v in index.items()},
        lower_tails,
        tuple(t for t in lower_tails if not any(o != t and o in t for o in lower_tails)),
        tuple((str(a).split()[0], str(a).lower()) for a in data["after_cues"]),
    )


def _accept(name: str, stop: frozenset[str]) -> bool:
    """A capitalised (or all-caps) word that is not a common English word."""
    low = name.lower().replace("’", "'")
    if not name[0].isupper() or low in stop or low.replace("'", "") in stop:
        return False
    rest = name[1:]
    return rest.islower() or rest.isupper() or "-" in rest or "'" in rest or "’" in rest


def _norm(name: str) -> str:
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _signoffs(text: str, t: _Tables) -> list[re.Match[str]]:
    """ "– Jade xoxo": a dash at the start of a line or after a sentence, a name, a kiss."""
    found = []
    for dash in "-–—~":
        i = text.find(dash)
        while i >= 0:
            if i == 0 or text[i - 1].isspace() or text[i - 1] in ".!":
                m = t.signoff_re.match(text, i)
                if m is not None:
                    found.append(m)
                    i = m.end()
            i = text.find(dash, i + 1)
    return found


def _before(text: str, low: str, t: _Tables, here: frozenset[str]) -> list[Mention]:
    """Names known by what follows them: "Gemma here", "Jade is waiting", "Jade, 22"."""
    found: list[Mention] = []
    spots = [
        (i, phrase) for first, phrase in t.after if first in here for i in standalone(low, phrase)
    ]
    if "," in text:
        spots += [(m.start(), "age") for m in _COMMA_AGE.finditer(text)]
    for i, cue in sorted(spots):
        m = _BEFORE_NAME.search(text, max(0, i - 24), i)
        # "Jade, 22" has the name right before the comma; "Jade here" has a space between
        if m is None or (cue == "age") == bool(m.group("sep")):
            continue
        name = m.group("name")
        if not _accept(name, t.stop):
            continue
        start, end = m.span("name")
        if found and start < found[-1].end:
            continue
        found.append(Mention("name", _norm(name), name, start, end, 0.6, detail={"cue": cue}))
    return found


def find_names(text: str) -> list[Mention]:
    """Every name the poster gives, value capitalised ("JADE" -> "Jade")."""
    t = _tables()
    low = lowered(text)
    here = word_set(low)
    starts: set[int] = set()
    index = t.cue_index
    for first in here.intersection(index):
        for rest, spelling in index[first]:
            if rest <= here and spelling in low:
                starts.update(standalone(low, spelling))
    out: list[Mention] = []
    for i in sorted(starts):
        m = t.cue_re.match(text, i)
        if m is None or (out and i < out[-1].end):
            continue
        name = m.group("name")
        if not _accept(name, t.stop):
            continue
        cue = _SPACES.sub(" ", m.group("cue").lower().replace("’", "'"))
        conf = 0.9 if cue in _STRONG else 0.7
        if name.isupper() and len(name) > 1:
            conf -= 0.1
        start, end = m.span("name")
        out.append(Mention("name", _norm(name), name, start, end, conf, detail={"cue": cue}))
    if any(map(low.__contains__, t.tail_keys)):
        signed = []
        for m in _signoffs(text, t):
            name = m.group("name")
            if _accept(name, t.stop):
                start, end = m.span("name")
                signed.append(
                    Mention("name", _norm(name), name, start, end, 0.6, detail={"cue": "signoff"})
                )
        out = add_free(out, signed)
    return add_free(out, _before(text, low, t, here))
