"""Digit folding for disguised phone numbers: every way an ad can write a digit, made ASCII.

Posters spell numbers so site filters miss them: number words ("seven one three"), look-alike
letters ("O" for 0), keycap emoji, full-width or mathematical digits. `scan` turns a stretch of
text into a short stream of *pieces* (digit runs, number words, look-alikes, separator words,
and markers where ordinary words interrupt), each with its character span, so `phones.py` can
assemble candidate numbers and map them back to the text. Ordinary words never become pieces
one by one: two regexes that start on a character class (so the engine skips the rest in C)
pick out only the number-ish tokens, and only in the `windows` dense enough to hold a number.

`strong_enough` is the cheap test that lets most texts skip all of that.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable
from functools import cache, lru_cache

from safelight.extract._common import digit_runs, load, lowered, wide_chars, word_set
from safelight.memo import MAX_KEY_CHARS, short_key_cache

# Piece kinds. A piece is a plain tuple (kind, start, end, digits, weak, tricks):
# `digits` the ASCII digits it stands for, `weak` how many of them are look-alike letters.
DIGITS = 0  # a run of digit characters (any script, keycaps; "|" between digits may be a 1)
WORD = 1  # one or more glued number words ("seven", "fiveoh")
WEAK = 2  # look-alike letters only ("O", "lO", "S")
MULT = 3  # "double", "triple"
JUNK = 4  # a word used as a separator ("dot", "dash")
BREAK = 5  # ordinary words (or a long gap): ends a number
PRICE = 6  # a currency sign or percent: the digits beside it are not a phone
Piece = tuple[int, int, int, str, int, int]

# Trick bits (phones.py reports them by name in Mention.detail["tricks"]).
T_WORDS = 1
T_LOOKALIKE = 2
T_EMOJI = 4
T_UNICODE = 8
T_JUNK = 16
T_SPACING = 32
T_URL = 64
TRICK_NAMES = (
    (T_WORDS, "words"),
    (T_LOOKALIKE, "lookalike"),
    (T_EMOJI, "emoji"),
    (T_UNICODE, "unicode_digits"),
    (T_JUNK, "junk"),
    (T_SPACING, "spacing"),
    (T_URL, "url"),
)

FAR = 32  # a gap this wide between two pieces always ends a number

_DATA = "number_words.yaml"
_KEYCAP = "\u20e3"
_VS16 = "\ufe0f"
_MARKS = "$€£¥₹¢%"


def _other_digit_chars() -> str:
    """Digit characters that are not decimal digits (circled, super/subscript, dingbats).

    Python's `\\d` already covers every decimal digit (full-width, Arabic-Indic, Devanagari,
    mathematical bold...); these blocks hold the remaining digit-valued symbols ads use.
    """
    blocks = ((0x00B2, 0x00B9), (0x2070, 0x2089), (0x2460, 0x24FF), (0x2776, 0x2793))
    chars = []
    for lo, hi in blocks:
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            if unicodedata.digit(ch, None) is not None and unicodedata.decimal(ch, None) is None:
                chars.append(ch)
    return "".join(chars)


_OTHER = _other_digit_chars()
_ANY_DIGIT = re.compile(rf"[\d{_OTHER}]")
_LETTER_U = re.compile(rf"[^\W\d_{_OTHER}]")
_LETTER_A = re.compile(r"[A-Za-z]")
_LOOK_NEAR = re.compile(rf"[\d{_OTHER}][OolIS|]|[OolIS|][\d{_OTHER}]")


@cache
def _section(name: str) -> dict[str, object]:
    entries = load(_DATA)[name]["entries"]
    return dict(entries) if isinstance(entries, dict) else {str(e): True for e in entries}


@cache
def digit_words() -> dict[str, str]:
    """Number word -> digit, lower-case."""
    return {str(k).lower(): str(v) for k, v in _section("digit_words").items()}


@cache
def lookalikes() -> dict[str, str]:
    """Look-alike character -> digit (case-sensitive)."""
    return {str(k): str(v) for k, v in _section("lookalikes").items()}


@cache
def word_list(name: str) -> frozenset[str]:
    """A word list section (junk_words, id_words, context_words) as a lower-case set."""
    return frozenset(str(k).lower() for k in _section(name))


@cache
def multipliers() -> dict[str, int]:
    """Multiplier word -> count ("double" -> 2, "triple" -> 3)."""
    return {str(k).lower(): int(str(v)) for k, v in _section("multipliers").items()}


@cache
def _precheck_words() -> tuple[str, ...]:
    """Number words for substring counting; words containing another listed word are dropped."""
    keep: list[str] = []
    for w in sorted(digit_words(), key=len):
        if not any(k in w for k in keep):
            keep.append(w)
    return tuple(keep)


def trie_pattern(words: list[str]) -> str:
    """A regex alternation factored by prefix, so the engine tries one branch per letter."""
    branches: dict[str, list[str]] = defaultdict(list)
    ends = False
    for w in words:
        if w:
            branches[w[0]].append(w[1:])
        else:
            ends = True
    alts = [re.escape(c) + trie_pattern(sorted(set(rest))) for c, rest in sorted(branches.items())]
    if not alts:
        return ""
    body = alts[0] if len(alts) == 1 and not ends else "(?:" + "|".join(alts) + ")"
    return f"(?:{body})?" if ends else body


_ONE = rf"[\d{_OTHER}]\ufe0f?\u20e3?"
# A digit run (keycap marks absorbed, "|" between digits kept for `_digit_run`) or a price
# mark. It starts with a character class, so the regex engine skips other text in C.
_NUMERIC = re.compile(
    rf"[\d{_OTHER}$€£¥₹¢%](?:(?<=[\d{_OTHER}])\ufe0f?\u20e3?(?:{_ONE})*+(?:\|(?:{_ONE})++)*+)?"
)


@cache
def word_patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """Whole letter runs made only of number/separator words and look-alike letters, in
    lower-cased text: (ASCII, Unicode) x (after a non-letter, at the very start).

    The "after a non-letter" forms start with a character class, so the engine jumps over
    letters in C and tries the words only at word starts; group 1 is the token.
    """
    vocab = sorted(set(digit_words()) | set(multipliers()) | word_list("junk_words"))
    looks = "".join(sorted({c.lower() for c in lookalikes() if c.isalpha()}))
    words = rf"((?:{trie_pattern(vocab)}|[{re.escape(looks)}])++)"
    uni_l = rf"[^\W\d_{_OTHER}]"
    return (
        re.compile(rf"[^a-z]{words}(?![a-z])"),
        re.compile(rf"[\W\d_{_OTHER}]{words}(?!{uni_l})"),
        re.compile(rf"{words}(?![a-z])"),
        re.compile(rf"{words}(?!{uni_l})"),
    )


@cache
def _splitter() -> re.Pattern[str]:
    return re.compile("|".join(sorted(map(re.escape, digit_words()), key=len, reverse=True)))


def fold(chars: str) -> str:
    """Digit characters of any script (and keycap marks) to ASCII digits."""
    if chars.isascii():
        return chars
    out = []
    for ch in chars:
        d = unicodedata.digit(ch, None)
        if d is not None:
            out.append(str(d))
    return "".join(out)


@short_key_cache(8192)
def classify_letters(run: str) -> tuple[int, str, int]:
    """(kind, digits, weak count) for a letter run the token regex picked out.

    Look-alikes are case-sensitive ("O" is 0, "s" is not 5). A run made only of them ("O",
    "lO", "SOS") is WEAK: `phones.py` accepts it only glued to or between real digits.
    Number words glued together ("fiveoh") are a WORD; look-alikes may be mixed in
    ("sevenOone") when at least two real words are there, so "lone" stays a word.
    """
    low = run.lower()
    words = digit_words()
    if low in words:
        return WORD, words[low], 0
    looks = lookalikes()
    if all(c in looks for c in run):
        return WEAK, "".join(looks[c] for c in run), len(run)
    if low in multipliers():
        return MULT, str(multipliers()[low]), 0
    if low in word_list("junk_words"):
        return JUNK, "", 0
    split = _splitter()
    digits: list[str] = []
    weak = i = 0
    while i < len(low):
        m = split.match(low, i)
        if m is not None:
            digits.append(words[m.group()])
            i = m.end()
        elif run[i] in looks:
            digits.append(looks[run[i]])
            weak += 1
            i += 1
        else:
            return BREAK, "", 0
    if weak and len(digits) - weak < 2:
        return BREAK, "", 0
    return WORD, "".join(digits), weak


def _numeric_chars(c: str) -> bool:
    """A non-ASCII character `_NUMERIC` may take in: a digit of another script or a
    digit-like symbol, a keycap mark or variation selector, a currency sign."""
    return _ANY_DIGIT.match(c) is not None or c in _WIDE_NUMERIC


_WIDE_NUMERIC = frozenset("€£¥₹¢" + _KEYCAP + _VS16)


@lru_cache(maxsize=16)
def _ascii_numeric(text: str) -> bool:
    """`_NUMERIC` finds nothing in `text` beyond ASCII digit runs, "$" and "%": no "|"
    joins digits, no digit is written in another script, no keycap or currency sign."""
    return "|" not in text and not any(map(_numeric_chars, wide_chars(text)))


def _numeric_spans(text: str) -> list[Span]:
    """The spans of `_NUMERIC` in `text`: digit runs (with keycaps, other scripts, "|") and
    price marks. Most ads write plain ASCII digits: then the text's shared digit runs and a
    search for "$" and "%" give the same spans without a regex over the whole text."""
    if not _ascii_numeric(text):
        return [m.span() for m in _NUMERIC.finditer(text)]
    nums = list(digit_runs(text))
    marks = False
    for mark in "$%":
        k = text.find(mark)
        while k >= 0:
            nums.append((k, k + 1))
            marks = True
            k = text.find(mark, k + 1)
    if marks:
        nums.sort()
    return nums


def strong_enough(text: str, need: int, need_with_lookalikes: int) -> bool:
    """Cheap test: could the text hold a phone number? Most ads without one fail it.

    True with `need` digits or number words, or `need_with_lookalikes` of them when a
    look-alike letter touches a digit ("3I2-555-OlO2"). Counts substrings, so it over-counts
    ("phone" holds "one"): it may say yes wrongly, never no wrongly.
    """
    if text.isascii() or not any(_ANY_DIGIT.match(c) for c in wide_chars(text)):
        n = sum(e - s for s, e in digit_runs(text))  # every digit is an ASCII one
    else:
        n = len(_ANY_DIGIT.findall(text))
    if n >= need:
        return True
    low = text.lower()
    for w in _precheck_words():
        n += low.count(w)
        if n >= need:
            return True
    return n >= need_with_lookalikes and _LOOK_NEAR.search(text) is not None


Span = tuple[int, int]

# Memo of which number words each word of an ad holds ("phone" holds "one"), and the words
# known to hold none: ads share most of their words, so a text's number words are found
# from its few unfamiliar words. Bounded; a memo, so the answers never depend on it.
_WORDS_OF: dict[str, tuple[str, ...]] = {}
_NO_WORDS: set[str] = set()
_MEMO_MAX = 200_000


def _number_words(low: str) -> list[str]:
    """The number words (`_precheck_words`) that occur anywhere in `low`, a lower-cased text.

    A number word is all letters, so wherever it occurs it lies inside one word of the
    text's word set (which splits only at spaces and punctuation)."""
    found: list[str] = []
    rest = word_set(low) - _NO_WORDS
    if not rest:
        return found
    memo = _WORDS_OF
    for word in rest:
        held = memo.get(word)
        if held is None:
            held = tuple(w for w in _precheck_words() if w in word)
            if len(memo) >= _MEMO_MAX or len(_NO_WORDS) >= _MEMO_MAX:
                memo.clear()
                _NO_WORDS.clear()
            if len(word) > MAX_KEY_CHARS:  # a hostile run: not worth keeping
                found.extend(held)
                continue
            if not held:
                _NO_WORDS.add(word)
                continue
            memo[word] = held
        found.extend(held)
    return found


def windows(text: str, need: int, low: str | None = None) -> list[tuple[int, int, list[Span]]]:
    """Stretches of `text` holding at least `need` digits and number words close together,
    each with the digit runs and price marks inside it (for `scan`).

    Digit runs and number-word occurrences closer than FAR characters form a cluster; each
    cluster, padded by FAR on both sides for the look-alikes, "+", "(" and unit words around
    it, is one window. Ages, prices and years standing alone get no window. `low`: the text
    lower-cased with offsets kept (`_common.lowered`), when the caller has it.
    """
    nums = _numeric_spans(text)
    anchors = [(s, e, 0 if text[s] in _MARKS else e - s) for s, e in nums]
    if low is None:
        low = lowered(text)
    find = low.find
    for word in dict.fromkeys(_number_words(low)):
        size = len(word)
        k = find(word)
        while k >= 0:
            anchors.append((k, k + size, 1))
            k = find(word, k + 1)
    if not anchors:
        return []
    anchors.sort()
    n = len(text)
    spans: list[Span] = []
    cs, ce, weight = anchors[0]
    for s, e, w in anchors[1:]:
        if s - ce <= FAR:
            if e > ce:
                ce = e
            weight += w
            continue
        if weight >= need:
            spans.append((max(0, cs - FAR), min(n, ce + FAR)))
        cs, ce, weight = s, e, w
    if weight >= need:
        spans.append((max(0, cs - FAR), min(n, ce + FAR)))
    out: list[tuple[int, int, list[Span]]] = []
    starts = [s for s, _ in nums]
    for s, e in spans:
        if out and s <= out[-1][1]:
            s = out.pop()[0]
        out.append((s, e, nums[bisect_left(starts, s) : bisect_left(starts, e)]))
    return out


def scan(
    text: str,
    start: int = 0,
    end: int | None = None,
    nums: list[Span] | None = None,
    low: str | None = None,
) -> list[Piece]:
    """The number-ish pieces of text[start:end], in order, with BREAK markers where ordinary
    words or wide gaps come between two of them. `nums` (the digit runs and price marks in
    that stretch) and `low` (the lower-cased text) save work when `windows` has them.

    A BREAK marker for a gap starts at the gap's start only when a letter is glued to the
    piece before, and ends at the gap's end only when a letter is glued to the piece after,
    so "150hh" or "Call7135550142" can be told apart from "150 hh".
    """
    after_a, after_u, at_a, at_u = word_patterns()
    src = lowered(text) if low is None else low
    if text.isascii():
        letter, after, at = _LETTER_A, after_a, at_a
    else:
        letter, after, at = _LETTER_U, after_u, at_u
    if end is None:
        end = len(text)
    if nums is None:
        nums = [m.span() for m in _NUMERIC.finditer(text, start, end)]
    tokens = [(s, e, True) for s, e in nums]
    words = [(m.start(1), m.end(1), False) for m in after.finditer(src, max(0, start - 1), end)]
    if start == 0 and (m0 := at.match(src, 0, end)) is not None:
        words.insert(0, (0, m0.end(), False))
    if words:
        tokens = sorted(tokens + words)
    out: list[Piece] = []
    append = out.append
    pe = start
    for s, e, numeric in tokens:
        if s > pe and (s - pe > FAR or letter.search(text, pe, s) is not None):
            bs = pe if text[pe].isalpha() else pe + 1
            be = s if text[s - 1].isalpha() else s - 1
            append((BREAK, bs, max(bs, be), "", 0, 0))
        pe = e
        if numeric:
            raw = text[s:e]
            if raw[0] in _MARKS:
                append((PRICE, s, e, "", 0, 0))
            elif raw.isascii() and "|" not in raw:
                append((DIGITS, s, e, raw, 0, 0))
            else:
                _digit_run(raw, s, append)
        else:
            kind, digits, weak = classify_letters(text[s:e])
            if kind == WORD:
                append((WORD, s, e, digits, weak, T_WORDS | (T_LOOKALIKE if weak else 0)))
            elif kind == WEAK:
                append((WEAK, s, e, digits, weak, T_LOOKALIKE))
            else:
                append((kind, s, e, digits, 0, 0))
    return out


def _digit_run(raw: str, start: int, append: Callable[[Piece], None]) -> None:
    """Pieces of a digit token that holds keycaps, other scripts or "|".

    "|" separates when the parts look like phone groups ("713|555|0142", "1|713|555|0142"),
    otherwise it is a look-alike 1 ("7|3").
    """
    if "|" in raw:
        segs = raw.split("|")
        lens = [len(fold(seg)) for seg in segs]
        if all(n >= 3 for n in lens[1:]) and (lens[0] >= 3 or (lens[0] == 1 and len(lens) > 2)):
            pos = start
            for seg in segs:
                _digit_run(seg, pos, append)
                pos += len(seg) + 1
            return
        digits, tricks = fold(raw.replace("|", "1")), _tricks(raw) | T_LOOKALIKE
        append((DIGITS, start, start + len(raw), digits, raw.count("|"), tricks))
        return
    append((DIGITS, start, start + len(raw), fold(raw), 0, _tricks(raw)))


def _tricks(raw: str) -> int:
    if raw.isascii():
        return 0
    tricks = T_EMOJI if _KEYCAP in raw else 0
    if not raw.replace(_VS16, "").replace(_KEYCAP, "").replace("|", "").isascii():
        tricks |= T_UNICODE
    return tricks
