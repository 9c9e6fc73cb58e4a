"""Retention: old ads nobody works on are purged; evidence never is. Both backends."""

from __future__ import annotations

import contextlib
import io
import json

import sqlalchemy as sa

from safelight.cases import audit, cases, retention, users, watches
from safelight.link.incremental import link_new
from safelight.link.networks import network_of_ad
from safelight.settings import Settings
from safelight.store.schema import ads, mentions
from test_web_corpus import add_ads, cheap_password_hashing

cheap_password_hashing()


def _ad(ad_id: str, phone: str) -> dict:
    raw = f"713-555-{phone}"
    return {
        "id": ad_id,
        "body": f"Companionship, call {raw}",
        "mentions": [("phone", raw, f"+1713555{phone}")],
    }


def _setup(store):  # type: ignore[no-untyped-def]
    add_ads(
        store,
        [
            _ad("case-ad", "0101"),
            _ad("case-ad-sibling", "0101"),  # same network as an ad in a case
            _ad("watched", "0103"),
            _ad("lonely", "0104"),
            _ad("pair-a", "0105"),
            _ad("pair-b", "0105"),
            _ad("net-a", "0108"),
            _ad("net-b", "0108"),
            _ad("recent", "0110"),
        ],
    )
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(ads).where(ads.c.id != "recent").values(ingested_at="2020-01-01T00:00:00Z")
        )
    settings = Settings(db="unused", retention_days=180)
    link_new(store, settings)
    ann = users.add_user(store, "ann", "analyst", "a long password")
    case = cases.create_case(store, ann, "Kept")
    cases.add_item(store, case["id"], ann, "ad", "case-ad")
    cases.add_item(store, case["id"], ann, "network", network_of_ad(store, "net-a"))
    watches.add_watch(store, ann, "phone", "713-555-0103")
    return settings


def test_dry_run_lists_and_keeps_everything(store) -> None:  # type: ignore[no-untyped-def]
    settings = _setup(store)
    result = retention.purge(store, settings)
    assert result["applied"] is False
    assert sorted(result["ids"]) == ["lonely", "pair-a", "pair-b"]
    assert result["older"] == 8 and result["kept"] == 5
    assert result["kept_by_reason"]["case"] == 1
    assert result["kept_by_reason"]["case_network"] == 2
    assert result["kept_by_reason"]["watch"] == 1
    assert result["kept_by_reason"]["same_network"] == 1
    assert store.count() == 9
    assert not audit.list_entries(store, action="retention.purge")


def test_apply_deletes_cascades_relinks_and_audits(store) -> None:  # type: ignore[no-untyped-def]
    settings = _setup(store)
    before = {a: network_of_ad(store, a) for a in ("case-ad", "net-a", "watched")}
    result = retention.purge(store, settings, apply=True, user="admin-1")
    assert result["applied"] and result["purge"] == 3
    assert store.count() == 6
    for gone in ("lonely", "pair-a", "pair-b"):
        assert store.get_ad(gone) is None
    assert network_of_ad(store, "pair-a") is None
    assert {a: network_of_ad(store, a) for a in before} == before  # evidence keeps its ids
    assert network_of_ad(store, "case-ad-sibling") == before["case-ad"]
    with store.engine.connect() as conn:
        orphans = conn.scalar(
            sa.select(sa.func.count())
            .select_from(mentions)
            .where(~mentions.c.ad_pk.in_(sa.select(ads.c.pk)))
        )
    assert orphans == 0
    assert not store.find_mentions([("phone", "+17135550104")])["ads"]
    assert not store.search("companionship", limit=50) or all(
        a["id"] not in ("lonely", "pair-a", "pair-b")
        for a in store.search("companionship", limit=50)
    )
    [entry] = audit.list_entries(store, action="retention.purge")
    assert entry["user"] == "admin-1" and entry["detail"]["purged"] == 3
    assert sorted(entry["detail"]["first_ids"]) == ["lonely", "pair-a", "pair-b"]
    assert audit.verify(store)["ok"]
    assert retention.purge(store, settings, apply=True)["purge"] == 0  # nothing left to do


def test_cli_dry_run_then_apply(store, db_url) -> None:  # type: ignore[no-untyped-def]
    from safelight.cli import main

    _setup(store)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["purge", "--db", db_url]) == 0
    text = out.getvalue()
    assert "would purge 3 of 8" in text and "lonely" in text and "dry run" in text
    assert store.count() == 9
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["purge", "--db", db_url, "--apply", "--json"]) == 0
    result = json.loads(out.getvalue())
    assert result["applied"] and result["purge"] == 3 and store.count() == 6
    assert audit.list_entries(store, action="retention.purge")[0]["user"] == "cli"


def test_a_watched_photo_keeps_its_ads(store) -> None:  # type: ignore[no-untyped-def]
    """A photo watch or case entity holds a bare digest; the ads whose photo selectors carry
    it as SHA-256 or PDQ are kept (found through the indexed mentions, not the photos table)."""
    import hashlib

    from safelight.records import Ad, Mention, ProcessedAd

    sha, pdq = "ab" * 32, "cd" * 32
    items = []
    for ad_id, value in (("by-sha", f"sha256:{sha}"), ("by-pdq", f"pdq:{pdq}"), ("other", None)):
        mentions = [Mention("photo", value, "img.jpg", -1, -1)] if value else []
        ad = Ad(
            id=ad_id,
            title="",
            body="Companionship",
            raw_sha256=hashlib.sha256(ad_id.encode()).hexdigest(),
        )
        items.append(ProcessedAd(ad=ad, mentions=mentions))
    store.add_batch(items)
    ann = users.add_user(store, "ann", "analyst", "a long password")
    watches.add_watch(store, ann, "photo", sha.upper())
    case = cases.create_case(store, ann, "Photos")
    cases.add_item(store, case["id"], ann, "entity", f"photo:{pdq}")
    with store.engine.connect() as conn:
        kept = retention.protected(conn)
        pk_of = dict(conn.execute(sa.select(ads.c.id, ads.c.pk)).all())
    assert kept["watch"] == {pk_of["by-sha"]}
    assert kept["case"] == {pk_of["by-pdq"]}
