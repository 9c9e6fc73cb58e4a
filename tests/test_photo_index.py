"""The photo index returns exactly what an exhaustive scan returns, in bulk as one by one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from safelight.link.photo_index import PhotoIndex, codes_to_hex, hex_to_codes

N = 1500


def planted(n: int, seed: int, copies: int = 300) -> np.ndarray:
    """Random 256-bit codes with near-copies planted at distances 0..47."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    for _ in range(copies):
        a, b = rng.integers(0, n, 2)
        codes[b] = codes[a]
        for bit in rng.choice(256, int(rng.integers(0, 48)), replace=False):
            codes[b, bit // 8] ^= 1 << (bit % 8)
    return codes


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The exhaustive scan: (len(a), len(b)) Hamming distances."""
    aw, bw = a.view(np.uint64), b.view(np.uint64)
    return np.bitwise_count(aw[:, None, :] ^ bw[None, :, :]).sum(axis=2)


@pytest.fixture(scope="module")
def codes() -> np.ndarray:
    return planted(N, 1)


@pytest.fixture(scope="module")
def index(codes: np.ndarray) -> PhotoIndex:
    idx = PhotoIndex()
    idx.add(list(range(N)), codes_to_hex(codes))
    return idx


@pytest.fixture(scope="module")
def queries(codes: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(2)
    q = codes[rng.integers(0, N, 200)].copy()
    for row in q:
        for bit in rng.choice(256, int(rng.integers(0, 40)), replace=False):
            row[bit // 8] ^= 1 << (bit % 8)
    return np.concatenate([q, rng.integers(0, 256, (100, 32), dtype=np.uint8)])  # 300: 2 blocks


def expected(queries: np.ndarray, codes: np.ndarray, r: int) -> list[list[tuple[int, int]]]:
    d = distances(queries, codes)
    out = []
    for row in d:
        hits = np.flatnonzero(row <= r)
        out.append(sorted(((int(i), int(row[i])) for i in hits), key=lambda t: (t[1], t[0])))
    return out


@pytest.mark.parametrize("r", [0, 8, 15, 16, 31, 40, 47, 60])
def test_search_equals_exhaustive_scan(
    index: PhotoIndex, codes: np.ndarray, queries: np.ndarray, r: int
) -> None:
    want = expected(queries, codes, r)
    hexes = codes_to_hex(queries)
    assert index.search_many(hexes, r) == want
    assert index.search_many(hexes, r, method="scan") == want
    for method in ("lookup", "join"):
        if r <= 47:
            assert index.search_many(hexes, r, method=method) == want, method
        else:
            with pytest.raises(ValueError):
                index.search_many(hexes, r, method=method)
    assert [index.search(h, r) for h in hexes[:40]] == want[:40]
    assert sum(map(len, want)) >= (1 if r < 8 else 50)  # the test is not vacuous


@pytest.mark.parametrize("r", [0, 15, 31, 47, 60])
def test_pairs_within_equals_exhaustive_scan(index: PhotoIndex, codes: np.ndarray, r: int) -> None:
    d = distances(codes, codes)
    a, b = np.nonzero(np.triu(d <= r, k=1))
    want = sorted(zip(a.tolist(), b.tolist(), d[a, b].tolist(), strict=True))
    got = index.pairs_within(r)
    assert got.dtype == np.int64 and got.shape[1] == 3
    assert [tuple(row) for row in got.tolist()] == want
    assert np.array_equal(index.pairs_within(r, method="scan"), got)


def test_pairs_within_large_ids_take_the_unpacked_path_with_the_same_answer(
    codes: np.ndarray,
) -> None:
    """Ids up to 2**27 go packed into one int64 per pair (the 1M-ad rebuild's memory);
    larger ones the three-array path: both give the same pairs, several photos per id."""
    ids = np.arange(len(codes)) // 2  # two photos per id: pairs between ids, best distance
    small, large = PhotoIndex(), PhotoIndex()
    small.add_codes(ids, codes)
    large.add_codes(ids + (1 << 40), codes)
    got = small.pairs_within(31)
    assert len(got) > 50 and (got[:, 0] < got[:, 1]).all()
    shifted = large.pairs_within(31)
    shifted[:, :2] -= 1 << 40
    assert np.array_equal(shifted, got)


def test_fast_pairs_within_is_exact_to_15_and_a_subset_beyond(index: PhotoIndex) -> None:
    exact = {tuple(p) for p in index.pairs_within(31).tolist()}
    fast = {tuple(p) for p in index.pairs_within(31, exact=False).tolist()}
    assert fast <= exact
    assert {p for p in exact if p[2] <= 15} <= fast
    assert len(fast) >= 0.8 * len(exact)


def test_repeated_ids_report_the_best_distance_and_never_pair_with_themselves() -> None:
    rng = np.random.default_rng(5)
    base = rng.integers(0, 256, (3, 32), dtype=np.uint8)
    near = base[0].copy()
    near[0] ^= 0b111  # 3 bits from base[0]
    idx = PhotoIndex()
    # id 7 holds a picture and a variant of it; id 8 holds a copy 3 bits away.
    idx.add([7, 7, 8, 9], codes_to_hex(np.stack([base[0], base[1], near, base[2]])))
    assert idx.search(codes_to_hex(base[:1])[0], 31) == [(7, 0), (8, 3)]
    assert idx.pairs_within(31).tolist() == [[7, 8, 3]]
    assert len(idx) == 4 and idx.nbytes == 4 * (32 + 8)


def test_empty_index_and_empty_queries() -> None:
    idx = PhotoIndex()
    assert idx.search("0" * 64) == []
    assert idx.search_many([]) == []
    assert idx.pairs_within().shape == (0, 3)
    idx.add([], [])
    assert len(idx) == 0


def test_bad_input_is_refused(index: PhotoIndex) -> None:
    with pytest.raises(ValueError, match="#1"):
        hex_to_codes(["0" * 64, "0" * 63])
    with pytest.raises(ValueError, match="not hex"):
        hex_to_codes(["0" * 64, "z" * 64])
    with pytest.raises(ValueError):
        index.search("0" * 64, max_distance=-1)
    with pytest.raises(ValueError):
        index.search("0" * 64, max_distance=257)
    with pytest.raises(ValueError):
        index.search_many(["0" * 64], method="fastest")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        index.pairs_within(31, method="lookup")
    with pytest.raises(ValueError):
        PhotoIndex().add([1, 2], ["0" * 64])
    with pytest.raises(ValueError):
        PhotoIndex().add_codes([1], np.zeros((1, 16), dtype=np.uint8))


def test_save_load_and_bytes_round_trip(index: PhotoIndex, tmp_path: Path) -> None:
    codes_path, ids_path = index.save(tmp_path / "photos")
    assert codes_path.name == "photos.codes.npy" and ids_path.name == "photos.ids.npy"
    loaded = PhotoIndex.load(tmp_path / "photos")
    assert np.array_equal(loaded.codes(), index.codes())
    assert np.array_equal(loaded.ids, index.ids)
    again = PhotoIndex.from_bytes(index.to_bytes())
    assert np.array_equal(again.codes(), index.codes())
    probe = codes_to_hex(index.codes()[:5])
    assert again.search_many(probe) == index.search_many(probe) == loaded.search_many(probe)
    # Plain arrays only: an object array (which would need pickle) is refused on load.
    np.save(tmp_path / "evil.ids.npy", np.array([object()], dtype=object), allow_pickle=True)
    np.save(tmp_path / "evil.codes.npy", np.zeros((1, 32), dtype=np.uint8))
    with pytest.raises(ValueError):
        PhotoIndex.load(tmp_path / "evil")


def test_remove_drops_every_row_of_an_id(codes: np.ndarray) -> None:
    idx = PhotoIndex()
    idx.add_codes(np.arange(100) // 2, codes[:100])
    assert idx.remove([0, 3, 999]) == 4
    assert len(idx) == 96 and not np.isin([0, 3], idx.ids).any()
    assert idx.search(codes_to_hex(codes[6:7])[0], 0) == []
    assert idx.search(codes_to_hex(codes[8:9])[0], 0) == [(4, 0)]


def test_lookup_sees_rows_added_after_its_tables_were_built(codes: np.ndarray) -> None:
    idx = PhotoIndex()
    idx.add_codes(np.arange(1000), codes[:1000])
    probe = codes_to_hex(codes[1200:1201])[0]
    assert idx.search_many([probe], 0, method="lookup") == [[]]  # tables over 1000 rows
    before = idx.nbytes
    idx.add_codes(np.arange(1000, 1500), codes[1000:1500])
    assert idx.search_many([probe], 0, method="lookup") == [[(1200, 0)]]
    assert idx.nbytes > before
    idx.remove([1200])
    assert idx.search_many([probe], 0, method="lookup") == [[]]


def test_codes_view_is_read_only(index: PhotoIndex) -> None:
    view = index.codes()
    with pytest.raises(ValueError):
        view[0, 0] = 1
