"""Extraction: every selector an investigator pivots on, from one text, as Mentions.

Each kind has its own module with one pure function; this module runs them all and settles
overlaps (a phone's digits are not also an age or a price; an email's host is not a URL).
"""

from __future__ import annotations

from bisect import bisect_left
from functools import lru_cache
from itertools import accumulate

from safelight.extract.ages import find_ages
from safelight.extract.emails import find_emails
from safelight.extract.handles import find_handles
from safelight.extract.names import find_names
from safelight.extract.payments import find_payments
from safelight.extract.phones import find_phones
from safelight.extract.places import find_places, location_label
from safelight.extract.prices import find_prices
from safelight.extract.urls import find_urls
from safelight.records import MENTION_KINDS, Ad, Mention

__all__ = ["extract_ad", "extract_text", "place_of_ad", "to_json", "warm_up"]

# Later kinds lose a span they share with an earlier one...
_PRECEDENCE = (
    "phones",
    "emails",
    "payments",
    "handles",
    "urls",
    "prices",
    "ages",
    "places",
    "names",
)
# ...except these pairs, which legitimately nest ("zelle: jane@example.org" is a payment
# handle and an email; "venmo 713-555-0142" a payment handle and a phone).
_NESTING = {("payments", "phones"), ("payments", "emails")}


def extract_text(text: str, region: str = "US", location: str = "") -> dict[str, list[Mention]]:
    """All mentions in a text, keyed by MENTION_KINDS, overlaps settled by precedence.

    `location` (the ad's location field, or just a region) settles ambiguous city names."""
    found = {
        "phones": find_phones(text, region),
        "emails": find_emails(text),
        "handles": find_handles(text),
        "payments": find_payments(text),
        "ages": find_ages(text),
        "places": find_places(text, location or region),
        "prices": find_prices(text),
        "urls": find_urls(text),
        "names": find_names(text),
    }
    return settle_overlaps(found)


def settle_overlaps(found: dict[str, list[Mention]]) -> dict[str, list[Mention]]:
    """`found` with each mention dropped that overlaps one of an earlier kind in precedence
    (unless the pair may nest), keyed in MENTION_KINDS order."""
    if not _overlapping(found):
        return found  # already keyed in MENTION_KINDS order
    taken: list[tuple[int, int, str]] = []
    for kind in _PRECEDENCE:
        kept = found[kind]
        if not kept:
            continue
        if taken:
            blocking = sorted((s, e) for s, e, other in taken if (kind, other) not in _NESTING)
            starts = [s for s, _ in blocking]
            reach = list(accumulate((e for _, e in blocking), max))
            kept = found[kind] = [m for m in kept if not _overlaps(m, starts, reach)]
        taken += [(m.start, m.end, kind) for m in kept]
    return {kind: found[kind] for kind in MENTION_KINDS}


def _overlaps(m: Mention, starts: list[int], reach: list[int]) -> bool:
    """Whether `m` overlaps a span of sorted `starts` whose running furthest end is `reach`.

    A bisection, not a scan of every earlier mention: a hostile ad of 200,000 characters
    can hold tens of thousands of mentions, and the pairwise test took seconds on one."""
    before = bisect_left(starts, m.end)  # the spans that start before `m` ends
    return before > 0 and reach[before - 1] > m.start


def _overlapping(found: dict[str, list[Mention]]) -> bool:
    """Whether any two mentions overlap (most ads: none, so precedence has nothing to do)."""
    spans = sorted([(m.start, m.end) for ms in found.values() for m in ms])
    reach = -1
    for start, end in spans:
        if start < reach:
            return True
        if end > reach:
            reach = end
    return False


def warm_up() -> None:
    """Load gazetteers and tables once, e.g. in a parent process before it forks workers."""
    extract_text("warm up: Houston, TX, call 713-555-0142, jane@example.com, age 22, $200/hr")


def extract_ad(ad: Ad, region: str = "US") -> list[Mention]:
    """All mentions of an ad: its text, then its structured fields (spans -1: not in the text)."""
    by_kind = extract_text(ad.text, region, ad.location)
    out = [m for kind in MENTION_KINDS for m in by_kind[kind]]
    if not ad.structured:
        return out
    seen = {(m.kind, str(m.value)) for m in out}
    for field, value in ad.structured.items():
        if value in (None, ""):
            continue
        for m in _structured(field, str(value), region):
            if (m.kind, str(m.value)) not in seen:
                seen.add((m.kind, str(m.value)))
                out.append(_copy(m))
    return out


def _copy(m: Mention) -> Mention:
    """A fresh Mention equal to `m` (lists in `detail` copied too), so a memoised one is never
    shared between ads."""
    detail = {k: list(v) if isinstance(v, list) else v for k, v in m.detail.items()}
    return Mention(m.kind, m.value, m.raw, m.start, m.end, m.confidence, m.obfuscated, detail)


@lru_cache(maxsize=4096)
def _structured(field: str, value: str, region: str) -> tuple[Mention, ...]:
    """The mentions of one structured field (memoised: a poster's phone, age and name recur
    across their ads; callers copy what they keep)."""
    finders = {
        "phone": lambda v: find_phones(v, region),
        "email": find_emails,
        "age": find_ages,
        "name": find_names,
    }
    if field == "age" and value.strip().isdigit():
        return (Mention("age", int(value.strip()), value, -1, -1, detail={"field": field}),)
    if field == "name" and value.strip():
        name = value.strip()[:80]
        return (Mention("name", name, value, -1, -1, detail={"field": field}),)
    finder = finders.get(field)
    if finder is None:
        return ()
    out = []
    for m in finder(value):
        m.start = m.end = -1
        m.detail = {**m.detail, "field": field}
        out.append(m)
    return tuple(out)


def place_of_ad(ad: Ad, mentions: list[Mention]) -> str | None:
    """The posting place: the location field when it names one, else the first place in text."""
    if ad.location:
        label = location_label(ad.location)
        if label is not None:
            return label
    for m in mentions:
        if m.kind == "place":
            return str(m.value)
    return None


def to_json(ad_id: str, by_kind: dict[str, list[Mention]]) -> dict[str, object]:
    """The `safelight extract` line for one ad."""
    out: dict[str, object] = {"id": ad_id}
    for kind in MENTION_KINDS:
        out[kind] = [m.to_json() for m in by_kind.get(kind, [])]
    return out
