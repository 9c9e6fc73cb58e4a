"""The synthetic corpus: deterministic, fictional-only selectors, an exact and consistent truth."""

from __future__ import annotations

import gzip
import json
import random
import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any

import phonenumbers
import pytest

from safelight.generate import OBFUSCATED_STYLES, PLAIN_STYLES, generate, write_corpus
from safelight.generate import phones as ph
from safelight.generate.data import load
from safelight.generate.plan import plan
from safelight.generate.posters import SPAN_DAYS, iso

N_ADS = 3000
SEED = 5
CATEGORIES = {"third_party_control", "trust", "ethnicity", "youth", "movement", "screening"}

# Any plain 10-digit NANP number: optional +1, optional parentheses, space/dot/dash separators.
# \d also matches full-width digits, so those are checked too.
NANP = re.compile(r"(?<!\d)(?:\+?1[\s.-]?)?\(?([2-9]\d{2})\)?[\s.-]?(\d{3})[\s.-]?(\d{4})(?!\d)")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
NUMBER_WORDS = {"zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight"}
NUMBER_WORDS |= {"nine", "dot", "dash"}


def _read(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("corpus")
    summary = write_corpus(out, N_ADS, seed=SEED)
    return {
        "dir": out,
        "summary": summary,
        "ads": _read(out / "ads.jsonl"),
        "truth": _read(out / "truth.jsonl"),
        "networks": _read(out / "networks.jsonl"),
    }


def _text(ad: dict[str, Any]) -> str:
    return f"{ad['title']}\n{ad['body']}"


def _masked_shingles(ad: dict[str, Any], truth: dict[str, Any]) -> set[tuple[str, ...]]:
    """Word 3-shingles with the slots masked: names, cities, digits, spelled-out digits."""
    drop = {truth["name"].lower(), *re.findall(r"[a-z]+", truth["city"].lower()), *NUMBER_WORDS}
    words = [w for w in re.findall(r"[a-z]+", _text(ad).lower()) if w not in drop]
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def _jaccard(a: set[Any], b: set[Any]) -> float:
    return len(a & b) / max(1, len(a | b))


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    write_corpus(tmp_path / "a", 400, seed=3)
    write_corpus(tmp_path / "b", 400, seed=3)
    write_corpus(tmp_path / "c", 400, seed=4)
    for name in ("ads.jsonl", "truth.jsonl", "networks.jsonl", "summary.json", "README.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "ads.jsonl").read_bytes() != (
        tmp_path / "c" / "ads.jsonl"
    ).read_bytes()
    streamed = [ad for ad, _ in generate(400, seed=3)]
    assert streamed == _read(tmp_path / "a" / "ads.jsonl")


def test_gzip_output_is_deterministic_and_identical_inside(tmp_path: Path) -> None:
    write_corpus(tmp_path / "plain", 300, seed=8)
    write_corpus(tmp_path / "z1", 300, seed=8, gzip=True)
    write_corpus(tmp_path / "z2", 300, seed=8, gzip=True)
    z1 = (tmp_path / "z1" / "ads.jsonl.gz").read_bytes()
    assert z1 == (tmp_path / "z2" / "ads.jsonl.gz").read_bytes()
    assert gzip.decompress(z1) == (tmp_path / "plain" / "ads.jsonl").read_bytes()


def test_tiny_and_empty_corpora(tmp_path: Path) -> None:
    assert write_corpus(tmp_path / "empty", 0)["ads"] == 0
    assert len(list(generate(1))) == 1
    assert len(list(generate(25, seed=2))) == 25


def test_ad_records_follow_the_input_format(corpus: dict[str, Any]) -> None:
    ads = corpus["ads"]
    assert len(ads) == N_ADS
    assert len({a["id"] for a in ads}) == N_ADS
    domains = {s["site"]: s["domain"] for s in load("sites")["sites"]}
    for ad in ads:
        assert ad["url"] == f"https://{domains[ad['site']]}/ads/{ad['id']}"
        assert re.fullmatch(r"2026-(0[1-9]|10)-\d\dT\d\d:\d\d:\d\dZ", ad["posted_at"])
        assert re.fullmatch(r"[A-Z][A-Za-z. ]+, [A-Z]{2}", ad["location"])
        assert ad["title"] and 150 <= len(ad["body"]) <= 2500
        for img in ad["images"]:
            assert set(img) == {"url", "sha256", "pdq"}
            assert re.fullmatch(r"[0-9a-f]{64}", img["pdq"])
            assert re.fullmatch(r"[0-9a-f]{64}", img["sha256"])
    lengths = [len(a["body"]) for a in ads]
    assert 300 <= statistics.median(lengths) <= 700
    assert 0 < sum(n > 900 for n in lengths) < 0.1 * N_ADS  # a few longer
    assert sum(n < 200 for n in lengths) < 0.01 * N_ADS
    assert {"phone", "age", "name"} <= {k for a in ads for k in a}
    # Lines mix posters: neighbours rarely belong to the same network.
    nets = [t["network"] for t in corpus["truth"]]
    assert sum(a == b for a, b in pairwise(nets)) < 0.2 * N_ADS


def test_every_number_in_the_text_is_fictional(corpus: dict[str, Any]) -> None:
    seen = 0
    for ad in corpus["ads"]:
        for text in (_text(ad), str(ad.get("phone", ""))):
            for m in NANP.finditer(text):
                seen += 1
                exchange, line = m.group(2), m.group(3)
                assert exchange == "555" and line.startswith("01"), m.group(0)
        for email in EMAIL.findall(_text(ad)):
            assert re.search(r"@example\.(com|org|net)$", email), email
    assert seen > N_ADS // 2
    numbers = {n for t in corpus["truth"] for n in t["phones"]}
    for number in sorted(numbers):
        assert re.fullmatch(r"\+1[2-9]\d\d55501\d\d", number)
        assert phonenumbers.is_valid_number(phonenumbers.parse(number))


def test_truth_rows_match_ads(corpus: dict[str, Any]) -> None:
    ads, truth = corpus["ads"], corpus["truth"]
    assert [a["id"] for a in ads] == [t["id"] for t in truth]
    for ad, t in zip(ads, truth, strict=True):
        text = _text(ad)
        assert "None" not in text and "{" not in text and "<" not in text
        assert t["city"] == ad["location"]
        assert set(t["indicators"]) <= CATEGORIES
        assert t["indicators"] == sorted(t["indicators"])
        assert len(t["phone_styles"]) <= len(t["phones"])
        assert t["phone_obfuscated"] == any(s in OBFUSCATED_STYLES for s in t["phone_styles"])
        digits = re.sub(r"\D", "", text)
        for number, style in zip(t["phones"], t["phone_styles"], strict=False):
            if style in PLAIN_STYLES:
                assert number[2:] in digits
        for value in t["emails"] + t["handles"] + t["payments"]:
            user = value.split("@")[0].lstrip("$")
            assert user in text
        if t["age"] is not None:
            assert str(t["age"]) in text or ad.get("age") == t["age"]
        if "youth" in t["indicators"]:
            assert t["youth"]
        if t["lookalike"] is not None:
            assert t["kind"] == "independent" and not t["indicators"]
            assert t["lookalike"].lower() in text.lower()
        if t["kind"] == "independent":
            assert t["person"] == f"{t['network']}-p0"


def test_network_rows_match_truth(corpus: dict[str, Any]) -> None:
    truth, networks = corpus["truth"], corpus["networks"]
    per_net = Counter(t["network"] for t in truth)
    rows = {n["network"]: n for n in networks}
    assert len(rows) == len(networks) == len(per_net)
    assert {k: n["n_ads"] for k, n in rows.items()} == dict(per_net)
    for t in truth:
        net = rows[t["network"]]
        assert t["kind"] == net["kind"] and t["youth"] == net["youth"]
        assert t["person"] in {p["person"] for p in net["persons"]}
        assert set(t["phones"]) <= set(net["phones"])
        assert set(t["emails"]) <= set(net["emails"])
        assert t["city"] in net["cities"]
    owner: dict[str, str] = {}
    for n in networks:
        assert len({p["name"] for p in n["persons"]}) == len(n["persons"])
        for value in n["phones"] + n["emails"] + n["handles"] + n["payments"]:
            assert owner.setdefault(value, n["network"]) == n["network"], f"{value} shared"
    summary = corpus["summary"]
    assert summary["ads"] == N_ADS and summary["networks"] == len(networks)
    assert summary == json.loads((corpus["dir"] / "summary.json").read_text(encoding="utf-8"))
    assert summary["organised_ads"] == sum(t["kind"] == "organised" for t in truth)
    assert summary["youth_ads"] == sum(t["youth"] for t in truth)
    assert summary["lookalike_ads"] == sum(t["lookalike"] is not None for t in truth)
    assert summary["hub_ads"] == sum(bool(t["hub"]) for t in truth)
    assert summary["phone_obfuscated_ads"] == sum(t["phone_obfuscated"] for t in truth)
    assert not set(summary["hub_phones"] + summary["hub_emails"]) & set(owner)


def test_mix_of_kinds(corpus: dict[str, Any]) -> None:
    truth, networks = corpus["truth"], corpus["networks"]
    org = [t for t in truth if t["kind"] == "organised"]
    ind = [t for t in truth if t["kind"] == "independent"]
    assert 0.25 <= len(org) / N_ADS <= 0.35
    org_nets = [n for n in networks if n["kind"] == "organised"]
    youth = [n for n in org_nets if n["youth"]]
    assert abs(len(youth) - len(org_nets) / 4) <= 1
    assert all(2 <= len(n["persons"]) <= 8 for n in org_nets if n["n_ads"] >= 8)
    assert all(1 <= len(n["phones"]) <= 3 for n in org_nets)
    assert sum(len(n["cities"]) > 1 for n in org_nets) > 0.6 * len(org_nets)  # circuits
    assert 0.5 <= statistics.mean(t["phone_obfuscated"] for t in org if t["phones"]) <= 0.7
    assert statistics.mean(t["phone_obfuscated"] for t in ind) <= 0.15
    youth_ages = [t["age"] for t in org if t["youth"] and t["age"] is not None]
    assert statistics.mean(a <= 19 for a in youth_ages) > 0.5
    assert all(18 <= t["age"] <= 29 for t in org if t["age"] is not None)

    # Movement wording is the independents' (JRSA/NIJ direction), control wording the operations'.
    def share(rows: list[dict[str, Any]], cat: str) -> float:
        return statistics.mean(cat in t["indicators"] for t in rows)

    assert share(ind, "movement") > 2 * share(org, "movement")
    assert share(org, "third_party_control") > 0.5 > share(ind, "third_party_control")
    assert share(org, "trust") > share(ind, "trust")
    assert sum(n["lookalike"] is not None for n in networks) >= 3
    assert any(not n["phones"] for n in networks if n["kind"] == "independent")


def test_operations_are_near_duplicates_independents_are_not(corpus: dict[str, Any]) -> None:
    rng = random.Random(0)
    by_net: dict[str, list[set[tuple[str, ...]]]] = defaultdict(list)
    kinds: dict[str, tuple[str, bool]] = {}
    for ad, t in zip(corpus["ads"], corpus["truth"], strict=True):
        kinds[t["network"]] = (t["kind"], t["lookalike"] is not None)
        if t["kind"] == "organised" or not by_net[t["network"]]:
            by_net[t["network"]].append(_masked_shingles(ad, t))
    within = []
    for net, shingles in by_net.items():
        if kinds[net][0] == "organised" and len(shingles) > 1:
            within += [_jaccard(*rng.sample(shingles, 2)) for _ in range(10)]
    assert statistics.median(within) >= 0.7
    assert statistics.quantiles(within, n=10)[0] >= 0.5
    plain = [n for n, (kind, decoy) in kinds.items() if kind == "independent" and not decoy]
    firsts = {n: by_net[n][0] for n in plain}
    cross = [_jaccard(firsts[a], firsts[b]) for a, b in combinations(plain[:100], 2)]
    assert statistics.mean(cross) < 0.05
    assert max(cross) < 0.4
    org_first = [by_net[n][0] for n, (kind, _) in kinds.items() if kind == "organised"]
    assert max(_jaccard(a, b) for a, b in combinations(org_first, 2)) < 0.4


def test_hubs_span_many_posters_and_are_nobodys_selector(corpus: dict[str, Any]) -> None:
    spans: dict[str, set[str]] = defaultdict(set)
    for t in corpus["truth"]:
        for hub in t["hub"]:
            spans[hub].add(t["network"])
            assert hub not in t["phones"] and hub not in t["emails"]
    summary = corpus["summary"]
    assert set(spans) <= set(summary["hub_phones"] + summary["hub_emails"])
    assert 0.01 <= summary["hub_ads"] / N_ADS <= 0.035
    # Footers are scattered over unrelated posters, not concentrated in a few.
    hub_nets = {t["network"] for t in corpus["truth"] if t["hub"]}
    assert len(hub_nets) >= 0.5 * summary["hub_ads"]
    assert sum(len(v) >= 4 for v in spans.values()) >= 3  # hub_min_groups
    for ad, t in zip(corpus["ads"], corpus["truth"], strict=True):
        if t["hub"]:
            footer = ad["body"].rsplit("\n\n", 1)[1]
            for hub in t["hub"]:
                if hub.startswith("+1"):
                    assert hub[2:] in re.sub(r"\D", "", footer)
                else:
                    assert hub in footer


def test_photos_are_reused_within_a_person_only(corpus: dict[str, Any]) -> None:
    by_person: dict[str, list[int]] = defaultdict(list)
    for ad, t in zip(corpus["ads"], corpus["truth"], strict=True):
        by_person[t["person"]] += [int(img["pdq"], 16) for img in ad["images"]]
    reused = 0
    for hashes in list(by_person.values())[:300]:
        for a, b in combinations(hashes[:12], 2):
            d = (a ^ b).bit_count()
            assert d <= 20 or d >= 60  # copies of one base photo, or different photos
            reused += d <= 20
    assert reused > 100
    people = list(by_person)[:60]
    firsts = [by_person[p][0] for p in people if by_person[p]]
    assert min((a ^ b).bit_count() for a, b in combinations(firsts, 2)) > 60


def test_iso_timestamps() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(4)
    for ts in [
        0,
        59,
        3599,
        86399,
        SPAN_DAYS * 86400 - 1,
        *(rng.randrange(SPAN_DAYS * 86400) for _ in range(500)),
    ]:
        assert iso(ts) == (start + timedelta(seconds=ts)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert iso(SPAN_DAYS * 86400 - 1) == "2026-10-31T23:59:59Z"


def test_phone_renderings() -> None:
    rng = random.Random(1)
    number = "7135550142"
    for style in PLAIN_STYLES:
        text = ph.render(number, style, rng)
        parsed = phonenumbers.parse(text, "US")
        assert (
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            == "+17135550142"
        )
    for style in OBFUSCATED_STYLES:
        for _ in range(20):
            text = ph.render(number, style, rng)
            assert not NANP.search(text.translate(str.maketrans("", "", "\ufe0f\u20e3"))) or (
                style in {"fullwidth", "spaced", "keycap"}
            ), (style, text)
    assert 300 < len(ph.valid_area_codes()) < 500


def test_phone_pool_never_repeats_and_runs_out_gracefully(monkeypatch: pytest.MonkeyPatch) -> None:
    # Five area codes (500 numbers, hubs included) run out long before 20,000 ads' posters.
    monkeypatch.setattr(ph, "valid_area_codes", lambda: ("212", "312", "713", "907", "415"))
    the_plan = plan(20_000, random.Random(2))
    assert the_plan.phone_pool == 500 - 3
    numbers = [n for p in the_plan.posters for n in p.phones]
    assert len(numbers) == len(set(numbers))
    assert len(numbers) <= the_plan.phone_pool
    assert not set(numbers) & set(the_plan.hub_phones)
    assert any(not p.phones for p in the_plan.posters)
    assert all(p.phones for p in the_plan.posters if p.kind == "organised")
    assert all(re.fullmatch(r"[2-9]\d\d55501\d\d", n) for n in numbers)


def test_data_files_cite_sources_and_keep_cues_out_of_neutral_wording() -> None:
    for name in ("phrases", "cues", "cities", "names", "sites", "obfuscation"):
        assert load(name)["source"].strip()
    for category in load("cues")["categories"].values():
        assert category["source"].strip()
    for city in load("cities")["cities"]:
        for ac in city["area_codes"]:
            assert ac in ph.valid_area_codes(), (city["city"], ac)
    cue_words = re.compile(
        r"\b(young|new|fresh|petite|innocent|manager|agent|driver|discreet|verified|visiting|"
        r"leaving|arrived|references?|screening|exotic|shy|tiny|barely)\b|🍒|💗|🌸",
        re.IGNORECASE,
    )
    phrases = load("phrases")
    neutral = [*phrases["titles"], *(w for ws in phrases["words"].values() for w in ws)]
    neutral += [s for cat, ss in phrases["voice"].items() for s in ss]
    for text in neutral:
        assert not cue_words.search(text), text
