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

import contextlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
import sqlalchemy as sa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from safelight.heap import release_free_memory
from safelight.link import template as tpl
from safelight.link.arrays import dense_ids, first_of_each, ranges, unique
from safelight.link.assign import BLOCK, LeaderIndex, assign_block, join_count
from safelight.link.hubs import Identities
from safelight.link.known import match_new_photos
from safelight.link.photos import link_photos
from safelight.link.scan import int_rows, stream_rows
from safelight.records import PIVOT_KINDS
from safelight.settings import Settings
from safelight.store.among import among
from safelight.store.bulk import insert_rows
from safelight.store.schema import (
    ad_features,
    ad_networks,
    ad_templates,
    ads,
    hash_matches,
    links,
    mentions,
    networks,
    selectors,
    template_bands,
)
from safelight.store.statistics import refresh_statistics
from safelight.store.store import Store, utcnow
from safelight.store.writer import one_at_a_time

WATERMARK = "link_watermark"
_CHUNK = 500  # keys per IN (...) query of an update
_WRITE = 100_000  # rows built per insert batch


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


def _chunks(seq: Sequence[Any], n: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


# ---- step 1: templates ---------------------------------------------------------------------


def _leader_index(conn: sa.Connection, keys: np.ndarray | None = None) -> LeaderIndex:
    """The stored template leaders: band keys and signatures. Given the band `keys` of every
    ad to assign, only the leaders sharing one: the index is only ever asked for those keys,
    so the assignment is the same, and an update of a few thousand ads reads a few thousand
    band rows instead of every leader's (16 per template)."""
    if keys is None:
        bands = int_rows(conn, "SELECT band_key, leader_pk FROM template_bands", 2)
    else:
        q = sa.select(template_bands.c.band_key, template_bands.c.leader_pk)
        found = [
            tuple(row)
            for chunk in _chunks(keys.tolist())
            for row in conn.execute(q.where(among(conn, template_bands.c.band_key, chunk)))
        ]
        bands = np.asarray(found, dtype=np.int64).reshape(-1, 2)
    sigs: dict[int, bytes] = {}
    for chunk in _chunks(unique(bands[:, 1]).tolist()):
        q = sa.select(ad_features.c.ad_pk, ad_features.c.sig).where(
            among(conn, ad_features.c.ad_pk, chunk)
        )
        sigs.update((pk, bytes(sig)) for pk, sig in conn.execute(q))
    return LeaderIndex(bands[:, 0], bands[:, 1], sigs)


def _assign_templates(
    conn: sa.Connection, watermark: int, top: int, settings: Settings, summary: LinkSummary
) -> None:
    """Step 1 for the ads past the watermark, a block at a time (link/assign.py).

    An update much smaller than the database (fewer band keys than stored ads) reads its ads
    first and only the leaders sharing a band with them; a larger one every leader."""
    need = join_count(settings.template_threshold)
    sql = (
        f"SELECT ad_pk, sig FROM ad_features WHERE ad_pk > {int(watermark)} "
        f"AND ad_pk <= {int(top)} AND ntokens >= {int(settings.template_min_tokens)} "
        "ORDER BY ad_pk"
    )
    blocks: Iterator[tuple[np.ndarray, ...]] = map(
        _block_arrays, _blocks(stream_rows(conn, sql), BLOCK)
    )
    if 0 < summary.new_ads * tpl.BANDS < watermark:
        every = list(blocks)
        if not every:
            return  # no new ad has words enough for a template
        index = _leader_index(conn, unique(np.concatenate([k.ravel() for _, _, k in every])))
        blocks = iter(every)
    else:
        index = _leader_index(conn)
    new_keys: list[np.ndarray] = []
    new_leaders: list[np.ndarray] = []
    for pks, sigs, keys in blocks:
        leader, agree = assign_block(index, pks, sigs, keys, need)
        is_new = leader == pks
        summary.templates_new += int(is_new.sum())
        summary.template_members += int((~is_new).sum())
        new_keys.append(keys[is_new].ravel())
        new_leaders.append(np.repeat(pks[is_new], tpl.BANDS))
        similarity = _SIMILARITY[agree].tolist()
        rows = list(zip(pks.tolist(), leader.tolist(), similarity, strict=True))
        insert_rows(conn, ad_templates, ("ad_pk", "leader_pk", "similarity"), rows)
    if new_keys:
        _insert_bands(conn, np.concatenate(new_keys), np.concatenate(new_leaders))


def _block_arrays(block: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A block's (ad_pk, sig) rows as ad keys, (n, NUM_PERM) signatures, (n, BANDS) keys."""
    pks = np.fromiter((r[0] for r in block), dtype=np.int64, count=len(block))
    sigs = np.frombuffer(b"".join(r[1] for r in block), dtype=np.uint32)
    sigs = sigs.reshape(len(block), tpl.NUM_PERM)
    return pks, sigs, band_keys_many(sigs)


# The stored similarity of each possible count of equal MinHash values.
_SIMILARITY = np.asarray([round(c / tpl.NUM_PERM, 4) for c in range(tpl.NUM_PERM + 1)])


def _blocks(batches: Iterable[list[Any]], size: int) -> Iterator[list[Any]]:
    """Batches regrouped into lists of `size` rows (the last may be shorter)."""
    pending: list[Any] = []
    for rows in batches:
        pending.extend(rows)
        if len(pending) >= size:
            yield pending[:size]
            pending = pending[size:]
    if pending:
        yield pending


def _insert_bands(conn: sa.Connection, keys: np.ndarray, leaders: np.ndarray) -> None:
    """New leaders' band keys, written in key order: the key index then grows at its end
    instead of at random pages (several times faster at a million ads)."""
    order = np.argsort(keys, kind="stable")
    keys, leaders = keys[order], leaders[order]
    for i in range(0, len(keys), _WRITE):
        rows = list(
            zip(keys[i : i + _WRITE].tolist(), leaders[i : i + _WRITE].tolist(), strict=True)
        )
        insert_rows(conn, template_bands, ("band_key", "leader_pk"), rows)


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

_KINDS_SQL = ", ".join(f"'{k}'" for k in PIVOT_KINDS)  # constants, not data
# Grouped by selector; the covering index ix_mentions_kind_value gives this order unsorted.
_PIVOT_SCAN = (
    f"SELECT kind, value, ad_pk FROM mentions WHERE kind IN ({_KINDS_SQL}) "
    "ORDER BY kind, value, ad_pk"
)


@dataclass
class _Selectors:
    """The selectors carried by two or more ads, as CSR arrays: the ads of selector i are
    `ads[ptr[i]:ptr[i + 1]]`, ascending, and its (kind, value) is `names[i]`.

    A selector on one ad links nothing and is never a hub (millions of them at 1M ads: photo
    hashes seen once), so none is kept; what the hub rule needs of them is only which ads
    carry one (`lonely`, sorted): such an ad has an identity of its own."""

    names: list[tuple[str, str]]
    ptr: np.ndarray
    ads: np.ndarray
    lonely: np.ndarray

    @classmethod
    def from_sorted(cls, batches: Iterable[Sequence[Sequence[Any]]]) -> _Selectors:
        """From (kind, value, ad_pk) rows sorted by kind and value (and ad_pk within)."""
        names: list[tuple[str, str]] = []
        ends: list[int] = [0]
        ads: list[int] = []
        lonely: list[int] = []
        kind0: str | None = None
        value0: str | None = None
        group: list[int] = []
        end = [("", "", -1)]  # a row no real one equals: it closes the last group
        for rows in chain(batches, [end]):  # one tight loop: it sees every mention of a rebuild
            for kind, value, pk in rows:
                if value == value0 and kind == kind0:
                    if pk != group[-1]:
                        group.append(pk)
                    continue
                if len(group) > 1:
                    names.append((kind0, value0))  # type: ignore[arg-type]
                    ads.extend(group)
                    ends.append(len(ads))
                elif group:
                    lonely.append(group[0])
                kind0, value0, group = kind, value, [pk]
        return cls(
            names,
            np.asarray(ends, dtype=np.int64),
            np.asarray(ads, dtype=np.int64),
            unique(np.asarray(lonely, dtype=np.int64)),
        )

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, str, str]]) -> _Selectors:
        """From unordered (ad_pk, kind, value) rows (the few of an update)."""
        return cls.from_sorted([sorted((k, v, pk) for pk, k, v in rows)])

    def ads_of(self, i: int) -> np.ndarray:
        return self.ads[self.ptr[i] : self.ptr[i + 1]]

    def edges(self, hub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(first ad, other ad) of every non-hub selector: a star per selector is enough
        for the components."""
        counts = np.diff(self.ptr)
        keep = ~hub & (counts > 1)
        starts = self.ptr[:-1][keep]
        a = np.repeat(self.ads[starts], counts[keep] - 1)
        b = self.ads[ranges(starts + 1, counts[keep] - 1)]
        return a, b


def _pivot_rows(conn: sa.Connection, ad_pks: Sequence[int]) -> list[tuple[int, str, str]]:
    """(ad_pk, kind, value) of the pivot selectors of these ads.

    The statement names the ads only and the kinds are kept here: with `kind IN (...)` in it,
    SQLite chose the (kind, value) index and read every pivot mention of the database for each
    chunk (an update of 2,000 ads on a 1M-ad database spent a minute there)."""
    base = sa.select(mentions.c.ad_pk, mentions.c.kind, mentions.c.value)
    pivots = frozenset(PIVOT_KINDS)
    out: list[tuple[int, str, str]] = []
    for chunk in _chunks(sorted(ad_pks)):
        rows = conn.execute(base.where(among(conn, mentions.c.ad_pk, chunk)))
        out.extend((pk, kind, value) for pk, kind, value in rows if kind in pivots)
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
                mentions.c.kind == kind, among(conn, mentions.c.value, chunk)
            )
            out.extend(tuple(r) for r in conn.execute(q))  # type: ignore[misc]
    return out


def _templates_of(
    conn: sa.Connection, ad_pks: Sequence[int] | None
) -> tuple[np.ndarray, np.ndarray]:
    """(ad, leader) arrays of the ads (all, or these) in templates with two or more ads."""
    multi = int_rows(
        conn, "SELECT leader_pk FROM ad_templates GROUP BY leader_pk HAVING COUNT(*) > 1", 1
    )[:, 0]
    if ad_pks is None:
        rows = int_rows(conn, "SELECT ad_pk, leader_pk FROM ad_templates", 2)
    else:
        q = sa.select(ad_templates.c.ad_pk, ad_templates.c.leader_pk)
        found: list[Any] = []
        for chunk in _chunks(sorted(ad_pks)):
            found.extend(conn.execute(q.where(among(conn, ad_templates.c.ad_pk, chunk))).all())
        rows = np.asarray([tuple(r) for r in found], dtype=np.int64).reshape(-1, 2)
    rows = rows[np.isin(rows[:, 1], multi)]
    return rows[:, 0], rows[:, 1]


def _photo_pairs(
    conn: sa.Connection, ad_pks: Sequence[int] | None
) -> tuple[np.ndarray, np.ndarray]:
    """(ad_a, ad_b) of the stored links (all, or those of these ads)."""
    if ad_pks is None:
        rows = int_rows(conn, "SELECT ad_a, ad_b FROM links", 2)
        return rows[:, 0], rows[:, 1]
    q = sa.select(links.c.ad_a, links.c.ad_b)
    out: set[tuple[int, int]] = set()
    for chunk in _chunks(sorted(ad_pks)):
        out.update(tuple(r) for r in conn.execute(q.where(among(conn, links.c.ad_a, chunk))))  # type: ignore[misc]
        out.update(tuple(r) for r in conn.execute(q.where(among(conn, links.c.ad_b, chunk))))  # type: ignore[misc]
    pairs = np.asarray(sorted(out), dtype=np.int64).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def _hub_status(
    sel: _Selectors,
    templates: tuple[np.ndarray, np.ndarray],
    touched: set[tuple[str, str]] | None,
    min_groups: int,
) -> dict[tuple[str, str], tuple[int, int, bool]]:
    """Status (n_ads, groups, hub) of every touched selector with two or more ads.

    Two passes: the second ignores the hubs found by the first, so two hubs that appear
    together (a footer phone and a footer email) do not vouch for each other. The rule is
    hubs.count_groups; hubs.Identities applies it to every selector at once."""
    if touched is None:
        which = np.arange(len(sel.names), dtype=np.int64)
    else:
        which = np.asarray(
            [i for i, name in enumerate(sel.names) if name in touched], dtype=np.int64
        )
    if not len(which):
        return {}
    universe = unique(sel.ads)  # compact ad indices for the graph work
    t_ads, t_leaders = templates
    inside = np.isin(t_ads, universe)
    t_keys = dense_ids(t_leaders[inside])
    ident = Identities(
        sel.ptr,
        np.searchsorted(universe, sel.ads),
        len(universe),
        np.searchsorted(universe, t_ads[inside]),
        t_keys,
        np.isin(universe, sel.lonely),
    )
    groups = ident.count_groups(which)
    first_hubs = which[groups >= min_groups]
    if len(first_hubs):
        ignore = np.zeros(ident.n_keys, dtype=bool)
        ignore[first_hubs] = True
        groups = ident.count_groups(which, ignore)
    n_ads = np.diff(sel.ptr)[which]
    return {
        sel.names[s]: (n, g, g >= min_groups)
        for s, n, g in zip(which.tolist(), n_ads.tolist(), groups.tolist(), strict=True)
    }


def _components(nodes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest ad key of each node's connected component (`nodes` sorted, edges a-b
    between nodes)."""
    n = len(nodes)
    ia, ib = np.searchsorted(nodes, a), np.searchsorted(nodes, b)
    graph = coo_matrix((np.ones(len(ia), dtype=np.int8), (ia, ib)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    # Nodes are ascending, so a component's first node is its smallest ad key.
    first = first_of_each(labels)
    smallest = np.empty(int(labels.max()) + 1 if n else 0, dtype=np.int64)
    smallest[labels[first]] = nodes[first]
    return smallest[labels]


def link_new(store: Store, settings: Settings) -> LinkSummary:
    """Link every ad not linked yet; one transaction, so a crash leaves the previous state."""
    with store.engine.begin() as conn:
        _one_linker(conn)
        watermark = int(
            conn.scalar(sa.text("SELECT value FROM meta WHERE key = :k"), {"k": WATERMARK}) or 0
        )
        return _link(conn, watermark, settings)


def rebuild(store: Store, settings: Settings) -> LinkSummary:
    """Forget every link and link all ads again from scratch, in one transaction: readers
    see the previous networks until it commits."""
    with store.engine.begin() as conn:
        _one_linker(conn)
        return _link(conn, 0, settings)


LINK_LOCK_KEY = 0x5AFE1_0002  # PostgreSQL advisory lock key (scoring uses ..._0001)


def _one_linker(conn: sa.Connection) -> None:
    """One link transaction at a time (two ingests finishing together): a second would read
    the same watermark, link the same new ads and fail on their template rows. Taken before
    the watermark is read, held to the end of the transaction. PostgreSQL: an advisory lock.
    SQLite: its writer lock, taken now (reads alone would not take it), waited for as long
    as `begin_writing` waits."""
    one_at_a_time(conn, LINK_LOCK_KEY)


def _top(conn: sa.Connection) -> int:
    """The newest ad key: this link takes the ads up to it, and the next link those after.
    An ingest may commit more while this one runs, and until its first write each statement
    sees them (PostgreSQL: read committed; SQLite: Python's sqlite3 begins at the first
    write); taken here and again next time, they would be linked twice."""
    return int(conn.scalar(sa.select(sa.func.max(ads.c.pk))) or 0)


# Everything linking writes; a rebuild (watermark 0) starts them afresh.
_LINK_TABLES = (networks, ad_networks, selectors, links, template_bands, ad_templates)


def _link(conn: sa.Connection, watermark: int, settings: Settings) -> LinkSummary:
    summary = LinkSummary()
    full = watermark == 0
    top = _top(conn)
    if top <= watermark and not full:
        return summary
    with _bulk_load(conn, _LINK_TABLES) if full else contextlib.nullcontext():
        if full:
            for table in _LINK_TABLES:
                conn.execute(sa.delete(table))
        new_pks = int_rows(
            conn, f"SELECT pk FROM ads WHERE pk > {int(watermark)} AND pk <= {top} ORDER BY pk", 1
        )
        summary.new_ads = len(new_pks)
        if summary.new_ads:
            # Each step's arrays are gone when it returns; their memory goes back too, so
            # that the steps' peaks do not stack up (release_free_memory).
            release_free_memory()
            _assign_templates(conn, watermark, top, settings, summary)
            release_free_memory()
            summary.photo_links = link_photos(conn, watermark, top, settings)
            summary.hash_matches = match_new_photos(conn, watermark, top, settings)
            release_free_memory()
            if full:
                _link_all(conn, new_pks[:, 0], settings, summary)
            else:
                _link_update(conn, new_pks[:, 0].tolist(), settings, summary)
    refresh_statistics(conn, [t.name for t in (*_LINK_TABLES, hash_matches)], rewritten=full)
    _set_watermark(conn, top)
    return summary


@contextlib.contextmanager
def _bulk_load(conn: sa.Connection, tables: Sequence[sa.Table]) -> Iterator[None]:
    """Write emptied tables without their secondary indexes, then index them once.

    A rebuild writes millions of rows; SQLite updating each index row by row costs several
    times more than sorting once at the end. The definitions are read back from the
    database, so every index (migrations included) returns as it was, in the same
    transaction: a failure rolls the drop back, and WAL readers keep their snapshot.
    PostgreSQL keeps its indexes: dropping one would lock readers out until the commit."""
    if conn.dialect.name != "sqlite":
        yield
        return
    names = ", ".join(f"'{t.name}'" for t in tables)  # our table names, not data
    indexes = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({names})"
    ).all()
    for name, _ in indexes:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    yield
    for _, sql in indexes:
        conn.exec_driver_sql(sql)


def _link_all(
    conn: sa.Connection, all_pks: np.ndarray, settings: Settings, summary: LinkSummary
) -> None:
    """Steps 3 and 4 for a rebuild: whole-table scans, every selector, every network."""
    sel = _Selectors.from_sorted(stream_rows(conn, _PIVOT_SCAN))
    templates = _templates_of(conn, None)
    status = _hub_status(sel, templates, None, settings.hub_min_groups)
    _save_status(conn, status, {})
    summary.hubs = sum(1 for s in status.values() if s[2])
    hub = np.fromiter((status[name][2] for name in sel.names), dtype=bool, count=len(sel.names))
    summary.involved_ads = len(all_pks)
    edges = _edges(sel.edges(hub), templates, _photo_pairs(conn, None))
    _recompute(conn, all_pks, True, summary, edges)


def _link_update(
    conn: sa.Connection, new_pks: list[int], settings: Settings, summary: LinkSummary
) -> None:
    """Steps 3 and 4 for an update: the selectors the new ads carry, the networks they touch."""
    new_rows = _pivot_rows(conn, new_pks)
    touched = {(k, v) for _, k, v in new_rows}
    selector_ads = {pk for pk, _, _ in _ads_of_selectors(conn, touched)}
    context = sorted(selector_ads | set(new_pks))
    sel = _Selectors.from_rows(_pivot_rows(conn, context))
    t_ads, t_leaders = _templates_of(conn, context)
    status = _hub_status(sel, (t_ads, t_leaders), touched, settings.hub_min_groups)
    previous = _previous_status(conn, status)
    _save_status(conn, status, previous)
    summary.hubs = sum(1 for s in status.values() if s[2])

    # Seeds: new ads and every ad that a changed or merging selector reaches.
    seeds = set(new_pks)
    index = {name: i for i, name in enumerate(sel.names)}
    for key, (_, _, hub) in status.items():
        if not hub or previous.get(key) is False:
            seeds.update(sel.ads_of(index[key]).tolist())
    leader_of = dict(zip(t_ads.tolist(), t_leaders.tolist(), strict=True))
    seeds.update(leader_of.get(pk, pk) for pk in new_pks)
    a, b = _photo_pairs(conn, sorted(seeds))
    seeds.update(a.tolist())
    seeds.update(b.tolist())
    involved = np.asarray(sorted(_close_over_networks(conn, seeds)), dtype=np.int64)
    summary.involved_ads = len(involved)
    _recompute(conn, involved, False, summary, _update_edges(conn, involved))


def _edges(
    selector_edges: tuple[np.ndarray, np.ndarray],
    templates: tuple[np.ndarray, np.ndarray],
    photo_pairs: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Every link as an (a, b) edge: non-hub selectors, templates (leader-member), photos."""
    t_ads, t_leaders = templates
    return (
        np.concatenate([selector_edges[0], t_leaders, photo_pairs[0]]),
        np.concatenate([selector_edges[1], t_ads, photo_pairs[1]]),
    )


def _update_edges(conn: sa.Connection, involved: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The edges among the involved ads of an update; selectors stored as hubs link nothing."""
    scope = involved.tolist()
    sel = _Selectors.from_rows(_pivot_rows(conn, scope))
    hub_keys = {
        (k, v)
        for k, v in conn.execute(
            sa.select(selectors.c.kind, selectors.c.value).where(selectors.c.hub)
        )
    }
    hub = np.fromiter((name in hub_keys for name in sel.names), bool, len(sel.names))
    return _edges(sel.edges(hub), _templates_of(conn, scope), _photo_pairs(conn, scope))


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
                selectors.c.kind == kind, among(conn, selectors.c.value, chunk)
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
                sa.delete(selectors).where(
                    selectors.c.kind == kind, among(conn, selectors.c.value, chunk)
                )
            )
    rows = [(k, v, n, g, hub) for (k, v), (n, g, hub) in sorted(status.items())]
    insert_rows(conn, selectors, ("kind", "value", "n_ads", "groups", "hub"), rows)


def _close_over_networks(conn: sa.Connection, seeds: set[int]) -> set[int]:
    """The seeds plus every ad of every network a seed is in."""
    ids: set[str] = set()
    for chunk in _chunks(sorted(seeds)):
        ids.update(
            conn.scalars(
                sa.select(ad_networks.c.network_id).where(among(conn, ad_networks.c.ad_pk, chunk))
            )
        )
    out = set(seeds)
    for chunk in _chunks(sorted(ids)):
        out.update(
            conn.scalars(
                sa.select(ad_networks.c.ad_pk).where(among(conn, ad_networks.c.network_id, chunk))
            )
        )
    return out


def _recompute(
    conn: sa.Connection,
    involved: np.ndarray,
    full: bool,
    summary: LinkSummary,
    edges: tuple[np.ndarray, np.ndarray],
) -> None:
    """Connected components over the involved ads (sorted); rewrite their network rows."""
    a, b = edges
    inside = np.isin(a, involved) & np.isin(b, involved) & (a != b)
    root = _components(involved, a[inside], b[inside])

    if not full:  # a rebuild started the network tables afresh
        old_ids: set[str] = set()
        for chunk in _chunks(involved.tolist()):
            old_ids.update(
                conn.scalars(
                    sa.select(ad_networks.c.network_id).where(
                        among(conn, ad_networks.c.ad_pk, chunk)
                    )
                )
            )
            conn.execute(sa.delete(ad_networks).where(among(conn, ad_networks.c.ad_pk, chunk)))
        for chunk in _chunks(sorted(old_ids)):
            conn.execute(sa.delete(networks).where(among(conn, networks.c.id, chunk)))
    for i in range(0, len(involved), _WRITE):
        pks, roots = involved[i : i + _WRITE].tolist(), root[i : i + _WRITE].tolist()
        rows = [(pk, f"N{r}") for pk, r in zip(pks, roots, strict=True)]
        insert_rows(conn, ad_networks, ("ad_pk", "network_id"), rows)
    summary.networks_changed = len(unique(root))
    _write_summaries(conn, involved, root, full)


@dataclass
class _Network:
    """What a network's summary row needs, gathered ad by ad."""

    size: int = 0
    first: str | None = None
    last: str | None = None
    places: set[str] = field(default_factory=set)
    sites: set[str] = field(default_factory=set)
    max_pk: int = 0


def _write_summaries(conn: sa.Connection, nodes: np.ndarray, root: np.ndarray, full: bool) -> None:
    """Size, first/last seen, places and sites of each recomputed network (`nodes` sorted,
    `root` their network's smallest ad key). A plain loop: at 1M ads it costs about as much
    as reading the rows, and less than turning the strings into arrays (measured)."""
    if full:
        batches: Iterable[Sequence[Any]] = stream_rows(
            conn, "SELECT pk, posted_at, place, site FROM ads ORDER BY pk"
        )
    else:
        cols = sa.select(ads.c.pk, ads.c.posted_at, ads.c.place, ads.c.site)
        batches = (
            conn.execute(cols.where(among(conn, ads.c.pk, chunk))).all()
            for chunk in _chunks(nodes.tolist())
        )
    nets: dict[int, _Network] = {}
    for batch in batches:
        pks = np.fromiter((row[0] for row in batch), dtype=np.int64, count=len(batch))
        at = np.minimum(np.searchsorted(nodes, pks), len(nodes) - 1)
        known = nodes[at] == pks
        for row, r, ok in zip(batch, root[at].tolist(), known.tolist(), strict=True):
            if not ok:
                continue
            pk, posted, place, site = row
            net = nets.get(r)
            if net is None:
                net = nets[r] = _Network()
            net.size += 1
            net.max_pk = max(net.max_pk, pk)
            if posted:
                if net.first is None or posted < net.first:
                    net.first = posted
                if net.last is None or posted > net.last:
                    net.last = posted
            if place:
                net.places.add(place)
            if site:
                net.sites.add(site)
    now = utcnow()
    rows = [
        (
            f"N{r}",
            net.size,
            net.first,
            net.last,
            json.dumps(sorted(net.places)),
            json.dumps(sorted(net.sites)),
            now,
            net.max_pk,
        )
        for r, net in sorted(nets.items())
    ]
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
