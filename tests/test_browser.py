"""The analyst's day in a real browser (Debian's headless Chromium through Playwright): log in,
open the top network, put it in a case, export the report, set a watch, ingest a matching ad,
see the alert. Hostile ad markup must never run. Screenshots go to tests/screenshots/."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from safelight.cases import users
from safelight.settings import Settings
from safelight.store import Store
from safelight.web.app import create_app
from test_web_corpus import HOSTILE_ID, cheap_password_hashing, corpus_db, ingest

cheap_password_hashing()

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).parent / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "a long password"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium "
        "(apt-get install chromium, or `make browser`)",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[SimpleNamespace]:  # type: ignore[no-untyped-def]
    import uvicorn

    root = tmp_path_factory.mktemp("browser")
    url = corpus_db(root)
    store = Store.open(url)
    users.add_user(store, "ann", "analyst", PASSWORD)
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
        yield SimpleNamespace(base=f"http://127.0.0.1:{port}", url=url, root=root, store=store)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


@pytest.fixture(scope="module")
def browser(served) -> Iterator[SimpleNamespace]:  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = b.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page = context.new_page()
        seen = SimpleNamespace(dialogs=[], errors=[], csp=[], page=page, base=served.base)

        def on_dialog(dialog) -> None:  # type: ignore[no-untyped-def]
            seen.dialogs.append(dialog.message)
            dialog.dismiss()

        def on_console(msg) -> None:  # type: ignore[no-untyped-def]
            if msg.type == "error" and "Content Security Policy" in msg.text:
                seen.csp.append(msg.text)

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda exc: seen.errors.append(str(exc)))
        page.on("console", on_console)
        page.goto(served.base + "/")
        assert "/login" in page.url
        page.fill("input[name=name]", "ann")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(served.base + "/")
        yield seen
        context.close()
        b.close()


def _no_script_ran(seen: SimpleNamespace) -> None:
    assert seen.page.evaluate("typeof window.__xss") == "undefined"
    assert seen.dialogs == [] and seen.errors == []


def test_analyst_day(served, browser) -> None:  # type: ignore[no-untyped-def]
    page, base = browser.page, served.base
    assert page.locator("table.queue tbody tr").count() >= 5
    page.screenshot(path=str(SHOTS / "01-triage.png"))

    # a decision set in place (htmx swaps the row's form; no page load)
    first = page.locator("table.queue tbody tr").first
    first.locator("select[name=status]").select_option("reviewing")
    first.locator("input[name=reason]").fill("looking at the photos")
    first.locator("form.status button").click()
    page.wait_for_selector("text=saved: reviewing")
    assert page.url == base + "/"

    # the top network of the queue (the first row that is more than a lone ad)
    rows = page.locator("table.queue tbody tr", has_text=re.compile(r"\b([2-9]|\d\d+) ads"))
    rows.first.locator("a.network-link").click()
    page.wait_for_selector("[data-graph][data-ready='1']", timeout=20000)
    page.wait_for_selector("[data-map][data-ready='1']", timeout=20000)
    network_id = page.locator("h1 .netid").inner_text()
    network_url = page.url
    assert page.evaluate("window.safelightGraph.nodes().length") > 2
    page.evaluate("() => { window.safelightGraph.edges()[0].emit('tap'); }")
    assert page.locator("#edge-info p").first.inner_text().strip()  # the edge says why
    page.screenshot(path=str(SHOTS / "02-network.png"))

    # into a new case from the network page
    page.click("details.newcase summary")
    page.fill("details.newcase input[name=title]", "Browser case")
    page.click("details.newcase button[type=submit]")
    page.wait_for_url(f"{base}/cases/*")
    assert f"network {network_id}" in page.locator("table.items").inner_text()
    page.fill("textarea[name=text]", "Seen across several cities; ask the partner agency.")
    page.click("form[action$='/notes'] button")
    page.wait_for_selector("ol.notes li")
    page.screenshot(path=str(SHOTS / "03-case.png"), full_page=True)

    # add one of the network's ads to the same case from the ad page (htmx, CSRF header)
    case_url = page.url
    page.goto(network_url)
    page.locator("table a.adid").first.click()
    page.wait_for_selector("#ad-text")
    ad_id = page.locator("h1 .adid").inner_text()
    page.click("button.add-to-case")
    page.wait_for_selector(".added a")
    assert "case #" in page.locator(".added").inner_text()
    page.goto(case_url)
    assert ad_id in page.locator("table.items").inner_text()

    # export the report (HTML and PDF)
    for fmt, magic in (("html", b"<!doctype html>"), ("pdf", b"%PDF")):
        with page.expect_download() as info:
            page.click(f"a.export[href$='export.{fmt}']")
        target = served.root / f"report.{fmt}"
        info.value.save_as(target)
        assert target.read_bytes().startswith(magic)
    assert network_id in (served.root / "report.html").read_text()

    # watch a phone, typed the way a tip gives it
    page.goto(base + "/watches")
    page.fill("input[name=value]", "(646) 555-0166")
    page.fill("input[name=label]", "hotline tip")
    page.click("form[action='/watches'] button[type=submit]")
    page.wait_for_selector("text=+16465550166")
    assert page.locator("#alert-badge").count() == 0

    # a new ad with the number, written another way, is ingested while the app runs
    new = served.root / "new.jsonl"
    new.write_text(
        json.dumps(
            {
                "id": "browser-new-1",
                "title": "Just arrived",
                "body": "text six four six 555 0166 for companionship",
                "posted_at": "2026-11-20T09:00:00Z",
                "location": "Newark, NJ",
            }
        )
        + "\n"
    )
    ingest([new], served.url).close()
    page.goto(base + "/")
    assert page.locator("#alert-badge").inner_text() == "1"
    page.click("#alerts-link")
    page.wait_for_url(base + "/alerts")
    row = page.locator("table.alerts tr.unseen").first
    assert "browser-new-1" in row.inner_text() and "+16465550166" in row.inner_text()
    page.screenshot(path=str(SHOTS / "04-alerts.png"), full_page=True)
    row.locator("a.adid").click()
    page.wait_for_selector("#ad-text mark.m-phone")
    page.screenshot(path=str(SHOTS / "05-ad.png"), full_page=True)
    _no_script_ran(browser)
    assert browser.csp == []


def test_hostile_ad_never_runs_script(served, browser) -> None:  # type: ignore[no-untyped-def]
    page, base = browser.page, served.base
    page.goto(f"{base}/ads/{HOSTILE_ID}")
    page.click("details.rawhtml summary")
    page.hover("#ad-text")
    page.locator("#ad-text mark.ann").first.click()
    assert page.locator("ol.side li.focus").count() >= 1  # the mark points at its explanation
    page.screenshot(path=str(SHOTS / "06-hostile-ad.png"), full_page=True)
    page.goto(f"{base}/search?q=town+companionship")
    page.goto(f"{base}/entities/email/hostile%40example.com")
    page.wait_for_selector("[data-map][data-ready='1']", timeout=20000)
    page.hover(".map")
    _no_script_ran(browser)
    assert browser.csp == []
