"""Photo hashing: edited copies of a picture still match, different pictures do not, and
hostile files fail cleanly. All pictures are generated here (shapes, gradients, noise)."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib
from functools import cache
from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageDraw

from safelight.extract.photos import (
    CONTENT_VARIANTS,
    DIHEDRAL_NAMES,
    ImageError,
    PhotoHash,
    bits_to_hex,
    blurred_thumbnail,
    decode_image,
    hamming,
    hash_image,
    hash_pixels,
    pdq_hex_to_bits,
    trim_borders,
)

MATCH = 31  # settings.photo_distance default
N_PICTURES = 6


def picture(seed: int, width: int = 320, height: int = 240) -> Image.Image:
    """A benign generated picture with photo-like structure: a colour field, shapes of
    several sizes, a word, and mild noise."""
    rng = np.random.default_rng(seed)
    field = (rng.random((4, 5, 3)) * 255).astype(np.uint8)
    img = Image.fromarray(field).resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1 = x0 + int(rng.integers(width // 16, width // 2))
        y1 = y0 + int(rng.integers(height // 16, height // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    draw.text((int(rng.integers(0, width // 2)), int(rng.integers(0, height - 20))), "GARDEN")
    arr = np.asarray(img).astype(np.int16) + rng.integers(-5, 6, (height, width, 1))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def encode(img: Image.Image, fmt: str = "JPEG", **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


@cache
def originals() -> tuple[tuple[Image.Image, PhotoHash], ...]:
    out = []
    for seed in range(N_PICTURES):
        img = picture(seed)
        out.append((img, hash_image(encode(img, quality=92))))
    return tuple(out)


def best(a: PhotoHash, b: PhotoHash) -> int:
    """Distance as linking sees it: stored hashes of one against query hashes of the other."""
    pairs = [(x, y) for x in a.index_hashes() for y in b.query_hashes()]
    pairs += [(x, y) for x in b.index_hashes() for y in a.query_hashes()]
    return min(hamming(x, y) for x, y in pairs)


# ---------------------------------------------------------------- hex, bits, distance


def test_hex_and_bits_round_trip_in_pdqhash_order() -> None:
    arr = np.asarray(picture(1))
    bits, _ = pdqhash.compute(arr)
    pdq, _, _ = hash_pixels(arr, with_variants=False)
    assert pdq == bits_to_hex(bits)
    assert len(pdq) == 64 and pdq == pdq.lower()
    assert np.array_equal(pdq_hex_to_bits(pdq), bits.astype(np.uint8))


def test_hamming_counts_differing_bits() -> None:
    a = "0" * 64
    assert hamming(a, a) == 0
    assert hamming(a, "f" + "0" * 63) == 4
    assert hamming(a, "F" * 64) == 256
    with pytest.raises(ValueError):
        hamming(a, "0" * 63)
    with pytest.raises(ValueError):
        hamming(a, "g" * 64)
    with pytest.raises(ValueError):
        bits_to_hex([0, 1])


# ---------------------------------------------------------------- the PhotoHash


def test_hash_image_reports_exact_hashes_size_and_variants(tmp_path: Path) -> None:
    data = encode(picture(3))
    ph = hash_image(data)
    assert ph.sha256 == hashlib.sha256(data).hexdigest()
    assert ph.md5 == hashlib.md5(data).hexdigest()
    assert (ph.width, ph.height) == (320, 240)
    assert ph.quality >= 50 and not ph.low_quality
    assert set(DIHEDRAL_NAMES) <= set(ph.variants)
    assert {"center95", "center90", "center80"} <= set(ph.variants)
    assert ph.index_hashes()[0] == ph.pdq and ph.query_hashes()[0] == ph.pdq
    assert set(ph.index_hashes()[1:]) <= {ph.variants.get(n) for n in CONTENT_VARIANTS}
    path = tmp_path / "p.jpg"
    path.write_bytes(data)
    assert hash_image(path) == ph == hash_image(str(path))
    plain = hash_image(data, with_variants=False)
    assert plain.pdq == ph.pdq and plain.variants == {}
    record = ph.to_record(url="https://example.org/p.jpg")
    assert record.pdq == ph.pdq and record.sha256 == ph.sha256 and record.quality == ph.quality
    assert ph.to_json()["variants"] == ph.variants
    assert PhotoHash.from_json(ph.to_json()) == ph


def _brightness(img: Image.Image, delta: int) -> Image.Image:
    arr = np.asarray(img).astype(np.int16) + delta
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _crop(img: Image.Image, fraction: float) -> Image.Image:
    w, h = img.size
    dx, dy = round(w * fraction / 2), round(h * fraction / 2)
    return img.crop((dx, dy, w - dx, h - dy))


EDITS = {
    "resized to 60%": lambda im: im.resize((192, 144), Image.Resampling.BILINEAR),
    "enlarged": lambda im: im.resize((480, 360), Image.Resampling.BICUBIC),
    "JPEG quality 50": lambda im: Image.open(io.BytesIO(encode(im, quality=50))),
    "brightness +25": lambda im: _brightness(im, 25),
    "cropped 1%": lambda im: _crop(im, 0.01),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_edited_copies_match_on_pdq_alone(edit: str) -> None:
    dists = []
    for img, ph in originals():
        copy = hash_image(encode(EDITS[edit](img).convert("RGB"), quality=85))
        dists.append(hamming(ph.pdq, copy.pdq))
    assert max(dists) <= MATCH, dists


VARIANT_EDITS = {
    "mirrored": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "rotated 90": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "upside down": lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    "cropped 10% evenly": lambda im: _crop(im, 0.10),
    "cropped 5% evenly": lambda im: _crop(im, 0.05),
}


@pytest.mark.parametrize("edit", list(VARIANT_EDITS))
def test_mirrored_rotated_and_cropped_copies_match_through_variants(edit: str) -> None:
    dists = []
    for img, ph in originals():
        copy = hash_image(encode(VARIANT_EDITS[edit](img), quality=85))
        dists.append(best(ph, copy))
    assert max(dists) <= MATCH, dists


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (40, 90, 200)])
def test_letterboxed_copies_match_through_the_trimmed_variant(colour: tuple[int, ...]) -> None:
    for img, ph in originals()[:3]:
        w, h = img.size
        framed = Image.new("RGB", (w + 40, w + 40), colour)
        framed.paste(img, (20, (w + 40 - h) // 2))
        copy = hash_image(encode(framed, quality=85))
        assert hamming(ph.pdq, copy.pdq) > MATCH  # PDQ alone misses it
        assert "trim" in copy.variants
        assert hamming(ph.pdq, copy.variants["trim"]) <= MATCH


def test_trim_borders_finds_the_content_box_and_ignores_flat_pictures() -> None:
    arr = np.full((200, 300, 3), 10, dtype=np.uint8)
    arr[30:170, 50:260] = np.asarray(picture(2, 210, 140))
    assert trim_borders(arr) == (30, 170, 50, 260)
    assert trim_borders(np.asarray(picture(2))) is None
    assert trim_borders(np.full((100, 100, 3), 200, dtype=np.uint8)) is None


def test_different_pictures_do_not_match_even_with_variants() -> None:
    hashes = [ph for _, ph in originals()]
    for i, a in enumerate(hashes):
        for b in hashes[i + 1 :]:
            assert hamming(a.pdq, b.pdq) > MATCH
            assert best(a, b) > MATCH


def test_flat_picture_is_low_quality_and_gets_no_variants() -> None:
    flat = hash_image(encode(Image.new("RGB", (200, 150), (120, 130, 140))))
    assert flat.low_quality and flat.quality < 50
    assert flat.variants == {}
    assert hash_image(encode(picture(4)), min_quality=101).low_quality


# ---------------------------------------------------------------- decoding


def test_exif_orientation_is_applied() -> None:
    img = picture(5)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: viewers rotate 90 degrees clockwise
    data = encode(img, quality=92, exif=exif.tobytes())
    ph = hash_image(data)
    assert (ph.width, ph.height) == (240, 320)
    upright = hash_image(encode(img.transpose(Image.Transpose.ROTATE_270), quality=92))
    assert hamming(ph.pdq, upright.pdq) <= 8


def test_modes_are_flattened_to_rgb() -> None:
    img = picture(1)
    reference = hash_image(encode(img, "PNG")).pdq
    rgba = img.convert("RGBA")
    palette = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    grey16 = Image.fromarray(np.asarray(img.convert("L")).astype(np.uint16) * 257)
    cmyk = img.convert("CMYK")
    for name, data, limit in [
        ("RGBA", encode(rgba, "PNG"), 4),
        ("palette", encode(palette, "PNG"), 26),
        ("palette+transparency", encode(palette, "PNG", transparency=0), 28),
        ("16-bit grey", encode(grey16, "PNG"), 8),  # PDQ reads luma only
        ("CMYK JPEG", encode(cmyk, "JPEG", quality=92), 8),
        ("bilevel", encode(img.convert("1"), "PNG"), 40),  # dithered: a real change
        ("GIF", encode(img, "GIF"), 28),
        ("WebP", encode(img, "WEBP", quality=80), 12),
    ]:
        got = hash_image(data, with_variants=False)
        assert got.width == 320 and got.height == 240, name
        assert hamming(reference, got.pdq) <= limit, name


def test_transparent_pixels_are_shown_over_white() -> None:
    rgba = np.zeros((120, 160, 4), dtype=np.uint8)  # fully transparent black
    rgba[30:90, 40:120] = (200, 0, 0, 255)
    arr = np.asarray(decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG")))
    assert tuple(arr[0, 0]) == (255, 255, 255)
    assert tuple(arr[60, 80]) == (200, 0, 0)


def test_16_bit_values_are_scaled_not_clipped() -> None:
    grad = (np.arange(256, dtype=np.uint16)[None, :] * 257).repeat(32, axis=0)
    arr = np.asarray(decode_image(encode(Image.fromarray(grad), "PNG")))
    assert arr[0, 0, 0] == 0 and arr[0, 255, 0] == 255 and 120 <= arr[0, 128, 0] <= 136


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a picture at all",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        b"\xff\xd8\xff\xe0" + b"\x00" * 10,
    ],
    ids=["empty", "text", "png-signature-only", "jpeg-header-only"],
)
def test_junk_bytes_raise_image_error(data: bytes) -> None:
    with pytest.raises(ImageError):
        hash_image(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_truncated_files_raise_image_error(fmt: str) -> None:
    data = encode(picture(2), fmt)
    with pytest.raises(ImageError):
        hash_image(data[: len(data) // 2])


def test_limits_guard_against_bombs_and_huge_files(tmp_path: Path) -> None:
    data = encode(picture(2), "PNG")
    with pytest.raises(ImageError, match="pixel limit"):
        hash_image(data, max_pixels=320 * 240 - 1)
    with pytest.raises(ImageError, match="byte"):
        hash_image(data, max_bytes=len(data) - 1)
    with pytest.raises(ImageError, match="cannot read"):
        hash_image(tmp_path / "missing.jpg")
    # An ad's image path is hostile too: a device would be read forever, a FIFO block.
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    for path in (Path("/dev/zero"), fifo, tmp_path):
        with pytest.raises(ImageError, match="not a regular file"):
            hash_image(path)
    # Bombs: headers that promise huge pictures. Refused before a pixel is decoded, both
    # by our own limit and by Pillow's (which we turn into ImageError too).
    for side in (9_000, 30_000):
        with pytest.raises(ImageError):
            hash_image(png_claiming(side, side))


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG file whose header claims width x height RGB pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_large_pictures_are_reduced_with_little_drift() -> None:
    big = encode(picture(6, 2400, 1800), quality=90)
    reduced = hash_image(big, with_variants=False)
    full = hash_image(big, with_variants=False, max_side=None)
    assert (reduced.width, reduced.height) == (2400, 1800) == (full.width, full.height)
    assert hamming(reduced.pdq, full.pdq) <= 12


# ---------------------------------------------------------------- thumbnails


def test_blurred_thumbnail_is_small_jpeg_without_detail() -> None:
    img = picture(3)
    checker = np.indices((240, 320)).sum(axis=0) % 2 * 255  # the sharpest possible detail
    sharp = Image.fromarray(checker.astype(np.uint8)).convert("RGB")
    for source in (encode(img), encode(sharp, "PNG")):
        thumb = blurred_thumbnail(source)
        assert thumb[:3] == b"\xff\xd8\xff" and len(thumb) < 4000
        out = np.asarray(Image.open(io.BytesIO(thumb)).convert("L")).astype(np.int16)
        assert max(out.shape) == 64
        assert np.abs(np.diff(out, axis=1)).mean() < 4  # neighbours nearly equal: blurred
    with pytest.raises(ValueError):
        blurred_thumbnail(encode(img), size=4)
    with pytest.raises(ImageError):
        blurred_thumbnail(b"junk")
