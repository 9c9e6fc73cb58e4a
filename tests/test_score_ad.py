"""The ad score: evidence directions hold, explanations match the hits, tricks still hit."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safelight.records import Mention
from safelight.score.ad_score import AdScore, combine, explain, score_ad
from safelight.score.registry import load_registry

REG = load_registry()


def _score(text: str) -> AdScore:
    return score_ad(text, None, REG)


def _age(text: str, raw: str, value: int, start: int | None = None) -> dict[str, list[Mention]]:
    at = text.index(raw) if start is None else start
    return {"ages": [Mention("age", value, raw, at, at + len(raw) if at >= 0 else -1)]}


def _phone(text: str, raw: str, obfuscated: bool) -> dict[str, list[Mention]]:
    at = text.index(raw)
    return {
        "phones": [Mention("phone", "+17135550142", raw, at, at + len(raw), obfuscated=obfuscated)]
    }


@pytest.mark.parametrize(
    "text",
    [
        "New in town, leaving soon, limited time",
        "Just arrived, passing through, only here until Sunday ✈️",
        "young at heart",
        "petite sizes available",
        "new in town for a conference",
        "Fresh flowers and fresh baked bread",
        "Screening required, references needed",
        "Thai food, Mexican restaurant, Indian Ocean",
        "",
    ],
)
def test_benign_or_inverse_language_alone_scores_zero(text: str) -> None:
    assert _score(text).score == 0.0


def test_movement_never_raises_and_lowers_a_little() -> None:
    base = _score("Sweet, new to this, honest")
    moved = _score("Sweet, new to this, honest. New in town, leaving soon")
    assert 0 < moved.score < base.score
    assert moved.score >= base.score * (1 - REG.categories["movement"].cap) - 1e-9
    movement = [h for h in moved.hits if h.category == "movement"]
    assert movement and all(h.weight < 0 for h in movement)
    assert any("lowers the score" in r for r in moved.reasons)


def test_ethnicity_alone_never_raises() -> None:
    alone = _score("Sweet latina companion, call me")
    assert alone.score == 0.0
    assert [h.category for h in alone.hits] == ["ethnicity"]
    assert "recorded, not counted" in alone.reasons[0]


def test_ethnicity_counts_small_beside_a_real_sign() -> None:
    trust = _score("Honest companion, call me")
    both = _score("Honest latina companion, call me")
    cap = REG.categories["ethnicity"].cap
    assert trust.score < both.score <= 1 - (1 - trust.score) * (1 - cap) + 1e-9
    assert both.categories["ethnicity"] == pytest.approx(cap)
    assert any("counted only because other indicators fired" in r for r in both.reasons)


def test_ethnicity_with_movement_or_context_alone_still_zero() -> None:
    assert _score("Latina, new in town, screening required").score == 0.0


def test_repeating_a_word_does_not_inflate() -> None:
    once = _score("young and sweet")
    many = _score("young young young, so young, YOUNG, y o u n g")
    assert many.score == once.score > 0
    assert len(many.hits) == 6  # each occurrence is shown, counted once


def test_category_cap_bounds_a_pile_of_cues() -> None:
    ad = _score("barely legal, new to this, fresh face, young-looking, teen, petite 🍒 💗")
    assert ad.categories["youth"] == pytest.approx(REG.categories["youth"].cap)
    assert ad.score == pytest.approx(REG.categories["youth"].cap)


def test_validated_signs_outweigh_folklore() -> None:
    assert _score("new to this").score > _score("young 🍒 petite").score
    assert _score("honest and professional").score > _score("daddy 👑").score


@pytest.mark.parametrize(
    "text",
    [
        "Sw33t, y.o.u.n.g and fr3sh, n.e.w to this. H0NEST! New in town 🌹 150 roses",
        "Ｂａｒｅｌｙ ｌｅｇａｌ, fre\u0301sh face, yo\u200bung, latina, professional",
        "Kim\n\nfresh   face   --   new-to-this\t honest",
    ],
)
def test_explanations_match_hits(text: str) -> None:
    ad = _score(text)
    assert ad.hits
    for h in ad.hits:
        assert text[h.start : h.end] == h.matched
        assert h.source and all(k in REG.sources for k in h.source.split(","))
        assert h.indicator in REG.by_id and REG.by_id[h.indicator].category == h.category
    joined = " ".join(ad.reasons)
    for h in ad.hits:
        assert f"'{h.matched}'" in joined or " more" in joined
    assert ad.hits == sorted(ad.hits, key=lambda h: (h.start, h.end, h.indicator))


def test_obfuscation_tricks_still_hit() -> None:
    ad = _score("so y.o.u.n.g and fr3sh")
    got = {(h.indicator, h.matched) for h in ad.hits}
    assert ("youth_young", "y.o.u.n.g") in got and ("youth_fresh", "fr3sh") in got
    assert ad.score > 0


def test_stated_minor_age_is_strong_and_never_lowered() -> None:
    text = "Kim, 16, new in town, leaving soon"
    ad = score_ad(text, _age(text, "16", 16), REG)
    minor = [h for h in ad.hits if h.category == "stated_minor_age"]
    assert minor and minor[0].matched == "16" and text[minor[0].start : minor[0].end] == "16"
    assert ad.score >= 0.9
    assert any("never lowered" in r for r in ad.reasons)


def test_young_adult_age_is_context_only() -> None:
    text = "Kim, 19, call me"
    ad = score_ad(text, _age(text, "19", 19), REG)
    assert ad.score == 0.0
    assert [(h.indicator, h.weight) for h in ad.hits] == [("stated_age_18_19", 0.0)]
    assert "context only" in ad.reasons[0]
    adult = score_ad("Kim, 24", _age("Kim, 24", "24", 24), REG)
    assert adult.hits == []


def test_structured_age_without_span() -> None:
    ad = score_ad("Call me", _age("Call me", "17", 17, start=-1), REG)
    assert ad.hits[0].category == "stated_minor_age"
    assert (ad.hits[0].start, ad.hits[0].end, ad.hits[0].matched) == (-1, -1, "17")


def test_obfuscated_phone_is_a_hit_with_its_raw_text() -> None:
    text = "Call seven one three 555 0142 today"
    raw = "seven one three 555 0142"
    ad = score_ad(text, _phone(text, raw, True), REG)
    hit = next(h for h in ad.hits if h.category == "obscured_contact")
    assert hit.matched == raw and text[hit.start : hit.end] == raw
    assert ad.score == pytest.approx(REG.by_id["obscured_phone"].weight)
    plain = "Call 713-555-0142 today"
    assert score_ad(plain, _phone(plain, "713-555-0142", False), REG).hits == []


def test_score_records_registry_version_and_serialises() -> None:
    ad = _score("Sweet, new to this, honest")
    assert ad.registry_version == REG.version
    data = ad.to_json()
    assert data["score"] == ad.score and data["reasons"] == ad.reasons
    assert data["hits"][0]["matched"] == ad.hits[0].matched
    again = pickle.loads(pickle.dumps(ad))
    assert again == ad and again.reasons == ad.reasons


def test_no_hits_means_zero_and_no_reasons() -> None:
    ad = _score("Friendly conversation downtown, call 713-555-0142.")
    assert (ad.score, ad.hits, ad.reasons, ad.categories) == (0.0, [], [], {})


def test_combine_and_explain_agree_with_score_ad() -> None:
    ad = _score("Honest latina, new to this, new in town, screening required")
    score, categories = combine(ad.hits, REG)
    assert score == ad.score and categories == ad.categories
    assert explain(ad.hits, REG) == ad.reasons
    kinds = [r.split(":")[0] for r in ad.reasons]
    assert kinds.index("client screening language") == len(kinds) - 1  # context last


_ALPHABET = "abcdefghijklmnopqrstuvwxyz  .,!-01345$@\u200b\u0301é\uff59\u043e🌹✈\ufe0f\n"
_WORDS = [
    "young",
    "fresh",
    "new to this",
    "latina",
    "honest",
    "new in town",
    "y o u n g",
    "fr3sh",
    "at heart",
    "petite",
    "sizes",
    "teen",
    "professional",
    " ",
    "🍒",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_WORDS) | st.text(_ALPHABET, max_size=6), max_size=12))
def test_any_text_scores_in_range_with_exact_spans(parts: list[str]) -> None:
    text = " ".join(parts)
    ad = _score(text)
    assert 0.0 <= ad.score <= 1.0
    for h in ad.hits:
        assert text[h.start : h.end] == h.matched
    if all(h.category in ("movement", "ethnicity", "screening") for h in ad.hits):
        assert ad.score == 0.0
