"""Prices and rates ("$250/hr", "150hh", "qv 80", "roses 200", "$100 special").

Rates help score ads (unusually low prices are a trafficking indicator in the research) and
tie ads of one network that share a price list. Unit words come from `data/extract/prices.yaml`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from safelight.extract._common import digit_runs, load, lowered
from safelight.records import Mention

_NUMBER = re.compile(r"[0-9]+(?:,[0-9]{3})*+(?:\.[0-9]{1,2})?+")
_NOT_A_PRICE = re.compile(r"[ \t]?(?:am|pm|a\.m|p\.m)\b|:[0-9]|[ .\-][0-9]{3,4}(?![0-9])")
_BAD_BEFORE = frozenset(".,:/-_#%")
_SEP_BEFORE = " \t:=-–@"
_FILLERS_BEFORE = (" is", " for", " only", " just")


@dataclass(frozen=True, slots=True)
class _Tables:
    after_re: re.Pattern[str]
    cur_re: re.Pattern[str]
    unit_of: dict[str, str | None]  # unit spelling, spaces removed -> unit
    spelled: frozenset[str]  # unit spellings as written, single-spaced
    last_words: frozenset[str]  # the last word of each spelling: a cheap first test
    minimum: dict[str, float]
    maximum: float


def _alt(items: list[str]) -> str:
    return "|".join(
        r"[ \t]?".join(re.escape(p) for p in item.split())
        for item in sorted(items, key=len, reverse=True)
    )


def _key(word: str) -> str:
    return re.sub(r"[ \t]+", "", word.lower())


@cache
def _tables() -> _Tables:
    data = load("prices.yaml")
    unit_of: dict[str, str | None] = {}
    spellings: list[str] = []
    for unit, items in data["units"].items():
        for s in items:
            unit_of[_key(str(s))] = None if unit == "none" else unit
            spellings.append(" ".join(str(s).lower().split()))
            spellings.append(_key(str(s)))
    units = _alt(spellings)
    cur = _alt([str(c) for c in data["currency_words"]])
    cur_re = re.compile(rf"[ \t]?(?:\$|(?:{cur})(?![a-z]))")
    after_re = re.compile(
        rf"(?P<cur>{cur_re.pattern})?"
        rf"(?:[ \t]*(?:/|per|an?|for(?:[ \t]+(?:an?|1|one|the))?|x|-)?[ \t]*"
        rf"(?P<unit>{units})(?![a-z]))?"
    )
    minimum = {k: float(v) for k, v in data["minimum"].items()}
    last_words = frozenset(sp.split()[-1] for sp in spellings if sp.split())
    return _Tables(
        after_re,
        cur_re,
        unit_of,
        frozenset(spellings),
        last_words,
        minimum,
        float(data["maximum"]),
    )


def _unit_before(low: str, lo: int, hi: int, t: _Tables) -> tuple[int, str] | None:
    """A unit written just before an amount ("qv 80", "hh: $150"): (its start, spelling)."""
    window = low[lo:hi].rstrip(_SEP_BEFORE)
    if window.endswith(_FILLERS_BEFORE):
        for filler in _FILLERS_BEFORE:
            if window.endswith(filler):
                window = window[: -len(filler)].rstrip(_SEP_BEFORE)
                break
    tail = window.rsplit(None, 3)[-3:]  # the last three words
    if not tail or tail[-1] not in t.last_words:
        return None  # every spelling tried below ends with the last word
    for k in range(len(tail), 0, -1):
        spelling = " ".join(tail[-k:])
        if spelling in t.spelled:
            # where the spelling starts in `low` (runs of spaces may have been squeezed)
            start = low.rfind(tail[-k], lo, hi)
            return start, spelling
    return None


def find_prices(text: str) -> list[Mention]:
    """Every price with its unit (hour, half_hour, quarter_hour, visit, night or None)."""
    runs = digit_runs(text)  # the `[0-9]+` runs of `low` too: lower-casing keeps digits
    if not runs:
        return []
    low = lowered(text)
    t = _tables()
    out: list[Mention] = []
    done = 0
    number = _NUMBER.match
    pos = 0  # where `_NUMBER.finditer(low)` would search next: each match starts at a digit
    for run_start, run_end in runs:
        if run_end <= pos:
            continue
        s = run_start if run_start >= pos else pos
        before = low[s - 1] if s else " "
        if s < done or before.isalnum() or before in _BAD_BEFORE:
            # Rejected whatever the number: it is not matched, so `pos` stays behind, but
            # every digit run a match from here would cover follows "," or "." or a digit,
            # and is rejected here in turn.
            continue
        m = number(low, s)
        if m is None:  # cannot happen: the match starts on a digit
            continue
        e = pos = m.end()
        if e - s > 5 and len(m.group().split(".")[0].replace(",", "")) > 5:
            continue
        sign_at = s - 1 if before == "$" else s - 2 if low[s - 2 : s] == "$ " else -1
        # a phone group follows a digit and a space or line break ("." and "-" before were
        # rejected above)
        if (sign_at < 0 and _NOT_A_PRICE.match(low, e)) or (
            before in " \n" and s > 1 and "0" <= low[s - 2] <= "9"
        ):
            continue  # a time ("10pm", "2:30"), or a group of a phone number ("555 0142")
        amount = float(m.group().replace(",", ""))
        hi = sign_at if sign_at >= 0 else s
        found = _unit_before(low, max(done, s - 30), hi, t)
        if found is not None:
            start, spelling = found
            unit = t.unit_of.get(_key(spelling))
            cur = t.cur_re.match(low, e)
            end = cur.end() if cur else e
            signed = sign_at >= 0 or cur is not None
            if unit is None and (after := t.after_re.match(low, end)) and after.group("unit"):
                unit = t.unit_of.get(_key(after.group("unit")))  # "roses 180 hh"
                end = after.end()
        else:
            after = t.after_re.match(low, e)
            unit_raw = after.group("unit") if after else None
            signed = sign_at >= 0 or bool(after and after.group("cur"))
            if not (signed or unit_raw):
                continue
            unit = t.unit_of.get(_key(unit_raw)) if unit_raw else None
            start = sign_at if sign_at >= 0 else s
            end = (
                after.end()
                if after and unit_raw
                else after.end("cur")
                if after and after.group("cur")
                else e
            )
        floor = t.minimum[unit or "none"]
        if signed and unit is None:
            floor = t.minimum["dollar_sign"]
        if not floor <= amount <= t.maximum:
            continue
        out.append(
            Mention(
                "price",
                amount,
                text[start:end],
                start,
                end,
                0.9 if unit else 0.8,
                detail={"unit": unit, "currency": "USD"},
            )
        )
        done = end
    return out
