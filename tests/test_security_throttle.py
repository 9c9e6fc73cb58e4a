"""Login throttling: per user name (many addresses guessing one password) and per client
address (one machine spraying guesses over many accounts); the address comes from the peer,
or from X-Forwarded-For only when a proxy is trusted; throttled attempts are audited."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from safelight.cases import audit, users
from safelight.cases.auth import LoginThrottle
from safelight.settings import Settings
from safelight.store import Store
from safelight.web.app import create_app
from test_web_corpus import cheap_password_hashing, corpus_db, csrf_of

cheap_password_hashing()

PASSWORD = "a long password"


@pytest.fixture
def env(tmp_path) -> Iterator[SimpleNamespace]:  # type: ignore[no-untyped-def]
    url = corpus_db(tmp_path)
    store = Store.open(url)
    for name in ("victim", "other", "root"):
        users.add_user(store, name, "analyst", PASSWORD)

    def app(**overrides: object):  # type: ignore[no-untyped-def]
        return create_app(Settings.from_env({}, db=url, **overrides), store)

    yield SimpleNamespace(store=store, app=app)
    store.close()


def _attempt(client: TestClient, name: str, password: str, ip: str | None = None) -> int:
    headers = {"X-Forwarded-For": f"203.0.113.1, {ip}"} if ip else {}
    token = csrf_of(client.get("/login").text)
    r = client.post(
        "/login",
        data={"name": name, "password": password, "csrf": token},
        headers=headers,
        follow_redirects=False,
    )
    return r.status_code


# ---- the throttle on its own -------------------------------------------------------------------


def test_throttle_counts_users_and_addresses_apart() -> None:
    t = LoginThrottle(per_user=3, per_address=5, window=60)
    for n in range(3):
        assert not t.blocked("Victim", f"10.0.0.{n}", now=n)
        t.failed("Victim", f"10.0.0.{n}", now=n)
    assert t.blocked(" victim ", "10.9.9.9", now=3)  # any address, name case-folded
    assert not t.blocked("someone", "10.9.9.9", now=3)
    assert not t.blocked("victim", "10.9.9.9", now=61)  # the window slid past


def test_throttle_per_address_and_success_clears_only_the_user() -> None:
    t = LoginThrottle(per_user=3, per_address=5, window=60)
    for n in range(5):
        t.failed(f"user{n}", "10.0.0.1", now=0)
    assert t.blocked("fresh", "10.0.0.1", now=1)
    assert not t.blocked("fresh", "10.0.0.2", now=1)
    t.failed("victim", "10.0.0.7", now=1)
    t.failed("victim", "10.0.0.7", now=1)
    t.succeeded("victim")
    t.failed("victim", "10.0.0.7", now=2)
    assert not t.blocked("victim", "10.0.0.8", now=2)


def test_throttle_memory_is_bounded() -> None:
    t = LoginThrottle(window=60, max_keys=100)
    for n in range(1000):
        t.failed(f"made-up-{n}", f"10.0.{n // 250}.{n % 250}", now=n / 1000)
    assert len(t._failures) <= 100


# ---- through the app ---------------------------------------------------------------------------


def test_one_user_guessed_from_many_addresses_is_throttled(env) -> None:  # type: ignore[no-untyped-def]
    c = TestClient(env.app(trust_proxy=True))
    codes = [_attempt(c, "victim", f"guess{n}", ip=f"198.51.100.{n}") for n in range(5)]
    assert codes == [401] * 5
    assert _attempt(c, "victim", PASSWORD, ip="198.51.100.99") == 429
    assert _attempt(c, "other", PASSWORD, ip="198.51.100.99") == 303  # others unaffected
    entries = audit.list_entries(env.store, action="login.throttled")
    assert entries and entries[0]["user"] == "victim"
    assert entries[0]["detail"]["ip"] == "198.51.100.99"


def test_one_address_spraying_many_users_is_throttled(env) -> None:  # type: ignore[no-untyped-def]
    c = TestClient(env.app(trust_proxy=True))
    limit = LoginThrottle().per_address
    codes = [_attempt(c, f"user{n}", "guess", ip="198.51.100.7") for n in range(limit)]
    assert codes == [401] * limit
    assert _attempt(c, "root", PASSWORD, ip="198.51.100.7") == 429
    assert _attempt(c, "root", PASSWORD, ip="198.51.100.8") == 303


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(env) -> None:  # type: ignore[no-untyped-def]
    c = TestClient(env.app())  # a client cannot dodge the address count by inventing headers
    limit = LoginThrottle().per_address
    codes = [_attempt(c, f"user{n}", "guess", ip=f"198.51.100.{n}") for n in range(limit)]
    assert codes == [401] * limit
    assert _attempt(c, "root", PASSWORD, ip="192.0.2.50") == 429


def test_a_right_password_resets_the_users_count(env) -> None:  # type: ignore[no-untyped-def]
    app = env.app()  # each attempt from its own peer address, as seen on the socket

    def peer(n: int) -> TestClient:
        return TestClient(app, client=(f"198.51.100.{n}", 50000))

    for n in range(4):
        assert _attempt(peer(n), "victim", f"guess{n}") == 401
    assert _attempt(peer(50), "victim", PASSWORD) == 303
    for n in range(4):
        assert _attempt(peer(n + 10), "victim", f"again{n}") == 401
    assert _attempt(peer(20), "victim", "again") == 401
    assert _attempt(peer(21), "victim", PASSWORD) == 429


def test_refusals_without_a_valid_form_are_not_counted(env) -> None:  # type: ignore[no-untyped-def]
    c = TestClient(env.app())
    for _ in range(10):  # no CSRF token: 403, not a password guess
        assert c.post("/login", data={"name": "victim", "password": "x"}).status_code == 403
    assert _attempt(c, "victim", PASSWORD) == 303
