"""Ingest: read sources, run the per-ad stages (in a process pool), store in batches.

Every batch is one transaction together with the checkpoint of how far its source was read,
so a run killed at any moment resumes where the last batch ended: nothing lost, nothing twice.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safelight.ingest.sources import RawRecord, iter_records
from safelight.records import ProcessedAd, Reject
from safelight.settings import Settings
from safelight.stages import StageConfig, process_chunk
from safelight.store import Checkpoint, Store
from safelight.store.rows import for_writer

CHUNK = 250  # records per task sent to a worker...
# ...or fewer, once their input reaches this many bytes: a worker holds a whole chunk's
# results, and an ad of 200,000 characters can carry tens of thousands of mentions (250 such
# ads took 450 MB per worker, and the writer as much again).
CHUNK_BYTES = 256 * 1024
# A batch is written once it holds this many mention and hit rows, even short of batch_size
# (an ordinary ad brings about 11).
BATCH_ROWS = 50_000


@dataclass
class IngestSummary:
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    skipped_resumed: int = 0  # records of a previous, interrupted run not read again
    sources: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ads_per_second"] = round(self.read / self.seconds, 1) if self.seconds else None
        return out


def source_fingerprint(path: Path) -> str:
    """Identifies a source's content cheaply: size, and the hash of its first and last 64 KiB.

    A folder of pages is fingerprinted by its sorted file names and sizes."""
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file():
                h.update(f"{p.relative_to(path)}\0{p.stat().st_size}\n".encode())
        return h.hexdigest()
    size = path.stat().st_size
    h.update(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(65536))
        if size > 65536:
            f.seek(max(65536, size - 65536))
            h.update(f.read(65536))
    return h.hexdigest()


def _chunked(records: Iterable[RawRecord], n: int, most_bytes: int) -> Iterator[list[RawRecord]]:
    """Chunks of up to `n` records, closed early once their raw input reaches `most_bytes`."""
    chunk: list[RawRecord] = []
    size = 0
    for rec in records:
        chunk.append(rec)
        size += len(rec.raw)
        if len(chunk) >= n or size >= most_bytes:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _processed_chunks(
    records: Iterable[RawRecord], cfg: StageConfig, workers: int, batch_size: int = 2000
) -> Iterator[list[ProcessedAd | Reject]]:
    """Chunks of results in input order, with a bounded number in flight (constant memory).

    The window holds a whole batch more than the workers need, so they keep working while the
    writer stores a batch instead of idling until it asks for the next chunk."""
    chunks = _chunked(records, CHUNK, CHUNK_BYTES)
    if workers <= 1:
        for chunk in chunks:
            yield process_chunk(chunk, cfg)
        return
    from safelight.extract import warm_up
    from safelight.score.registry import load_registry

    warm_up()  # build gazetteers and the registry once; forked workers share them
    load_registry(cfg.indicators_path or None)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        window: deque[Future[list[ProcessedAd | Reject]]] = deque()
        for chunk in chunks:
            window.append(pool.submit(_process_for_writer, chunk, cfg))
            if len(window) >= workers * 3 + batch_size // CHUNK:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def _child_rows(item: ProcessedAd) -> int:
    """The mention and hit rows an item brings to its batch (what makes an ad heavy)."""
    if item.rows is not None:
        return len(item.rows.mentions) + len(item.rows.hits)
    return len(item.mentions) + len(item.hits)


def _process_for_writer(chunk: list[RawRecord], cfg: StageConfig) -> list[ProcessedAd | Reject]:
    """`process_chunk` in a worker, sending back only what the writer stores (`for_writer`)."""
    return [p if isinstance(p, Reject) else for_writer(p) for p in process_chunk(chunk, cfg)]


def _progress(enabled: bool | None, desc: str) -> Any:
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(desc=desc, unit=" ads", file=sys.stderr, dynamic_ncols=True)


def ingest_paths(
    paths: Iterable[str | Path],
    store: Store,
    settings: Settings,
    *,
    progress: bool | None = None,
    force: bool = False,
    on_batch: Callable[[Store, list[int]], None] | None = None,
) -> IngestSummary:
    """Ingest every path into the store; `on_batch` sees the pks each batch stored (linking)."""
    import time

    started = time.perf_counter()
    summary = IngestSummary()
    cfg = StageConfig.from_settings(settings)
    workers = settings.workers or (os.cpu_count() or 1)
    for raw_path in paths:
        path = Path(raw_path)
        if not path.exists():
            raise FileNotFoundError(f"no such input: {path}")
        per = _ingest_one(path, store, settings, cfg, workers, progress, force, on_batch)
        summary.sources.append(per)
        for key in ("read", "stored", "duplicates", "rejected", "skipped_resumed"):
            setattr(summary, key, getattr(summary, key) + per[key])
    if summary.stored:
        store.refresh_statistics()
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def _ingest_one(
    path: Path,
    store: Store,
    settings: Settings,
    cfg: StageConfig,
    workers: int,
    progress: bool | None,
    force: bool,
    on_batch: Callable[[Store, list[int]], None] | None,
) -> dict[str, Any]:
    source = str(path.resolve())
    fingerprint = source_fingerprint(path)
    counts: dict[str, Any] = {
        "source": source,
        "read": 0,
        "stored": 0,
        "duplicates": 0,
        "rejected": 0,
        "skipped_resumed": 0,
    }
    previous = store.checkpoint(source)
    done = 0
    if previous is not None and previous.fingerprint == fingerprint and not force:
        if previous.complete:
            # Unchanged since a complete ingest: every record is already stored or rejected.
            counts["read"] = counts["duplicates"] = previous.records_done
            counts["note"] = "unchanged since a complete ingest"
            return counts
        done = previous.records_done
    counts["skipped_resumed"] = done
    bar = _progress(progress, path.name)

    def records() -> Iterator[RawRecord]:
        for i, rec in enumerate(iter_records(path, max_record_bytes=settings.max_record_bytes), 1):
            if i > done:
                yield rec

    position = done
    batch: list[ProcessedAd] = []
    batch_rejects: list[Reject] = []
    batch_rows = 0

    def flush(complete: bool) -> None:
        nonlocal batch_rows
        batch_rows = 0
        cp = Checkpoint(source, fingerprint, position, complete)
        result = store.add_batch(batch, batch_rejects, cp)
        counts["stored"] += result.stored
        counts["duplicates"] += result.duplicates
        counts["rejected"] += len(batch_rejects)
        if on_batch is not None and result.stored_pks:
            on_batch(store, result.stored_pks)
        batch.clear()
        batch_rejects.clear()

    try:
        for results in _processed_chunks(records(), cfg, workers, settings.batch_size):
            for item in results:
                position += 1
                if isinstance(item, Reject):
                    batch_rejects.append(item)
                else:
                    batch.append(item)
                    batch_rows += _child_rows(item)
            counts["read"] += len(results)
            if bar is not None:
                bar.update(len(results))
            if len(batch) + len(batch_rejects) >= settings.batch_size or batch_rows >= BATCH_ROWS:
                flush(complete=False)
        flush(complete=True)
    finally:
        if bar is not None:
            bar.close()
    return counts
