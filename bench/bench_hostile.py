"""Hostile ads: what one ad built to be slow costs, against an ordinary ad of the same length.

A body is cut at 200,000 characters (`max_body_chars`), so the worst one ad can cost is
what these bodies cost through every per-ad stage (`process_record`: normalise, extract,
score, sign). Each body repeats one short unit aimed at a path that was once quadratic,
or at a regex's backtracking. The figures are CPU seconds per ad and the ratio to a
generated ad's text repeated to the same length: an ad that costs many times its share per
character is what to look at. It prints figures and never asserts.

    python bench/bench_hostile.py [--chars 200000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

from _common import report
from safelight.extract import warm_up
from safelight.generate import generate
from safelight.ingest.sources import RawRecord
from safelight.stages import StageConfig, process_record

# (label, unit repeated to the full length). Found by hand and by a random search over
# repeated tokens; the comments say what each once cost at 200,000 characters.
UNITS = {
    "ones": "1",  # score: letter repeats tried every split of the run (44 s)
    "spaced-ones": "1 ",  # folded into one run of ones (12 s)
    "bang-ones": "!\uff11",  # a phrase may start after each "!" (3 s at 80,000)
    "name-ages": "Jade, 22 ",  # extract: overlaps compared pairwise (12.6 s)
    "look-alikes": "1l!|i",
    "keycaps": "1\ufe0f\u20e3",
    "dollars": "$1",
    "dashed-digits": "5-",
    "number-words": "five ",
    "mixed-phone": "seven 1 three five5five o142 ",
    "at-words": "x at y dot ",
    "places": "Houston, TX ",
    "cues": "ask for ",
    "tags": "<b>x</b>",
    "cells": "<td>1</td>",
    "colon-eights": ":8",
}


def _record(body: str) -> RawRecord:
    ad = {"id": "h", "site": "s", "title": "t", "body": body, "posted_at": "2026-01-01"}
    return RawRecord("hostile.jsonl", 1, ad, json.dumps(ad).encode(), None)


def _cpu_s(rec: RawRecord, cfg: StageConfig) -> float:
    t = time.process_time()
    process_record(rec, cfg)
    return time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chars", type=int, default=200_000)
    args = ap.parse_args()
    n = args.chars
    cfg = StageConfig()
    warm_up()
    ordinary = "\n".join(ad["body"] for ad, _ in itertools.islice(generate(1000, seed=3), 1000))
    base = _cpu_s(_record((ordinary * (n // len(ordinary) + 1))[:n]), cfg)
    figures: dict[str, object] = {"chars": n, "ordinary_s": round(base, 3)}
    worst = ("", 0.0)
    for label, unit in UNITS.items():
        spent = _cpu_s(_record((unit * (n // len(unit) + 1))[:n]), cfg)
        figures[f"{label}_s"] = round(spent, 3)
        if spent > worst[1]:
            worst = (label, spent)
    figures["worst"] = worst[0]
    figures["worst_s"] = round(worst[1], 3)
    figures["worst_vs_ordinary"] = round(worst[1] / base, 1)
    report("hostile", figures)


if __name__ == "__main__":
    main()
