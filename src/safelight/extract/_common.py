"""What the extractors share: their data files, and cheap text views for fast pre-checks.

Data files live in `safelight/data/extract/`, carry a `source` note and are read once per
process, lazily, never from the network. The text helpers let each extractor skip its regexes
when the words they look for are absent: most ads are short and most extractors find nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml

from safelight.records import Mention

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "extract"


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads "no", "on", "off", "yes" as booleans; word lists need them as words."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))


@cache
def load(name: str) -> dict[str, Any]:
    """The parsed data file `name` (cached: the files never change while running)."""
    with (DATA_DIR / name).open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_Loader)
    if not isinstance(data, dict) or "source" not in data:
        raise ValueError(f"{name}: a data file must be a mapping with a 'source' note")
    return data


@cache
def words(name: str, key: str) -> frozenset[str]:
    """A word list from a data file as a lower-case set, for membership tests."""
    items = load(name).get(key) or ()
    if isinstance(items, str):  # long lists are kept as one whitespace-separated block
        items = items.split()
    return frozenset(str(w).lower() for w in items)


@lru_cache(maxsize=16)
def lowered(text: str) -> str:
    """`text` in lower case with every character at the same offset (so spans still fit).

    Only "İ" grows when lower-cased; it is kept as it is rather than shift the offsets.
    Memoised for the few most recent texts: every extractor asks for the same ad's copy, and
    lower-casing a text with emoji in it costs several microseconds.
    """
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


_ASCII_BYTES = bytes(range(128))


@lru_cache(maxsize=16)
def wide_chars(text: str) -> frozenset[str]:
    """The distinct non-ASCII characters of a text (none for ASCII text), for pre-checks.

    Most ads hold a few emoji and nothing else beyond ASCII; knowing which characters those
    are lets an extractor skip its Unicode handling. The ASCII bytes are deleted from the
    UTF-8 (they never occur inside a multi-byte character) in one C pass.
    """
    if text.isascii():
        return frozenset()
    rest = text.encode("utf-8", "surrogatepass").translate(None, _ASCII_BYTES)
    return frozenset(rest.decode("utf-8", "surrogatepass"))


# ASCII digits to "0", every other byte to " ": runs of "0" are then found by a literal scan,
# several times faster than a character-class regex over a str.
_DIGITS_TO_ZERO = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_ZERO_RUN = re.compile(rb"00*")


@lru_cache(maxsize=16)
def digit_runs(text: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of each run of ASCII digits in `text`, in order (`[0-9]+` matches).

    Phones, ages and prices all start from the digits of the same ad, so this is computed once
    per text. Encoding with "replace" keeps one byte per character, so offsets are the text's.
    """
    marked = text.encode("ascii", "replace").translate(_DIGITS_TO_ZERO)
    return tuple(m.span() for m in _ZERO_RUN.finditer(marked))


_ASCII_SEPARATORS = b'!"#$%&()*+,./:;<=>?@[\\]^`{|}~-\t\n\r\x0b\x0c'
_ASCII_TO_SPACE = bytes.maketrans(_ASCII_SEPARATORS, b" " * len(_ASCII_SEPARATORS))
_OTHER_SEPARATORS = (
    ("’", "'"),
    ("–", " "),
    ("—", " "),
    ("“", " "),
    ("”", " "),
    ("‘", " "),
    ("«", " "),
    ("»", " "),
    ("…", " "),
)


@lru_cache(maxsize=16)
def word_set(low: str) -> frozenset[str]:
    """The words of a lower-cased text (split on spaces and punctuation), for pre-checks.

    Memoised for the few most recent texts, since every extractor asks about the same ad.
    Punctuation is blanked on the UTF-8 bytes (ASCII bytes never occur inside a multi-byte
    character), which is many times faster than `str.translate` with a table.
    """
    if low.isascii():
        return frozenset(low.encode().translate(_ASCII_TO_SPACE).decode().split())
    blanked = (
        low.encode("utf-8", "surrogatepass")
        .translate(_ASCII_TO_SPACE)
        .decode("utf-8", "surrogatepass")
    )
    present = wide_chars(low)
    for mark, repl in _OTHER_SEPARATORS:
        if mark in present:
            blanked = blanked.replace(mark, repl)
    return frozenset(blanked.split())


def standalone(low: str, word: str) -> Iterator[int]:
    """Start offsets of `word` in `low` with no letter, digit or "_" touching either end."""
    n = len(word)
    size = len(low)
    find = low.find
    i = find(word)
    while i >= 0:
        if i and ((c := low[i - 1]).isalnum() or c == "_"):
            i = find(word, i + 1)
            continue
        j = i + n
        if j < size and ((c := low[j]).isalnum() or c == "_"):
            i = find(word, i + 1)
            continue
        yield i
        i = find(word, i + 1)


def add_free(kept: list[Mention], new: Iterable[Mention]) -> list[Mention]:
    """`kept` plus each of `new` that overlaps nothing in `kept`, sorted by start.

    `kept` must be sorted and free of partial overlaps (identical spans are fine). One
    merging pass, so a text with thousands of mentions stays linear rather than quadratic.
    """
    accepted: list[Mention] = []
    j = 0
    for m in sorted(new, key=_start):
        while j < len(kept) and kept[j].end <= m.start:
            j += 1
        if j < len(kept) and kept[j].start < m.end:
            continue
        accepted.append(m)
    if not accepted:
        return kept
    return sorted([*kept, *accepted], key=_start)


def own_free(found: Iterable[Mention]) -> list[Mention]:
    """One finder's mentions in text order, each dropped if it overlaps an earlier one."""
    kept: list[Mention] = []
    for m in sorted(found, key=_start):
        if not kept or m.start >= kept[-1].end:
            kept.append(m)
    return kept


def _start(m: Mention) -> int:
    return m.start
