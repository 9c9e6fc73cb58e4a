"""Page and API latency on a large database from a bounded loopback load (issue 5).

Serves the app with uvicorn on 127.0.0.1 over an existing database (by default the 1M-ad
database that bench_ingest.py + bench_link.py leave under bench/out/), then runs a fixed
number of requests per endpoint from a few concurrent clients and prints p50/p95 per endpoint.
Target: p95 < 300 ms. Only loopback; the number of requests and the time are bounded.

    python bench/bench_web.py --db bench/out/corpus-1000000-1/bench.db --clients 4 --requests 40
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import sqlalchemy as sa
import uvicorn

from _common import OUT, percentiles, report
from safelight.cases.users import add_user, create_token, get_user
from safelight.settings import Settings
from safelight.store import Store
from safelight.triage.queue import refresh_scores
from safelight.web.app import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=str(OUT / "corpus-1000000-1" / "bench.db"))
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=40, help="per endpoint")
    ap.add_argument("--time-limit", type=float, default=600.0)
    args = ap.parse_args()

    settings = Settings.from_env(db=args.db)
    store = Store.open(args.db)
    if get_user(store, "bench") is None:
        add_user(store, "bench", "analyst", secrets.token_urlsafe(16))
    token = create_token(store, "bench", "bench_web")
    t = time.perf_counter()
    scored = refresh_scores(store)  # score every network once, before the clock starts
    print(f"  scored {scored} networks in {time.perf_counter() - t:.1f}s")
    with store.engine.connect() as conn:
        n_ads = conn.scalar(sa.text("SELECT count(*) FROM ads"))
        ad_ids = list(conn.scalars(sa.text("SELECT id FROM ads ORDER BY random() LIMIT 200")))
        nets = list(
            conn.scalars(
                sa.text("SELECT id FROM networks WHERE size > 1 ORDER BY score DESC LIMIT 100")
            )
        )
        phones = list(
            conn.scalars(sa.text("SELECT value FROM mentions WHERE kind = 'phone' LIMIT 2000"))
        )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, store), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(5)
    words = ["sweet", "discreet", "visiting", "friendly", "weekend", "available", "downtown"]
    endpoints = {
        "GET / (triage page)": lambda: "/",
        "GET /api/triage": lambda: "/api/triage?limit=20",
        "GET /search": lambda: f"/search?q={rng.choice(words)}",
        "GET /api/search": lambda: f"/api/search?q={rng.choice(words)}+{rng.choice(words)}",
        "GET /api/lookup": lambda: f"/api/lookup?value={rng.choice(phones)[2:]}",
        "GET /ads/{id}": lambda: f"/ads/{rng.choice(ad_ids)}",
        "GET /api/ads/{id}": lambda: f"/api/ads/{rng.choice(ad_ids)}",
        "GET /networks/{id}": lambda: f"/networks/{rng.choice(nets)}",
        "GET /api/networks/{id}": lambda: f"/api/networks/{rng.choice(nets)}",
    }
    deadline = time.time() + args.time_limit
    # Latency on a shared 2-core machine depends on what else runs: say how loaded it was.
    figures: dict[str, object] = {
        "ads_in_db": n_ads,
        "clients": args.clients,
        "load_average_before": round(os.getloadavg()[0], 2),
    }
    errors = 0
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for name, make in endpoints.items():
            paths = [make() for _ in range(args.requests)]

            def hit(path: str) -> tuple[float, int]:
                if time.time() > deadline:
                    return 0.0, -1
                t = time.perf_counter()
                r = client.get(path)
                return (time.perf_counter() - t) * 1000, r.status_code

            with ThreadPoolExecutor(args.clients) as pool:
                results = list(pool.map(hit, paths))
            samples = [ms for ms, code in results if code == 200]
            errors += sum(1 for _, code in results if code not in (200, -1))
            figures[name] = percentiles(samples)
    figures["errors"] = errors
    figures["load_average_after"] = round(os.getloadavg()[0], 2)
    server.should_exit = True
    thread.join(timeout=10)
    report("web", figures)


if __name__ == "__main__":
    main()
