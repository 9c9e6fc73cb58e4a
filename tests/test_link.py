"""Linking: templates with slots, drift chains, hubs, incremental = rebuild, restarts."""

from __future__ import annotations

import hashlib
import random

from safelight.link.incremental import link_new, rebuild
from safelight.link.networks import get_network, list_networks, network_of_ad
from safelight.link.template import text_signature
from safelight.records import Ad, Mention, ProcessedAd
from safelight.settings import Settings
from safelight.store import Store

WORDS = [
    "amber",
    "basil",
    "cedar",
    "delta",
    "ember",
    "fable",
    "garnet",
    "harbor",
    "island",
    "juniper",
    "kettle",
    "lantern",
    "meadow",
    "nutmeg",
    "orchard",
    "pepper",
    "quartz",
    "river",
    "saffron",
    "timber",
    "umber",
    "velvet",
    "willow",
    "yarrow",
    "zephyr",
    "anchor",
    "beacon",
    "canyon",
    "dune",
    "estuary",
    "fjord",
    "glacier",
    "hollow",
    "inlet",
    "jetty",
    "knoll",
    "lagoon",
    "mesa",
]


def _ad(
    ad_id: str,
    text: str,
    phones: tuple[str, ...] = (),
    when: str = "2026-03-01T10:00:00Z",
    place: str = "Houston, TX",
) -> ProcessedAd:
    mentions = []
    for phone in phones:
        start = text.index(phone) if phone in text else -1
        mentions.append(
            Mention(
                "phone",
                "+1" + phone.replace("-", ""),
                phone,
                start,
                start + len(phone) if start >= 0 else -1,
            )
        )
    ad = Ad(
        id=ad_id,
        title="",
        body=text,
        posted_at=when,
        location=place,
        raw_sha256=hashlib.sha256(f"{ad_id}\0{text}".encode()).hexdigest(),
    )
    return ProcessedAd(
        ad=ad,
        mentions=mentions,
        place=place,
        features={"signature": text_signature(text, mentions)},
    )


def _random_text(rng: random.Random, n: int = 30) -> str:
    return " ".join(
        rng.choice(WORDS) + str(rng.randint(0, 9)) * 0 + rng.choice("bcdfg") for _ in range(n)
    )


SETTINGS = Settings(db="unused", hub_min_groups=4, template_threshold=0.6, template_min_tokens=12)


def _partition(store: Store) -> set[frozenset[str]]:
    return {frozenset(n["ads"]) for n in list_networks(store, min_size=1)}


def test_template_family_with_slots_is_one_network(store):
    base = (
        "Hello gentlemen my name is {name} and I am visiting {city} for a short time only "
        "sweet friendly and professional company call {phone} to arrange a meeting today"
    )
    names = ["Jade", "Mia", "Ruby", "Sasha", "Tia"]
    phones = ["713-555-0101", "713-555-0102", "713-555-0103", "713-555-0104", "713-555-0105"]
    items = [
        _ad(f"t{i}", base.format(name=n, city=c, phone=p), (p,))
        for i, (n, c, p) in enumerate(
            zip(names, ["Houston", "Dallas", "Austin", "Waco", "Tyler"], phones, strict=True)
        )
    ]
    store.add_batch(items)
    link_new(store, SETTINGS)
    nets = list_networks(store)
    assert len(nets) == 1 and sorted(nets[0]["ads"]) == [f"t{i}" for i in range(5)]
    net = get_network(store, nets[0]["id"])
    assert net["template"] is not None and net["template"]["ads"] == 5
    assert any("joined the text template" in w for ad in net["ads"] for w in ad["why"])
    assert all(e["evidence"]["similarity"] >= 0.6 for e in net["edges"] if e["kind"] == "template")


def test_drift_chain_ends_stay_apart(store):
    rng = random.Random(3)
    words = [rng.choice(WORDS) + rng.choice("bcdfg") for _ in range(60)]
    versions = [list(words)]
    for step in range(3):  # each step rewrites a different block of 12 words
        nxt = list(versions[-1])
        for i in range(step * 20, step * 20 + 12):
            nxt[i] = rng.choice(WORDS) + "x" + str(step)
        versions.append(nxt)
    items = [_ad(f"d{i}", " ".join(v)) for i, v in enumerate(versions)]
    store.add_batch(items)
    link_new(store, SETTINGS)
    assert network_of_ad(store, "d0") != network_of_ad(store, "d3")


def test_hub_number_does_not_merge_posters(store):
    rng = random.Random(5)
    items = []
    for poster in range(6):
        own = f"281-555-01{10 + poster}"
        for k in range(2):
            text = _random_text(rng) + f" call {own}"
            phones: tuple[str, ...] = (own,)
            if k == 0:
                text += " site help line 212-555-0100"
                phones = (own, "212-555-0100")
            items.append(_ad(f"p{poster}-{k}", text, phones))
    store.add_batch(items)
    link_new(store, SETTINGS)
    parts = _partition(store)
    assert {frozenset({f"p{p}-0", f"p{p}-1"}) for p in range(6)} <= parts
    hub = get_network(store, network_of_ad(store, "p0-0"))
    assert any(s["hub"] and s["value"] == "+12125550100" for s in hub["selectors"])


def test_shared_controller_phone_links_persons(store):
    rng = random.Random(9)
    items = [
        _ad(f"c{i}", _random_text(rng) + " call 305-555-0150", ("305-555-0150",)) for i in range(3)
    ]
    store.add_batch(items)
    link_new(store, SETTINGS)
    assert len({network_of_ad(store, f"c{i}") for i in range(3)}) == 1


def _corpus(rng: random.Random) -> list[ProcessedAd]:
    items = []
    for op in range(5):  # operations: each its own template with slots + a controller phone
        phone = f"40{op}-555-01{20 + op}"
        tmpl = (
            _random_text(rng, 20) + " my name is {n} visiting {c} " + _random_text(rng, 10) + " {p}"
        )
        for k in range(6):
            items.append(
                _ad(f"op{op}-{k}", tmpl.format(n=WORDS[k], c=WORDS[k + 5], p=phone), (phone,))
            )
    for ind in range(12):  # independents, some sharing the footer hub
        own = f"61{ind % 10}-555-01{50 + ind}"
        text = _random_text(rng) + f" {own}"
        phones: tuple[str, ...] = (own,)
        if ind % 2 == 0:
            text += " help 212-555-0100"
            phones = (own, "212-555-0100")
        items.append(_ad(f"ind{ind}", text, phones))
    rng.shuffle(items)
    return items


def test_incremental_equals_rebuild_and_survives_restart(db_url):
    items = _corpus(random.Random(11))
    url = db_url
    store = Store.open(url)
    ids_after: list[set[str]] = []
    for part in (items[:15], items[15:30], items[30:]):
        store.add_batch(part)
        link_new(store, SETTINGS)
        ids_after.append({n["id"] for n in list_networks(store)})
    incremental = {(n["id"], frozenset(n["ads"])) for n in list_networks(store, min_size=1)}
    store.close()

    reopened = Store.open(url)  # networks survive a restart
    assert {
        (n["id"], frozenset(n["ads"])) for n in list_networks(reopened, min_size=1)
    } == incremental
    rebuild(reopened, SETTINGS)
    rebuilt = {(n["id"], frozenset(n["ads"])) for n in list_networks(reopened, min_size=1)}
    assert rebuilt == incremental
    ops = [frozenset(f"op{o}-{k}" for k in range(6)) for o in range(5)]
    assert all(op in {ads for _, ads in rebuilt} for op in ops)
    reopened.close()


def test_network_ids_stable_when_network_grows(store):
    rng = random.Random(2)
    first = [_ad(f"g{i}", _random_text(rng) + " 832-555-0177", ("832-555-0177",)) for i in range(3)]
    store.add_batch(first)
    link_new(store, SETTINGS)
    before = network_of_ad(store, "g0")
    store.add_batch([_ad("g9", _random_text(rng) + " 832-555-0177", ("832-555-0177",))])
    link_new(store, SETTINGS)
    assert network_of_ad(store, "g9") == before == network_of_ad(store, "g0")
