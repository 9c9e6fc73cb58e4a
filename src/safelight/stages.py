"""The per-ad stages chained: normalise → extract → score → link features.

Pure functions over records, so one process, a process pool and Spark tasks run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safelight.extract import extract_ad, place_of_ad
from safelight.extract.photos import ImageError, blurred_thumbnail, hash_image
from safelight.ingest.normalise import normalise
from safelight.ingest.sources import RawRecord
from safelight.link.template import text_signature, text_signatures
from safelight.records import Ad, Mention, ProcessedAd, Reject
from safelight.score.ad_score import score_ad
from safelight.score.registry import load_registry
from safelight.settings import Settings
from safelight.store.rows import ad_rows


@dataclass(frozen=True, slots=True)
class StageConfig:
    """The settings the per-ad stages need: small and picklable for worker processes."""

    region: str = "US"
    max_body_chars: int = 200_000
    max_record_bytes: int = 8_000_000
    indicators_path: str = ""
    photo_min_quality: int = 50
    store_thumbnails: bool = False

    @classmethod
    def from_settings(cls, s: Settings) -> StageConfig:
        return cls(
            s.region,
            s.max_body_chars,
            s.max_record_bytes,
            s.indicators_path,
            s.photo_min_quality,
            s.store_thumbnails,
        )


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


def hash_photos(ad: Ad, cfg: StageConfig) -> list[dict[str, Any]]:
    """Hashes of every photo: computed from local files (`images[].path`, relative to the
    source file), else taken as given (`pdq`, `sha256`). The picture is read, hashed and let
    go; only a heavily blurred thumbnail may stay, when an admin turned that on."""
    out: list[dict[str, Any]] = []
    for position, im in enumerate(ad.images):
        row: dict[str, Any] = {
            "position": position,
            "url": im.url or im.path,
            "sha256": im.sha256,
            "md5": "",
            "pdq": im.pdq,
            "quality": im.quality,
            "low_quality": False,
            "index_hashes": [],
            "query_hashes": [],
            "thumbnail": None,
        }
        if im.path:
            path = Path(im.path)
            if not path.is_absolute() and ad.source:
                path = Path(ad.source).parent / path
            try:
                ph = hash_image(path, min_quality=cfg.photo_min_quality)
            except (ImageError, OSError) as exc:
                ad.extra.setdefault("image_errors", []).append(f"{im.path}: {exc}")
            else:
                im.pdq, im.sha256, im.quality = ph.pdq, ph.sha256, ph.quality
                index = ph.index_hashes()
                row.update(
                    sha256=ph.sha256,
                    md5=ph.md5,
                    pdq=ph.pdq,
                    quality=ph.quality,
                    low_quality=ph.low_quality,
                    index_hashes=index,
                    query_hashes=[h for h in ph.query_hashes() if h not in index],
                )
                if cfg.store_thumbnails:
                    row["thumbnail"] = blurred_thumbnail(path)
        elif im.pdq:
            row["index_hashes"] = [im.pdq.lower()]
            if im.quality is not None and im.quality < cfg.photo_min_quality:
                row["low_quality"] = True
        if row["pdq"] or row["sha256"]:
            out.append(row)
    return out


def process_ad(ad: Ad, cfg: StageConfig) -> ProcessedAd:
    """Extract, score and sign one normalised ad: what the store writes for it."""
    return _process_ad(ad, cfg, sign=True)


def _process_ad(ad: Ad, cfg: StageConfig, sign: bool) -> ProcessedAd:
    """`process_ad`; with `sign` False the text signature is left for the caller to fill in
    (`process_chunk` signs a whole chunk in one batch)."""
    photos = hash_photos(ad, cfg) if ad.images else []
    mentions = extract_ad(ad, cfg.region)
    by_kind: dict[str, list] = {}
    for m in mentions:
        by_kind.setdefault(m.kind + "s", []).append(m)
    text = ad.text
    scored = score_ad(text, by_kind, load_registry(cfg.indicators_path or None))
    return ProcessedAd(
        ad=ad,
        mentions=mentions + photo_mentions(ad),
        hits=scored.hits,
        score=scored.score,
        registry_version=scored.registry_version,
        place=place_of_ad(ad, mentions),
        features={"signature": text_signature(text, mentions) if sign else None, "photos": photos},
    )


def process_record(rec: RawRecord, cfg: StageConfig) -> ProcessedAd | Reject:
    """One input record to a stored-ready ad or a reject; never raises on bad input."""
    return _process_record(rec, cfg, sign=True)


def _process_record(rec: RawRecord, cfg: StageConfig, sign: bool) -> ProcessedAd | Reject:
    result = normalise(
        rec, max_body_chars=cfg.max_body_chars, max_record_bytes=cfg.max_record_bytes
    )
    if isinstance(result, Reject):
        return result
    try:
        return _process_ad(result, cfg, sign)
    except Exception as exc:  # an extractor bug must not lose the record: reject it, loudly
        return _internal_error(rec, result, exc)


def _internal_error(rec: RawRecord, ad: Ad, exc: Exception) -> Reject:
    return Reject(
        rec.source,
        rec.line,
        f"internal error in processing: {exc!r}",
        excerpt=ad.text[:200],
        raw_sha256=ad.raw_sha256,
    )


def process_chunk(records: list[RawRecord], cfg: StageConfig) -> list[ProcessedAd | Reject]:
    """`process_record` for each record, the same results; the text signatures of the chunk
    are computed together (`text_signatures`), which saves numpy's per-call cost per ad."""
    out = [_process_record(r, cfg, sign=False) for r in records]
    done = [(k, p) for k, p in enumerate(out) if isinstance(p, ProcessedAd)]
    try:
        sigs = text_signatures([(p.ad.text, p.mentions) for _, p in done])
    except Exception:  # a bug in the batch must not lose records: sign them one by one
        for k, p in done:
            try:
                p.features["signature"] = text_signature(p.ad.text, p.mentions)
            except Exception as exc:
                out[k] = _internal_error(records[k], p.ad, exc)
        return out
    for (k, p), sig in zip(done, sigs, strict=True):
        p.features["signature"] = sig
        try:
            p.rows = ad_rows(p)
        except Exception as exc:  # an unstorable value must not lose the record either
            out[k] = _internal_error(records[k], p.ad, exc)
    return out
