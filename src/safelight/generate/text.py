"""Ad wording: a poster's voice composed once from the phrase bank, rendered per ad.

An independent's voice is drawn fresh from a large combinatorial bank, so two independents
share little wording; an operation's voice is its template, shared by all its persons with
name, age, city and contact slots, so its ads are near-duplicates once those are masked.
Cue sentences (cues.yaml) carry their indicator category so the truth records exactly what
each ad plants.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from safelight.generate.data import load

_SLOT = re.compile(r"<([a-z_]+?)(\d?)>")
_AN = re.compile(r"\b([Aa]) ([aeiouAEIOU])")  # "a athletic" -> "an athletic"
MIN_CHARS = 280  # the sentences every ad of a voice keeps come to at least this
LONG_CHARS = 1000  # long-form voices (a few percent of independents) reach this

# (category, chance the voice has it, chance it is optional per ad once present)
_LAYOUT: dict[str, tuple[tuple[str, float, float], ...]] = {
    "independent": (
        ("intro", 1.0, 0.0),
        ("about", 1.0, 0.0),
        ("hobby", 0.7, 0.3),
        ("bio", 0.5, 0.3),
        ("bio", 0.3, 0.3),
        ("offer", 1.0, 0.0),
        ("location", 0.5, 0.3),
        ("setting", 0.6, 0.3),
        ("availability", 0.7, 0.3),
        ("rates", 0.75, 0.2),
        ("etiquette", 0.5, 0.4),
        ("contact", 1.0, 0.0),
        ("social", 0.0, 0.2),
        ("email", 0.0, 0.3),
        ("payment", 0.0, 0.3),
        ("closer", 0.8, 0.3),
    ),
    "organised": (
        ("intro", 1.0, 0.0),
        ("about", 1.0, 0.0),
        ("hobby", 0.5, 0.5),
        ("bio", 0.4, 0.3),
        ("offer", 1.0, 0.0),
        ("location", 0.8, 0.0),
        ("setting", 0.7, 0.4),
        ("availability", 0.7, 0.4),
        ("roster", 0.35, 0.5),
        ("rates", 0.8, 0.3),
        ("etiquette", 0.3, 0.5),
        ("contact", 1.0, 0.0),
        ("social", 0.0, 0.3),
        ("email", 0.0, 0.3),
        ("payment", 0.0, 0.3),
        ("closer", 0.6, 0.4),
    ),
}


@dataclass(slots=True)
class Voice:
    """A poster's wording: sentence formats with their cue category and optionality."""

    titles: list[tuple[str, tuple[str, ...]]]  # (format, cue categories in it)
    sentences: list[tuple[str, str | None, bool]]  # (format, cue category, optional)
    sep: str = " "


@dataclass(slots=True)
class Rendered:
    title: str
    body: str
    indicators: list[str] = field(default_factory=list)
    age_stated: bool = False
    selectors: tuple[str, ...] = ()  # which of @handle, @email, @payment the ad shows


@cache
def _banks() -> tuple[dict[str, Any], dict[str, Any]]:
    return load("phrases"), load("cues")


@cache
def _parse(pattern: str) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """A pattern split once into literal pieces and slot names, and whether "a <x>" needs "an"."""
    pieces = _SLOT.split(pattern)  # literal, name, digit, literal, name, digit, ..., literal
    return tuple(pieces[0::3]), tuple(pieces[1::3]), bool(re.search(r"\b[Aa] <", pattern))


def fill(pattern: str, rng: random.Random, words: dict[str, list[str]]) -> str:
    """Fill `<list>` slots with words, distinct within the pattern."""
    literals, names, fix_an = _parse(pattern)
    if not names:
        return pattern
    r = rng.random
    out = [literals[0]]
    picked: list[str] = []
    for name, literal in zip(names, literals[1:], strict=True):
        options = words[name]
        word = options[int(r() * len(options))]
        for _ in range(4):  # distinct within the sentence, without building filtered lists
            if word not in picked:
                break
            word = options[int(r() * len(options))]
        picked.append(word)
        out.append(word)
        out.append(literal)
    text = "".join(out)
    if fix_an:
        text = _AN.sub(r"\1n \2", text)
    return text[:1].upper() + text[1:] if not literals[0] else text


class _Draw:
    """Distinct random picks from one list, without shuffling the whole list first."""

    def __init__(self, rng: random.Random, items: list[str]) -> None:
        self.rng, self.items, self.used = rng, items, set[int]()

    def __call__(self) -> str | None:
        if len(self.used) == len(self.items):
            return None
        while True:
            i = int(self.rng.random() * len(self.items))
            if i not in self.used:
                self.used.add(i)
                return self.items[i]


@cache
def _words() -> dict[str, list[str]]:
    phrases, cues = _banks()
    return {**phrases["words"], **cues["words"]}


def price_text(rng: random.Random) -> str:
    """One poster's price, e.g. `$200/hr`, `150hh`, `roses 200` (never with a phone shape)."""
    prices = _banks()[0]["prices"]
    n = rng.choice(prices["amounts"])
    m = n * 2 - rng.choice((0, 20, 40))
    return rng.choice(prices["formats"]).format(n=n, m=m)


def cue_sentence(rng: random.Random, category: str) -> str:
    """A sentence that plants `category` (third_party_control, trust, youth, ...)."""
    return fill(rng.choice(_banks()[1]["categories"][category]["sentences"]), rng, _words())


def trip_sentence(rng: random.Random) -> str:
    """Movement wording for an independent's ad posted away from home."""
    return rng.choice(_banks()[1]["trip"])


def compose(
    rng: random.Random,
    kind: str,
    *,
    price: str,
    handle: str | None = None,
    email: str | None = None,
    cashtag: str | None = None,
    cues: tuple[tuple[str, bool], ...] = (),
    title_cues: tuple[str, ...] = (),
    long: bool = False,
    has_phone: bool = True,
) -> Voice:
    """Compose a voice; `cues` are (category, optional-per-ad) pairs planted as sentences.

    Sentences showing the handle, email or cash tag carry a `@handle`/`@email`/`@payment`
    marker instead of a category, so the truth knows which selectors each ad shows.
    """
    phrases, _ = _banks()
    words = _words()
    bank = phrases["voice"]
    sentences: list[tuple[str, str | None, bool]] = []
    extra = {"social": handle, "email": email, "payment": cashtag}
    markers = {"social": "@handle", "email": "@email", "payment": "@payment"}
    bio = _Draw(rng, bank["bio"])
    for cat, chance, optional in _LAYOUT[kind]:
        if cat in extra:
            if extra[cat] is None:
                continue
        elif chance < 1.0 and rng.random() >= chance:
            continue
        if cat == "contact" and not has_phone:
            cat = "contact_written"
        pattern = bio() if cat == "bio" else rng.choice(bank[cat])
        if pattern is None:
            continue
        text = fill(pattern, rng, words).replace("{price}", price)
        if handle:
            text = text.replace("{handle}", handle)
        if email:
            text = text.replace("{email}", email)
        if cashtag:
            text = text.replace("{cashtag}", cashtag)
        sentences.append((text, markers.get(cat), rng.random() < optional))
    # Pad short voices (and stretch long-form ones) with more of the poster's own story.
    target = LONG_CHARS if long else MIN_CHARS
    kept = sum(len(t) for t, _, optional in sentences if not optional)
    while kept < target:
        more = bio()
        if more is None:
            break
        text = fill(more, rng, words)
        sentences.insert(rng.randint(2, len(sentences) - 1), (text, None, False))
        kept += len(text)
    for cat, optional in cues:
        pos = rng.randint(1, len(sentences) - 1)
        sentences.insert(pos, (cue_sentence(rng, cat), cat, optional))
    titles = []
    for _ in range(1 if kind == "organised" else rng.randint(1, 2)):
        title = fill(rng.choice(phrases["titles"]), rng, words)
        cats: list[str] = []
        for cat in title_cues:
            if cat == "ethnicity":
                title = f"{rng.choice(words['eth'])} {title}"
            elif cat == "youth":
                title = f"{title} {rng.choice(words['youth_emoji'])}"
            cats.append(cat)
        titles.append((title, tuple(cats)))
    return Voice(titles=titles, sentences=sentences, sep=rng.choice(phrases["separators"]))


def compose_decoy(
    rng: random.Random, frame: dict[str, Any], *, email: str | None = None, has_phone: bool = True
) -> Voice:
    """A harmless ad (shop, club, lawyer...) whose wording a naive keyword list flags."""
    words = _words()
    bank = _banks()[0]["voice"]
    sentences: list[tuple[str, str | None, bool]] = [
        (fill(rng.choice(frame["lead"]), rng, words), None, False)
    ]
    for text in rng.sample(frame["more"], min(len(frame["more"]), rng.randint(2, 3))):
        sentences.append((fill(text, rng, words), None, True))
    contact = "contact" if has_phone else "contact_written"
    for cat, optional in (("business_hours", 0.3), ("business_place", 0.0), (contact, 0.0)):
        sentences.append((fill(rng.choice(bank[cat]), rng, words), None, rng.random() < optional))
    if email:
        line = fill(rng.choice(bank["email"]), rng, words).replace("{email}", email)
        sentences.append((line, "@email", False))
    closer = fill(rng.choice(bank["business_closer"]), rng, words)
    sentences.append((closer, None, rng.random() < 0.3))
    titles: list[tuple[str, tuple[str, ...]]] = [(rng.choice(frame["titles"]), ())]
    return Voice(titles=titles, sentences=sentences, sep=rng.choice((" ", "\n", " ")))


def render(
    voice: Voice,
    rng: random.Random,
    slots: dict[str, Any],
    *,
    drop: float,
    swap: float = 0.0,
    lead: tuple[str, str] | None = None,
) -> Rendered:
    """One ad's title and body; `lead` is an extra (sentence, category) put after the intro."""
    r = rng.random
    kept = [s for s in voice.sentences if not s[2] or r() >= drop]
    parts = [s[0] for s in kept]
    cats = [s[1] for s in kept if s[1]]
    if lead is not None:
        parts.insert(1, lead[0])
        cats.append(lead[1])
    if swap and len(parts) > 3 and r() < swap:
        i = 1 + int(r() * (len(parts) - 2))
        parts[i], parts[i + 1] = parts[i + 1], parts[i]
    body = voice.sep.join(parts)
    title, title_cats = voice.titles[int(r() * len(voice.titles))]
    if title_cats:
        cats.extend(title_cats)
    stated = "{age}" in body or "{age}" in title
    indicators, found = _split(tuple(cats)) if cats else _NONE
    return Rendered(
        title=title.format_map(slots),
        body=body.format_map(slots),
        indicators=list(indicators),
        age_stated=stated,
        selectors=found,
    )


_NONE: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())


@cache
def _split(cats: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Sorted indicator categories and the selector markers (few combinations: cached)."""
    return tuple(sorted({c for c in cats if c[0] != "@"})), tuple(c for c in cats if c[0] == "@")
