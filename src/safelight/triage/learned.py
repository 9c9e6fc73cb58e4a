"""The optional learned model: trained from analysts' decisions, shown beside the rule score.

Escalated items are positives, dismissed ones negatives (the latest decision per item counts).
The model and its cross-validated quality are kept as JSON in the database; nothing is ever
acted on automatically and the queue stays ranked by the documented rule score.
"""

from __future__ import annotations

import json
from typing import Any

from safelight.score.model import LearnedModel, beside, network_features, train_model
from safelight.score.registry import load_registry
from safelight.settings import Settings
from safelight.store.store import Store, utcnow
from safelight.triage.facts import network_facts
from safelight.triage.queue import history

META_KEY = "learned_model"


def labelled_rows(store: Store) -> tuple[list[dict[str, float]], list[int]]:
    latest: dict[str, dict[str, Any]] = {}
    for row in history(store):
        latest[row["item"]] = row
    rows, labels = [], []
    for row in latest.values():
        if row["status"] in ("escalated", "dismissed") and row["features"].get("model"):
            rows.append(row["features"]["model"])
            labels.append(1 if row["status"] == "escalated" else 0)
    return rows, labels


def train(store: Store) -> dict[str, Any]:
    """Train on the labels so far and keep the model; raises ValueError with too few labels."""
    registry = load_registry(Settings.from_env().indicators_path or None)
    rows, labels = labelled_rows(store)
    model = train_model(rows, labels, registry_version=registry.version)
    data = {**model.to_json(), "trained_at": utcnow()}
    store.set_meta(META_KEY, json.dumps(data))
    return data


def current_model(store: Store) -> LearnedModel | None:
    raw = store.get_meta(META_KEY)
    return LearnedModel.from_json(json.loads(raw)) if raw else None


def attach_opinions(store: Store, items: list[dict[str, Any]]) -> None:
    """Add `model` (score, quality, top contributions) beside each item's rule `score`."""
    model = current_model(store)
    if model is None or not items:
        return
    registry = load_registry(Settings.from_env().indicators_path or None)
    with store.engine.connect() as conn:
        facts = network_facts(conn, [it["network"] for it in items], utcnow())
    for it in items:
        f = facts.get(it["network"])
        if f is None:
            continue
        opinion = beside(it["score"], network_features(f, registry), model, registry.version)
        it["model"] = {
            "score": round(opinion.model_score, 4),
            "note": opinion.note,
            "quality": model.quality,
            "contributions": [[name, round(c, 4)] for name, c in opinion.contributions],
        }
