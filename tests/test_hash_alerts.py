"""Known-hash matches appear as alerts and as a notice on the ad and network pages, for
analysts and admins only, and the list's hashes and labels never appear anywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from safelight.cases import hashalerts, users, watches
from safelight.link.incremental import link_new
from safelight.link.known import import_hashlist, list_matches
from safelight.link.networks import network_of_ad
from safelight.settings import Settings
from safelight.store import Store
from safelight.store.schema import photos
from test_web_corpus import add_ads, cheap_password_hashing

cheap_password_hashing()

PHOTO_PDQ = "f0" * 32
# 4 bits away from the ad's photo: a near match, so the list's value differs from the ad's own
KNOWN_PDQ = "ff" + "f0" * 31
LABEL = "clearing-house-ref-7731"


def _seed(store: Store, tmp: Path) -> dict:
    pks = add_ads(
        store,
        [
            {
                "id": "k1",
                "body": "New in town, call 713-555-0131",
                "mentions": [("phone", "713-555-0131", "+17135550131")],
            },
            {
                "id": "k2",
                "body": "Sweet, call 713-555-0131 today",
                "mentions": [("phone", "713-555-0131", "+17135550131")],
            },
        ],
    )
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(photos).values(ad_pk=pks[0], position=0, sha256="12" * 32, pdq=PHOTO_PDQ)
        )
    settings = Settings(db="unused")
    link_new(store, settings)
    (tmp / "list.csv").write_text(f"pdq,label\n{KNOWN_PDQ},{LABEL}\n", encoding="utf-8")
    result = import_hashlist(store, tmp / "list.csv", "missing-test-list", "missing", settings)
    assert result["matches"] == 1
    return {
        "ann": users.add_user(store, "ann", "analyst", "a long password"),
        "root": users.add_user(store, "root", "admin", "a long password"),
        "aud": users.add_user(store, "aud", "auditor", "a long password"),
    }


def test_alerts_per_user_seen_mark(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    u = _seed(store, tmp_path)
    [alert] = hashalerts.list_hash_alerts(store, u["ann"])
    assert alert["kind"] == "hashlist" and alert["list"] == "missing-test-list"
    assert alert["ad_id"] == "k1" and alert["network_id"] == network_of_ad(store, "k1")
    assert alert["distance"] == 4 and alert["created_at"] and not alert["seen"]
    assert watches.unseen_count(store, u["ann"]) == 1
    assert watches.unseen_count(store, u["root"]) == 1
    assert hashalerts.unseen_count(store, u["aud"]) == 0
    assert hashalerts.mark_seen(store, u["ann"]) == 1
    assert watches.unseen_count(store, u["ann"]) == 0
    assert watches.unseen_count(store, u["root"]) == 1  # seen is per user
    assert hashalerts.list_hash_alerts(store, u["ann"], unseen_only=True) == []
    assert hashalerts.list_hash_alerts(store, u["ann"])[0]["seen"]
    assert [m["ad"] for m in list_matches(store)] == ["k1"]


@pytest.fixture(scope="module")
def web(tmp_path_factory) -> Iterator[SimpleNamespace]:  # type: ignore[no-untyped-def]
    from safelight.web.app import create_app

    tmp = tmp_path_factory.mktemp("hash-web")
    url = f"sqlite:///{tmp / 'h.db'}"
    store = Store.open(url)
    _seed(store, tmp)
    app = create_app(Settings(db=url), store)
    clients = {}
    for name in ("ann", "root", "aud"):
        c = TestClient(app)
        c.headers["Authorization"] = f"Bearer {users.create_token(store, name)}"
        clients[name] = c
    yield SimpleNamespace(store=store, clients=clients, net=network_of_ad(store, "k1"))
    store.close()


def _no_list_contents(text: str) -> None:
    assert KNOWN_PDQ not in text and LABEL not in text


def test_alerts_page_and_api(web: SimpleNamespace) -> None:
    ann = web.clients["ann"]
    page = ann.get("/alerts")
    assert page.status_code == 200 and "missing-test-list" in page.text and "k1" in page.text
    assert 'id="alert-badge">1<' in page.text
    _no_list_contents(page.text)
    data = ann.get("/api/alerts")
    [a] = [a for a in data.json()["alerts"] if a["kind"] == "hashlist"]
    assert (a["list"], a["ad_id"], a["network_id"]) == ("missing-test-list", "k1", web.net)
    assert a["created_at"] and data.json()["unseen"] == 1
    _no_list_contents(data.text)
    assert web.clients["aud"].get("/api/alerts").status_code == 403
    assert web.clients["root"].get("/api/alerts").json()["unseen"] == 1


def test_ad_and_network_pages_carry_the_notice(web: SimpleNamespace) -> None:
    ann = web.clients["ann"]
    for path in ("/ads/k1", f"/networks/{web.net}"):
        r = ann.get(path)
        assert r.status_code == 200 and 'id="known-hash-notice"' in r.text, path
        assert "matched known-hash list missing-test-list" in r.text
        _no_list_contents(r.text)
    # k2 shares the network but not the photo: its own page has no notice
    assert 'id="known-hash-notice"' not in ann.get("/ads/k2").text
    for path in ("/api/ads/k1", f"/api/networks/{web.net}"):
        r = ann.get(path)
        assert [k["name"] for k in r.json()["known_hash_lists"]] == ["missing-test-list"]
        _no_list_contents(r.text)


def test_marking_all_seen_clears_the_badge(web: SimpleNamespace) -> None:
    root = web.clients["root"]
    assert root.post("/api/alerts/seen", json={}).json()["marked"] == 1
    assert root.get("/api/alerts").json()["unseen"] == 0
    assert 'id="alert-badge"' not in root.get("/alerts").text
