"""Watches and alerts: tell an analyst when a phone, email, handle, photo or saved search of
theirs shows up again in newly ingested ads.

The ingest pipeline calls `check_new_ads` after each stored batch; matching is done against
the stored mentions (already normalised, so a disguised number matches the plain one), the
photo hashes, and the full-text index restricted to the new ads.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from safelight.cases import audit
from safelight.cases.auth import require
from safelight.cases.tables import alerts, users, watches
from safelight.settings import Settings
from safelight.store import Store, fts
from safelight.store.schema import ads, mentions
from safelight.store.store import utcnow

log = logging.getLogger(__name__)

SELECTOR_KINDS = ("phone", "email", "handle", "payment")
WATCH_KINDS = (*SELECTOR_KINDS, "photo", "search")
_HEX = re.compile(r"^[0-9a-f]{16,128}$")
_CHUNK = 500


class WatchError(ValueError):
    """A watch that cannot be set (unknown kind, value not recognised)."""


def normalise_watch(kind: str, value: str, region: str = "US") -> tuple[str, str]:
    """(kind, value) as stored: selectors normalised like the ads' mentions are.

    kind "auto" takes the first selector recognised in the value ("713 555 0142" → phone)."""
    value = value.strip()
    if not value:
        raise WatchError("a watch needs a value")
    if kind == "search":
        if not fts.query_words(value):
            raise WatchError("a saved search needs at least one word")
        return kind, value[:500]
    if kind == "photo":
        digest = value.lower().removeprefix("sha256:").removeprefix("pdq:")
        if not _HEX.match(digest):
            raise WatchError("a photo watch takes a hex SHA-256 or PDQ hash")
        return kind, digest
    if kind not in (*SELECTOR_KINDS, "auto"):
        raise WatchError(f"watch kind must be one of {', '.join(WATCH_KINDS)}")
    from safelight.extract.query import selectors_for_query

    pairs = selectors_for_query(value, region)
    for k, v in pairs:
        if kind in ("auto", k):
            return k, v
    if kind != "auto" and ":" in value and value.split(":", 1)[0] == kind:
        return kind, value.split(":", 1)[1]
    raise WatchError(f"no {kind if kind != 'auto' else 'selector'} recognised in {value!r}")


def add_watch(
    store: Store, user: dict[str, Any], kind: str, value: str, label: str = "", region: str = "US"
) -> dict[str, Any]:
    require(user, "work")
    kind, value = normalise_watch(kind, value, region)
    with store.engine.begin() as conn:
        existing = conn.execute(
            sa.select(watches).where(
                watches.c.user_id == user["id"],
                watches.c.kind == kind,
                watches.c.value == value,
                watches.c.active == sa.true(),
            )
        ).first()
        if existing is not None:
            return _watch_row(existing)
        watch_id = conn.execute(
            sa.insert(watches)
            .values(
                user_id=user["id"],
                kind=kind,
                value=value,
                label=label[:500],
                active=True,
                created_at=utcnow(),
            )
            .returning(watches.c.id)
        ).scalar_one()
        row = conn.execute(sa.select(watches).where(watches.c.id == watch_id)).one()
    audit.record(store, user["name"], "watch.add", f"{kind}:{value}", {"watch": watch_id})
    return _watch_row(row)


def _watch_row(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind,
        "value": r.value,
        "label": r.label,
        "active": bool(r.active),
        "created_at": r.created_at,
    }


def list_watches(store: Store, user: dict[str, Any]) -> list[dict[str, Any]]:
    require(user, "work")
    n_alerts = sa.select(sa.func.count()).where(alerts.c.watch_id == watches.c.id).scalar_subquery()
    q = (
        sa.select(watches, n_alerts.label("alerts"))
        .where(watches.c.user_id == user["id"], watches.c.active == sa.true())
        .order_by(watches.c.id.desc())
    )
    with store.engine.connect() as conn:
        return [{**_watch_row(r), "alerts": int(r.alerts)} for r in conn.execute(q)]


def delete_watch(store: Store, user: dict[str, Any], watch_id: int) -> bool:
    """Stop a watch (kept, inactive, so its past alerts still explain themselves)."""
    require(user, "work")
    q = sa.update(watches).where(watches.c.id == watch_id).values(active=False)
    if user.get("role") != "admin":
        q = q.where(watches.c.user_id == user["id"])
    with store.engine.begin() as conn:
        done = conn.execute(q).rowcount
    if done:
        audit.record(store, user["name"], "watch.delete", f"watch:{watch_id}")
    return bool(done)


# ---- matching new ads ------------------------------------------------------------------------


def _hamming_hex(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _selector_matches(
    conn: sa.Connection, pks: Sequence[int], wanted: dict[tuple[str, str], list[Any]]
) -> list[tuple[Any, int, dict[str, Any]]]:
    values = sorted({v for _, v in wanted})
    kinds = sorted({k for k, _ in wanted})
    out: list[tuple[Any, int, dict[str, Any]]] = []
    for chunk in (pks[i : i + _CHUNK] for i in range(0, len(pks), _CHUNK)):
        for vchunk in (values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)):
            rows = conn.execute(
                sa.select(
                    mentions.c.ad_pk, mentions.c.kind, mentions.c.value, mentions.c.raw
                ).where(
                    mentions.c.ad_pk.in_(chunk),
                    mentions.c.kind.in_(kinds),
                    mentions.c.value.in_(vchunk),
                )
            )
            for r in rows:
                for w in wanted.get((r.kind, r.value), []):
                    out.append((w, r.ad_pk, {"matched": r.raw, "value": r.value}))
    return out


def _photo_matches(
    conn: sa.Connection, pks: Sequence[int], photo_watches: list[Any], max_distance: int
) -> list[tuple[Any, int, dict[str, Any]]]:
    out: list[tuple[Any, int, dict[str, Any]]] = []
    for chunk in (pks[i : i + _CHUNK] for i in range(0, len(pks), _CHUNK)):
        for pk, images in conn.execute(
            sa.select(ads.c.pk, ads.c.images).where(ads.c.pk.in_(chunk))
        ):
            try:
                found = json.loads(images or "[]")
            except ValueError:
                continue
            for im in found:
                sha, pdq = str(im.get("sha256") or "").lower(), str(im.get("pdq") or "").lower()
                for w in photo_watches:
                    if w.value == sha:
                        out.append((w, pk, {"matched": "sha256", "value": sha}))
                    elif pdq and len(pdq) == len(w.value) == 64 and _HEX.match(pdq):
                        distance = _hamming_hex(pdq, w.value)
                        if distance <= max_distance:
                            out.append(
                                (w, pk, {"matched": "pdq", "value": pdq, "distance": distance})
                            )
    return out


def _search_matches(
    conn: sa.Connection, dialect: str, pks: Sequence[int], search_watches: list[Any]
) -> list[tuple[Any, int, dict[str, Any]]]:
    out: list[tuple[Any, int, dict[str, Any]]] = []
    for w in search_watches:
        words = fts.query_words(w.value)
        if not words:
            continue
        for chunk in (pks[i : i + _CHUNK] for i in range(0, len(pks), _CHUNK)):
            params: dict[str, Any] = {"match": fts.match_param(dialect, words)}
            names = []
            for n, pk in enumerate(chunk):
                params[f"p{n}"] = int(pk)
                names.append(f":p{n}")
            where = [f"a.pk IN ({', '.join(names)})"]
            sql = fts.search_statement(dialect, words, where, len(chunk))
            for r in conn.execute(sa.text(sql), params):
                out.append((w, r.pk, {"matched": "search", "value": w.value}))
    return out


def check_new_ads(store: Store, ad_pks: list[int], settings: Settings) -> list[dict[str, Any]]:
    """Raise an alert for each active watch a newly stored ad matches; fire the webhook.

    Returns the alerts created (one per watch and ad; re-checking the same ads adds none)."""
    if not ad_pks:
        return []
    pks = sorted({int(p) for p in ad_pks})
    with store.engine.connect() as conn:
        active = conn.execute(
            sa.select(watches, users.c.name.label("user_name"))
            .join(users, users.c.id == watches.c.user_id)
            .where(watches.c.active == sa.true(), users.c.active == sa.true())
        ).all()
        if not active:
            return []
        wanted: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for w in active:
            if w.kind in SELECTOR_KINDS:
                wanted[(w.kind, w.value)].append(w)
        matches = _selector_matches(conn, pks, wanted) if wanted else []
        photo = [w for w in active if w.kind == "photo"]
        if photo:
            matches += _photo_matches(conn, pks, photo, settings.photo_distance)
        searches = [w for w in active if w.kind == "search"]
        if searches:
            matches += _search_matches(conn, store.dialect, pks, searches)
        if not matches:
            return []
        info = store.ads_by_pk(conn, sorted({pk for _, pk, _ in matches}))
    created = _insert_alerts(store, matches, info)
    if created:
        audit.record(
            store,
            "system",
            "watch.alerts",
            "",
            {"alerts": [a["id"] for a in created][:200], "count": len(created)},
        )
        if settings.webhook_url:
            fire_webhook(settings.webhook_url, created)
    return created


def _insert_alerts(
    store: Store, matches: list[tuple[Any, int, dict[str, Any]]], info: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    created = []
    now = utcnow()
    seen: set[tuple[int, str]] = set()
    with store.engine.begin() as conn:
        for w, pk, detail in matches:
            ad = info.get(pk)
            if ad is None or (w.id, ad["id"]) in seen:
                continue
            seen.add((w.id, ad["id"]))
            exists = conn.scalar(
                sa.select(alerts.c.id).where(alerts.c.watch_id == w.id, alerts.c.ad_id == ad["id"])
            )
            if exists is not None:
                continue
            alert_id = conn.execute(
                sa.insert(alerts)
                .values(
                    watch_id=w.id,
                    user_id=w.user_id,
                    ad_id=ad["id"],
                    created_at=now,
                    seen=False,
                    detail=json.dumps(detail, ensure_ascii=False),
                )
                .returning(alerts.c.id)
            ).scalar_one()
            created.append(
                {
                    "id": alert_id,
                    "user": w.user_name,
                    "created_at": now,
                    "watch": {"id": w.id, "kind": w.kind, "value": w.value, "label": w.label},
                    "ad": {
                        "id": ad["id"],
                        "site": ad["site"],
                        "url": ad["url"],
                        "posted_at": ad["posted_at"],
                        "place": ad["place"] or ad["location"],
                    },
                    "detail": detail,
                }
            )
    return created


def fire_webhook(url: str, created: list[dict[str, Any]], timeout: float = 5.0) -> threading.Thread:
    """POST the alerts as JSON in the background: a slow or absent receiver never stalls ingest.

    Only identifiers and where/when are sent, never ad text or photos."""
    body = json.dumps(
        {"event": "safelight.alerts", "sent_at": utcnow(), "alerts": created}, ensure_ascii=False
    ).encode()

    def send() -> None:
        req = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "safelight-watch"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                resp.read(1024)
        except Exception as exc:
            log.warning("webhook %s failed: %s", url, exc)

    thread = threading.Thread(target=send, name="safelight-webhook", daemon=True)
    thread.start()
    return thread


# ---- reading alerts --------------------------------------------------------------------------


def list_alerts(
    store: Store, user: dict[str, Any], unseen_only: bool = False, limit: int = 200
) -> list[dict[str, Any]]:
    require(user, "work")
    q = (
        sa.select(
            alerts,
            watches.c.kind,
            watches.c.value,
            watches.c.label,
            ads.c.site,
            ads.c.posted_at,
            ads.c.place,
            ads.c.title,
        )
        .join(watches, watches.c.id == alerts.c.watch_id)
        .outerjoin(ads, ads.c.id == alerts.c.ad_id)
        .where(alerts.c.user_id == user["id"])
        .order_by(alerts.c.id.desc())
        .limit(max(1, min(limit, 1000)))
    )
    if unseen_only:
        q = q.where(alerts.c.seen == sa.false())
    with store.engine.connect() as conn:
        return [
            {
                "id": r.id,
                "ad_id": r.ad_id,
                "created_at": r.created_at,
                "seen": bool(r.seen),
                "watch": {"id": r.watch_id, "kind": r.kind, "value": r.value, "label": r.label},
                "ad": {
                    "site": r.site,
                    "posted_at": r.posted_at,
                    "place": r.place,
                    "title": r.title,
                },
                "detail": json.loads(r.detail or "{}"),
            }
            for r in conn.execute(q)
        ]


def unseen_count(store: Store, user: dict[str, Any]) -> int:
    """Unseen watch alerts plus unseen known-hash matches: the one number in the badge."""
    from safelight.cases import hashalerts

    with store.engine.connect() as conn:
        mine = int(
            conn.scalar(
                sa.select(sa.func.count())
                .select_from(alerts)
                .where(alerts.c.user_id == user["id"], alerts.c.seen == sa.false())
            )
            or 0
        )
    return mine + hashalerts.unseen_count(store, user)


def mark_seen(store: Store, user: dict[str, Any], alert_ids: Sequence[int] | None = None) -> int:
    """Mark some (or all) of the user's alerts seen; returns how many changed."""
    require(user, "work")
    q = sa.update(alerts).where(alerts.c.user_id == user["id"], alerts.c.seen == sa.false())
    if alert_ids is not None:
        q = q.where(alerts.c.id.in_([int(i) for i in alert_ids][:1000]))
    with store.engine.begin() as conn:
        return int(conn.execute(q.values(seen=True)).rowcount or 0)
