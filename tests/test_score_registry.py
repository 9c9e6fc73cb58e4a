"""The indicator registry: the shipped file is valid and its examples behave; bad files fail
with messages naming the entry; matching survives spelling and spacing tricks."""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from safelight.score.ad_score import example_mentions, score_ad
from safelight.score.registry import (
    DEFAULT_PATH,
    MAX_WEIGHT,
    RegistryError,
    load_registry,
    registry_from_dict,
)

REG = load_registry()
RAW: dict[str, Any] = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))


def _ids(side: str) -> list[tuple[str, Any]]:
    return [(ind.id, ex) for ind in REG.indicators for ex in ind.examples[side]]


def test_shipped_registry_loads_with_version_and_changelog() -> None:
    assert REG.version == "2026.11.1"
    assert any(c["version"] == REG.version for c in REG.changelog)
    assert len(REG.indicators) >= 20
    assert load_registry() is REG  # cached


@pytest.mark.parametrize(("ind_id", "example"), _ids("positive"))
def test_positive_examples_hit(ind_id: str, example: Any) -> None:
    text, mentions = example_mentions(example)
    hits = [h for h in score_ad(text, mentions, REG).hits if h.indicator == ind_id]
    assert hits, f"{ind_id} should hit {text!r}"
    for h in hits:
        if h.start >= 0:
            assert text[h.start : h.end] == h.matched


@pytest.mark.parametrize(("ind_id", "example"), _ids("negative"))
def test_negative_examples_do_not_hit(ind_id: str, example: Any) -> None:
    text, mentions = example_mentions(example)
    hits = [h for h in score_ad(text, mentions, REG).hits if h.indicator == ind_id]
    assert not hits, f"{ind_id} should not hit {text!r}: {hits}"


def test_every_indicator_is_sourced_and_weighted_by_evidence() -> None:
    for ind in REG.indicators:
        assert ind.sources and all(k in REG.sources for k in ind.sources), ind.id
        assert 0 <= ind.weight <= MAX_WEIGHT[ind.evidence], ind.id
        assert ind.examples["positive"] and ind.examples["negative"], ind.id
    for key, src in REG.sources.items():
        assert src["citation"], key
    strongest_weak = max(i.weight for i in REG.indicators if i.evidence == "weak")
    validated = [
        i
        for i in REG.indicators
        if i.evidence == "strong" and i.direction == "+" and not i.protected
    ]
    assert min(i.weight for i in validated) > strongest_weak


def test_movement_never_raises_and_ethnicity_is_protected() -> None:
    for ind in REG.indicators:
        if ind.category == "movement":
            assert ind.direction in ("-", "context"), ind.id
        if ind.category == "ethnicity":
            assert ind.protected, ind.id
    assert REG.categories["ethnicity"].protected
    assert REG.categories["movement"].direction == "-"
    dropped = {d["term"] for d in REG.dropped}
    assert "girl" in dropped and "little" in dropped


# ---- validation -------------------------------------------------------------------------


def _broken(change: Any) -> str:
    data = copy.deepcopy(RAW)
    change(data)
    with pytest.raises(RegistryError) as err:
        registry_from_dict(data, "override.yaml")
    return str(err.value)


def _entry(data: dict[str, Any], ind_id: str) -> dict[str, Any]:
    return next(e for e in data["indicators"] if e["id"] == ind_id)


def test_schema_errors_name_the_entry() -> None:
    msg = _broken(lambda d: _entry(d, "youth_fresh").pop("weight"))
    assert "override.yaml" in msg and "(youth_fresh)" in msg and "'weight'" in msg
    msg = _broken(lambda d: _entry(d, "youth_young").update(category="youthh"))
    assert "(youth_young)" in msg and "unknown category 'youthh'" in msg
    msg = _broken(lambda d: _entry(d, "pricing_roses")["patterns"].append({"regex": "(roses"}))
    assert "(pricing_roses)" in msg and "does not compile" in msg
    msg = _broken(lambda d: _entry(d, "youth_petite").update(weight=0.5))
    assert "(youth_petite)" in msg and "too high for weak evidence" in msg
    msg = _broken(lambda d: _entry(d, "movement_in_town").update(direction="+"))
    assert "(movement_in_town)" in msg and "not allowed in category 'movement'" in msg
    msg = _broken(lambda d: _entry(d, "ethnicity_stated").pop("protected"))
    assert "(ethnicity_stated)" in msg and "protected" in msg
    msg = _broken(lambda d: _entry(d, "control_daddy").update(source=["nobody_2020"]))
    assert "'nobody_2020' is not in the sources section" in msg
    msg = _broken(lambda d: _entry(d, "youth_teen")["examples"].update(negative=[]))
    assert "(youth_teen)" in msg and "examples.negative" in msg
    msg = _broken(lambda d: _entry(d, "screening_required").update(weight=0.1))
    assert "context indicator must have weight 0" in msg
    msg = _broken(lambda d: _entry(d, "youth_young")["patterns"].append({"word": "kid"}))
    assert "unknown pattern kind 'word'" in msg
    msg = _broken(lambda d: _entry(d, "youth_young").update(exlude=[]))
    assert "unknown key(s) ['exlude']" in msg


def test_schema_errors_at_file_level() -> None:
    assert "duplicate id" in _broken(lambda d: d["indicators"].append(d["indicators"][3]))
    assert "version" in _broken(lambda d: d.pop("version"))
    assert "no entry for version" in _broken(lambda d: d.update(version="2099.1.1"))
    assert "folding.lookalikes" in _broken(lambda d: d["folding"]["lookalikes"].update(ph="f"))
    with pytest.raises(RegistryError, match="must be a YAML mapping"):
        registry_from_dict(["not", "a", "mapping"])


def test_override_path_loads_and_reloads_when_changed(tmp_path: Path) -> None:
    data = copy.deepcopy(RAW)
    data["version"] = "2026.11.1-local"
    data["changelog"].append({"version": "2026.11.1-local", "changes": ["local test"]})
    path = tmp_path / "indicators.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    reg = load_registry(path)
    assert reg.version == "2026.11.1-local"
    assert load_registry(str(path)) is reg
    data["version"] = "2026.11.2-local"
    data["changelog"].append({"version": "2026.11.2-local", "changes": ["again"]})
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert load_registry(path).version == "2026.11.2-local"
    with pytest.raises(RegistryError, match="cannot read"):
        load_registry(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("indicators: [", encoding="utf-8")
    with pytest.raises(RegistryError, match="not valid YAML"):
        load_registry(tmp_path / "bad.yaml")


# ---- folding and matching ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "indicator", "matched"),
    [
        ("so y.o.u.n.g and fun", "youth_young", "y.o.u.n.g"),
        ("so y o u n g and fun", "youth_young", "y o u n g"),
        ("so yooouuung", "youth_young", "yooouuung"),
        ("so YOUNG", "youth_young", "YOUNG"),
        ("so y0ung", "youth_young", "y0ung"),
        ("so yo\u200bung", "youth_young", "yo\u200bung"),
        ("so \uff59\uff4f\uff55\uff4e\uff47", "youth_young", "\uff59\uff4f\uff55\uff4e\uff47"),
        ("so y\u043eung", "youth_young", "y\u043eung"),  # Cyrillic o
        ("fr3sh in the city", "youth_fresh", "fr3sh"),
        ("fre\u0301sh and sweet", "youth_fresh", "fre\u0301sh"),  # combining accent
        ("fr\u00e9sh and sweet", "youth_fresh", "fr\u00e9sh"),
        ("N.E.W to this", "youth_new_to_this", "N.E.W to this"),
        ("new-to-this", "youth_new_to_this", "new-to-this"),
        ("sweet t33n", "youth_teen", "t33n"),
        ("g00d and pr0fessi0nal", "trust_professional", "pr0fessi0nal"),
        ("100% l e g i t", "trust_trustworthy", "l e g i t"),
        ("Barely   legal!", "youth_barely_legal", "Barely   legal"),
        ("visiting \u2708\ufe0f soon", "movement_emoji_airplane", "\u2708"),
    ],
)
def test_tricks_still_hit_and_report_the_original_text(
    text: str, indicator: str, matched: str
) -> None:
    hits = [m for m in REG.match(text) if m.indicator.id == indicator]
    assert hits, f"{indicator} should hit {text!r}"
    m = hits[0]
    assert m.matched == matched
    assert text[m.start : m.end] == m.matched


def test_numbers_are_not_folded_into_letters() -> None:
    folded = REG.fold("Kim 15yo, $200, 713-555-0142, fr3sh")
    assert "15yo" in folded.text and "$200" in folded.text and "713-555-0142" in folded.text
    assert "fresh" in folded.text


def test_offsets_map_back_after_removals_and_expansions() -> None:
    text = "\ufb01ne y\u200bo\u200bu\u200bn\u200bg \u2460 N.E.W to this"
    folded = REG.fold(text)
    assert folded.offsets is not None
    for m in REG.match(text):
        assert text[m.start : m.end] == m.matched
    assert {m.indicator.id for m in REG.match(text)} >= {"youth_young", "youth_new_to_this"}


def test_word_boundaries_and_longest_phrase() -> None:
    assert not REG.match("Youngstown canteen refreshments")
    hits = REG.match("fresh face")
    assert [(m.indicator.id, m.matched) for m in hits] == [("youth_fresh_face", "fresh face")]
    assert not REG.match("ten minutes")  # "teen" needs two e's


@pytest.mark.parametrize(
    ("text", "indicator"),
    [
        ("so yooooooooung", "youth_young"),
        ("teeeeeeeeeen", "youth_teen"),  # a doubled letter, then a long run of it
        ("very professssssssional", "trust_professional"),
        ("fiiirst tiiime doing this", "youth_new_to_this"),
    ],
)
def test_long_repeated_letters_still_hit(text: str, indicator: str) -> None:
    assert indicator in {m.indicator.id for m in REG.match(text)}


# Only catches a hang or a quadratic blow-up (minutes); speed is measured by benchmarks.
_LIMIT_S = float(os.environ.get("SAFELIGHT_ADVERSARIAL_LIMIT_S", "5"))


@pytest.mark.parametrize(
    "text",
    [
        "1" * 200_000,  # "l" and "i" both take "1": each split of the run was tried (40 s)
        "1 " * 100_000,  # spaced out, then folded into one run
        ("1l!|i" * 40 + " ") * 1_000,
        "teeeee" * 33_000,
        "d" * 200_000,
        "!\uff11" * 100_000,  # a phrase may start after every "!", each "!" and "1" an "i"
    ],
    ids=["ones", "spaced-ones", "look-alikes", "elongated", "one-letter", "bang-ones"],
)
def test_long_runs_of_shared_characters_finish(text: str) -> None:
    begin = time.process_time()
    REG.match(text)
    spent = time.process_time() - begin
    assert spent < _LIMIT_S, f"{spent:.2f}s"
