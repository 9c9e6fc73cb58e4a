"""Known-hash matches shown as alerts: a photo of an ad matched an imported hash list.

Matches are not tied to anyone's watch: every analyst and admin sees them, in `/alerts` beside
their watch alerts and in the unseen badge. One alert per (ad, list), however many photos or
hashes matched. What the list holds (its hashes, its labels) never leaves this module: only
the list's name and kind, the ad, its network, the distance and when.

"Seen" is a per-user watermark (the newest match id the user has marked seen) kept in the
store's meta table, so no new table is needed and a new match is unseen for everyone.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from safelight.cases.auth import can, require
from safelight.store import Store
from safelight.store.schema import ad_networks, ads, hash_matches, hashlists, meta

SEEN_KEY = "hashalerts.seen.{uid}"


def _seen_mark(conn: sa.Connection, user: dict[str, Any]) -> int:
    value = conn.scalar(
        sa.select(meta.c.value).where(meta.c.key == SEEN_KEY.format(uid=user["id"]))
    )
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _grouped() -> Any:
    """(ad, list) groups of matches: newest match id, first time, best distance."""
    return (
        sa.select(
            hash_matches.c.ad_pk,
            hash_matches.c.list_id,
            sa.func.max(hash_matches.c.id).label("last_id"),
            sa.func.min(hash_matches.c.created_at).label("created_at"),
            sa.func.min(hash_matches.c.distance).label("distance"),
            sa.func.count().label("matches"),
        )
        .group_by(hash_matches.c.ad_pk, hash_matches.c.list_id)
        .subquery("g")
    )


def list_hash_alerts(
    store: Store, user: dict[str, Any], unseen_only: bool = False, limit: int = 200
) -> list[dict[str, Any]]:
    """Newest first: kind "hashlist", list name and kind, ad id, network id, distance, when."""
    require(user, "work")
    g = _grouped()
    q = (
        sa.select(
            g,
            ads.c.id.label("ad_id"),
            ads.c.site,
            ads.c.posted_at,
            ads.c.place,
            ads.c.title,
            hashlists.c.name.label("list_name"),
            hashlists.c.kind.label("list_kind"),
            ad_networks.c.network_id,
        )
        .join(ads, ads.c.pk == g.c.ad_pk)
        .join(hashlists, hashlists.c.id == g.c.list_id)
        .outerjoin(ad_networks, ad_networks.c.ad_pk == g.c.ad_pk)
        .order_by(g.c.last_id.desc())
        .limit(max(1, min(limit, 1000)))
    )
    with store.engine.connect() as conn:
        mark = _seen_mark(conn, user)
        if unseen_only:
            q = q.where(g.c.last_id > mark)
        return [
            {
                "id": f"hashlist:{r.last_id}",
                "kind": "hashlist",
                "list": r.list_name,
                "list_kind": r.list_kind,
                "ad_id": r.ad_id,
                "network_id": r.network_id,
                "distance": int(r.distance),
                "matches": int(r.matches),
                "created_at": r.created_at,
                "seen": r.last_id <= mark,
                "ad": {
                    "site": r.site,
                    "posted_at": r.posted_at,
                    "place": r.place,
                    "title": r.title,
                },
            }
            for r in conn.execute(q)
        ]


def unseen_count(store: Store, user: dict[str, Any]) -> int:
    """How many (ad, list) matches this user has not marked seen (0 for roles without work)."""
    if not can(user, "work"):
        return 0
    with store.engine.connect() as conn:
        mark = _seen_mark(conn, user)
        # A group's last match is past the mark exactly when any of its matches is: so only the
        # matches past it are read (a pk range), not every group of the table on every page.
        newer = (
            sa.select(hash_matches.c.ad_pk, hash_matches.c.list_id)
            .where(hash_matches.c.id > mark)
            .distinct()
            .subquery()
        )
        return int(conn.scalar(sa.select(sa.func.count()).select_from(newer)) or 0)


def mark_seen(store: Store, user: dict[str, Any]) -> int:
    """Mark every current match seen for this user; returns how many alerts that cleared."""
    require(user, "work")
    cleared = unseen_count(store, user)
    key = SEEN_KEY.format(uid=user["id"])
    with store.engine.begin() as conn:
        newest = conn.scalar(sa.select(sa.func.max(hash_matches.c.id))) or 0
        if (
            conn.execute(
                sa.update(meta).where(meta.c.key == key).values(value=str(newest))
            ).rowcount
            == 0
        ):
            conn.execute(sa.insert(meta).values(key=key, value=str(newest)))
    return cleared


def lists_for_ads(store: Store, ad_ids: list[str]) -> list[dict[str, Any]]:
    """The lists (name, kind) that photos of these ads matched, for the ad and network pages."""
    if not ad_ids:
        return []
    found: dict[str, str] = {}
    with store.engine.connect() as conn:
        for i in range(0, len(ad_ids), 500):
            q = (
                sa.select(hashlists.c.name, hashlists.c.kind)
                .join(hash_matches, hash_matches.c.list_id == hashlists.c.id)
                .join(ads, ads.c.pk == hash_matches.c.ad_pk)
                .where(ads.c.id.in_(ad_ids[i : i + 500]))
                .distinct()
            )
            for name, kind in conn.execute(q):
                found[name] = kind
    return [{"name": n, "kind": k} for n, k in sorted(found.items())]


def lists_for_network(store: Store, network_id: str) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        ids = list(
            conn.scalars(
                sa.select(ads.c.id)
                .join(ad_networks, ad_networks.c.ad_pk == ads.c.pk)
                .where(ad_networks.c.network_id == network_id)
            )
        )
    return lists_for_ads(store, ids)
