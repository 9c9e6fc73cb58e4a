"""Response headers and cookie flags: a strict CSP, the usual protective headers, no caching
of anything carrying case or ad data, and session cookies that are HttpOnly, SameSite and
Secure whenever the request came by HTTPS (directly, or per a proxy we were told to trust)."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from safelight.cases import users
from safelight.settings import Settings
from safelight.store import Store
from safelight.web.app import create_app
from test_web_corpus import cheap_password_hashing, corpus_db, login

cheap_password_hashing()

PASSWORD = "a long password"
PAGES = ["/", "/search?q=sweet", "/lookup?value=713-555-0199", "/ads/hostile-1", "/networks"]
PAGES += ["/entities/phone/+17135550199", "/cases", "/watches", "/alerts"]
API = ["/api/triage", "/api/search?q=sweet", "/api/lookup?value=713-555-0199"]
API += ["/api/ads/hostile-1", "/api/networks", "/api/cases", "/api/watches", "/api/me"]
CSP_NEEDS = [
    "default-src 'self'",
    "script-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[SimpleNamespace]:  # type: ignore[no-untyped-def]
    url = corpus_db(tmp_path_factory.mktemp("headers"))
    store = Store.open(url)
    users.add_user(store, "root", "admin", PASSWORD)
    token = users.create_token(store, "root")

    def app(**overrides: object):  # type: ignore[no-untyped-def]
        return create_app(Settings.from_env({}, db=url, **overrides), store)

    yield SimpleNamespace(store=store, app=app(), make_app=app, token=token)
    store.close()


def _check_protective(headers: object) -> None:
    h = headers  # httpx Headers: case-insensitive
    csp = h["content-security-policy"]  # type: ignore[index]
    for directive in CSP_NEEDS:
        assert directive in csp, directive
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "*" not in csp
    assert h["x-content-type-options"] == "nosniff"  # type: ignore[index]
    assert h["referrer-policy"] == "no-referrer"  # type: ignore[index]
    assert h["x-frame-options"] == "DENY"  # type: ignore[index]
    policy = h["permissions-policy"]  # type: ignore[index]
    assert "camera=()" in policy and "geolocation=()" in policy and "microphone=()" in policy


def test_every_page_and_api_answer_is_protected_and_never_cached(env) -> None:  # type: ignore[no-untyped-def]
    c = TestClient(env.app)
    login(c, "root", PASSWORD)
    for path in PAGES:
        r = c.get(path)
        assert r.status_code == 200, path
        _check_protective(r.headers)
        assert r.headers["cache-control"] == "no-store", path
    bearer = TestClient(env.app, headers={"Authorization": f"Bearer {env.token}"})
    for path in API:
        r = bearer.get(path)
        assert r.status_code == 200, path
        _check_protective(r.headers)
        assert r.headers["cache-control"] == "no-store", path


def test_errors_refusals_and_the_login_page_are_protected_too(env) -> None:  # type: ignore[no-untyped-def]
    anon = TestClient(env.app)
    bearer = TestClient(env.app, headers={"Authorization": f"Bearer {env.token}"})
    for r in (
        anon.get("/login"),
        anon.get("/api/me"),  # 401
        anon.get("/ads/hostile-1", follow_redirects=False),  # 303 to login
        bearer.get("/api/ads/no-such-ad"),  # 404
        bearer.get("/api/search?q=%00"),  # refused at the door
        bearer.post("/api/cases", content=b"x" * 1_100_000),  # too large
    ):
        _check_protective(r.headers)
        assert r.headers["cache-control"] == "no-store"


def test_static_assets_are_ours_and_typed(env) -> None:  # type: ignore[no-untyped-def]
    r = TestClient(env.app).get("/static/app.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert r.headers["x-content-type-options"] == "nosniff"


def _session_cookie(response) -> str:  # type: ignore[no-untyped-def]
    cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    found = [c for c in cookies if c.startswith("safelight_session=")]
    assert found, cookies
    return found[-1].lower()


def _login_response(app, base_url: str = "http://testserver", headers=None):  # type: ignore[no-untyped-def]
    c = TestClient(app, base_url=base_url, headers=headers or {})
    from test_web_corpus import csrf_of

    token = csrf_of(c.get("/login").text)
    return c.post(
        "/login",
        data={"name": "root", "password": PASSWORD, "csrf": token},
        follow_redirects=False,
    )


def test_session_cookie_is_httponly_samesite_and_not_secure_on_plain_http(env) -> None:  # type: ignore[no-untyped-def]
    r = _login_response(env.app)
    assert r.status_code == 303
    cookie = _session_cookie(r)
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie
    assert "strict-transport-security" not in r.headers


def test_session_cookie_is_secure_over_https(env) -> None:  # type: ignore[no-untyped-def]
    r = _login_response(env.app, base_url="https://testserver")
    assert r.status_code == 303
    cookie = _session_cookie(r)
    assert "secure" in cookie and "httponly" in cookie
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_forwarded_proto_counts_only_from_a_trusted_proxy(env) -> None:  # type: ignore[no-untyped-def]
    forwarded = {"X-Forwarded-Proto": "https"}
    untrusted = _login_response(env.app, headers=forwarded)
    assert "secure" not in _session_cookie(untrusted)
    trusted = _login_response(env.make_app(trust_proxy=True), headers=forwarded)
    assert "secure" in _session_cookie(trusted)
    assert "strict-transport-security" in trusted.headers


def test_cookie_secure_setting_forces_the_flag(env) -> None:  # type: ignore[no-untyped-def]
    r = _login_response(env.make_app(cookie_secure=True))
    assert "secure" in _session_cookie(r)
