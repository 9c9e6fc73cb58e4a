"""Does the queue put the right networks first? Measured on generated corpora with planted truth.

Targets (issue 4): ≥ 0.9 of the top 10 are youth-cue networks, ≥ 0.9 of the top 20 are
organised networks, and harmless look-alikes ("young at heart", "petite sizes", "new in town
for a conference") never reach the top 20. Also prints score distributions by site and region
so that skew is visible.

    python bench/bench_triage.py --ads 20000 --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter, defaultdict

from _common import ensure_corpus, report
from safelight.ingest.pipeline import ingest_paths
from safelight.link.incremental import link_new
from safelight.link.networks import iter_networks
from safelight.settings import Settings
from safelight.store import Store
from safelight.triage.queue import refresh_scores, triage


def run(n_ads: int, seed: int) -> dict[str, object]:
    corpus = ensure_corpus(n_ads, seed)
    db = corpus / "triage.db"
    for suffix in ("", "-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    store = Store.open(str(db))
    settings = Settings.from_env(db=str(db))
    ingest_paths([corpus / "ads.jsonl"], store, settings, progress=False)
    link_new(store, settings)
    refresh_scores(store)
    truth = {}
    with (corpus / "truth.jsonl").open() as f:
        for line in f:
            row = json.loads(line)
            truth[row["id"]] = row
    top = triage(store, limit=20)

    def majority(ads: list[str]) -> dict:
        net = Counter(truth[a]["network"] for a in ads).most_common(1)[0][0]
        return next(truth[a] for a in ads if truth[a]["network"] == net)

    heads = [majority(item["ads"]) for item in top]
    youth10 = sum(1 for t in heads[:10] if t["youth"]) / max(1, min(10, len(heads)))
    organised20 = sum(1 for t in heads if t["kind"] == "organised") / max(1, len(heads))
    lookalikes = sum(1 for item in top if any(truth[a]["lookalike"] for a in item["ads"]))

    by_site: dict[str, list[float]] = defaultdict(list)
    by_region: dict[str, list[float]] = defaultdict(list)
    for net in iter_networks(store, min_size=1):
        for site in net["sites"][:1]:
            by_site[site].append(net["score"])
        for place in net["places"][:1]:
            by_region[place.rsplit(", ", 1)[-1]].append(net["score"])

    def dist(groups: dict[str, list[float]]) -> dict[str, str]:
        return {
            k: f"n={len(v)} median={statistics.median(v):.2f} p90={sorted(v)[int(len(v) * 0.9)]:.2f}"
            for k, v in sorted(groups.items())
            if len(v) >= 5
        }

    return {
        "ads": n_ads,
        "seed": seed,
        "youth_share_top10": round(youth10, 2),
        "organised_share_top20": round(organised20, 2),
        "lookalikes_in_top20": lookalikes,
        "top5": [f"{it['network']} {it['score']:.2f} {it['reasons'][:1]}" for it in top[:5]],
        "score_by_site": dist(by_site),
        "score_by_state": dist(by_region),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ads", type=int, default=20_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = ap.parse_args()
    for seed in args.seeds:
        report(f"triage_seed{seed}", run(args.ads, seed))


if __name__ == "__main__":
    main()
