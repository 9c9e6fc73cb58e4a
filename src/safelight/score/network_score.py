"""The network score: facts about a group of linked ads weighed into 0..1, reasons first.

Why a separate score: some signs exist only across ads (many "18"s, several persons behind one
phone, one template posted for many). It stays a pure function over `NetworkFacts` so the link
stage can compute facts however it likes (one process, SQL, Spark) and the weighing is the same
documented rule everywhere (docs/scoring.md). Youth cues count by density, not by count, so a
big network is not suspect for its size; movement never raises; a hash-list match forces the
top.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from safelight.records import Hit
from safelight.score.registry import Registry, load_registry

_FRESH_DAYS, _STALE_DAYS = 30, 365  # recent-activity tie-breaker: full, then fading to zero


@dataclass(slots=True)
class NetworkFacts:
    """What the link stage knows about one network; every field is optional but n_ads."""

    n_ads: int
    ad_scores: list[float] = field(default_factory=list)  # one per ad
    ad_hits: list[list[Hit]] = field(default_factory=list)  # one list per ad
    stated_ages: list[int] = field(default_factory=list)  # the lowest age each ad states
    persons_per_phone: dict[str, int] = field(default_factory=dict)  # phone -> distinct names
    obfuscated_phone_share: float = 0.0  # share of ads with an obscured phone number
    template_share: float = 0.0  # share of ads in a shared text template
    ads_phone_far: int = 0  # ads whose phone area-code region is not the posting state
    phone_regions: list[str] = field(default_factory=list)  # e.g. ["Florida"]
    posting_places: list[str] = field(default_factory=list)  # e.g. ["Houston, TX"]
    distinct_cities: int = 0
    first_seen: str | None = None  # ISO 8601
    last_seen: str | None = None
    now: str | None = None  # the scoring time, passed in so the function stays pure
    hash_list_matches: int = 0  # photos matching a known hash list


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason in words, what it added to the score, and the facts behind it."""

    text: str
    weight: float
    evidence: dict[str, Any]


@dataclass(slots=True)
class NetworkScore:
    score: float
    reasons: list[Reason]
    registry_version: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "registry_version": self.registry_version,
            "reasons": [
                {"text": r.text, "weight": r.weight, "evidence": r.evidence} for r in self.reasons
            ],
        }


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        d = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return d.astimezone(UTC).replace(tzinfo=None) if d.tzinfo else d


def _quote(texts: Sequence[str], limit: int = 3) -> str:
    counts = Counter(" ".join(t.lower().split()) for t in texts)
    return ", ".join(f"'{t}'" for t, _ in counts.most_common(limit))


def _share(part: float, whole: int) -> float:
    return min(1.0, max(0.0, part / whole)) if whole > 0 else 0.0


def youth_strength(hits: Sequence[Hit], registry: Registry) -> float:
    """How strongly one ad's youth hits speak, 0..1 (their capped noisy-OR over the cap)."""
    cap = registry.categories["youth"].cap if "youth" in registry.categories else 1.0
    weights = {h.indicator: h.weight for h in hits if h.category == "youth" and h.weight > 0}
    if not weights or cap <= 0:
        return 0.0
    keep = 1.0
    for w in weights.values():
        keep *= 1.0 - w
    return min(cap, 1.0 - keep) / cap


class _Terms:
    """Collects (term, strength, text, facts) and turns them into weighted reasons."""

    def __init__(self, registry: Registry) -> None:
        self.spec = registry.network
        self.reasons: list[Reason] = []
        self.parts: list[float] = []

    def add(self, term: str, strength: float, text: str, **facts: Any) -> None:
        spec = self.spec.get(term)
        if spec is None or strength <= 0:
            return
        weight = round(float(spec["weight"]) * min(1.0, strength), 6)
        self.parts.append(weight)
        evidence = {
            "term": term,
            "strength": round(strength, 6),
            "evidence": spec.get("evidence", ""),
            "source": spec.get("source", []),
            **facts,
        }
        self.reasons.append(Reason(text, weight, evidence))

    def context(self, text: str, **facts: Any) -> None:
        self.reasons.append(Reason(text, 0.0, {"term": "context", **facts}))


def score_network(facts: NetworkFacts, registry: Registry | None = None) -> NetworkScore:
    """Weigh a network's facts into 0..1 with the reasons, strongest first."""
    reg = registry if registry is not None else load_registry()
    n = max(facts.n_ads, len(facts.ad_hits), len(facts.ad_scores), 0)
    terms = _Terms(reg)
    hits_per_ad = facts.ad_hits

    if facts.hash_list_matches > 0:
        k = facts.hash_list_matches
        terms.add(
            "hash_list_match",
            1.0,
            f"{k} photo{'s' if k != 1 else ''} match a known hash list",
            hash_list_matches=k,
        )

    minor_ages = sorted(a for a in facts.stated_ages if 0 < a < 18)
    minor_ads = sum(any(h.category == "stated_minor_age" for h in hits) for hits in hits_per_ad)
    k_minor = max(len(minor_ages), minor_ads)
    if k_minor:
        ages = f" ({', '.join(str(a) for a in minor_ages[:5])})" if minor_ages else ""
        terms.add(
            "stated_minor_age",
            1.0,
            f"stated age under 18 in {k_minor} ad{'s' if k_minor != 1 else ''}{ages}",
            ads=k_minor,
            ages=minor_ages,
        )

    strengths = [youth_strength(hits, reg) for hits in hits_per_ad]
    youth_ads = [hits for hits, s in zip(hits_per_ad, strengths, strict=True) if s > 0]
    if youth_ads and n:
        cues = [h.matched for hits in youth_ads for h in hits if h.category == "youth"]
        terms.add(
            "youth_cues",
            sum(strengths) / n,
            f"{len(youth_ads)} of {n} ads carry youth cues: {_quote(cues)}",
            ads=len(youth_ads),
            of=n,
            cues=sorted(set(c.lower() for c in cues)),
        )

    scores = [min(1.0, max(0.0, s)) for s in facts.ad_scores]
    if scores:
        top, mean = max(scores), sum(scores) / len(scores)
        terms.add("top_ad", top, f"highest ad score {top:.2f}", top_ad=round(top, 6))
        terms.add(
            "mean_ad",
            mean,
            f"mean ad score {mean:.2f} over {len(scores)} ads",
            mean_ad=round(mean, 6),
        )

    if facts.obfuscated_phone_share > 0 and n:
        k = round(facts.obfuscated_phone_share * n)
        terms.add(
            "obscured_phones",
            min(1.0, facts.obfuscated_phone_share),
            f"obscured phone number in {max(k, 1)} of {n} ads",
            share=facts.obfuscated_phone_share,
        )

    stated = [a for a in facts.stated_ages if a > 0]
    young = [a for a in stated if a in (18, 19)]
    if young:
        strength = _share(len(young), len(stated)) * min(1.0, len(young) / 3)
        terms.add(
            "young_adult_ages",
            strength,
            f"ages 18-19 stated in {len(young)} ad{'s' if len(young) != 1 else ''}"
            f" (of {len(stated)} stating an age)",
            ads=len(young),
            of=len(stated),
        )

    if facts.persons_per_phone:
        phone, persons = max(facts.persons_per_phone.items(), key=lambda kv: (kv[1], kv[0]))
        if persons >= 2:
            terms.add(
                "persons_per_phone",
                min(1.0, 0.4 + 0.2 * (persons - 2)),
                f"{persons} persons advertised behind one phone",
                phone=phone,
                persons=persons,
            )

    if facts.template_share > 0 and n:
        k = round(facts.template_share * n)
        terms.add(
            "template_reuse",
            min(1.0, facts.template_share),
            f"{max(k, 1)} of {n} ads share a text template",
            share=facts.template_share,
        )

    if facts.ads_phone_far > 0 and n:
        regions = ", ".join(facts.phone_regions[:3]) or "another state"
        places = "; ".join(facts.posting_places[:3]) or "the posting places"
        terms.add(
            "phone_far_from_posting",
            _share(facts.ads_phone_far, n),
            f"phone area code ({regions}) far from posting places ({places})"
            f" in {facts.ads_phone_far} of {n} ads",
            ads=facts.ads_phone_far,
            regions=facts.phone_regions[:10],
            places=facts.posting_places[:10],
        )

    last, now = _date(facts.last_seen), _date(facts.now)
    if last and now:
        days = max(0.0, (now - last).total_seconds() / 86400)
        fade = (
            1.0
            if days <= _FRESH_DAYS
            else max(0.0, 1 - (days - _FRESH_DAYS) / (_STALE_DAYS - _FRESH_DAYS))
        )
        terms.add(
            "recent_activity",
            fade,
            f"last seen {last.date().isoformat()}, {int(days)} days before now",
            first_seen=facts.first_seen,
            last_seen=facts.last_seen,
            days=round(days, 1),
        )

    if n > 1:
        terms.add(
            "volume", min(1.0, math.log10(n) / 3), f"{n} ads (size is only a tie-breaker)", ads=n
        )

    movement_ads = sum(any(h.category == "movement" for h in hits) for hits in hits_per_ad)
    if movement_ads:
        cues = [h.matched for hits in hits_per_ad for h in hits if h.category == "movement"]
        terms.context(
            f"movement language in {movement_ads} of {n} ads ({_quote(cues)}): "
            "context only, never raises (the outcome study found it less likely "
            "in trafficking ads)",
            ads=movement_ads,
        )
    if facts.distinct_cities > 1:
        terms.context(
            f"posted in {facts.distinct_cities} cities: context only (movement is "
            "not a sign of trafficking on its own)",
            cities=facts.distinct_cities,
            places=facts.posting_places[:10],
        )

    keep = 1.0
    for part in terms.parts:
        keep *= 1.0 - part
    score = round(min(1.0, max(0.0, 1.0 - keep)), 6)
    if facts.hash_list_matches > 0:
        score = 1.0
    reasons = sorted(terms.reasons, key=lambda r: -r.weight)
    return NetworkScore(score, reasons, reg.version)
