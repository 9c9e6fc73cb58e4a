"""The auditor's page: filters, CSV export with formula escaping, who may read it, and that
every kind of act an auditor asks about is in the trail with who, when, what and why."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from safelight.cases import audit, retention, users
from safelight.link.incremental import link_new
from safelight.link.networks import network_of_ad
from safelight.settings import Settings
from safelight.store import Store
from test_web_corpus import add_ads, cheap_password_hashing, login

cheap_password_hashing()
PASSWORD = "a long password"
FORMULA = '=HYPERLINK("https://evil.example.com","x")'


@pytest.fixture(scope="module")
def env(tmp_path_factory, monkeypatch_module) -> Iterator[SimpleNamespace]:  # type: ignore[no-untyped-def]
    from safelight.cli import main
    from safelight.web.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('audit-page') / 'a.db'}"
    store = Store.open(url)
    add_ads(
        store,
        [
            {
                "id": f"a{i}",
                "body": f"Sweet companionship, call 713-555-012{i}",
                "mentions": [("phone", f"713-555-012{i}", f"+171355501{20 + i}")],
                "images": [{"url": "https://img.example.com/a.jpg", "sha256": "cd" * 32}],
            }
            for i in range(3)
        ],
    )
    settings = Settings(db=url)
    link_new(store, settings)
    users.add_user(store, "aud", "auditor", PASSWORD)
    for name, role in (("ann", "analyst"), ("gone", "analyst")):  # admin acts, through the CLI
        monkeypatch_module.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["user", "add", name, "--role", role, "--password-stdin", "--db", url]) == 0
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["user", "disable", "gone", "--db", url]) == 0
    app = create_app(settings, store)

    ann = TestClient(app)
    csrf = login(ann, "ann", PASSWORD)
    r = ann.post("/cases", data={"title": "Audit case", "csrf": csrf}, follow_redirects=False)
    case_id = int(r.headers["location"].rsplit("/", 1)[1])
    ann.get("/search", params={"q": FORMULA})
    ann.get("/lookup", params={"value": "713-555-0121"})
    ann.get("/ads/a1")
    ann.post("/photos/reveal", data={"ad_id": "a1", "n": 0, "csrf": csrf})
    ann.post(f"/cases/{case_id}/items", data={"kind": "ad", "ref": "a1", "csrf": csrf})
    assert ann.get(f"/cases/{case_id}/export.html").status_code == 200
    net = network_of_ad(store, "a0")
    ann.post(
        "/triage/status",
        data={"item": net, "status": "reviewing", "reason": "tip 12", "csrf": csrf},
    )
    retention.purge(store, settings, apply=True, user="root", days=1)

    aud = TestClient(app)
    login(aud, "aud", PASSWORD)
    yield SimpleNamespace(store=store, ann=ann, aud=aud, case=case_id, net=net)
    store.close()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_every_kind_of_act_is_in_the_trail(env: SimpleNamespace) -> None:
    trail = audit.list_entries(env.store, limit=1000)
    by_action = {}
    for e in trail:
        by_action.setdefault(e["action"], e)
        assert e["user"] and e["at"].endswith("Z")
    for action in (
        "user.add",
        "user.disable",
        "login",
        "case.create",
        "search",
        "lookup",
        "ad.view",
        "photo.unblur",
        "case.export",
        "triage.status",
        "retention.purge",
    ):
        assert action in by_action, action
    # why: the case the analyst was working, and the reason given
    assert by_action["search"]["detail"]["case"] == env.case
    assert by_action["ad.view"]["detail"]["case"] == env.case
    assert by_action["triage.status"]["detail"]["reason"] == "tip 12"
    assert by_action["search"]["target"] == FORMULA
    assert by_action["user.disable"]["target"] == "user:gone"
    assert audit.verify(env.store)["ok"]


def _table(r: Any) -> str:
    """The entries table only (the filter form lists every known action)."""
    assert r.status_code == 200
    return r.text.split('<table class="audit">', 1)[1]


def test_filters(env: SimpleNamespace) -> None:
    aud = env.aud
    page = _table(aud.get("/audit", params={"who": "ann", "action": "search"}))
    assert "HYPERLINK" in page and "photo.unblur" not in page
    rows = audit.list_entries(env.store, user="ann", action="case.*")
    assert {e["action"] for e in rows} >= {"case.create", "case.add_item", "case.export"}
    assert all(e["target"].startswith("case:") for e in rows)
    by_target = _table(aud.get("/audit", params={"target": f"case:{env.case}"}))
    assert "case.create" in by_target and "lookup" not in by_target
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    assert "No entries." in aud.get("/audit", params={"from": tomorrow}).text
    assert "No entries." in aud.get("/audit", params={"to": yesterday}).text
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert "No entries." not in aud.get("/audit", params={"from": today, "to": today}).text


def test_csv_export_escapes_formulas_and_is_audited(env: SimpleNamespace) -> None:
    r = env.aud.get("/audit/export.csv", params={"who": "ann", "action": "search"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and {row["action"] for row in rows} == {"search"}
    assert [row["target"] for row in rows] == ["'" + FORMULA]
    assert not any(v.startswith(("=", "+", "@")) for row in rows for v in row.values())
    [entry] = audit.list_entries(env.store, action="audit.export", limit=1)
    assert entry["user"] == "aud" and entry["detail"]["rows"] == 1
    assert entry["detail"]["filters"] == {"who": "ann", "action": "search"}


def test_only_auditors_and_admins(env: SimpleNamespace) -> None:
    assert env.ann.get("/audit").status_code == 403
    assert env.ann.get("/audit/export.csv").status_code == 403
    assert env.ann.get("/api/audit").status_code == 403
    anon = TestClient(env.ann.app)
    r = anon.get("/audit/export.csv", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
