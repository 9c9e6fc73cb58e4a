"""Search and lookup stop at `Settings.query_timeout_ms` with a clear error instead of hanging."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from safelight.cases import users
from safelight.settings import Settings
from safelight.store import store as store_mod
from safelight.store.store import QueryTimeout, deadline, time_limit
from test_web_corpus import add_ads, cheap_password_hashing

cheap_password_hashing()

SLOW = {
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000)"
    " SELECT count(*) FROM c",
    "postgresql": "SELECT pg_sleep(5)",
}


def test_a_slow_statement_is_stopped(store) -> None:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn, pytest.raises(QueryTimeout), deadline(conn, 100):
        conn.execute(sa.text(SLOW[store.dialect])).all()
    with store.engine.connect() as conn:  # the connection is usable again, without the limit
        with deadline(conn, 2000):
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
        assert conn.execute(sa.text("SELECT 2")).scalar() == 2


def _ads(store) -> None:  # type: ignore[no-untyped-def]
    add_ads(
        store,
        [
            {
                "id": f"t{i}",
                "body": f"Sweet companionship number {i}, call 713-555-0142",
                "mentions": [("phone", "713-555-0142", "+17135550142")],
            }
            for i in range(200)
        ],
    )


def _jump(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every look at the clock is 1000 s later than the last: any limit is already over."""
    ticks = itertools.count(0, 1000)
    monkeypatch.setattr(store_mod, "_clock", lambda: next(ticks))


def test_search_and_find_mentions_respect_the_limit(store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _ads(store)
    assert len(store.search("sweet", limit=50, timeout_ms=5000)) == 50
    if store.dialect != "sqlite":
        pytest.skip("the clock trick drives SQLite's progress handler; PostgreSQL is checked above")
    _jump(monkeypatch)
    with pytest.raises(QueryTimeout):
        store.search("sweet companionship", limit=50, timeout_ms=10)
    with time_limit(10), pytest.raises(QueryTimeout):
        store.find_mentions([("phone", "+17135550142")])
    assert store.find_mentions([("phone", "+17135550142")])["count"] == 200  # no limit outside


def test_web_answers_503(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from safelight.store import Store
    from safelight.web.app import create_app

    url = f"sqlite:///{tmp_path / 'q.db'}"
    store = Store.open(url)
    _ads(store)
    users.add_user(store, "ann", "analyst", "a long password")
    client = TestClient(create_app(Settings(db=url, query_timeout_ms=50), store))
    client.headers["Authorization"] = f"Bearer {users.create_token(store, 'ann')}"
    assert client.get("/api/search?q=sweet").status_code == 200
    _jump(monkeypatch)
    for path in ("/api/search?q=sweet", "/api/lookup?value=713-555-0142", "/search?q=sweet"):
        r = client.get(path)
        assert r.status_code == 503, path
        assert "longer than 0.05 s" in r.text and "narrow it" in r.text
    store.close()
