"""Network recovery quality against the generated ground truth, and linking time and memory.

Targets (issue 3): pairwise F1 ≥ 0.95 at 100,000 ads; linking 1,000,000 ads in under
2 minutes and 2 GB on this machine.

    python bench/bench_link.py --ads 100000            # quality (ingest + link + score)
    python bench/bench_link.py --scale-ads 1000000     # time/memory of a full rebuild at 1M
    python bench/bench_link.py --db /tmp/link1m.db     # the same on any ingested database
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from math import comb

import sqlalchemy as sa

from _common import ensure_corpus, peak_rss_mb, report
from safelight.ingest.pipeline import ingest_paths
from safelight.link.incremental import rebuild
from safelight.link.networks import iter_networks
from safelight.settings import Settings
from safelight.store import Store
from safelight.store.schema import ads


def pairwise(truth: dict[str, str], predicted: dict[str, str]) -> dict[str, float]:
    """Pairwise precision/recall/F1 of a clustering, from the contingency table (no pair loop)."""
    both = Counter((truth[a], predicted[a]) for a in truth)
    tp = sum(comb(n, 2) for n in both.values())
    pred = sum(comb(n, 2) for n in Counter(predicted[a] for a in truth).values())
    true = sum(comb(n, 2) for n in Counter(truth.values()).values())
    p = tp / pred if pred else 1.0
    r = tp / true if true else 1.0
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
    }


def open_fresh(path) -> Store:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return Store.open(str(path))


def quality(n_ads: int) -> dict[str, object]:
    corpus = ensure_corpus(n_ads)
    db = corpus / "link.db"
    store = open_fresh(db)
    settings = Settings.from_env(db=str(db))
    ingest_paths([corpus / "ads.jsonl"], store, settings, progress=False)
    t = time.perf_counter()
    summary = rebuild(store, settings)
    link_s = time.perf_counter() - t
    truth = {}
    with (corpus / "truth.jsonl").open() as f:
        for line in f:
            row = json.loads(line)
            truth[row["id"]] = row["network"]
    predicted = {}
    for net in iter_networks(store, min_size=1):
        for ad_id in net["ads"]:
            predicted[ad_id] = net["id"]
    missing = [a for a in truth if a not in predicted]
    for a in missing:
        predicted[a] = "missing:" + a
    return {
        "ads": n_ads,
        "link_seconds": round(link_s, 1),
        "hubs": summary.hubs,
        "templates": summary.templates_new,
        "photo_links": summary.photo_links,
        "networks_true": len(set(truth.values())),
        "networks_found": len(set(predicted.values())),
        **pairwise(truth, predicted),
    }


def scale(n_ads: int) -> dict[str, object]:
    corpus = ensure_corpus(n_ads)
    db = corpus / "bench.db"
    if not db.exists():
        store = open_fresh(db)
        ingest_paths([corpus / "ads.jsonl"], store, Settings.from_env(db=str(db)), progress=False)
    return timed_rebuild(str(db))


def timed_rebuild(db: str) -> dict[str, object]:
    """Time and peak memory of a full rebuild of an already ingested database."""
    store = Store.open(db)
    with store.engine.connect() as conn:
        n_ads = conn.scalar(sa.select(sa.func.count()).select_from(ads))
    before = peak_rss_mb()
    load = os.getloadavg()[0]  # the machine is shared: busy neighbours stretch wall time
    t, cpu = time.perf_counter(), time.process_time()
    summary = rebuild(store, Settings.from_env(db=db))
    return {
        "db": db,
        "ads": n_ads,
        "rebuild_seconds": round(time.perf_counter() - t, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "load_average_before": round(load, 2),
        "peak_rss_mb": round(peak_rss_mb()),
        "rss_before_mb": round(before),
        "networks_changed": summary.networks_changed,
        "templates": summary.templates_new,
        "hubs": summary.hubs,
        "photo_links": summary.photo_links,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ads", type=int, default=100_000)
    ap.add_argument("--scale-ads", type=int, default=0)
    ap.add_argument("--db", help="time a rebuild of this ingested database (it is relinked)")
    args = ap.parse_args()
    if args.db:
        report("link_scale_db", timed_rebuild(args.db))
    elif args.scale_ads:
        report("link_scale", scale(args.scale_ads))
    else:
        report("link_quality", quality(args.ads))


if __name__ == "__main__":
    main()
