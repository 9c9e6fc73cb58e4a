"""Full extraction against phonenumbers.PhoneNumberMatcher alone, on the same generated texts.

Target (issue 2): full extraction (every extractor) no slower than PhoneNumberMatcher alone.
It also counts how many of the planted phones each finds (PhoneNumberMatcher misses the
disguised ones by design).

    python bench/bench_extract.py --ads 20000
"""

from __future__ import annotations

import argparse
import itertools
import time

import phonenumbers

from _common import report
from safelight.extract import extract_text, warm_up
from safelight.generate import generate
from safelight.records import ad_text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ads", type=int, default=20_000)
    args = ap.parse_args()
    pairs = list(itertools.islice(generate(args.ads, seed=3), args.ads))
    texts = [ad_text(str(ad.get("title") or ""), str(ad.get("body") or "")) for ad, _ in pairs]
    truth = [set(t["phones"]) for _, t in pairs]

    warm_up()  # gazetteers and tables load once per process; not part of the per-ad cost
    list(phonenumbers.PhoneNumberMatcher("warm up 713-555-0142", "US"))
    t = time.perf_counter()
    ours = [extract_text(text) for text in texts]
    ours_s = time.perf_counter() - t
    t = time.perf_counter()
    theirs = [
        {
            phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
            for m in phonenumbers.PhoneNumberMatcher(text, "US")
        }
        for text in texts
    ]
    theirs_s = time.perf_counter() - t

    planted = sum(len(s) for s in truth)
    ours_found = sum(
        len(s & {m.value for m in o["phones"]}) for s, o in zip(truth, ours, strict=True)
    )
    theirs_found = sum(len(s & th) for s, th in zip(truth, theirs, strict=True))
    report(
        "extract",
        {
            "ads": args.ads,
            "full_extraction_us_per_ad": round(ours_s / args.ads * 1e6, 1),
            "phonenumbermatcher_us_per_ad": round(theirs_s / args.ads * 1e6, 1),
            "speed_ratio_full_vs_matcher": round(theirs_s / ours_s, 2),
            "planted_phones": planted,
            "recall_full_extraction": round(ours_found / planted, 4) if planted else None,
            "recall_phonenumbermatcher": round(theirs_found / planted, 4) if planted else None,
        },
    )


if __name__ == "__main__":
    main()
