"""The corpus plan: every poster, its size and its phones, decided before any ad is written.

Planning up front lets the writer stream ads with bounded memory while still guaranteeing
the global facts the truth depends on: the organised share of ads, one youth network in
four, no phone given to two posters, hub numbers kept out of the posters' pool.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from safelight.generate.data import load
from safelight.generate.phones import PhonePool

ORGANISED_SHARE = 0.30  # of ads
YOUTH_EVERY = 4  # one organised network in four is a youth network
DECOY_EVERY = 33  # about 3% of independents are look-alike decoys
NO_PHONE_BY_CHOICE = 0.10  # independents who give only an email or a handle


@dataclass(slots=True)
class Poster:
    """One ground-truth network: an operation or an independent poster."""

    index: int
    kind: str  # organised | independent
    n_ads: int
    n_persons: int = 1
    youth: bool = False
    decoy: int = -1  # index into cues.yaml lookalike frames, -1 when not a decoy
    home: int = 0  # city index
    phones: list[str] = field(default_factory=list)  # national 10-digit numbers
    seed: int = 0
    tag: int = 0  # unique number that makes handles, emails and cash tags unique

    @property
    def network(self) -> str:
        return f"n{self.index:06d}"


@dataclass(slots=True)
class Plan:
    posters: list[Poster]
    phone_pool: int
    hub_phones: list[str]  # national numbers
    hub_emails: list[str]


@cache
def cities() -> list[dict[str, Any]]:
    return load("cities")["cities"]


@cache
def city_weights() -> list[int]:
    return list(itertools.accumulate(c["weight"] for c in cities()))


def _next_prime(n: int) -> int:
    def prime(k: int) -> bool:
        return k > 1 and all(k % d for d in range(2, int(k**0.5) + 1))

    while not prime(n):
        n += 1
    return n


def plan(n_ads: int, rng: random.Random) -> Plan:
    """Split `n_ads` among posters, then give each its home city and phones."""
    sites = load("sites")["sites"]
    hub_phones = [s["hub_phone"] for s in sites]
    hub_emails = [s["hub_email"] for s in sites]
    posters: list[Poster] = []

    left = round(n_ads * ORGANISED_SHARE) if n_ads >= 20 else 0
    while left > 0:
        persons = rng.randint(2, 8)
        size = min(left, persons * rng.randint(3, 14))
        posters.append(Poster(0, "organised", size, n_persons=min(persons, size)))
        left -= size
    left = n_ads - sum(p.n_ads for p in posters)
    while left > 0:
        size = min(left, 1 + min(59, int(rng.expovariate(1 / 8))))
        posters.append(Poster(0, "independent", size))
        left -= size

    offset_youth = rng.randrange(YOUTH_EVERY)
    offset_decoy = rng.randrange(DECOY_EVERY)
    n_frames = len(load("cues")["lookalikes"]["frames"])
    org = [p for p in posters if p.kind == "organised"]
    ind = [p for p in posters if p.kind == "independent"]
    for i, p in enumerate(org):
        p.youth = (i + offset_youth) % YOUTH_EVERY == 0
    for i, p in enumerate(ind):
        if (i + offset_decoy) % DECOY_EVERY == 0:
            p.decoy = rng.randrange(n_frames)

    rng.shuffle(posters)
    modulus = _next_prime(max(1000, len(posters) + 1))
    a, b = rng.randrange(1, modulus), rng.randrange(modulus)
    weights = city_weights()
    n_cities = len(cities())
    for i, p in enumerate(posters):
        p.index = i
        p.seed = rng.getrandbits(64)
        p.tag = (a * i + b) % modulus
        p.home = rng.choices(range(n_cities), cum_weights=weights)[0]

    pool = PhonePool(rng, reserved=hub_phones)
    need = [
        rng.randint(1, 3) if p.kind == "organised" else int(rng.random() >= NO_PHONE_BY_CHOICE)
        for p in posters
    ]
    deficit = sum(need) - pool.size
    if deficit > 0:  # the fictional range is small: some independents go without a phone
        candidates = [i for i, p in enumerate(posters) if p.kind == "independent" and need[i]]
        rng.shuffle(candidates)
        for i in candidates[:deficit]:
            need[i] = 0
    for p, k in zip(posters, need, strict=True):
        local = cities()[p.home]["area_codes"]
        for j in range(k):
            far = p.kind == "organised" and (j > 0 or rng.random() < 0.7)
            number = pool.take_far(local) if far else pool.take(local)
            if number is None:
                break
            p.phones.append(number)
    return Plan(posters=posters, phone_pool=pool.size, hub_phones=hub_phones, hub_emails=hub_emails)
