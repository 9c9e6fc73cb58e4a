"""The explainable ad score: registry hits combined into 0..1, with the reasons in words.

Why this shape: an analyst must be able to tell a court exactly why an ad was flagged, so the
score is a small, documented combination of named hits (docs/scoring.md), never an opaque
number. Repeating one word does not inflate it (each indicator counts once, each category is
capped), movement language never raises it, and a protected attribute (ethnicity) never raises
it on its own.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from safelight.records import Hit, Mention
from safelight.score.registry import Indicator, Registry, load_registry

# How many distinct matched texts a reason quotes before saying "and N more".
_QUOTE_MAX = 3
_EVIDENCE_ORDER = {"strong": 0, "moderate": 1, "weak": 2}


@dataclass(slots=True)
class AdScore:
    """An ad's rule score with every hit behind it and the reasons in plain words.

    `reasons` are written on first use (from the hits and the registry that scored them):
    the batch pipeline keeps only score and hits, so it never pays for the sentences.
    """

    score: float
    hits: list[Hit]
    registry_version: str
    # What each category did to the score: > 0 raised, < 0 lowered, 0 recorded only.
    categories: dict[str, float] = field(default_factory=dict)
    _reasons: list[str] | None = field(default=None, repr=False, compare=False)
    _registry: Registry | None = field(default=None, repr=False, compare=False)

    @property
    def reasons(self) -> list[str]:
        """One plain sentence per category that fired, biggest effect first."""
        if self._reasons is None:
            reg = self._registry if self._registry is not None else load_registry()
            self._reasons = explain(self.hits, reg)
            self._registry = None
        return self._reasons

    def __getstate__(self) -> tuple[Any, ...]:
        # Sentences, not the registry, travel between processes.
        return (self.score, self.hits, self.registry_version, self.categories, self.reasons)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.score, self.hits, self.registry_version, self.categories, self._reasons = state
        self._registry = None

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "hits": [h.to_json() for h in self.hits],
            "registry_version": self.registry_version,
            "reasons": list(self.reasons),
            "categories": dict(self.categories),
        }


def _noisy_or(weights: Any) -> float:
    """1 - prod(1 - w): independent signs, each able to make the case on its own."""
    keep = 1.0
    for w in weights:
        keep *= 1.0 - w
    return 1.0 - keep


def _age(mention: Mention) -> int | None:
    value = mention.value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _rule_hit(ind: Indicator, mention: Mention) -> Hit:
    return Hit(
        ind.id, ind.category, ind.signed_weight, mention.raw, mention.start, mention.end, ind.source
    )


def mention_hits(mentions: Mapping[str, Sequence[Mention]] | None, registry: Registry) -> list[Hit]:
    """Hits from extracted mentions: obscured phones and stated ages.

    Mentions taken from a structured field (not the text) keep start = end = -1.
    """
    if not mentions:
        return []
    hits: list[Hit] = []
    rules = registry.rules
    phone_rule = rules.get("obfuscated_phone")
    if phone_rule is not None:
        hits.extend(_rule_hit(phone_rule, m) for m in mentions.get("phones", ()) if m.obfuscated)
    minor, young_adult = rules.get("stated_age_under_18"), rules.get("stated_age_18_19")
    for m in mentions.get("ages", ()):
        age = _age(m)
        if age is None or age <= 0:
            continue
        if age < 18 and minor is not None:
            hits.append(_rule_hit(minor, m))
        elif age in (18, 19) and young_adult is not None:
            hits.append(_rule_hit(young_adult, m))
    return hits


def score_ad(
    text: str,
    mentions: Mapping[str, Sequence[Mention]] | None,
    registry: Registry | None = None,
) -> AdScore:
    """Score one ad's text (title and body joined) and its extracted mentions.

    Pure: the same text, mentions and registry always give the same score, hits and reasons.
    `mentions` is keyed like `records.MENTION_KINDS` ("phones", "ages", ...); without it the
    mention-driven indicators (obscured phone, stated age) cannot fire.
    """
    reg = registry if registry is not None else load_registry()
    hits = [
        Hit(
            m.indicator.id,
            m.indicator.category,
            m.indicator.signed_weight,
            m.matched,
            m.start,
            m.end,
            m.indicator.source,
        )
        for m in reg.match(text)
    ]
    hits.extend(mention_hits(mentions, reg))
    if not hits:
        return AdScore(0.0, [], reg.version, {}, [])
    hits.sort(key=lambda h: (h.start, h.end, h.indicator))
    score, categories = combine(hits, reg)
    return AdScore(score, hits, reg.version, categories, None, reg)


@dataclass(slots=True)
class _Weighing:
    """The intermediate sums of one combination, shared by the score and its reasons."""

    by_cat: dict[str, dict[str, float]]
    texts: dict[str, list[str]]
    raising: dict[str, float]
    lowering: dict[str, float]
    raised: float
    floor: float
    score: float


def _weigh(hits: Sequence[Hit], reg: Registry) -> _Weighing:
    """The documented combination (docs/scoring.md) of hits into a score.

    1. Each indicator counts once however often it fires; indicators of one category combine by
       noisy-OR and the category is capped.
    2. Raising categories combine by noisy-OR. A protected category (ethnicity) counts only when
       a non-protected category raised the score, and only up to its (small) cap.
    3. Lowering categories (movement) scale the result down by their capped strength, except
       the part owed to `floor` categories (a stated minor age), which is never lowered.
    4. Context indicators are recorded and explained, never scored.
    """
    by_cat: dict[str, dict[str, float]] = {}
    texts: dict[str, list[str]] = {}
    for h in hits:
        weights = by_cat.get(h.category)
        if weights is None:
            weights = by_cat[h.category] = {}
            texts[h.category] = []
        weights[h.indicator] = abs(h.weight)
        texts[h.category].append(h.matched)
    cats = reg.categories
    raising: dict[str, float] = {}
    lowering: dict[str, float] = {}
    for name, weights in by_cat.items():
        cat = cats[name]
        if cat.direction == "context":
            continue
        strength = min(cat.cap, _noisy_or(weights.values()))
        if strength > 0:
            (raising if cat.direction == "+" else lowering)[name] = strength
    # A protected category counts only beside a non-protected raising one.
    if not any(not cats[n].protected for n in raising):
        raising = {}
    raised = _noisy_or(raising.values())
    damping = _noisy_or(lowering.values())
    floor = _noisy_or(v for n, v in raising.items() if cats[n].floor)
    score = round(min(1.0, max(0.0, raised * (1.0 - damping), floor)), 6)
    return _Weighing(by_cat, texts, raising, lowering, raised, floor, score)


def combine(hits: Sequence[Hit], reg: Registry) -> tuple[float, dict[str, float]]:
    """Score and per-category effect (raising: strength; lowering: minus the fraction taken
    off; context or uncounted: 0) of a list of hits."""
    w = _weigh(hits, reg)
    categories = {
        n: round(w.raising.get(n, 0.0) or -w.lowering.get(n, 0.0), 6) + 0.0 for n in w.by_cat
    }
    return w.score, categories


def explain(hits: Sequence[Hit], reg: Registry) -> list[str]:
    """One plain sentence per category that fired: raising first (biggest first), then
    protected attributes not counted, then lowering, then context."""
    w = _weigh(hits, reg)
    cats = reg.categories
    rows: list[tuple[int, float, str]] = []
    for name, found in w.texts.items():
        cat = cats[name]
        head = f"{cat.label}: {_quoted(found)}"
        ev = _evidence(reg, tuple(sorted(w.by_cat[name])))
        if name in w.raising:
            value = w.raising[name]
            if cat.protected:
                text = (
                    f"{head}; adds {value:.2f}, counted only because other indicators "
                    f"fired and capped at {cat.cap:.2f}: a protected attribute never raises "
                    f"a score on its own ({ev})."
                )
            else:
                capped = " (category cap)" if value >= cat.cap - 1e-9 else ""
                text = f"{head}; adds {value:.2f}{capped}; {cat.why} ({ev})."
            rows.append((0, -value, text))
        elif cat.protected:
            rows.append(
                (
                    1,
                    0.0,
                    f"{head}; recorded, not counted: a protected attribute never "
                    f"raises a score on its own ({ev}).",
                )
            )
        elif name in w.lowering:
            pct = round(w.lowering[name] * 100)
            note = (
                "; a stated age under 18 is never lowered"
                if w.floor > 0
                else ""
                if w.raised > 0
                else " (nothing else raised it)"
            )
            rows.append(
                (
                    2,
                    -w.lowering[name],
                    f"{head}; lowers the score by {pct}%{note}; {cat.why} ({ev}).",
                )
            )
        else:
            rows.append((3, 0.0, f"{head}; context only, not scored; {cat.why} ({ev})."))
    rows.sort()
    return [text for _, _, text in rows]


def _quoted(texts: list[str]) -> str:
    """Distinct matched texts, quoted, at most _QUOTE_MAX and a count of the rest."""
    seen: dict[str, str] = {}
    for t in texts:
        seen.setdefault(t.lower(), t)
    shown = ", ".join(f"'{t}'" for t in list(seen.values())[:_QUOTE_MAX])
    more = len(seen) - _QUOTE_MAX
    return f"{shown} and {more} more" if more > 0 else shown


@functools.lru_cache(maxsize=4096)
def _evidence(reg: Registry, ids: tuple[str, ...]) -> str:
    """'strong evidence: key, key' for a set of indicators (memoised: the same every time)."""
    inds = [reg.by_id[i] for i in ids if i in reg.by_id]
    if not inds:
        return "no registry entry"
    best = min(inds, key=lambda i: _EVIDENCE_ORDER[i.evidence])
    keys = sorted({k for i in inds for k in i.sources})
    return f"{best.evidence} evidence: {', '.join(keys)}"


def example_failures(registry: Registry | None = None) -> list[str]:
    """Every registry example that does not behave as written (positive must hit, negative not).

    The test suite runs this; an admin can run it on an override file before deploying it.
    """
    reg = registry if registry is not None else load_registry()
    failures = []
    for ind in reg.indicators:
        for side in ("positive", "negative"):
            for example in ind.examples.get(side, ()):
                text, mentions = example_mentions(example)
                hits = [h for h in score_ad(text, mentions, reg).hits if h.indicator == ind.id]
                if side == "positive" and not hits:
                    failures.append(f"{ind.id}: positive example does not hit: {text!r}")
                elif side == "negative" and hits:
                    got = ", ".join(repr(h.matched) for h in hits)
                    failures.append(f"{ind.id}: negative example hits ({got}): {text!r}")
    return failures


def example_mentions(example: Any) -> tuple[str, dict[str, list[Mention]]]:
    """A registry example as (text, mentions): `{text, mentions: {kind: [{raw, value...}]}}`."""
    if isinstance(example, str):
        return example, {}
    text = str(example["text"])
    kinds = {"phones": "phone", "ages": "age"}
    out: dict[str, list[Mention]] = {}
    for kind, items in (example.get("mentions") or {}).items():
        for item in items:
            raw = str(item["raw"])
            start = text.find(raw)
            out.setdefault(kind, []).append(
                Mention(
                    kind=kinds.get(kind, kind.rstrip("s")),
                    value=item.get("value", raw),
                    raw=raw,
                    start=start,
                    end=start + len(raw) if start >= 0 else -1,
                    obfuscated=bool(item.get("obfuscated", False)),
                )
            )
    return text, out
