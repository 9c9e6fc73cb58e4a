"""Watches: a phone typed in any spelling, a photo hash or a saved search raises one alert
per new matching ad, and the webhook receives identifiers only."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from safelight.cases import users, watches
from safelight.settings import Settings
from test_web_corpus import add_ads, cheap_password_hashing

cheap_password_hashing()

PDQ = "f" * 64
NEAR_PDQ = "f" * 62 + "00"  # 8 bits away


@pytest.fixture
def ann(store):  # type: ignore[no-untyped-def]
    return users.add_user(store, "ann", "analyst", "long enough")


def test_watch_values_are_normalised() -> None:
    assert watches.normalise_watch("auto", "seven one three 555 o142") == ("phone", "+17135550142")
    assert watches.normalise_watch("phone", "(713) 555-0142") == ("phone", "+17135550142")
    assert watches.normalise_watch("email", "Jane (at) Example dot com") == (
        "email",
        "jane@example.com",
    )
    assert watches.normalise_watch("photo", "SHA256:" + "AB" * 32) == ("photo", "ab" * 32)
    assert watches.normalise_watch("search", "  new in town ") == ("search", "new in town")
    for kind, value in (
        ("phone", "no digits"),
        ("photo", "xyz"),
        ("search", "!!!"),
        ("shoe", "x"),
        ("auto", "   "),
    ):
        with pytest.raises(watches.WatchError):
            watches.normalise_watch(kind, value)


def test_new_ads_raise_one_alert_per_watch_and_ad(store, ann) -> None:  # type: ignore[no-untyped-def]
    w_phone = watches.add_watch(store, ann, "auto", "713.555.0142")
    w_search = watches.add_watch(store, ann, "search", "visiting Denver")
    w_photo = watches.add_watch(store, ann, "photo", PDQ)
    assert (
        watches.add_watch(store, ann, "phone", "7135550142")["id"] == w_phone["id"]
    )  # no duplicate
    pks = add_ads(
        store,
        [
            {
                "id": "n1",
                "body": "call 713-555-0142 now",
                "mentions": [("phone", "713-555-0142", "+17135550142")],
            },
            {"id": "n2", "body": "visiting Denver this week"},
            {
                "id": "n3",
                "body": "nothing to see",
                "images": [{"pdq": NEAR_PDQ, "sha256": "0" * 64}],
            },
            {
                "id": "n4",
                "body": "unrelated 713-555-0143",
                "mentions": [("phone", "713-555-0143", "+17135550143")],
            },
        ],
    )
    created = watches.check_new_ads(store, pks, Settings())
    got = sorted((a["watch"]["id"], a["ad"]["id"]) for a in created)
    assert got == sorted([(w_phone["id"], "n1"), (w_search["id"], "n2"), (w_photo["id"], "n3")])
    assert watches.check_new_ads(store, pks, Settings()) == []  # re-checking adds nothing
    assert watches.unseen_count(store, ann) == 3
    listed = watches.list_alerts(store, ann)
    assert {a["ad_id"] for a in listed} == {"n1", "n2", "n3"}
    photo_alert = next(a for a in listed if a["ad_id"] == "n3")
    assert photo_alert["detail"]["distance"] == 8
    assert watches.mark_seen(store, ann, [listed[0]["id"]]) == 1
    assert watches.unseen_count(store, ann) == 2
    assert watches.mark_seen(store, ann) == 2
    assert watches.list_alerts(store, ann, unseen_only=True) == []


def test_stopped_watches_and_other_users(store, ann) -> None:  # type: ignore[no-untyped-def]
    bob = users.add_user(store, "bob", "analyst", "long enough")
    w = watches.add_watch(store, ann, "phone", "713-555-0142")
    assert not watches.delete_watch(store, bob, w["id"])  # not bob's
    assert watches.delete_watch(store, ann, w["id"])
    pks = add_ads(
        store,
        [
            {
                "id": "n1",
                "body": "713-555-0142",
                "mentions": [("phone", "713-555-0142", "+17135550142")],
            }
        ],
    )
    assert watches.check_new_ads(store, pks, Settings()) == []
    assert watches.list_watches(store, ann) == []
    assert watches.list_alerts(store, bob) == []


def test_webhook_receives_identifiers_not_text(store, ann) -> None:  # type: ignore[no-untyped-def]
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        watches.add_watch(store, ann, "phone", "713-555-0142", label="tip 17")
        pks = add_ads(
            store,
            [
                {
                    "id": "n1",
                    "title": "secret words",
                    "body": "713-555-0142",
                    "mentions": [("phone", "713-555-0142", "+17135550142")],
                }
            ],
        )
        url = f"http://127.0.0.1:{server.server_port}/hook"
        created = watches.check_new_ads(store, pks, Settings(webhook_url=url))
        thread.join(timeout=10)
    finally:
        server.server_close()
    assert len(created) == 1 and len(received) == 1
    payload = received[0]
    assert payload["event"] == "safelight.alerts"
    assert payload["alerts"][0]["ad"]["id"] == "n1"
    assert payload["alerts"][0]["watch"]["label"] == "tip 17"
    assert "secret words" not in json.dumps(payload)


def test_an_unreachable_webhook_does_not_fail_the_check(store, ann) -> None:  # type: ignore[no-untyped-def]
    watches.add_watch(store, ann, "phone", "713-555-0142")
    pks = add_ads(
        store,
        [
            {
                "id": "n1",
                "body": "713-555-0142",
                "mentions": [("phone", "713-555-0142", "+17135550142")],
            }
        ],
    )
    created = watches.check_new_ads(store, pks, Settings(webhook_url="http://127.0.0.1:9/none"))
    assert len(created) == 1
