"""Known-hash lists: clearing houses' lists of known abuse imagery and of missing children.

Every ingested photo is matched against every imported list (exact MD5/SHA-256, PDQ within
the photo distance); a new list is matched against every photo already stored. A match is
recorded with its distance and puts the ad's network at the top of triage. What a list holds
is never shown: only that a photo matched which list.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from safelight.link.hashlists import load_hash_list
from safelight.link.photo_index import PhotoIndex, hex_to_codes
from safelight.settings import Settings
from safelight.store.among import among
from safelight.store.schema import (
    ad_networks,
    ads,
    hash_matches,
    hashlists,
    known_hashes,
    networks,
    photos,
)
from safelight.store.store import Store, utcnow

LIST_KINDS = ("csam", "missing", "custom")


def import_hashlist(
    store: Store, path: str | Path, name: str, kind: str, settings: Settings
) -> dict[str, Any]:
    """Import a list (replacing one of the same name) and match every stored photo against it."""
    if kind not in LIST_KINDS:
        raise ValueError(f"kind must be one of {', '.join(LIST_KINDS)}")
    parsed = load_hash_list(path)
    with store.engine.begin() as conn:
        conn.execute(sa.delete(hashlists).where(hashlists.c.name == name))
        inserted = conn.execute(
            sa.insert(hashlists).values(
                name=name,
                kind=kind,
                source=str(path),
                imported_at=utcnow(),
                n_hashes=len(parsed.hashes),
            )
        ).inserted_primary_key
        assert inserted is not None
        list_id = inserted[0]
        rows = [
            {"list_id": list_id, "kind": h.kind, "value": h.value, "label": h.label}
            for h in parsed.hashes
        ]
        for i in range(0, len(rows), 5000):
            conn.execute(sa.insert(known_hashes), rows[i : i + 5000])
        matched = _match(conn, settings, photo_filter=None, list_filter=list_id)
    return {
        "list": name,
        "kind": kind,
        "hashes": len(parsed.hashes),
        "rejected_rows": len(parsed.rejects),
        "skipped_rows": len(parsed.skipped),
        "layout": parsed.layout,
        "matches": matched,
    }


def match_new_photos(conn: sa.Connection, watermark: int, top: int, settings: Settings) -> int:
    """Match the photos of the ads this link takes (past the watermark, up to `top`) against
    every list."""
    taken = sa.and_(photos.c.ad_pk > watermark, photos.c.ad_pk <= top)
    return _match(conn, settings, photo_filter=taken, list_filter=None)


def _match(
    conn: sa.Connection, settings: Settings, photo_filter: Any, list_filter: int | None
) -> int:
    kq = sa.select(
        known_hashes.c.id, known_hashes.c.list_id, known_hashes.c.kind, known_hashes.c.value
    )
    if list_filter is not None:
        kq = kq.where(known_hashes.c.list_id == list_filter)
    known = conn.execute(kq).all()
    if not known:
        return 0
    pq = sa.select(
        photos.c.id,
        photos.c.ad_pk,
        photos.c.sha256,
        photos.c.md5,
        photos.c.pdq,
        photos.c.index_hashes,
        photos.c.query_hashes,
    )
    if photo_filter is not None:
        pq = pq.where(photo_filter)
    found: dict[tuple[int, int], dict[str, Any]] = {}
    exact = {(k.kind, k.value): k for k in known if k.kind in ("md5", "sha256")}
    pdq_known = [k for k in known if k.kind == "pdq"]
    index = PhotoIndex()
    if pdq_known:
        index.add(np.arange(len(pdq_known), dtype=np.int64), [k.value for k in pdq_known])
    queries: list[tuple[Any, str]] = []
    for ph in conn.execute(pq):
        for kind in ("sha256", "md5"):
            k = exact.get((kind, getattr(ph, kind)))
            if k is not None:
                found[(ph.id, k.id)] = {"photo": ph, "known": k, "distance": 0}
        if pdq_known and ph.pdq:
            for h in {ph.pdq, *json.loads(ph.index_hashes), *json.loads(ph.query_hashes)}:
                queries.append((ph, h))
    if queries and len(index):
        rows, ids, dist = index.search_arrays(
            hex_to_codes([h for _, h in queries]), settings.photo_distance
        )
        for r, i, d in zip(rows, ids, dist, strict=True):
            ph, k = queries[int(r)][0], pdq_known[int(i)]
            prev = found.get((ph.id, k.id))
            if prev is None or int(d) < prev["distance"]:
                found[(ph.id, k.id)] = {"photo": ph, "known": k, "distance": int(d)}
    if not found:
        return 0
    existing = set(conn.execute(sa.select(hash_matches.c.photo_id, hash_matches.c.known_id)).all())
    now = utcnow()
    new_rows = [
        {
            "ad_pk": m["photo"].ad_pk,
            "photo_id": pid,
            "list_id": m["known"].list_id,
            "known_id": kid,
            "kind": m["known"].kind,
            "distance": m["distance"],
            "created_at": now,
        }
        for (pid, kid), m in sorted(found.items(), key=lambda kv: kv[0])
        if (pid, kid) not in existing
    ]
    if new_rows:
        conn.execute(sa.insert(hash_matches), new_rows)
        # the networks of matched ads must be re-scored: a match forces the top of triage
        pks = sorted({r["ad_pk"] for r in new_rows})
        net_ids = conn.scalars(
            sa.select(ad_networks.c.network_id).where(ad_networks.c.ad_pk.in_(pks))
        ).all()
        conn.execute(sa.update(networks).where(networks.c.id.in_(net_ids)).values(scored_at=None))
    return len(new_rows)


def list_matches(store: Store, limit: int = 1000) -> list[dict[str, Any]]:
    """Matches with ad id, list, kind and distance: never the list's hashes or labels."""
    q = (
        sa.select(
            ads.c.id.label("ad"),
            hashlists.c.name.label("list"),
            hashlists.c.kind.label("list_kind"),
            hash_matches.c.kind,
            hash_matches.c.distance,
            hash_matches.c.created_at,
            ad_networks.c.network_id.label("network"),
        )
        .join(ads, ads.c.pk == hash_matches.c.ad_pk)
        .join(hashlists, hashlists.c.id == hash_matches.c.list_id)
        .outerjoin(ad_networks, ad_networks.c.ad_pk == hash_matches.c.ad_pk)
        .order_by(hash_matches.c.id)
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def list_hashlists(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [
            dict(r._mapping) for r in conn.execute(sa.select(hashlists).order_by(hashlists.c.name))
        ]


def matches_by_ad(conn: sa.Connection, ad_pks: list[int]) -> dict[int, list[str]]:
    """List names matched by each ad's photos (for scores and reasons)."""
    out: dict[int, list[str]] = {}
    for i in range(0, len(ad_pks), 500):
        q = (
            sa.select(hash_matches.c.ad_pk, hashlists.c.name)
            .join(hashlists, hashlists.c.id == hash_matches.c.list_id)
            .where(among(conn, hash_matches.c.ad_pk, ad_pks[i : i + 500]))
        )
        for pk, name in conn.execute(q):
            out.setdefault(pk, []).append(name)
    return out
