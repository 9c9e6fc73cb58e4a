"""Ingest + extract + index of N generated ads, then lookup and search latency on the result.

Targets (issue 2, 2-core machine): ≥ 5,000 ads/s end to end, peak memory < 1 GB whatever the
input size, lookup p95 < 20 ms, search p95 < 100 ms.

    python bench/bench_ingest.py --ads 1000000
    python bench/bench_ingest.py --ads 1000000 --queries-only   # lookups and searches again
    python bench/bench_ingest.py --ads 100000 --postgres   # into a new PostgreSQL database

`--postgres` creates `safelight_bench_<random>` on the server at $SAFELIGHT_TEST_PG (default
postgresql://postgres@127.0.0.1:5432/postgres) and drops it at the end (`--keep` keeps it);
`--postgres-db NAME --queries-only` times lookups and searches again on a kept one.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from pathlib import Path

from _common import (
    ensure_corpus,
    peak_rss_mb,
    percentiles,
    pg_admin,
    pg_url,
    report,
    timed,
)
from safelight.extract.query import selectors_for_query
from safelight.ingest.pipeline import ingest_paths
from safelight.settings import Settings
from safelight.store import Store


def _pg_size_mb(url: str) -> int:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return round(int(row[0]) / 2**20) if row else 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ads", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument(
        "--queries-only",
        action="store_true",
        help="skip the ingest: time lookups and searches on the corpus's existing bench.db",
    )
    ap.add_argument("--postgres", action="store_true", help="into a new PostgreSQL database")
    ap.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    ap.add_argument("--postgres-db", help="an existing (kept) PostgreSQL database, by name")
    args = ap.parse_args()
    if args.postgres_db:
        args.postgres = True
    if args.postgres and args.queries_only and not args.postgres_db:
        ap.error("--queries-only on PostgreSQL needs --postgres-db NAME")

    corpus = ensure_corpus(args.ads)
    if not args.postgres:
        _run(args, corpus, str(corpus / "bench.db"))
        return
    if args.postgres_db:
        _run(args, corpus, pg_url(args.postgres_db))
        return
    name = f"safelight_bench_{uuid.uuid4().hex[:8]}"
    pg_admin(f'CREATE DATABASE "{name}"')
    try:
        _run(args, corpus, pg_url(name))
    finally:
        if args.keep:
            print(f"  kept database {name}")
        else:
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(args: argparse.Namespace, corpus: Path, db: str) -> None:
    settings = Settings.from_env(db=db, workers=args.workers)
    figures: dict[str, object] = {
        "ads": args.ads,
        "backend": "postgresql" if args.postgres else "sqlite",
    }
    if args.queries_only:
        store = Store.open(db)
    else:
        if not args.postgres:
            for suffix in ("", "-wal", "-shm"):
                (corpus / f"bench.db{suffix}").unlink(missing_ok=True)
        store = Store.open(db)
        t = time.perf_counter()
        summary = ingest_paths([corpus / "ads.jsonl"], store, settings, progress=False)
        ingest_s = time.perf_counter() - t
        figures |= {
            "stored": summary.stored,
            "rejected": summary.rejected,
            "ingest_seconds": round(ingest_s, 1),
            "ads_per_second": round(summary.read / ingest_s),
            "peak_rss_mb_main": round(peak_rss_mb()),
            "peak_rss_mb_worker": round(peak_rss_mb(children=True)),
            "db_size_mb": _pg_size_mb(db)
            if args.postgres
            else round(Path(db).stat().st_size / 2**20),
        }

    rng = random.Random(7)
    truth = []
    with (corpus / "truth.jsonl").open() as f:
        for line in f:
            row = json.loads(line)
            if row["phones"]:
                truth.append(row["phones"][0])
            if len(truth) >= 20000:
                break
    phones = rng.sample(truth, min(args.queries, len(truth)))
    lookups = []
    for phone in phones:
        spoken = f"{phone[2:5]} {phone[5:8]} {phone[8:]}"  # typed by the analyst, plain digits
        ms, _ = timed(lambda s=spoken: store.find_mentions(selectors_for_query(s)))
        lookups.append(ms)
    words = [
        "sweet",
        "discreet",
        "visiting",
        "new",
        "friendly",
        "houston",
        "weekend",
        "special",
        "available",
        "professional",
        "appointment",
        "downtown",
    ]
    # As `safelight search` runs it (the newest SAFELIGHT_SEARCH_RANK_WITHIN matches ranked),
    # and with --rank-all (every match ranked), on the same queries.
    queries = [" ".join(rng.sample(words, rng.choice((1, 2)))) for _ in range(args.queries)]
    within = settings.search_rank_within
    searches = [
        timed(lambda q=q: store.search(q, limit=20, rank_within=within))[0] for q in queries
    ]
    ranked_all = [timed(lambda q=q: store.search(q, limit=20))[0] for q in queries]
    figures["lookup_ms"] = percentiles(lookups)
    figures["search_ms"] = percentiles(searches)
    figures["search_rank_within"] = within
    figures["search_rank_all_ms"] = percentiles(ranked_all)
    name = "queries" if args.queries_only else "ingest"
    report(f"{name}-postgres" if args.postgres else name, figures)


if __name__ == "__main__":
    main()
