"""The storage interface on both backends: dedupe, rejects, checkpoints, search, pivots, migrations."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
import sqlalchemy as sa

from safelight.records import Ad, Mention, ProcessedAd, Reject
from safelight.store import Checkpoint, Store, fts
from safelight.store import db as store_db
from safelight.store.fts import HIGHLIGHT_CLOSE, HIGHLIGHT_OPEN
from safelight.store.rows import ad_rows, for_writer
from safelight.store.schema import photos
from safelight.store.writer import begin_writing


def _item(
    ad_id: str,
    body: str,
    *,
    site: str = "listings-a.example",
    place: str = "Houston, TX",
    when: str = "2026-03-01T10:00:00Z",
    mentions: list[Mention] | None = None,
) -> ProcessedAd:
    sha = hashlib.sha256(f"{ad_id}|{body}".encode()).hexdigest()
    ad = Ad(
        id=ad_id,
        title="Sweet company",
        body=body,
        site=site,
        posted_at=when,
        location=place,
        raw_sha256=sha,
    )
    return ProcessedAd(ad=ad, mentions=mentions or [], place=place, score=0.2)


def test_dedupe_by_content_hash(store: Store) -> None:
    first = store.add_batch([_item("a1", "hello there"), _item("a2", "another one")])
    assert (first.stored, first.duplicates) == (2, 0)
    again = store.add_batch([_item("a1", "hello there"), _item("a2", "another one")])
    assert (again.stored, again.duplicates) == (0, 2)
    assert store.count() == 2


def test_changed_repost_of_same_id_keeps_both_versions(store: Store) -> None:
    store.add_batch([_item("a1", "first version")])
    store.add_batch([_item("a1", "edited version")])
    assert store.count() == 2
    original = store.get_ad("a1")
    assert original is not None and original["body"] == "first version"


def test_rows_built_by_a_worker_are_stored_the_same(store: Store) -> None:
    """Workers send `for_writer` items (rows only); a changed re-post renames its row, and the
    photo and mention rows land as the store would have built them itself."""
    photo = {
        "position": 0,
        "url": "https://img.example/1.jpg",
        "sha256": "ab" * 32,
        "md5": "",
        "pdq": "cd" * 32,
        "quality": 80,
        "low_quality": False,
        "index_hashes": ["cd" * 32],
        "query_hashes": [],
        "thumbnail": None,
    }

    def sent(ad_id: str, body: str) -> ProcessedAd:
        item = _item(
            ad_id, body, mentions=[Mention("phone", "+17135550142", "713-555-0142", 0, 12)]
        )
        item.features["photos"] = [photo]
        item.rows = ad_rows(item)
        return for_writer(item)

    store.add_batch([sent("w1", "first version")])
    store.add_batch([sent("w1", "edited version")])
    assert store.count() == 2 and store.count("mentions") == 2
    assert store.get_ad("w1")["body"] == "first version"
    found = store.find_mentions([("phone", "+17135550142")])["ads"]
    renamed = [a for a in found if a["id"] != "w1"]
    assert len(renamed) == 1 and renamed[0]["id"].startswith("w1#")
    edited = store.get_ad(renamed[0]["id"])
    assert edited["body"] == "edited version" and edited["extra"]["original_id"] == "w1"
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(photos.c.pdq, photos.c.index_hashes)).all()
    assert stored == [("cd" * 32, json.dumps(["cd" * 32]))] * 2
    assert [a["id"] for a in store.search("edited")] == [renamed[0]["id"]]
    if store.dialect == "sqlite":  # the batch's text index is whole and consistent
        with store.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO ads_fts(ads_fts) VALUES ('integrity-check')")


def test_values_a_bulk_copy_must_escape_land_unchanged(store: Store) -> None:
    """PostgreSQL takes batches by COPY: backslashes, tabs, newlines, "\\N", quotes, emoji and
    binary thumbnails must round-trip exactly (SQLite, by executemany, too)."""
    body = "tab\there\nnew line \\N back\\slash \"quoted\" 'single' \U0001f339 end"
    raw = "713\\555\t0142"
    item = _item("c1", body, mentions=[Mention("phone", "+17135550142", raw, 0, 12)])
    thumb = bytes(range(256)) + b"\\N\t\n\x00"
    item.features["photos"] = [
        {
            "position": 0,
            "url": "https://img.example/a\\b.jpg",
            "sha256": "ab" * 32,
            "md5": "",
            "pdq": "cd" * 32,
            "quality": 80,
            "low_quality": True,
            "index_hashes": [],
            "query_hashes": [],
            "thumbnail": thumb,
        }
    ]
    assert store.add_batch([item]).stored == 1
    ad = store.get_ad("c1")
    assert ad is not None and ad["body"] == body
    assert [m["raw"] for m in ad["mentions"]] == [raw]
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(photos.c.url, photos.c.thumbnail, photos.c.low_quality)).one()
    assert (row.url, bytes(row.thumbnail), row.low_quality) == (
        "https://img.example/a\\b.jpg",
        thumb,
        True,
    )


def test_rejects_are_idempotent(store: Store) -> None:
    rows = [Reject("in.jsonl", 3, "invalid JSON"), Reject("in.jsonl", 9, "no title or body")]
    store.add_batch([], rows)
    store.add_batch([], rows)
    assert store.count("rejects") == 2
    assert [r["reason"] for r in store.list_rejects()] == ["invalid JSON", "no title or body"]


def test_checkpoint_saved_with_batch(store: Store) -> None:
    store.add_batch([_item("a1", "x y z")], checkpoint=Checkpoint("src", "fp", 1, False))
    store.add_batch([], checkpoint=Checkpoint("src", "fp", 5, True))
    cp = store.checkpoint("src")
    assert cp is not None and (cp.records_done, cp.complete) == (5, True)


def test_search_highlights_and_filters(store: Store) -> None:
    store.add_batch(
        [
            _item(
                "h1",
                "discreet visiting downtown this weekend",
                place="Houston, TX",
                when="2026-03-01T00:00:00Z",
            ),
            _item(
                "d1",
                "discreet visiting uptown",
                site="cityboard.example",
                place="Dallas, TX",
                when="2026-05-01T00:00:00Z",
            ),
            _item("x1", "nothing relevant here"),
        ]
    )
    hits = store.search("discreet visiting")
    assert {h["id"] for h in hits} == {"h1", "d1"}
    assert all(HIGHLIGHT_OPEN in h["snippet"] and HIGHLIGHT_CLOSE in h["snippet"] for h in hits)
    assert [h["id"] for h in store.search("discreet", place="Dallas, TX")] == ["d1"]
    assert [h["id"] for h in store.search("discreet", site="listings-a.example")] == ["h1"]
    assert [h["id"] for h in store.search("discreet", date_from="2026-04-01")] == ["d1"]
    assert [h["id"] for h in store.search("discreet", date_to="2026-03-01")] == ["h1"]


def test_a_very_long_ad_gets_a_snippet_without_the_engine(store: Store) -> None:
    """SQLite's snippet() weighs every match against the others (4.7 s on a hostile ad that
    repeats a word 22,000 times), so a body past SQLITE_SNIPPET_MAX_CHARS gets one from
    `snippet_from_text`; short ads keep the engine's."""
    long_body = "plain words " * 2_000 + "Discreet, visiting " * 22_000
    assert len(long_body) > fts.SQLITE_SNIPPET_MAX_CHARS
    store.add_batch([_item("long", long_body), _item("short", "discreet visiting uptown")])
    hits = {h["id"]: h["snippet"] for h in store.search("discreet visiting")}
    assert f"{HIGHLIGHT_OPEN}Discreet{HIGHLIGHT_CLOSE}" in hits["long"] and len(hits["long"]) < 400
    assert f"{HIGHLIGHT_OPEN}discreet{HIGHLIGHT_CLOSE}" in hits["short"]
    if store.dialect == "sqlite":  # PostgreSQL's ts_headline has no such cost: it stays
        assert hits["long"].startswith("…plain words plain words ")
        assert f"{HIGHLIGHT_CLOSE}, {HIGHLIGHT_OPEN}visiting{HIGHLIGHT_CLOSE}" in hits["long"]
        assert hits["long"].endswith("…")


def test_snippet_from_text_folds_like_the_index() -> None:
    mark = lambda w: f"{HIGHLIGHT_OPEN}{w}{HIGHLIGHT_CLOSE}"  # noqa: E731
    assert fts.snippet_from_text(["a Café near"], ["CAFE"]) == f"a {mark('Café')} near"
    assert fts.snippet_from_text(["no match", "title Jade"], ["jade"]) == f"title {mark('Jade')}"
    assert fts.snippet_from_text(["snake_case jade_x"], ["jade"]) == f"snake_case {mark('jade')}_x"
    assert fts.snippet_from_text(["nothing here"], ["jade"]) is None
    words = " ".join(f"w{i}" for i in range(100))
    assert fts.snippet_from_text([f"{words} Jade {words}"], ["jade"]) == (
        "…w96 w97 w98 w99 " + mark("Jade") + " " + " ".join(f"w{i}" for i in range(19)) + "…"
    )


def test_search_settings_stay_inside_its_transaction(store: Store) -> None:
    """PostgreSQL searches with more work_mem (fts.prepare), for that search only."""
    store.add_batch([_item("w1", "sweet friendly company")])
    if store.dialect != "postgresql":
        assert [a["id"] for a in store.search("sweet")] == ["w1"]
        return
    with store.engine.connect() as conn:
        default = conn.exec_driver_sql("SHOW work_mem").scalar()
    for _ in range(3):  # the pool hands the same connection back
        assert [a["id"] for a in store.search("sweet")] == ["w1"]
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW work_mem").scalar() == default
    with store.engine.connect() as conn:
        fts.prepare(conn)
        assert conn.exec_driver_sql("SHOW work_mem").scalar() == fts.SEARCH_WORK_MEM


def test_text_index_follows_edits_and_deletes(store: Store) -> None:
    """New ads are indexed by their batch; an edited body and a deleted ad follow (triggers on
    SQLite and PostgreSQL, and on PostgreSQL a cascading key)."""
    store.add_batch([_item("e1", "visiting downtown"), _item("e2", "visiting uptown")])
    assert sorted(a["id"] for a in store.search("visiting")) == ["e1", "e2"]
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE ads SET body = 'leaving harbour' WHERE id = 'e1'"))
        conn.execute(sa.text("DELETE FROM ads WHERE id = 'e2'"))
    assert store.search("visiting") == []
    assert [a["id"] for a in store.search("harbour")] == ["e1"]


def test_search_never_fails_on_operator_text(store: Store) -> None:
    store.add_batch([_item("a", "plain words")])
    for q in ['"unbalanced', "AND OR NOT", "col:umn", "*", "-", "NEAR(", "'; DROP TABLE ads; --"]:
        assert isinstance(store.search(q), list)


def test_find_mentions_pivots_on_normalised_value(store: Store) -> None:
    phone = "+17135550142"
    store.add_batch(
        [
            _item(
                "p1", "call 713-555-0142", mentions=[Mention("phone", phone, "713-555-0142", 5, 17)]
            ),
            _item(
                "p2",
                "seven one three 555 o142",
                place="Dallas, TX",
                when="2026-06-01T00:00:00Z",
                mentions=[
                    Mention("phone", phone, "seven one three 555 o142", 0, 24, obfuscated=True)
                ],
            ),
            _item(
                "p3", "other", mentions=[Mention("phone", "+12815550199", "281-555-0199", 0, 12)]
            ),
        ]
    )
    found = store.find_mentions([("phone", phone)])
    assert {a["id"] for a in found["ads"]} == {"p1", "p2"}
    assert found["places"] == ["Dallas, TX", "Houston, TX"]
    assert (
        found["first_seen"] == "2026-03-01T10:00:00Z"
        and found["last_seen"] == "2026-06-01T00:00:00Z"
    )
    assert any(m["obfuscated"] for a in found["ads"] for m in a["matches"])


def test_migrations_down_and_up(db_url: str) -> None:
    engine = store_db.make_engine(db_url)
    store_db.migrate(engine)
    assert store_db.current_revision(engine) == store_db.head_revision()
    store_db.downgrade(engine, "base")
    assert store_db.current_revision(engine) is None
    store_db.migrate(engine)
    assert store_db.current_revision(engine) == store_db.head_revision()
    engine.dispose()


def test_processes_opening_a_new_database_at_once_all_succeed(db_url: str) -> None:
    """Two ingests, or a server's workers, started together on a new database: each used to
    find no schema and create it, and all but the first failed ("table ads already exists")."""
    opener = (
        "import sys\n"
        "from safelight.store import Store\n"
        "Store.open(sys.argv[1]).close()\n"
        "print('opened')\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", opener, db_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [out.strip() for out, _ in results] == ["opened"] * 4, [e[-400:] for _, e in results]
    engine = store_db.make_engine(db_url)
    assert store_db.current_revision(engine) == store_db.head_revision()
    engine.dispose()


def test_a_writer_waits_out_a_long_one_on_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A link rebuild holds SQLite's writer lock longer than the busy timeout: a batch or a
    link waiting behind it keeps asking instead of failing with "database is locked"."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    Store.open(url).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE'); print('held', flush=True)\n"
            "time.sleep(2); c.execute('COMMIT')\n",
            str(tmp_path / "w.db"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    engine = store_db.make_engine(url)
    try:
        with engine.begin() as conn:  # a short busy timeout: each attempt gives up quickly
            conn.exec_driver_sql("PRAGMA busy_timeout=100")
            with pytest.raises(sa.exc.OperationalError, match="locked"):
                begin_writing(conn, patience_s=0.3)
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA busy_timeout=100")
            begin_writing(conn, patience_s=60)  # outlasts the holder
            conn.execute(sa.text("UPDATE meta SET value = value WHERE 0"))
    finally:
        holder.wait(timeout=30)
        engine.dispose()


def test_schema_declares_what_the_migrations_create(store: Store) -> None:
    """schema.py (and cases/tables.py) must match the migrated database, so code, docs and
    any autogenerated migration see the real tables and indexes. The full-text machinery is
    dialect-specific and made by raw SQL: the ads_fts tables (FTS5's on SQLite, a tsvector
    table on PostgreSQL)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import safelight.cases.tables  # noqa: F401  (registers its tables on the metadata)
    from safelight.store.schema import metadata

    def fts_only(change: object) -> bool:
        if isinstance(change, tuple) and change[0] == "remove_table":
            return str(change[1].name).startswith("ads_fts")
        if isinstance(change, tuple) and change[0] == "remove_index":
            return str(change[1].table.name).startswith("ads_fts")
        return False

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [c for c in diff if not fts_only(c)] == []


def test_text_index_of_a_batch_with_gaps_in_its_pks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """New ads are indexed by one range scan when their pks are contiguous, else by list."""
    from safelight.store import fts

    store = Store.open(str(tmp_path / "gaps.db"))
    with store.engine.begin() as conn:
        for pk in (3, 7, 8):
            conn.exec_driver_sql(
                "INSERT INTO ads(pk, id, raw_sha256, ingested_at, title, body)"
                " VALUES (?, ?, ?, '2026-01-01T00:00:00Z', 'Sweet', 'visiting downtown')",
                (pk, f"g{pk}", f"sha{pk}"),
            )
        fts.index_new_ads(conn, [3, 7, 8])
        conn.exec_driver_sql("INSERT INTO ads_fts(ads_fts) VALUES ('integrity-check')")
    assert sorted(a["id"] for a in store.search("downtown")) == ["g3", "g7", "g8"]
    store.close()


def test_among_selects_what_in_selects(store: Store) -> None:
    """The bulk paths' `among` (an array parameter on PostgreSQL) picks the same rows as IN,
    for integer and text columns, odd text and an empty list included."""
    from safelight.store.among import among
    from safelight.store.schema import ads

    odd = ["it's", 'a "quoted", {braced} id', "back\\slash", "NULL", ""]
    store.add_batch([_item(i, f"body {n}") for n, i in enumerate(["a1", "b2", *odd[:4]])])
    with store.engine.connect() as conn:
        pks = sorted(conn.scalars(sa.select(ads.c.pk)))
        for column, values in (
            (ads.c.id, ["b2", "missing", *odd]),
            (ads.c.pk, [*pks[1:3], 10**9]),
            (ads.c.id, []),
        ):
            got = conn.scalars(sa.select(ads.c.pk).where(among(conn, column, values)))
            want = conn.scalars(sa.select(ads.c.pk).where(column.in_(values)))
            assert sorted(got) == sorted(want)
        assert len(list(conn.scalars(sa.select(ads.c.pk).where(among(conn, ads.c.id, odd))))) == 4
