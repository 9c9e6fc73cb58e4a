"""Handing freed memory back: harmless wherever it runs, and it does give memory back."""

from __future__ import annotations

import numpy as np

from safelight import heap


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def test_release_free_memory_returns_freed_heap_blocks() -> None:
    if heap._glibc() is None:
        heap.release_free_memory()  # a no-op off glibc
        return
    heap.release_free_memory()
    # 200 arrays of 512 KB: under the 1 MB threshold, so they live in the heap
    arrays = [np.ones(1 << 16) for _ in range(200)]
    after = [np.ones(10) for _ in range(1000)]  # allocated later: glibc keeps the freed blocks
    held = _rss_mb()
    del arrays
    heap.release_free_memory()
    assert _rss_mb() < held - 50
    del after
