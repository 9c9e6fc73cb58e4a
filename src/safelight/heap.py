"""Freed memory handed back to the operating system between the big steps of a run.

glibc keeps the memory of freed numpy arrays for reuse instead of returning it: after photo
linking at 1M ads a process held 860 MB of which 240 MB was live, and the next step's
arrays came on top, so a full link peaked at 1.2 GB. `malloc_trim` returns what is free.
glibc also raises its threshold for giving a block its own mapping each time it frees a
large one (up to 32 MB), so a step's temporaries pile up in the heap as it runs: a fixed
1 MB threshold returns them as they go, at no cost measured (bench_link.py, 1M ads).
"""

from __future__ import annotations

import ctypes
import functools

_M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
BIG_BLOCK_BYTES = 1 << 20


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)  # the C library this process already has loaded
        libc.malloc_trim, libc.mallopt  # noqa: B018 - glibc only
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS): nothing to do
        return None
    return libc


def release_free_memory() -> None:
    """Return freed heap memory to the system, and from now on give blocks of 1 MB and more
    their own mapping, returned when freed (glibc; elsewhere a no-op). Milliseconds."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, BIG_BLOCK_BYTES)
        libc.malloc_trim(0)
