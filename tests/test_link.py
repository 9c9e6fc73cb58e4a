"""Linking: templates with slots, drift chains, hubs, incremental = rebuild, restarts."""

from __future__ import annotations

import hashlib
import random

import numpy as np

from safelight.link.hubs import Identities, count_groups
from safelight.link.incremental import link_new, rebuild
from safelight.link.networks import get_network, list_networks, network_of_ad
from safelight.link.photos import spanning_forest
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


def _reference_groups(
    ads_of: dict[int, list[int]], keys_of: dict[int, list[int]], ignore: set[int]
) -> dict[int, int]:
    return {s: count_groups(sorted(pks), keys_of, s, ignore) for s, pks in ads_of.items()}


def test_vectorised_hub_groups_follow_the_rule():
    """hubs.Identities counts the same groups as the documented per-selector rule."""
    rng = random.Random(21)
    for _ in range(40):
        n_ads = rng.randint(5, 60)
        n_keys = rng.randint(3, 40)
        templates = set(rng.sample(range(n_keys), k=n_keys // 4))
        keys_of: dict[int, list[int]] = {}
        for ad in range(n_ads):
            keys = rng.sample(range(n_keys), k=rng.randint(0, 4))
            tpl_keys = [k for k in keys if k in templates][:1]  # one template an ad at most
            keys_of[ad] = [k for k in keys if k not in templates] + tpl_keys
        carriers: dict[int, list[int]] = {}
        for ad, keys in keys_of.items():
            for k in keys:
                carriers.setdefault(k, []).append(ad)
        multi = sorted(k for k, a in carriers.items() if len(a) > 1 and k not in templates)
        multi_tpl = sorted(k for k, a in carriers.items() if len(a) > 1 and k in templates)
        # as link_new sees it: single-ad templates are no identity at all
        keys_of = {
            ad: [k for k in keys if k not in templates or k in multi_tpl]
            for ad, keys in keys_of.items()
        }
        ptr = np.cumsum([0] + [len(carriers[k]) for k in multi])
        sel_ads = np.asarray([a for k in multi for a in carriers[k]], dtype=np.int64)
        t_pairs = [(a, i) for i, k in enumerate(multi_tpl) for a in carriers[k]]
        lonely = np.zeros(n_ads, dtype=bool)
        for k, a in carriers.items():
            if len(a) == 1 and k not in templates:
                lonely[a[0]] = True
        ident = Identities(
            ptr,
            sel_ads,
            n_ads,
            np.asarray([a for a, _ in t_pairs], dtype=np.int64),
            np.asarray([i for _, i in t_pairs], dtype=np.int64),
            lonely,
        )
        which = np.arange(len(multi))
        hubs = set(rng.sample(multi, k=min(len(multi), 2)))
        ignore = np.asarray([k in hubs for k in multi] + [False] * len(multi_tpl), dtype=bool)
        for ignored, mask in ((set(), None), (hubs, ignore)):
            expected = _reference_groups({k: carriers[k] for k in multi}, keys_of, ignored)
            got = ident.count_groups(which, mask)
            assert dict(zip(multi, got.tolist(), strict=True)) == expected


def _reference_forest(
    pairs: list[tuple[int, int, int]], old: list[tuple[int, int]]
) -> list[tuple[int, int, int]]:
    """The sequential union-find the forest is defined by."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for a, b in old:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    kept = []
    for a, b, d in sorted(pairs, key=lambda p: (p[1], p[2], p[0])):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
            kept.append((a, b, d))
    return kept


def test_photo_spanning_forest_is_the_sequential_one():
    rng = random.Random(8)
    for _ in range(40):
        n = rng.randint(2, 40)
        pairs = {}
        for _ in range(rng.randint(1, 80)):
            a, b = rng.sample(range(1, n + 1), 2)
            pairs[(min(a, b), max(a, b))] = rng.randint(0, 5)  # many ties
        old = [tuple(rng.sample(range(1, n + 1), 2)) for _ in range(rng.randint(0, 5))]
        flat = [(a, b, d) for (a, b), d in pairs.items()]
        arr = np.asarray(flat, dtype=np.int64)
        olds = np.asarray(old, dtype=np.int64).reshape(-1, 2)
        got = spanning_forest(arr[:, 0], arr[:, 1], arr[:, 2], olds[:, 0], olds[:, 1])
        assert list(zip(*(x.tolist() for x in got), strict=True)) == _reference_forest(flat, old)
        big = 1 << 40  # ad keys too large for the one-key sort: the lexsort path
        again = spanning_forest(
            arr[:, 0] + big, arr[:, 1] + big, arr[:, 2], olds[:, 0] + big, olds[:, 1] + big
        )
        assert [
            (x - big, y - big, d) for x, y, d in zip(*(v.tolist() for v in again), strict=True)
        ] == [(x, y, d) for x, y, d in zip(*(v.tolist() for v in got), strict=True)]


def _one_by_one(
    pks: list[int], sigs: np.ndarray, keys: np.ndarray, threshold: float
) -> list[tuple[int, int, float]]:
    """The template rule taken literally: one ad at a time, in ad order."""
    bands: dict[int, list[int]] = {}
    leader_sig: dict[int, np.ndarray] = {}
    out = []
    for pk, sig, ad_keys in zip(pks, sigs, keys.tolist(), strict=True):
        best, best_sim = -1, 0.0
        for leader in sorted({x for k in ad_keys for x in bands.get(k, ())}):
            sim = float(np.count_nonzero(sig == leader_sig[leader])) / 64
            if sim > best_sim or (sim == best_sim and leader < best):
                best, best_sim = leader, sim
        if best >= 0 and best_sim >= threshold:
            out.append((pk, best, best_sim))
        else:
            for k in ad_keys:
                bands.setdefault(k, []).append(pk)
            leader_sig[pk] = sig
            out.append((pk, pk, 1.0))
    return out


def test_block_template_assignment_is_the_one_by_one_rule(monkeypatch):
    """link/assign.py decides in rounds and blocks what the rule decides ad by ad."""
    from safelight.link import assign
    from safelight.link.incremental import band_keys_many

    rng = np.random.default_rng(12)
    for trial in range(12):
        n = int(rng.integers(50, 400))
        families = rng.integers(0, 4, size=(int(rng.integers(2, 12)), 64)).astype(np.uint32)
        sigs = families[rng.integers(0, len(families), n)].copy()
        flips = rng.random((n, 64)) < rng.uniform(0.05, 0.5)  # drift: many near the threshold
        sigs[flips] = rng.integers(0, 4, int(flips.sum())).astype(np.uint32)
        pks = np.arange(1, n + 1, dtype=np.int64) * 3
        keys = band_keys_many(sigs)
        threshold = float(rng.choice([0.3, 0.6, 0.8]))
        if trial % 3 == 0:  # ads that must wait for lack of budget still end up right
            monkeypatch.setattr(assign, "_CHECK_BUDGET", 5)
        else:
            monkeypatch.setattr(assign, "_CHECK_BUDGET", 4_000_000)
        index = assign.LeaderIndex(np.zeros(0, np.int64), np.zeros(0, np.int64), {})
        need = assign.join_count(threshold)
        got = []
        cut = n // 3  # two blocks: the second also meets the first's leaders via the index
        for part in (slice(0, cut), slice(cut, n)):
            leader, agree = assign.assign_block(index, pks[part], sigs[part], keys[part], need)
            got += [
                (p, lead, c / 64)
                for p, lead, c in zip(
                    pks[part].tolist(), leader.tolist(), agree.tolist(), strict=True
                )
            ]
        assert got == _one_by_one(pks.tolist(), sigs, keys, threshold)


def test_photo_hash_lists_decode_like_json():
    """The batch shortcuts (all empty, all one hash) decode as the JSON parser would."""
    import json

    from safelight.link.photo_index import hex_to_codes
    from safelight.link.photos import _hash_lists

    rng = random.Random(4)

    def h() -> str:
        return "".join(rng.choice("0123456789abcdef") for _ in range(64))

    batches = [
        [json.dumps([h()]) for _ in range(5)],  # one hash each
        [None, None],  # all empty
        [json.dumps([h(), h()]), None, json.dumps([h()])],  # mixed: the parser
    ]
    for texts in batches:
        counts, codes = _hash_lists(texts)
        lists = [json.loads(t) if t else [] for t in texts]
        assert counts.tolist() == [len(x) for x in lists]
        assert (codes == hex_to_codes([x for hashes in lists for x in hashes])).all()


def test_update_reads_only_its_ads_mentions(tmp_path):
    """An update looks up the mentions of the ads it touches: never every mention of a kind
    (SQLite picks the (kind, value) index for `kind IN (...) AND ad_pk IN (...)`, which at 1M
    ads read every phone, email and photo hash once per chunk), nor the whole table."""
    import re

    import sqlalchemy as sa

    items = _corpus(random.Random(5))
    store = Store.open(str(tmp_path / "plan.db"))
    store.add_batch(items[:30])
    link_new(store, SETTINGS)
    store.add_batch(items[30:])
    statements: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        if not many and "mentions" in statement and statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, params))

    sa.event.listen(store.engine, "before_cursor_execute", grab)
    try:
        link_new(store, SETTINGS)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", grab)
    assert statements
    trap = re.compile(
        r"USING (COVERING )?INDEX ix_mentions_kind_value \(kind=\?\)$|SCAN mentions\b"
    )
    raw = store.engine.raw_connection()
    try:
        bad = [
            (line, " ".join(sql.split())[:120])
            for sql, params in statements
            for *_, line in raw.execute("EXPLAIN QUERY PLAN " + sql, params)
            if trap.search(line)
        ]
    finally:
        raw.close()
    store.close()
    assert bad == []


def test_small_update_reads_only_leaders_sharing_a_band(db_url, monkeypatch):
    """An update of a few ads on a larger database reads only the template leaders sharing an
    LSH band with them, not every leader's 16 bands, and assigns as a rebuild would."""
    import sqlalchemy as sa

    from safelight.link import incremental

    items = _corpus(random.Random(7))
    late = {"op2-5", "ind3"}  # joins its operation's template; starts its own
    store = Store.open(db_url)
    store.add_batch([it for it in items if it.ad.id not in late])
    link_new(store, SETTINGS)
    store.add_batch([it for it in items if it.ad.id in late])
    read: list[int] = []
    full_index = incremental._leader_index

    def spy(conn, keys=None):  # type: ignore[no-untyped-def]
        index = full_index(conn, keys)
        read.append(-1 if keys is None else len(index.keys))
        return index

    monkeypatch.setattr(incremental, "_leader_index", spy)
    link_new(store, SETTINGS)
    query = "SELECT ad_pk, leader_pk, similarity FROM ad_templates ORDER BY ad_pk"
    with store.engine.connect() as conn:
        updated = conn.execute(sa.text(query)).all()
        bands = conn.scalar(sa.text("SELECT count(*) FROM template_bands"))
    assert len(read) == 1 and 0 < read[0] < bands
    partition = _partition(store)
    rebuild(store, SETTINGS)
    with store.engine.connect() as conn:
        assert conn.execute(sa.text(query)).all() == updated
    assert _partition(store) == partition
    store.close()


def test_ads_stored_while_a_link_runs_are_linked_by_the_next_one_once(db_url, monkeypatch):
    """On PostgreSQL each statement sees what other transactions committed since, so an ingest
    can add ads while a link runs. The link takes the ads up to the newest key it read first;
    the next link takes the rest, once (a template row twice would fail every later link)."""
    import sqlalchemy as sa

    from safelight.link import incremental

    items = _corpus(random.Random(3))
    store = Store.open(db_url)
    store.add_batch(items)
    real_top = incremental._top
    monkeypatch.setattr(incremental, "_top", lambda conn: real_top(conn) - 2)  # 2 came later
    first = link_new(store, SETTINGS)
    monkeypatch.setattr(incremental, "_top", real_top)
    second = link_new(store, SETTINGS)
    assert (first.new_ads, second.new_ads) == (len(items) - 2, 2)
    with store.engine.connect() as conn:
        templated = conn.scalar(sa.text("SELECT count(*) FROM ad_templates"))
        distinct = conn.scalar(sa.text("SELECT count(DISTINCT ad_pk) FROM ad_templates"))
    assert templated == distinct == len(items)
    partition = _partition(store)
    rebuild(store, SETTINGS)
    assert _partition(store) == partition
    store.close()


def test_links_run_one_at_a_time(db_url):
    """Two ingests finishing together must not link the same new ads at once: a second link
    waits for the first's transaction (PostgreSQL: an advisory lock; SQLite: its writer lock)
    and only then reads the watermark, so it sees what the first linked."""
    import threading

    import sqlalchemy as sa

    from safelight.link import incremental

    store = Store.open(db_url)
    store.add_batch(_corpus(random.Random(4)))
    done: list[int] = []
    with store.engine.connect() as first:  # a link in progress, about to commit its watermark
        with first.begin():
            if db_url.startswith("postgresql"):
                lock = "SELECT pg_advisory_xact_lock(:k)"
                first.execute(sa.text(lock), {"k": incremental.LINK_LOCK_KEY})
            first.execute(
                sa.text("INSERT INTO meta (key, value) VALUES (:k, (SELECT max(pk) FROM ads))"),
                {"k": incremental.WATERMARK},
            )
            second = threading.Thread(target=lambda: done.append(link_new(store, SETTINGS).new_ads))
            second.start()
            second.join(1.0)
            assert second.is_alive() and not done  # waiting for the first
        second.join(30)
    assert done == [0]  # it read the watermark the first left: nothing linked twice
    store.close()
