"""The analyst's pages over the generated corpus: what they show, what they keep inert, and
that every look is in the audit log."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from safelight.cases import audit, users
from safelight.settings import Settings
from safelight.store import Store
from safelight.web.app import create_app
from test_web_corpus import HOSTILE_ID, HOSTILE_PHONE, cheap_password_hashing, corpus_db, login

cheap_password_hashing()

PASSWORD = "a long password"


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[SimpleNamespace]:  # type: ignore[no-untyped-def]
    url = corpus_db(tmp_path_factory.mktemp("web-pages"))
    store = Store.open(url)
    users.add_user(store, "ann", "analyst", PASSWORD)
    app = create_app(Settings.from_env({}, db=url), store)
    c = TestClient(app)
    c.csrf = login(c, "ann", PASSWORD)  # type: ignore[attr-defined]
    yield SimpleNamespace(store=store, c=c)
    store.close()


def _json_block(html: str, block_id: str) -> object:
    m = re.search(rf'<script type="application/json" id="{block_id}">(.*?)</script>', html, re.S)
    assert m, block_id
    return json.loads(m.group(1))


def _last(env: SimpleNamespace, action: str) -> dict:
    return audit.list_entries(env.store, user="ann", action=action, limit=1)[0]


def test_triage_lists_networks_with_reasons_and_sets_status(env) -> None:  # type: ignore[no-untyped-def]
    r = env.c.get("/")
    assert r.status_code == 200
    assert r.text.count('class="network-link"') >= 5
    assert "share a text template" in r.text or "obscured phone" in r.text
    item = re.search(r'name="item" value="([^"]+)"', r.text).group(1)
    saved = env.c.post(
        "/triage/status",
        data={"item": item, "status": "reviewing", "reason": "", "csrf": env.c.csrf},
        headers={"HX-Request": "true"},
    )
    assert saved.status_code == 200 and "saved: reviewing" in saved.text
    assert "<html" not in saved.text  # a fragment for htmx to swap in
    assert _last(env, "triage.status")["target"] == item
    assert (
        env.c.post(
            "/triage/status",
            data={"item": item, "status": "dismissed", "reason": "", "csrf": env.c.csrf},
        ).status_code
        == 400
    )
    inline = env.c.post(
        "/triage/status",
        data={"item": item, "status": "escalated", "reason": " ", "csrf": env.c.csrf},
        headers={"HX-Request": "true"},
    )
    assert inline.status_code == 200 and 'role="alert"' in inline.text and "reason" in inline.text
    assert (
        env.c.post(
            "/triage/status", data={"item": "NOPE", "status": "reviewing", "csrf": env.c.csrf}
        ).status_code
        == 404
    )
    filtered = env.c.get("/?status=reviewing")
    assert item in filtered.text and filtered.text.count('name="item"') == 1
    assert _last(env, "triage.view")["detail"]["filters"]["status"] == "reviewing"


def test_search_marks_matches_offers_facets_and_is_audited(env) -> None:  # type: ignore[no-untyped-def]
    r = env.c.get("/search?q=companionship")
    assert r.status_code == 200
    assert "<mark>" in r.text.lower() or "<mark>companionship" in r.text.lower()
    assert re.search(r"<mark>[Cc]ompanionship</mark>", r.text)
    for facet in ("Site", "Place", "Month", "Score"):
        assert f"<h3>{facet}</h3>" in r.text
    entry = _last(env, "search")
    assert entry["target"] == "companionship" and entry["detail"]["results"] > 0
    site = re.search(r'href="(/search\?q=companionship&amp;site=[^"]+)"', r.text).group(1)
    narrowed = env.c.get(site.replace("&amp;", "&"))
    assert narrowed.status_code == 200


@pytest.mark.parametrize("typed", ["713 555 0199", "(713) 555-0199", "seven one three 555 0199"])
def test_a_typed_phone_goes_to_its_entity_page(env, typed: str) -> None:  # type: ignore[no-untyped-def]
    r = env.c.get("/search", params={"q": typed}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/entities/phone/" + quote(HOSTILE_PHONE, safe="")
    assert _last(env, "search.selector")["target"] == f"phone:{HOSTILE_PHONE}"


def test_an_email_goes_to_its_entity_page_and_text_does_not(env) -> None:  # type: ignore[no-untyped-def]
    r = env.c.get("/search", params={"q": "hostile (at) example dot com"}, follow_redirects=False)
    assert r.headers["location"] == "/entities/email/hostile%40example.com"
    text = env.c.get(
        "/search", params={"q": "new in town call 713-555-0199"}, follow_redirects=False
    )
    assert text.status_code == 200


def test_ad_page_highlights_and_explains_in_place(env) -> None:  # type: ignore[no-untyped-def]
    r = env.c.get(f"/ads/{HOSTILE_ID}")
    assert r.status_code == 200
    phone = re.search(
        r'<mark class="ann m-phone[^"]*" title="([^"]+)" data-ann="(\d+)">713-555-0199</mark>',
        r.text,
    )
    assert phone and HOSTILE_PHONE in phone.group(1)
    hit = re.search(r'<mark class="ann hit cat-[^"]*" title="(indicator [^"]+)"', r.text)
    assert (
        hit and "category" in hit.group(1) and "weight" in hit.group(1) and "source" in hit.group(1)
    )
    assert f'id="ann-{phone.group(2)}"' in r.text  # the side list entry the mark points at
    assert "Watch this phone" in r.text and "New case with this ad" in r.text
    assert _last(env, "ad.view")["target"] == HOSTILE_ID


def test_ad_page_keeps_hostile_markup_inert(env) -> None:  # type: ignore[no-untyped-def]
    html = env.c.get(f"/ads/{HOSTILE_ID}").text
    assert "<script>alert" not in html and "<script>window" not in html
    assert "onerror=" not in html.replace("onerror=&#34;", "").replace("onerror=&quot;", "")
    assert "onmouseover=&#34;alert(5)&#34;" in html or "onmouseover=&quot;alert(5)&quot;" in html
    assert "&lt;script&gt;alert(6)&lt;/script&gt;" in html  # raw HTML shown as text
    assert '<a href="https://ads.example.com' not in html  # source URLs are never links
    assert "https://ads.example.com/hostile-1?&lt;script&gt;" in html


def test_photos_are_hashes_and_unblurring_is_audited(env) -> None:  # type: ignore[no-untyped-def]
    html = env.c.get(f"/ads/{HOSTILE_ID}").text
    assert "/entities/photo/" + "ab" * 32 in html
    assert "<img" not in re.sub(r"<img class=\"blurred\"[^>]*>", "", html)  # never a plain image
    r = env.c.post("/photos/reveal", data={"ad_id": HOSTILE_ID, "n": "0", "csrf": env.c.csrf})
    assert r.status_code == 204
    entry = _last(env, "photo.unblur")
    assert entry["target"] == HOSTILE_ID and entry["detail"]["image"] == 0
    assert env.c.get("/photos/thumb", params={"ad_id": HOSTILE_ID, "n": 0}).status_code == 404


def test_entity_page_has_ads_timeline_map_and_linked_selectors(env) -> None:  # type: ignore[no-untyped-def]
    top = env.c.get("/api/networks?limit=1").json()["networks"][0]
    net = env.c.get(f"/api/networks/{top['id']}").json()
    phone = next(s for s in net["selectors"] if s["kind"] == "phone")
    r = env.c.get(f"/entities/phone/{quote(phone['value'], safe='')}")
    assert r.status_code == 200
    assert f"{phone['count']} ads" in r.text or r.text.count('class="adid"') >= phone["count"]
    data = _json_block(r.text, "entity-map")
    assert data["points"] and all(
        p["latlon"] for p in data["points"] if p["place"] not in data["unplaced"]
    )
    assert '<ol class="timeline">' in r.text
    assert f"network {top['id']}" in r.text
    entry = _last(env, "entity.view")
    assert entry["target"] == f"phone:{phone['value']}"


def test_photo_entity_page_finds_ads_by_hash(env) -> None:  # type: ignore[no-untyped-def]
    r = env.c.get("/entities/photo/" + "ab" * 32)
    assert r.status_code == 200 and HOSTILE_ID in r.text


def test_network_page_has_graph_with_reasons_map_and_template(env) -> None:  # type: ignore[no-untyped-def]
    top = env.c.get("/api/networks?limit=1").json()["networks"][0]
    r = env.c.get(f"/networks/{top['id']}")
    assert r.status_code == 200
    graph = _json_block(r.text, "graph-data")
    nodes = [e for e in graph["elements"] if "source" not in e["data"]]
    edges = [e for e in graph["elements"] if "source" in e["data"]]
    assert len([n for n in nodes if n["data"]["type"] == "ad"]) == min(top["size"], 300)
    assert edges and all(e["data"]["reason"] for e in edges)
    ids = {n["data"]["id"] for n in nodes}
    assert all(e["data"]["source"] in ids and e["data"]["target"] in ids for e in edges)
    assert _json_block(r.text, "network-map")["points"]
    assert "Ads and why each is here" in r.text
    assert _last(env, "network.view")["target"] == top["id"]


def test_missing_things_are_404_pages(env) -> None:  # type: ignore[no-untyped-def]
    assert env.c.get("/ads/no-such-ad").status_code == 404
    assert env.c.get("/networks/NOPE").status_code == 404
    assert env.c.get("/entities/shoe/size-9").status_code == 404
    assert env.c.get("/cases/99999").status_code == 404


def test_lookup_page_lists_every_spelling(env) -> None:  # type: ignore[no-untyped-def]
    r = env.c.get("/lookup", params={"value": "713.555.0199"})
    assert r.status_code == 200 and HOSTILE_ID in r.text and "<code>713-555-0199</code>" in r.text
    assert _last(env, "lookup")["detail"]["selectors"] == [f"phone:{HOSTILE_PHONE}"]


def test_add_to_case_from_a_page_and_case_page(env) -> None:  # type: ignore[no-untyped-def]
    created = env.c.post(
        "/cases",
        data={"title": "From the ad page", "kind": "ad", "ref": HOSTILE_ID, "csrf": env.c.csrf},
        follow_redirects=False,
    )
    case_url = created.headers["location"]
    case_id = int(case_url.rsplit("/", 1)[1])
    top = env.c.get("/api/networks?limit=1").json()["networks"][0]["id"]
    page = env.c.get(f"/networks/{top}")
    assert f'<option value="{case_id}">' in page.text  # the widget offers the new case
    added = env.c.post(
        "/case-items",
        data={"case_id": case_id, "kind": "network", "ref": top, "csrf": env.c.csrf},
        headers={"HX-Request": "true"},
    )
    assert added.status_code == 200 and f"case #{case_id}" in added.text
    env.c.post(
        f"/cases/{case_id}/notes", data={"text": "<b>check</b> the Houston ads", "csrf": env.c.csrf}
    )
    case = env.c.get(case_url)
    assert HOSTILE_ID in case.text and f"network {top}" in case.text
    assert "&lt;b&gt;check&lt;/b&gt;" in case.text
    assert "case #" in case.text  # the header shows the case being worked
    for fmt, magic in (("html", b"<!doctype html>"), ("pdf", b"%PDF"), ("zip", b"PK")):
        r = env.c.get(f"/cases/{case_id}/export.{fmt}")
        assert r.status_code == 200 and r.content.startswith(magic), fmt
        assert "attachment" in r.headers["content-disposition"]
    # views are audited against the case being worked
    env.c.get(f"/ads/{HOSTILE_ID}")
    assert _last(env, "ad.view")["detail"]["case"] == case_id


def test_watch_page_and_alerts_badge(env) -> None:  # type: ignore[no-untyped-def]
    r = env.c.post(
        "/watches",
        data={"kind": "auto", "value": "(713) 555-0198", "label": "tip", "csrf": env.c.csrf},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "+17135550198" in env.c.get("/watches").text
    bad = env.c.post("/watches", data={"kind": "phone", "value": "no number", "csrf": env.c.csrf})
    assert bad.status_code == 400
    assert 'id="alert-badge"' not in env.c.get("/alerts").text


def test_a_bare_at_handle_finds_the_name_on_any_platform(env) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from safelight.store.schema import mentions

    with env.store.engine.connect() as conn:
        value = conn.scalar(sa.select(mentions.c.value).where(mentions.c.kind == "handle").limit(1))
    name = value.split(":", 1)[1]
    r = env.c.get("/search", params={"q": f"@{name}"}, follow_redirects=False)
    assert r.headers["location"] == "/entities/handle/" + quote(f"unknown:{name}", safe="")
    page = env.c.get(r.headers["location"])
    assert page.status_code == 200 and 'class="adid"' in page.text
    assert f"as {value}" in page.text  # which platform each ad named


def test_a_stored_thumbnail_is_shown_blurred_and_never_by_the_api(env) -> None:  # type: ignore[no-untyped-def]
    """Contract with the photo stage: a blurred thumbnail, if kept, is base64 JPEG under
    images[n]["thumbnail"]. The page shows it blurred; the API never sends it."""
    import base64
    import io

    import sqlalchemy as sa
    from PIL import Image

    from safelight.store.schema import ads

    buf = io.BytesIO()
    Image.linear_gradient("L").resize((32, 32)).convert("RGB").save(buf, "JPEG")
    images = [{"sha256": "ab" * 32, "thumbnail": base64.b64encode(buf.getvalue()).decode()}]
    with env.store.engine.begin() as conn:
        old = conn.scalar(sa.select(ads.c.images).where(ads.c.id == HOSTILE_ID))
        conn.execute(sa.update(ads).where(ads.c.id == HOSTILE_ID).values(images=json.dumps(images)))
    try:
        html = env.c.get(f"/ads/{HOSTILE_ID}").text
        assert re.search(r'<img class="blurred" src="/photos/thumb\?ad_id=hostile-1&amp;n=0"', html)
        assert "data-reveal" in html
        thumb = env.c.get("/photos/thumb", params={"ad_id": HOSTILE_ID, "n": 0})
        assert thumb.status_code == 200 and thumb.content == buf.getvalue()
        assert "thumbnail" not in json.dumps(env.c.get(f"/api/ads/{HOSTILE_ID}").json())
    finally:
        with env.store.engine.begin() as conn:
            conn.execute(sa.update(ads).where(ads.c.id == HOSTILE_ID).values(images=old))
