"""The triage queue: ranking with reasons, decisions and their history, dismissals that come
back with new ads, the learned model beside (never instead of) the rule score, explanations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safelight.generate import write_corpus
from safelight.ingest.pipeline import ingest_paths
from safelight.link.incremental import link_new
from safelight.settings import Settings
from safelight.store import Store
from safelight.triage.explain import explain
from safelight.triage.learned import train
from safelight.triage.queue import history, refresh_scores, set_status, triage


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("triage")
    write_corpus(out, 1500, seed=4)
    return out


@pytest.fixture
def loaded(corpus: Path, db_url: str) -> Store:
    store = Store.open(db_url)
    settings = Settings.from_env(db=db_url, workers=1)
    ingest_paths([corpus / "ads.jsonl"], store, settings, progress=False)
    link_new(store, settings)
    refresh_scores(store)
    return store


def _truth(corpus: Path) -> dict[str, dict]:
    rows = (json.loads(line) for line in (corpus / "truth.jsonl").read_text().splitlines())
    return {r["id"]: r for r in rows}


def test_queue_is_ranked_with_reasons(loaded: Store, corpus: Path) -> None:
    items = triage(loaded, limit=10)
    assert len(items) == 10
    scores = [it["score"] for it in items]
    assert scores == sorted(scores, reverse=True)
    for it in items:
        assert it["network"] and it["ads"] and it["reasons"] and it["places"] is not None
    truth = _truth(corpus)
    top = items[0]
    assert any(truth[a]["kind"] == "organised" for a in top["ads"])


def test_dismissed_item_returns_only_with_new_ads(loaded: Store, db_url: str) -> None:
    item = triage(loaded, limit=1, min_size=2)[0]
    with pytest.raises(ValueError):
        set_status(loaded, item["network"], "dismissed", "", "ana")  # a reason is required
    set_status(loaded, item["network"], "dismissed", "adult independent, checked", "ana")
    assert item["network"] not in {it["network"] for it in triage(loaded, limit=500)}
    assert item["network"] in {
        it["network"] for it in triage(loaded, limit=500, include_dismissed=True)
    }

    # a new ad arrives in the network (same phone, new text): the item comes back
    ad = loaded.get_ad(item["ads"][0])
    phone = next(m for m in ad["mentions"] if m["kind"] == "phone")
    extra = (
        Path(db_url.replace("sqlite:///", "") + ".new.jsonl")
        if db_url.startswith("sqlite")
        else None
    )
    if extra is None:
        import tempfile

        extra = Path(tempfile.mkdtemp()) / "new.jsonl"
    extra.write_text(
        json.dumps({"id": "new-arrival", "body": f"Back this week, call {phone['raw']}"}) + "\n"
    )
    settings = Settings.from_env(db=db_url, workers=1)
    ingest_paths([extra], loaded, settings, progress=False)
    link_new(loaded, settings)
    back = {it["network"]: it for it in triage(loaded, limit=500)}
    assert item["network"] in back and back[item["network"]]["status"] == "new"


def test_decisions_are_kept_and_labels_round_trip(loaded: Store) -> None:
    items = triage(loaded, limit=12)
    for i, it in enumerate(items):
        status = "escalated" if i % 2 == 0 else "dismissed"
        set_status(loaded, it["network"], status, f"reason {i}", "ana")
    set_status(loaded, items[0]["network"], "reviewing", "", "bo")
    rows = history(loaded)
    assert len(rows) == 13
    assert rows[-1]["status"] == "reviewing" and rows[-1]["user"] == "bo"
    assert all("model" in r["features"] for r in rows)
    assert {r["item"] for r in rows if r["status"] == "escalated"} >= {items[2]["network"]}


def test_learned_model_is_shown_beside_never_instead(loaded: Store) -> None:
    items = triage(loaded, limit=16)
    for i, it in enumerate(items):
        set_status(loaded, it["network"], "escalated" if i < 8 else "dismissed", "labelled", "ana")
    model = train(loaded)
    assert {"roc_auc", "precision_at_k"} <= model["quality"].keys()
    ranked = triage(loaded, limit=10, include_dismissed=True)
    assert all("model" in it and "score" in it for it in ranked)
    scores = [it["score"] for it in ranked]
    assert scores == sorted(scores, reverse=True)  # the rule score still ranks
    assert all(it["model"]["note"].startswith("learned from analyst decisions") for it in ranked)


def test_explain_ad_and_network(loaded: Store) -> None:
    item = triage(loaded, limit=1, min_size=2)[0]
    net = explain(loaded, item["network"])
    assert net is not None and net["kind"] == "network"
    assert [r["text"] for r in net["reasons"] if r["weight"] > 0][:5] == item["reasons"]
    ad_id = next(a["id"] for a in net["ads"])
    ad = explain(loaded, ad_id)
    assert ad is not None and ad["kind"] == "ad" and ad["network"] == item["network"]
    stored = loaded.get_ad(ad_id)
    text = stored["title"] + "\n" + stored["body"] if stored["title"] else stored["body"]
    for hit in ad["hits"]:
        assert text[hit["start"] : hit["end"]] == hit["matched"]
        assert hit["source"]


def _unscored(store: Store) -> int:
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        return int(conn.scalar(sa.text("SELECT count(*) FROM networks WHERE scored_at IS NULL")))


def test_a_queue_view_never_waits_for_another_scorer(loaded: Store) -> None:
    """While another process is scoring (it holds the scoring lock), a queue view answers at
    once with the queue as it stands instead of queueing behind it; the scorer finishes the job."""
    import time

    import sqlalchemy as sa

    from safelight.triage.queue import SCORING_LOCK_KEY

    with loaded.engine.begin() as conn:
        conn.execute(sa.text("UPDATE networks SET scored_at = NULL"))
    waiting = _unscored(loaded)
    assert waiting > 0
    other = Store.open(str(loaded.engine.url.render_as_string(hide_password=False)), migrate=False)
    try:
        with other.engine.begin() as conn:  # "another process" in the middle of scoring
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCORING_LOCK_KEY})
            else:
                conn.execute(sa.text("UPDATE networks SET score = score WHERE 1 = 0"))
            started = time.monotonic()
            items = triage(loaded, limit=5)
            assert time.monotonic() - started < 5  # not the 30 s a lock wait would take
            assert len(items) == 5
            assert refresh_scores(loaded, wait=False) == 0
            assert _unscored(loaded) == waiting
    finally:
        other.close()
    assert refresh_scores(loaded) == waiting  # the lock is free again: everything is scored
    assert _unscored(loaded) == 0


def test_a_queue_view_scores_a_bounded_share(loaded: Store) -> None:
    import sqlalchemy as sa

    from safelight.triage import queue

    with loaded.engine.begin() as conn:
        conn.execute(sa.text("UPDATE networks SET scored_at = NULL"))
    waiting = _unscored(loaded)
    assert waiting > 3
    assert queue.refresh_scores(loaded, limit=3, wait=False) == 3
    assert _unscored(loaded) == waiting - 3
