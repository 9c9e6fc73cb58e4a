"""Phone number validity and geography, fast enough to test every candidate digit string.

`phonenumbers.parse` + `is_valid_number` cost tens of microseconds each; a disguised number
yields several candidates. For the North American Numbering Plan (country code 1: the US,
Canada and the Caribbean) we compile phonenumbers' own metadata patterns into one regex,
which gives the same answer as `is_valid_number` (a test compares them) in about a
microsecond. Other countries go through phonenumbers itself, cached.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

import phonenumbers
from phonenumbers import PhoneNumber, geocoder
from phonenumbers.geodata import GEOCODE_DATA, GEOCODE_LONGEST_PREFIX

NANP_REGIONS: tuple[str, ...] = tuple(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1])

_TYPES = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)


def _type_patterns(region: str) -> list[str]:
    md = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if md is None:
        return []
    out = []
    for name in _TYPES:
        desc = getattr(md, name, None)
        if desc is not None and desc.national_number_pattern:
            out.append(f"(?:{desc.national_number_pattern})")
    return out


@cache
def _nanp_any() -> re.Pattern[str]:
    """A 10-digit national number valid in some NANP region, per phonenumbers' metadata."""
    pats = [p for r in NANP_REGIONS for p in _type_patterns(r)]
    return re.compile("(?:" + "|".join(pats) + ")")


@cache
def _nanp_by_region() -> tuple[tuple[str, re.Pattern[str] | None, re.Pattern[str]], ...]:
    """Per region: (code, leading-digits pattern or None, validity pattern), in the order
    phonenumbers tries them when it names a number's region."""
    out = []
    for r in NANP_REGIONS:
        md = phonenumbers.PhoneMetadata.metadata_for_region(r)
        lead = re.compile(md.leading_digits) if md is not None and md.leading_digits else None
        out.append((r, lead, re.compile("(?:" + "|".join(_type_patterns(r) or ["(?!)"]) + ")")))
    return tuple(out)


@lru_cache(maxsize=1024)
def _known_area_code(npa: str) -> bool:
    """Some valid number starts with this area code (probed across exchanges)."""
    pat = _nanp_any()
    return any(pat.fullmatch(f"{npa}{nxx}0100") for nxx in range(200, 1000, 7))


def nanp_valid(d10: str) -> bool:
    """A 10-digit NANP number is valid, or in the fictional 555-0100..0199 range of a real
    area code (kept even if a future metadata release stops validating it)."""
    if d10[0] in "01":
        return False
    if _nanp_any().fullmatch(d10):
        return True
    return d10[3:8] == "55501" and _known_area_code(d10[:3])


@lru_cache(maxsize=65536)
def nanp_country(d10: str) -> str:
    """The region code (US, CA, JM...) of a valid NANP number, as phonenumbers names it."""
    for region, lead, pat in _nanp_by_region():
        if lead is not None:
            if lead.match(d10):
                return region
        elif pat.fullmatch(d10):
            return region
    return "US" if _known_area_code(d10[:3]) else ""


@cache
def _nanp_geographic() -> re.Pattern[str]:
    """Fixed-line or mobile in some NANP region: the numbers the geocoder describes by area."""
    pats = []
    for r in NANP_REGIONS:
        md = phonenumbers.PhoneMetadata.metadata_for_region(r)
        for name in ("fixed_line", "mobile"):
            desc = getattr(md, name, None) if md is not None else None
            if desc is not None and desc.national_number_pattern:
                pats.append(f"(?:{desc.national_number_pattern})")
    return re.compile("(?:" + "|".join(pats) + ")")


def _area_lookup(e164: str) -> str:
    """Longest-prefix lookup in phonenumbers' English geocoding data (what its geocoder
    does for a valid geographic number, without re-deriving the number's type)."""
    for n in range(min(len(e164) - 1, GEOCODE_LONGEST_PREFIX), 0, -1):
        names = GEOCODE_DATA.get(e164[1 : 1 + n])
        if names is not None and "en" in names:
            return str(names["en"])
    return ""


@lru_cache(maxsize=65536)
def describe(e164: str) -> tuple[str, str]:
    """(home area of the number as phonenumbers' offline geocoder names it, region code).

    Equal to `geocoder.description_for_number(num, "en")` (a test compares them); for NANP
    geographic numbers the prefix table is read directly, since the public call spends ~50 µs
    re-deriving the number type we have already checked. Cached: corpora repeat numbers.
    """
    if e164.startswith("+1") and len(e164) == 12:
        d10 = e164[2:]
        place = _area_lookup(e164) if _nanp_geographic().fullmatch(d10) else ""
        return place or _slow_place(d10), nanp_country(d10)
    try:
        num = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "", ""
    country = phonenumbers.region_code_for_number(num) or ""
    return geocoder.description_for_number(num, "en"), country


_SLOW_PLACES: dict[str, str] = {}


def _slow_place(d10: str) -> str:
    """The geocoder's own answer (a country name, or "" for toll-free...), memoised per
    6-digit prefix: its data never goes deeper for NANP, and the call costs ~50 µs."""
    key = d10[:6]
    place = _SLOW_PLACES.get(key)
    if place is None:
        if len(_SLOW_PLACES) >= 100_000:
            _SLOW_PLACES.clear()
        num = PhoneNumber(country_code=1, national_number=int(d10))
        place = geocoder.description_for_number(num, "en") or _area_place(d10[:3])
        _SLOW_PLACES[key] = place
    return place


@lru_cache(maxsize=1024)
def _area_place(npa: str) -> str:
    """Where an area code is, from the first valid number probed in it (fictional numbers
    the geocoder will not describe still get their area code's home)."""
    pat = _nanp_any()
    for nxx in range(200, 1000, 7):
        d10 = f"{npa}{nxx}0100"
        if pat.fullmatch(d10):
            return geocoder.description_for_number(
                PhoneNumber(country_code=1, national_number=int(d10)), "en"
            )
    return ""


@lru_cache(maxsize=16384)
def international(digits: str) -> str | None:
    """E.164 of "+<digits>" when phonenumbers finds it valid, else None."""
    try:
        num = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=16384)
def national(digits: str, region: str) -> str | None:
    """E.164 of a number written without country code in `region`, when valid, else None."""
    try:
        num = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
