"""Reading networks back with the evidence for every member: why is this ad in it?"""

from __future__ import annotations

import json
from collections import defaultdict, namedtuple
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from safelight.link.template import masked_text
from safelight.records import PIVOT_KINDS, Mention
from safelight.store.schema import (
    ad_networks,
    ad_templates,
    ads,
    links,
    mentions,
    networks,
    selectors,
)
from safelight.store.store import Store

# Plain named tuples for the rows a network page walks many times: reading a field of one is
# about twenty times cheaper than of an SQLAlchemy Row, which a big network notices.
_AdRow = namedtuple("_AdRow", "pk id posted_at place location site title score")
_MentionRow = namedtuple("_MentionRow", "ad_pk kind value raw obfuscated")


def _network_row(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "size": row.size,
        "first_seen": row.first_seen,
        "last_seen": row.last_seen,
        "places": json.loads(row.places),
        "sites": json.loads(row.sites),
        "score": row.score,
        "reasons": json.loads(row.reasons),
    }


def iter_networks(
    store: Store, min_size: int = 2, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """Networks of at least `min_size` ads, largest first, each with its ad ids."""
    q = (
        sa.select(networks)
        .where(networks.c.size >= min_size)
        .order_by(networks.c.size.desc(), networks.c.id)
    )
    if limit:
        q = q.limit(limit)
    with store.engine.connect() as conn:
        rows = conn.execute(q).all()
        for i in range(0, len(rows), 200):
            chunk = rows[i : i + 200]
            members: dict[str, list[str]] = defaultdict(list)
            mq = (
                sa.select(ad_networks.c.network_id, ads.c.id)
                .join(ads, ads.c.pk == ad_networks.c.ad_pk)
                .where(ad_networks.c.network_id.in_([r.id for r in chunk]))
                .order_by(ads.c.pk)
            )
            for nid, ad_id in conn.execute(mq):
                members[nid].append(ad_id)
            for row in chunk:
                yield {**_network_row(row), "ads": members[row.id]}


def list_networks(
    store: Store, min_size: int = 2, limit: int | None = None
) -> list[dict[str, Any]]:
    return list(iter_networks(store, min_size, limit))


def network_of_ad(store: Store, ad_id: str) -> str | None:
    q = (
        sa.select(ad_networks.c.network_id)
        .join(ads, ads.c.pk == ad_networks.c.ad_pk)
        .where(ads.c.id == ad_id)
    )
    with store.engine.connect() as conn:
        return conn.scalar(q)


def get_network(store: Store, network_id: str) -> dict[str, Any] | None:
    """One network with its ads, selectors, persons, timeline, template and evidence edges."""
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(networks).where(networks.c.id == network_id)).first()
        if row is None:
            return None
        out = _network_row(row)
        ad_rows = [
            _AdRow._make(r)
            for r in conn.execute(  # one fetch of all rows: far cheaper than a fetch per row
                _in_network(ads.c.pk, network_id, *(ads.c[n] for n in _AdRow._fields)).order_by(
                    ads.c.posted_at, ads.c.pk
                )
            ).all()
        ]
        pks = [r.pk for r in ad_rows]
        id_of = {r.pk: r.id for r in ad_rows}
        ment = [
            _MentionRow._make(r)
            for r in conn.execute(
                _in_network(
                    mentions.c.ad_pk, network_id, *(mentions.c[n] for n in _MentionRow._fields)
                ).order_by(mentions.c.ad_pk, mentions.c.start)
            ).all()
        ]
        joined = conn.execute(
            _in_network(
                ad_templates.c.ad_pk,
                network_id,
                ad_templates.c.ad_pk,
                ad_templates.c.leader_pk,
                ad_templates.c.similarity,
            )
        ).all()
        tmpl = {pk: leader for pk, leader, _ in joined}
        sims = {pk: sim for pk, _, sim in joined}
        photo = conn.execute(
            _in_network(
                links.c.ad_a, network_id, links.c.ad_a, links.c.ad_b, links.c.kind, links.c.evidence
            )
        ).all()
        pivot_values = sorted({(m.kind, m.value) for m in ment if m.kind in PIVOT_KINDS})
        hubs = _hub_flags(conn, pivot_values)
        template = _template(conn, tmpl)
    out.update(_assemble(ad_rows, ment, tmpl, sims, list(photo), hubs, id_of, pks))
    out["template"] = template
    return out


def _in_network(ad_pk: Any, network_id: str, *columns: Any) -> sa.Select[Any]:
    """SELECT `columns` of the rows whose `ad_pk` column names an ad of this network."""
    return (
        sa.select(*columns)
        .join(ad_networks, ad_networks.c.ad_pk == ad_pk)
        .where(ad_networks.c.network_id == network_id)
    )


def _hub_flags(conn: sa.Connection, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], bool]:
    flags: dict[tuple[str, str], bool] = {}
    for kind in {k for k, _ in pairs}:
        values = [v for k, v in pairs if k == kind]
        for i in range(0, len(values), 500):
            q = sa.select(selectors.c.value, selectors.c.hub).where(
                selectors.c.kind == kind, selectors.c.value.in_(values[i : i + 500])
            )
            flags.update(((kind, v), bool(h)) for v, h in conn.execute(q).all())
    return flags


def _template(conn: sa.Connection, tmpl: dict[int, int]) -> dict[str, Any] | None:
    """The largest template of the network, its text with the changing slots marked."""
    counts: dict[int, int] = defaultdict(int)
    for leader in tmpl.values():
        counts[leader] += 1
    if not counts:
        return None
    leader, size = max(counts.items(), key=lambda kv: (kv[1], -kv[0]))
    if size < 2:
        return None
    row = conn.execute(
        sa.select(ads.c.id, ads.c.title, ads.c.body).where(ads.c.pk == leader)
    ).first()
    if row is None:
        return None
    from safelight.records import ad_text

    text = ad_text(row.title, row.body)
    ms = [
        Mention(m.kind, m.value, m.raw, m.start, m.end)
        for m in conn.execute(
            sa.select(
                mentions.c.kind, mentions.c.value, mentions.c.raw, mentions.c.start, mentions.c.end
            ).where(mentions.c.ad_pk == leader, mentions.c.start >= 0)
        )
    ]
    return {"leader": row.id, "ads": size, "text": " ".join(masked_text(text, ms).split())}


def _assemble(
    ad_rows: list[Any],
    ment: list[Any],
    tmpl: dict[int, int],
    sims: dict[int, float],
    photo: list[Any],
    hubs: dict[tuple[str, str], bool],
    id_of: dict[int, str],
    pks: list[int],
) -> dict[str, Any]:
    by_value: dict[tuple[str, str], list[int]] = defaultdict(list)
    raws: dict[tuple[str, str], set[str]] = defaultdict(set)
    names_of: dict[int, list[str]] = defaultdict(list)
    ages_of: dict[int, list[int]] = defaultdict(list)
    for m in ment:
        if m.kind in PIVOT_KINDS:
            if not by_value[(m.kind, m.value)] or by_value[(m.kind, m.value)][-1] != m.ad_pk:
                by_value[(m.kind, m.value)].append(m.ad_pk)
            raws[(m.kind, m.value)].add(m.raw)
        elif m.kind == "name":
            names_of[m.ad_pk].append(m.value)
        elif m.kind == "age":
            ages_of[m.ad_pk].append(int(m.value))
    why: dict[int, list[str]] = defaultdict(list)
    edges: list[dict[str, Any]] = []
    for (kind, value), members in sorted(by_value.items()):
        if len(members) < 2:
            continue
        hub = hubs.get((kind, value), False)
        written = sorted(raws[(kind, value)])[:5]  # once per value, not once per ad
        for pk in members:
            verb = "carries hub" if hub else "shares"
            why[pk].append(
                f"{verb} {kind} {value} with {len(members) - 1} other ads of this network"
            )
            edges.append(
                {
                    "source": id_of[pk],
                    "target": f"{kind}:{value}",
                    "kind": kind,
                    "evidence": {"value": value, "hub": hub, "written_as": list(written)},
                }
            )
    for pk, leader in tmpl.items():
        if pk != leader and leader in id_of:
            why[pk].append(
                f"joined the text template of {id_of[leader]} (similarity {sims.get(pk, 0):.2f})"
            )
            why[leader].append("first ad of a text template")
            edges.append(
                {
                    "source": id_of[pk],
                    "target": id_of[leader],
                    "kind": "template",
                    "evidence": {"similarity": sims.get(pk)},
                }
            )
    for a, b, kind, evidence in photo:
        if a in id_of and b in id_of:
            ev = json.loads(evidence)
            why[a].append(
                f"photo near-identical to one in {id_of[b]} (distance {ev.get('distance')})"
            )
            why[b].append(
                f"photo near-identical to one in {id_of[a]} (distance {ev.get('distance')})"
            )
            edges.append({"source": id_of[a], "target": id_of[b], "kind": kind, "evidence": ev})
    persons: dict[str, set[int]] = defaultdict(set)
    for pk in pks:
        for name in names_of.get(pk, []):
            persons[name].update(ages_of.get(pk, []))
    timeline: list[dict[str, Any]] = []
    for r in ad_rows:
        place = r.place or r.location
        day = (r.posted_at or "")[:10]
        if timeline and timeline[-1]["place"] == place:
            timeline[-1]["to"] = day or timeline[-1]["to"]
            timeline[-1]["ads"] += 1
        else:
            timeline.append({"place": place, "from": day, "to": day, "ads": 1})
    return {
        "ads": [
            {
                "id": r.id,
                "posted_at": r.posted_at,
                "place": r.place or r.location,
                "site": r.site,
                "title": r.title,
                "score": r.score,
                "why": why.get(r.pk, ["no link evidence (singleton)"]),
            }
            for r in ad_rows
        ],
        "selectors": [
            {
                "kind": k,
                "value": v,
                "count": len(m),
                "hub": hubs.get((k, v), False),
                "written_as": sorted(raws[(k, v)])[:10],
            }
            for (k, v), m in sorted(by_value.items(), key=lambda kv: -len(kv[1]))
        ],
        "persons": [{"name": n, "ages": sorted(a)} for n, a in sorted(persons.items())],
        "timeline": timeline,
        "edges": edges,
    }
