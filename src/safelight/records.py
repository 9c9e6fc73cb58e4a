"""The vocabulary of Safelight: the records every stage passes along.

Plain dataclasses so the same objects travel through one process, a process pool
(picklable in transit only, never persisted as pickle) and Spark tasks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Mention kinds, in the order `safelight extract` prints them.
MENTION_KINDS = (
    "phones",
    "emails",
    "handles",
    "payments",
    "ages",
    "places",
    "prices",
    "urls",
    "names",
)

# Kinds that identify a poster strongly enough to pivot on and to link ads by
# (FollowTheMoney calls such property types "pivots").
PIVOT_KINDS = ("phone", "email", "handle", "payment", "photo")


@dataclass(slots=True)
class Image:
    """A photo reference. The picture itself is never kept, only hashes."""

    url: str = ""
    path: str = ""
    sha256: str = ""
    pdq: str = ""
    quality: int | None = None


@dataclass(slots=True)
class Ad:
    """One posting, normalised from any source kind."""

    id: str
    title: str
    body: str
    site: str = ""
    url: str = ""
    posted_at: str | None = (
        None  # ISO 8601 UTC; a time given without a zone is taken as UTC (flagged in extra)
    )
    location: str = ""
    images: list[Image] = field(default_factory=list)
    html: str | None = None  # raw HTML kept beside the text, never rendered
    structured: dict[str, Any] = field(default_factory=dict)  # phone, email, age, name
    extra: dict[str, Any] = field(default_factory=dict)
    raw_sha256: str = ""  # of the source record's bytes
    source: str = ""  # file or stream the record came from
    source_line: int = 0  # 1-based record number within the source

    @property
    def text(self) -> str:
        """The text extractors run on; mention spans index into it."""
        return ad_text(self.title, self.body)


def ad_text(title: str, body: str) -> str:
    """Title and body joined the one way every stage agrees on."""
    if title and body:
        return f"{title}\n{body}"
    return title or body


@dataclass(slots=True)
class Mention:
    """A span of an ad's text that an extractor recognised.

    `value` is normalised (phones E.164, emails lower-case, ages int, prices a number);
    `detail` carries kind-specific facts (platform, unit, region, coordinates...).
    """

    kind: str  # phone, email, handle, payment, age, place, price, url, name
    value: Any
    raw: str
    start: int
    end: int
    confidence: float = 1.0
    obfuscated: bool = False
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.value,
            "raw": self.raw,
            "start": self.start,
            "end": self.end,
            "confidence": self.confidence,
            "obfuscated": self.obfuscated,
        }
        for key, val in self.detail.items():
            out.setdefault(key, val)
        return out


@dataclass(slots=True)
class Hit:
    """An indicator that fired on an ad, with the text that made it fire."""

    indicator: str
    category: str
    weight: float
    matched: str
    start: int
    end: int
    source: str = ""  # citation key of the evidence behind the weight

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class ProcessedAd:
    """An ad after the per-ad stages (extract, score): what the store writes in one go."""

    ad: Ad
    mentions: list[Mention] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    score: float = 0.0
    registry_version: str | None = None
    place: str | None = None  # normalised posting place, "City, ST"
    features: dict[str, Any] = field(default_factory=dict)  # e.g. text signature for linking
    # The store's rows (`store.rows.AdRows`), built by the worker so the single writer only
    # writes; None means the store builds them.
    rows: Any = None


@dataclass(slots=True)
class Reject:
    """An input record that could not become an ad, and why."""

    source: str
    line: int
    reason: str
    excerpt: str = ""
    raw_sha256: str = ""


@dataclass(slots=True)
class Link:
    """Two ads tied together, with the evidence an analyst can cite."""

    ad_a: str
    ad_b: str
    kind: str  # phone, email, handle, payment, photo, template
    evidence: dict[str, Any] = field(default_factory=dict)
    weight: float = 1.0
