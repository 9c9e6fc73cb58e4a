"""Text folding and one-pass matching for the indicator registry.

Why its own module: ads dodge keyword lists with case, accents, look-alike characters
("fr3sh", "y0ung"), letters spaced or dotted apart ("y o u n g", "n.e.w"), repeated letters
and zero-width characters. Matching runs on a folded copy of the text that keeps a map back
to the original offsets, so every hit still reports the ORIGINAL text and span. Patterns are
compiled once into a phrase trie (one regex pass per ad), plus the emoji and the few regexes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from safelight.extract._common import wide_chars

WORD = "a-z0-9"  # the folded alphabet that word boundaries look at
_GAP = f"[^{WORD}]{{0,3}}"  # what may stand between the words of a phrase
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
# How often a letter may repeat ("yoooung"): bounded, since a phrase may start at every other
# character of a hostile run ("!1!1…": "!" ends a word and both stand for "i"), and an unbounded
# repeat from each start would read the rest of the run (quadratic: 80,000 characters, 3 s).
MAX_REPEAT = 20
# Where its neighbour shares characters with it ("l" and "i" both take "1"), fewer: the two
# repeats try every split between them.
MAX_SHARED_REPEAT = 4


@dataclass(frozen=True, slots=True)
class Pattern:
    """One registry pattern: a phrase, a regex (on folded text) or an emoji."""

    kind: str  # phrase, regex or emoji
    value: str
    # For a regex: folded substrings of which one must occur for the regex to be run at all
    # (a cheap test that spares scanning most ads).
    needs: tuple[str, ...] = ()


@dataclass(slots=True)
class Folded:
    """A folded copy of a text; offsets[i] is the original index of folded character i."""

    text: str
    offsets: list[int] | None  # None: identity (nothing was removed or expanded)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) of folded [start, end)."""
        if self.offsets is None:
            return start, end
        return self.offsets[start], self.offsets[end - 1] + 1


class Folder:
    """Folds text the same way for patterns and ads, keeping an offset map back."""

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        self.ignorable = frozenset(cfg.get("ignorable", ()))
        self.lookalikes = {str(k): str(v) for k, v in cfg.get("lookalikes", {}).items()}
        self.confusables = {str(k): str(v) for k, v in cfg.get("confusables", {}).items()}
        self.equivalent = [set(group) for group in cfg.get("equivalent_letters", ())]
        seps = re.escape(str(cfg.get("letter_separators", " .")))
        single = "[a-z0-9" + re.escape("".join(self.lookalikes)) + "]"
        # Three or more lone characters separated by separators: "y o u n g", "n.e.w". The
        # regex starts on the separator after the first lone character, because a regex that
        # opens with a character class is scanned fast; fold() checks the character before.
        # One separator throughout ("1 n.e.w" is "1" and "new", not "1new").
        self._spaced = re.compile(f"([{seps}][{seps}]{{0,2}}){single}(?:\\1{single})+(?!{single})")
        self._single = re.compile(single)
        # A run of look-alikes before a letter; fold() keeps it only after a letter ("fr3sh"),
        # or, for word-start look-alikes ("$weet"), when it is one character opening a word.
        look = "[" + re.escape("".join(self.lookalikes)) + "]"
        self._look = re.compile(f"{look}{look}*(?=[a-z])")
        self._starts = frozenset(str(c) for c in cfg.get("word_start_lookalikes", ()))
        self._table = str.maketrans(self.lookalikes)
        self._char_cache: dict[str, str] = {}
        self._prechecks(str(cfg.get("letter_separators", " .")))

    def _prechecks(self, seps: str) -> None:
        """A byte table for `_classes`: what `_spaced` and `_look` need can be tested on a
        one-letter-per-class copy of the text (one byte regex, one substring search), which
        spares their scans of most ads. Off (None) when the configured separators or
        look-alikes cannot be classified from ASCII bytes."""
        look = set(self.lookalikes)
        single = set("abcdefghijklmnopqrstuvwxyz0123456789") | look
        ascii_seps = {c for c in seps if c.isascii()}
        self._wide_seps = tuple(c for c in seps if not c.isascii())
        self._class_table: bytes | None = None
        usable = ascii_seps and all(c.isascii() for c in single) and "?" not in single
        if not usable or "?" in seps or ascii_seps & single:
            return
        self._sep_char = min(ascii_seps)

        def cls(ch: str) -> str:
            if ch in ascii_seps:
                return "p"  # a separator
            if ch in look:
                return "l"  # a look-alike (also a lone character)
            return "a" if "a" <= ch <= "z" else "d" if ch in single else "o"

        self._class_table = bytes(ord(cls(chr(b))) for b in range(256))

    def _classes(self, s: str) -> bytes | None:
        """`s` one byte per character: p separator, l look-alike, a letter, d other digit,
        o anything else (non-ASCII characters are o, separators among them p)."""
        if self._class_table is None:
            return None
        for c in self._wide_seps:
            if c in s:
                s = s.replace(c, self._sep_char)
        return s.encode("ascii", "replace").translate(self._class_table)

    def fold_char(self, ch: str) -> str:
        """One non-ASCII character folded: '' if ignorable, accents dropped, confusables mapped."""
        hit = self._char_cache.get(ch)
        if hit is not None:
            return hit
        if ch in self.ignorable:
            out = ""
        else:
            # Case first ("İ" folds to i + a combining dot), then drop every combining mark.
            decomposed = unicodedata.normalize("NFKD", ch.casefold())
            out = "".join(
                self.confusables.get(c, c)
                for c in decomposed
                if not unicodedata.combining(c) and c not in self.ignorable
            )
        self._char_cache[ch] = out  # a memo: the same answer every time, safe to share
        return out

    def fold(self, text: str) -> Folded:
        """The folded copy used for matching, with the map back to the original offsets."""
        offsets: list[int] | None = None
        if text.isascii():
            s = text.lower()
        else:
            simple = self._simple_folds(text)
            if simple is None:
                s, offsets = self._fold_unicode(text)
            else:
                s = text.lower()
                for low, folded in simple:
                    s = s.replace(low, folded)
        classes = self._classes(s)
        spaced: list[tuple[int, int]] = []
        # `_spaced` needs a lone character, k separators (k = 1..3), a lone character and then
        # no lone character: without that, in classes, it cannot match.
        at = 0 if classes is None or _MAYBE_SPACED.search(classes) else len(s) + 1
        single = self._single.match
        while (m := self._spaced.search(s, at)) is not None:
            first = m.start() - 1  # the first lone character, just before the separator
            if first < 0 or not single(s, first) or (first > 0 and single(s, first - 1)):
                at = m.start() + 1  # not a lone character: not a spaced-out word
                continue
            spaced.append((first, m.end()))
            at = m.end()
        if spaced:
            if offsets is None:
                offsets = list(range(len(s)))
            chars: list[str] = []
            new_offsets: list[int] = []
            pos = 0
            for run_start, run_end in spaced:
                chars.append(s[pos:run_start])
                new_offsets.extend(offsets[pos:run_start])
                for j in range(run_start, run_end):
                    if single(s, j):
                        chars.append(s[j])
                        new_offsets.append(offsets[j])
                pos = run_end
            chars.append(s[pos:])
            new_offsets.extend(offsets[pos:])
            s = "".join(chars)
            offsets = new_offsets
            classes = self._classes(s)
        # `_look` needs a look-alike right before a letter.
        if classes is None or b"la" in classes:
            s = self._look.sub(lambda m: self._lookalike(m, s), s)
        return Folded(s, offsets)

    def _simple_folds(self, text: str) -> list[tuple[str, str]] | None:
        """(lower-cased character, its fold) pairs that turn `text.lower()` into the fold of
        `text`, or None when that shortcut does not hold.

        It holds when every non-ASCII character of the text folds to one character and
        lower-cases to one character, context-free (not "Σ"), no two characters with one lower
        case fold apart, and no fold is itself replaced: then folding keeps every offset, and
        the few distinct characters (usually emoji, which fold to themselves) are replaced in
        a handful of C passes instead of a Python loop over every run of them.
        """
        pairs: dict[str, str] = {}
        fold_char = self.fold_char
        for ch in wide_chars(text):
            folded = fold_char(ch)
            low = ch.lower()
            if len(folded) != 1 or len(low) != 1 or ch == "Σ" or (low.isascii() and folded != low):
                return None
            if pairs.setdefault(low, folded) != folded:
                return None
        out = [(low, folded) for low, folded in pairs.items() if low != folded]
        if any(folded in pairs for _, folded in out):
            return None
        return out

    def _fold_unicode(self, text: str) -> tuple[str, list[int] | None]:
        """Fold non-ASCII characters; offsets only when a character vanished or expanded."""
        parts: list[str] = []
        pos = 0
        same_length = True
        fold_char = self.fold_char
        for m in _NON_ASCII.finditer(text):
            parts.append(text[pos : m.start()].lower())
            for ch in m.group():
                folded = fold_char(ch)
                same_length = same_length and len(folded) == 1
                parts.append(folded)
            pos = m.end()
        parts.append(text[pos:].lower())
        if same_length:
            return "".join(parts), None
        offsets: list[int] = []
        pos = 0
        for m in _NON_ASCII.finditer(text):
            offsets.extend(range(pos, m.start()))
            for i in range(m.start(), m.end()):
                offsets.extend([i] * len(fold_char(text[i])))
            pos = m.end()
        offsets.extend(range(pos, len(text)))
        return "".join(parts), offsets

    def _lookalike(self, m: re.Match[str], s: str) -> str:
        run, at = m.group(), m.start()
        before = s[at - 1] if at else " "
        if "a" <= before <= "z" or (len(run) == 1 and run in self._starts and not before.isalnum()):
            return run.translate(self._table)
        return run

    def letter_members(self, ch: str, edge: bool = False) -> frozenset[str]:
        """The characters that stand for one folded pattern character: its look-alikes and
        equivalents too. At the edge of a phrase only letters and digits stand in, so a hit
        never swallows the punctuation around it ("legal!" reports "legal")."""
        members = {ch}
        for group in self.equivalent:
            if ch in group:
                members |= group
        members |= {k for k, v in self.lookalikes.items() if v in members}
        if ch.isdigit() and ch in self.lookalikes:
            members.add(self.lookalikes[ch])
        if edge:
            members = {c for c in members if c.isalnum()}
        return frozenset(members)

    def letter_class(self, ch: str, members: frozenset[str], free: bool) -> str:
        """The regex for one folded pattern character standing for `members`.

        Letters may repeat ("yooung"), up to MAX_REPEAT times; written `c c{0,n}` rather than
        `c{1,n}` so the regex engine can skip a branch on its first character, which keeps the
        one-pass trie fast. `free`: no member can also be the next character, so the repeat
        never gives back what it took (possessive, which the result cannot tell apart).
        Otherwise it may repeat only MAX_SHARED_REPEAT times: two neighbours sharing members
        would each try every split of a long run (200,000 ones took 40 s)."""
        body = "".join(sorted(re.escape(c) for c in members))
        cls = body if len(members) == 1 else f"[{body}]"
        if ch.isdigit():
            return cls
        return f"{cls}{cls}{{0,{MAX_REPEAT}}}+" if free else f"{cls}{cls}{{0,{MAX_SHARED_REPEAT}}}"

    def phrase_units(self, phrase: str) -> list[str]:
        """A phrase as regex units: letter classes and gaps, ready for the trie."""
        folded = self.fold(phrase).text
        chars: list[str | None] = []  # None: a gap between words
        for ch in folded:
            if ch.isascii() and ch.isalnum():
                chars.append(ch)
            elif chars and chars[-1] is not None:
                chars.append(None)
        while chars and chars[-1] is None:
            chars.pop()
        last = len(chars) - 1
        members = [
            frozenset() if c is None else self.letter_members(c, edge=i in (0, last))
            for i, c in enumerate(chars)
        ]
        units = []
        for i, c in enumerate(chars):
            if c is None:
                units.append(_GAP)
                continue
            mine = members[i]
            if i == last:  # then a non-word character must follow
                free = mine <= _WORD_CHARS
            elif chars[i + 1] is None:  # a gap (of non-word characters, maybe none), a letter
                free = mine <= _WORD_CHARS and mine.isdisjoint(members[i + 2])
            else:
                free = mine.isdisjoint(members[i + 1])
            units.append(self.letter_class(c, mine, free))
        return units


_NON_ASCII = re.compile("[\x80-\U0010ffff]+")
# What `_spaced` needs, in the classes of `Folder._classes`.
_MAYBE_SPACED = re.compile(rb"p[lad]p{1,3}[lad](?:[po]|\Z)")
# How far around a hit its excludes are looked for (folded characters each side).
_EXCLUDE_WINDOW = 80


def _trie_regex(entries: list[tuple[list[str], str]]) -> str:
    """Alternation of unit sequences as a trie, so one pass tries each prefix once."""
    root: dict[str, Any] = {}
    for units, terminal in entries:
        node = root
        for u in units:
            node = node.setdefault(u, {})
        node.setdefault("", []).append(terminal)

    def build(node: dict[str, Any]) -> str:
        branches = []
        for unit in sorted(k for k in node if k):
            branches.append(unit + build(node[unit]))
        if "" in node:  # a phrase ends here; longer phrases were tried first
            branches.append(f"(?![{WORD}])(?P<{node[''][0]}>)")
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return build(root) if root else ""


class Matcher:
    """A set of patterns compiled for one pass each: a phrase trie, the emoji, the regexes."""

    def __init__(self, folder: Folder, items: list[tuple[Pattern, int]]) -> None:
        self.owners: dict[str, list[int]] = {}
        words: list[tuple[list[str], str]] = []
        emoji: list[str] = []
        regexes: list[tuple[re.Pattern[str], tuple[str, ...]]] = []
        seen: dict[tuple[str, str], str] = {}
        for pattern, owner in items:
            key = (pattern.kind, pattern.value)
            name = seen.get(key)
            if name is None:
                name = f"t{len(seen)}"
                seen[key] = name
                if pattern.kind == "phrase":
                    words.append((folder.phrase_units(pattern.value), name))
                elif pattern.kind == "emoji":
                    emoji.append(f"{re.escape(folder.fold(pattern.value).text)}(?P<{name}>)")
                else:
                    rx = re.compile(f"(?:{pattern.value})(?P<{name}>)")
                    regexes.append((rx, tuple(folder.fold(n).text for n in pattern.needs)))
            if owner not in self.owners.setdefault(name, []):
                self.owners[name].append(owner)
        # Phrases start after a non-word character: searched in " " + text, so the regex opens
        # with a character class, which the regex engine scans for fast (no lookbehind).
        self.words = re.compile(f"[^{WORD}]" + _trie_regex(words)) if words else None
        self.emoji = re.compile("|".join(emoji)) if emoji else None
        # Their first characters: a substring test is cheaper than a regex scan of every ad.
        self._emoji_firsts = tuple(
            {folder.fold(p.value).text[:1] for p, _ in items if p.kind == "emoji"}
        )
        self.regexes = regexes

    def find(self, text: str, padded: str | None = None) -> list[tuple[int, int, list[int]]]:
        """(start, end, owners) in folded coordinates, by start, never overlapping (at one
        start the longest wins). `padded` is " " + text when the caller already built it."""
        owners = self.owners
        found: list[tuple[int, int, list[int]]] = []
        if self.words is not None:
            # Match starts are one past the leading character: the offset of " " + text.
            subject = padded if padded is not None else " " + text
            found.extend(
                (m.start(), m.end() - 1, owners[m.lastgroup or ""])
                for m in self.words.finditer(subject)
            )
        extra = [rx for rx, needs in self.regexes if not needs or any(n in text for n in needs)]
        if self.emoji is not None and self._has_emoji(text):
            extra.append(self.emoji)
        if not extra:
            return found
        for rx in extra:
            found.extend(
                (m.start(), m.end(), owners[m.lastgroup or ""])
                for m in rx.finditer(text)
                if m.end() > m.start()
            )
        if len(found) < 2:
            return found
        found.sort(key=lambda f: (f[0], f[0] - f[1]))  # by start, the longest first
        kept: list[tuple[int, int, list[int]]] = []
        last_end = -1
        for hit in found:
            if hit[0] >= last_end:
                kept.append(hit)
                last_end = hit[1]
        return kept

    def _has_emoji(self, text: str) -> bool:
        return not text.isascii() and any(c in text for c in self._emoji_firsts)

    def overlaps(self, text: str, padded: str, start: int, end: int) -> bool:
        """Whether any pattern matches text overlapping [start, end) (looked for nearby only)."""
        lo, hi = max(0, start - _EXCLUDE_WINDOW), min(len(text), end + _EXCLUDE_WINDOW)
        searches: list[tuple[re.Pattern[str], str, int]] = []
        if self.words is not None:
            searches.append((self.words, padded, 1))
        searches.extend((rx, text, 0) for rx, _ in self.regexes)
        if self.emoji is not None and self._has_emoji(text):
            searches.append((self.emoji, text, 0))
        for rx, subject, shift in searches:
            at = lo
            while (m := rx.search(subject, at, hi + shift)) is not None and m.start() < end:
                if m.end() - shift > start and m.end() - shift > m.start():
                    return True
                at = m.start() + 1
        return False
