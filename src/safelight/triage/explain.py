"""The full working behind a score, for an analyst who must explain it in court."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from safelight.link.networks import get_network, network_of_ad
from safelight.score.registry import load_registry
from safelight.settings import Settings
from safelight.store.schema import networks
from safelight.store.store import Store
from safelight.triage.facts import network_facts
from safelight.triage.queue import _features, refresh_scores


def hit_sources(hits: list[dict[str, Any]]) -> dict[str, Any]:
    """The citations behind an ad's indicator hits (key → citation), from the registry in force.
    Takes the hits already read, so a page that has the ad needs no second read of it."""
    registry = load_registry(Settings.from_env().indicators_path or None)
    sources = registry.sources if hasattr(registry, "sources") else {}
    cited = sorted({s for h in hits for s in str(h["source"]).split(",") if s})
    return {key: _citation(sources.get(key)) for key in cited}


def explain(store: Store, ad_or_network_id: str) -> dict[str, Any] | None:
    """An ad's hits with their sources, or a network's reasons with the facts behind them."""
    registry = load_registry(Settings.from_env().indicators_path or None)
    ad = store.get_ad(ad_or_network_id)
    if ad is not None:
        return {
            "kind": "ad",
            "id": ad["id"],
            "score": ad["score"],
            "registry_version": ad["registry_version"],
            "rule": "noisy-OR over categories with caps; see docs/scoring.md",
            "hits": ad["hits"],
            "obscured_contact": [
                m for m in ad["mentions"] if m["kind"] == "phone" and m["obfuscated"]
            ],
            "sources": hit_sources(ad["hits"]),
            "network": network_of_ad(store, ad["id"]),
        }
    refresh_scores(store)
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(networks).where(networks.c.id == ad_or_network_id)).first()
        if row is None:
            return None
        facts = network_facts(conn, [row.id], row.scored_at or "").get(row.id)
    net = get_network(store, row.id) or {}
    return {
        "kind": "network",
        "id": row.id,
        "score": row.score,
        "registry_version": registry.version,
        "reasons": json.loads(row.reasons),
        "facts": _features(facts) if facts else {},
        "ads": [
            {"id": a["id"], "score": a["score"], "why_linked": a["why"]} for a in net.get("ads", [])
        ],
        "selectors": net.get("selectors", []),
    }


def _citation(entry: Any) -> Any:
    if entry is None:
        return None
    if isinstance(entry, dict):
        return entry
    return getattr(entry, "__dict__", str(entry))
