"""Stated ages ("age 19", "19yo", "nineteen years old", "I'm 19", "just turned 18").

An age under 18 is the single strongest sign that an ad sells a child, so ages 12-17 are
always reported; adult ages matter too (a network's "new 18 year olds"). Numbers that are
really sizes, prices, times, measurements or phone digits are left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from safelight.extract._common import add_free, digit_runs, load, lowered, word_set, words
from safelight.records import Mention

MIN_AGE, MAX_AGE = 12, 80

# The character before an age is none of these (prices, decimals, times, dates, phones...).
_BAD_BEFORE = frozenset("$€£.,:/'#+-_")  # "(" is checked apart: "Jade (19)"
# Right after a number: more digits of a decimal, time, date, range or phone; or a symbol.
_BAD_AFTER = re.compile(r"[\w'\"’”%+]|[.,:/\-][0-9]")
_YEARS = re.compile(
    r"[ \t]*-?[ \t]*(?P<unit>y/o|y\.o\.?|yo|yrs?\.?|years?|yr)"
    r"(?P<old>[ \t]*-?[ \t]*(?:old|young|of[ \t]+age))?(?![a-z])"
)
# Phrases that end right before an age; each is tried only when the text before the number
# ends with one of its last words (a cheap test), then matched back to where it starts.
_LABEL = re.compile(r"(?<![a-z])(?:age|aged|edad)[ \t]*[:=\-]?[ \t]*$")
_TURNED = re.compile(r"(?<![a-z])(?P<just>just[ \t]+)?(?:turned|turning)[ \t]+$")
_IAM = re.compile(r"(?<![a-z])(?:i['’]?m|i[ \t]+am)[ \t]+(?:only[ \t]+|just[ \t]+|barely[ \t]+)?$")
_OF_AGE = re.compile(r"(?<![a-z])(?P<who>[a-z]+)[ \t]+of[ \t]+$")
_WHO_NUMBER = re.compile(r"(?<![a-z])(?P<who>[a-z]+),[ \t]{0,2}$")
_ME_AT = re.compile(r"(?<![a-z])(?:that['’]?s|that[ \t]+is|this[ \t]+is)[ \t]+me[ \t]+at[ \t]+$")
# "Jade, 22" / "Jade 22": a capitalised word, then the number (the word is checked in code).
_NAME_NUMBER = re.compile(r"(?<![\w'’-])(?P<name>[A-Z][a-z]{1,19}),?[ \t]{0,2}$")
_LABEL_ENDS = ("age", "aged", "edad")
_TURNED_ENDS = ("turned", "turning")
_IAM_ENDS = ("m", "only", "just", "barely")
# After "I'm 5": units that make the number a height, weight, distance, time or count.
_UNIT_AFTER = re.compile(
    r"[ \t]*(?:'|\"|ft\b|feet|foot|inch|in\b|lbs?\b|pounds|kg\b|kilos?|cm\b|min\b|mins|minutes?"
    r"|hrs?\b|hours?|h\b|mi\b|miles?|km\b|blocks?|k\b|dollars?|bucks|roses|girls?|guys?|days?"
    r"|weeks?|months?|times?|am\b|pm\b|th\b|st\b|nd\b|rd\b|percent|x\b|and[ \t]+up|or[ \t]+older"
    r"|plus\b|dd?\b|[a-h]?[ \t]?cups?\b)"
)
_PAREN_NAME = re.compile(r"(?:^|[^\w])[A-Z][a-z]{1,19}[ \t]*\($")


@dataclass(frozen=True, slots=True)
class _Tables:
    word_re: re.Pattern[str]
    paren_cue_re: re.Pattern[str]
    numbers: dict[str, int]
    number_words: frozenset[str]
    duration_after: frozenset[str]
    duration_before: frozenset[str]
    not_names: frozenset[str]  # capitalised words that are no name before a number
    of_age_words: frozenset[str]


@cache
def _tables() -> _Tables:
    data = load("ages.yaml")
    units, teens, tens = data["units"], data["teens"], data["tens"]
    numbers: dict[str, int] = {w: int(v) for w, v in {**units, **teens, **tens}.items()}
    for t, tv in tens.items():
        for u, uv in units.items():
            numbers[f"{t} {u}"] = int(tv) + int(uv)
    unit_alt = "|".join(sorted(units, key=len, reverse=True))
    word = (
        rf"(?<![a-z])(?P<w>(?:{'|'.join(tens)})(?:[ \t-]?(?:{unit_alt}))?"
        rf"|{'|'.join(sorted(teens, key=len, reverse=True))})(?![a-z])"
    )
    # Spelled-out ages, in the same forms as digits (rare, so one slower pattern is fine).
    word_re = re.compile(
        rf"(?P<label>(?<![a-z])(?:age|aged)[ \t]*[:=\-]?[ \t]*)?"
        rf"(?P<iam>(?<![a-z])(?:i['’]?m|i[ \t]+am)[ \t]+(?:only[ \t]+|just[ \t]+)?)?"
        rf"(?P<turned>(?<![a-z])(?:just[ \t]+)?(?:turned|turning)[ \t]+)?"
        rf"{word}(?P<years>{_YEARS.pattern})?"
    )
    cues = "|".join(re.escape(str(c)).replace("'", "['’]?") for c in data["paren_cues"])
    paren_cue_re = re.compile(rf"(?<![a-z])(?:{cues})(?![a-z])")
    return _Tables(
        word_re,
        paren_cue_re,
        numbers,
        frozenset(teens) | frozenset(tens) - {"ten", "eleven"},  # words that can start an age
        words("ages.yaml", "duration_after"),
        words("ages.yaml", "duration_before"),
        words("ages.yaml", "name_number_stop") | words("names.yaml", "common_words"),
        words("ages.yaml", "of_age_words"),
    )


def _word_after(low: str, end: int) -> str:
    m = re.match(r"[ \t]*([a-z]+)", low[end : end + 30])
    return m.group(1) if m else ""


def _word_before(low: str, start: int) -> str:
    m = re.search(r"([a-z]+)[ \t]*$", low[max(0, start - 30) : start])
    return m.group(1) if m else ""


class _Found:
    """Collects age mentions, dropping any that overlap one already kept."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[Mention] = []

    def add(self, start: int, end: int, value: int | None, conf: float, form: str) -> None:
        if value is None or not MIN_AGE <= value <= MAX_AGE:
            return
        if any(start < o.end and o.start < end for o in self.out[-3:]):
            return  # found in text order: only the last few can overlap
        self.out.append(
            Mention(
                "age",
                value,
                self.text[start:end],
                start,
                end,
                conf,
                detail={"form": form, "minor": value < 18},
            )
        )


def _years_kind(low: str, m: re.Match[str], start: int, t: _Tables) -> tuple[float, str] | None:
    """Confidence and form of "N yrs ..." or None when it reads as a duration."""
    if m.group("old") or m.group("unit") in {"yo", "y/o", "y.o", "y.o."}:
        return 0.95, "years_old"
    if (
        _word_after(low, m.end()) in t.duration_after
        or _word_before(low, start) in t.duration_before
    ):
        return None
    return 0.7, "years"


def _digit_ages(
    text: str, low: str, runs: tuple[tuple[int, int], ...], t: _Tables, found: _Found
) -> None:
    for start, end in runs:
        if end - start > 2 or (
            start and (low[start - 1] in _BAD_BEFORE or low[start - 1].isalnum())
        ):
            continue
        value = int(low[start:end])
        years = _YEARS.match(low, end)
        if years:
            kind = _years_kind(low, years, start, t)
            if kind:
                found.add(start, years.end(), value, kind[0], kind[1])
            continue
        if low[end : end + 1] == ")" and low[start - 1 : start] == "(":
            _paren(text, low, start, end, value, t, found)
            continue
        if _BAD_AFTER.match(low, end):
            continue
        tail = low[max(0, start - 12) : start].rstrip(" \t:=-")
        lo = max(0, start - 40)
        if tail.endswith(_LABEL_ENDS) and (m := _LABEL.search(low, lo, start)):
            found.add(m.start(), end, value, 0.95, "age_label")
        elif tail.endswith(_TURNED_ENDS) and (m := _TURNED.search(low, lo, start)):
            found.add(m.start(), end, value, 0.9 if m.group("just") else 0.8, "turned")
        elif (
            tail.endswith(_IAM_ENDS)
            and (m := _IAM.search(low, lo, start))
            and not _UNIT_AFTER.match(low, end)
        ):
            found.add(m.start(), end, value, 0.8, "i_am")
        elif (
            tail.endswith("of")
            and (m := _OF_AGE.search(low, lo, start))
            and m.group("who") in t.of_age_words
        ):
            found.add(m.start(), end, value, 0.85, "of_age")
        elif tail.endswith("at") and (m := _ME_AT.search(low, lo, start)):
            found.add(m.start(), end, value, 0.8, "me_at")
        elif (m := _WHO_NUMBER.search(low, lo, start)) and m.group("who") in t.of_age_words:
            found.add(m.start(), end, value, 0.8, "of_age")  # "a curvy lady, 33, with..."
        elif (
            (m := _NAME_NUMBER.search(text, lo, start))
            and m.group("name").lower() not in t.not_names
            and not _UNIT_AFTER.match(low, end)
            and not _BAD_AFTER.match(low, end)
        ):
            found.add(m.start(), end, value, 0.6, "name_number")


def _paren(
    text: str, low: str, start: int, end: int, value: int, t: _Tables, found: _Found
) -> None:
    """ "Jade (19)": an age only after a capitalised word and near a cue such as "meet"."""
    before = text[max(0, start - 24) : start]
    m = _PAREN_NAME.search(before)
    if m is None or end - start != 2:
        return
    name_start = start - len(before) + m.start() + (0 if m.group()[0].isupper() else 1)
    if t.paren_cue_re.search(low, max(0, name_start - 40), name_start):
        found.add(name_start, end + 1, value, 0.7, "paren")


def find_ages(text: str) -> list[Mention]:
    """Every stated age from 12 to 80, strongest forms first when spans overlap."""
    low = lowered(text)
    t = _tables()
    found = _Found(text)
    runs = digit_runs(text)  # the `[0-9]+` runs of `low` too: lower-casing keeps digits
    if runs:
        _digit_ages(text, low, runs, t, found)
    if not t.number_words.isdisjoint(word_set(low)):
        digits, found.out = found.out, []
        for m in t.word_re.finditer(low):
            key = re.sub(r"[ \t-]+", " ", m.group("w"))
            value = t.numbers.get(key)
            if m.group("years"):
                years = _YEARS.match(low, m.end("w"))
                kind = _years_kind(low, years, m.start(), t) if years else None
                if kind:
                    found.add(m.start(), m.end(), value, kind[0], kind[1])
            elif m.group("label") or m.group("iam") or m.group("turned"):
                form = "age_label" if m.group("label") else "i_am" if m.group("iam") else "turned"
                found.add(m.start(), m.end(), value, 0.85, form)
        found.out = add_free(digits, found.out)
    return found.out
