"""Photo hashing: PDQ perceptual hashes, exact hashes and a blurred thumbnail.

Safelight never keeps pictures. A photo becomes a `PhotoHash`: Meta's PDQ hash (256 bits,
64 hex characters, with a 0-100 quality score), the MD5 and SHA-256 of the file bytes (what
clearing houses' lists carry), and extra PDQ hashes ("variants") that let copies which PDQ
alone misses still match:

- the seven other dihedral transforms (mirrored and rotated copies);
- `trim`: the picture with flat borders stripped (letterboxed / pillarboxed reposts);
- `center95`, `center90`, `center80`: centred crops (copies trimmed evenly on all sides).

`PhotoHash.index_hashes()` are the hashes to store for a picture (itself and its content
variants, so a later cropped or framed copy finds it), `PhotoHash.query_hashes()` the ones
to search with (all variants): a mirrored copy matches through the query's `flip_h`
without the index growing eightfold. Recall per edit is measured in bench/bench_photos.py;
one-sided crops of 5% or more are still missed.

Everything here is pure: bytes in, hashes out; no global state is changed (Pillow's
decompression-bomb limit is enforced by our own check, not by editing `Image.MAX_IMAGE_PIXELS`).
"""

from __future__ import annotations

import hashlib
import io
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pdqhash
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from safelight.records import Image as ImageRecord

PDQ_BITS = 256
PDQ_HEX_CHARS = PDQ_BITS // 4
DEFAULT_MIN_QUALITY = 50  # PDQ's own recommendation: below 50 a hash is unreliable
DEFAULT_MAX_PIXELS = 64_000_000  # beyond this a file is treated as a decompression bomb
DEFAULT_MAX_BYTES = 64_000_000
_EXIF_ORIENTATION = 0x0112
DEFAULT_MAX_SIDE = 1024  # larger pictures are box-reduced before hashing (see hash_image)

# The other seven dihedral transforms in pdqhash.compute_dihedral's order, named as numpy
# would apply them (rot90 is counter-clockwise): a copy edited by one of them has, nearly,
# the variant of that name.
DIHEDRAL_NAMES = ("rot90", "rot180", "rot270", "flip_v", "flip_h", "transpose", "antitranspose")
_PDQ_SIDE = 64  # PDQ works on a 64x64 luma buffer; variants are hashed from one (hash_pixels)
CROP_FRACTIONS = (0.95, 0.9, 0.8)
CONTENT_VARIANTS = ("trim", *(f"center{round(f * 100)}" for f in CROP_FRACTIONS))

# Border trimming: a row/column belongs to a border when at most 2% of its pixels are
# further than this from the border colour in some channel (JPEG ringing leaves a few).
_BORDER_TOLERANCE = 24
_BORDER_OUTLIERS = 0.02
_BORDER_MIN_FRACTION = 0.02  # ignore borders thinner than 2% of the side
_CONTENT_MIN_FRACTION = 0.2  # and "content" thinner than 20% of the side (a flat picture)


class ImageError(ValueError):
    """The bytes are not a picture we can safely decode (corrupt, truncated, a bomb...)."""


@dataclass(frozen=True, slots=True)
class PhotoHash:
    """Everything Safelight keeps about one picture."""

    pdq: str
    quality: int
    sha256: str
    md5: str
    width: int
    height: int
    variants: dict[str, str] = field(default_factory=dict)
    low_quality: bool = False

    def index_hashes(self) -> list[str]:
        """The hashes to store for this picture: itself plus its content variants."""
        out = [self.pdq]
        out += [self.variants[n] for n in CONTENT_VARIANTS if n in self.variants]
        return out

    def query_hashes(self) -> list[str]:
        """The hashes to search with: itself plus every variant (mirrors, rotations...)."""
        return [self.pdq, *self.variants.values()]

    def to_json(self) -> dict[str, Any]:
        return {
            "pdq": self.pdq,
            "quality": self.quality,
            "sha256": self.sha256,
            "md5": self.md5,
            "width": self.width,
            "height": self.height,
            "variants": dict(self.variants),
            "low_quality": self.low_quality,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PhotoHash:
        """Inverse of `to_json` (for hashes kept in the database)."""
        return cls(
            pdq=str(data["pdq"]),
            quality=int(data["quality"]),
            sha256=str(data["sha256"]),
            md5=str(data["md5"]),
            width=int(data["width"]),
            height=int(data["height"]),
            variants={str(k): str(v) for k, v in dict(data.get("variants") or {}).items()},
            low_quality=bool(data.get("low_quality", False)),
        )

    def to_record(self, url: str = "", path: str = "") -> ImageRecord:
        """The `records.Image` an Ad carries for this picture."""
        return ImageRecord(
            url=url, path=path, sha256=self.sha256, pdq=self.pdq, quality=self.quality
        )


# ---------------------------------------------------------------- hex, bits and distance


def _check_hex(value: str) -> str:
    value = value.strip().lower()
    if len(value) != PDQ_HEX_CHARS:
        raise ValueError(f"a PDQ hash has {PDQ_HEX_CHARS} hex characters, got {len(value)}")
    try:
        bytes.fromhex(value)
    except ValueError as exc:
        raise ValueError(f"not a hex string: {value[:16]}...") from exc
    return value


def pdq_hex_to_bits(value: str) -> np.ndarray:
    """256 uint8 0/1 values, most significant bit first (pdqhash.compute's order)."""
    raw = np.frombuffer(bytes.fromhex(_check_hex(value)), dtype=np.uint8)
    return np.unpackbits(raw)


def bits_to_hex(bits: np.ndarray | list[int]) -> str:
    """Inverse of `pdq_hex_to_bits`; the lower-case hex that PDQ's reference tools print."""
    arr = np.asarray(bits, dtype=np.uint8).ravel()
    if arr.size != PDQ_BITS:
        raise ValueError(f"expected {PDQ_BITS} bits, got {arr.size}")
    return np.packbits(arr).tobytes().hex()


def pdq_hex_to_bytes(value: str) -> bytes:
    """The 32 packed bytes of a hash (the layout FAISS binary indexes and the DB use)."""
    return bytes.fromhex(_check_hex(value))


def hamming(a_hex: str, b_hex: str) -> int:
    """Number of differing bits; PDQ calls two pictures the same at 31 or fewer."""
    a = int(_check_hex(a_hex), 16)
    b = int(_check_hex(b_hex), 16)
    return (a ^ b).bit_count()


# ---------------------------------------------------------------- decoding


def read_source(source: str | Path | bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The raw bytes of a picture given as bytes or a local path (never a URL: no fetching)."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    else:
        path = Path(source)
        try:
            info = path.stat()
            # Only a regular file: an ad's "/dev/zero" would be read forever, a FIFO block.
            if not stat.S_ISREG(info.st_mode):
                raise ImageError(f"{path}: not a regular file")
            if info.st_size > max_bytes:
                raise ImageError(f"{path}: {info.st_size} bytes is over the {max_bytes} limit")
            with path.open("rb") as fh:
                data = fh.read(max_bytes + 1)  # bounded even if the file grew since
        except OSError as exc:
            raise ImageError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if len(data) > max_bytes:
        raise ImageError(f"{len(data)} bytes is over the {max_bytes} limit")
    if not data:
        raise ImageError("empty file")
    return data


def _to_8bit(img: Image.Image) -> Image.Image:
    """Scale 16/32-bit and float greys into 0-255 (Pillow's convert would clip them)."""
    arr = np.asarray(img)
    if img.mode == "F" or arr.dtype.kind == "f":
        arr = np.nan_to_num(arr.astype(np.float64))
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    else:
        arr = arr.astype(np.int64)
        hi = int(arr.max()) if arr.size else 0
        lo = int(arr.min()) if arr.size else 0
        if lo >= 0 and hi <= 255:
            scaled = arr
        elif lo >= 0 and hi <= 65535:
            scaled = arr / 257.0
        else:
            scaled = (arr - lo) * (255.0 / (hi - lo))
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")


def _flatten(img: Image.Image) -> Image.Image:
    """RGB, with any transparency composited over white (how a site would show it)."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        img = _to_8bit(img)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return img


def _open_upright(
    data: bytes, max_pixels: int, max_side: int | None
) -> tuple[Image.Image, int, int]:
    """Decode and orient; also return the upright size before any draft-mode reduction."""
    try:
        img = Image.open(io.BytesIO(data))
        width, height = img.size
        if width <= 0 or height <= 0:
            raise ImageError("picture has no pixels")
        if width * height > max_pixels:
            raise ImageError(f"{width}x{height} is over the {max_pixels}-pixel limit")
        if img.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8):
            width, height = height, width
        if max_side and img.format == "JPEG" and max(width, height) > 2 * max_side:
            img.draft("RGB", (max_side, max_side))
        img.load()
        upright = ImageOps.exif_transpose(img) or img
        return _flatten(upright), width, height
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(f"decompression bomb: {exc}") from exc
    except Exception as exc:  # ads are hostile input: any decoder failure is an ImageError
        if isinstance(exc, UnidentifiedImageError):
            raise ImageError("not a picture format Pillow can read") from exc
        raise ImageError(f"cannot decode picture ({type(exc).__name__}: {exc})") from exc


def decode_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int | None = None,
) -> Image.Image:
    """Decode hostile bytes into an upright RGB picture, or raise `ImageError`.

    The pixel count is checked from the header before any pixel is decoded. With `max_side`
    a large JPEG is decoded at a reduced DCT scale (Pillow's draft mode, never below
    `max_side`), which is what makes camera-sized files cheap.
    """
    return _open_upright(data, max_pixels, max_side)[0]


def _reduce(img: Image.Image, max_side: int | None) -> Image.Image:
    """Shrink by an integer box factor so the long side is at most about `max_side`.

    A box average is close to the Jarosz box filters PDQ itself uses to reach 64x64, so
    the hash moves only a few bits (measured in bench/bench_photos.py) while a 12-megapixel
    photo stops costing hundreds of MB of float buffers inside pdqhash.
    """
    if not max_side:
        return img
    factor = -(-max(img.size) // max_side)  # ceil
    if factor <= 1:
        return img
    return img.reduce(factor)


# ---------------------------------------------------------------- hashing


def _hex(bits: np.ndarray) -> str:
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def _pdq(rgb: np.ndarray) -> tuple[str, int]:
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return _hex(bits), int(quality)


def _border_run(lines: np.ndarray) -> int:
    """How many lines, from the first one inwards, are flat in the first line's colour.

    `lines` is (n, length, 3) uint8 starting at an edge. Lines are examined in growing
    blocks, so a picture without a border costs one small block.
    """
    colour = np.median(lines[0], axis=0).astype(np.int16)
    start, size = 0, 8
    while start < len(lines):
        block = lines[start : start + size].astype(np.int16)
        off = (np.abs(block - colour).max(axis=2) > _BORDER_TOLERANCE).mean(axis=1)
        bad = np.flatnonzero(off > _BORDER_OUTLIERS)
        if bad.size:
            return start + int(bad[0])
        start += size
        size *= 2
    return len(lines)


def trim_borders(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """Box (top, bottom, left, right) of the content inside flat borders, or None.

    Reposts often pad a picture to a square or 16:9 frame with a flat colour; stripping
    the padding restores the original framing, so its hash matches the original's.
    Each side's border colour is taken from that edge, so mixed bars work too.
    """
    h, w = rgb.shape[:2]
    if h < 16 or w < 16:
        return None
    columns = rgb.transpose(1, 0, 2)
    top, bottom = _border_run(rgb), _border_run(rgb[::-1])
    left, right = _border_run(columns), _border_run(columns[::-1])
    top, bottom = (v if v >= _BORDER_MIN_FRACTION * h else 0 for v in (top, bottom))
    left, right = (v if v >= _BORDER_MIN_FRACTION * w else 0 for v in (left, right))
    if top == bottom == left == right == 0:
        return None
    if h - top - bottom < _CONTENT_MIN_FRACTION * h or w - left - right < _CONTENT_MIN_FRACTION * w:
        return None  # a flat picture, not a framed one
    return top, h - bottom, left, w - right


def _box_box(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) to Pillow's (left, upper, right, lower)."""
    top, bottom, left, right = box
    return left, top, right, bottom


def _center_box(h: int, w: int, fraction: float) -> tuple[int, int, int, int]:
    ch, cw = max(1, round(h * fraction)), max(1, round(w * fraction))
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return y0, y0 + ch, x0, x0 + cw


def _small(img: Image.Image, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """A region box-averaged to PDQ's own 64x64 working size."""
    region = None if box is None else _box_box(box)
    size = (_PDQ_SIDE, _PDQ_SIDE)
    return np.asarray(img.resize(size, Image.Resampling.BOX, box=region))


def hash_pixels(
    rgb: np.ndarray,
    *,
    with_variants: bool = True,
    min_quality: int = DEFAULT_MIN_QUALITY,
) -> tuple[str, int, dict[str, str]]:
    """PDQ hash, quality and variants of an RGB uint8 array (H, W, 3).

    The hash itself is PDQ on the full picture, as the reference tools compute it (hash
    lists are made that way). Variants are PDQ of the picture box-averaged to 64x64 first:
    PDQ would reduce it to 64x64 anyway, so this moves a hash only ~6 bits (max ~10,
    measured), makes all eight dihedral hashes exact (on the full picture four of them
    drift ~10 bits, PDQ's filters being asymmetric) and costs ~1 ms instead of a full PDQ
    pass per variant. Variants below `min_quality` are left out: a flat crop would match
    every other flat crop.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("expected an RGB uint8 array of shape (H, W, 3)")
    pdq, quality = _pdq(rgb)
    variants: dict[str, str] = {}
    if not with_variants:
        return pdq, quality, variants
    img = Image.fromarray(rgb)
    if quality >= min_quality:
        turned, _ = pdqhash.compute_dihedral(np.ascontiguousarray(_small(img)))
        variants.update(zip(DIHEDRAL_NAMES, map(_hex, turned[1:]), strict=True))
    h, w = rgb.shape[:2]
    regions: dict[str, tuple[int, int, int, int]] = {}
    box = trim_borders(rgb)
    if box is not None:
        top, bottom, left, right = box
        # One more pixel in from each cut edge: JPEG blends the border into it.
        top, left = top + (top > 0), left + (left > 0)
        bottom, right = bottom - (bottom < h), right - (right < w)
        regions["trim"] = (top, bottom, left, right)
    for fraction in CROP_FRACTIONS:
        regions[f"center{round(fraction * 100)}"] = _center_box(h, w, fraction)
    for name, region in regions.items():
        value, q = _pdq(_small(img, region))
        if q >= min_quality:
            variants[name] = value
    return pdq, quality, variants


def hash_image(
    source: str | Path | bytes,
    *,
    with_variants: bool = True,
    min_quality: int = DEFAULT_MIN_QUALITY,
    max_side: int | None = DEFAULT_MAX_SIDE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> PhotoHash:
    """Hash one picture (a local path or the file's bytes) into a `PhotoHash`.

    `width`/`height` are the upright picture's size before any reduction. Pictures larger
    than `max_side` are reduced first (None: hash at full size, as PDQ's reference tools
    do; costs time and memory on camera-sized files).
    """
    data = read_source(source, max_bytes=max_bytes)
    img, width, height = _open_upright(data, max_pixels, max_side)
    rgb = np.asarray(_reduce(img, max_side))
    pdq, quality, variants = hash_pixels(rgb, with_variants=with_variants, min_quality=min_quality)
    return PhotoHash(
        pdq=pdq,
        quality=quality,
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        width=width,
        height=height,
        variants=variants,
        low_quality=quality < min_quality,
    )


# ---------------------------------------------------------------- thumbnails


def blurred_thumbnail(
    source: str | Path | bytes,
    size: int = 64,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> bytes:
    """A small, heavily blurred JPEG: enough to recall colours and layout, not content.

    The picture is first shrunk to 12 pixels on its long side (detail is destroyed, not
    hidden, so no filter can bring it back), then enlarged to `size` and blurred again so
    the blocks do not read as a mosaic.
    """
    if size < 8 or size > 256:
        raise ValueError("thumbnail size must be between 8 and 256 pixels")
    data = read_source(source, max_bytes=max_bytes)
    img = decode_image(data, max_pixels=max_pixels, max_side=4 * size)
    tiny = img.copy()
    tiny.thumbnail((12, 12), Image.Resampling.BOX)
    w, h = img.size
    scale = size / max(w, h)
    out_size = (max(1, round(w * scale)), max(1, round(h * scale)))
    thumb = tiny.resize(out_size, Image.Resampling.BILINEAR)
    thumb = thumb.filter(ImageFilter.GaussianBlur(radius=max(2.0, size / 16)))
    buf = io.BytesIO()
    thumb.save(buf, format="JPEG", quality=60, optimize=True)
    return buf.getvalue()
