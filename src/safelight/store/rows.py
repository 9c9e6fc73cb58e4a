"""The rows a processed ad becomes, built as plain tuples by a pure function.

Ingest has one writer and several workers. Building rows (JSON text, tuples in column order)
is most of a writer's Python work, so the workers do it (`stages.process_chunk`) and the writer
only hands the tuples to the driver. `Store.add_batch` builds them itself for items that
arrive without (tests, other callers), so both paths write the same rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from safelight.records import ProcessedAd

# Column order of each tuple; the database key columns (`ad_pk`, `ingested_at`) are added by
# the writer, which is the only one who knows them.
AD_COLUMNS = (
    "id",
    "site",
    "url",
    "posted_at",
    "title",
    "body",
    "html",
    "location",
    "place",
    "images",
    "structured",
    "extra",
    "raw_sha256",
    "source",
    "source_line",
    "score",
    "registry_version",
    "ingested_at",
)
MENTION_COLUMNS = (
    "ad_pk",
    "kind",
    "value",
    "raw",
    "start",
    "end",
    "confidence",
    "obfuscated",
    "detail",
)
HIT_COLUMNS = ("ad_pk", "indicator", "category", "weight", "matched", "start", "end", "source")
FEATURE_COLUMNS = ("ad_pk", "sig", "ntokens")
PHOTO_COLUMNS = (
    "ad_pk",
    "position",
    "url",
    "sha256",
    "md5",
    "pdq",
    "quality",
    "low_quality",
    "index_hashes",
    "query_hashes",
    "thumbnail",
)
MAX_VALUE_CHARS = 400  # mentions.value is a VARCHAR(400)


def dumps(value: Any) -> str:
    """Compact JSON text, as `json.dumps(..., ensure_ascii=False, separators=(",", ":"),
    default=str)` writes it; orjson does it five times faster (most of a worker's row building).
    What orjson refuses (an integer past 64 bits from a hostile input) takes the slow path."""
    if not value and type(value) in (dict, list):  # most details, extras and image lists
        return "{}" if type(value) is dict else "[]"
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(slots=True)
class AdRows:
    """One ad's rows without their database keys: `ad` lacks `ingested_at`, the others `ad_pk`."""

    ad: tuple[Any, ...]
    mentions: list[tuple[Any, ...]] = field(default_factory=list)
    hits: list[tuple[Any, ...]] = field(default_factory=list)
    feature: tuple[Any, ...] | None = None
    photos: list[tuple[Any, ...]] = field(default_factory=list)

    def renamed(self, ad_id: str, extra: dict[str, Any]) -> None:
        """Give the ad row another id and extra (a changed re-post of a stored id)."""
        row = list(self.ad)
        row[AD_COLUMNS.index("id")] = ad_id
        row[AD_COLUMNS.index("extra")] = dumps(extra)
        self.ad = tuple(row)


def image_json(im: Any) -> dict[str, Any]:
    return {
        k: v
        for k, v in (
            ("url", im.url),
            ("path", im.path),
            ("sha256", im.sha256),
            ("pdq", im.pdq),
            ("quality", im.quality),
        )
        if v not in ("", None)
    }


def ad_rows(item: ProcessedAd) -> AdRows:
    """The ad, mention, hit, signature and photo rows of one processed ad."""
    ad = item.ad
    row = (
        ad.id,
        ad.site,
        ad.url,
        ad.posted_at,
        ad.title,
        ad.body,
        ad.html,
        ad.location,
        item.place,
        dumps([image_json(im) for im in ad.images]),
        dumps(ad.structured),
        dumps(ad.extra),
        ad.raw_sha256,
        ad.source,
        ad.source_line,
        item.score,
        item.registry_version,
    )
    mentions = [
        (
            m.kind,
            m.value[:MAX_VALUE_CHARS] if type(m.value) is str else str(m.value)[:MAX_VALUE_CHARS],
            m.raw,
            m.start,
            m.end,
            m.confidence,
            bool(m.obfuscated),
            dumps(m.detail),
        )
        for m in item.mentions
    ]
    hits = [
        (h.indicator, h.category, h.weight, h.matched, h.start, h.end, h.source) for h in item.hits
    ]
    sig = item.features.get("signature")
    feature = (sig["sig"], sig["ntokens"]) if sig else None
    photos = [
        tuple(
            dumps(ph[c]) if c in ("index_hashes", "query_hashes") else ph[c]
            for c in PHOTO_COLUMNS[1:]
        )
        for ph in item.features.get("photos") or ()
    ]
    return AdRows(row, mentions, hits, feature, photos)


def for_writer(item: ProcessedAd) -> ProcessedAd:
    """The item with only what `Store.add_batch` reads once its rows are built: the ad (id,
    content hash, extra) and the rows. Workers send this form; unpickling the mentions, hits and
    features a second time cost the single writer process more than storing them."""
    if item.rows is None:
        return item
    return ProcessedAd(ad=item.ad, rows=item.rows)
