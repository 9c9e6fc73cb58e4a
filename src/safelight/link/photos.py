"""Photo-reuse links: ads whose photos' PDQ hashes are within a Hamming distance.

Each photo is indexed under its PDQ hash and its content variants (border-trimmed, centre
crops); it searches with those plus its mirror/rotation variants (see extract/photos.py). The
index (link/photo_index.py) finds every pair within the threshold exactly. A rebuild over
many photos uses the index's bulk pair join, which above EXACT_LIMIT hashes probes one bit
fewer per chunk (exact up to distance 15, ~99% recall to 31; measured in bench_photos.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
import sqlalchemy as sa

from safelight.link.photo_index import PhotoIndex, hex_to_codes
from safelight.settings import Settings
from safelight.store.bulk import insert_rows
from safelight.store.schema import links, photos

EXACT_LIMIT = 300_000


def _load(conn: sa.Connection) -> list[tuple[int, list[str], list[str]]]:
    q = sa.select(photos.c.ad_pk, photos.c.index_hashes, photos.c.query_hashes).where(
        photos.c.low_quality == sa.false(), photos.c.pdq != ""
    )
    return [(pk, json.loads(i), json.loads(qh)) for pk, i, qh in conn.execute(q)]


def _index(rows: Iterable[tuple[int, list[str], list[str]]]) -> PhotoIndex:
    ids: list[int] = []
    hashes: list[str] = []
    for pk, index_hashes, _ in rows:
        ids.extend([pk] * len(index_hashes))
        hashes.extend(index_hashes)
    index = PhotoIndex()
    if hashes:
        index.add(np.asarray(ids, dtype=np.int64), hashes)
    return index


def _search(
    index: PhotoIndex, queries: list[tuple[int, str]], max_distance: int
) -> list[tuple[int, int, int]]:
    if not queries or len(index) == 0:
        return []
    codes = hex_to_codes([h for _, h in queries])
    rows, ids, dist = index.search_arrays(codes, max_distance)
    return [(queries[int(r)][0], int(i), int(d)) for r, i, d in zip(rows, ids, dist, strict=True)]


def link_photos(conn: sa.Connection, watermark: int, settings: Settings) -> int:
    """Store one photo link per pair of ads, new ad involved, at its smallest distance."""
    rows = _load(conn)
    new = [r for r in rows if r[0] > watermark]
    if not new:
        return 0
    d = settings.photo_distance
    found: list[tuple[int, int, int]] = []
    if watermark == 0:
        index = _index(rows)
        n_hashes = len(index)
        pairs = index.pairs_within(d, exact=n_hashes <= EXACT_LIMIT)
        found.extend((int(a), int(b), int(dist)) for a, b, dist in pairs)
        found.extend(_search(index, [(pk, h) for pk, _, q in rows for h in q], d))
    else:
        index = _index(rows)
        found.extend(_search(index, [(pk, h) for pk, i, q in new for h in i + q], d))
        # older photos' search-only variants (mirrors...) against the new photos
        found.extend(
            _search(_index(new), [(pk, h) for pk, _, q in rows if pk <= watermark for h in q], d)
        )
    best: dict[tuple[int, int], int] = {}
    for a, b, dist in found:
        if a == b:
            continue
        key = (min(a, b), max(a, b))
        if key[1] <= watermark:
            continue
        if dist < best.get(key, 10**9):
            best[key] = dist
    kept = _spanning(conn, best)
    insert_rows(
        conn,
        links,
        ("ad_a", "ad_b", "kind", "evidence"),
        [(a, b, "photo", json.dumps({"distance": d})) for a, b, d in kept],
    )
    return len(kept)


def _spanning(conn: sa.Connection, best: dict[tuple[int, int], int]) -> list[tuple[int, int, int]]:
    """The links that join photo groups not joined yet, closest first: a spanning forest.

    Reused photos make every ad of a network near every other (n² pairs); the forest keeps
    the same connected groups with one link per ad, each still carrying its own distance."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    for a, b in conn.execute(sa.select(links.c.ad_a, links.c.ad_b).where(links.c.kind == "photo")):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    kept = []
    for (a, b), d in sorted(best.items(), key=lambda kv: (kv[0][1], kv[1], kv[0][0])):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
            kept.append((a, b, d))
    return kept
