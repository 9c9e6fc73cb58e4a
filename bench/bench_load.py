"""Load test: many analysts using the web app while a large ingest runs, on PostgreSQL.

What it does, all on loopback (127.0.0.1) only:

1. creates a database `safelight_load_<random>` on the PostgreSQL server at
   $SAFELIGHT_TEST_PG (default postgresql://postgres@127.0.0.1:5432/postgres) and drops it at
   the end, whatever happens;
2. generates `--ads` synthetic ads (default 100,000; `safelight.generate.write_corpus`, kept
   under bench/out/ for reuse) and creates `--analysts` analyst accounts with API tokens;
3. starts the app with uvicorn (`safelight serve`) on a free port, and `safelight ingest` of
   the whole corpus in another process, both against that database;
4. once the first ads are visible, runs the simulated analysts concurrently (threads, httpx):
   each loops over triage (page and API), search, selector lookup, an ad, a network, until the
   ingest ends, its `--requests` cap is reached, or `--time-limit` passes. Between requests an
   analyst reads the answer for `--think` seconds (default 0.5-3 s, uniform); `--think 0,0.05`
   turns the same analysts into a stress test that never reads;
5. reports requests, errors (expected 0), p50/p95/max latency per endpoint and overall (the
   target is p95 < 500 ms), the ingest's throughput while under load, and whether the database
   afterwards holds exactly the generated ads (count, distinct ids and distinct raw_sha256:
   nothing lost, nothing duplicated).

Figures are printed and kept in bench/out/load.json; nothing is asserted.

    python bench/bench_load.py            # 100,000 ads, 20 analysts
    python bench/bench_load.py --quick    # 5,000 ads, 5 analysts: a check that it works
    python bench/bench_load.py --think 0,0.05   # the same with analysts that never pause
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ensure_corpus, percentiles, pg_admin, pg_url, report

PHONE = re.compile(r"\b\d{3}-555-01\d\d\b")
WORDS = ["sweet", "visiting", "new in town", "companionship", "discreet", "available", "today"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _samples(corpus: Path, n: int = 2000) -> tuple[list[str], list[str]]:
    """Phones and place names from the first ads, for lookups and searches that find things."""
    phones: set[str] = set()
    places: set[str] = set()
    with (corpus / "ads.jsonl").open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= n:
                break
            ad = json.loads(line)
            phones.update(PHONE.findall(ad.get("body", "")))
            if ad.get("location"):
                places.add(ad["location"].split(",")[0])
    return sorted(phones) or ["713-555-0142"], sorted(places) or ["Houston"]


def _make_users(url: str, n: int) -> list[str]:
    from argon2 import PasswordHasher

    from safelight.cases import users
    from safelight.store import Store

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # accounts only log in
    users._hasher = lambda: cheap  # type: ignore[assignment]  # by token here
    store = Store.open(url)
    try:
        tokens = []
        for i in range(n):
            users.add_user(store, f"analyst{i:02d}", "analyst", uuid.uuid4().hex)
            tokens.append(users.create_token(store, f"analyst{i:02d}", "load test"))
        return tokens
    finally:
        store.close()


class Analyst(threading.Thread):
    """One simulated analyst: a fixed mix of reading requests, each timed end to end."""

    def __init__(
        self,
        n: int,
        base: str,
        token: str,
        phones: list[str],
        places: list[str],
        cap: int,
        stop: threading.Event,
        think: tuple[float, float] = (0.0, 0.05),
    ) -> None:
        super().__init__(daemon=True)
        self.rng = random.Random(n)
        self.base, self.token, self.phones, self.places = base, token, phones, places
        self.cap, self.stop, self.think = cap, stop, think
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.ad_ids: list[str] = []
        self.net_ids: list[str] = []

    def _get(self, client: Any, endpoint: str, path: str) -> Any:
        t = time.perf_counter()
        try:
            r = client.get(path)
            ok = r.status_code == 200
        except Exception as exc:  # a refused or dropped connection is an error, not a crash
            self.errors.append(f"{endpoint}: {type(exc).__name__}: {exc}")
            return None
        finally:
            self.latency[endpoint].append((time.perf_counter() - t) * 1000)
        if not ok:
            self.errors.append(f"{endpoint} {path[:80]}: HTTP {r.status_code}")
            return None
        return r

    def run(self) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=60) as c:
            done = 0
            while done < self.cap and not self.stop.is_set():
                step = done % 6
                if step == 0:
                    r = self._get(c, "triage_api", "/api/triage?limit=50")
                    if r is not None:
                        items = r.json()["items"]
                        self.net_ids = [i["network"] for i in items if i.get("network")][:20]
                elif step == 1:
                    q = self.rng.choice(WORDS) + " " + self.rng.choice(self.places)
                    r = self._get(c, "search", f"/api/search?q={quote(q)}&limit=20")
                    if r is not None:
                        self.ad_ids = [a["id"] for a in r.json()["ads"]][:20] or self.ad_ids
                elif step == 2:
                    phone = self.rng.choice(self.phones)
                    self._get(c, "lookup", f"/api/lookup?value={quote(phone)}&limit=200")
                elif step == 3 and self.ad_ids:
                    ad = self.rng.choice(self.ad_ids)
                    self._get(c, "ad", f"/api/ads/{quote(ad, safe='')}")
                elif step == 4 and self.net_ids:
                    net = self.rng.choice(self.net_ids)
                    self._get(c, "network", f"/api/networks/{quote(str(net), safe='')}")
                elif step == 4:  # networks exist once the ingest's link step has run
                    r = self._get(c, "networks_list", "/api/networks?limit=20")
                    if r is not None:
                        self.net_ids = [n["id"] for n in r.json()["networks"]]
                elif step == 5:
                    self._get(c, "triage_page", "/")
                done += 1
                time.sleep(self.rng.uniform(*self.think))  # reading the answer


def _count(url: str) -> tuple[int, int, int]:
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT count(*), count(DISTINCT id), count(DISTINCT raw_sha256) FROM ads")
            ).one()
            return int(row[0]), int(row[1]), int(row[2])
    finally:
        engine.dispose()


def _wait_for(fn: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not fn():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.25)


def _http_ok(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ads", type=int, default=100_000, help="ads to generate and ingest")
    ap.add_argument("--analysts", type=int, default=20, help="concurrent simulated analysts")
    ap.add_argument("--requests", type=int, default=2000, help="most requests per analyst")
    ap.add_argument("--time-limit", type=float, default=3600, help="seconds for the whole run")
    ap.add_argument("--quick", action="store_true", help="5,000 ads and 5 analysts")
    ap.add_argument(
        "--think",
        default="0.5,3",
        help="seconds an analyst reads an answer before the next request, as MIN,MAX "
        "(uniform); 0,0.05 is a stress test with no reading at all",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.ads, args.analysts = 5_000, 5
    low, high = (float(x) for x in args.think.split(","))
    think = (low, high)
    py = sys.executable
    corpus = ensure_corpus(args.ads)
    phones, places = _samples(corpus)
    name = "safelight_load_" + uuid.uuid4().hex[:10]
    url = pg_url(name)
    env = {**os.environ, "SAFELIGHT_DB": url}
    pg_admin(f'CREATE DATABASE "{name}"')
    procs: list[subprocess.Popen[bytes]] = []
    try:
        tokens = _make_users(url, args.analysts)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [
                py,
                "-m",
                "safelight",
                "serve",
                "--db",
                url,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
        )
        procs.append(server)
        _wait_for(lambda: _http_ok(base + "/login"), "the server", 60)

        t0 = time.perf_counter()
        ingest = subprocess.Popen(
            [
                py,
                "-m",
                "safelight",
                "ingest",
                str(corpus / "ads.jsonl"),
                "--db",
                url,
                "--json",
                "--no-progress",
            ],
            env=env,
            stdout=subprocess.PIPE,
        )
        procs.append(ingest)
        _wait_for(lambda: ingest.poll() is not None or _count(url)[0] > 0, "the first ads", 600)
        stop = threading.Event()
        analysts = [
            Analyst(i, base, tokens[i], phones, places, args.requests, stop, think)
            for i in range(args.analysts)
        ]
        load_start = time.perf_counter()
        ads_at_start = _count(url)[0]
        for a in analysts:
            a.start()
        deadline = t0 + args.time_limit
        while ingest.poll() is None and time.perf_counter() < deadline:
            if all(not a.is_alive() for a in analysts):
                break
            time.sleep(0.5)
        ingest_out, _ = ingest.communicate(timeout=max(1.0, deadline - time.perf_counter()))
        ingest_s = time.perf_counter() - t0
        load_end = time.perf_counter()
        stop.set()
        for a in analysts:
            a.join(timeout=120)
        n_ads, n_ids, n_sha = _count(url)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    by_endpoint: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    for a in analysts:
        for k, v in a.latency.items():
            by_endpoint[k] += v
        errors += a.errors
    every = [x for v in by_endpoint.values() for x in v]
    summary = json.loads(ingest_out.decode() or "{}") if ingest_out else {}
    load_s = load_end - load_start
    figures: dict[str, Any] = {
        "ads": args.ads,
        "analysts": args.analysts,
        "think_s": list(think),
        "requests": len(every),
        "errors": len(errors),
        "error_samples": errors[:10],
        "requests_per_s": round(len(every) / load_s, 1) if load_s else 0,
        "latency_ms_overall": percentiles(every),
        "latency_ms_by_endpoint": {
            k: {"n": len(v), **percentiles(v)} for k, v in sorted(by_endpoint.items())
        },
        "p95_under_500ms": percentiles(every)["p95"] < 500,
        "ingest_exit": ingest.returncode,
        "ingest_s": round(ingest_s, 1),  # process wall time: start-up, read, link, score
        "ingest_ads_per_s": round(args.ads / ingest_s, 1),
        "ads_visible_when_load_began": ads_at_start,
        "load_overlapped_ingest_s": round(load_s, 1),
        "stored": {"ads": n_ads, "distinct_ids": n_ids, "distinct_raw_sha256": n_sha},
        "exactly_all_ads": n_ads == n_ids == n_sha == args.ads,
        "ingest_summary": {k: v for k, v in summary.items() if not isinstance(v, (dict, list))},
    }
    report("load-quick" if args.quick else "load", figures)
    return figures


if __name__ == "__main__":
    main()
