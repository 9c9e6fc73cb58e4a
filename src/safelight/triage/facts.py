"""Gathering the facts a network score needs from the store, many networks at a time."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import sqlalchemy as sa
import yaml

from safelight.link.known import matches_by_ad
from safelight.records import Hit
from safelight.score.network_score import NetworkFacts
from safelight.store.among import among
from safelight.store.schema import ad_networks, ad_templates, ads, hits, mentions, networks

_STATE_SUFFIX = re.compile(r",\s*([A-Z]{2})$")


@cache
def _state_codes() -> dict[str, str]:
    """Lower-case region name (and code) → postal code, from the shipped regions file."""
    text = resources.files("safelight.data").joinpath("extract/regions.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    out: dict[str, str] = {}
    for country in ("us", "ca"):
        for code, entry in (data.get(country) or {}).items():
            out[code.lower()] = code
            out[str(entry["name"]).lower()] = code
    return out


def state_of(region: str | None) -> str | None:
    """ "Houston, TX" → "TX"; "Florida" → "FL"; anything else → None."""
    if not region:
        return None
    m = _STATE_SUFFIX.search(region.strip())
    if m:
        return m.group(1)
    return _state_codes().get(region.strip().lower())


def network_facts(conn: sa.Connection, ids: Sequence[str], now: str) -> dict[str, NetworkFacts]:
    """NetworkFacts for each network id; one pass over its ads, mentions and hits."""
    member: dict[int, str] = {}
    for nid, pk in conn.execute(
        sa.select(ad_networks.c.network_id, ad_networks.c.ad_pk).where(
            among(conn, ad_networks.c.network_id, ids)
        )
    ):
        member[pk] = nid
    pks = sorted(member)
    ad_info: dict[int, Any] = {}
    for i in range(0, len(pks), 500):
        chunk = pks[i : i + 500]
        for row in conn.execute(
            sa.select(ads.c.pk, ads.c.score, ads.c.posted_at, ads.c.place).where(
                among(conn, ads.c.pk, chunk)
            )
        ):
            ad_info[row.pk] = row
    hits_of: dict[int, list[Hit]] = defaultdict(list)
    ment_of: dict[int, list[Any]] = defaultdict(list)
    leader_of: dict[int, int] = {}
    for i in range(0, len(pks), 500):
        chunk = pks[i : i + 500]
        for h in conn.execute(sa.select(hits).where(among(conn, hits.c.ad_pk, chunk))):
            hits_of[h.ad_pk].append(
                Hit(h.indicator, h.category, h.weight, h.matched, h.start, h.end, h.source)
            )
        for m in conn.execute(
            sa.select(
                mentions.c.ad_pk,
                mentions.c.kind,
                mentions.c.value,
                mentions.c.obfuscated,
                mentions.c.detail,
            ).where(
                among(conn, mentions.c.ad_pk, chunk),
                # `kind || ''`, not `kind`: SQLite would otherwise read these ads' mentions by
                # the (kind, value) index, i.e. every phone, age and name mention in the
                # database (0.4 s per call at 1M ads), instead of by ad (a few ms).
                mentions.c.kind.concat("").in_(("phone", "age", "name")),
            )
        ):
            ment_of[m.ad_pk].append(m)
        leader_of.update(
            conn.execute(
                sa.select(ad_templates.c.ad_pk, ad_templates.c.leader_pk).where(
                    among(conn, ad_templates.c.ad_pk, chunk)
                )
            ).all()
        )
    by_net: dict[str, list[int]] = defaultdict(list)
    for pk in pks:
        by_net[member[pk]].append(pk)
    matched = matches_by_ad(conn, pks)
    out: dict[str, NetworkFacts] = {}
    for nid, members in by_net.items():
        out[nid] = _facts_of(members, ad_info, hits_of, ment_of, leader_of, now)
        out[nid].hash_list_matches = sum(len(matched.get(pk, ())) for pk in members)
    return out


def hash_list_names(conn: sa.Connection, network_id: str) -> list[str]:
    """The names of the known-hash lists that photos of this network matched."""
    pks = list(
        conn.scalars(sa.select(ad_networks.c.ad_pk).where(ad_networks.c.network_id == network_id))
    )
    return sorted({name for names in matches_by_ad(conn, pks).values() for name in names})


def _facts_of(
    members: list[int],
    ad_info: dict[int, Any],
    hits_of: dict[int, list[Hit]],
    ment_of: dict[int, list[Any]],
    leader_of: dict[int, int],
    now: str,
) -> NetworkFacts:
    names_by_phone: dict[str, set[str]] = defaultdict(set)
    ages: list[int] = []
    obfuscated = far = 0
    regions: set[str] = set()
    places: list[str] = []
    leaders: dict[int, int] = defaultdict(int)
    for pk in members:
        leaders[leader_of.get(pk, -pk)] += 1
    for pk in members:
        info = ad_info[pk]
        ms = ment_of.get(pk, [])
        phones = [m for m in ms if m.kind == "phone"]
        names = {m.value for m in ms if m.kind == "name"}
        ad_ages = [int(m.value) for m in ms if m.kind == "age" and str(m.value).isdigit()]
        if ad_ages:
            ages.append(min(ad_ages))
        if any(m.obfuscated for m in phones):
            obfuscated += 1
        posted_state = state_of(info.place)
        ad_far = False
        for m in phones:
            names_by_phone[m.value].update(names)
            region = json.loads(m.detail or "{}").get("region")
            phone_state = state_of(region)
            if region:
                regions.add(region)
            if phone_state and posted_state and phone_state != posted_state:
                ad_far = True
        far += ad_far
        if info.place:
            places.append(info.place)
    dates = sorted(ad_info[pk].posted_at for pk in members if ad_info[pk].posted_at)
    in_template = sum(1 for pk in members if leaders[leader_of.get(pk, -pk)] > 1)
    return NetworkFacts(
        n_ads=len(members),
        ad_scores=[float(ad_info[pk].score) for pk in members],
        ad_hits=[hits_of.get(pk, []) for pk in members],
        stated_ages=ages,
        persons_per_phone={p: len(n) for p, n in names_by_phone.items() if n},
        obfuscated_phone_share=obfuscated / len(members),
        template_share=in_template / len(members),
        ads_phone_far=far,
        phone_regions=sorted(regions),
        posting_places=sorted(set(places)),
        distinct_cities=len(set(places)),
        first_seen=dates[0] if dates else None,
        last_seen=dates[-1] if dates else None,
        now=now,
    )


def unscored_networks(conn: sa.Connection, limit: int | None = None) -> list[str]:
    """Networks changed since they were last scored (read from the partial index
    `ix_networks_unscored`, which holds only those)."""
    q = sa.select(networks.c.id).where(networks.c.scored_at.is_(None))
    return list(conn.scalars(q.limit(limit) if limit else q))
