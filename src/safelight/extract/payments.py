"""Payment accounts: Cash App tags, Venmo, PayPal, Zelle, Apple Cash, crypto addresses.

The account that takes the money is the most durable identifier a network has: it survives
new phones and new ads. Crypto addresses are reported only when their checksum holds
(base58check, BIP-173/350 bech32/bech32m, EIP-55), so random strings never become leads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import base58
from Crypto.Hash import keccak

from safelight.extract._common import (
    add_free,
    load,
    lowered,
    own_free,
    standalone,
    word_set,
    words,
)
from safelight.records import Mention

_EMAIL = r"[a-z0-9_][a-z0-9._%+-]{0,63}+@[a-z0-9][a-z0-9-]{0,62}+(?:\.[a-z0-9-]{1,63}+){1,5}+"
_PHONE = r"(?:\+?1[ \t.-]?)?\(?[2-9]\d{2}\)?[ \t.-]?\d{3}[ \t.-]?\d{4}(?!\d)"
_CASHTAG = r"\$[a-z][a-z0-9_]{0,19}+(?![\w$])"
_TAG = re.compile(r"\$([a-z][a-z0-9_]{0,19}+)(?![\w$])")
_USERNAME = r"@?[a-z0-9_][a-z0-9_.\-]{1,29}+"
# Crypto addresses are matched where they start; the character before is checked in code.
_BASE58 = re.compile(r"[13LMD][1-9A-HJ-NP-Za-km-z]{25,34}+(?![A-Za-z0-9])")
_SEGWIT = re.compile(r"(?:bc|ltc)1[02-9ac-hj-np-z]{8,87}+(?![a-z0-9])")
_ETH = re.compile(r"0x[0-9a-f]{40}(?![a-z0-9])")

# --- checksums -----------------------------------------------------------------------------

_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_CONST, _BECH32M_CONST = 1, 0x2BC830A3


def _bech32_polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convertbits(data: list[int], frombits: int, tobits: int) -> list[int] | None:
    """Regroup 5-bit words into bytes; None when the padding is not all zeros (BIP-173)."""
    acc = bits = 0
    out = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if bits >= frombits or (acc << (tobits - bits)) & maxv:
        return None
    return out


def segwit_ok(address: str) -> bool:
    """True when `address` is a valid segwit address (BIP-173 v0, BIP-350 v1+)."""
    if address.lower() != address and address.upper() != address:
        return False
    addr = address.lower()
    pos = addr.rfind("1")
    if pos < 1 or pos + 7 > len(addr) or len(addr) > 90:
        return False
    hrp = addr[:pos]
    try:
        data = [_BECH32_CHARSET.index(c) for c in addr[pos + 1 :]]
    except ValueError:
        return False
    const = _bech32_polymod(_hrp_expand(hrp) + data)
    if const not in (_BECH32_CONST, _BECH32M_CONST) or not data[:-6]:
        return False
    version = data[0]
    program = _convertbits(data[1:-6], 5, 8)
    if program is None or version > 16 or not 2 <= len(program) <= 40:
        return False
    if version == 0:
        return const == _BECH32_CONST and len(program) in (20, 32)
    return const == _BECH32M_CONST


def eip55(address: str) -> str:
    """The EIP-55 mixed-case spelling of a 0x address (keccak-256 of the lower-case hex)."""
    hexpart = address[2:].lower()
    digest = keccak.new(digest_bits=256, data=hexpart.encode("ascii")).hexdigest()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(d, 16) >= 8 else c
        for c, d in zip(hexpart, digest[: len(hexpart)], strict=True)
    )


def base58_coin(address: str) -> str | None:
    """The coin of a base58check address whose checksum and version byte are right."""
    try:
        raw = base58.b58decode_check(address)
    except ValueError:
        return None
    if len(raw) != 21:
        return None
    return _tables().base58_versions.get((address[0], raw[0]))


# --- account ids after an app's name -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tables:
    app_re: re.Pattern[str]
    url_re: re.Pattern[str]
    cue_app: dict[str, str]
    first_words: frozenset[str]
    url_app: dict[str, str]
    url_domains: tuple[str, ...]
    base58_versions: dict[tuple[str, int], str]
    segwit_hrps: dict[str, str]


def _phrase(text: str) -> str:
    return r"[ \t]?".join(re.escape(p) for p in text.lower().split())


@cache
def _tables() -> _Tables:
    data = load("payments.yaml")
    cue_app: dict[str, str] = {}
    url_app: dict[str, str] = {}
    spelled: list[str] = []
    for app, spec in data["apps"].items():
        for cue in spec["cues"]:
            cue_app[re.sub(r"\s+", "", str(cue).lower())] = app
            spelled.append(str(cue).lower())
        for url in spec.get("urls") or ():
            url_app[str(url).lower()] = app
    first_words = {c.split()[0].split(".")[0] for c in spelled}
    first_words |= {re.sub(r"\s+", "", c) for c in spelled}
    cues = "|".join(_phrase(c) for c in sorted(spelled, key=len, reverse=True))
    fillers = "|".join(re.escape(f) for f in sorted(data["fillers"], key=len, reverse=True))
    app_re = re.compile(
        rf"(?P<cue>{cues})(?![\w])"
        rf"(?:[ \t]*(?:[:=>\-–—~|(\[]|(?:{fillers})(?![\w])))*+[ \t]*"
        rf"(?P<id>{_EMAIL}|{_PHONE}|{_CASHTAG}|{_USERNAME})"
    )
    urls = "|".join(re.escape(u) for u in sorted(url_app, key=len, reverse=True))
    url_re = re.compile(
        rf"(?<![\w.@/-])(?:https?://)?(?:www\.)?(?P<prefix>{urls})"
        r"(?P<id>\$?[a-z0-9_][a-z0-9_.\-]{0,29}+)"
    )
    domains = tuple(sorted({u.split("/", 1)[0] for u in url_app}))
    crypto = data["crypto"]
    versions = {(str(e["prefix"]), int(e["version"])): str(e["coin"]) for e in crypto["base58"]}
    return _Tables(
        app_re,
        url_re,
        cue_app,
        frozenset(first_words),
        url_app,
        domains,
        versions,
        {str(k): str(v) for k, v in crypto["segwit"].items()},
    )


def _phone_value(raw: str) -> str | None:
    digits = re.sub(r"\D", "", raw)
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return "+1" + digits if len(digits) == 10 else None


def _id_value(app: str, raw: str) -> str | None:
    """The normalised account for an app, or None when `raw` cannot be one of its ids."""
    kinds = load("payments.yaml")["apps"][app]["ids"]
    if "@" in raw and "." in raw.split("@", 1)[-1] and not raw.startswith("@"):
        return raw.lower().rstrip(".") if "email" in kinds else None
    if re.fullmatch(_PHONE, raw):
        return _phone_value(raw) if "phone" in kinds else None
    if raw.startswith("$"):
        return raw.lower() if "cashtag" in kinds else None
    name = raw.lstrip("@").rstrip(".-").lower()
    if not re.search(r"[a-z]", name) or name in words("payments.yaml", "username_stop"):
        return None
    if "cashtag" in kinds:
        return "$" + name
    return name if "username" in kinds else None


def _mention(text: str, start: int, end: int, platform: str, ident: str, conf: float) -> Mention:
    return Mention(
        "payment",
        f"{platform}:{ident}",
        text[start:end],
        start,
        end,
        conf,
        detail={"platform": platform},
    )


def _app_urls(text: str, low: str, t: _Tables) -> Iterator[Mention]:
    for m in t.url_re.finditer(low):
        app = t.url_app[m.group("prefix")]
        raw = m.group("id").rstrip(".-")
        ident = _id_value(app, raw if app != "cashapp" or raw.startswith("$") else "$" + raw)
        if ident:
            yield _mention(text, m.start(), m.start("id") + len(raw), app, ident, 0.95)


def _app_cues(text: str, low: str, t: _Tables, present: frozenset[str]) -> Iterator[Mention]:
    starts = sorted({i for w in present for i in standalone(low, w)})
    done = 0
    for i in starts:
        if i < done or (i > 0 and low[i - 1] in "$@./"):
            continue
        m = t.app_re.match(low, i)
        if m is None:
            continue
        app = t.cue_app.get(re.sub(r"\s+", "", m.group("cue")))
        raw = m.group("id").rstrip(".-")
        ident = _id_value(app, raw) if app else None
        if ident and app:
            done = m.start("id") + len(raw)
            yield _mention(text, i, done, app, ident, 0.9)


def _cashtags(text: str, low: str) -> Iterator[Mention]:
    stop = words("payments.yaml", "cashtag_stop")
    for m in _TAG.finditer(low):
        start = m.start()
        if start and (low[start - 1].isalnum() or low[start - 1] in "_$"):
            continue
        tag = m.group(1)
        if len(tag) >= 2 and tag not in stop:
            yield _mention(text, start, m.end(), "cashapp", "$" + tag, 0.8)


def _crypto(text: str, low: str, t: _Tables) -> Iterator[Mention]:
    def alone(start: int) -> bool:
        return start == 0 or not text[start - 1].isalnum()

    for m in _BASE58.finditer(text):
        coin = base58_coin(m.group()) if alone(m.start()) else None
        if coin:
            yield _mention(text, m.start(), m.end(), coin, m.group(), 0.95)
    if "1" in low and ("bc1" in low or "ltc1" in low):
        for m in _SEGWIT.finditer(low):
            raw = text[m.start() : m.end()]
            if alone(m.start()) and segwit_ok(raw):
                coin = t.segwit_hrps.get(m.group()[: m.group().rfind("1")])
                if coin:
                    yield _mention(text, m.start(), m.end(), coin, m.group(), 0.95)
    if "0x" in low:
        for m in _ETH.finditer(low):
            if not alone(m.start()):
                continue
            body = text[m.start() + 2 : m.end()]
            if body.lower() == body or body.upper() == body:
                conf = 0.7  # no checksum written: a typo cannot be ruled out
            elif eip55("0x" + body) == "0x" + body:
                conf = 0.95
            else:
                continue
            yield _mention(text, m.start(), m.end(), "eth", "0x" + body.lower(), conf)


def find_payments(text: str) -> list[Mention]:
    """Every payment account in `text`; overlapping finds keep the first, most specific one."""
    t = _tables()
    low = lowered(text)
    present = t.first_words & word_set(low)
    out: list[Mention] = []
    sources: list[Iterator[Mention]] = []
    if "/" in low and any(d in low for d in t.url_domains):
        sources.append(_app_urls(text, low, t))
    if present:
        sources.append(_app_cues(text, low, t, present))
    if "$" in low:
        sources.append(_cashtags(text, low))
    sources.append(_crypto(text, low, t))
    for source in sources:
        out = add_free(out, own_free(source))
    return out
