"""Shared helpers for the benchmarks: they print figures, they never assert times."""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("out")
# The PostgreSQL server the PostgreSQL benchmarks create (and drop) their databases on.
PG_ADMIN = os.environ.get("SAFELIGHT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_admin(sql: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on the admin database, outside a transaction."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


def pg_url(name: str) -> str:
    """The URL of database `name` on the PG_ADMIN server."""
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory in MB (ru_maxrss is in KiB on Linux)."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    s = sorted(samples_ms)
    if not s:
        return {"p50": 0.0, "p95": 0.0, "max": 0.0}
    return {
        "p50": round(statistics.median(s), 3),
        "p95": round(s[min(len(s) - 1, int(len(s) * 0.95))], 3),
        "max": round(s[-1], 3),
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    result = fn()
    return (time.perf_counter() - t) * 1000, result


def report(name: str, figures: dict[str, Any]) -> None:
    """Print the figures and keep a copy under bench/out/ for the README."""
    OUT.mkdir(exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
    print(f"== {name}")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    sys.stdout.flush()


def ensure_corpus(n_ads: int, seed: int = 1) -> Path:
    """A generated corpus under bench/out/, made once per size and seed."""
    from safelight.generate import write_corpus

    out = OUT / f"corpus-{n_ads}-{seed}"
    if not (out / "ads.jsonl").exists():
        OUT.mkdir(exist_ok=True)
        t = time.perf_counter()
        write_corpus(out, n_ads, seed=seed)
        print(f"  generated {n_ads} ads in {time.perf_counter() - t:.1f}s")
    return out
