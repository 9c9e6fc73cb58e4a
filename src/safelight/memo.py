"""Memos keyed by short strings only.

The extractors memoise per word (ads share most of their words), but a hostile ad's "word"
can be 200,000 characters long, and a memo of thousands of entries keyed by such words
would hold gigabytes. Longer keys are computed afresh each time: they are rare, and their
cost is linear in their length anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from typing import TypeVar

T = TypeVar("T")

# Longer keys are never kept: words and word pieces of real ads are far shorter.
MAX_KEY_CHARS = 64


def short_key_cache(maxsize: int) -> Callable[[Callable[[str], T]], Callable[[str], T]]:
    """`functools.lru_cache(maxsize)` for a function of one string, skipping long strings."""

    def decorate(fn: Callable[[str], T]) -> Callable[[str], T]:
        cached = lru_cache(maxsize=maxsize)(fn)

        @wraps(fn)
        def call(key: str) -> T:
            return cached(key) if len(key) <= MAX_KEY_CHARS else fn(key)

        call.cache_info = cached.cache_info  # type: ignore[attr-defined]
        call.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        return call

    return decorate
