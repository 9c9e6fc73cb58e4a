"""Template assignment for many ads at once, with the result of taking them one by one.

The rule (docs/linking.md): ads are taken in ad order; each joins the template whose leader
(first ad) is the most similar of the leaders it shares an LSH band with, if at least
`threshold` similar (ties: the older leader), or else starts a template and becomes a
leader. One ad at a time that is a Python loop with a dict look-up per band and a numpy
call per candidate: ~45 s of CPU for a million ads. Here ads go a block at a time:

- each ad of the block is compared with the earlier blocks' leaders it shares a band with,
  in one vectorised pass;
- inside the block, rounds decide ads as soon as nothing earlier can change their fate:
  an ad joins once some leader already decided is similar enough (joining does not depend
  on which leader); it starts a template once no *undecided* earlier ad sharing a band
  with it is similar enough, since only such an ad, by becoming a leader, could make it
  join. Each round decides at least the first undecided ad; in practice a block takes 5-10;
- each new leader is compared with every later ad sharing a band with it, so that every
  member ends with its best leader as in the one-by-one order.
"""

from __future__ import annotations

import numpy as np

from safelight.link import template as tpl
from safelight.link.arrays import ranges, run_starts, unique_pairs

# Smaller blocks and steps cost no time (fewer cache misses) and bound a 1M-ad rebuild's
# template step at ~350 MB over its start (~630 MB with 200,000 and 1 << 18).
BLOCK = 100_000  # ads per block: ~30 MB of signatures and band tables
_PAIRS = 1 << 16  # signature pairs compared per numpy step (~35 MB gathered)
_CHECK_BUDGET = 4_000_000  # pairs a round may spend proving that an ad is not blocked

UNDECIDED, LEADER, MEMBER = 0, 1, 2


def join_count(threshold: float) -> int:
    """Fewest equal MinHash values (of NUM_PERM) that join a template: a similarity above
    0 and at least `threshold`."""
    return next((c for c in range(1, tpl.NUM_PERM + 1) if c / tpl.NUM_PERM >= threshold), 10**9)


def agreement(
    sigs_a: np.ndarray, rows_a: np.ndarray, sigs_b: np.ndarray, rows_b: np.ndarray
) -> np.ndarray:
    """Equal MinHash values of each signature pair (similarity × NUM_PERM), in bounded steps."""
    out = np.empty(len(rows_a), dtype=np.int64)
    for s in range(0, len(rows_a), _PAIRS):
        a = sigs_a[rows_a[s : s + _PAIRS]]
        b = sigs_b[rows_b[s : s + _PAIRS]]
        out[s : s + _PAIRS] = np.count_nonzero(a == b, axis=1)
    return out


class LeaderIndex:
    """Leaders so far: their band keys (sorted, with the leader's row) and signatures."""

    def __init__(self, band_keys: np.ndarray, band_leaders: np.ndarray, sigs: dict[int, bytes]):
        self.pks = np.asarray(sorted(sigs), dtype=np.int64)
        raw = b"".join(sigs[pk] for pk in self.pks.tolist())
        self.sigs = np.frombuffer(raw, dtype=np.uint32).reshape(len(self.pks), tpl.NUM_PERM)
        known = np.isin(band_leaders, self.pks)  # a leader purged since: no template left
        rows = np.searchsorted(self.pks, band_leaders[known])
        order = np.argsort(band_keys[known])
        self.keys, self.rows = np.asarray(band_keys[known], np.int64)[order], rows[order]

    def add(self, pks: np.ndarray, sigs: np.ndarray, keys: np.ndarray) -> None:
        """New leaders (ad keys above every present one), with their (n, BANDS) band keys."""
        rows = np.repeat(np.arange(len(self.pks), len(self.pks) + len(pks)), keys.shape[1])
        self.pks = np.concatenate([self.pks, pks])
        self.sigs = np.concatenate([self.sigs, sigs])
        flat = keys.ravel()
        order = np.argsort(flat)  # merged into the sorted table, not sorted with it again
        at = np.searchsorted(self.keys, flat[order])
        self.keys = np.insert(self.keys, at, flat[order])
        self.rows = np.insert(self.rows, at, rows[order])

    def candidates(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ad, leader row) pairs sharing a band, ads numbered by the rows of `keys`."""
        flat = keys.ravel()
        order = np.argsort(flat)  # sorted probes walk the table in order: ~10x faster
        lo, n = np.empty(len(flat), np.int64), np.empty(len(flat), np.int64)
        lo[order] = np.searchsorted(self.keys, flat[order], side="left")
        n[order] = np.searchsorted(self.keys, flat[order], side="right") - lo[order]
        ad = np.repeat(np.arange(len(flat), dtype=np.int64) // keys.shape[1], n)
        return unique_pairs(ad, self.rows[ranges(lo, n)], max(len(self.pks), 1))


class _Best:
    """Each ad's best leader so far: most equal values, then the smaller ad key."""

    def __init__(self, m: int) -> None:
        self.count = np.zeros(m, dtype=np.int64)
        self.leader = np.full(m, np.iinfo(np.int64).max, dtype=np.int64)

    def offer(self, ad: np.ndarray, leader: np.ndarray, count: np.ndarray) -> None:
        keep = count > 0  # one by one, a leader with nothing in common is never chosen
        ad, leader, count = ad[keep], leader[keep], count[keep]
        order = np.lexsort((leader, -count, ad))
        ad, leader, count = ad[order], leader[order], count[order]
        first = run_starts(ad)
        ad, leader, count = ad[first], leader[first], count[first]
        better = (count > self.count[ad]) | ((count == self.count[ad]) & (leader < self.leader[ad]))
        self.count[ad[better]] = count[better]
        self.leader[ad[better]] = leader[better]


class _Bands:
    """The block's (band key, ad) entries sorted by key then ad: ads sharing a band are one
    run ("group"), earlier ads first."""

    def __init__(self, keys: np.ndarray) -> None:
        flat = keys.ravel()  # ad by ad, so a stable sort keeps ads ascending within a key
        order = np.argsort(flat, kind="stable")
        self.ad = order // keys.shape[1]
        self.group = np.cumsum(run_starts(flat[order])) - 1
        ends = np.flatnonzero(np.diff(self.group)) + 1
        self.group_end = np.append(ends, len(flat))  # end position of each group

    def later(self, entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ad of entry, later ad) for every later entry of each given entry's group."""
        n = self.group_end[self.group[entries]] - entries - 1
        return np.repeat(self.ad[entries], n), self.ad[ranges(entries + 1, n)]


def assign_block(
    index: LeaderIndex, pks: np.ndarray, sigs: np.ndarray, keys: np.ndarray, need: int
) -> tuple[np.ndarray, np.ndarray]:
    """(leader ad key, equal values) of each ad of a block in ad order; a new leader gets
    itself and NUM_PERM. Adds the block's new leaders to `index`."""
    m = len(pks)
    best = _Best(m)
    ad, row = index.candidates(keys)
    best.offer(ad, index.pks[row], agreement(sigs, ad, index.sigs, row))
    bands = _Bands(keys)
    status = np.zeros(m, dtype=np.int8)
    live = np.arange(len(bands.ad))  # entries of undecided ads
    undecided = np.arange(m)
    while len(undecided):
        status[undecided[best.count[undecided] >= need]] = MEMBER
        live = live[status[bands.ad[live]] == UNDECIDED]
        undecided = undecided[status[undecided] == UNDECIDED]
        blocked = _blocked(bands, live, sigs, need, m)
        new = undecided[~blocked[undecided]]
        status[new] = LEADER
        starts = live[status[bands.ad[live]] == LEADER]
        live = live[status[bands.ad[live]] == UNDECIDED]
        undecided = undecided[status[undecided] == UNDECIDED]
        a, b = bands.later(starts)
        a, b = unique_pairs(a, b, m)
        keep = status[b] != LEADER
        a, b = a[keep], b[keep]
        best.offer(b, pks[a], agreement(sigs, a, sigs, b))
    leaders = status == LEADER
    index.add(pks[leaders], sigs[leaders], keys[leaders])
    return np.where(leaders, pks, best.leader), np.where(leaders, tpl.NUM_PERM, best.count)


def _blocked(bands: _Bands, live: np.ndarray, sigs: np.ndarray, need: int, m: int) -> np.ndarray:
    """Ads that an undecided earlier ad sharing a band may still make join (it is similar
    enough): they must wait. `live` holds the entries of the undecided ads."""
    blocked = np.zeros(m, dtype=bool)
    group = bands.group[live]
    first = run_starts(group)
    head = np.maximum.accumulate(np.where(first, np.arange(len(live)), 0))
    later = np.flatnonzero(~first)
    # The first undecided ad of the group: in a family of copies, that is the one.
    a, b = unique_pairs(bands.ad[live[head[later]]], bands.ad[live[later]], m)
    blocked[b[agreement(sigs, a, sigs, b) >= need]] = True
    # Otherwise every earlier undecided ad of the group, within a budget; beyond it an ad
    # just waits for a later round, which is always safe.
    rest = later[~blocked[bands.ad[live[later]]]]
    n = rest - head[rest] - 1
    over = np.cumsum(n) > _CHECK_BUDGET
    blocked[bands.ad[live[rest[over]]]] = True
    rest, n = rest[~over], n[~over]
    a, b = unique_pairs(
        bands.ad[live[ranges(head[rest] + 1, n)]], np.repeat(bands.ad[live[rest]], n), m
    )
    blocked[b[agreement(sigs, a, sigs, b) >= need]] = True
    return blocked
