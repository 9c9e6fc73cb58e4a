"""CSRF: every route that changes something refuses a cookie-authenticated request without the
session's token, whatever the route and whatever else is wrong with the request; bearer calls
need none; the token is per session and is replaced at login."""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from safelight.cases import users
from safelight.settings import Settings
from safelight.store import Store
from safelight.web.app import create_app
from safelight.web.deps import UNSAFE
from test_web_corpus import cheap_password_hashing, corpus_db, csrf_of, login

cheap_password_hashing()

PASSWORD = "a long password"


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[SimpleNamespace]:  # type: ignore[no-untyped-def]
    url = corpus_db(tmp_path_factory.mktemp("csrf"))
    store = Store.open(url)
    users.add_user(store, "root", "admin", PASSWORD)
    app = create_app(Settings.from_env({}, db=url), store)
    c = TestClient(app)
    token = login(c, "root", PASSWORD)
    yield SimpleNamespace(store=store, app=app, client=c, csrf=token)
    store.close()


def _changing_routes() -> list[tuple[str, str]]:
    """Every (method, path) that changes something, read from the routers themselves (the app
    wraps included routers lazily), with any id filled in."""
    from safelight.web import api, pages, pages_cases

    out = []
    for route in [*api.router.routes, *pages.router.routes, *pages_cases.router.routes]:
        for method in sorted(getattr(route, "methods", set()) & UNSAFE):
            path = re.sub(r"\{[^}]+\}", "1", route.path)
            out.append((method, path))
    return out


def test_every_changing_route_refuses_a_cookie_request_without_the_token(env) -> None:  # type: ignore[no-untyped-def]
    routes = [r for r in _changing_routes() if r[1] != "/login"]
    assert len(routes) >= 20  # pages and API alike
    bad_tokens = [None, "", "x" * 43, env.csrf[:-1], env.csrf.upper()]
    for method, path in routes:
        for bad in bad_tokens:
            headers = {} if bad is None else {"X-CSRF-Token": bad}
            r = env.client.request(method, path, headers=headers, json={"title": "forged"})
            assert r.status_code == 403, (method, path, bad, r.status_code)
            form = {"title": "forged"} if bad is None else {"title": "forged", "csrf": bad}
            r = env.client.request(method, path, data=form)
            assert r.status_code == 403, (method, path, bad, r.status_code)


def test_the_token_in_a_query_string_does_not_count(env) -> None:  # type: ignore[no-untyped-def]
    r = env.client.post(f"/cases?csrf={env.csrf}", data={"title": "via query"})
    assert r.status_code == 403


def test_forged_changes_leave_nothing_behind(env) -> None:  # type: ignore[no-untyped-def]
    before = env.client.get("/api/cases", headers={"X-CSRF-Token": env.csrf}).json()
    env.client.post("/api/cases", json={"title": "forged"})
    env.client.post("/cases", data={"title": "forged"})
    after = env.client.get("/api/cases").json()
    assert after == before


def test_the_real_token_works_by_header_and_by_form(env) -> None:  # type: ignore[no-untyped-def]
    r = env.client.post("/api/cases", json={"title": "ok"}, headers={"X-CSRF-Token": env.csrf})
    assert r.status_code == 201
    r = env.client.post("/cases", data={"title": "ok", "csrf": env.csrf}, follow_redirects=False)
    assert r.status_code == 303


def test_a_token_from_another_session_is_refused(env) -> None:  # type: ignore[no-untyped-def]
    other = TestClient(env.app)
    other_token = login(other, "root", PASSWORD)
    assert other_token != env.csrf
    r = env.client.post("/api/cases", json={"title": "x"}, headers={"X-CSRF-Token": other_token})
    assert r.status_code == 403


def test_login_replaces_the_token_and_the_session(env) -> None:  # type: ignore[no-untyped-def]
    c = TestClient(env.app)
    before = csrf_of(c.get("/login").text)
    cookie_before = c.cookies.get("safelight_session")
    after = login(c, "root", PASSWORD)
    assert after != before and c.cookies.get("safelight_session") != cookie_before
    r = c.post("/api/cases", json={"title": "old token"}, headers={"X-CSRF-Token": before})
    assert r.status_code == 403


def test_logout_is_a_protected_post(env) -> None:  # type: ignore[no-untyped-def]
    c = TestClient(env.app)
    token = login(c, "root", PASSWORD)
    assert c.get("/logout", follow_redirects=False).status_code in (303, 404, 405)
    assert c.post("/logout", follow_redirects=False).status_code == 403
    assert c.get("/api/me").status_code == 200  # still signed in
    assert c.post("/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
    assert c.get("/api/me").status_code == 401


def test_bearer_calls_need_no_token_and_a_bad_bearer_is_not_rescued(env) -> None:  # type: ignore[no-untyped-def]
    token = users.create_token(env.store, "root")
    c = TestClient(env.app)
    assert (
        c.post(
            "/api/cases", json={"title": "t"}, headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 201
    )
    # a signed-in browser sending a made-up bearer token gets no CSRF exemption for free
    r = env.client.post(
        "/api/cases", json={"title": "t"}, headers={"Authorization": "Bearer sl_made_up"}
    )
    assert r.status_code == 401
