"""An optional learned model over indicator categories, shown BESIDE the rule score.

Why: analysts' decisions (escalated = 1, dismissed = 0) are the best local evidence of which
indicators matter in their own data. A small L2-regularised logistic regression learns from
them and reports its cross-validated quality, but it never replaces the rule score: ranking and
explanations stay with the documented rules; the model is a second opinion with its own
per-feature contributions. Protected attributes (ethnicity) are never model features.

Plain numpy (no new dependency); persisted as JSON (coefficients, feature names, registry
version), never pickle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from safelight.score.ad_score import AdScore
from safelight.score.network_score import NetworkFacts, youth_strength
from safelight.score.registry import Registry, load_registry

FORMAT = "safelight.score.model/1"


def ad_features(ad: AdScore, registry: Registry | None = None) -> dict[str, float]:
    """One ad's features: each non-protected category's strength over its cap (0..1), or 1/0
    for a context category that fired."""
    reg = registry if registry is not None else load_registry()
    out: dict[str, float] = {}
    for name, cat in reg.categories.items():
        if cat.protected:
            continue  # never learn from a protected attribute
        value = ad.categories.get(name)
        if value is None:
            out[f"ad.{name}"] = 0.0
        elif cat.cap > 0:
            out[f"ad.{name}"] = min(1.0, abs(value) / cat.cap)
        else:
            out[f"ad.{name}"] = 1.0
    return out


def network_features(facts: NetworkFacts, registry: Registry | None = None) -> dict[str, float]:
    """A network's features, each a plain number from its facts (no protected attribute)."""
    reg = registry if registry is not None else load_registry()
    n = max(facts.n_ads, len(facts.ad_hits), 1)
    stated = [a for a in facts.stated_ages if a > 0]
    young = sum(a in (18, 19) for a in stated)
    scores = facts.ad_scores or [0.0]
    return {
        "net.youth_density": sum(youth_strength(h, reg) for h in facts.ad_hits) / n,
        "net.minor_age": float(any(0 < a < 18 for a in stated)),
        "net.young_adult_share": young / len(stated) if stated else 0.0,
        "net.persons_per_phone": float(max(facts.persons_per_phone.values(), default=0)),
        "net.obscured_share": facts.obfuscated_phone_share,
        "net.template_share": facts.template_share,
        "net.phone_far_share": min(1.0, facts.ads_phone_far / n),
        "net.log_ads": math.log10(n),
        "net.cities": float(facts.distinct_cities),
        "net.top_ad": max(scores),
        "net.mean_ad": sum(scores) / len(scores),
        "net.hash_match": float(facts.hash_list_matches > 0),
    }


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


def _fit(x: np.ndarray, y: np.ndarray, l2: float, iters: int = 100) -> np.ndarray:
    """Newton-Raphson for L2 logistic regression; x has the intercept as its first column."""
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 0.0  # the intercept is not shrunk
    for _ in range(iters):
        p = _sigmoid(x @ w)
        grad = x.T @ (p - y) + penalty * w
        hess = (x.T * (p * (1 - p))) @ x + np.diag(penalty) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged)."""
    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_at_k(labels: Sequence[int], scores: Sequence[float], k: int) -> float:
    """Share of escalations among the k highest scores: what an analyst's first page holds."""
    k = max(1, min(k, len(labels)))
    order = np.argsort(-np.asarray(scores, dtype=float), kind="mergesort")[:k]
    return float(np.asarray(labels, dtype=float)[order].mean())


@dataclass(frozen=True, slots=True)
class LearnedModel:
    """Coefficients over standardised features; JSON in and out."""

    feature_names: tuple[str, ...]
    coefficients: tuple[float, ...]
    intercept: float
    means: tuple[float, ...]
    scales: tuple[float, ...]
    registry_version: str
    l2: float = 1.0
    n_train: int = 0
    quality: dict[str, Any] = field(default_factory=dict)

    def _row(self, features: Mapping[str, float]) -> np.ndarray:
        raw = np.array(
            [float(features.get(n, m)) for n, m in zip(self.feature_names, self.means, strict=True)]
        )
        return (raw - np.array(self.means)) / np.array(self.scales)

    def predict(self, features: Mapping[str, float]) -> float:
        """The model's probability of escalation; missing features count as average."""
        z = self.intercept + float(np.dot(self._row(features), self.coefficients))
        return float(_sigmoid(np.array([z]))[0])

    def contributions(self, features: Mapping[str, float]) -> list[tuple[str, float]]:
        """Each feature's push on the log-odds, biggest first: the model's own explanation."""
        pushes = self._row(features) * np.array(self.coefficients)
        pairs = [(n, round(float(v), 6)) for n, v in zip(self.feature_names, pushes, strict=True)]
        return sorted(pairs, key=lambda p: -abs(p[1]))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "registry_version": self.registry_version,
            "feature_names": list(self.feature_names),
            "coefficients": list(self.coefficients),
            "intercept": self.intercept,
            "means": list(self.means),
            "scales": list(self.scales),
            "l2": self.l2,
            "n_train": self.n_train,
            "quality": self.quality,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LearnedModel:
        """Rebuild a model, refusing anything that is not a well-formed model file."""
        if data.get("format") != FORMAT:
            raise ValueError(f"not a Safelight model file (format {data.get('format')!r})")
        names = [str(n) for n in data["feature_names"]]
        vectors = {k: [float(v) for v in data[k]] for k in ("coefficients", "means", "scales")}
        if any(len(v) != len(names) for v in vectors.values()):
            raise ValueError(
                "model file: feature_names, coefficients, means, scales differ in length"
            )
        numbers = [float(data["intercept"]), *(x for v in vectors.values() for x in v)]
        if not all(math.isfinite(x) for x in numbers) or any(s <= 0 for s in vectors["scales"]):
            raise ValueError("model file: coefficients must be finite and scales positive")
        return cls(
            feature_names=tuple(names),
            coefficients=tuple(vectors["coefficients"]),
            intercept=float(data["intercept"]),
            means=tuple(vectors["means"]),
            scales=tuple(vectors["scales"]),
            registry_version=str(data["registry_version"]),
            l2=float(data.get("l2", 1.0)),
            n_train=int(data.get("n_train", 0)),
            quality=dict(data.get("quality", {})),
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(
            json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )


def load_model(path: str | Path) -> LearnedModel:
    return LearnedModel.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def _matrix(rows: Sequence[Mapping[str, float]], names: Sequence[str]) -> np.ndarray:
    return np.array([[float(r.get(n, 0.0)) for n in names] for r in rows], dtype=float)


def _fit_standardised(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, ...]:
    means = x.mean(axis=0)
    scales = x.std(axis=0)
    scales[scales < 1e-12] = 1.0  # a constant feature: leave it unscaled (its weight is ~0)
    z = (x - means) / scales
    w = _fit(np.hstack([np.ones((len(z), 1)), z]), y, l2)
    return w, means, scales


def train_model(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[int],
    *,
    registry_version: str,
    feature_names: Sequence[str] | None = None,
    l2: float = 1.0,
    folds: int = 5,
    k: int = 10,
    seed: int = 0,
) -> LearnedModel:
    """Fit on all labels and report stratified k-fold quality (ROC AUC, precision at k).

    rows are feature dicts (ad_features / network_features); labels 1 = escalated,
    0 = dismissed. Needs at least two of each.
    """
    y = np.asarray(labels, dtype=float)
    if len(rows) != len(y) or not set(np.unique(y)) <= {0.0, 1.0}:
        raise ValueError("labels must be 0/1, one per row")
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if n_pos < 2 or n_neg < 2:
        raise ValueError("need at least 2 escalated and 2 dismissed labels to train")
    names = list(feature_names) if feature_names else sorted({n for r in rows for n in r})
    if any(n.startswith("ad.ethnicity") for n in names):
        raise ValueError("protected attributes (ethnicity) are never model features")
    x = _matrix(rows, names)
    folds = max(2, min(folds, n_pos, n_neg))
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(y), dtype=int)
    for cls in (0.0, 1.0):  # stratified: each fold gets its share of both labels
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        fold_of[idx] = np.arange(len(idx)) % folds
    oof = np.empty(len(y))
    for f in range(folds):
        train, test = fold_of != f, fold_of == f
        w, means, scales = _fit_standardised(x[train], y[train], l2)
        oof[test] = _sigmoid(w[0] + ((x[test] - means) / scales) @ w[1:])
    w, means, scales = _fit_standardised(x, y, l2)
    quality = {
        "folds": folds,
        "roc_auc": round(roc_auc(labels, oof.tolist()), 6),
        "k": min(k, len(y)),
        "precision_at_k": round(precision_at_k(labels, oof.tolist(), k), 6),
        "base_rate": round(n_pos / len(y), 6),
        "n": len(y),
        "escalated": n_pos,
    }
    return LearnedModel(
        feature_names=tuple(names),
        coefficients=tuple(float(c) for c in w[1:]),
        intercept=float(w[0]),
        means=tuple(float(m) for m in means),
        scales=tuple(float(s) for s in scales),
        registry_version=registry_version,
        l2=l2,
        n_train=len(y),
        quality=quality,
    )


@dataclass(frozen=True, slots=True)
class ModelOpinion:
    """The learned estimate shown beside the rule score; the rule score stays the ranking."""

    rule_score: float
    model_score: float
    registry_match: bool
    note: str
    contributions: list[tuple[str, float]]


def beside(
    rule_score: float, features: Mapping[str, float], model: LearnedModel, registry_version: str
) -> ModelOpinion:
    """Put the model's estimate next to a rule score without touching the rule score."""
    match = model.registry_version == registry_version
    note = "learned from analyst decisions; shown beside the rule score, never instead of it"
    if not match:
        note += (
            f"; trained on registry {model.registry_version}, scoring with "
            f"{registry_version}: retrain before relying on it"
        )
    return ModelOpinion(
        rule_score, model.predict(features), match, note, model.contributions(features)[:5]
    )


def opinion_for_ad(
    ad: AdScore, model: LearnedModel, registry: Registry | None = None
) -> ModelOpinion:
    """The model's second opinion on one scored ad."""
    return beside(ad.score, ad_features(ad, registry), model, ad.registry_version)
