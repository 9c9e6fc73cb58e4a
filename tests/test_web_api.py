"""The JSON API with a bearer token, endpoint by endpoint, including the watch → ingest → alert
round trip and the case exports."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from safelight.cases import audit, users
from safelight.settings import Settings
from safelight.store import Store
from safelight.store.fts import HIGHLIGHT_OPEN
from safelight.web.app import create_app
from test_web_corpus import HOSTILE_ID, HOSTILE_PHONE, cheap_password_hashing, corpus_db, ingest

cheap_password_hashing()


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[SimpleNamespace]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("web-api")
    url = corpus_db(root)
    store = Store.open(url)
    tokens = {}
    for name, role in (("ann", "analyst"), ("bob", "analyst"), ("auditor", "auditor")):
        users.add_user(store, name, role, "a long password")
        tokens[name] = users.create_token(store, name)
    app = create_app(Settings.from_env({}, db=url), store)
    c = TestClient(app)

    def as_(name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[name]}"}

    yield SimpleNamespace(store=store, c=c, as_=as_, url=url, root=root)
    store.close()


def test_triage(env) -> None:  # type: ignore[no-untyped-def]
    r = env.c.get("/api/triage?limit=5", headers=env.as_("ann")).json()
    assert r["count"] == len(r["items"]) == 5 and not r["fallback"]
    first = r["items"][0]
    assert {"item", "network", "ads", "score", "reasons", "places", "last_seen", "status"} <= set(
        first
    )
    scores = [i["score"] for i in r["items"]]
    assert scores == sorted(scores, reverse=True)


def test_triage_status(env) -> None:  # type: ignore[no-untyped-def]
    item = env.c.get("/api/triage?limit=1", headers=env.as_("ann")).json()["items"][0]["item"]
    r = env.c.post(
        f"/api/triage/{item}/status",
        json={"status": "escalated", "reason": "youth cue"},
        headers=env.as_("ann"),
    )
    assert r.status_code == 200 and r.json() == {"item": item, "status": "escalated"}
    again = env.c.get("/api/triage?limit=50", headers=env.as_("ann")).json()["items"]
    assert next(i for i in again if i["item"] == item)["status"] == "escalated"
    assert (
        env.c.post(
            f"/api/triage/{item}/status", json={"status": "dismissed"}, headers=env.as_("ann")
        ).status_code
        == 400
    )
    missing = env.c.post(
        "/api/triage/NOPE/status", json={"status": "reviewing"}, headers=env.as_("ann")
    )
    assert missing.status_code == 404
    assert (
        env.c.post(
            f"/api/triage/{item}/status", json={"status": "lost"}, headers=env.as_("ann")
        ).status_code
        == 422
    )


def test_search(env) -> None:  # type: ignore[no-untyped-def]
    r = env.c.get("/api/search", params={"q": "companionship", "limit": 5}, headers=env.as_("ann"))
    body = r.json()
    assert r.status_code == 200 and len(body["ads"]) <= 5 and body["count"] >= len(body["ads"])
    assert all(HIGHLIGHT_OPEN in a["snippet"] for a in body["ads"])
    assert set(body["facets"]) == {"site", "place", "month", "score"}
    assert body["selector"] is None
    assert (
        env.c.get("/api/search", params={"q": "713 555 0199"}, headers=env.as_("ann")).json()[
            "selector"
        ]
        == f"phone:{HOSTILE_PHONE}"
    )
    assert env.c.get("/api/search", headers=env.as_("ann")).status_code == 422  # q is required


def test_lookup(env) -> None:  # type: ignore[no-untyped-def]
    r = env.c.get(
        "/api/lookup", params={"value": "seven one three 555 0199"}, headers=env.as_("ann")
    ).json()
    assert r["selectors"] == [f"phone:{HOSTILE_PHONE}"] and [a["id"] for a in r["ads"]] == [
        HOSTILE_ID
    ]


def test_ad(env) -> None:  # type: ignore[no-untyped-def]
    ad = env.c.get(f"/api/ads/{HOSTILE_ID}", headers=env.as_("ann")).json()
    assert ad["id"] == HOSTILE_ID and ad["network"]
    assert any(m["kind"] == "phone" and m["value"] == HOSTILE_PHONE for m in ad["mentions"])
    assert ad["hits"] and {"indicator", "category", "weight", "source"} <= set(ad["hits"][0])
    assert env.c.get("/api/ads/nope", headers=env.as_("ann")).status_code == 404
    entry = audit.list_entries(env.store, user="ann", action="ad.view", limit=1)[0]
    assert entry["target"] == HOSTILE_ID and entry["detail"]["via"] == "api"


def test_ids_with_reserved_characters_round_trip(env) -> None:  # type: ignore[no-untyped-def]
    odd = {
        "id": "odd/id#1?x",
        "title": "odd id",
        "body": "plain companionship ad 713-555-0197",
        "posted_at": "2026-02-02T10:00:00Z",
    }
    path = env.root / "odd.jsonl"
    path.write_text(json.dumps(odd) + "\n")
    ingest([path], env.url).close()
    from urllib.parse import quote

    assert (
        env.c.get(f"/api/ads/{quote(odd['id'], safe='')}", headers=env.as_("ann")).json()["id"]
        == odd["id"]
    )
    assert env.c.get(f"/ads/{quote(odd['id'], safe='')}", headers=env.as_("ann")).status_code == 200


def test_entity(env) -> None:  # type: ignore[no-untyped-def]
    e = env.c.get(f"/api/entities/phone/{HOSTILE_PHONE}", headers=env.as_("ann")).json()
    assert e["count"] == 1 and e["ads"][0]["id"] == HOSTILE_ID
    assert {"timeline", "linked", "networks", "map"} <= set(e)
    assert any(link["kind"] == "email" for link in e["linked"])
    assert env.c.get("/api/entities/shoe/9", headers=env.as_("ann")).status_code == 404


def test_networks(env) -> None:  # type: ignore[no-untyped-def]
    nets = env.c.get("/api/networks?limit=3", headers=env.as_("ann")).json()["networks"]
    assert len(nets) == 3
    net = env.c.get(f"/api/networks/{nets[0]['id']}", headers=env.as_("ann")).json()
    assert net["id"] == nets[0]["id"] and len(net["ads"]) == net["size"]
    assert net["edges"] and all("evidence" in e for e in net["edges"])
    assert net["graph"]["elements"] and "points" in net["map"]
    assert env.c.get("/api/networks/NOPE", headers=env.as_("ann")).status_code == 404


def test_cases_flow(env) -> None:  # type: ignore[no-untyped-def]
    ann = env.as_("ann")
    case = env.c.post("/api/cases", json={"title": "API case", "description": "d"}, headers=ann)
    assert case.status_code == 201
    cid = case.json()["id"]
    net = env.c.get("/api/networks?limit=1", headers=ann).json()["networks"][0]["id"]
    for item in (
        {"kind": "ad", "ref": HOSTILE_ID},
        {"kind": "network", "ref": net},
        {"kind": "entity", "ref": f"phone:{HOSTILE_PHONE}"},
    ):
        assert env.c.post(f"/api/cases/{cid}/items", json=item, headers=ann).status_code == 201
    assert (
        env.c.post(
            f"/api/cases/{cid}/items", json={"kind": "ad", "ref": "nope"}, headers=ann
        ).status_code
        == 400
    )
    assert (
        env.c.post(f"/api/cases/{cid}/notes", json={"text": "first note"}, headers=ann).status_code
        == 201
    )
    assert (
        env.c.get(f"/api/cases/{cid}/notes", headers=ann).json()["notes"][0]["text"] == "first note"
    )
    members = env.c.post(f"/api/cases/{cid}/members", json={"name": "bob"}, headers=ann).json()[
        "members"
    ]
    assert {m["name"] for m in members} == {"ann", "bob"}
    patched = env.c.patch(
        f"/api/cases/{cid}", json={"status": "active", "assignee": "bob"}, headers=ann
    )
    assert patched.json()["status"] == "active" and patched.json()["assignee"] == "bob"
    got = env.c.get(f"/api/cases/{cid}", headers=env.as_("bob")).json()  # bob is a member now
    assert [i["kind"] for i in got["items"]] == ["ad", "network", "entity"]
    listed = env.c.get("/api/cases", headers=ann).json()["cases"]
    assert any(c["id"] == cid and c["items_count"] == 3 for c in listed)
    item_id = got["items"][0]["id"]
    assert env.c.delete(f"/api/cases/{cid}/items/{item_id}", headers=ann).status_code == 204
    zipped = env.c.get(f"/api/cases/{cid}/export?format=zip", headers=ann)
    names = zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
    assert f"case-{cid}/manifest.json" in names and f"case-{cid}/ads.csv" in names
    pdf = env.c.get(f"/api/cases/{cid}/export?format=pdf", headers=ann)
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    html = env.c.get(f"/api/cases/{cid}/export?format=html", headers=ann)
    assert "script-src" not in html.headers["content-security-policy"]
    assert env.c.get(f"/api/cases/{cid}/export?format=doc", headers=ann).status_code == 422
    assert env.c.get("/api/cases/99999", headers=ann).status_code == 404
    assert env.c.post("/api/cases", json={"title": ""}, headers=ann).status_code == 422


def test_a_case_is_invisible_to_non_members(env) -> None:  # type: ignore[no-untyped-def]
    cid = env.c.post("/api/cases", json={"title": "private"}, headers=env.as_("ann")).json()["id"]
    assert env.c.get(f"/api/cases/{cid}", headers=env.as_("bob")).status_code == 404
    assert (
        env.c.post(
            f"/api/cases/{cid}/notes", json={"text": "x"}, headers=env.as_("bob")
        ).status_code
        == 404
    )
    assert env.c.get(f"/api/cases/{cid}/export", headers=env.as_("bob")).status_code == 404
    assert env.c.get("/api/cases", headers=env.as_("auditor")).status_code == 403


def test_watch_ingest_alert_round_trip(env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ann = env.as_("ann")
    w = env.c.post("/api/watches", json={"value": "(415) 555-0177", "label": "tip 9"}, headers=ann)
    assert (
        w.status_code == 201 and w.json()["kind"] == "phone" and w.json()["value"] == "+14155550177"
    )
    s = env.c.post(
        "/api/watches", json={"kind": "search", "value": "lighthouse keeper"}, headers=ann
    ).json()
    assert len(env.c.get("/api/watches", headers=ann).json()["watches"]) == 2
    new = tmp_path / "new.jsonl"
    new.write_text(
        "\n".join(
            json.dumps(a)
            for a in (
                {
                    "id": "w1",
                    "title": "Back in town",
                    "body": "call four one five 555 0177 for companionship",
                    "posted_at": "2026-11-01T10:00:00Z",
                    "location": "San Francisco, CA",
                },
                {
                    "id": "w2",
                    "title": "Hobby",
                    "body": "a lighthouse keeper's diary",
                    "posted_at": "2026-11-01T11:00:00Z",
                },
                {
                    "id": "w3",
                    "title": "Other",
                    "body": "nothing relevant here",
                    "posted_at": "2026-11-01T12:00:00Z",
                },
            )
        )
        + "\n"
    )
    ingest([new], env.url).close()
    alerts = env.c.get("/api/alerts", headers=ann).json()
    assert alerts["unseen"] == 2
    assert sorted((a["watch"]["id"], a["ad_id"]) for a in alerts["alerts"]) == sorted(
        [(w.json()["id"], "w1"), (s["id"], "w2")]
    )
    assert env.c.get("/api/alerts", headers=env.as_("bob")).json()["count"] == 0
    marked = env.c.post(
        "/api/alerts/seen", json={"ids": [alerts["alerts"][0]["id"]]}, headers=ann
    ).json()
    assert marked == {"marked": 1}
    assert env.c.get("/api/alerts?unseen=true", headers=ann).json()["count"] == 1
    assert env.c.delete(f"/api/watches/{s['id']}", headers=env.as_("bob")).status_code == 404
    assert env.c.delete(f"/api/watches/{s['id']}", headers=ann).status_code == 204
    assert (
        env.c.post(
            "/api/watches", json={"kind": "photo", "value": "nothex"}, headers=ann
        ).status_code
        == 400
    )


def test_audit_api_is_for_auditors(env) -> None:  # type: ignore[no-untyped-def]
    for q in ("houston", "weekend", "new"):  # audited whatever ran before in this module
        assert env.c.get(f"/api/search?q={q}", headers=env.as_("ann")).status_code == 200
    aud = env.as_("auditor")
    entries = env.c.get("/api/audit?who=ann&limit=5", headers=aud).json()["entries"]
    assert entries and all(e["user"] == "ann" for e in entries)
    assert {"seq", "at", "user", "action", "target", "detail", "hash", "prev_hash"} <= set(
        entries[0]
    )
    verify = env.c.get("/api/audit/verify", headers=aud).json()
    assert verify["ok"] and verify["entries"] >= 3
    assert env.c.get("/api/audit", headers=env.as_("ann")).status_code == 403
    assert env.c.get("/api/search?q=x", headers=aud).status_code == 403
