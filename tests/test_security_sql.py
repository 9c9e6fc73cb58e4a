"""No SQL built from user input: hostile search, lookup and filter values on both backends are
only ever data. Every query answers (no server error), nothing is changed, and the one helper
that assembles SQL text (full-text search) puts no user words into it."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.testclient import TestClient

from safelight.cases import users
from safelight.settings import Settings
from safelight.store import fts
from safelight.web.app import create_app
from test_web_corpus import add_ads, cheap_password_hashing

cheap_password_hashing()

HOSTILE = [
    "'",
    '"',
    "' OR '1'='1",
    "'; DROP TABLE ads; --",
    '"; DROP TABLE ads; --',
    "1) OR 1=1 --",
    "%",
    "_",
    "%' OR 1=1 --",
    "\\",
    "\\'; SELECT 1; --",
    "ads_fts MATCH '*'",
    "sweet OR 1=1",
    "sweet NEAR(companionship)",
    "title:sweet",
    "sweet*",
    '"unbalanced',
    "(",
    "-sweet",
    "^sweet",
    "!sweet & companionship | x",
    "<->",
    ":*",
    "$1",
    "%(match)s",
    ":match",
    "?",
    "/* comment */",
    "UNION SELECT name, password FROM users --",
    "x" * 499,
    "\u202e\u0661\u0662\u0663 ☎️ 𝟕𝟏𝟑",
    "1e309",
    "nan",
    "2026-13-45' --",
]
ADS = [
    {
        "id": "sql-1",
        "title": "Sweet new friend",
        "body": "Sweet and young-looking companionship, call 713-555-0142 in Houston, TX",
        "place": "Houston, TX",
        "posted_at": "2026-01-02T10:00:00Z",
        "mentions": [("phone", "713-555-0142", "+17135550142")],
    },
    {
        "id": "sql-2",
        "title": "Visiting",
        "body": "Discreet visiting companionship, write sql@example.com",
        "place": "Dallas, TX",
        "posted_at": "2026-01-03T10:00:00Z",
        "mentions": [("email", "sql@example.com", "sql@example.com")],
    },
]


def test_search_sql_carries_no_user_words() -> None:
    words = fts.query_words('drop\'; table "ads" -- sweet')
    assert words == ["drop", "table", "ads", "sweet"]
    for dialect in ("sqlite", "postgresql"):
        sql = fts.search_statement(dialect, ["zzhostilezz"], ["a.site = :site"], 10**6)
        assert "zzhostilezz" not in sql and ":match" in sql
    assert fts.match_param("sqlite", ['a"b']) == '"a""b"'  # FTS5 phrase quoting, no operators


def test_store_queries_take_hostile_values_as_data(store) -> None:  # type: ignore[no-untyped-def]
    add_ads(store, ADS)
    for value in HOSTILE:
        store.search(value, site=value, place=value, date_from=value, date_to=value)
        store.search("sweet " + value)
        store.find_mentions([("phone", value), ("email", value), ("handle", value)])
        assert store.get_ad(value) is None
    assert store.count() == 2
    assert [a["id"] for a in store.search("sweet companionship")] == ["sql-1"]
    assert [a["id"] for a in store.search("companionship", place="Dallas, TX")] == ["sql-2"]


def test_api_takes_hostile_values_as_data(store, db_url) -> None:  # type: ignore[no-untyped-def]
    add_ads(store, ADS)
    users.add_user(store, "ann", "analyst", "a long password")
    token = users.create_token(store, "ann")
    c = TestClient(
        create_app(Settings.from_env({}, db=db_url), store),
        headers={"Authorization": f"Bearer {token}"},
        raise_server_exceptions=False,
    )
    failures = []
    for n, value in enumerate(HOSTILE):
        v = quote(value, safe="")
        urls = [
            f"/api/search?q={v}&site={v}&place={v}&from={v}&to={v}",
            f"/api/lookup?value={v}",
            f"/api/entities/{v}/{v}",
            f"/api/ads/{v}",
            f"/api/networks/{v}",
        ]
        if n % 3 == 0:  # the pages share the queries above: a sample is enough
            urls += [f"/api/search?q=sweet&min_score={v}", f"/api/networks?min_size={v}"]
            urls += [f"/search?q={v}&site={v}&place={v}", f"/lookup?value={v}"]
        for url in urls:
            status = c.get(url).status_code
            if status >= 500:
                failures.append((url[:120], status))
        status = c.post("/api/watches", json={"kind": "search", "value": value}).status_code
        if status >= 500:
            failures.append(("POST /api/watches", value[:60], status))
    for url in ("/api/networks?min_size=99999999999999999999", "/api/cases/99999999999"):
        if c.get(url).status_code >= 500:
            failures.append((url, "out of range"))
    assert failures == []
    assert store.count() == 2
    found = c.get("/api/search?q=sweet").json()
    assert [a["id"] for a in found["ads"]] == ["sql-1"]
    assert c.get("/api/lookup?value=713-555-0142").json()["count"] == 1
