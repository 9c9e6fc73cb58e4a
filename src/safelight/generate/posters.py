"""Every ad of one poster, with its truth rows and its network row.

A poster is generated whole from its own seed (so the corpus is deterministic whatever the
chunking), then the writer mixes its ads with other posters' ads by posting time.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from typing import Any

from safelight.generate import phones as ph
from safelight.generate import text
from safelight.generate.data import load
from safelight.generate.plan import Poster, cities, city_weights

SPAN_DAYS = 304  # 2026-01-01 .. 2026-10-31
DAY = 86400
# Chances that shape each kind of poster; the README of a written corpus repeats them.
ORG_OBFUSCATED = 0.60
IND_OBFUSCATING_POSTERS = 0.10
PHOTOLESS = 0.08

Row = tuple[int, dict[str, Any], dict[str, Any]]  # (posted_at seconds, ad, truth)


@cache
def _days() -> tuple[str, ...]:
    start = date(2026, 1, 1)
    return tuple((start + timedelta(d)).isoformat() for d in range(SPAN_DAYS + 1))


@cache
def _clock() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """ "THH:MM" for every minute of a day and ":SS" for every second: iso() is on the hot path."""
    minutes = tuple(f"T{m // 60:02d}:{m % 60:02d}" for m in range(1440))
    return minutes, tuple(f":{s:02d}Z" for s in range(60))


def iso(ts: int) -> str:
    """Seconds since 2026-01-01T00:00:00Z as ISO 8601 with Z."""
    d, s = divmod(ts, DAY)
    m, s = divmod(s, 60)
    minutes, seconds = _clock()
    return _days()[d] + minutes[m] + seconds[s]


@dataclass(slots=True)
class Site:
    name: str
    domain: str
    fields: tuple[str, ...]
    hub_rate: float
    footers: list[tuple[str, list[str]]]  # rendered footer, hub selectors in it


@cache
def _sites() -> tuple[list[Site], list[int]]:
    out = []
    for s in load("sites")["sites"]:
        hub_phone = ph.render(s["hub_phone"], "dash", random.Random(0))
        footers = []
        for pattern in s["footers"]:
            hubs = []
            if "{hub_phone}" in pattern:
                hubs.append(ph.e164(s["hub_phone"]))
            if "{hub_email}" in pattern:
                hubs.append(s["hub_email"])
            footers.append((pattern.format(hub_phone=hub_phone, hub_email=s["hub_email"]), hubs))
        out.append(Site(s["site"], s["domain"], tuple(s["fields"]), s["hub_rate"], footers))
    weights = list(itertools.accumulate(s["weight"] for s in load("sites")["sites"]))
    return out, weights


@cache
def _labels() -> tuple[str, ...]:
    return tuple(f"{c['city']}, {c['state']}" for c in cities())


@cache
def _short_names() -> tuple[str, ...]:
    return tuple(c["city"] for c in cities())


@cache
def _regions() -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, c in enumerate(cities()):
        out.setdefault(c["region"], []).append(i)
    return out


def _pick_sites(rng: random.Random, k: int) -> list[Site]:
    sites, weights = _sites()
    chosen: list[Site] = []
    while len(chosen) < k:
        s = rng.choices(sites, cum_weights=weights)[0]
        if s not in chosen:
            chosen.append(s)
    return chosen


Photo = tuple[int, str, str]  # base perceptual hash, its hex, the original file's sha256


def _photos(rng: random.Random) -> list[Photo]:
    """2-6 base photos of one person."""
    out = []
    for _ in range(rng.randint(2, 6)):
        base = rng.getrandbits(256)
        out.append((base, f"{base:064x}", f"{rng.getrandbits(256):064x}"))
    return out


@cache
def _flip_masks() -> tuple[int, ...]:
    """1024 XOR masks of 0-10 random bits (fixed seed): a re-encoded copy's distortion."""
    rng = random.Random(256)
    out = []
    for i in range(1024):
        mask = 0
        for _ in range(i % 11):
            mask |= 1 << rng.getrandbits(8)
        out.append(mask)
    rng.shuffle(out)
    return tuple(out)


def _images(rng: random.Random, photos: list[Photo], domain: str) -> list[dict[str, str]]:
    """Reuse of a person's photos; each copy flips 0-10 bits as re-encoding would."""
    r = rng.random
    if r() < PHOTOLESS:
        return []
    bits = rng.getrandbits
    n = len(photos)
    first = int(r() * n)
    masks = _flip_masks()
    out = []
    for i in range(1 + int(r() * min(4, n))):
        base, pdq, sha = photos[(first + i) % n]
        mask = masks[bits(10)]
        if mask:  # a re-encoded file: other bytes, other sha256
            sha = f"{bits(256):064x}"
            pdq = f"{base ^ mask:064x}"
        out.append({"url": f"https://img.{domain}/{sha[:24]}.jpg", "sha256": sha, "pdq": pdq})
    return out


@dataclass(slots=True)
class Selectors:
    """A poster's own non-phone identifiers (unique thanks to the plan's tag)."""

    email: str | None = None
    handle: str | None = None
    cashtag: str | None = None


def _selectors(
    rng: random.Random, p: Poster, who: str, *, email: float, handle: float, cashtag: float
) -> Selectors:
    names = load("names")
    word = rng.choice(names["handle_words"])
    who_l = who.lower()
    out = Selectors()
    if rng.random() < email:
        user = rng.choice(names["email_patterns"]).format(name=who_l, word=word, num=p.tag)
        out.email = f"{user}@{rng.choice(names['email_domains'])}"
    if rng.random() < handle:
        out.handle = f"{who_l}{rng.choice(('', '.', '_'))}{word}{p.tag}"
    if rng.random() < cashtag:
        out.cashtag = f"${who.capitalize()}{word.capitalize()}{p.tag}"
    return out


def _email_text(rng: random.Random, email: str) -> str:
    """The email as written when it is the only contact (disguised one time in five)."""
    if rng.random() >= 0.2:
        return email
    user, domain = email.split("@")
    fmt = rng.choice(load("obfuscation")["email_formats"])
    return fmt.format(user=user, domain=domain, domain_words=domain.replace(".", " dot "))


@dataclass(slots=True)
class _Phone:
    """A poster's number and the few renderings it keeps re-pasting into its ads."""

    e164: str
    field: str  # as a site's structured phone field shows it
    plain: list[tuple[str, str]]  # (text, style)
    disguised: list[tuple[str, str]]


def _phone(
    rng: random.Random, national: str, plain: Sequence[str], disguised: Sequence[str]
) -> _Phone:
    return _Phone(
        e164=ph.e164(national),
        field=ph.render(national, "dash", rng),
        plain=[(ph.render(national, s, rng), s) for s in plain],
        disguised=[(ph.render(national, s, rng), s) for s in disguised for _ in range(2)],
    )


@dataclass(slots=True)
class _Builder:
    """What stays constant across one poster's ads; `add` makes one ad and its truth row."""

    p: Poster
    sel: Selectors
    voice: text.Voice
    sites: list[Site]
    drop: float
    swap: float
    lookalike: str | None = None
    name_field: bool = True
    rows: list[Row] = field(default_factory=list)
    network: str = ""

    def __post_init__(self) -> None:
        self.network = self.p.network

    def add(
        self,
        rng: random.Random,
        ts: int,
        label: str,
        city: str,
        person: str,
        name: str,
        age: int | None,
        photos: list[Photo],
        phones: list[tuple[_Phone, bool]],
        lead: tuple[str, str] | None = None,
    ) -> None:
        r = rng.random
        sel = self.sel
        emails: list[str] = []
        handles: list[str] = []
        numbers: list[str] = []
        styles: list[str] = []
        texts: list[str] = []
        for phone, disguised in phones:
            options = phone.disguised if disguised else phone.plain
            written, style = options[int(r() * len(options))]
            texts.append(written)
            numbers.append(phone.e164)
            styles.append(style)
        if texts:
            contact = " or ".join(texts)
        elif sel.email:
            contact = _email_text(rng, sel.email)
            emails.append(sel.email)
        elif sel.handle:
            contact = "@" + sel.handle
            handles.append(sel.handle)
        else:
            contact = "DM me here"
        rendered = text.render(
            self.voice,
            rng,
            {"name": name, "age": age, "city": city, "contact": contact},
            drop=self.drop,
            swap=self.swap,
            lead=lead,
        )
        site = self.sites[int(r() * len(self.sites))]
        body = rendered.body
        hub: list[str] = []
        if r() < site.hub_rate:
            footer, hubs = site.footers[int(r() * len(site.footers))]
            body = f"{body}\n\n{footer}"
            hub = list(hubs)
        ad: dict[str, Any] = {
            "id": "",
            "site": site.name,
            "url": "",
            "posted_at": iso(ts),
            "title": rendered.title,
            "body": body,
            "location": label,
            "images": _images(rng, photos, site.domain),
        }
        stated = rendered.age_stated
        for key in site.fields:
            if key == "phone" and phones:
                ad["phone"] = phones[0][0].field
                if phones[0][0].e164 not in numbers:
                    numbers.append(phones[0][0].e164)
            elif key == "age" and age is not None:
                ad["age"] = age
                stated = True
            elif key == "name" and self.name_field:
                ad["name"] = name
        found = rendered.selectors
        if found:
            if sel.email and "@email" in found and not emails:
                emails.append(sel.email)
            if sel.handle and "@handle" in found and not handles:
                handles.append(sel.handle)
        p = self.p
        truth = {
            "id": "",
            "network": self.network,
            "kind": p.kind,
            "youth": p.youth,
            "person": person,
            "name": name,
            "phones": numbers,
            "phone_obfuscated": any(d for _, d in phones),
            "phone_styles": styles,
            "emails": emails,
            "handles": handles,
            "payments": [sel.cashtag] if found and "@payment" in found else [],
            "age": age if stated else None,
            "city": label,
            "indicators": rendered.indicators,
            "lookalike": self.lookalike,
            "hub": hub,
        }
        self.rows.append((ts, ad, truth))


def _times(rng: random.Random, n: int, span_days: float) -> list[int]:
    start = rng.random() * (SPAN_DAYS - span_days) * DAY
    width = span_days * DAY
    return sorted(int(start + rng.random() * width) for _ in range(n))


def _network_row(
    b: _Builder, persons: list[dict[str, Any]], template: str | None
) -> dict[str, Any]:
    phones: list[str] = []
    emails: list[str] = []
    handles: list[str] = []
    payments: list[str] = []
    city_seq: list[str] = []
    for _, ad, truth in b.rows:
        for value, seen in (
            (truth["phones"], phones),
            (truth["emails"], emails),
            (truth["handles"], handles),
            (truth["payments"], payments),
        ):
            for v in value:
                if v not in seen:
                    seen.append(v)
        if not city_seq or city_seq[-1] != ad["location"]:
            city_seq.append(ad["location"])
    p = b.p
    return {
        "network": p.network,
        "kind": p.kind,
        "youth": p.youth,
        "persons": persons,
        "phones": phones,
        "emails": emails,
        "handles": handles,
        "payments": payments,
        "cities": city_seq,
        "sites": [s.name for s in b.sites],
        "n_ads": len(b.rows),
        "template": template,
        "lookalike": b.lookalike,
    }


def organised(p: Poster) -> tuple[list[Row], dict[str, Any]]:
    """An operation: several persons, shared controller phones, one template, a circuit."""
    rng = random.Random(p.seed)
    r = rng.random
    labels = _labels()
    names = rng.sample(load("names")["first_names"], p.n_persons)
    persons = []
    for j, name in enumerate(names):
        if p.youth:
            age = rng.choice((18, 18, 19, 19, 19, 20, 21))
        else:
            age = rng.randint(18, 24) if r() < 0.85 else rng.randint(25, 29)
        persons.append((f"{p.network}-p{j}", name, age, _photos(rng)))
    sel = _selectors(
        rng,
        p,
        rng.choice(load("names")["org_suffixes"]),
        email=0.25 if p.phones else 0.8,
        handle=0.3 if p.phones else 1.0,
        cashtag=0.1,
    )
    cues: list[tuple[str, bool]] = []
    title_cues: list[str] = []
    if r() < 0.85:
        cues.append(("third_party_control", r() < 0.4))
    if r() < 0.8:
        cues.append(("trust", r() < 0.4))
    if r() < 0.4:
        if r() < 0.5:
            title_cues.append("ethnicity")
        else:
            cues.append(("ethnicity", r() < 0.3))
    if p.youth:
        cues.append(("youth", False))
        if r() < 0.5:
            cues.append(("youth", True))
        if r() < 0.5:
            title_cues.append("youth")
    if r() < 0.1:
        cues.append(("movement", True))
    voice = text.compose(
        rng,
        "organised",
        price=text.price_text(rng),
        handle=sel.handle if p.phones else None,
        email=sel.email if p.phones else None,
        cashtag=sel.cashtag,
        cues=tuple(cues),
        title_cues=tuple(title_cues),
        has_phone=bool(p.phones),
    )
    plain_styles = rng.sample(ph.PLAIN_STYLES, 2)
    obf_styles = rng.sample(ph.OBFUSCATED_STYLES, 3)
    phones = [_phone(rng, x, plain_styles, obf_styles) for x in p.phones]
    b = _Builder(p, sel, voice, _pick_sites(rng, rng.randint(1, 3)), drop=0.25, swap=0.3)

    # The circuit: a new city every 3-10 days, mostly within the home region.
    rate = rng.uniform(0.7, 4.0)
    span = min(SPAN_DAYS - 1, max(3.0, p.n_ads / rate))
    region = _regions()[cities()[p.home]["region"]]
    stay_starts: list[int] = []
    stay_city: list[int] = []
    t, city = 0, p.home
    while t < span * DAY:
        stay_starts.append(t)
        stay_city.append(city)
        t += rng.randint(3, 10) * DAY
        pool = region if r() < 0.75 else range(len(labels))
        nxt = city
        while nxt == city:
            nxt = rng.choice(pool)
        city = nxt
    times = _times(rng, p.n_ads, span)
    first = times[0]
    short = _short_names()
    for ts in times:
        j = int(r() * len(persons))
        pid, name, age, photos = persons[j]
        c = stay_city[bisect.bisect_right(stay_starts, ts - first) - 1]
        in_ad: list[tuple[_Phone, bool]] = []
        if phones:
            disguised = r() < ORG_OBFUSCATED
            own = phones[j % len(phones)]
            in_ad.append((own, disguised))
            if len(phones) > 1 and r() < 0.15:  # "call A or B"
                in_ad.append((phones[(j + 1) % len(phones)], disguised))
        b.add(rng, ts, labels[c], short[c], pid, name, age, photos, in_ad)
    posted = {truth["person"] for _, _, truth in b.rows}
    people = [{"person": pid, "name": n, "age": a} for pid, n, a, _ in persons if pid in posted]
    return b.rows, _network_row(b, people, f"t{p.index:06d}")


def independent(p: Poster) -> tuple[list[Row], dict[str, Any]]:
    """One person with her own phone and wording, mostly in one city, sometimes on a trip."""
    rng = random.Random(p.seed)
    r = rng.random
    labels = _labels()
    name = rng.choice(load("names")["first_names"])
    pid = f"{p.network}-p0"
    photos = _photos(rng)
    frame = load("cues")["lookalikes"]["frames"][p.decoy] if p.decoy >= 0 else None
    if frame is not None:
        ages = frame["age"]
        age: int | None = rng.randint(*ages) if ages else None
    else:
        age = rng.randint(21, 45)
    if p.phones:
        sel = _selectors(rng, p, name, email=0.25, handle=0.35, cashtag=0.08)
    else:
        with_email = r() < 0.7
        sel = _selectors(
            rng,
            p,
            name,
            email=1.0 if with_email else 0.0,
            handle=0.0 if with_email else 1.0,
            cashtag=0.0,
        )
    disguise = 0.0
    if frame is not None:
        voice = text.compose_decoy(
            rng, frame, email=sel.email if p.phones else None, has_phone=bool(p.phones)
        )
        plain_styles: list[str] = ["dash"]
        obf_styles: list[str] = []
    else:
        cues: list[tuple[str, bool]] = []
        if r() < 0.4:
            cues.append(("movement", r() < 0.5))
        if r() < 0.45:
            cues.append(("screening", r() < 0.3))
        if r() < 0.1:
            cues.append(("trust", r() < 0.5))
        if r() < 0.08:
            cues.append(("ethnicity", False))
        voice = text.compose(
            rng,
            "independent",
            price=text.price_text(rng),
            handle=sel.handle if p.phones else None,
            email=sel.email if p.phones else None,
            cashtag=sel.cashtag,
            cues=tuple(cues),
            long=r() < 0.06,
            has_phone=bool(p.phones),
        )
        plain_styles = rng.sample(ph.PLAIN_STYLES, rng.randint(1, 2))
        obf_styles = []
        if r() < IND_OBFUSCATING_POSTERS:
            obf_styles = rng.sample(ph.OBFUSCATED_STYLES, rng.randint(1, 2))
            disguise = 0.85  # the odd undisguised repost
    phones = [_phone(rng, x, plain_styles, obf_styles) for x in p.phones]
    b = _Builder(
        p,
        sel,
        voice,
        _pick_sites(rng, 1 if r() < 0.7 else 2),
        drop=0.15,
        swap=0.05,
        lookalike=frame["phrase"] if frame else None,
        name_field=frame is None,
    )
    span = min(SPAN_DAYS - 1.0, max(3.0, p.n_ads * rng.uniform(2, 12)))
    times = _times(rng, p.n_ads, span)
    trip_city, trip_from, trip_to = p.home, 0, 0
    if frame is None and p.n_ads >= 3 and r() < 0.25:
        while trip_city == p.home:
            trip_city = rng.choices(range(len(labels)), cum_weights=city_weights())[0]
        trip_from = times[rng.randrange(len(times))]
        trip_to = trip_from + rng.randint(2, 7) * DAY
    trip_lead = (text.trip_sentence(rng), "movement")
    short = _short_names()
    for ts in times:
        away = trip_from <= ts < trip_to
        c = trip_city if away else p.home
        in_ad = [(phones[0], r() < disguise)] if phones else []
        b.add(
            rng, ts, labels[c], short[c], pid, name, age, photos, in_ad, trip_lead if away else None
        )
    return b.rows, _network_row(b, [{"person": pid, "name": name, "age": age}], None)
