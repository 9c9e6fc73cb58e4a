"""The network score: density over size, movement never raises, hash matches force the top,
and the reasons say why in words."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from safelight.records import Hit
from safelight.score.ad_score import score_ad
from safelight.score.network_score import NetworkFacts, NetworkScore, score_network
from safelight.score.registry import load_registry

REG = load_registry()

TEXTS = [
    "Sweet, new to this, call",
    "Fresh face, honest",
    "new to this and sweet",
    "fresh face downtown",
    "Real pics",
    "Hello there",
    "Call now",
    "Honest and professional",
    "Available tonight",
]


def _facts(texts: list[str] = TEXTS, **extra: Any) -> NetworkFacts:
    ads = [score_ad(t, None, REG) for t in texts]
    return NetworkFacts(
        n_ads=len(texts), ad_scores=[a.score for a in ads], ad_hits=[a.hits for a in ads], **extra
    )


def _texts(score: NetworkScore) -> list[str]:
    return [r.text for r in score.reasons]


def test_reasons_in_words() -> None:
    facts = _facts(
        stated_ages=[19, 18, 19, 18, 19, 22],
        persons_per_phone={"+17135550142": 3},
        obfuscated_phone_share=1 / 3,
        template_share=0.6,
        ads_phone_far=6,
        phone_regions=["Florida"],
        posting_places=["Houston, TX"],
        distinct_cities=2,
        first_seen="2026-09-01",
        last_seen="2026-11-20T10:00:00Z",
        now="2026-11-23T00:00:00Z",
    )
    result = score_network(facts, REG)
    texts = _texts(result)
    assert "4 of 9 ads carry youth cues: 'new to this', 'fresh face'" in texts
    assert "3 persons advertised behind one phone" in texts
    assert "ages 18-19 stated in 5 ads (of 6 stating an age)" in texts
    assert "phone area code (Florida) far from posting places (Houston, TX) in 6 of 9 ads" in texts
    assert "obscured phone number in 3 of 9 ads" in texts
    weights = [r.weight for r in result.reasons]
    assert weights == sorted(weights, reverse=True)
    youth = next(r for r in result.reasons if "youth cues" in r.text)
    assert youth.evidence["term"] == "youth_cues" and youth.evidence["source"]
    assert youth.evidence["ads"] == 4 and "new to this" in youth.evidence["cues"]
    assert 0 < result.score < 1 and result.registry_version == REG.version


def test_size_alone_is_not_suspect() -> None:
    quiet = NetworkFacts(n_ads=500, ad_scores=[0.0] * 500, ad_hits=[[] for _ in range(500)])
    result = score_network(quiet, REG)
    assert result.score <= 0.02
    assert _texts(result) == ["500 ads (size is only a tie-breaker)"]


def test_density_not_count_drives_youth() -> None:
    small = _facts(TEXTS)
    big = _facts(TEXTS * 100)  # same density, 100 times the ads
    assert abs(score_network(big, REG).score - score_network(small, REG).score) <= 0.02
    diluted = _facts(TEXTS[:2] + ["Hello there"] * 20)
    assert score_network(diluted, REG).score < score_network(small, REG).score


def test_youth_density_raises() -> None:
    few = _facts(["new to this"] + ["Hello there"] * 8)
    many = _facts(["new to this"] * 6 + ["Hello there"] * 3)
    assert score_network(many, REG).score > score_network(few, REG).score


def test_movement_and_cities_never_raise() -> None:
    base = _facts(TEXTS)
    moved = _facts([t + ", new in town, leaving soon" for t in TEXTS])
    s_base, s_moved = score_network(base, REG), score_network(moved, REG)
    assert s_moved.score <= s_base.score
    assert any("movement language in 9 of 9 ads" in t for t in _texts(s_moved))
    travelled = dataclasses.replace(
        base, distinct_cities=12, posting_places=["Houston, TX", "Dallas, TX"]
    )
    s_travel = score_network(travelled, REG)
    assert s_travel.score == s_base.score
    context = [r for r in s_travel.reasons if "12 cities" in r.text]
    assert context and context[0].weight == 0.0


def test_hash_list_match_forces_the_top() -> None:
    quiet = NetworkFacts(n_ads=3, ad_scores=[0.0] * 3, ad_hits=[[], [], []], hash_list_matches=2)
    result = score_network(quiet, REG)
    assert result.score == 1.0
    assert result.reasons[0].text == "2 photos match a known hash list"
    assert result.reasons[0].weight == 1.0


def test_stated_minor_age_is_near_the_top() -> None:
    hit = Hit("stated_minor_age", "stated_minor_age", 0.9, "16", 5, 7, "usc_1591")
    facts = NetworkFacts(
        n_ads=4, ad_scores=[0.9, 0, 0, 0], ad_hits=[[hit], [], [], []], stated_ages=[16, 21, 24]
    )
    result = score_network(facts, REG)
    assert result.score >= 0.9
    assert result.reasons[0].text == "stated age under 18 in 1 ad (16)"


def test_young_adult_ages_need_a_pattern() -> None:
    one = score_network(NetworkFacts(n_ads=5, stated_ages=[18, 24, 25, 26, 27]), REG)
    five = score_network(NetworkFacts(n_ads=5, stated_ages=[18, 19, 18, 19, 18]), REG)
    assert five.score > one.score
    assert "ages 18-19 stated in 5 ads (of 5 stating an age)" in _texts(five)


def test_recent_activity_is_only_a_tie_breaker() -> None:
    old = NetworkFacts(n_ads=2, last_seen="2024-01-01", now="2026-11-23")
    new = NetworkFacts(n_ads=2, last_seen="2026-11-20", now="2026-11-23")
    diff = score_network(new, REG).score - score_network(old, REG).score
    assert 0 < diff <= 0.02
    bad_dates = NetworkFacts(n_ads=2, last_seen="not a date", now="2026-11-23")
    assert score_network(bad_dates, REG).score == pytest.approx(score_network(old, REG).score)


def test_empty_network() -> None:
    result = score_network(NetworkFacts(n_ads=0), REG)
    assert (result.score, result.reasons) == (0.0, [])
    assert score_network(NetworkFacts(n_ads=1)).to_json()["score"] == 0.0
