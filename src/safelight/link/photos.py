"""Photo-reuse links: ads whose photos' PDQ hashes are within a Hamming distance.

Each photo is indexed under its PDQ hash and its content variants (border-trimmed, centre
crops); it searches with those plus its mirror/rotation variants (see extract/photos.py). The
index (link/photo_index.py) finds every pair within the threshold exactly. A rebuild over
many photos uses the index's bulk pair join, which above EXACT_LIMIT hashes probes one bit
fewer per chunk (exact up to distance 15, ~99% recall to 31; measured in bench_photos.py).

An update reads the stored hashes from a snapshot (table photo_snapshot, one blob of arrays)
and only the photo rows of later ads: at 1M ads, reading every row took 4.8 s of an 11 s update.
"""

from __future__ import annotations

import io
import json
import sqlite3
from dataclasses import dataclass
from typing import cast

import numpy as np
import sqlalchemy as sa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from safelight.link.arrays import first_of_each, unique
from safelight.link.photo_index import CODE_BYTES, PhotoIndex, best_per_key, hex_to_codes
from safelight.link.scan import int_rows, stream_rows
from safelight.settings import Settings
from safelight.store.bulk import insert_rows
from safelight.store.schema import links, photo_snapshot, photos

EXACT_LIMIT = 300_000
SNAPSHOT_SLACK = 0.1  # rows past the snapshot, as a share of it, before it is rewritten
_SNAPSHOT_VERSION = 1
# Empty lists come back as NULL: no string to build for the usual empty search-only list.
_PHOTOS = (
    "SELECT ad_pk, NULLIF(index_hashes, '[]'), NULLIF(query_hashes, '[]') FROM photos "
    "WHERE NOT low_quality AND pdq != ''"
)


@dataclass
class _Hashes:
    """Photo hashes as arrays: the ad of each row and its 32-byte code."""

    ids: np.ndarray
    codes: np.ndarray

    def __getitem__(self, mask: np.ndarray) -> _Hashes:
        return _Hashes(self.ids[mask], self.codes[mask])

    @staticmethod
    def concat(parts: list[_Hashes]) -> _Hashes:
        if not parts:
            return _Hashes(np.zeros(0, np.int64), np.zeros((0, CODE_BYTES), np.uint8))
        return _Hashes(
            np.concatenate([p.ids for p in parts]), np.concatenate([p.codes for p in parts])
        )


_ONE = len('[""]') + 2 * CODE_BYTES  # a JSON list of one hex hash


def _hash_lists(texts: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Hashes per row and their codes, from a batch of JSON lists of hex hashes (None: an
    empty list). Batches where every list is empty, or every list holds one hash, decode
    in a few numpy steps: two million rows at 1M ads, too many for a parser call each."""
    n = len(texts)
    if texts.count(None) == n:
        return np.zeros(n, dtype=np.int64), hex_to_codes([])
    if all(t is not None and len(t) == _ONE for t in texts):
        chars = np.frombuffer("".join(texts).encode(), dtype=np.uint8).reshape(n, _ONE)  # type: ignore[arg-type]
        if (chars[:, :2] == np.frombuffer(b'["', np.uint8)).all() and (
            chars[:, -2:] == np.frombuffer(b'"]', np.uint8)
        ).all():
            hexes = chars[:, 2:-2].tobytes().decode()
            return np.ones(n, dtype=np.int64), hex_to_codes(
                [hexes[i : i + 2 * CODE_BYTES] for i in range(0, len(hexes), 2 * CODE_BYTES)]
            )
    lists = [json.loads(t) if t is not None else [] for t in texts]
    counts = np.fromiter(map(len, lists), dtype=np.int64, count=n)
    return counts, hex_to_codes([h for hashes in lists for h in hashes])


def _load(conn: sa.Connection, after: int, upto: int) -> tuple[_Hashes, _Hashes]:
    """Stored (index) and search-only hashes of every usable photo of the ads after..upto,
    decoded batch by batch straight into arrays, so no Python string of a hash outlives its
    batch."""
    stored: list[_Hashes] = []
    search_only: list[_Hashes] = []
    sql = f"{_PHOTOS} AND ad_pk > {int(after)} AND ad_pk <= {int(upto)}"
    for rows in stream_rows(conn, sql):
        pks = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        for col, parts in ((1, stored), (2, search_only)):
            counts, codes = _hash_lists([r[col] for r in rows])
            parts.append(_Hashes(np.repeat(pks, counts), codes))
    return _Hashes.concat(stored), _Hashes.concat(search_only)


def _all_hashes(conn: sa.Connection, upto: int) -> tuple[_Hashes, _Hashes]:
    """Stored and search-only hashes of every usable photo of the ads up to `upto`: the
    snapshot, as long as no photo row it holds has gone since, plus the rows of later ads;
    rewritten once those outgrow a tenth of it."""
    snap = _read_snapshot(conn)
    if snap is None:
        stored, search_only = _load(conn, 0, upto)
        rewrite = True
    else:
        after, old_stored, old_search = snap
        new_stored, new_search = _load(conn, after, upto)
        stored = _Hashes.concat([old_stored, new_stored])
        search_only = _Hashes.concat([old_search, new_search])
        tail = len(new_stored.ids) + len(new_search.ids)
        rewrite = tail > SNAPSHOT_SLACK * (len(old_stored.ids) + len(old_search.ids))
    if rewrite:
        _write_snapshot(conn, upto, stored, search_only)
    return stored, search_only


def _read_snapshot(conn: sa.Connection) -> tuple[int, _Hashes, _Hashes] | None:
    """(upto ad key, stored, search-only) of the snapshot; None if there is none, or if a
    photo row it covers has been deleted since (a purge), or it cannot be read."""
    row = conn.execute(
        sa.select(photo_snapshot.c.upto_pk, photo_snapshot.c.n_rows, photo_snapshot.c.hashes)
    ).first()
    if row is None or _rows_upto(conn, row.upto_pk) != row.n_rows:
        return None
    try:
        with np.load(io.BytesIO(row.hashes), allow_pickle=False) as data:
            if int(data["version"][0]) != _SNAPSHOT_VERSION:
                return None
            stored = _Hashes(data["stored_ids"], data["stored_codes"])
            search_only = _Hashes(data["search_ids"], data["search_codes"])
    except (ValueError, KeyError, OSError):  # unreadable: rebuilt from the rows
        return None
    return int(row.upto_pk), stored, search_only


def _write_snapshot(conn: sa.Connection, upto: int, stored: _Hashes, search_only: _Hashes) -> None:
    buf = io.BytesIO()
    np.savez(
        buf,
        version=np.array([_SNAPSHOT_VERSION], dtype=np.int64),
        stored_ids=stored.ids,
        stored_codes=stored.codes,
        search_ids=search_only.ids,
        search_codes=search_only.codes,
    )
    blob = buf.getbuffer()
    conn.execute(sa.delete(photo_snapshot))
    row = {"id": 1, "upto_pk": upto, "n_rows": _rows_upto(conn, upto)}
    if conn.dialect.name != "sqlite":
        conn.execute(sa.insert(photo_snapshot).values(**row, hashes=blob))
        return
    # SQLite keeps a bound parameter's copy with the cached statement until it runs again:
    # ~100 MB at 1M ads, held to the end of the link. Written in place through blob I/O.
    conn.execute(sa.insert(photo_snapshot).values(**row, hashes=sa.func.zeroblob(len(blob))))
    raw = cast(sqlite3.Connection, conn.connection.dbapi_connection)
    with raw.blobopen(photo_snapshot.name, "hashes", 1) as out:
        out.write(blob)


def _rows_upto(conn: sa.Connection, upto: int) -> int:
    """Photo rows of the ads up to `upto`, usable or not (index ix_photos_ad)."""
    q = sa.select(sa.func.count()).select_from(photos).where(photos.c.ad_pk <= upto)
    return int(conn.scalar(q) or 0)


def _index(hashes: _Hashes) -> PhotoIndex:
    index = PhotoIndex()
    index.add_codes(hashes.ids, hashes.codes)
    return index


def _search(
    index: PhotoIndex, queries: _Hashes, max_distance: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query ad, found ad, distance) of every match."""
    if not len(queries.ids) or len(index) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    rows, ids, dist = index.search_arrays(queries.codes, max_distance)
    return queries.ids[rows], ids, dist


def link_photos(conn: sa.Connection, watermark: int, top: int, settings: Settings) -> int:
    """Store one photo link per pair of ads up to `top`, a new ad (past `watermark`)
    involved, at its smallest distance."""
    stored, search_only = _all_hashes(conn, top)
    new, new_q = stored.ids > watermark, search_only.ids > watermark
    if not new.any() and not new_q.any():
        return 0
    d = settings.photo_distance
    index = _index(stored)
    # The hashes, the index and the raw pairs go as soon as they are used: the spanning
    # forest that follows is a rebuild's peak of memory.
    if watermark == 0:
        del stored  # the index keeps its own copy: 64 MB at 1M ads
        pairs = index.pairs_within(d, exact=len(index) <= EXACT_LIMIT)
        found = [(pairs[:, 0], pairs[:, 1], pairs[:, 2]), _search(index, search_only, d)]
        del pairs
    else:
        recent = stored[new]
        queries = _Hashes.concat([recent, search_only[new_q]])
        older = search_only[~new_q]  # older photos' search-only variants (mirrors...)
        del stored
        found = [_search(index, queries, d), _search(_index(recent), older, d)]
    del index, search_only
    a, b, dist = (np.concatenate([f[i] for f in found]) for i in range(3))
    del found
    a, b, dist = _closest(a, b, dist, watermark)
    a, b, dist = _spanning(conn, a, b, dist)
    evidence = {int(x): json.dumps({"distance": int(x)}) for x in unique(dist)}
    insert_rows(
        conn,
        links,
        ("ad_a", "ad_b", "kind", "evidence"),
        [
            (x, y, "photo", evidence[z])
            for x, y, z in zip(a.tolist(), b.tolist(), dist.tolist(), strict=True)
        ],
    )
    return len(a)


def _closest(
    a: np.ndarray, b: np.ndarray, dist: np.ndarray, watermark: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each pair of distinct ads (smaller first), a new ad involved, at its smallest distance."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keep = (lo != hi) & (hi > watermark)
    return best_per_key(lo[keep], hi[keep], dist[keep])


def _spanning(
    conn: sa.Connection, a: np.ndarray, b: np.ndarray, dist: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    old = int_rows(conn, "SELECT ad_a, ad_b FROM links WHERE kind = 'photo'", 2)
    return spanning_forest(a, b, dist, old[:, 0], old[:, 1])


def spanning_forest(
    a: np.ndarray, b: np.ndarray, dist: np.ndarray, old_a: np.ndarray, old_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs that join photo groups not joined yet (by the stored links old_a-old_b or
    an earlier pair): a spanning forest, built newest ad first (by the larger ad key),
    closest first for each ad, then by the other ad; returned in that order.

    Reused photos make every ad of a network near every other (n² pairs); the forest keeps
    the same connected groups with one link per ad, each still carrying its own distance.
    Taking the pairs in that order and keeping each that joins two groups is Kruskal's
    algorithm, so it is scipy's minimum spanning tree with each pair weighted by its rank
    (distinct weights: one tree), over the groups the stored links already make."""
    if not len(a):
        return a, b, dist
    if min(a.min(), dist.min()) >= 0 and b.max() < 1 << 27 and dist.max() < 1 << 9:
        order = np.argsort((b << 36) | (dist << 27) | a)  # one key: faster than a lexsort
    else:
        order = np.lexsort((a, dist, b))
    a, b, dist = a[order], b[order], dist[order]
    del order  # temporaries go as soon as used: millions of pairs in a rebuild at 1M ads
    nodes = unique(np.concatenate([a, b, old_a, old_b]))
    n = len(nodes)
    group = np.arange(n)
    if len(old_a):
        oa, ob = np.searchsorted(nodes, old_a), np.searchsorted(nodes, old_b)
        joined = coo_matrix((np.ones(len(oa), np.int8), (oa, ob)), shape=(n, n)).tocsr()
        _, group = connected_components(joined, directed=False)
        del oa, ob, joined
    lo = group[np.searchsorted(nodes, a)]
    hi = group[np.searchsorted(nodes, b)]
    del nodes, group
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    rank = np.flatnonzero(lo != hi)  # pairs inside one group join nothing
    # Only the first pair between two groups can join them: one edge per group pair.
    rank = rank[first_of_each(lo[rank] * np.int64(n) + hi[rank])]
    weights = (rank + 1).astype(np.float64)
    graph = coo_matrix((weights, (lo[rank], hi[rank])), shape=(n, n)).tocsr()
    kept = np.sort(minimum_spanning_tree(graph).tocoo().data.astype(np.int64) - 1)
    return a[kept], b[kept], dist[kept]
