"""Text templates: what stays when the parts that change between copies are masked.

One operation posts one text with the names, numbers, prices and places swapped. Masking the
spans the extractors found (and every number) leaves the template; a MinHash signature of its
word 3-shingles estimates the Jaccard similarity of two templates in constant time.

The MinHash is vectorised numpy (crc32 word hashes, affine permutations) rather than
datasketch's MinHash: measured on this machine, datasketch took 145–250 µs per ad and this
takes about 30 µs, which matters at 5,000 ads/s. LSH banding follows the usual b×r scheme.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from itertools import chain

import numpy as np

from safelight.memo import MAX_KEY_CHARS
from safelight.records import Mention

NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS  # P(candidate) = 1-(1-J^4)^16: 0.5 at J≈0.47, 0.98 at J=0.7
SHINGLE = 3
_SEED = 20261123

_rng = np.random.default_rng(_SEED)
# Multiply-shift hashing (Dietzfelbinger): ((a·x + b) mod 2**64) >> 32 with random odd 64-bit a.
_A = _rng.integers(0, 2**64 - 1, size=NUM_PERM, dtype=np.uint64, endpoint=True) | np.uint64(1)
_B = _rng.integers(0, 2**64 - 1, size=NUM_PERM, dtype=np.uint64, endpoint=True)
_M1 = np.uint64(0x9E3779B1)
_M2 = np.uint64(0x85EBCA77)
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)

_WORD = re.compile(r"[^\W\d_]+|\d+|⟨\w+⟩", re.UNICODE)
# ASCII characters that no `_WORD` match holds (all but letters, digits and "_"), as bytes.
_NON_WORD = bytes(c for c in range(128) if not (chr(c).isalnum() or chr(c) == "_"))
_BLANK = bytes.maketrans(_NON_WORD, b" " * len(_NON_WORD))
SLOT_OF_KIND = {
    "phone": "⟨phone⟩",
    "email": "⟨email⟩",
    "handle": "⟨handle⟩",
    "payment": "⟨payment⟩",
    "url": "⟨url⟩",
    "age": "⟨age⟩",
    "place": "⟨place⟩",
    "price": "⟨price⟩",
    "name": "⟨name⟩",
}


def masked_text(text: str, mentions: Sequence[Mention]) -> str:
    """The text with every extracted span replaced by its slot, e.g. "ask for ⟨name⟩"."""
    spans = sorted((m.start, m.end, m.kind) for m in mentions if 0 <= m.start < m.end)
    out: list[str] = []
    pos = 0
    for start, end, kind in spans:
        if start < pos:
            continue
        out.append(text[pos:start])
        out.append(f" {SLOT_OF_KIND.get(kind, '⟨x⟩')} ")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def template_tokens(text: str, mentions: Sequence[Mention]) -> list[str]:
    """Lower-case words of the masked text; numbers become '#' so counts and sizes don't matter.

    The words are `_WORD`'s matches. No match holds an ASCII character that is not a letter,
    digit or "_", nor white space, so the text is blanked at those (one C pass over its
    UTF-8 bytes) and split; each piece's words are then looked up in a memo (ads share most
    of their pieces), so a typical ad needs neither a regex nor a Python loop over its words.
    """
    low = masked_text(text, mentions).lower()
    blanked = (
        low.encode("utf-8", "surrogatepass").translate(_BLANK).decode("utf-8", "surrogatepass")
    )
    pieces = blanked.split()
    memo = _PIECES
    words = list(map(memo.get, pieces))
    if None in words:
        if len(memo) >= _PIECES_MAX:
            memo.clear()
        for k, found in enumerate(words):
            if found is None:
                piece = pieces[k]
                held = words[k] = _piece_words(piece)
                if len(piece) <= MAX_KEY_CHARS:  # a hostile ad's long piece is not kept
                    memo[piece] = held
    return list(chain.from_iterable(words))  # type: ignore[arg-type]


# Memo: blank-free piece -> its words ("jennifer" -> ("jennifer",), "6pm" -> ("#", "pm")).
# Bounded; a memo, so the words never depend on it.
_PIECES: dict[str, tuple[str, ...]] = {}
_PIECES_MAX = 100_000


def _piece_words(piece: str) -> tuple[str, ...]:
    """The words of one blank-free piece ("jennifer", "300", "⟨phone⟩", "6pm"), numbers '#'."""
    if piece.isalpha():
        return (piece,)
    if piece.isdecimal():
        return ("#",)
    return tuple("#" if w[0].isdigit() else w for w in _WORD.findall(piece))


def signature(tokens: Sequence[str]) -> np.ndarray | None:
    """MinHash (64 × uint32) of the word 3-shingles, or None when there are too few words."""
    if len(tokens) < SHINGLE:
        return None
    h = np.fromiter(
        map(zlib.crc32, "\x1f".join(tokens).encode().split(b"\x1f")),
        dtype=np.uint64,
        count=len(tokens),
    )
    sh = (h[:-2] * _M1 + h[1:-1] * _M2 + h[2:]) & _MASK32
    # uint64 arithmetic wraps modulo 2**64, which is what multiply-shift wants.
    return ((sh[:, None] * _A + _B) >> _SHIFT).min(axis=0).astype(np.uint32)


def text_signature(text: str, mentions: Sequence[Mention]) -> dict[str, object] | None:
    """The linking feature of one ad: its signature bytes and template length in words."""
    tokens = template_tokens(text, mentions)
    sig = signature(tokens)
    if sig is None:
        return None
    return {"sig": sig.tobytes(), "ntokens": len(tokens)}


# Shingles per numpy pass in `text_signatures`: a (shingles x NUM_PERM) uint64 array of this
# many rows is about 4 MB.
_BATCH_SHINGLES = 8192


def text_signatures(
    items: Sequence[tuple[str, Sequence[Mention]]],
) -> list[dict[str, object] | None]:
    """`text_signature` of many ads at once, with the same results.

    Why: numpy's fixed cost per call is most of a small ad's signature; a batch pays it once
    per few dozen ads (hashes of all their words in one pass, one matrix of all their
    shingles, per-ad minima by `np.minimum.reduceat`).
    """
    out: list[dict[str, object] | None] = [None] * len(items)
    batch: list[tuple[int, list[str]]] = []
    rows = 0
    for i, (text, mentions) in enumerate(items):
        tokens = template_tokens(text, mentions)
        if len(tokens) < SHINGLE:
            continue
        batch.append((i, tokens))
        rows += len(tokens) - SHINGLE + 1
        if rows >= _BATCH_SHINGLES:
            _sign_batch(batch, out)
            batch, rows = [], 0
    if batch:
        _sign_batch(batch, out)
    return out


def _sign_batch(batch: list[tuple[int, list[str]]], out: list[dict[str, object] | None]) -> None:
    """Fill `out[i]` for each (i, tokens) of the batch (every one has >= SHINGLE tokens)."""
    words = "\x1f".join("\x1f".join(tokens) for _, tokens in batch)  # no token holds "\x1f"
    total = sum(len(tokens) for _, tokens in batch)
    h = np.fromiter(map(zlib.crc32, words.encode().split(b"\x1f")), dtype=np.uint64, count=total)
    sh = (h[:-2] * _M1 + h[1:-1] * _M2 + h[2:]) & _MASK32
    # Shingle k starts at word k; an ad's shingles are those starting in its first n - 2 words.
    keep = np.ones(len(sh), dtype=bool)
    starts = []
    pos = kept = 0
    for _, tokens in batch:
        n = len(tokens)
        keep[pos + n - 2 : pos + n] = False  # these would run into the next ad
        starts.append(kept)
        kept += n - 2
        pos += n
    sh = sh[keep[: len(sh)]]
    values = np.multiply.outer(sh, _A)
    values += _B
    sigs = (np.minimum.reduceat(values, starts, axis=0) >> _SHIFT).astype(np.uint32)
    for row, (i, tokens) in enumerate(batch):
        out[i] = {"sig": sigs[row].tobytes(), "ntokens": len(tokens)}


def band_keys(sig: np.ndarray) -> list[int]:
    """One 63-bit key per band: ads sharing any key are candidates for the same template."""
    rows = sig.reshape(BANDS, ROWS).astype(np.uint64)
    keys = []
    for band in range(BANDS):
        r = rows[band]
        k = (
            int(r[0]) * 0x9E3779B97F4A7C15
            ^ int(r[1]) * 0xC2B2AE3D27D4EB4F
            ^ int(r[2]) * 0x165667B19E3779F9
            ^ int(r[3])
            ^ band << 56
        )
        keys.append(k & 0x7FFFFFFFFFFFFFFF)
    return keys


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two templates' shingle sets."""
    return float(np.count_nonzero(a == b)) / NUM_PERM
