"""The per-ad stages chained: normalise → extract → score → link features.

Pure functions over records, so one process, a process pool and Spark tasks run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

from safelight.extract import extract_ad, place_of_ad
from safelight.ingest.normalise import normalise
from safelight.ingest.sources import RawRecord
from safelight.link.template import text_signature
from safelight.records import Ad, Mention, ProcessedAd, Reject
from safelight.score.ad_score import score_ad
from safelight.score.registry import load_registry
from safelight.settings import Settings


@dataclass(frozen=True, slots=True)
class StageConfig:
    """The settings the per-ad stages need: small and picklable for worker processes."""

    region: str = "US"
    max_body_chars: int = 200_000
    max_record_bytes: int = 8_000_000
    indicators_path: str = ""

    @classmethod
    def from_settings(cls, s: Settings) -> StageConfig:
        return cls(s.region, s.max_body_chars, s.max_record_bytes, s.indicators_path)


def photo_mentions(ad: Ad) -> list[Mention]:
    """Each photo as a selector: its exact SHA-256 and its PDQ hash (near matches: link.photos)."""
    out = []
    for im in ad.images:
        for prefix, value in (("sha256", im.sha256), ("pdq", im.pdq)):
            if value:
                out.append(
                    Mention(
                        "photo",
                        f"{prefix}:{value.lower()}",
                        im.url or im.path,
                        -1,
                        -1,
                        detail={"field": "images"},
                    )
                )
    return out


def process_ad(ad: Ad, cfg: StageConfig) -> ProcessedAd:
    mentions = extract_ad(ad, cfg.region)
    by_kind: dict[str, list] = {}
    for m in mentions:
        by_kind.setdefault(m.kind + "s", []).append(m)
    scored = score_ad(ad.text, by_kind, load_registry(cfg.indicators_path or None))
    return ProcessedAd(
        ad=ad,
        mentions=mentions + photo_mentions(ad),
        hits=scored.hits,
        score=scored.score,
        registry_version=scored.registry_version,
        place=place_of_ad(ad, mentions),
        features={"signature": text_signature(ad.text, mentions)},
    )


def process_record(rec: RawRecord, cfg: StageConfig) -> ProcessedAd | Reject:
    """One input record to a stored-ready ad or a reject; never raises on bad input."""
    result = normalise(
        rec, max_body_chars=cfg.max_body_chars, max_record_bytes=cfg.max_record_bytes
    )
    if isinstance(result, Reject):
        return result
    try:
        return process_ad(result, cfg)
    except Exception as exc:  # an extractor bug must not lose the record: reject it, loudly
        return Reject(
            rec.source,
            rec.line,
            f"internal error in processing: {exc!r}",
            excerpt=result.text[:200],
            raw_sha256=result.raw_sha256,
        )


def process_chunk(records: list[RawRecord], cfg: StageConfig) -> list[ProcessedAd | Reject]:
    return [process_record(r, cfg) for r in records]
