"""Need-to-know: every route of the app × every role × case membership, with the status each
must answer. The routes are read from the app, so a new route without a row here fails.

Roles: admin (sees every case), the analyst who is a member of the case, an analyst who is not,
an auditor, and an anonymous visitor. The rule the matrix pins down:
- anonymous: pages redirect to the login form (303), the API answers 401;
- a role without the permission: 403 (auditors on ads and cases, analysts on the audit log);
- an analyst who is not a member of a case gets **404** for everything under that case (and
  for someone else's watch), exactly what a case that does not exist gives, so ids cannot be
  probed for existence. 403 is kept for "your role may not", which says nothing about a case.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from safelight.cases import cases, users, watches
from safelight.settings import Settings
from safelight.store import Store
from test_web_corpus import add_ads, cheap_password_hashing, csrf_of

cheap_password_hashing()

ROLES = ("admin", "member", "other", "auditor", "anon")
NAMES = {"admin": "root", "member": "ann", "other": "bob", "auditor": "aud"}
_fresh = itertools.count(110)

# expected statuses in ROLES order
VIEW_PAGE = (200, 200, 200, 403, 303)
VIEW_API = (200, 200, 200, 403, 401)
CASE_PAGE_GET = (200, 200, 404, 403, 303)
CASE_PAGE_POST = (303, 303, 404, 403, 303)
CASE_API = (200, 200, 404, 403, 401)
AUDIT_PAGE = (200, 403, 403, 200, 303)
AUDIT_API = (200, 403, 403, 200, 401)
ANY_USER_API = (200, 200, 200, 200, 401)
WORK_POST = (303, 303, 303, 403, 303)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[SimpleNamespace]:  # type: ignore[no-untyped-def]
    from safelight.link.incremental import link_new
    from safelight.store.schema import ads as ads_t
    from safelight.store.schema import photos
    from safelight.web.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('matrix') / 'm.db'}"
    store = Store.open(url)
    specs = [
        {
            "id": f"m{i}",
            "body": f"Sweet companionship, call 713-555-01{i:02d}",
            "mentions": [("phone", f"713-555-01{i:02d}", f"+171355501{i:02d}")],
        }
        for i in range(3)
    ]
    specs.append({**specs[0], "id": "m9"})  # shares m0's phone: a network of two
    specs[0]["images"] = [{"url": "https://img.example.com/m0.jpg", "sha256": "ab" * 32}]
    pks = add_ads(store, specs)
    import sqlalchemy as sa

    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(photos).values(
                ad_pk=pks[0], position=0, sha256="ab" * 32, pdq="", thumbnail=b"\xff\xd8fake"
            )
        )
        conn.execute(sa.update(ads_t).values(ingested_at="2026-01-01T00:00:00Z"))
    settings = Settings(db=url)
    link_new(store, settings)
    tokens = {}
    for role, name in NAMES.items():
        users.add_user(
            store, name, "analyst" if role in ("member", "other") else role, "a long password"
        )
        tokens[role] = users.create_token(store, name)
    ann = users.get_user(store, "ann")
    case = cases.create_case(store, ann, "Matrix case")
    cases.add_item(store, case["id"], ann, "ad", "m0")
    from safelight.link.networks import network_of_ad

    network = network_of_ad(store, "m0")
    app = create_app(settings, store)
    clients = {}
    for role in ROLES:
        c = TestClient(app, base_url="http://testserver")
        if role == "anon":  # a real browser session, so CSRF passes and the login check decides
            c.headers["X-CSRF-Token"] = csrf_of(c.get("/login").text)
        else:
            c.headers["Authorization"] = f"Bearer {tokens[role]}"
        clients[role] = c
    yield SimpleNamespace(
        store=store, app=app, clients=clients, case=case["id"], ann=ann, network=network
    )
    store.close()


def _item(e: SimpleNamespace) -> int:
    """A fresh item in the case (so each role removes its own)."""
    return cases.add_item(e.store, e.case, e.ann, "entity", f"phone:+1713555{next(_fresh):04d}")[
        "id"
    ]


def _watch(e: SimpleNamespace) -> int:
    """A fresh watch of the member analyst's (another analyst may not stop it)."""
    return watches.add_watch(e.store, e.ann, "phone", f"713-555-{next(_fresh):04d}")["id"]


Req = Callable[[SimpleNamespace], tuple[str, str, dict[str, Any]]]


def get(path: str) -> Req:
    return lambda e: ("GET", path.format(case=e.case, net=e.network), {})


def post(path: str, **kw: Any) -> Req:
    def make(e: SimpleNamespace) -> tuple[str, str, dict[str, Any]]:
        fill = {
            k: (v.format(case=e.case, net=e.network) if isinstance(v, str) else v)
            for k, v in kw.get("data", {}).items()
        }
        body = {"data": fill} if "data" in kw else {"json": kw.get("json", {})}
        return "POST", path.format(case=e.case, net=e.network), body

    return make


MATRIX: dict[tuple[str, str], tuple[Req, tuple[int, ...]]] = {
    ("GET", "/static"): (get("/static/app.css"), (200,) * 5),
    ("GET", "/login"): (get("/login"), (303, 303, 303, 303, 200)),
    ("POST", "/login"): (post("/login", data={"name": "nobody", "password": "wrong"}), (401,) * 5),
    ("POST", "/logout"): (post("/logout", data={}), (303,) * 5),
    # finding and reading
    ("GET", "/"): (get("/"), VIEW_PAGE),
    ("POST", "/triage/status"): (
        post("/triage/status", data={"item": "{net}", "status": "reviewing"}),
        WORK_POST,
    ),
    ("GET", "/search"): (get("/search?q=sweet"), VIEW_PAGE),
    ("GET", "/lookup"): (get("/lookup?value=713-555-0101"), VIEW_PAGE),
    ("GET", "/ads/{ad_id:path}"): (get("/ads/m1"), VIEW_PAGE),
    ("POST", "/photos/reveal"): (
        post("/photos/reveal", data={"ad_id": "m0", "n": 0}),
        (204, 204, 204, 403, 303),
    ),
    ("GET", "/photos/thumb"): (get("/photos/thumb?ad_id=m0&n=0"), VIEW_PAGE),
    ("GET", "/entities/{kind}/{value:path}"): (get("/entities/phone/+17135550101"), VIEW_PAGE),
    ("GET", "/networks"): (get("/networks"), VIEW_PAGE),
    ("GET", "/networks/{network_id}"): (get("/networks/{net}"), VIEW_PAGE),
    # cases (pages)
    ("GET", "/cases"): (get("/cases"), VIEW_PAGE),
    ("POST", "/cases"): (post("/cases", data={"title": "another"}), WORK_POST),
    ("GET", "/cases/{case_id}"): (get("/cases/{case}"), CASE_PAGE_GET),
    ("POST", "/cases/{case_id}/items"): (
        post("/cases/{case}/items", data={"kind": "network", "ref": "{net}"}),
        CASE_PAGE_POST,
    ),
    ("POST", "/case-items"): (
        post("/case-items", data={"case_id": "{case}", "kind": "ad", "ref": "m1"}),
        CASE_PAGE_POST,
    ),
    ("POST", "/cases/{case_id}/items/{item_id}/delete"): (
        lambda e: ("POST", f"/cases/{e.case}/items/{_item(e)}/delete", {"data": {}}),
        CASE_PAGE_POST,
    ),
    ("POST", "/cases/{case_id}/notes"): (
        post("/cases/{case}/notes", data={"text": "a note"}),
        CASE_PAGE_POST,
    ),
    ("POST", "/cases/{case_id}/update"): (
        post("/cases/{case}/update", data={"status": "active"}),
        CASE_PAGE_POST,
    ),
    ("POST", "/cases/{case_id}/members"): (
        post("/cases/{case}/members", data={"name": "ann"}),
        CASE_PAGE_POST,
    ),
    ("POST", "/cases/{case_id}/activate"): (
        post("/cases/{case}/activate", data={}),
        CASE_PAGE_POST,
    ),
    ("POST", "/cases/deactivate"): (post("/cases/deactivate", data={}), WORK_POST),
    ("GET", "/cases/{case_id}/export.{fmt}"): (get("/cases/{case}/export.html"), CASE_PAGE_GET),
    # watches, alerts, audit (pages)
    ("GET", "/watches"): (get("/watches"), VIEW_PAGE),
    ("POST", "/watches"): (post("/watches", data={"value": "713-555-0177"}), WORK_POST),
    ("POST", "/watches/{watch_id}/delete"): (
        lambda e: ("POST", f"/watches/{_watch(e)}/delete", {"data": {}}),
        CASE_PAGE_POST,
    ),
    ("GET", "/alerts"): (get("/alerts"), VIEW_PAGE),
    ("POST", "/alerts/seen"): (post("/alerts/seen", data={}), WORK_POST),
    ("GET", "/audit"): (get("/audit"), AUDIT_PAGE),
    ("GET", "/audit/export.csv"): (get("/audit/export.csv?action=login"), AUDIT_PAGE),
    ("POST", "/audit/verify"): (post("/audit/verify", data={}), AUDIT_PAGE),
    # the API
    ("GET", "/api/openapi.json"): (get("/api/openapi.json"), ANY_USER_API),
    ("GET", "/api/me"): (get("/api/me"), ANY_USER_API),
    ("GET", "/api/triage"): (get("/api/triage"), VIEW_API),
    ("POST", "/api/triage/{item_id}/status"): (
        post("/api/triage/{net}/status", json={"status": "reviewing"}),
        VIEW_API,
    ),
    ("GET", "/api/search"): (get("/api/search?q=sweet"), VIEW_API),
    ("GET", "/api/lookup"): (get("/api/lookup?value=713-555-0101"), VIEW_API),
    ("GET", "/api/ads/{ad_id:path}"): (get("/api/ads/m1"), VIEW_API),
    ("GET", "/api/entities/{kind}/{value:path}"): (
        get("/api/entities/phone/+17135550101"),
        VIEW_API,
    ),
    ("GET", "/api/networks"): (get("/api/networks"), VIEW_API),
    ("GET", "/api/networks/{network_id}"): (get("/api/networks/{net}"), VIEW_API),
    ("GET", "/api/cases"): (get("/api/cases"), VIEW_API),
    ("POST", "/api/cases"): (post("/api/cases", json={"title": "t"}), (201, 201, 201, 403, 401)),
    ("GET", "/api/cases/{case_id}"): (get("/api/cases/{case}"), CASE_API),
    ("PATCH", "/api/cases/{case_id}"): (
        lambda e: ("PATCH", f"/api/cases/{e.case}", {"json": {"description": "d"}}),
        CASE_API,
    ),
    ("POST", "/api/cases/{case_id}/items"): (
        post("/api/cases/{case}/items", json={"kind": "ad", "ref": "m2"}),
        (201, 201, 404, 403, 401),
    ),
    ("DELETE", "/api/cases/{case_id}/items/{item_id}"): (
        lambda e: ("DELETE", f"/api/cases/{e.case}/items/{_item(e)}", {}),
        (204, 204, 404, 403, 401),
    ),
    ("GET", "/api/cases/{case_id}/notes"): (get("/api/cases/{case}/notes"), CASE_API),
    ("POST", "/api/cases/{case_id}/notes"): (
        post("/api/cases/{case}/notes", json={"text": "n"}),
        (201, 201, 404, 403, 401),
    ),
    ("POST", "/api/cases/{case_id}/members"): (
        post("/api/cases/{case}/members", json={"name": "ann"}),
        (201, 201, 404, 403, 401),
    ),
    ("GET", "/api/cases/{case_id}/export"): (get("/api/cases/{case}/export?format=html"), CASE_API),
    ("GET", "/api/watches"): (get("/api/watches"), VIEW_API),
    ("POST", "/api/watches"): (
        post("/api/watches", json={"value": "713-555-0178"}),
        (201, 201, 201, 403, 401),
    ),
    ("DELETE", "/api/watches/{watch_id}"): (
        lambda e: ("DELETE", f"/api/watches/{_watch(e)}", {}),
        (204, 204, 404, 403, 401),
    ),
    ("GET", "/api/alerts"): (get("/api/alerts"), VIEW_API),
    ("POST", "/api/alerts/seen"): (post("/api/alerts/seen", json={}), VIEW_API),
    ("GET", "/api/audit"): (get("/api/audit"), AUDIT_API),
    ("GET", "/api/audit/verify"): (get("/api/audit/verify"), AUDIT_API),
}


def _routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route, looking inside included routers and mounts."""

    def flat(routes: list[Any]) -> Iterator[Any]:
        for r in routes:
            inner = getattr(r, "original_router", None)
            yield from flat(inner.routes) if inner is not None else [r]

    out = set()
    for r in flat(app.routes):
        methods = getattr(r, "methods", None) or {"GET"}  # a mount serves GET
        out.update((m, r.path) for m in methods - {"HEAD"})
    return out


def test_every_route_has_a_row(env: SimpleNamespace) -> None:
    routes = _routes(env.app)
    assert routes - MATRIX.keys() == set(), "routes without an access-matrix row"
    assert MATRIX.keys() - routes == set(), "matrix rows for routes that no longer exist"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_access(env: SimpleNamespace, route: tuple[str, str], role: str) -> None:
    make, expected = MATRIX[route]
    method, path, kwargs = make(env)
    if role == "anon":  # a fresh token: an earlier logout cleared the session
        env.clients[role].headers["X-CSRF-Token"] = csrf_of(env.clients[role].get("/login").text)
    r = env.clients[role].request(method, path, follow_redirects=False, **kwargs)
    want = expected[ROLES.index(role)]
    assert r.status_code == want, f"{role} {method} {path}: {r.status_code} {r.text[:300]}"
    if want == 303 and role == "anon" and route != ("POST", "/logout"):
        assert r.headers["location"].startswith("/login")


@pytest.mark.parametrize("role", ["member", "other", "admin"])
def test_a_missing_case_looks_like_someone_elses(env: SimpleNamespace, role: str) -> None:
    """Non-members cannot tell an existing case from a missing one."""
    c = env.clients[role]
    assert c.get("/api/cases/999999").status_code == 404
    assert c.get("/cases/999999").status_code == 404
    mine = c.get(f"/api/cases/{env.case}").status_code
    assert mine == (404 if role == "other" else 200)


def test_auditors_read_the_trail_but_not_case_notes(env: SimpleNamespace) -> None:
    cases.add_note(env.store, env.case, env.ann, "note text only members may read")
    aud = env.clients["auditor"]
    trail = aud.get("/api/audit?action=case.note").json()["entries"]
    assert trail and all(e["target"] == f"case:{env.case}" for e in trail)
    assert "only members may read" not in aud.get("/api/audit?limit=1000").text
    assert "only members may read" not in aud.get("/audit?limit=1000").text
    assert aud.get(f"/api/cases/{env.case}/notes").status_code == 403
