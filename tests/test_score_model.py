"""The learned model: cross-validated quality, JSON round-trip, and never in the rule's place."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from safelight.score.ad_score import score_ad
from safelight.score.model import (
    FORMAT,
    LearnedModel,
    ad_features,
    beside,
    load_model,
    network_features,
    opinion_for_ad,
    precision_at_k,
    roc_auc,
    train_model,
)
from safelight.score.network_score import NetworkFacts
from safelight.score.registry import load_registry

REG = load_registry()
PHRASES = [
    "new to this",
    "fresh face",
    "honest",
    "professional",
    "new in town",
    "screening required",
    "real pics",
    "call me",
    "latina",
    "downtown",
]


def _labelled(n: int = 160, seed: int = 3) -> tuple[list[dict[str, float]], list[int]]:
    """Synthetic decisions: analysts escalate youth-cue ads far more often."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for _ in range(n):
        words = rng.choice(PHRASES, size=3, replace=False)
        ad = score_ad("Sweet companion, " + ", ".join(words), None, REG)
        feats = ad_features(ad, REG)
        p = 0.1 + 0.8 * feats["ad.youth"] / 0.4375
        labels.append(int(rng.random() < min(p, 0.95)))
        rows.append(feats)
    return rows, labels


@pytest.fixture(scope="module")
def model() -> LearnedModel:
    rows, labels = _labelled()
    return train_model(rows, labels, registry_version=REG.version, folds=5, k=10)


def test_cross_validated_quality_is_reported(model: LearnedModel) -> None:
    q = model.quality
    assert q["folds"] == 5 and q["n"] == 160 and q["k"] == 10
    assert q["roc_auc"] > 0.7
    assert q["precision_at_k"] > q["base_rate"]
    youth = model.coefficients[model.feature_names.index("ad.youth")]
    assert youth == max(model.coefficients)


def test_features_never_include_protected_attributes(model: LearnedModel) -> None:
    feats = ad_features(score_ad("Sweet latina, honest", None, REG), REG)
    assert not any("ethnicity" in name for name in feats)
    assert not any("ethnicity" in name for name in model.feature_names)
    rows, labels = _labelled(40)
    for row in rows:
        row["ad.ethnicity"] = 1.0
    with pytest.raises(ValueError, match="protected"):
        train_model(rows, labels, registry_version=REG.version)


def test_model_never_replaces_the_rule_score(model: LearnedModel) -> None:
    ad = score_ad("Sweet, new to this, honest", None, REG)
    before = (ad.score, list(ad.hits), list(ad.reasons))
    opinion = opinion_for_ad(ad, model, REG)
    assert (ad.score, ad.hits, ad.reasons) == before
    assert opinion.rule_score == ad.score
    assert 0 < opinion.model_score < 1 and opinion.model_score != ad.score
    assert "never instead of it" in opinion.note
    assert opinion.contributions[0][0] == "ad.youth"
    # A model that learned the opposite changes its own estimate, never the rule score.
    flipped = LearnedModel.from_json(
        {**model.to_json(), "coefficients": [-c for c in model.coefficients]}
    )
    other = opinion_for_ad(ad, flipped, REG)
    assert other.rule_score == ad.score and other.model_score < opinion.model_score


def test_stale_registry_is_flagged(model: LearnedModel) -> None:
    opinion = beside(0.5, {"ad.youth": 1.0}, model, "2099.1.1")
    assert not opinion.registry_match and "retrain" in opinion.note
    assert opinion.rule_score == 0.5


def test_json_round_trip(model: LearnedModel, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    model.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))  # plain JSON, not pickle
    assert data["format"] == FORMAT and data["registry_version"] == REG.version
    assert data["feature_names"] == list(model.feature_names)
    again = load_model(path)
    assert again == model
    feats = {"ad.youth": 0.6, "ad.trust_language": 1.0}
    assert again.predict(feats) == pytest.approx(model.predict(feats))


def test_bad_model_files_are_refused(model: LearnedModel) -> None:
    data = model.to_json()
    with pytest.raises(ValueError, match="not a Safelight model"):
        LearnedModel.from_json({**data, "format": "pickle"})
    with pytest.raises(ValueError, match="differ in length"):
        LearnedModel.from_json({**data, "coefficients": data["coefficients"][:-1]})
    with pytest.raises(ValueError, match="finite"):
        LearnedModel.from_json({**data, "intercept": float("nan")})


def test_too_few_labels() -> None:
    rows, _ = _labelled(6)
    with pytest.raises(ValueError, match="at least 2"):
        train_model(rows, [1, 0, 0, 0, 0, 0], registry_version=REG.version)


def test_network_features_and_training() -> None:
    rng = np.random.default_rng(5)
    rows, labels = [], []
    for _ in range(60):
        youth = float(rng.random() < 0.5)
        facts = NetworkFacts(
            n_ads=int(rng.integers(1, 40)),
            stated_ages=[18, 19, 18] if youth else [25],
            persons_per_phone={"+17135550142": 3 if youth else 1},
        )
        rows.append(network_features(facts, REG))
        labels.append(int(youth if rng.random() < 0.9 else 1 - youth))
    m = train_model(rows, labels, registry_version=REG.version, folds=4)
    assert m.quality["roc_auc"] > 0.8
    assert "net.young_adult_share" in m.feature_names


def test_metrics() -> None:
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert precision_at_k([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1], 2) == pytest.approx(0.5)
