"""Fictional phone numbers: the pool posters draw from and the ways they write them.

Only NXX-555-0100..0199 is ever produced (numbers reserved for fiction), in every area code
that `phonenumbers` accepts, so a parser treats them like real numbers while no real person
can be reached. Each number goes to at most one poster; hubs (site support lines) are
reserved before posters draw.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from functools import cache

import phonenumbers

from safelight.generate.data import load

PLAIN_STYLES = ("dash", "paren", "dot", "bare", "intl", "space", "intl_dash")
OBFUSCATED_STYLES = (
    "words",
    "mixed",
    "letters",
    "spaced",
    "junk",
    "emoji_sep",
    "keycap",
    "fullwidth",
    "dotword",
)
_KEYCAP = "\ufe0f\u20e3"
_FULLWIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))


@cache
def valid_area_codes() -> tuple[str, ...]:
    """Area codes whose 555-01XX numbers `phonenumbers` validates (about 450)."""
    out = []
    for ac in range(200, 1000):
        code = str(ac)
        if code[1:] == "11":
            continue
        if phonenumbers.is_valid_number(phonenumbers.parse(f"+1{code}5550142")):
            out.append(code)
    return tuple(out)


def e164(national: str) -> str:
    """`7135550142` -> `+17135550142`."""
    return "+1" + national


class PhonePool:
    """Hands out each fictional number once; local area codes first when the caller asks."""

    def __init__(self, rng: random.Random, reserved: Iterable[str] = ()) -> None:
        taken = set(reserved)
        codes = list(valid_area_codes())
        rng.shuffle(codes)
        self._order = codes
        self._cursor = 0
        self._lines: dict[str, list[str]] = {}
        for code in codes:
            lines = [f"{code}5550{n}" for n in range(100, 200)]
            lines = [line for line in lines if line not in taken]
            rng.shuffle(lines)
            self._lines[code] = lines
        self.remaining = sum(len(v) for v in self._lines.values())
        self.size = self.remaining

    def take(self, local: Sequence[str] = ()) -> str | None:
        """A number from one of `local` area codes if any is left, else from anywhere."""
        for code in local:
            lines = self._lines.get(code)
            if lines:
                self.remaining -= 1
                return lines.pop()
        return self.take_far(local)

    def take_far(self, avoid: Sequence[str] = ()) -> str | None:
        """A number from the next area code in a shuffled round-robin (not in `avoid`)."""
        n = len(self._order)
        for _ in range(n):
            code = self._order[self._cursor]
            self._cursor = (self._cursor + 1) % n
            lines = self._lines[code]
            if lines and code not in avoid:
                self.remaining -= 1
                return lines.pop()
        if avoid:  # only the avoided codes have numbers left
            return self.take(avoid)
        return None


@cache
def _tables() -> tuple[
    dict[str, list[str]], dict[str, list[str]], list[str], list[str], list[str], dict[str, str]
]:
    data = load("obfuscation")
    return (
        data["digit_words"],
        data["lookalike_letters"],
        data["junk_separators"],
        data["emoji_separators"],
        data["word_separators"],
        data["plain_formats"],
    )


def render(national: str, style: str, rng: random.Random) -> str:
    """The number as a poster writes it in `style` (one of PLAIN_ or OBFUSCATED_STYLES)."""
    words, letters, junk, emoji, wordsep, plain = _tables()
    a, b, c = national[:3], national[3:6], national[6:]
    fmt = plain.get(style)
    if fmt is not None:
        return fmt.format(a=a, b=b, c=c)
    pick = rng.choice
    if style == "words":
        return " ".join(pick(words[d]) for d in national)
    if style == "mixed":
        spelled = rng.randrange(1, 7)  # bit mask of groups to spell, never all three
        return " ".join(
            " ".join(pick(words[d]) for d in g) if spelled >> i & 1 else g
            for i, g in enumerate((a, b, c))
        )
    if style == "letters":
        out = []
        swapped = False
        for d in f"{a}-{b}-{c}":
            if d in letters and rng.random() < 0.7:
                out.append(pick(letters[d]))
                swapped = True
            else:
                out.append(d)
        text = "".join(out)
        if not swapped:  # 555-01XX always has a 0 to swap
            text = text.replace("0", "O", 1)
        return text
    if style == "spaced":
        return " ".join(national)
    if style == "junk":
        sep = pick(junk)
        return f"{a}{sep}{b}{sep}{c}"
    if style == "emoji_sep":
        sep = pick(emoji)
        return f"{a}{sep}{b}{sep}{c}"
    if style == "keycap":
        return " ".join("".join(d + _KEYCAP for d in g) for g in (a, b, c))
    if style == "fullwidth":
        sep = pick(("-", " ", "."))
        return f"{a}{sep}{b}{sep}{c}".translate(_FULLWIDTH)
    if style == "dotword":
        sep = pick(wordsep)
        return f"{a}{sep}{b}{sep}{c}"
    raise ValueError(f"unknown phone style {style!r}")
