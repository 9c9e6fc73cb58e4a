"""What keeps the analyst's pages fast on a large database, without changing what they show:
bounded search ranking (said on the page), snippets only for the hits shown, filters applied
before the limit, and query plans that read a few rows, never a whole table, per request."""

from __future__ import annotations

import dataclasses
import gc
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from safelight.cases import users
from safelight.settings import Settings
from safelight.store import Store
from safelight.store.fts import HIGHLIGHT_OPEN
from safelight.web import queries
from safelight.web.app import create_app
from test_web_corpus import HOSTILE_ID, HOSTILE_PHONE, add_ads, cheap_password_hashing, corpus_db

cheap_password_hashing()

# ---- the store, on both backends ------------------------------------------------------------


def _sweet_ads(store: Store, n: int = 30) -> list[int]:
    words = ["quiet", "friendly", "downtown", "weekend", "visiting", "discreet"]
    return add_ads(
        store,
        [
            {
                "id": f"s{i:02d}",
                "body": "Sweet companion " + " ".join(words[: 1 + i % 6]) + " sweet" * (i % 4),
                "score": round(0.05 * (i % 20), 2),
                "site": "site-a" if i % 2 else "site-b",
            }
            for i in range(n)
        ],
    )


def test_ranking_can_be_bounded_to_the_newest_matches(store: Store) -> None:
    pks = _sweet_ads(store)
    ids_by_pk = {pk: f"s{i:02d}" for i, pk in enumerate(pks)}
    everything = store.search("sweet", limit=100)
    assert len(everything) == 30
    info: dict[str, Any] = {}
    assert store.search("sweet", limit=100, rank_within=100, info=info) == everything
    assert info == {}  # nothing was left out, nothing to say
    if store.dialect == "postgresql":  # the bound would cost more than it saves: all ranked
        assert store.search("sweet", limit=100, rank_within=10, info=info) == everything
        assert info == {}
        return
    newest = {ids_by_pk[pk] for pk in sorted(pks)[-10:]}
    bounded = store.search("sweet", limit=100, rank_within=10, info=info)
    assert {a["id"] for a in bounded} == newest
    assert info == {"ranked_within": 10}
    # ...best first among those, in the same order as the full ranking
    assert [a["id"] for a in bounded] == [a["id"] for a in everything if a["id"] in newest]
    info = {}  # with a filter, the bound counts the ads that pass it
    filtered = store.search("sweet", site="site-a", limit=100, rank_within=5, info=info)
    site_a = sorted(pk for pk in pks if int(ids_by_pk[pk][1:]) % 2)  # odd ones are site-a
    assert info == {"ranked_within": 5}
    assert {a["id"] for a in filtered} == {ids_by_pk[pk] for pk in site_a[-5:]}


def test_snippets_only_for_the_hits_shown(store: Store) -> None:
    _sweet_ads(store)
    full = store.search("sweet", limit=20)
    some = store.search("sweet", limit=20, snippets=5)
    assert [a["id"] for a in some] == [a["id"] for a in full]
    assert [a["snippet"] for a in some[:5]] == [a["snippet"] for a in full[:5]]
    assert all(HIGHLIGHT_OPEN in a["snippet"] for a in some[:5])
    assert all(a["snippet"] is None for a in some[5:])
    assert all(HIGHLIGHT_OPEN in a["snippet"] for a in full)


def test_min_score_filters_before_the_limit(store: Store) -> None:
    _sweet_ads(store)
    found = store.search("sweet", min_score=0.5, limit=100)
    assert found and all(a["score"] >= 0.5 for a in found)
    assert len(found) == sum(1 for i in range(30) if 0.05 * (i % 20) >= 0.5 - 1e-9)
    assert len(store.search("sweet", min_score=0.5, limit=3)) == 3


def test_lookup_limit_keeps_every_match_of_the_ads_it_returns(store: Store) -> None:
    add_ads(
        store,
        [
            {
                "id": f"p{i}",
                "posted_at": f"2026-03-{i + 1:02d}T10:00:00Z",
                "body": f"Ad {i}: call 713-555-0142, again 713.555.0142",
                "mentions": [
                    ("phone", "713-555-0142", "+17135550142"),
                    ("phone", "713.555.0142", "+17135550142"),
                ],
            }
            for i in range(5)
        ],
    )
    found = store.find_mentions([("phone", "+17135550142")], limit=3)
    assert [a["id"] for a in found["ads"]] == ["p4", "p3", "p2"]  # newest first
    assert all(len(a["matches"]) == 2 for a in found["ads"])
    assert store.find_mentions([("phone", "+17135550142")])["count"] == 5


# ---- the pages, on the shared corpus --------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[SimpleNamespace]:  # type: ignore[no-untyped-def]
    root: Path = tmp_path_factory.mktemp("web-scaling")
    url = corpus_db(root)
    store = Store.open(url)
    users.add_user(store, "ann", "analyst", "a long password")
    token = users.create_token(store, "ann")
    client = TestClient(
        create_app(Settings.from_env({}, db=url), store),
        headers={"Authorization": f"Bearer {token}"},
    )
    with store.engine.connect() as conn:
        network = conn.scalar(
            sa.text("SELECT id FROM networks WHERE size > 2 ORDER BY score DESC, id LIMIT 1")
        )
        busy_phone = conn.scalar(  # a phone in several ads: its page reads their selectors
            sa.text(
                "SELECT value FROM mentions WHERE kind = 'phone' GROUP BY value"
                " HAVING count(DISTINCT ad_pk) >= 3 ORDER BY value LIMIT 1"
            )
        )
    yield SimpleNamespace(store=store, c=client, url=url, network=network, busy_phone=busy_phone)
    store.close()


def test_search_page_says_when_a_bound_applied(env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    page = env.c.get("/search?q=roses").text
    assert "most recently added" not in page and "Counted over the best" not in page
    state = env.c.app.state
    kept = state.settings
    state.settings = dataclasses.replace(kept, search_rank_within=5)  # SAFELIGHT_SEARCH_RANK_WITHIN
    monkeypatch.setattr(queries, "SEARCH_POOL", 3)
    try:
        page = env.c.get("/search?q=roses").text
        found = env.c.get("/api/search?q=roses").json()
    finally:
        state.settings = kept
    assert "More than 5 ads match: these are the best of the 5 most recently added." in page
    assert "Counted over the best 3 matches." in page
    assert found["ranked_within"] == 5 and found["facets_over"] == 3 and found["truncated"]


def test_triage_page_counts_ads_without_listing_them(env) -> None:  # type: ignore[no-untyped-def]
    items = env.c.get("/api/triage?limit=10").json()["items"]
    page = env.c.get("/?limit=10").text
    for it in items:
        assert len(it["ads"]) == it["size"]
        assert f"network {it['network']}</a><br><small>{it['size']} ads</small>" in page


def test_startup_loads_what_first_requests_need(env) -> None:  # type: ignore[no-untyped-def]
    app = create_app(Settings.from_env({}, db=env.url), env.store)
    with TestClient(app) as c:  # runs the lifespan: templates compiled, extractors loaded
        assert c.get("/login").status_code == 200
        # ...and frozen, so full collections skip them (their pauses were the network page's p95)
        assert gc.get_freeze_count() > 0


# Tables that grow with the ads: a request may look rows up in them, never read one whole.
# The only scans allowed are in index order under a LIMIT (the triage queue, the networks
# list) or of a partial index that holds only unscored networks.
BIG = ("ads", "mentions", "hits", "networks", "ad_networks", "links", "photos", "ad_templates")
ALLOWED_SCANS = ("ix_networks_rank", "ix_networks_unscored", "ix_networks_size_id")


def test_pages_read_no_big_table_whole(env) -> None:  # type: ignore[no-untyped-def]
    statements: list[tuple[str, Any]] = []

    def grab(conn, cursor, statement, params, context, many) -> None:  # type: ignore[no-untyped-def]
        if not many and statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, params))

    paths = [
        "/",
        "/api/triage",
        "/networks",
        "/search?q=roses",
        "/api/search?q=roses+meet",
        "/search?q=roses&site=example-listings&place=Houston,+TX",
        f"/api/lookup?value={HOSTILE_PHONE}",
        f"/ads/{HOSTILE_ID}",
        f"/api/ads/{HOSTILE_ID}",
        f"/networks/{env.network}",
        f"/api/networks/{env.network}",
        f"/entities/phone/{HOSTILE_PHONE}",
        f"/entities/phone/{env.busy_phone}",
        f"/api/entities/phone/{env.busy_phone}",
    ]
    sa.event.listen(env.store.engine, "before_cursor_execute", grab)
    try:
        for path in paths:
            assert env.c.get(path).status_code == 200, path
        # a decision reads the network's facts (its ads' phones, ages, names) to keep with it
        status = {"status": "reviewing", "reason": "checking"}
        assert env.c.post(f"/api/triage/{env.network}/status", json=status).status_code == 200
    finally:
        sa.event.remove(env.store.engine, "before_cursor_execute", grab)
    raw = env.store.engine.raw_connection()
    whole = re.compile(r"SCAN (" + "|".join(BIG) + r")\b")
    # ...nor every mention of a kind (all the phones), when it wants some ads' mentions
    every_of_kind = re.compile(r"USING (COVERING )?INDEX ix_mentions_kind_value \(kind=\?\)$")
    bad = []
    try:
        for statement, params in statements:
            plan = [row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + statement, params)]
            for line in plan:
                if (
                    whole.match(line) and not any(ix in line for ix in ALLOWED_SCANS)
                ) or every_of_kind.search(line):
                    bad.append((line, " ".join(statement.split())[:160]))
            if "FROM networks LEFT OUTER JOIN triage_status" in statement:  # the queue
                assert not any("TEMP B-TREE" in line for line in plan), plan
    finally:
        raw.close()
    assert bad == []
