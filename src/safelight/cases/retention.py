"""Retention: ads nobody is working on are deleted after `Settings.retention_days`.

Least exposure: an ad about a person no one investigates should not be kept for ever. The age
of an ad is counted from when we ingested it (`ingested_at`), the moment we started holding it,
not from when it was posted.

Evidence is never purged. An ad is kept, whatever its age, when it is
- in a case (as an ad item), or carries an entity that a case holds, or
- in a network that a case holds, or that triage escalated, or
- carries a watched selector (phone, email, handle, payment) or photo of an active watch, or
  raised a watch alert, or matched a known-hash list,
and every other ad of the network of a kept ad is kept too (a network is evidence as a whole).

Deleting ads cascades to their mentions, hits, photos, features, links and hash matches.
Networks are then recomputed by a full relink (`link.incremental.rebuild`) and re-scored:
simple and certainly correct, at the cost of one full link run (see docs/operations.md).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from safelight.cases import audit
from safelight.cases.tables import alerts, case_items, watches
from safelight.settings import Settings
from safelight.store import Store
from safelight.store.schema import ad_networks, ads, hash_matches, mentions, triage_status

SELECTOR_KINDS = ("phone", "email", "handle", "payment", "url", "name")
_CHUNK = 500


def _chunks(seq: list[Any], n: int = _CHUNK) -> Any:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def cutoff_for(days: int, now: datetime | None = None) -> str:
    """The ingest time before which an unprotected ad goes, in the store's timestamp form."""
    moment = (now or datetime.now(UTC)) - timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _pks_with_selectors(conn: sa.Connection, pairs: set[tuple[str, str]]) -> set[int]:
    out: set[int] = set()
    by_kind: dict[str, list[str]] = {}
    for kind, value in pairs:
        by_kind.setdefault(kind, []).append(value)
    if "photo" in by_kind:  # a bare digest names the photos with that SHA-256 or PDQ hash
        by_kind["photo"] = sorted(
            {
                form
                for v in by_kind["photo"]
                for form in (
                    (v.lower(),) if v.startswith(("sha256:", "pdq:")) else _photo_values(v)
                )
            }
        )
    for kind, values in by_kind.items():
        for chunk in _chunks(sorted(values)):
            q = sa.select(mentions.c.ad_pk).where(
                mentions.c.kind == kind, mentions.c.value.in_(chunk)
            )
            out.update(conn.scalars(q))
    return out


def _photo_values(digest: str) -> tuple[str, str]:
    """The photo selectors (`stages.photo_mentions`) a bare SHA-256 or PDQ digest may be."""
    return f"sha256:{digest.lower()}", f"pdq:{digest.lower()}"


def _network_ads(conn: sa.Connection, network_ids: set[str]) -> set[int]:
    out: set[int] = set()
    for chunk in _chunks(sorted(network_ids)):
        out.update(
            conn.scalars(sa.select(ad_networks.c.ad_pk).where(ad_networks.c.network_id.in_(chunk)))
        )
    return out


def protected(conn: sa.Connection) -> dict[str, set[int]]:
    """The pks of every ad that must be kept, by reason (an ad may have several)."""
    reasons: dict[str, set[int]] = {}
    items = conn.execute(sa.select(case_items.c.kind, case_items.c.ref)).all()
    ad_refs = sorted({r.ref for r in items if r.kind == "ad"})
    case_ads: set[int] = set()
    for chunk in _chunks(ad_refs):
        case_ads.update(conn.scalars(sa.select(ads.c.pk).where(ads.c.id.in_(chunk))))
    entity_pairs = {
        tuple(r.ref.split(":", 1)) for r in items if r.kind == "entity" and ":" in r.ref
    }
    case_ads |= _pks_with_selectors(conn, entity_pairs)  # type: ignore[arg-type]
    reasons["case"] = case_ads
    reasons["case_network"] = _network_ads(conn, {r.ref for r in items if r.kind == "network"})
    escalated = set(
        conn.scalars(sa.select(triage_status.c.item).where(triage_status.c.status == "escalated"))
    )
    reasons["escalated"] = _network_ads(conn, escalated)
    watched = {
        (w.kind, w.value)
        for w in conn.execute(
            sa.select(watches.c.kind, watches.c.value).where(watches.c.active == sa.true())
        )
        if w.kind != "search"
    }
    reasons["watch"] = _pks_with_selectors(conn, watched)
    alerted = sorted(set(conn.scalars(sa.select(alerts.c.ad_id))))
    alert_pks: set[int] = set()
    for chunk in _chunks(alerted):
        alert_pks.update(conn.scalars(sa.select(ads.c.pk).where(ads.c.id.in_(chunk))))
    reasons["alert"] = alert_pks
    reasons["hashlist"] = set(conn.scalars(sa.select(hash_matches.c.ad_pk)))
    seeds = set().union(*reasons.values())
    nets: set[str] = set()
    for chunk in _chunks(sorted(seeds)):
        nets.update(
            conn.scalars(sa.select(ad_networks.c.network_id).where(ad_networks.c.ad_pk.in_(chunk)))
        )
    reasons["same_network"] = _network_ads(conn, nets) - seeds
    return reasons


def plan(store: Store, days: int, now: datetime | None = None) -> dict[str, Any]:
    """What a purge would delete: ads ingested before the cutoff that nothing protects."""
    cutoff = cutoff_for(days, now)
    with store.engine.connect() as conn:
        reasons = protected(conn)
        keep = set().union(*reasons.values())
        old = conn.execute(
            sa.select(ads.c.pk, ads.c.id).where(ads.c.ingested_at < cutoff).order_by(ads.c.pk)
        ).all()
    doomed = [r for r in old if r.pk not in keep]
    return {
        "days": days,
        "cutoff": cutoff,
        "older": len(old),
        "kept": len(old) - len(doomed),
        "kept_by_reason": {k: len({r.pk for r in old} & v) for k, v in reasons.items()},
        "purge": len(doomed),
        "ids": [r.id for r in doomed],
        "pks": [r.pk for r in doomed],
    }


def purge(
    store: Store,
    settings: Settings,
    apply: bool = False,
    user: str = "cli",
    days: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Dry run (default): the plan. With `apply`: delete those ads, relink and re-score, and
    write one audit entry with the counts (and the first ids; all of them are in the plan)."""
    days = settings.retention_days if days is None else days
    if days < 1:
        raise ValueError("retention must be at least one day")
    result = plan(store, days, now)
    pks = result.pop("pks")
    result["applied"] = False
    if not apply:
        return result
    if pks:
        with store.engine.begin() as conn:
            for chunk in _chunks(pks):
                conn.execute(sa.delete(ads).where(ads.c.pk.in_(chunk)))
        from safelight.link.incremental import rebuild
        from safelight.triage.queue import refresh_scores

        summary = rebuild(store, settings)
        refresh_scores(store)
        result["networks"] = summary.networks_changed
    result["applied"] = True
    audit.record(
        store,
        user,
        "retention.purge",
        f"ads:{result['purge']}",
        {
            "days": days,
            "cutoff": result["cutoff"],
            "purged": result["purge"],
            "kept": result["kept"],
            "kept_by_reason": result["kept_by_reason"],
            "first_ids": result["ids"][:100],
        },
    )
    return result
