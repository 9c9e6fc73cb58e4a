"""The photo match index: which stored photos are within a Hamming distance of a PDQ hash.

Every search is exact: it returns every hash within the distance (the tests check each
way against a plain numpy scan). Lookups and joins use multi-index hashing: the 256 bits
are cut into 16 chunks of 16 bits, and two hashes within distance d agree on some chunk
up to d // 16 bits (pigeonhole), so only hashes in a query's bucket, or a bucket a bit or
two away, in some chunk, need their full distance checked: about 0.4% of those stored.

- queries ("lookup"): per-chunk sorted tables of the stored hashes, built on the first
  lookup (1-3 s and 72 MB per million hashes, beside 40 MB of codes and ids), answer one
  query in ~0.5 ms over 1M hashes (p95 ~2 ms on a busy 2-core machine); hashes added
  since the tables were built are scanned directly until there are enough to rebuild;
- very many queries ("join"), and `pairs_within` (every near-duplicate pair among the
  stored hashes, how photo links are found across 1M ads, ~1.5 min per million): a numpy
  join over bucket-sorted copies, which visits memory almost in order;
- "scan": FAISS's `IndexBinaryFlat`, a brute-force pass (~3-6 ms per query per million
  hashes on one core; memory-bound, so it slows down when the machine is busy). Small
  indexes and distances beyond 47 use it.

The same id may be added several times (a photo's variants, or an ad's several photos):
results are per id with the smallest distance. Persistence is two plain `.npy` arrays, or
one `.npz` blob for the database; never pickle.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

CODE_BYTES = 32  # 256-bit PDQ
_CHUNK_BITS = 16
_NCHUNK = 256 // _CHUNK_BITS
_MAX_FLIPS = 2  # multi-index hashing covers distances up to 16 * 3 - 1 = 47
_MAX_HASHED_DISTANCE = _CHUNK_BITS * (_MAX_FLIPS + 1) - 1
_FORMAT_VERSION = 1
# Candidate pairs verified per numpy step: ~335 MB peak for the 1M-ad join, 14 s (4,000,000:
# 550 MB, 16.5 s; smaller steps stay in cache).
_BATCH_CANDIDATES = 1_000_000
_JOIN_MIN_QUERIES = 512  # small index: from here on one join beats that many scans
_JOIN_MIN_QUERIES_LARGE = 50_000  # large index: lookups win below this (bench_photos.py)
_LOOKUP_MIN_ROWS = 65_536  # below this a FAISS scan is as fast as a lookup (~0.2 ms)
_TAIL_ROWS = 65_536  # rows added after the tables were built that are scanned, not rebuilt
_LOOKUP_BLOCK = 256  # queries per lookup step: ~1M candidates (~100 MB) at 1M rows

Method = Literal["auto", "scan", "lookup", "join"]


def hex_to_codes(hashes: Sequence[str]) -> np.ndarray:
    """(n, 32) uint8 codes from 64-character hex strings; ValueError names the bad one."""
    if not hashes:
        return np.zeros((0, CODE_BYTES), dtype=np.uint8)
    for i, h in enumerate(hashes):
        if len(h) != 2 * CODE_BYTES:
            raise ValueError(f"hash #{i} has {len(h)} characters, expected {2 * CODE_BYTES}")
    try:
        raw = bytes.fromhex("".join(hashes))
    except ValueError:
        for i, h in enumerate(hashes):
            try:
                bytes.fromhex(h)
            except ValueError:
                raise ValueError(f"hash #{i} is not hex: {h[:16]}...") from None
        raise
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(hashes), CODE_BYTES).copy()


def codes_to_hex(codes: np.ndarray) -> list[str]:
    """Inverse of `hex_to_codes`."""
    return [bytes(row).hex() for row in np.asarray(codes, dtype=np.uint8)]


def _check_distance(max_distance: int) -> int:
    if not 0 <= max_distance <= 256:
        raise ValueError("max_distance must be between 0 and 256")
    return int(max_distance)


class PhotoIndex:
    """Exact Hamming-distance search over 256-bit PDQ hashes, keyed by integer ids."""

    def __init__(self) -> None:
        self._flat = faiss.IndexBinaryFlat(CODE_BYTES * 8)
        self._ids = np.zeros(0, dtype=np.int64)
        self._id_chunks: list[np.ndarray] = []
        self._tables: _ChunkTables | None = None

    # ------------------------------------------------------------ building

    def __len__(self) -> int:
        return int(self._flat.ntotal)

    def add(self, ids: Sequence[int] | np.ndarray, hashes: Sequence[str]) -> None:
        """Store hashes (hex) under ids; an id may repeat (variants, several photos)."""
        self.add_codes(ids, hex_to_codes(hashes))

    def add_codes(self, ids: Sequence[int] | np.ndarray, codes: np.ndarray) -> None:
        """Store (n, 32) uint8 codes under ids: the fast path for bulk loads."""
        id_arr = np.asarray(ids, dtype=np.int64).ravel()
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if codes.ndim != 2 or codes.shape[1] != CODE_BYTES:
            raise ValueError(f"codes must have shape (n, {CODE_BYTES})")
        if len(id_arr) != len(codes):
            raise ValueError(f"{len(id_arr)} ids for {len(codes)} hashes")
        if not len(codes):
            return
        self._flat.add(codes)
        self._id_chunks.append(id_arr)

    @property
    def ids(self) -> np.ndarray:
        """The id of every stored row, in insertion order."""
        if self._id_chunks:
            self._ids = np.concatenate([self._ids, *self._id_chunks])
            self._id_chunks = []
        return self._ids

    def codes(self) -> np.ndarray:
        """A read-only view of the stored codes (no copy; invalid after the next add)."""
        n = len(self)
        if n == 0:
            return np.zeros((0, CODE_BYTES), dtype=np.uint8)
        raw = faiss.rev_swig_ptr(self._flat.xb.data(), n * CODE_BYTES)  # type: ignore[attr-defined]
        view = raw.reshape(n, CODE_BYTES)
        view.flags.writeable = False
        return view

    def remove(self, ids: Iterable[int]) -> int:
        """Drop every row of these ids (retention purges); returns rows removed."""
        gone = np.fromiter(ids, dtype=np.int64)
        mask = np.isin(self.ids, gone)
        removed = int(mask.sum())
        if removed:
            keep_codes = self.codes()[~mask].copy()
            keep_ids = self.ids[~mask]
            self._flat.reset()
            self._ids = np.zeros(0, dtype=np.int64)
            self._tables = None
            self.add_codes(keep_ids, keep_codes)
        return removed

    @property
    def nbytes(self) -> int:
        """Memory held: codes and ids (32 + 8 bytes per row), and lookup tables if built
        (4 bytes per row per chunk: 64 more)."""
        tables = self._tables.nbytes if self._tables is not None else 0
        return len(self) * CODE_BYTES + self.ids.nbytes + tables

    # ------------------------------------------------------------ searching

    def search(self, hash_hex: str, max_distance: int = 31) -> list[tuple[int, int]]:
        """(id, distance) of every id within max_distance, nearest first, then by id."""
        return self.search_many([hash_hex], max_distance)[0]

    def search_many(
        self, hashes: Sequence[str], max_distance: int = 31, *, method: Method = "auto"
    ) -> list[list[tuple[int, int]]]:
        """`search` for each hash, done in one vectorised pass."""
        q, ids, dist = self.search_arrays(hex_to_codes(hashes), max_distance, method=method)
        out: list[list[tuple[int, int]]] = [[] for _ in hashes]
        for qi, i, d in zip(q.tolist(), ids.tolist(), dist.tolist(), strict=True):
            out[qi].append((i, d))
        return out

    def search_arrays(
        self, queries: np.ndarray, max_distance: int = 31, *, method: Method = "auto"
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Arrays (query row, id, distance), best per (query, id), sorted by query,
        distance, id. The array form of `search_many`, for bulk linking.

        `method`: "scan" (FAISS flat scan), "lookup" (cached chunk tables) or "join"
        (sorts both sides per chunk) — the last two for distances up to 47 — or "auto",
        which picks by index size and query count. All return the same, exact result.
        """
        r = _check_distance(max_distance)
        if method not in ("auto", "scan", "lookup", "join"):
            raise ValueError(f"unknown method {method!r}")
        hashed = r // _CHUNK_BITS <= _MAX_FLIPS
        if method in ("lookup", "join") and not hashed:
            raise ValueError(f"{method} covers distances up to {_MAX_HASHED_DISTANCE}")
        queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, CODE_BYTES)
        if len(self) == 0 or len(queries) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy(), empty.copy()
        if method == "auto":
            if not hashed:
                method = "scan"
            elif len(self) >= _LOOKUP_MIN_ROWS:
                method = "lookup" if len(queries) < _JOIN_MIN_QUERIES_LARGE else "join"
            else:
                method = "scan" if len(queries) < _JOIN_MIN_QUERIES else "join"
        if method == "scan":
            qrow, rows, dist = _scan(self._flat, queries, r)
        elif method == "join":
            qrow, rows, dist = _mih_join(queries, self.codes(), r, r // _CHUNK_BITS)
        else:
            qrow, rows, dist = self._lookup(queries, r)
        qrow, ids, dist = best_per_key(qrow, self.ids[rows], dist)
        final = np.lexsort((ids, dist, qrow))
        return qrow[final], ids[final], dist[final]

    def pairs_within(
        self, max_distance: int = 31, *, exact: bool = True, method: Method = "auto"
    ) -> np.ndarray:
        """Every pair of distinct ids with some stored hashes within max_distance.

        Returns an (n, 3) int64 array of (id_a, id_b, distance) with id_a < id_b, the
        smallest distance per pair, sorted by id_a, id_b. `exact=False` probes one bit
        fewer per chunk: about 15x faster, still exact up to distance 15 (and up to 31
        when max_distance >= 32), and it misses a few pairs near max_distance (recall
        measured in bench/bench_photos.py). `method` "scan" compares all N^2 pairs with
        FAISS (what "auto" does beyond distance 47; fine for small indexes only).
        """
        r = _check_distance(max_distance)
        codes = self.codes()
        if len(codes) < 2:
            return np.zeros((0, 3), dtype=np.int64)
        if method not in ("auto", "scan", "join"):
            raise ValueError(f"unknown method {method!r}")
        if method == "join" and r // _CHUNK_BITS > _MAX_FLIPS:
            raise ValueError(
                f"the join covers distances up to {_CHUNK_BITS * (_MAX_FLIPS + 1) - 1}"
            )
        if method == "scan" or r // _CHUNK_BITS > _MAX_FLIPS:
            lims, dist, rows = self._flat.range_search(codes, r + 1)
            a = np.repeat(np.arange(len(codes), dtype=np.int64), np.diff(lims.astype(np.int64)))
            b, dist = rows.astype(np.int64), dist.astype(np.int64)
        else:
            nflip = r // _CHUNK_BITS if exact else max(0, r // _CHUNK_BITS - 1)
            pieces = _mih_join_pieces(codes, None, r, nflip)
            if _packable(self.ids):
                return _packed_pairs(self.ids, pieces)
            a, b, dist = _joined(pieces, True)
        ia, ib = self.ids[a], self.ids[b]  # in place from here: millions of pairs at 1M ads
        del a, b
        keep = ia != ib
        ia, ib, dist = ia[keep], ib[keep], dist[keep]
        del keep
        lo = np.minimum(ia, ib)
        hi = np.maximum(ia, ib, out=ib)
        del ia
        lo, hi, dist = best_per_key(lo, hi, dist)
        return np.stack([lo, hi, dist], axis=1) if len(lo) else np.zeros((0, 3), np.int64)

    def _lookup(self, queries: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Search through the chunk tables, scanning rows added since they were built."""
        n = len(self)
        t = self._tables
        if t is None or n - t.rows > max(_TAIL_ROWS, t.rows // 8):
            t = self._tables = _ChunkTables(self.codes())
        codes = self.codes()
        parts = [
            t.search(queries[i : i + _LOOKUP_BLOCK], codes, r)
            for i in range(0, len(queries), _LOOKUP_BLOCK)
        ]
        qrow = np.concatenate([p[0] + i * _LOOKUP_BLOCK for i, p in enumerate(parts)])
        rows = np.concatenate([p[1] for p in parts])
        dist = np.concatenate([p[2] for p in parts])
        if n > t.rows:
            tail = faiss.IndexBinaryFlat(CODE_BYTES * 8)
            tail.add(np.ascontiguousarray(codes[t.rows :]))
            tq, trows, tdist = _scan(tail, queries, r)
            qrow = np.concatenate([qrow, tq])
            rows = np.concatenate([rows, trows + t.rows])
            dist = np.concatenate([dist, tdist])
        return qrow, rows, dist

    # ------------------------------------------------------------ persistence

    def save(self, prefix: str | Path) -> tuple[Path, Path]:
        """Write `<prefix>.codes.npy` and `<prefix>.ids.npy` (plain arrays, no pickle)."""
        base = Path(prefix)
        codes_path = base.with_name(base.name + ".codes.npy")
        ids_path = base.with_name(base.name + ".ids.npy")
        np.save(codes_path, np.asarray(self.codes()), allow_pickle=False)
        np.save(ids_path, self.ids, allow_pickle=False)
        return codes_path, ids_path

    @classmethod
    def load(cls, prefix: str | Path) -> PhotoIndex:
        """Read what `save` wrote."""
        base = Path(prefix)
        codes = np.load(base.with_name(base.name + ".codes.npy"), allow_pickle=False)
        ids = np.load(base.with_name(base.name + ".ids.npy"), allow_pickle=False)
        index = cls()
        index.add_codes(ids, codes)
        return index

    def to_bytes(self) -> bytes:
        """One blob (an .npz of the two arrays and a format version) for a database column."""
        buf = io.BytesIO()
        np.savez(
            buf,
            version=np.array([_FORMAT_VERSION], dtype=np.int64),
            codes=np.asarray(self.codes()),
            ids=self.ids,
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> PhotoIndex:
        """Read what `to_bytes` wrote."""
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            version = int(data["version"][0])
            if version != _FORMAT_VERSION:
                raise ValueError(f"photo index format {version} is not supported")
            index = cls()
            index.add_codes(data["ids"], data["codes"])
        return index


def _scan(
    flat: faiss.IndexBinaryFlat, queries: np.ndarray, r: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query row, stored row, distance) by FAISS brute force."""
    lims, dist, rows = flat.range_search(queries, r + 1)  # FAISS: strictly below the radius
    qrow = np.repeat(np.arange(len(queries), dtype=np.int64), np.diff(lims.astype(np.int64)))
    return qrow, rows.astype(np.int64), dist.astype(np.int64)


class _ChunkTables:
    """The stored rows sorted by each 16-bit chunk, with bucket boundaries: what makes a
    single query touch a few thousand hashes instead of all of them."""

    def __init__(self, codes: np.ndarray) -> None:
        self.rows = len(codes)
        keys = np.ascontiguousarray(codes).view("<u2")
        dtype = np.int32 if self.rows < 2**31 else np.int64
        self.order = np.empty((_NCHUNK, self.rows), dtype=dtype)
        self.bounds = np.zeros((_NCHUNK, (1 << _CHUNK_BITS) + 1), dtype=np.int64)
        for chunk in range(_NCHUNK):
            k = keys[:, chunk]
            self.order[chunk] = np.argsort(k, kind="stable")
            np.cumsum(np.bincount(k, minlength=1 << _CHUNK_BITS), out=self.bounds[chunk, 1:])

    @property
    def nbytes(self) -> int:
        return int(self.order.nbytes + self.bounds.nbytes)

    def search(
        self, queries: np.ndarray, codes: np.ndarray, r: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query row, stored row, distance) among the first `self.rows` stored rows; a
        row found through several chunks is listed more than once."""
        masks = _neighbour_masks(r // _CHUNK_BITS)
        q16 = np.ascontiguousarray(queries).view("<u2").astype(np.int64)
        keys = q16[:, :, None] ^ masks[None, None, :]  # (nq, 16, nmask) buckets to read
        chunk = np.arange(_NCHUNK)[None, :, None]
        lo = self.bounds[chunk, keys].ravel()
        length = self.bounds[chunk, keys + 1].ravel() - lo
        start = (lo + np.broadcast_to(chunk, keys.shape).ravel() * self.rows)[length > 0]
        src = np.broadcast_to(np.arange(len(queries))[:, None, None], keys.shape).ravel()
        src, length = src[length > 0], length[length > 0]
        first = np.cumsum(length) - length
        pos = np.arange(int(length.sum()), dtype=np.int64) + np.repeat(start - first, length)
        rows = self.order.ravel()[pos].astype(np.int64)
        qrow = np.repeat(src, length)
        q64 = np.ascontiguousarray(queries).view(np.uint64)
        c64 = codes.view(np.uint64)
        bits = np.bitwise_count(np.take(c64, rows, axis=0) ^ np.take(q64, qrow, axis=0))
        dist = bits[:, 0].astype(np.int64) + bits[:, 1] + bits[:, 2] + bits[:, 3]
        close = np.flatnonzero(dist <= r)
        return qrow[close], rows[close], dist[close]


def best_per_key(
    k1: np.ndarray, k2: np.ndarray, dist: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The smallest distance per (k1, k2), rows sorted by k1 then k2."""
    if len(k1) == 0:
        return k1.astype(np.int64), k2.astype(np.int64), dist.astype(np.int64)
    if min(k1.min(), k2.min(), dist.min()) >= 0 and max(k1.max(), k2.max()) < 1 << 27:
        return _best_of_packed(_pack(k1, k2, dist))
    first = np.lexsort((dist, k2, k1))
    k1, k2, dist = k1[first], k2[first], dist[first]
    new = np.ones(len(k1), dtype=bool)
    new[1:] = (k1[1:] != k1[:-1]) | (k2[1:] != k2[:-1])
    return k1[new].astype(np.int64), k2[new].astype(np.int64), dist[new].astype(np.int64)


# One int64 per pair (k1, k2, distance: 27 + 27 + 9 bits) sorts several times faster than a
# three-key lexsort (millions of pairs at 1M ads), and takes 8 bytes instead of 24.
_KEY_BITS = 27
_DIST_BITS = 9


def _packable(ids: np.ndarray) -> bool:
    return not len(ids) or (int(ids.min()) >= 0 and int(ids.max()) < 1 << _KEY_BITS)


def _pack(k1: np.ndarray, k2: np.ndarray, dist: np.ndarray) -> np.ndarray:
    key = k1.astype(np.int64)  # built in place: one array of the pairs' length
    key <<= _KEY_BITS + _DIST_BITS
    key |= k2.astype(np.int64) << _DIST_BITS
    key |= dist
    return key


def _best_of_packed(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(k1, k2, smallest distance) per pair of packed keys, sorted by k1, k2. Sorts `key`."""
    key.sort()
    new = np.ones(len(key), dtype=bool)
    new[1:] = (key[1:] >> _DIST_BITS) != (key[:-1] >> _DIST_BITS)
    key = key[new]
    k2 = (key >> _DIST_BITS) & ((1 << _KEY_BITS) - 1)
    return key >> (_KEY_BITS + _DIST_BITS), k2, key & ((1 << _DIST_BITS) - 1)


def _packed_pairs(
    ids: np.ndarray, pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
) -> np.ndarray:
    """`pairs_within`'s answer from the join's pieces of row pairs, each piece turned into
    packed id pairs as it is taken, so the rows of every raw pair are never all held as
    int64 at once: with 7 million raw pairs at 1M ads, the peak went from 895 to 788 MB."""
    keys = []
    while pieces:
        qa, bb, dist = pieces.pop()
        ia, ib = ids[qa], ids[bb]
        keep = ia != ib
        ia, ib, dist = ia[keep], ib[keep], dist[keep]
        keys.append(_pack(np.minimum(ia, ib), np.maximum(ia, ib, out=ib), dist))
    if not keys:
        return np.zeros((0, 3), np.int64)
    key = np.concatenate(keys)
    del keys
    lo, hi, dist = _best_of_packed(key)
    return np.stack([lo, hi, dist], axis=1) if len(lo) else np.zeros((0, 3), np.int64)


# ---------------------------------------------------------------- multi-index hashing join


def _neighbour_masks(nflip: int) -> np.ndarray:
    """Every 16-bit mask with at most nflip bits set (0 first)."""
    masks = [0]
    if nflip >= 1:
        masks += [1 << b for b in range(_CHUNK_BITS)]
    if nflip >= 2:
        masks += [
            (1 << b1) | (1 << b2) for b1 in range(_CHUNK_BITS) for b2 in range(b1 + 1, _CHUNK_BITS)
        ]
    return np.array(masks, dtype=np.int64)


def _mih_join(
    queries: np.ndarray, base: np.ndarray | None, max_distance: int, nflip: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query row, base row, distance) for all pairs within max_distance, as int32 rows
    and uint16 distances (int64 rows beyond 2**31); see `_mih_join_pieces`."""
    return _joined(_mih_join_pieces(queries, base, max_distance, nflip), base is None)


def _joined(
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]], self_join: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    qa = np.concatenate([f[0] for f in found])
    bb = np.concatenate([f[1] for f in found])
    dist = np.concatenate([f[2] for f in found])
    if self_join:
        qa, bb = np.minimum(qa, bb), np.maximum(qa, bb)
    return qa, bb, dist


def _mih_join_pieces(
    queries: np.ndarray, base: np.ndarray | None, max_distance: int, nflip: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Pieces of (query row, base row, distance) for all pairs within max_distance, as
    int32 rows and uint16 distances (int64 rows beyond 2**31).

    Exact when nflip >= max_distance // 16 (pigeonhole over the 16 chunks); with fewer
    flips, pairs that differ in every chunk by more than nflip bits are missed.

    With base None it is a self-join of `queries` returning each unordered pair once, in
    either order (`_joined` puts the smaller row first). A pair is reported only from the
    first chunk in which it is a candidate, so none is reported twice. Work happens in
    bucket-sorted order so the candidate look-ups read memory almost sequentially.
    """
    self_join = base is None
    queries = np.ascontiguousarray(queries)
    b_codes = queries if base is None else np.ascontiguousarray(base)
    q16, b16 = queries.view("<u2"), b_codes.view("<u2")  # (n, 16) chunk keys
    q64, b64 = queries.view(np.uint64), b_codes.view(np.uint64)  # (n, 4) words
    masks = _neighbour_masks(nflip)
    nq = len(queries)
    block = max(1, _BATCH_CANDIDATES // len(masks))  # query rows per step
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    rows_t = np.int32 if max(nq, len(b_codes)) < 1 << 31 else np.int64
    for chunk in range(_NCHUNK):
        # 16-bit keys: numpy's stable sort is a radix sort there, several times faster.
        border = np.argsort(b16[:, chunk], kind="stable")
        bkeys = b16[:, chunk].astype(np.int64)
        counts = np.bincount(bkeys, minlength=1 << _CHUNK_BITS)
        starts = np.cumsum(counts) - counts
        bwords = _columns(b64[border])
        if self_join:
            qorder, qkeys_all, qwords = border, bkeys[border], bwords
        else:
            qorder = np.argsort(q16[:, chunk], kind="stable")
            qkeys_all = q16[qorder, chunk].astype(np.int64)
            qwords = _columns(q64[qorder])
        # Two words away from this chunk's word filter out nearly every false candidate.
        first = ((chunk * _CHUNK_BITS) // 64 + 1) % 4
        check = (first, (first + 1) % 4)
        rest = tuple(w for w in range(4) if w not in check)
        for q0 in range(0, nq, block):
            rows = np.arange(q0, min(nq, q0 + block), dtype=np.int64)  # sorted positions
            qkeys = qkeys_all[rows]
            nbr = qkeys[:, None] ^ masks[None, :]  # partner buckets of each query row
            if self_join:
                # Each unordered bucket pair once (from the smaller key); the own bucket
                # is paired with the rows after this one.
                use = nbr > qkeys[:, None]
                r_key = nbr[use]
                r_src = np.concatenate([rows, np.broadcast_to(rows[:, None], nbr.shape)[use]])
                own_end = starts[qkeys] + counts[qkeys]
                r_lo = np.concatenate([rows + 1, starts[r_key]])
                r_len = np.concatenate([own_end - rows - 1, counts[r_key]])
            else:
                r_src = np.broadcast_to(rows[:, None], nbr.shape).ravel()
                r_lo, r_len = starts[nbr.ravel()], counts[nbr.ravel()]
            for qpos, bpos, dist in _verify(
                r_src, r_lo, r_len, qwords, bwords, check, rest, max_distance
            ):
                if chunk:
                    # Drop pairs an earlier chunk already reported. The bucket-sorted copies
                    # are read, not the rows: a pair sits near its bucket, a row anywhere.
                    xor = np.stack([qwords[w][qpos] ^ bwords[w][bpos] for w in range(4)], axis=1)
                    earlier = np.bitwise_count(xor.view("<u2")[:, :chunk])
                    fresh = ~(earlier <= nflip).any(axis=1)
                    qpos, bpos, dist = qpos[fresh], bpos[fresh], dist[fresh]
                if len(qpos):  # kept compact: millions of raw pairs at 1M ads
                    found.append(
                        (
                            qorder[qpos].astype(rows_t),
                            border[bpos].astype(rows_t),
                            dist.astype(np.uint16),
                        )
                    )
    return found


def _columns(rows: np.ndarray) -> list[np.ndarray]:
    """The four 64-bit words of (n, 4) rows as contiguous arrays (one row gather, then
    sequential copies: cheaper than four strided gathers)."""
    return [np.ascontiguousarray(rows[:, w]) for w in range(rows.shape[1])]


def _verify(
    r_src: np.ndarray,
    r_lo: np.ndarray,
    r_len: np.ndarray,
    qwords: list[np.ndarray],
    bwords: list[np.ndarray],
    check: tuple[int, int],
    rest: tuple[int, ...],
    max_distance: int,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Expand candidate ranges in bounded batches; keep pairs within max_distance.

    Each batch first compares two of the four 64-bit words (a pair further than
    max_distance on 128 bits cannot be within it on 256), then the other two for the
    few survivors.
    """
    nz = r_len > 0
    r_src, r_lo, r_len = r_src[nz], r_lo[nz], r_len[nz]
    cum = np.cumsum(r_len)
    out = []
    begin = 0
    while begin < len(r_len):
        done = int(cum[begin - 1]) if begin else 0
        end = max(begin + 1, int(np.searchsorted(cum, done + _BATCH_CANDIDATES, side="right")))
        src, lo, length = r_src[begin:end], r_lo[begin:end], r_len[begin:end]
        first = cum[begin:end] - length - done  # where each range starts in this batch
        total = int(length.sum())
        # Candidate k pairs row src[r] with base position lo[r] + (k - first[r]) for the
        # range r holding k. The query side is repeated as values, not gathered by index.
        bpos = np.arange(total, dtype=np.int64) + np.repeat(lo - first, length)
        dist = np.zeros(total, dtype=np.uint16)
        for w in check:
            dist += np.bitwise_count(np.repeat(qwords[w][src], length) ^ np.take(bwords[w], bpos))
        keep = np.flatnonzero(dist <= max_distance)
        if len(keep):
            qa = src[np.searchsorted(first, keep, side="right") - 1]
            bb, dist = bpos[keep], dist[keep]
            for w in rest:
                dist += np.bitwise_count(np.take(qwords[w], qa) ^ np.take(bwords[w], bb))
            close = dist <= max_distance
            if close.any():
                out.append((qa[close], bb[close], dist[close].astype(np.int64)))
        begin = end
    return out
