"""Photo hashing and photo index benchmark: prints figures, asserts nothing.

    python bench/bench_photos.py            # full run (1M-hash index; a few minutes)
    python bench/bench_photos.py --quick    # small run (100k hashes, fewer pictures)

Pictures are generated and benign (gradients, shapes, text, noise); no real photo is used.
Sections:
1. hashing speed: our hash_image with and without variants vs plain pdqhash.compute
   (the reference implementation) on the same decoded pictures;
2. robustness: recall of edited copies (crops, letterbox, mirror, rotation, resize, JPEG,
   brightness) with PDQ alone and with variants, and false matches between different pictures;
3. index: build time, memory, single-query latency p50/p95, recall against an exhaustive
   numpy scan, bulk search and pairs_within times.
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
import pdqhash
from PIL import Image, ImageDraw, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a checkout

from safelight.extract.photos import (
    PhotoHash,
    decode_image,
    hamming,
    hash_image,
    hash_pixels,
)
from safelight.link.photo_index import PhotoIndex

WORDS = ("SALE", "OPEN", "HELLO", "CITY", "MUSIC", "GARDEN", "CAFE", "BOOKS", "SUMMER", "TEA")


# ---------------------------------------------------------------- benign pictures


def synthetic_photo(seed: int, width: int = 640, height: int = 480) -> Image.Image:
    """A benign picture with photo-like structure: a smooth colour field, shapes, a word,
    and sensor-like noise."""
    rng = np.random.default_rng(seed)
    field = rng.random((int(rng.integers(3, 7)), int(rng.integers(3, 7)), 3))
    img = Image.fromarray((field * 255).astype(np.uint8)).resize((width, height), Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(4, 12))):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1 = x0 + int(rng.integers(width // 16, width // 2))
        y1 = y0 + int(rng.integers(height // 16, height // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = int(rng.integers(0, 3))
        if shape == 0:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif shape == 1:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            pts = [(int(rng.integers(0, width)), int(rng.integers(0, height))) for _ in range(3)]
            draw.polygon(pts, fill=colour)
    word = WORDS[int(rng.integers(0, len(WORDS)))]
    draw.text(
        (int(rng.integers(0, width // 2)), int(rng.integers(0, height - 20))),
        word,
        fill=(255, 255, 255),
    )
    arr = np.asarray(img).astype(np.int16) + rng.integers(-6, 7, (height, width, 1))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def jpeg_bytes(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _crop(img: Image.Image, fraction: float, rng: np.random.Generator, mode: str) -> Image.Image:
    """Remove `fraction` of each dimension: split at random, evenly, or from one corner."""
    w, h = img.size
    dx, dy = round(w * fraction), round(h * fraction)
    if mode == "random":
        left, top = int(rng.integers(0, dx + 1)), int(rng.integers(0, dy + 1))
    elif mode == "centre":
        left, top = dx // 2, dy // 2
    else:  # one side: everything from the left and the top
        left, top = dx, dy
    return img.crop((left, top, left + w - dx, top + h - dy))


def _pad(img: Image.Image, square: bool, rng: np.random.Generator) -> Image.Image:
    """Letterbox (bars above/below to 16:9 portrait... or square) in a flat colour."""
    w, h = img.size
    colour = (0, 0, 0) if rng.random() < 0.5 else tuple(int(c) for c in rng.integers(0, 256, 3))
    if square:
        side = max(w, h) + max(w, h) // 5
        canvas = Image.new("RGB", (side, side), colour)
        canvas.paste(img, ((side - w) // 2, (side - h) // 2))
    else:  # pillarbox into a 16:9 frame
        new_w = round(h * 16 / 9) + w // 5
        canvas = Image.new("RGB", (new_w, h), colour)
        canvas.paste(img, ((new_w - w) // 2, 0))
    return canvas


def _brightness(img: Image.Image, delta: int) -> Image.Image:
    arr = np.asarray(img).astype(np.int16) + delta
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


Transform = Callable[[Image.Image, np.random.Generator], Image.Image]

TRANSFORMS: dict[str, Transform] = {
    "resize 50%": lambda im, r: im.resize((im.width // 2, im.height // 2), Image.BILINEAR),
    "JPEG q50": lambda im, r: Image.open(io.BytesIO(jpeg_bytes(im, 50))),
    "brightness +30": lambda im, r: _brightness(im, 30),
    "contrast x1.3": lambda im, r: ImageEnhance.Contrast(im).enhance(1.3),
    "crop 5% random": lambda im, r: _crop(im, 0.05, r, "random"),
    "crop 10% random": lambda im, r: _crop(im, 0.10, r, "random"),
    "crop 5% centred": lambda im, r: _crop(im, 0.05, r, "centre"),
    "crop 10% centred": lambda im, r: _crop(im, 0.10, r, "centre"),
    "crop 5% one corner": lambda im, r: _crop(im, 0.05, r, "corner"),
    "crop 10% one corner": lambda im, r: _crop(im, 0.10, r, "corner"),
    "letterbox square": lambda im, r: _pad(im, True, r),
    "pillarbox 16:9": lambda im, r: _pad(im, False, r),
    "mirror": lambda im, r: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "rotate 90": lambda im, r: im.transpose(Image.Transpose.ROTATE_90),
    "mirror + JPEG q50": lambda im, r: Image.open(
        io.BytesIO(jpeg_bytes(im.transpose(Image.Transpose.FLIP_LEFT_RIGHT), 50))
    ),
}


# ---------------------------------------------------------------- helpers


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _best(a: PhotoHash, b: PhotoHash) -> int:
    """Smallest distance between a copy and an original as the system compares them: each
    picture's stored hashes against the other's query hashes, in both directions."""
    pairs = [(x, y) for x in a.index_hashes() for y in b.query_hashes()]
    pairs += [(x, y) for x in b.index_hashes() for y in a.query_hashes()]
    return min(hamming(x, y) for x, y in pairs)


# ---------------------------------------------------------------- sections


def bench_hashing(n: int) -> None:
    print(f"\n## Hashing speed ({n} JPEG pictures 640x480, one core)")
    files = [jpeg_bytes(synthetic_photo(10_000 + i)) for i in range(n)]
    arrays = [np.asarray(decode_image(f)) for f in files]
    timings: dict[str, float] = {}
    t = time.perf_counter()
    for arr in arrays:
        pdqhash.compute(arr)
    timings["pdqhash.compute on decoded arrays (reference)"] = time.perf_counter() - t
    t = time.perf_counter()
    for arr in arrays:
        hash_pixels(arr, with_variants=False)
    timings["hash_pixels, no variants, decoded arrays"] = time.perf_counter() - t
    t = time.perf_counter()
    for arr in arrays:
        hash_pixels(arr, with_variants=True)
    timings["hash_pixels, with variants, decoded arrays"] = time.perf_counter() - t
    t = time.perf_counter()
    for f in files:
        decode_image(f)
    timings["decode only (Pillow JPEG -> RGB)"] = time.perf_counter() - t
    t = time.perf_counter()
    for f in files:
        hash_image(f, with_variants=False)
    timings["hash_image(bytes), no variants (decode+md5+sha256)"] = time.perf_counter() - t
    t = time.perf_counter()
    for f in files:
        hash_image(f)
    timings["hash_image(bytes), with variants"] = time.perf_counter() - t
    for name, secs in timings.items():
        print(f"  {name:55s} {n / secs:7.1f} images/s  ({secs / n * 1e3:6.2f} ms each)")

    big = [jpeg_bytes(synthetic_photo(20_000 + i, 3000, 2000)) for i in range(max(3, n // 20))]
    rows = []
    for max_side in (None, 1024):
        t = time.perf_counter()
        hashes = [hash_image(f, with_variants=False, max_side=max_side).pdq for f in big]
        rows.append((max_side, (time.perf_counter() - t) / len(big), hashes))
    full = rows[0][2]
    for max_side, secs, hashes in rows:
        drift = [hamming(a, b) for a, b in zip(full, hashes, strict=True)]
        print(
            f"  3000x2000 JPEG, max_side={max_side!s:5s}: {secs * 1e3:7.1f} ms each; "
            f"bits moved vs full size: median {_pct(drift, 50):.0f}, max {max(drift)}"
        )


def bench_robustness(n: int, distance: int = 31) -> None:
    print(f"\n## Robustness ({n} generated pictures, match = distance <= {distance})")
    rng = np.random.default_rng(7)
    originals = [synthetic_photo(i) for i in range(n)]
    base = [hash_image(jpeg_bytes(im)) for im in originals]
    print(f"  {'edit':22s} {'PDQ alone':>10s} {'+variants':>10s} {'median d (PDQ)':>15s}")
    for name, transform in TRANSFORMS.items():
        plain_hits = variant_hits = 0
        dists = []
        for im, h in zip(originals, base, strict=True):
            copy = hash_image(jpeg_bytes(transform(im, rng).convert("RGB")))
            d = hamming(h.pdq, copy.pdq)
            dists.append(d)
            plain_hits += d <= distance
            variant_hits += _best(h, copy) <= distance
        print(
            f"  {name:22s} {plain_hits / n:10.1%} {variant_hits / n:10.1%} {_pct(dists, 50):15.0f}"
        )
    pairs = n * (n - 1) // 2
    plain_false = variant_false = 0
    nearest = 256
    for i in range(n):
        for j in range(i + 1, n):
            d = hamming(base[i].pdq, base[j].pdq)
            nearest = min(nearest, d)
            plain_false += d <= distance
            variant_false += _best(base[i], base[j]) <= distance
    print(
        f"  {'different pictures':22s} {plain_false / pairs:10.3%} {variant_false / pairs:10.3%}"
        f"   false matches over {pairs} pairs (nearest PDQ distance {nearest})"
    )


def _planted_codes(n: int, rng: np.random.Generator, dups: int) -> np.ndarray:
    """Random codes with `dups` near-copies planted at distances spread over 0..40."""
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    src = rng.integers(0, n, dups)
    dst = rng.integers(0, n, dups)
    for a, b, k in zip(src, dst, rng.integers(0, 41, dups), strict=True):
        codes[b] = codes[a]
        for bit in rng.choice(256, int(k), replace=False):
            codes[b, bit // 8] ^= 1 << (bit % 8)
    return codes


def bench_index(n: int, queries: int) -> None:
    print(f"\n## Photo index ({n:,} random 256-bit hashes with planted near-copies)")
    rng = np.random.default_rng(3)
    codes = _planted_codes(n, rng, n // 500)
    rss0 = _rss_mb()
    index = PhotoIndex()
    t = time.perf_counter()
    index.add_codes(np.arange(n), codes)
    build = time.perf_counter() - t
    print(
        f"  build (add {n:,}): {build * 1e3:.0f} ms; held: {index.nbytes / 1e6:.1f} MB "
        f"({n * 32 / 1e6:.0f} MB codes + ids); RSS grew {_rss_mb() - rss0:.0f} MB"
    )

    picks = rng.integers(0, n, queries)
    q = codes[picks].copy()
    flips = rng.integers(0, 32, (queries, 3))
    for row, cols in enumerate(flips):
        q[row, cols] ^= 0x21  # a few bits away from a stored hash
    for threads in (1, faiss.omp_get_max_threads()):
        faiss.omp_set_num_threads(threads)
        lat = []
        for row in q:
            t = time.perf_counter()
            index.search_arrays(row[None, :], 31)
            lat.append(time.perf_counter() - t)
        print(
            f"  single query, max distance 31, {threads} thread(s): "
            f"p50 {_pct(lat, 50) * 1e3:.2f} ms, p95 {_pct(lat, 95) * 1e3:.2f} ms"
        )

    words = codes.view(np.uint64)
    missed = extra = total = 0
    sample = q[: min(queries, 50)]
    for row in sample:
        exact = np.flatnonzero(np.bitwise_count(words ^ row.view(np.uint64)).sum(1) <= 31)
        got = index.search_arrays(row[None, :], 31)[1]
        missed += len(set(exact.tolist()) - set(got.tolist()))
        extra += len(set(got.tolist()) - set(exact.tolist()))
        total += len(exact)
    print(
        f"  recall vs exhaustive numpy scan ({len(sample)} queries): "
        f"{(total - missed) / max(total, 1):.2%} ({missed} missed, {extra} extra)"
    )

    bulk = codes[rng.integers(0, n, 10_000)]
    t = time.perf_counter()
    got_q = index.search_arrays(bulk, 31)[0]
    mih = time.perf_counter() - t
    t = time.perf_counter()
    for start in range(0, 1000, 50):  # batches under the join threshold use the FAISS scan
        index.search_arrays(bulk[start : start + 50], 31)
    flat1k = time.perf_counter() - t
    print(
        f"  bulk search of 10,000 hashes (multi-index join): {mih:.1f} s "
        f"({len(got_q):,} hits); FAISS flat scan of 1,000: {flat1k:.1f} s"
    )

    mh = faiss.IndexBinaryMultiHash(256, 16, 16)
    mh.nflip = 1
    t = time.perf_counter()
    mh.add(codes)
    mh_build = time.perf_counter() - t
    lat = []
    for row in q[:200]:
        t = time.perf_counter()
        mh.range_search(row[None, :], 32)
        lat.append(time.perf_counter() - t)
    print(
        f"  (FAISS IndexBinaryMultiHash 16x16 nflip=1 for comparison: build {mh_build:.1f} s, "
        f"query p50 {_pct(lat, 50) * 1e3:.2f} ms, p95 {_pct(lat, 95) * 1e3:.2f} ms)"
    )
    del mh

    t = time.perf_counter()
    pairs = index.pairs_within(31)
    secs = time.perf_counter() - t
    print(
        f"  pairs_within(31) over {n:,}: {secs:.1f} s, {len(pairs):,} pairs, "
        f"peak RSS {_rss_mb():.0f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small run")
    args = ap.parse_args()
    faiss.omp_set_num_threads(1)
    if args.quick:
        bench_hashing(40)
        bench_robustness(60)
        bench_index(100_000, 200)
    else:
        bench_hashing(200)
        bench_robustness(300)
        bench_index(1_000_000, 1000)


if __name__ == "__main__":
    main()
