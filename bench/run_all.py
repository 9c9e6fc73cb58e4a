"""Run every benchmark in order with the sizes the issues ask for; each prints its figures.

python bench/run_all.py            # full sizes (about an hour on 2 cores)
python bench/run_all.py --quick    # small sizes, a few minutes
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
FULL = [
    ["bench_stages.py"],
    ["bench_hostile.py"],
    ["bench_extract.py", "--ads", "20000"],
    ["bench_ingest.py", "--ads", "1000000"],
    ["bench_link.py", "--ads", "100000"],
    ["bench_link.py", "--scale-ads", "1000000"],
    ["bench_triage.py", "--ads", "20000", "--seeds", "1", "2", "3"],
    ["bench_web.py"],
    ["bench_photos.py"],
    ["bench_load.py"],
]
QUICK = [
    ["bench_hostile.py", "--chars", "50000"],
    ["bench_extract.py", "--ads", "2000"],
    ["bench_ingest.py", "--ads", "20000"],
    ["bench_link.py", "--ads", "20000"],
    ["bench_triage.py", "--ads", "10000", "--seeds", "1"],
    ["bench_photos.py", "--quick"],
    ["bench_load.py", "--quick"],
]


def main() -> int:
    plan = QUICK if "--quick" in sys.argv else FULL
    status = 0
    for cmd in plan:
        if not (HERE / cmd[0]).exists():
            print(f"== {cmd[0]}: not present, skipped")
            continue
        print(f"\n$ python bench/{' '.join(cmd)}", flush=True)
        status |= subprocess.call([sys.executable, str(HERE / cmd[0]), *cmd[1:]], cwd=HERE)
    return status


if __name__ == "__main__":
    sys.exit(main())
