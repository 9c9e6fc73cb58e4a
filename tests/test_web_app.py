"""The web app's doors: login, sessions, tokens, roles, CSRF, headers, and pages that carry
no inline script and no outside asset."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from safelight.cases import audit, users
from safelight.settings import Settings
from safelight.store import Store
from safelight.web.app import create_app
from test_web_corpus import cheap_password_hashing, csrf_of, login

cheap_password_hashing()

PASSWORD = "a long password"
ROLES = {"root": "admin", "ann": "analyst", "auditor": "auditor"}

PAGES = [
    "/",
    "/search?q=sweet",
    "/lookup?value=713-555-0199",
    "/ads/hostile-1",
    "/entities/phone/+17135550199",
    "/networks",
    "/cases",
    "/watches",
    "/alerts",
    "/audit",
]
API_GETS = [
    "/api/triage",
    "/api/search?q=sweet",
    "/api/lookup?value=713-555-0199",
    "/api/ads/hostile-1",
    "/api/entities/phone/+17135550199",
    "/api/networks",
    "/api/cases",
    "/api/watches",
    "/api/alerts",
    "/api/audit",
    "/api/audit/verify",
    "/api/me",
    "/api/openapi.json",
]
API_POSTS = [
    ("/api/cases", {"title": "x"}),
    ("/api/watches", {"value": "713-555-0199"}),
    ("/api/alerts/seen", {}),
    ("/api/triage/N1/status", {"status": "reviewing"}),
]
VIEW_ONLY = [
    "/",
    "/search?q=sweet",
    "/ads/hostile-1",
    "/networks",
    "/api/search?q=sweet",
    "/api/triage",
    "/api/ads/hostile-1",
]
WORK_ONLY = ["/cases", "/watches", "/alerts", "/api/cases", "/api/watches", "/api/alerts"]
AUDIT_ONLY = ["/audit", "/api/audit", "/api/audit/verify"]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[SimpleNamespace]:  # type: ignore[no-untyped-def]
    from test_web_corpus import corpus_db

    url = corpus_db(tmp_path_factory.mktemp("web-app"))
    store = Store.open(url)
    for name, role in ROLES.items():
        users.add_user(store, name, role, PASSWORD)
    app = create_app(Settings.from_env({}, db=url), store)
    yield SimpleNamespace(store=store, app=app, url=url, clients={})
    store.close()


def client(env: SimpleNamespace, name: str | None = None) -> TestClient:
    """A fresh anonymous client, or the module's logged-in client for `name` (one login each:
    Argon2 is slow on purpose)."""
    if name is None:
        return TestClient(env.app)
    if name not in env.clients:
        c = TestClient(env.app)
        c.csrf = login(c, name, PASSWORD)  # type: ignore[attr-defined]
        env.clients[name] = c
    return env.clients[name]


# ---- anonymous -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_pages_redirect_to_login(env, path: str) -> None:  # type: ignore[no-untyped-def]
    r = client(env).get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2F")


@pytest.mark.parametrize("path", API_GETS)
def test_anonymous_api_gets_401(env, path: str) -> None:  # type: ignore[no-untyped-def]
    r = client(env).get(path)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {"detail": "login required"}


@pytest.mark.parametrize(("path", "body"), API_POSTS)
def test_anonymous_api_changes_get_401(env, path: str, body: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    assert (
        client(env).post(path, json=body, headers={"Authorization": "Bearer sl_forged"}).status_code
        == 401
    )


def test_unknown_pages_do_not_tell_anonymous_visitors_anything(env) -> None:  # type: ignore[no-untyped-def]
    r = client(env).get("/no/such/page", follow_redirects=False)
    assert r.status_code == 303 and "/login" in r.headers["location"]
    assert client(env).get("/api/no/such").status_code in (401, 404)


def test_static_assets_are_served_locally(env) -> None:  # type: ignore[no-untyped-def]
    c = client(env)
    for path in (
        "/static/app.js",
        "/static/app.css",
        "/static/vendor/htmx/htmx.min.js",
        "/static/vendor/cytoscape/cytoscape.min.js",
        "/static/vendor/leaflet/leaflet.js",
        "/static/vendor/geo/regions.geojson",
    ):
        assert c.get(path).status_code == 200, path
    static = Path(__file__).parents[1] / "src/safelight/web/static/vendor"
    for folder in ("htmx", "cytoscape", "leaflet"):
        assert (static / folder / "LICENSE").exists()
    assert list((static / "geo").glob("LICENSE-*"))


# ---- login -----------------------------------------------------------------------------------


def test_login_logout_and_audit(env) -> None:  # type: ignore[no-untyped-def]
    c = client(env)
    token = csrf_of(c.get("/login").text)
    bad = c.post("/login", data={"name": "ann", "password": "wrong", "csrf": token})
    assert bad.status_code == 401 and "wrong password" in bad.text
    assert audit.list_entries(env.store, action="login.failed")[0]["user"] == "ann"
    ok = c.post(
        "/login",
        data={"name": "ann", "password": PASSWORD, "csrf": token, "next": "/search?q=x"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/search?q=x"
    assert c.get("/api/me").json()["name"] == "ann"
    page = c.get("/cases").text
    assert c.post("/logout", data={}).status_code == 403  # no CSRF token: refused
    assert (
        c.post("/logout", data={"csrf": csrf_of(page)}, follow_redirects=False).status_code == 303
    )
    assert c.get("/api/me").status_code == 401
    actions = [e["action"] for e in audit.list_entries(env.store, user="ann", limit=20)]
    assert "login" in actions and "logout" in actions


@pytest.mark.parametrize(
    "target",
    ["//elsewhere.example.com/", "https://elsewhere.example.com/", "/\\elsewhere.example.com"],
)
def test_login_never_redirects_off_site(env, target: str) -> None:  # type: ignore[no-untyped-def]
    c = client(env)
    token = csrf_of(c.get("/login").text)
    r = c.post(
        "/login",
        data={"name": "ann", "password": PASSWORD, "csrf": token, "next": target},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


def test_login_is_throttled_after_repeated_failures(env) -> None:  # type: ignore[no-untyped-def]
    users.add_user(env.store, "victim", "analyst", PASSWORD)
    c = client(env)
    token = csrf_of(c.get("/login").text)
    codes = [
        c.post(
            "/login", data={"name": "victim", "password": f"guess{n}", "csrf": token}
        ).status_code
        for n in range(6)
    ]
    assert codes == [401] * 5 + [429]
    # even the right password waits now
    assert (
        c.post("/login", data={"name": "victim", "password": PASSWORD, "csrf": token}).status_code
        == 429
    )


def test_login_form_needs_its_csrf_token(env) -> None:  # type: ignore[no-untyped-def]
    r = client(env).post("/login", data={"name": "ann", "password": PASSWORD})
    assert r.status_code == 403


def test_auditor_lands_on_the_audit_log(env) -> None:  # type: ignore[no-untyped-def]
    c = client(env)
    token = csrf_of(c.get("/login").text)
    r = c.post(
        "/login",
        data={"name": "auditor", "password": PASSWORD, "csrf": token},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/audit"


# ---- tokens ----------------------------------------------------------------------------------


def test_bearer_tokens_work_for_api_and_pages_and_need_no_csrf(env) -> None:  # type: ignore[no-untyped-def]
    token = users.create_token(env.store, "ann")
    c = client(env)
    auth = {"Authorization": f"Bearer {token}"}
    assert c.get("/api/me", headers=auth).json()["name"] == "ann"
    assert c.get("/", headers=auth).status_code == 200
    assert c.post("/api/cases", json={"title": "by token"}, headers=auth).status_code == 201
    last = audit.list_entries(env.store, action="case.create")[0]
    assert last["user"] == "ann"
    search = c.get("/api/search?q=sweet", headers=auth)
    assert search.status_code == 200
    entry = audit.list_entries(env.store, action="search")[0]
    assert entry["detail"]["auth"] == "token" and entry["detail"]["via"] == "api"


def test_a_bad_token_is_not_rescued_by_a_session(env) -> None:  # type: ignore[no-untyped-def]
    c = client(env, "ann")
    assert c.get("/api/me").status_code == 200
    assert c.get("/api/me", headers={"Authorization": "Bearer sl_nope"}).status_code == 401


# ---- roles -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ROLES))
def test_role_matrix(env, name: str) -> None:  # type: ignore[no-untyped-def]
    c = client(env, name)
    role = ROLES[name]
    for path in VIEW_ONLY + WORK_ONLY:
        expected = 200 if role in ("admin", "analyst") else 403
        assert c.get(path).status_code == expected, (name, path)
    for path in AUDIT_ONLY:
        expected = 200 if role in ("admin", "auditor") else 403
        assert c.get(path).status_code == expected, (name, path)
    assert c.get("/api/me").json()["role"] == role


# ---- CSRF ------------------------------------------------------------------------------------


def test_cookie_changes_need_the_csrf_token(env) -> None:  # type: ignore[no-untyped-def]
    c = client(env, "ann")
    assert c.post("/cases", data={"title": "no token"}).status_code == 403
    assert c.post("/cases", data={"title": "wrong", "csrf": "x" * 40}).status_code == 403
    ok = c.post("/cases", data={"title": "with token", "csrf": c.csrf}, follow_redirects=False)
    assert ok.status_code == 303 and re.match(r"^/cases/\d+$", ok.headers["location"])
    assert c.post("/api/cases", json={"title": "api no header"}).status_code == 403
    assert (
        c.post(
            "/api/cases", json={"title": "api header"}, headers={"X-CSRF-Token": c.csrf}
        ).status_code
        == 201
    )


# ---- headers and markup ----------------------------------------------------------------------


def test_security_headers(env) -> None:  # type: ignore[no-untyped-def]
    c = client(env, "ann")
    r = c.get("/ads/hostile-1")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "object-src 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    cookie = c.cookies.get("safelight_session")
    assert cookie
    login_resp = client(env).get("/login")
    assert login_resp.headers.get("content-security-policy") == csp


class _Markup(HTMLParser):
    """Collects what would run or load: script tags, event-handler attributes, outside URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts = 0
        self.handlers: list[str] = []
        self.outside: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.handlers += [k for k in a if k.lower().startswith("on")]
        if tag == "script" and "src" not in a and a.get("type") != "application/json":
            self.inline_scripts += 1
        for key in ("src", "href"):
            value = a.get(key) or ""
            if tag in ("script", "link", "img", "iframe") and re.match(r"^(https?:)?//", value):
                self.outside.append(value)
            if value.lower().startswith("javascript:"):
                self.handlers.append(value)


@pytest.mark.parametrize("path", [*PAGES, "/login", "/networks/{top}", "/cases/{case}"])
def test_pages_have_no_inline_script_no_handlers_no_outside_assets(env, path: str) -> None:  # type: ignore[no-untyped-def]
    c = client(env, "root")
    if "{top}" in path:
        path = path.format(top=c.get("/api/networks?limit=1").json()["networks"][0]["id"])
    if "{case}" in path:
        case = c.post(
            "/api/cases", json={"title": "markup"}, headers={"X-CSRF-Token": c.csrf}
        ).json()
        c.post(
            f"/api/cases/{case['id']}/items",
            json={"kind": "ad", "ref": "hostile-1"},
            headers={"X-CSRF-Token": c.csrf},
        )
        path = path.format(case=case["id"])
    r = c.get(path)
    assert r.status_code == 200, path
    parser = _Markup()
    parser.feed(r.text)
    assert parser.inline_scripts == 0 and parser.handlers == [] and parser.outside == []


def test_openapi_describes_the_api_and_no_cdn_docs(env) -> None:  # type: ignore[no-untyped-def]
    c = client(env, "ann")
    spec = c.get("/api/openapi.json").json()
    for path in (
        "/api/triage",
        "/api/search",
        "/api/lookup",
        "/api/ads/{ad_id}",
        "/api/networks/{network_id}",
        "/api/cases",
        "/api/cases/{case_id}",
        "/api/cases/{case_id}/items",
        "/api/cases/{case_id}/notes",
        "/api/cases/{case_id}/export",
        "/api/watches",
        "/api/alerts",
    ):
        assert path in spec["paths"], path
    assert not any(p.startswith(("/cases", "/ads")) for p in spec["paths"])  # pages stay out
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert c.get(path, follow_redirects=False).status_code == 404


@pytest.mark.slow
def test_safelight_serve_runs_the_app(tmp_path: Path) -> None:
    """`safelight serve` in its own process answers on loopback: login page open, API closed."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    code = (
        "import sys, safelight.commands_web; from safelight.cli import main; "
        f"sys.exit(main(['serve', '--db', {url!r}, '--port', '{port}']))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFELIGHT_")}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as r:
                    assert r.status == 200 and b"Log in" in r.read()
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "serve did not answer"
                time.sleep(0.3)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/triage", timeout=5)
        assert err.value.code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_locked_database_is_a_503_that_says_why(env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """On SQLite a page view's audit entry waits behind a long ingest or link for the busy
    timeout (30 s); past it the analyst gets a 503 that says why, not a bare 500."""
    c = client(env, "ann")

    def locked(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError(
            "INSERT INTO audit ...", {}, sqlite3.OperationalError("database is locked")
        )

    monkeypatch.setattr(audit, "record", locked)
    page = c.get("/")
    assert page.status_code == 503 and page.headers["Retry-After"] == "30"
    assert "busy with a long write" in page.text
    api = c.get("/api/triage")
    assert api.status_code == 503 and "busy" in api.json()["detail"]
