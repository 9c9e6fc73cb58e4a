"""Ingest end to end: nothing lost, nothing twice, hostile input, resume after SIGKILL, the CLI."""

from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from safelight.generate import write_corpus
from safelight.ingest.pipeline import ingest_paths
from safelight.ingest.sources import RawRecord
from safelight.link.incremental import link_new, rebuild
from safelight.settings import Settings
from safelight.store import Store

SAFELIGHT = [sys.executable, "-m", "safelight"]


def _run(
    *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SAFELIGHT, *args], input=stdin, capture_output=True, text=True, check=check, timeout=300
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    write_corpus(out, 400, seed=5)
    return out


def test_ingest_then_reingest_changes_nothing(corpus: Path, db_url: str) -> None:
    settings = Settings.from_env(db=db_url, workers=1, batch_size=150)
    store = Store.open(db_url)
    first = ingest_paths([corpus / "ads.jsonl"], store, settings, progress=False)
    assert (first.read, first.stored, first.rejected) == (400, 400, 0)
    again = ingest_paths([corpus / "ads.jsonl"], store, settings, progress=False)
    assert (again.stored, again.duplicates) == (0, 400)
    forced = ingest_paths([corpus / "ads.jsonl"], store, settings, progress=False, force=True)
    assert (forced.read, forced.stored, forced.duplicates) == (400, 0, 400)
    assert store.count() == 400
    store.close()


def test_bulk_writes_leave_planner_statistics_that_count_them(
    corpus: Path, tmp_path: Path, db_url: str
) -> None:
    """PostgreSQL plans from what ANALYZE last counted (unanalysed, scoring 300,000 ads' networks
    took 4x as long): after a bulk ingest and its link the statistics must count the new rows,
    and a top-up of under a tenth must not pay for analysing the big tables again."""
    settings = Settings.from_env(db=db_url, workers=1, batch_size=150)
    store = Store.open(db_url)
    lines = (corpus / "ads.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "bulk.jsonl").write_text("".join(lines[:380]))
    (tmp_path / "top_up.jsonl").write_text("".join(lines[380:]))

    def load(name: str) -> None:
        ingest_paths([tmp_path / name], store, settings, progress=False)
        link_new(store, settings)

    def counted() -> dict[str, float]:
        with store.engine.connect() as conn:
            if conn.dialect.name == "sqlite":  # plans there were tuned without statistics
                return {"sqlite_stat1": conn.scalar(sa.text(_SQLITE_STATS)) or 0}
            return {name: n for name, n in conn.execute(sa.text(_PG_COUNTED))}

    load("bulk.jsonl")
    after_bulk = counted()
    load("top_up.jsonl")
    if store.engine.dialect.name == "sqlite":
        assert after_bulk == counted() == {"sqlite_stat1": 0}
    else:
        assert after_bulk["ads"] == after_bulk["ads_fts"] == after_bulk["ad_networks"] == 380
        assert after_bulk["mentions"] > 380 and after_bulk["networks"] > 0
        after_top_up = counted()  # a table of a few pages may grow a tenth by one page
        assert all(after_top_up[t] == after_bulk[t] for t in ("ads", "ads_fts", "mentions"))
        analysed = _PG_ANALYSED.format(table="selectors")
        with store.engine.connect() as conn:
            before = conn.scalar(sa.text(analysed))
        rebuild(store, settings)  # rewrites every link table: analysed whatever its growth
        with store.engine.connect() as conn:
            assert conn.scalar(sa.text(analysed)) == before + 1
    store.close()


_SQLITE_STATS = "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
_PG_COUNTED = (
    "SELECT relname, reltuples FROM pg_class WHERE relkind = 'r' AND relname IN"
    " ('ads', 'ads_fts', 'mentions', 'ad_networks', 'networks')"
)

_PG_ANALYSED = "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = '{table}'"


def _hostile_lines() -> list[bytes]:
    good = {"id": "ok-1", "title": "Hello", "body": "Sweet and friendly, call 713-555-0142"}
    return [
        json.dumps(good).encode(),
        b'{"id": "bad-json", "body": "unterminated',
        b'["a", "list", "not", "an", "object"]',
        b'"just a string"',
        json.dumps({"id": "no-text", "site": "x"}).encode(),
        b'{"id": "bad-utf8", "body": "caf\xe9 \xff\xfe"}',
        json.dumps({"id": "nul", "body": "before\u0000after call 281-555-0199"}).encode(),
        json.dumps({"id": "huge", "body": "long text " * 300_000}).encode(),
        json.dumps(
            {
                "id": "html",
                "body": "<p>Hi</p><script>alert(1)</script><img src=x onerror=alert(2)>"
                " text me 305-555-0123",
            }
        ).encode(),
        json.dumps(
            {
                "id": 12345,
                "title": 678,
                "body": ["not", "a", "string"],
                "images": "x.jpg",
                "posted_at": "not a date",
            }
        ).encode(),
        b"",
        json.dumps(
            {"id": "ok-2", "body": "Visiting this week, email jade (at) example (dot) com"}
        ).encode(),
    ]


def test_hostile_input_every_record_stored_or_rejected(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(_hostile_lines()) + b"\n")
    settings = Settings.from_env(db=db_url, workers=1)
    store = Store.open(db_url)
    summary = ingest_paths([path], store, settings, progress=False)
    assert summary.read == 11  # the blank line is not a record
    assert summary.read == summary.stored + summary.rejected + summary.duplicates
    rejects = store.list_rejects()
    assert {r["line"] for r in rejects} >= {2, 3, 4, 5}
    assert all(r["reason"] for r in rejects)
    html = store.get_ad("html")
    assert html is not None and "<script>" not in html["body"] and "alert(1)" not in html["body"]
    nul = store.get_ad("nul")
    assert nul is not None and "\x00" not in nul["body"]
    assert any(m["value"] == "+12815550199" for m in nul["mentions"])
    huge = store.get_ad("huge")
    assert huge is not None and len(huge["body"]) <= settings.max_body_chars
    assert ingest_paths([path], store, settings, progress=False, force=True).stored == 0
    assert store.count("rejects") == len(rejects)
    store.close()


def test_heavy_ads_make_smaller_chunks_and_batches(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Chunks close at CHUNK_BYTES of input and batches at BATCH_ROWS mention and hit rows,
    so ads of 200,000 characters with thousands of mentions each cannot pile up in a worker
    or in the writer; nothing is lost or stored twice for it."""
    from safelight.ingest import pipeline

    light = [RawRecord("a.jsonl", i, {}, b"x" * 10, None) for i in range(5)]
    assert [len(c) for c in pipeline._chunked(light, n=3, most_bytes=1_000)] == [3, 2]  # by count
    heavy = [RawRecord("a.jsonl", i, {}, b"x" * 400, None) for i in range(5)]
    assert [len(c) for c in pipeline._chunked(heavy, n=250, most_bytes=1_000)] == [3, 2]  # bytes

    path = tmp_path / "heavy.jsonl"
    body = "call 713-555-0142, 713-555-0143 or 713-555-0144. " * 40  # 120 phone mentions
    path.write_text(
        "".join(json.dumps({"id": f"h{i}", "body": f"{i} {body}"}) + "\n" for i in range(12))
    )
    monkeypatch.setattr(pipeline, "CHUNK_BYTES", 5_000)  # two such ads
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 300)  # about three
    url = f"sqlite:///{tmp_path / 'h.db'}"
    store = Store.open(url)
    batches: list[int] = []
    settings = Settings.from_env(db=url, workers=1, batch_size=2_000)
    summary = ingest_paths(
        [path], store, settings, progress=False, on_batch=lambda _s, pks: batches.append(len(pks))
    )
    assert (summary.read, summary.stored) == (12, 12) and store.count() == 12
    assert sum(batches) == 12 and len(batches) >= 4  # flushed by rows, not by batch_size
    store.close()


def test_gzip_jsonl(tmp_path: Path, corpus: Path, db_url: str) -> None:
    path = tmp_path / "ads.jsonl.gz"
    with gzip.open(path, "wb") as f:
        f.write((corpus / "ads.jsonl").read_bytes())
    store = Store.open(db_url)
    summary = ingest_paths([path], store, Settings.from_env(db=db_url, workers=1), progress=False)
    assert summary.stored == 400
    store.close()


@pytest.mark.slow
def test_resume_after_sigkill_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    write_corpus(corpus, 6000, seed=9)
    path = corpus / "ads.jsonl"
    lines = path.read_bytes().splitlines()
    lines.insert(100, b"{broken")  # a reject before the kill point
    path.write_bytes(b"\n".join(lines) + b"\n")
    db = tmp_path / "kill.db"
    env = {**os.environ, "SAFELIGHT_BATCH_SIZE": "300", "SAFELIGHT_WORKERS": "1"}
    proc = subprocess.Popen(
        [*SAFELIGHT, "ingest", str(path), "--db", str(db), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 240
    stored = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            with sqlite3.connect(db, timeout=1) as conn:
                stored = conn.execute("SELECT count(*) FROM ads").fetchone()[0]
        except sqlite3.Error:
            continue
        if stored >= 900:
            break
    assert proc.poll() is None, "ingest finished before it could be killed: make the corpus larger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < stored < 6000
    done = _run("ingest", str(path), "--db", str(db), "--json")
    summary = json.loads(done.stdout)
    assert summary["skipped_resumed"] > 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM ads").fetchone()[0] == 6000
        assert conn.execute("SELECT count(DISTINCT raw_sha256) FROM ads").fetchone()[0] == 6000
        assert conn.execute("SELECT count(*) FROM rejects").fetchone()[0] == 1
        # every ad got linked into a network, including those stored before the kill
        assert conn.execute("SELECT count(*) FROM ad_networks").fetchone()[0] == 6000


def test_cli_json_summary_lookup_and_search(tmp_path: Path, corpus: Path) -> None:
    db = str(tmp_path / "cli.db")
    out = _run("ingest", str(corpus / "ads.jsonl"), "--db", db, "--json", "--workers", "1")
    summary = json.loads(out.stdout)
    assert {"read", "stored", "duplicates", "rejected"} <= summary.keys()
    assert out.stderr == ""  # no progress bar when not on a terminal
    truth = [json.loads(line) for line in (corpus / "truth.jsonl").read_text().splitlines()]
    disguised = next(t for t in truth if t["phone_obfuscated"] and t["phones"])
    phone = disguised["phones"][0]
    typed = f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"
    found = json.loads(_run("lookup", typed, "--db", db, "--json").stdout)
    ids = {a["id"] for a in found["ads"]}
    assert disguised["id"] in ids
    expected = {t["id"] for t in truth if phone in t["phones"]}
    assert expected <= ids
    search = json.loads(_run("search", "friendly", "--db", db, "--json").stdout)
    assert search["ads"] and search["ranked_within"] is None
    # SAFELIGHT_SEARCH_RANK_WITHIN bounds the ranking to the newest matches, and says so
    env = {**os.environ, "SAFELIGHT_SEARCH_RANK_WITHIN": "3"}
    bounded = subprocess.run(
        [*SAFELIGHT, "search", "friendly", "--db", db, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert json.loads(bounded.stdout)["ranked_within"] == 3
    text = subprocess.run(
        [*SAFELIGHT, "search", "friendly", "--db", db],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert "the best of the 3 most recently added" in text.stderr
    every = subprocess.run(
        [*SAFELIGHT, "search", "friendly", "--db", db, "--json", "--rank-all"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    ranked_all = json.loads(every.stdout)
    assert ranked_all["ranked_within"] is None
    assert [a["id"] for a in ranked_all["ads"]] == [a["id"] for a in search["ads"]]


def test_cli_database_errors_are_one_line_without_the_batch(tmp_path: Path) -> None:
    """A database error prints the driver's message, not SQLAlchemy's statement and
    parameters (for an ingest batch, pages of ad text), and exits 2."""
    junk = tmp_path / "not-a-database.db"
    junk.write_text("this is not SQLite\n" * 100)
    r = _run("search", "hello", "--db", str(junk), check=False)
    assert r.returncode == 2
    assert r.stderr.startswith("safelight: database error: file is not a database")
    assert "Traceback" not in r.stderr and "[SQL:" not in r.stderr


def test_cli_extract_stdin_and_text() -> None:
    line = json.dumps(
        {"id": "x1", "body": "call seven one three, five5five, o142 or jade@example.com"}
    )
    out = json.loads(_run("extract", stdin=line + "\n").stdout)
    assert out["id"] == "x1"
    assert [p["value"] for p in out["phones"]] == ["+17135550142"]
    assert out["phones"][0]["obfuscated"] is True
    for kind in (
        "phones",
        "emails",
        "handles",
        "payments",
        "ages",
        "places",
        "prices",
        "urls",
        "names",
    ):
        assert isinstance(out[kind], list)
    one = json.loads(_run("extract", "--text", "I'm 19, $200/hr").stdout)
    assert [a["value"] for a in one["ages"]] == [19]
