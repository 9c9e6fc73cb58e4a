"""Photo-reuse links: ads whose photos' PDQ hashes are within a Hamming distance.

Candidates come from FAISS's multi-index hashing (IndexBinaryMultiHash): the 256 bits are cut
into 16 chunks of 16 bits and each chunk is probed with up to one flipped bit. By the pigeonhole
principle two hashes within distance 31 agree on some chunk up to one bit, so every pair within
the default threshold is found (exact recall, not a sample); FAISS then verifies the distance.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa

from safelight.settings import Settings
from safelight.store.schema import links, mentions

NHASH = 16  # chunks; with NFLIP = 1, recall is exact up to distance 2 * NHASH - 1 = 31
NFLIP = 1


def pdq_bytes(hexes: Sequence[str]) -> np.ndarray:
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8).reshape(len(hexes), 32)


def near_pairs(
    base: Sequence[str], queries: Sequence[str], max_distance: int
) -> list[tuple[int, int, int]]:
    """(query index, base index, distance) for every base hash within max_distance of a query."""
    import faiss

    if not base or not queries:
        return []
    nflip = NFLIP if max_distance <= 2 * NHASH - 1 else 2
    index = faiss.IndexBinaryMultiHash(256, NHASH, 256 // NHASH)
    index.nflip = nflip
    index.add(pdq_bytes(base))
    lims, dist, ids = index.range_search(pdq_bytes(queries), max_distance + 1)
    out = []
    for q in range(len(queries)):
        for j in range(lims[q], lims[q + 1]):
            out.append((q, int(ids[j]), int(dist[j])))
    return out


def link_photos(conn: sa.Connection, watermark: int, settings: Settings) -> int:
    """Store a photo link for every new ad whose photo is near one of another ad; returns count."""
    rows = conn.execute(
        sa.select(mentions.c.ad_pk, mentions.c.value)
        .where(mentions.c.kind == "photo", mentions.c.value.like("pdq:%"))
        .order_by(mentions.c.ad_pk)
    ).all()
    if not rows:
        return 0
    pks = [pk for pk, _ in rows]
    hexes = [v[4:] for _, v in rows]
    new_idx = [i for i, pk in enumerate(pks) if pk > watermark]
    if not new_idx:
        return 0
    best: dict[tuple[int, int], tuple[int, str, str]] = {}
    for q, b, d in near_pairs(hexes, [hexes[i] for i in new_idx], settings.photo_distance):
        a_pk, b_pk = pks[new_idx[q]], pks[b]
        if a_pk == b_pk:
            continue
        key = (min(a_pk, b_pk), max(a_pk, b_pk))
        prev = best.get(key)
        if prev is None or d < prev[0]:
            ha, hb = (
                (hexes[new_idx[q]], hexes[b]) if a_pk == key[0] else (hexes[b], hexes[new_idx[q]])
            )
            best[key] = (d, ha, hb)
    if not best:
        return 0
    conn.execute(
        sa.insert(links),
        [
            {
                "ad_a": a,
                "ad_b": b,
                "kind": "photo",
                "evidence": json.dumps({"distance": d, "pdq_a": ha, "pdq_b": hb}),
            }
            for (a, b), (d, ha, hb) in sorted(best.items())
        ],
    )
    return len(best)
