"""Linking new ads into networks, touching only what they change.

One algorithm serves both an update and a rebuild (a rebuild is an update in which every ad is
new), so the two give the same networks by construction; a test checks it anyway.

Steps for the ads newer than the link watermark, in ad order:
1. templates: each ad joins the most similar existing template (similarity to the template's
   first ad, never to its latest member, so a slow drift A→B→C→D does not weld A to D) or
   starts a new one;
2. photos: near-identical photo hashes become links with their Hamming distance;
3. selectors the new ads carry get their hub status (re)computed;
4. the networks the new ads touch are recomputed as connected components over templates,
   non-hub selectors and photo links. Their ids are "N" + the smallest ad key in them, so a
   network that grows keeps its id and a merge keeps the oldest one's.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from safelight.link import template as tpl
from safelight.link.hubs import count_groups
from safelight.link.known import match_new_photos
from safelight.link.photos import link_photos
from safelight.records import PIVOT_KINDS
from safelight.settings import Settings
from safelight.store.bulk import insert_rows
from safelight.store.schema import (
    ad_features,
    ad_networks,
    ad_templates,
    ads,
    links,
    mentions,
    networks,
    selectors,
    template_bands,
)
from safelight.store.store import Store, utcnow

WATERMARK = "link_watermark"
_CHUNK = 500


@dataclass
class LinkSummary:
    new_ads: int = 0
    templates_new: int = 0
    template_members: int = 0
    photo_links: int = 0
    hash_matches: int = 0
    hubs: int = 0
    networks_changed: int = 0
    involved_ads: int = 0
    details: dict[str, Any] = field(default_factory=dict)


class _Interner:
    """Selector (kind, value) and template keys as small ints for the graph work."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str], int] = {}
        self.names: list[tuple[str, str]] = []

    def __call__(self, key: tuple[str, str]) -> int:
        got = self.ids.get(key)
        if got is None:
            got = self.ids[key] = len(self.names)
            self.names.append(key)
        return got


def _chunks(seq: Sequence[Any], n: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


# ---- step 1: templates ---------------------------------------------------------------------


class TemplateIndex:
    """Band keys and signatures of template leaders, loaded once per link run."""

    def __init__(self, conn: sa.Connection) -> None:
        self.bands: dict[int, list[int]] = defaultdict(list)
        for key, leader in conn.execute(
            sa.select(template_bands.c.band_key, template_bands.c.leader_pk)
        ):
            self.bands[key].append(leader)
        self.sigs: dict[int, np.ndarray] = {}
        leaders = sorted({leader for group in self.bands.values() for leader in group})
        for chunk in _chunks(leaders):
            q = sa.select(ad_features.c.ad_pk, ad_features.c.sig).where(
                ad_features.c.ad_pk.in_(chunk)
            )
            for pk, sig in conn.execute(q):
                self.sigs[pk] = np.frombuffer(sig, dtype=np.uint32)

    def assign(
        self, pk: int, sig: np.ndarray, keys: list[int], threshold: float
    ) -> tuple[int, float, list[int] | None]:
        """(leader, similarity, band keys if the ad starts a new template)."""
        best, best_sim = -1, 0.0
        seen: set[int] = set()
        for key in keys:
            for leader in self.bands.get(key, ()):
                if leader in seen:
                    continue
                seen.add(leader)
                sim = tpl.similarity(sig, self.sigs[leader])
                if sim > best_sim or (sim == best_sim and leader < best):
                    best, best_sim = leader, sim
        if best >= 0 and best_sim >= threshold:
            return best, best_sim, None
        for key in keys:
            self.bands[key].append(pk)
        self.sigs[pk] = sig
        return pk, 1.0, keys


def _assign_templates(
    conn: sa.Connection, watermark: int, settings: Settings, summary: LinkSummary
) -> None:
    index = TemplateIndex(conn)
    q = (
        sa.select(ad_features.c.ad_pk, ad_features.c.sig, ad_features.c.ntokens)
        .where(ad_features.c.ad_pk > watermark)
        .order_by(ad_features.c.ad_pk)
    )
    member_rows: list[tuple[int, int, float]] = []
    band_rows: list[tuple[int, int]] = []
    rows = [r for r in conn.execute(q).all() if r[2] >= settings.template_min_tokens]
    if not rows:
        return
    sigs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.uint32).reshape(
        len(rows), tpl.NUM_PERM
    )
    all_keys = band_keys_many(sigs).tolist()
    for (pk, _, _), sig, keys in zip(rows, sigs, all_keys, strict=True):
        leader, sim, new_keys = index.assign(pk, sig, keys, settings.template_threshold)
        member_rows.append((pk, leader, round(sim, 4)))
        if new_keys is not None:
            summary.templates_new += 1
            band_rows.extend((k, pk) for k in new_keys)
        else:
            summary.template_members += 1
    insert_rows(conn, ad_templates, ("ad_pk", "leader_pk", "similarity"), member_rows)
    insert_rows(conn, template_bands, ("band_key", "leader_pk"), band_rows)


_BAND_MULT = (
    np.uint64(0x9E3779B97F4A7C15),
    np.uint64(0xC2B2AE3D27D4EB4F),
    np.uint64(0x165667B19E3779F9),
)


def band_keys_many(sigs: np.ndarray) -> np.ndarray:
    """LSH band keys (n, BANDS) as 63-bit ints: ads sharing a key are template candidates."""
    r = sigs.reshape(len(sigs), tpl.BANDS, tpl.ROWS).astype(np.uint64)
    keys = (
        r[:, :, 0] * _BAND_MULT[0]
        ^ r[:, :, 1] * _BAND_MULT[1]
        ^ r[:, :, 2] * _BAND_MULT[2]
        ^ r[:, :, 3]
    )
    keys ^= np.arange(tpl.BANDS, dtype=np.uint64) << np.uint64(56)
    return (keys & np.uint64(0x7FFFFFFFFFFFFFFF)).astype(np.int64)


# ---- steps 3 and 4: selectors, hubs, components --------------------------------------------


def _pivot_rows(conn: sa.Connection, ad_pks: Sequence[int] | None) -> list[tuple[int, str, str]]:
    base = sa.select(mentions.c.ad_pk, mentions.c.kind, mentions.c.value).where(
        mentions.c.kind.in_(PIVOT_KINDS)
    )
    if ad_pks is None:  # a full scan: straight from the driver, without row objects
        kinds = ", ".join(f"'{k}'" for k in PIVOT_KINDS)  # constants, not data
        cur = conn.exec_driver_sql(
            f"SELECT ad_pk, kind, value FROM mentions WHERE kind IN ({kinds})"
        )
        return list(cur.cursor.fetchall()) if cur.cursor is not None else []
    out: list[tuple[int, str, str]] = []
    for chunk in _chunks(sorted(ad_pks)):
        out.extend(tuple(r) for r in conn.execute(base.where(mentions.c.ad_pk.in_(chunk))))  # type: ignore[misc]
    return out


def _ads_of_selectors(
    conn: sa.Connection, keys: Iterable[tuple[str, str]]
) -> list[tuple[int, str, str]]:
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, value in keys:
        by_kind[kind].append(value)
    out: list[tuple[int, str, str]] = []
    for kind, values in by_kind.items():
        for chunk in _chunks(sorted(values)):
            q = sa.select(mentions.c.ad_pk, mentions.c.kind, mentions.c.value).where(
                mentions.c.kind == kind, mentions.c.value.in_(chunk)
            )
            out.extend(tuple(r) for r in conn.execute(q))  # type: ignore[misc]
    return out


def _templates_of(conn: sa.Connection, ad_pks: Sequence[int] | None) -> dict[int, int]:
    """Template leader per ad, for templates with at least two ads."""
    sizes = dict(
        conn.execute(
            sa.select(ad_templates.c.leader_pk, sa.func.count())
            .group_by(ad_templates.c.leader_pk)
            .having(sa.func.count() > 1)
        ).all()
    )
    q = sa.select(ad_templates.c.ad_pk, ad_templates.c.leader_pk)
    rows: list[Any] = []
    if ad_pks is None:
        rows = conn.execute(q).all()
    else:
        for chunk in _chunks(sorted(ad_pks)):
            rows.extend(conn.execute(q.where(ad_templates.c.ad_pk.in_(chunk))).all())
    return {pk: leader for pk, leader in rows if leader in sizes}


def _photo_pairs(conn: sa.Connection, ad_pks: Sequence[int] | None) -> list[tuple[int, int]]:
    q = sa.select(links.c.ad_a, links.c.ad_b)
    if ad_pks is None:
        return [tuple(r) for r in conn.execute(q)]  # type: ignore[misc]
    out: set[tuple[int, int]] = set()
    for chunk in _chunks(sorted(ad_pks)):
        out.update(tuple(r) for r in conn.execute(q.where(links.c.ad_a.in_(chunk))))  # type: ignore[misc]
        out.update(tuple(r) for r in conn.execute(q.where(links.c.ad_b.in_(chunk))))  # type: ignore[misc]
    return sorted(out)


def _hub_status(
    rows: list[tuple[int, str, str]],
    leaders: dict[int, int],
    touched: set[tuple[str, str]] | None,
    min_groups: int,
    intern: _Interner,
) -> tuple[dict[tuple[str, str], tuple[int, int, bool]], dict[int, list[int]]]:
    """Status (n_ads, groups, hub) of every touched selector with two or more ads.

    Two passes: the second ignores the hubs found by the first, so two hubs that appear
    together (a footer phone and a footer email) do not vouch for each other."""
    keys_of: dict[int, list[int]] = defaultdict(list)
    ads_of: dict[int, list[int]] = defaultdict(list)
    for pk, kind, value in rows:
        sid = intern((kind, value))
        if not keys_of[pk] or keys_of[pk][-1] != sid:
            keys_of[pk].append(sid)
        ads_of[sid].append(pk)
    for pk, leader in leaders.items():
        keys_of[pk].append(intern(("template", str(leader))))
    candidates = [
        sid
        for sid, pks in ads_of.items()
        if len(set(pks)) > 1 and (touched is None or intern.names[sid] in touched)
    ]
    hubs: set[int] = set()
    status: dict[tuple[str, str], tuple[int, int, bool]] = {}
    for ignore in (frozenset(), None):
        found: set[int] = set()
        for sid in candidates:
            pks = sorted(set(ads_of[sid]))
            groups = count_groups(pks, keys_of, sid, hubs if ignore is None else ignore)
            hub = groups >= min_groups
            if hub:
                found.add(sid)
            status[intern.names[sid]] = (len(pks), groups, hub)
        hubs = found
    return status, {sid: sorted(set(p)) for sid, p in ads_of.items()}


def _components(nodes: list[int], edges: list[tuple[int, int]]) -> dict[int, int]:
    """Smallest ad key of each node's connected component."""
    index = {pk: i for i, pk in enumerate(nodes)}
    n = len(nodes)
    if not edges:
        return {pk: pk for pk in nodes}
    a = np.fromiter((index[x] for x, _ in edges), dtype=np.int64, count=len(edges))
    b = np.fromiter((index[y] for _, y in edges), dtype=np.int64, count=len(edges))
    graph = coo_matrix((np.ones(len(edges), dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    arr = np.asarray(nodes, dtype=np.int64)
    smallest = np.full(labels.max() + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, labels, arr)
    return {pk: int(smallest[labels[i]]) for i, pk in enumerate(nodes)}


def link_new(store: Store, settings: Settings) -> LinkSummary:
    """Link every ad not linked yet; one transaction, so a crash leaves the previous state."""
    summary = LinkSummary()
    with store.engine.begin() as conn:
        watermark = int(
            conn.scalar(sa.text("SELECT value FROM meta WHERE key = :k"), {"k": WATERMARK}) or 0
        )
        top = conn.scalar(sa.select(sa.func.max(ads.c.pk))) or 0
        if top <= watermark:
            return summary
        full = watermark == 0
        new_pks = list(
            conn.scalars(sa.select(ads.c.pk).where(ads.c.pk > watermark).order_by(ads.c.pk))
        )
        summary.new_ads = len(new_pks)
        _assign_templates(conn, watermark, settings, summary)
        summary.photo_links = link_photos(conn, watermark, settings)
        summary.hash_matches = match_new_photos(conn, watermark, settings)

        intern = _Interner()
        new_rows = _pivot_rows(conn, None if full else new_pks)
        touched = {(k, v) for _, k, v in new_rows} if not full else None
        rows = new_rows if full else _ads_of_selectors(conn, touched or ())
        selector_ads = {pk for pk, _, _ in rows}
        context_rows = rows if full else _pivot_rows(conn, sorted(selector_ads | set(new_pks)))
        leaders = _templates_of(conn, None if full else sorted(selector_ads | set(new_pks)))
        status, ads_of = _hub_status(
            context_rows, leaders, touched, settings.hub_min_groups, intern
        )
        previous = _previous_status(conn, status)
        _save_status(conn, status, previous)
        summary.hubs = sum(1 for s in status.values() if s[2])

        # Seeds: new ads and every ad that a changed or merging selector reaches.
        if full:
            involved = set(new_pks)
        else:
            seeds = set(new_pks)
            for key, (_, _, hub) in status.items():
                if not hub or previous.get(key) is False:
                    seeds.update(ads_of.get(intern.ids[key], ()))
            seeds.update(leaders.get(pk, pk) for pk in new_pks)
            for a, b in _photo_pairs(conn, sorted(seeds)):
                seeds.update((a, b))
            involved = _close_over_networks(conn, seeds)
        summary.involved_ads = len(involved)
        _recompute(conn, sorted(involved), full, summary, new_rows if full else None)
        _set_watermark(conn, top)
    return summary


def _previous_status(
    conn: sa.Connection, status: dict[tuple[str, str], Any]
) -> dict[tuple[str, str], bool]:
    out: dict[tuple[str, str], bool] = {}
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, value in status:
        by_kind[kind].append(value)
    for kind, values in by_kind.items():
        for chunk in _chunks(values):
            q = sa.select(selectors.c.value, selectors.c.hub).where(
                selectors.c.kind == kind, selectors.c.value.in_(chunk)
            )
            out.update(((kind, v), bool(h)) for v, h in conn.execute(q))
    return out


def _save_status(
    conn: sa.Connection,
    status: dict[tuple[str, str], tuple[int, int, bool]],
    previous: dict[tuple[str, str], bool],
) -> None:
    stale = [key for key in status if key in previous]
    for kind in {k for k, _ in stale}:
        values = [v for k, v in stale if k == kind]
        for chunk in _chunks(values):
            conn.execute(
                sa.delete(selectors).where(selectors.c.kind == kind, selectors.c.value.in_(chunk))
            )
    rows = [(k, v, n, g, hub) for (k, v), (n, g, hub) in sorted(status.items())]
    insert_rows(conn, selectors, ("kind", "value", "n_ads", "groups", "hub"), rows)


def _close_over_networks(conn: sa.Connection, seeds: set[int]) -> set[int]:
    """The seeds plus every ad of every network a seed is in."""
    ids: set[str] = set()
    for chunk in _chunks(sorted(seeds)):
        ids.update(
            conn.scalars(sa.select(ad_networks.c.network_id).where(ad_networks.c.ad_pk.in_(chunk)))
        )
    out = set(seeds)
    for chunk in _chunks(sorted(ids)):
        out.update(
            conn.scalars(sa.select(ad_networks.c.ad_pk).where(ad_networks.c.network_id.in_(chunk)))
        )
    return out


def _recompute(
    conn: sa.Connection,
    involved: list[int],
    full: bool,
    summary: LinkSummary,
    pivot_rows: list[tuple[int, str, str]] | None = None,
) -> None:
    """Connected components over the involved ads; rewrite their network rows."""
    scope = None if full else involved
    inside = set(involved)
    edges: list[tuple[int, int]] = []
    hub_keys = {
        (k, v)
        for k, v in conn.execute(
            sa.select(selectors.c.kind, selectors.c.value).where(selectors.c.hub)
        )
    }
    first_of: dict[tuple[str, str], int] = {}
    for pk, kind, value in pivot_rows if pivot_rows is not None else _pivot_rows(conn, scope):
        if (kind, value) in hub_keys or pk not in inside:
            continue
        first = first_of.setdefault((kind, value), pk)
        if first != pk:
            edges.append((first, pk))
    for pk, leader in _templates_of(conn, scope).items():
        if pk != leader and leader in inside and pk in inside:
            edges.append((leader, pk))
    edges.extend((a, b) for a, b in _photo_pairs(conn, scope) if a in inside and b in inside)
    root = _components(involved, edges)

    if full:  # every ad is involved: start the network tables afresh
        conn.execute(sa.delete(ad_networks))
        conn.execute(sa.delete(networks))
    else:
        old_ids: set[str] = set()
        for chunk in _chunks(involved):
            old_ids.update(
                conn.scalars(
                    sa.select(ad_networks.c.network_id).where(ad_networks.c.ad_pk.in_(chunk))
                )
            )
            conn.execute(sa.delete(ad_networks).where(ad_networks.c.ad_pk.in_(chunk)))
        for chunk in _chunks(sorted(old_ids)):
            conn.execute(sa.delete(networks).where(networks.c.id.in_(chunk)))
    insert_rows(
        conn, ad_networks, ("ad_pk", "network_id"), [(pk, f"N{root[pk]}") for pk in involved]
    )
    summary.networks_changed = len({root[pk] for pk in involved})
    _write_summaries(conn, root, full)


def _write_summaries(conn: sa.Connection, root: dict[int, int], full: bool = False) -> None:
    """Size, first/last seen, places and sites of each recomputed network."""
    members: dict[int, list[int]] = defaultdict(list)
    for pk, r in root.items():
        members[r].append(pk)
    now = utcnow()
    facts: dict[int, tuple[str | None, str | None, str]] = {}
    cols = sa.select(ads.c.pk, ads.c.posted_at, ads.c.place, ads.c.site)
    for chunk in [None] if full else _chunks(sorted(root)):
        q = cols if chunk is None else cols.where(ads.c.pk.in_(chunk))
        for pk, posted, place, site in conn.execute(q):
            facts[pk] = (posted, place, site)
    rows = []
    for r, pks in members.items():
        dates = sorted(d for d, _, _ in (facts[p] for p in pks) if d)
        places = json.dumps(sorted({facts[p][1] for p in pks if facts[p][1]}))
        sites = json.dumps(sorted({facts[p][2] for p in pks if facts[p][2]}))
        first, last = (dates[0], dates[-1]) if dates else (None, None)
        rows.append((f"N{r}", len(pks), first, last, places, sites, now, max(pks)))
    columns = (
        "id",
        "size",
        "first_seen",
        "last_seen",
        "places",
        "sites",
        "updated_at",
        "max_ad_pk",
    )
    insert_rows(conn, networks, columns, rows)


def _set_watermark(conn: sa.Connection, value: int) -> None:
    updated = conn.execute(
        sa.text("UPDATE meta SET value = :v WHERE key = :k"), {"v": str(value), "k": WATERMARK}
    )
    if updated.rowcount == 0:
        conn.execute(
            sa.text("INSERT INTO meta (key, value) VALUES (:k, :v)"),
            {"k": WATERMARK, "v": str(value)},
        )


def rebuild(store: Store, settings: Settings) -> LinkSummary:
    """Forget every link and link all ads again from scratch."""
    with store.engine.begin() as conn:
        for table in (networks, ad_networks, selectors, links, template_bands, ad_templates):
            conn.execute(sa.delete(table))
        conn.execute(sa.text("DELETE FROM meta WHERE key = :k"), {"k": WATERMARK})
    return link_new(store, settings)
