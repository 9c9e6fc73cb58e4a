"""Stored XSS in a real browser: ads carrying a battery of hostile payloads in every field
(title, body, location, site, url, image URLs, names, handles, even the ad id) are ingested
through the real pipeline, then every page that shows them is visited: triage, search, lookup,
ad, entity, networks, network, case and case report. Nothing may run: no dialog, no page error,
no `window.__xss`, and not even a blocked attempt (CSP violations are listened for, so markup
that escaped the escaping fails the test even though the policy stopped it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from safelight.cases import users
from safelight.settings import Settings
from safelight.web.app import create_app
from test_browser import ARGS, CHROMIUM, PASSWORD, _free_port
from test_web_corpus import cheap_password_hashing, corpus_db, ingest

cheap_password_hashing()

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

PHONE, PHONE_E164 = "713-555-0177", "+17135550177"
PAYLOADS = [
    "<script>window.__xss='script';alert('script')</script>",
    "<img src=x onerror=\"window.__xss='img';alert('img')\">",
    "<svg onload=\"window.__xss='svg';alert('svg')\"></svg>",
    "<svg><script>window.__xss='svgscript'</script></svg>",
    "<body onload=alert('body')>",
    "<iframe src=\"javascript:alert('iframe')\"></iframe>",
    "<a href=\"javascript:alert('href')\">click</a>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('mxss')>",
    "&lt;script&gt;alert('entity')&lt;/script&gt;",
    "&#60;img src=x onerror=alert('numeric')&#62;",
    "\"><script>alert('attr')</script>",
    "' onmouseover='alert(1)' x='",
    "javascript:alert('bare')",
    "<details open ontoggle=alert('toggle')>",
    "<input autofocus onfocus=alert('focus')>",
    "{{7*7}}{% raw %}${alert('tpl')}",
    "<style>@import 'https://evil.example.com/x.css';</style>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(\'meta\')">',
    '<base href="https://evil.example.com/">',
    "<object data=\"javascript:alert('object')\"></object>",
    "\uff1cscript\uff1ealert('fullwidth')\uff1c/script\uff1e <\x00script>",
]


def _hostile_ads() -> list[dict[str, object]]:
    ads: list[dict[str, object]] = []
    for n, p in enumerate(PAYLOADS):
        ads.append(
            {
                "id": f"xss-{n}" if n % 5 else f"xss-{n}\"><svg onload=alert('id')>",
                "site": f"example-listings{p}" if n % 2 else "example-listings",
                "url": "javascript:alert('url')"
                if n % 3 == 0
                else f"https://ads.example.com/{n}?{p}",
                "posted_at": f"2026-02-{1 + n % 27:02d}T12:00:00Z",
                "title": f"Sweet visitor {p} new in town",
                "body": (
                    f"Young-looking and sweet {p} call {PHONE} or write to xss{n}@example.com,"
                    f" ask for Jasmine {p} ig: @xss_{n}{p} companionship in Houston, TX {p}"
                ),
                "location": f"Houston, TX {p}",
                "name": p,
                "handle": p,
                "html": f"<div>{p}</div>",
                "images": [
                    {
                        "url": "javascript:alert('img-url')"
                        if n % 2
                        else f"https://img.example.com/{p}"
                    }
                ],
            }
        )
    return ads


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[SimpleNamespace]:  # type: ignore[no-untyped-def]
    """The shared corpus plus the hostile ads, ingested by the real pipeline (so they are
    extracted, linked into a network and scored), served by uvicorn on a loopback port."""
    import threading
    import time

    import uvicorn

    root = tmp_path_factory.mktemp("xss")
    url = corpus_db(root)
    hostile = root / "xss.jsonl"
    hostile.write_text("".join(json.dumps(a) + "\n" for a in _hostile_ads()), encoding="utf-8")
    store = ingest([hostile], url)
    users.add_user(store, "ann", "analyst", PASSWORD)
    token = users.create_token(store, "ann")
    app = create_app(Settings.from_env({}, db=url), store)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield SimpleNamespace(base=f"http://127.0.0.1:{port}", app=app, token=token)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


def _pages_showing_the_ads(served: SimpleNamespace) -> list[str]:
    api = TestClient(served.app, headers={"Authorization": f"Bearer {served.token}"})
    ads = [api.get(f"/api/ads/{quote(str(a['id']), safe='')}").json() for a in _hostile_ads()]
    assert all("id" in a for a in ads), "a hostile ad was not stored"
    found = api.get(f"/api/lookup?value={quote(PHONE)}").json()["ads"]
    assert len(found) >= len(PAYLOADS) - 3  # a few payloads break the phone's context
    net = api.get(f"/api/ads/{quote(ads[0]['id'], safe='')}").json().get("network")
    net_id = net["id"] if isinstance(net, dict) else net
    case = api.post("/api/cases", json={"title": PAYLOADS[0], "description": PAYLOADS[1]}).json()
    for a in ads:
        api.post(
            f"/api/cases/{case['id']}/items",
            json={"kind": "ad", "ref": a["id"], "label": PAYLOADS[2]},
        )
    api.post(
        f"/api/cases/{case['id']}/items", json={"kind": "entity", "ref": f"phone:{PHONE_E164}"}
    )
    if net_id:
        api.post(f"/api/cases/{case['id']}/items", json={"kind": "network", "ref": net_id})
    api.post(f"/api/cases/{case['id']}/notes", json={"text": PAYLOADS[3]})
    urls = [
        "/",
        "/search?q=sweet+visitor",
        "/search?q=" + quote(PAYLOADS[0]),
        f"/lookup?value={quote(PHONE)}",
    ]
    urls += [f"/entities/phone/{quote(PHONE_E164)}", "/networks", f"/cases/{case['id']}"]
    served.report = api.get(f"/cases/{case['id']}/export.html").text  # opened from disk later
    urls += [f"/ads/{quote(a['id'], safe='')}" for a in ads]
    urls += ["/entities/email/xss1%40example.com"]
    if net_id:
        urls.append(f"/networks/{quote(str(net_id), safe='')}")
    return urls


def test_hostile_payloads_never_run_anywhere(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context()
        context.add_init_script(
            "window.__csp = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        page = context.new_page()
        seen = SimpleNamespace(dialogs=[], errors=[], csp=[], violations=[])
        page.on("dialog", lambda d: (seen.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda exc: seen.errors.append(str(exc)))
        page.on(
            "console",
            lambda m: seen.csp.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(served.base + "/login")
        page.fill("input[name=name]", "ann")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(served.base + "/")

        urls = _pages_showing_the_ads(served)
        for url in urls:
            response = page.goto(served.base + url)
            assert response is not None and response.status < 400, (
                url,
                response and response.status,
            )
            page.wait_for_load_state("networkidle")
            for selector in ("details summary", "#ad-text", "mark", "a", "img"):
                loc = page.locator(selector)
                if loc.count():
                    loc.first.hover()
            for n in range(min(page.locator("details summary").count(), 5)):
                page.locator("details summary").nth(n).click()
            seen.violations += [f"{url}: {v}" for v in page.evaluate("window.__csp || []")]
            assert page.evaluate("typeof window.__xss") == "undefined", url
        # the exported report is opened from disk, away from our headers: escaping alone holds
        report = tmp_path / "report.html"
        report.write_text(served.report, encoding="utf-8")
        assert "Sweet visitor" in served.report or "xss-" in served.report
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__xss") == "undefined", "report"
        seen.violations += [f"report: {v}" for v in page.evaluate("window.__csp || []")]
        context.close()
        browser.close()
    assert seen.dialogs == [] and seen.errors == [], (seen.dialogs, seen.errors)
    assert seen.csp == [] and seen.violations == [], (seen.csp, seen.violations)
    assert len(urls) >= len(PAYLOADS) + 8
