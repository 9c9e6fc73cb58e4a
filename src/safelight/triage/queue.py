"""The triage queue: networks (an unlinked ad is a network of one) ranked for review.

Analysts mark items reviewing / escalated / dismissed with a reason. A dismissed item leaves
the queue until a new ad arrives in it. Every decision is kept in the judgement history with
the facts it was made on, which is what the optional learned model trains from.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import asdict
from typing import Any

import sqlalchemy as sa

from safelight.score.model import network_features
from safelight.score.network_score import score_network
from safelight.score.registry import load_registry
from safelight.settings import Settings
from safelight.store.schema import ad_networks, ads, networks, triage_history, triage_status
from safelight.store.store import Store, utcnow
from safelight.triage.facts import hash_list_names, network_facts, unscored_networks

STATUSES = ("new", "reviewing", "escalated", "dismissed")
_CHUNK = 400


# One scorer at a time: two scorers would compute the same networks and then wait on each
# other's row locks (PostgreSQL) or on the single writer lock (SQLite) for as long as the
# other's transaction lasts, which under load meant page views waiting tens of seconds.
SCORING_LOCK_KEY = 0x5AFE1_0001  # PostgreSQL advisory lock key
_scoring = threading.Lock()  # the same within one process (the web app's threads)
VIEW_SCORING_LIMIT = 400  # the most networks one page view scores before answering


def refresh_scores(
    store: Store, now: str | None = None, *, limit: int | None = None, wait: bool = True
) -> int:
    """Score networks changed since they were last scored; returns how many.

    Ingest, link and purge score everything they changed (`wait=True`: they queue behind
    another scorer). Queue views call this with `wait=False` and a `limit`: when someone else
    is scoring they answer at once with the queue as it stands, and a view never does more
    than a bounded share of the work. The usual case, nothing to score, is one indexed read
    (`ix_networks_unscored`) and no write transaction."""
    with store.engine.connect() as conn:
        if not unscored_networks(conn, limit=1):
            return 0
    if not _scoring.acquire(blocking=wait):
        return 0
    try:
        return _score_unscored(store, now or utcnow(), limit, wait)
    except sa.exc.OperationalError as exc:
        if not wait and "locked" in str(exc):  # SQLite: another process holds the writer lock
            return 0
        raise
    finally:
        _scoring.release()


def _score_unscored(store: Store, now: str, limit: int | None, wait: bool) -> int:
    registry = load_registry(Settings.from_env().indicators_path or None)
    done = 0
    with store.engine.begin() as conn:
        if not _cross_process_lock(conn, wait):
            return 0
        ids = unscored_networks(conn, limit=limit)
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            facts = network_facts(conn, chunk, now)
            scored: list[dict[str, Any]] = []
            for nid, f in facts.items():
                result = score_network(f, registry)
                reasons: list[dict[str, Any]] = [
                    {"text": r.text, "weight": r.weight, "evidence": r.evidence}
                    for r in result.reasons
                ]
                if f.hash_list_matches:  # name the lists: the reason an analyst must see first
                    lists = ", ".join(hash_list_names(conn, nid))
                    for r in reasons:
                        if r["evidence"].get("term") == "hash_list_match":
                            r["text"] = f"{r['text']}: {lists}"
                reasons_json = json.dumps(reasons, default=str)
                scored.append({"nid": nid, "s": result.score, "r": reasons_json, "at": now})
            if scored:  # one executemany per chunk (psycopg pipelines it): not a round trip each
                conn.execute(_SAVE_SCORE, scored)
                done += len(scored)
    return done


_SAVE_SCORE = (
    sa.update(networks)
    .where(networks.c.id == sa.bindparam("nid"))
    .values(score=sa.bindparam("s"), reasons=sa.bindparam("r"), scored_at=sa.bindparam("at"))
)


def _cross_process_lock(conn: sa.Connection, wait: bool) -> bool:
    """Hold the scoring lock for this transaction, across processes (ingest and server).

    PostgreSQL: a transaction-scoped advisory lock. SQLite: its single writer lock does the
    job; taken now (an immediate write) rather than at the first update, and without waiting
    when `wait` is False."""
    if conn.dialect.name == "postgresql":
        fn = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
        got = conn.scalar(sa.text(f"SELECT {fn}(:k)"), {"k": SCORING_LOCK_KEY})
        return bool(got) if not wait else True
    if not wait:
        conn.exec_driver_sql("PRAGMA busy_timeout=0")
        try:  # any write takes SQLite's writer lock; this one changes nothing
            conn.execute(sa.update(networks).where(sa.false()).values(score=0))
        finally:
            conn.exec_driver_sql("PRAGMA busy_timeout=30000")
    return True


def triage(
    store: Store,
    limit: int = 50,
    include_dismissed: bool = False,
    status: str | None = None,
    place: str | None = None,
    min_size: int = 1,
    with_ads: bool = True,
) -> list[dict[str, Any]]:
    """The queue, best first: each item with its score, top reasons, places and last seen.

    The order is that of the `ix_networks_rank` index, so the queue is read from the top of
    the index, never sorted whole. `with_ads=False` leaves out each item's list of ad ids
    (a page that shows only how many uses `size`)."""
    refresh_scores(store, limit=VIEW_SCORING_LIMIT, wait=False)
    q = (
        sa.select(
            networks,
            triage_status.c.status,
            triage_status.c.reason.label("status_reason"),
            triage_status.c.user,
            triage_status.c.max_ad_pk.label("decided_at_pk"),
        )
        .outerjoin(triage_status, triage_status.c.item == networks.c.id)
        .order_by(networks.c.score.desc(), networks.c.size.desc(), networks.c.id)
    )
    if min_size > 1:  # every network has an ad: a size condition would only steer the planner
        q = q.where(networks.c.size >= min_size)
    if status:
        q = (
            q.where(triage_status.c.status == status)
            if status != "new"
            else q.where(triage_status.c.status.is_(None))
        )
    if place:
        q = q.where(networks.c.places.contains(f'"{place}"', autoescape=True))
    items: list[dict[str, Any]] = []
    with store.engine.connect() as conn:
        for row in conn.execute(q.limit(limit * 4 + 50)):
            current = row.status or "new"
            if current == "dismissed" and not include_dismissed and status != "dismissed":
                if row.max_ad_pk <= (row.decided_at_pk or 0):
                    continue
                current = "new"  # new ads arrived since the dismissal: back in the queue
            reasons = json.loads(row.reasons)
            items.append(
                {
                    "item": row.id,
                    "network": row.id,
                    "size": row.size,
                    "score": round(row.score, 4),
                    "reasons": [r["text"] for r in reasons if r["weight"] > 0][:5],
                    "context": [r["text"] for r in reasons if r["weight"] <= 0][:3],
                    "places": json.loads(row.places),
                    "sites": json.loads(row.sites),
                    "first_seen": row.first_seen,
                    "last_seen": row.last_seen,
                    "status": current,
                    "status_reason": row.status_reason,
                }
            )
            if len(items) >= limit:
                break
        if with_ads:
            _attach_ads(conn, items)
    from safelight.triage.learned import attach_opinions

    attach_opinions(store, items)  # beside the rule score, never instead of it
    return items


def _attach_ads(conn: sa.Connection, items: list[dict[str, Any]]) -> None:
    ids = [it["network"] for it in items]
    found: dict[str, list[str]] = defaultdict(list)
    for i in range(0, len(ids), _CHUNK):
        q = (
            sa.select(ad_networks.c.network_id, ads.c.id)
            .join(ads, ads.c.pk == ad_networks.c.ad_pk)
            .where(ad_networks.c.network_id.in_(ids[i : i + _CHUNK]))
            .order_by(ads.c.pk)
        )
        for nid, ad_id in conn.execute(q).all():  # one fetch, not one per row
            found[nid].append(ad_id)
    for it in items:
        it["ads"] = found.get(it["network"], [])


def set_status(store: Store, item_id: str, status: str, reason: str, user: str) -> dict[str, Any]:
    """Record an analyst's decision; the previous ones stay in the history."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    if status in ("dismissed", "escalated") and not reason.strip():
        raise ValueError(f"a reason is required to mark an item {status}")
    now = utcnow()
    with store.engine.begin() as conn:
        row = conn.execute(sa.select(networks.c.max_ad_pk).where(networks.c.id == item_id)).first()
        if row is None:
            raise KeyError(f"no triage item {item_id}")
        facts = network_facts(conn, [item_id], now).get(item_id)
        features = _features(facts) if facts else {}
        conn.execute(
            sa.insert(triage_history).values(
                item=item_id,
                status=status,
                reason=reason,
                user=user,
                at=now,
                features=json.dumps(features, default=str),
            )
        )
        conn.execute(sa.delete(triage_status).where(triage_status.c.item == item_id))
        if status != "new":
            conn.execute(
                sa.insert(triage_status).values(
                    item=item_id,
                    status=status,
                    reason=reason,
                    user=user,
                    at=now,
                    max_ad_pk=row.max_ad_pk,
                )
            )
    return {"item": item_id, "status": status, "reason": reason, "user": user, "at": now}


def history(store: Store, item_id: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(triage_history).order_by(triage_history.c.id)
    if item_id:
        q = q.where(triage_history.c.item == item_id)
    with store.engine.connect() as conn:
        return [{**dict(r._mapping), "features": json.loads(r.features)} for r in conn.execute(q)]


def _features(facts: Any) -> dict[str, Any]:
    """The facts as plain JSON, hits reduced to their categories, and the learned model's
    features: what the decision was made on, kept with the decision."""
    data = asdict(facts)
    data["hit_categories"] = sorted({h["category"] for hs in data.pop("ad_hits") for h in hs})
    data.pop("ad_scores", None)
    data["model"] = network_features(facts)
    return data
