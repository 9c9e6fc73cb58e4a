"""Phone numbers in ad text, including every common disguise, as E.164 Mentions.

The phone number is the selector investigators pivot on most, and ads disguise it to dodge
site filters: "seven one three 555 O142", "713 💋 555 💋 0142", "7️⃣1️⃣3️⃣...", full-width
digits. phonenumbers' own matcher finds none of these, so we:

1. skip texts that cannot hold enough digits or number words (`digits.strong_enough`);
2. scan only the stretches dense in them (`digits.windows`) into pieces (`digits.scan`), glue
   pieces into digit *groups* ("713", "five5five") and groups into *runs* split by words,
   prices and long gaps;
3. in each run, try every group-aligned stretch of 10 (or 1 + 10, or "+" country code)
   digits, validate it (`numbering`), and keep the best non-overlapping set, preferring
   ordinary phone groupings (3-3-4) so that a date or a ZIP next to a number is not glued on.

Candidates start and end on group boundaries, so "$250" or "77002" beside a number cannot
lend it digits, and two numbers written back to back split where their groups do.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from functools import cache

from safelight.extract import numbering
from safelight.extract._common import lowered
from safelight.extract.digits import (
    BREAK,
    DIGITS,
    JUNK,
    MULT,
    T_EMOJI,
    T_JUNK,
    T_LOOKALIKE,
    T_SPACING,
    T_UNICODE,
    T_URL,
    T_WORDS,
    TRICK_NAMES,
    WEAK,
    Piece,
    Span,
    scan,
    strong_enough,
    trie_pattern,
    windows,
    word_list,
)
from safelight.records import Mention

__all__ = ["clear_window_memo", "find_phones"]

_NEED_NANP = 7  # digits or number words a plainly written NANP number has at least
_NEED_OTHER = 5
_MAX_WEAK = 5  # look-alike letters one number may use ("3I2-555-OlO2" has four)
_MAX_GAP = 8  # visible separator characters allowed between two groups of one number
_SHORT_TAINT = 7  # a group glued to a word or price with fewer digits is a quantity, not a phone
_INTL_BUDGET = 48  # phonenumbers.parse calls allowed per text (they are slow)
_IGNORABLE = frozenset("\ufe0f\u200d\u20e3\U0001f3fb\U0001f3fc\U0001f3fd\U0001f3fe\U0001f3ff")
_ORDINARY_GAPS = frozenset({" ", "-", ".", ")", ") ", ")-", " (", "-(", "("})
_CORE_SEPS = frozenset({"", "-", ".", ")", "(", ")-", "-("})
_NANP_STD = {10: frozenset({3, 6}), 11: frozenset({1, 4, 7})}

_PLUS2 = frozenset({"+ ", "+("})
_URLISH = re.compile(r"(?:https?://|www\.|[a-z0-9-]\.[a-z]{2,}/)", re.IGNORECASE)


class _Group:
    """Glued digit-bearing pieces: "713", "five5five", "o142", "7️⃣1️⃣3️⃣"."""

    __slots__ = ("digits", "end", "first", "plus", "start", "tricks", "weak", "weak_only")

    def __init__(self, parts: list[Piece] | tuple[Piece, ...]) -> None:
        p0 = parts[0]
        self.start = p0[1]
        self.first = p0[0]  # DIGITS / WORD / WEAK: a lone leading "1" must match what follows
        self.plus = False
        if len(parts) == 1:
            self.end = p0[2]
            self.digits = p0[3]
            self.weak = p0[4]
            self.tricks = p0[5]
            self.weak_only = p0[0] == WEAK
            return
        self.end = parts[-1][2]
        self.digits = "".join(p[3] for p in parts)
        self.weak = sum(p[4] for p in parts)
        t = 0
        for p in parts:
            t |= p[5]
        self.tricks = t
        self.weak_only = all(p[0] == WEAK for p in parts)


def find_phones(text: str, region: str = "US") -> list[Mention]:
    """Every phone number in `text`, plain or disguised, as kind="phone" Mentions.

    `value` is E.164; numbers without a country code are read in `region`. `detail` holds the
    number's home area ("region"), its country and the disguise tricks found. Sorted by start.
    """
    if not text:
        return []
    region = (region or "US").upper()
    nanp = region in numbering.NANP_REGIONS
    need = _NEED_NANP if nanp else _NEED_OTHER
    if not strong_enough(text, need, need - 2):
        return []
    found: dict[tuple[int, int], Mention] = {}
    budget = [_INTL_BUDGET]
    low = lowered(text)
    for start, end, nums in windows(text, need - 2, low):
        for m in _window_mentions(text, start, end, nums, low, region, nanp, budget):
            found.setdefault((m.start, m.end), m)
    return sorted(found.values(), key=lambda m: (m.start, m.end))


# -- windows, memoised --------------------------------------------------------------------

# What a window of text yields, by the text it depends on: a poster's phone line recurs, word
# for word, across their ads. Bounded; a memo, so the answers never depend on it.
_Found = tuple[int, int, str, str, float, bool, str, str, tuple[str, ...]]
_WINDOWS: dict[tuple[object, ...], tuple[_Found, ...]] = {}
_WINDOWS_MAX = 20_000
# Longer windows are not kept: a phone line is far shorter, and a hostile ad's one window
# of 200,000 characters, kept 20,000 times over, would hold gigabytes.
_WINDOW_MEMO_CHARS = 1_000
_BEHIND = 36  # how far before a number its checks look: context words (32), "+", "("
_URL_BEHIND = 202  # ...and `_in_url`, back to the last space before the number


def clear_window_memo() -> None:
    """Forget the memoised windows (benchmarks that pass over the same ads again call it, so
    each pass gains only from the lines its ads share)."""
    _WINDOWS.clear()


def _window_mentions(
    text: str,
    start: int,
    end: int,
    nums: list[Span],
    low: str,
    region: str,
    nanp: bool,
    budget: list[int],
) -> list[Mention]:
    """The numbers in one window of `text` (from `windows`), memoised by what they depend on.

    Everything the finders read for a window lies in text[lo:end + 1]: the window, one
    character after it, `_BEHIND` characters before it and, for `_in_url`, the text back to
    the last space within `_URL_BEHIND` characters. The key holds that text, where the window
    sits in it, whether it starts the text and its region, so equal keys give equal answers.
    (`nums` need not be in it: no digit run crosses a window's edge, so they are the digit
    runs and price marks of the window's own text.)
    A window that spent some of the text's `phonenumbers` budget is not memoised; one that
    spent none with budget left never reaches that call, so it spends none with any budget.
    """
    a, b = max(0, start - _URL_BEHIND), max(0, start - 2)
    space = max(text.rfind(" ", a, b), text.rfind("\n", a, b), text.rfind("\t", a, b))
    lo = max(0, min(start - _BEHIND, space if space >= 0 else start - _URL_BEHIND))
    hi = end + 1
    key = (
        text[lo:hi],
        lo == 0,
        hi >= len(text),
        start - lo,
        end - lo,
        region,
    )
    hit = _WINDOWS.get(key)
    if hit is not None:
        return [
            Mention(
                "phone",
                value,
                raw,
                lo + a,
                lo + b,
                conf,
                obfuscated,
                {"region": place, "country": country, "tricks": list(tricks)},
            )
            for a, b, value, raw, conf, obfuscated, place, country, tricks in hit
        ]
    before = budget[0]
    out = [
        m
        for run in _runs(text, scan(text, start, end, nums, low))
        for m in _run_mentions(text, run, region, nanp, budget)
    ]
    if budget[0] == before > 0 and hi - lo <= _WINDOW_MEMO_CHARS:
        if len(_WINDOWS) >= _WINDOWS_MAX:
            _WINDOWS.clear()
        _WINDOWS[key] = tuple(
            (
                m.start - lo,
                m.end - lo,
                m.value,
                m.raw,
                m.confidence,
                m.obfuscated,
                m.detail["region"],
                m.detail["country"],
                tuple(m.detail["tricks"]),
            )
            for m in out
        )
    return out


# -- pieces -> groups -> runs ------------------------------------------------------------


def _runs(text: str, pieces: list[Piece]) -> list[list[_Group]]:
    """Split the pieces into runs of digit groups that could belong to one number."""
    runs: list[list[_Group]] = []
    run: list[_Group] = []
    n = len(pieces)
    i = 0
    junk_len = junk_n = 0
    mult: Piece | None = None
    plus = "+" in text  # without one no group is marked as following a "+"
    while i < n:
        p = pieces[i]
        kind = p[0]
        if kind > WEAK:
            if kind == JUNK:
                junk_len += p[2] - p[1]
                junk_n += 1
            elif kind == MULT:
                mult = p
            else:  # words, a wide gap or a price end the run
                _close(runs, run)
                run = []
                mult = None
                junk_len = junk_n = 0
            i += 1
            continue
        # DIGITS, WORD or WEAK: glue the pieces that touch into one group.
        first = i
        while i + 1 < n and pieces[i + 1][1] == pieces[i][2] and pieces[i + 1][0] <= WEAK:
            i += 1
        g = _Group(pieces[first : i + 1]) if i > first else _Group((p,))
        i += 1
        if len(g.digits) < _SHORT_TAINT and (
            (first > 0 and pieces[first - 1][2] == g.start and pieces[first - 1][0] >= BREAK)
            or (i < n and pieces[i][1] == g.end and pieces[i][0] >= BREAK)
        ):
            # "150hh", "$250", "34C": a quantity glued to its unit, never part of a phone
            _close(runs, run)
            run = []
            continue
        start = g.start
        if mult is not None:
            if len(g.digits) == 1 and start - mult[2] <= 2:
                g.digits *= int(mult[3])
                g.start = start = mult[1]
                g.tricks |= T_WORDS
            else:
                _close(runs, run)
                run = []
            mult = None
        if run:
            end = run[-1].end
            if (start - end - junk_len > 1 or junk_n > 2) and not _gap_ok(
                text, end, start, junk_len, junk_n
            ):
                _close(runs, run)
                run = []
        if (
            plus
            and start
            and (text[start - 1] == "+" or (start > 1 and text[start - 2 : start] in _PLUS2))
        ):
            g.plus = True
        run.append(g)
        junk_len = junk_n = 0
    _close(runs, run)
    return runs


def _close(runs: list[list[_Group]], run: list[_Group]) -> None:
    """Finish a run: drop look-alike-only groups that are not between real digits."""
    if not run:
        return
    cur: list[_Group] = []
    last = len(run) - 1
    for k, g in enumerate(run):
        if g.weak_only:
            ok = (
                0 < k < last
                and len(g.digits) <= 2
                and not run[k - 1].weak_only
                and not run[k + 1].weak_only
                and g.start - run[k - 1].end <= 3
                and run[k + 1].start - g.end <= 3
            )
            if not ok:
                if cur:
                    runs.append(cur)
                cur = []
                continue
        cur.append(g)
    if cur:
        runs.append(cur)


def _gap_ok(text: str, a: int, b: int, junk_len: int, junk_n: int) -> bool:
    """Two groups may be one number: a short separator, at most one line break."""
    if junk_n > 2:
        return False
    width = b - a - junk_len
    if width <= 1:
        return True
    if text.count("\n", a, b) > 1:
        return False
    if width <= _MAX_GAP:
        return True
    if width > 4 * _MAX_GAP:
        return False
    width -= sum(1 for c in text[a:b] if c in _IGNORABLE)
    return width <= _MAX_GAP


# -- candidates ---------------------------------------------------------------------------


def _run_mentions(
    text: str, run: list[_Group], region: str, nanp: bool, budget: list[int]
) -> list[Mention]:
    """Valid numbers in one run: all group-aligned candidates, best non-overlapping set."""
    m = len(run)
    digits = "".join([g.digits for g in run]) if m > 1 else run[0].digits
    total = len(digits)
    if total < (10 if nanp else 6) and not (total >= 7 and any(g.plus for g in run)):
        return []
    lens = [len(g.digits) for g in run]
    offs = [0] * (m + 1)  # offs[k]: digits before group k
    weak = [0] * (m + 1)
    multi = [0] * (m + 1)  # groups of 2+ digits before group k
    for k, g in enumerate(run):
        offs[k + 1] = offs[k] + lens[k]
        weak[k + 1] = weak[k] + g.weak
        multi[k + 1] = multi[k] + (lens[k] > 1)
    evens: list[int] | None = None  # computed when a candidate spans five groups
    group_at = {o: k for k, o in enumerate(offs)}  # digit offset -> group starting there
    cands: list[tuple[int, int, float, str, int]] = []  # (i, j, weight, e164, bad)
    for i in range(m):
        o = offs[i]
        if total - o < 6:
            break  # too few digits left for any number
        plus = run[i].plus
        if plus:
            lengths: tuple[int, ...] | range = (11,) if digits[o] == "1" else range(7, 16)
        elif (i >= 1 and run[i - 1].plus) or (i >= 2 and run[i - 2].plus):
            continue  # inside "+44 20 ...": only the "+" reading counts
        elif nanp:
            lengths = (10, 11) if digits[o] == "1" else (10,)
        else:
            lengths = range(6, 14)
        for n in lengths:
            stop = group_at.get(o + n)  # the group after the candidate's last
            if stop is None or weak[stop] - weak[i] > _MAX_WEAK:
                continue
            d = digits[o : o + n]
            e164 = ""
            if n == 10 and nanp and not plus:
                if numbering.nanp_valid(d):
                    e164 = "+1" + d
            elif n == 11 and d[0] == "1" and (nanp or plus):
                if _lead_one_ok(run, i) and numbering.nanp_valid(d[1:]):
                    e164 = "+" + d
            elif budget[0] > 0 and (plus or not nanp):
                budget[0] -= 1
                e164 = (numbering.international(d) if plus else numbering.national(d, region)) or ""
            if not e164:
                continue
            j = stop - 1
            bad = 0
            if e164.startswith("+1"):
                if j - i >= 4:
                    if evens is None:
                        evens = _evens(run, lens)
                    if evens[j + 1] > evens[i + 4]:
                        continue  # "1 2 3 4 5 6 7 8 9 10": a list, not a number
                if multi[stop] - multi[i] >= 2:
                    bad = _bad_boundaries(lens, offs, i, j)
                    if bad >= 2:
                        continue
            w = 10.0 - bad - 0.2 * (weak[stop] - weak[i])
            if i == 0:
                w += 0.5
            if j == m - 1:
                w += 0.5
            if n >= 11:
                w += 0.3
            cands.append((i, j, w, e164, bad))
    if cands and cands[0][0] == 0 and _is_id(text, run[0].start):
        # "ID: 7135550142", "post #...": an identifier, not a phone
        cands = [c for c in cands if c[0] != 0]
    if not cands:
        return []
    return [_mention(text, run, i, j, e164, bad) for i, j, _w, e164, bad in _best(cands)]


def _lead_one_ok(run: list[_Group], i: int) -> bool:
    """A leading 1 counts when it is a real digit written like the rest ("1 713...",
    "one seven one three..."), not a stray "one" or "I" before a number."""
    g = run[i]
    if g.weak or g.digits[0] != "1":
        return False
    if len(g.digits) > 1 or g.plus:
        return True
    return i + 1 < len(run) and run[i + 1].first == g.first


def _bad_boundaries(lens: list[int], offs: list[int], i: int, j: int) -> int:
    """Boundaries between two multi-digit groups where no NANP grouping puts one: a date or
    ZIP glued on ("12/25/2024 713..."), a list of ages ("21 22 23 24 25")."""
    o = offs[i]
    std = _NANP_STD.get(offs[j + 1] - o, frozenset())
    bad = 0
    for k in range(i + 1, j + 1):
        if lens[k - 1] >= 2 and lens[k] >= 2 and offs[k] - o not in std:
            bad += 1
    return bad


def _evens(run: list[_Group], lens: list[int]) -> list[int]:
    """evens[k]: how many groups before k end five evenly stepping values ("1 2 3 4 5",
    "30 32 34 36 38"), so a candidate's groups i..j hold such a list when
    evens[j + 1] > evens[i + 4]."""
    out = [0] * (len(run) + 1)
    streak = 0  # equal non-zero steps in a row, ending at group k
    prev_step = 0
    for k in range(len(run)):
        if k and lens[k] <= 4 and lens[k - 1] <= 4:
            step = int(run[k].digits) - int(run[k - 1].digits)
            streak = (streak + 1 if step == prev_step else 1) if step else 0
            prev_step = step
        else:
            streak = prev_step = 0
        out[k + 1] = out[k] + (streak >= 4)
    return out


def _best(cands: list[tuple[int, int, float, str, int]]) -> list[tuple[int, int, float, str, int]]:
    """Heaviest set of candidates whose group ranges do not overlap (weighted intervals)."""
    if len(cands) == 1:
        return cands
    cands = sorted(cands, key=lambda c: (c[1], c[0]))
    ends = [c[1] for c in cands]
    best = [0.0] * (len(cands) + 1)
    take = [False] * len(cands)
    prev = [0] * len(cands)
    for k, (i, _j, w, _e, _b) in enumerate(cands):
        p = bisect_right(ends, i - 1, 0, k)  # candidates ending before group i
        prev[k] = p
        with_k = best[p] + w
        if with_k > best[k]:
            best[k + 1] = with_k
            take[k] = True
        else:
            best[k + 1] = best[k]
    out = []
    k = len(cands) - 1
    while k >= 0:
        if take[k]:
            out.append(cands[k])
            k = prev[k] - 1
        else:
            k -= 1
    out.reverse()
    return out


# -- mentions -----------------------------------------------------------------------------


def _mention(text: str, run: list[_Group], i: int, j: int, e164: str, bad: int) -> Mention:
    """The Mention for groups i..j of a run: its exact span (with a leading "+" or "("), the
    tricks that disguised it, its confidence and where the number is from."""
    first, last = run[i], run[j]
    start, end = first.start, last.end
    tricks = 0
    pos = 0
    nd = sum(len(run[k].digits) for k in range(i, j + 1))
    std = _NANP_STD.get(nd, frozenset()) if e164.startswith("+1") else frozenset()
    for k in range(i, j + 1):
        g = run[k]
        tricks |= g.tricks
        if k > i:
            tricks |= _gap_tricks(text[run[k - 1].end : g.start])
            # digits split where no phone grouping splits them: "7 1 3 5 5 5 ..."
            prev = run[k - 1]
            odd = (pos not in std) if std else (len(g.digits) == 1 == len(prev.digits))
            if odd and g.first == DIGITS and prev.first == DIGITS:
                tricks |= T_SPACING
        pos += len(g.digits)
    if first.plus:
        start = text.rfind("+", max(0, start - 2), start)
    elif start > 0 and text[start - 1] == "(" and text.startswith(")", first.end):
        start -= 1
    if _in_url(text, start):
        tricks |= T_URL
    place, country = numbering.describe(e164)
    names, doubt = _trick_names(tricks)
    conf = doubt * 0.8 if bad else doubt
    if _context_before().search(" " + text[max(0, start - 32) : start].lower()):
        conf = min(0.99, conf + 0.05)
    return Mention(
        kind="phone",
        value=e164,
        raw=text[start:end],
        start=start,
        end=end,
        confidence=round(conf, 3),
        obfuscated=bool(tricks),
        detail={"region": place, "country": country, "tricks": list(names)},
    )


def _gap_tricks(gap: str) -> int:
    """Tricks shown by the separator between two groups of one number."""
    if gap in _ORDINARY_GAPS:
        return 0
    core = gap.replace(" ", "")
    if core in _CORE_SEPS:
        return T_SPACING
    out = T_JUNK
    if any(ord(c) > 0x2000 and unicodedata.category(c) in ("So", "Sk", "Cf", "Mn") for c in core):
        out |= T_EMOJI
    return out


def _in_url(text: str, start: int) -> bool:
    """The number sits in a URL path or query ("example.com/call/7135550142")."""
    lo = max(0, start - 200)
    cs = max(text.rfind(" ", lo, start), text.rfind("\n", lo, start), text.rfind("\t", lo, start))
    cs = lo if cs < 0 else cs + 1
    if text.find("/", cs, start) < 0 and text.find("=", cs, start) < 0:
        return False
    return _URLISH.search(text, cs, start) is not None


_ID_SEPS = " \t:#.=/№-"


def _is_id(text: str, start: int) -> bool:
    """Digits right after "ID:", "post #", "ref", "order no." are an identifier."""
    k = start - 1
    lo = max(0, start - 8)
    while k >= lo and text[k] in _ID_SEPS:
        if text[k] in "#№":
            return True
        k -= 1
    j = k
    while j >= 0 and k - j <= 12 and text[j].isalpha():
        j -= 1
    if j >= 0 and text[j].isalpha():
        return False  # a long word, not an id label
    return j < k and text[j + 1 : k + 1].lower() in word_list("id_words")


@cache
def _context_before() -> re.Pattern[str]:
    """A word like "call" or "text" (searched in the lower-cased text before a number)."""
    return re.compile(rf"[^a-z](?:{trie_pattern(sorted(word_list('context_words')))})(?![a-z])")


# Confidence of a plainly written number, and the doubt each disguise adds.
_BASE_CONFIDENCE = 0.93
_TRICK_FACTORS = {
    T_WORDS: 0.95,
    T_LOOKALIKE: 0.85,
    T_JUNK: 0.92,
    T_SPACING: 0.95,
    T_EMOJI: 0.95,
    T_UNICODE: 0.95,
    T_URL: 0.85,
}


@cache
def _trick_names(tricks: int) -> tuple[tuple[str, ...], float]:
    """(names of the tricks in a bit set, confidence before context) for Mention.detail."""
    conf = _BASE_CONFIDENCE
    for bit, factor in _TRICK_FACTORS.items():
        if tricks & bit:
            conf *= factor
    return tuple(name for bit, name in TRICK_NAMES if tricks & bit), conf
