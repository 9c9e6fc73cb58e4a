"""The storage interface: one class over SQLAlchemy Core for SQLite and PostgreSQL.

Dialect differences live in `fts.py` (full text) and `db.py` (connection set-up); everything
else is portable SQL with bound parameters.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from safelight.records import ProcessedAd, Reject
from safelight.store import db, fts
from safelight.store.bulk import insert_rows
from safelight.store.rows import (
    AD_COLUMNS,
    FEATURE_COLUMNS,
    HIT_COLUMNS,
    MENTION_COLUMNS,
    PHOTO_COLUMNS,
    ad_rows,
)
from safelight.store.schema import (
    ad_features,
    ads,
    hits,
    ingest_checkpoints,
    mentions,
    meta,
    photos,
    rejects,
)
from safelight.store.statistics import refresh_statistics
from safelight.store.writer import begin_writing

_IN_CHUNK = 500  # keeps IN (...) lists under every backend's parameter limit
# What add_batch writes (ads_fts: the text index, made by raw SQL per backend).
_INGEST_TABLES = ("ads", "ads_fts", *(t.name for t in (mentions, hits, ad_features, photos)))
# The time limit (ms) for search and lookup in this request or command; 0 is none.
_TIME_LIMIT: ContextVar[int] = ContextVar("safelight_query_time_limit", default=0)
_clock = time.monotonic  # a module global so a test can move time forward


class QueryTimeout(RuntimeError):
    """A search or lookup ran past its time limit: the query was stopped, nothing is half done."""


@contextlib.contextmanager
def time_limit(ms: int) -> Iterator[None]:
    """Apply a time limit to the searches and lookups made inside (the web app wraps each
    request with `Settings.query_timeout_ms`, so one heavy query cannot hold a worker)."""
    token = _TIME_LIMIT.set(max(0, int(ms)))
    try:
        yield
    finally:
        _TIME_LIMIT.reset(token)


@contextlib.contextmanager
def deadline(conn: sa.Connection, ms: int | None = None) -> Iterator[None]:
    """Abort the statements run on `conn` inside once `ms` (default: the current time limit)
    have passed, raising QueryTimeout. SQLite: a progress handler checked every few thousand
    VM steps; PostgreSQL: `SET LOCAL statement_timeout` for the connection's transaction."""
    ms = _TIME_LIMIT.get() if ms is None else max(0, int(ms))
    if not ms:
        yield
        return
    if conn.dialect.name == "sqlite":
        raw: Any = conn.connection.dbapi_connection
        end = _clock() + ms / 1000
        raw.set_progress_handler(lambda: 1 if _clock() > end else 0, 1000)
        try:
            yield
        except sa.exc.OperationalError as exc:
            if "interrupted" in str(exc):
                raise QueryTimeout(f"the query took longer than {ms} ms") from exc
            raise
        finally:
            raw.set_progress_handler(None, 0)
        return
    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(ms)}")
    try:
        yield
    except sa.exc.OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == "57014":  # query_canceled
            raise QueryTimeout(f"the query took longer than {ms} ms") from exc
        raise


def utcnow() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _chunks(seq: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


@dataclass(slots=True)
class BatchResult:
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    stored_pks: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Checkpoint:
    source: str
    fingerprint: str
    records_done: int
    complete: bool


class Store:
    """A Safelight database. Open with `Store.open(url_or_path)`; it migrates on open."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @classmethod
    def open(cls, url: str, migrate: bool = True) -> Store:
        engine = db.make_engine(url)
        if migrate:
            db.migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # ---- writing -------------------------------------------------------------------------

    def add_batch(
        self,
        items: Sequence[ProcessedAd],
        reject_rows: Sequence[Reject] = (),
        checkpoint: Checkpoint | None = None,
    ) -> BatchResult:
        """Store a batch in one transaction: ads new by content hash, their mentions and hits,
        the rejects, and the checkpoint that says how far the source has been read.

        All or nothing, so a crash leaves the database at the previous checkpoint."""
        result = BatchResult()
        now = utcnow()
        with self.engine.begin() as conn:
            begin_writing(conn)  # SQLite: wait out a long link instead of failing after 30 s
            fresh = self._new_items(conn, items)
            result.duplicates = len(items) - len(fresh)
            if fresh:
                pks = self._insert_ads(conn, fresh, now)
                self._insert_children(conn, fresh, pks)
                result.stored = len(fresh)
                result.stored_pks = pks
            if reject_rows:
                result.rejected = self._insert_rejects(conn, reject_rows, now)
            if checkpoint is not None:
                self._save_checkpoint(conn, checkpoint, now)
        return result

    def _new_items(self, conn: sa.Connection, items: Sequence[ProcessedAd]) -> list[ProcessedAd]:
        """Drop items whose content hash is already stored (or repeats in the batch), and give
        a changed re-post of a stored id a distinct id, so neither version is lost."""
        by_sha: dict[str, ProcessedAd] = {}
        for item in items:
            by_sha.setdefault(item.ad.raw_sha256, item)
        shas = list(by_sha)
        for chunk in _chunks(shas):
            for (sha,) in conn.execute(
                sa.select(ads.c.raw_sha256).where(ads.c.raw_sha256.in_(chunk))
            ):
                by_sha.pop(sha, None)
        fresh = list(by_sha.values())
        ids = [item.ad.id for item in fresh]
        taken: set[str] = set()
        for chunk in _chunks(ids):
            taken.update(conn.scalars(sa.select(ads.c.id).where(ads.c.id.in_(chunk))))
        for item in fresh:
            if item.ad.id in taken:
                item.ad.extra.setdefault("original_id", item.ad.id)
                item.ad.id = f"{item.ad.id}#{item.ad.raw_sha256[:12]}"
                if item.rows is not None:
                    item.rows.renamed(item.ad.id, item.ad.extra)
            taken.add(item.ad.id)
        for item in fresh:
            if item.rows is None:
                item.rows = ad_rows(item)
        return fresh

    def _insert_ads(self, conn: sa.Connection, items: Sequence[ProcessedAd], now: str) -> list[int]:
        """Insert the ads in one driver executemany; their pks are read back by content hash
        (unique), which is portable and safe with other writers, unlike guessing from rowids."""
        insert_rows(conn, ads, AD_COLUMNS, [(*item.rows.ad, now) for item in items])
        pk_of: dict[str, int] = {}
        shas = [item.ad.raw_sha256 for item in items]
        for chunk in _chunks(shas):
            q = sa.select(ads.c.raw_sha256, ads.c.pk).where(ads.c.raw_sha256.in_(chunk))
            pk_of.update((sha, pk) for sha, pk in conn.execute(q))
        pks = [pk_of[sha] for sha in shas]
        fts.index_new_ads(conn, pks)
        return pks

    def _insert_children(
        self, conn: sa.Connection, items: Sequence[ProcessedAd], pks: list[int]
    ) -> None:
        mention_rows = []
        hit_rows = []
        feature_rows = []
        photo_rows = []
        for pk, item in zip(pks, items, strict=True):
            rows = item.rows
            key = (pk,)
            mention_rows.extend([key + m for m in rows.mentions])
            hit_rows.extend([key + h for h in rows.hits])
            if rows.feature is not None:
                feature_rows.append(key + rows.feature)
            if rows.photos:
                photo_rows.extend([key + ph for ph in rows.photos])
        insert_rows(conn, mentions, MENTION_COLUMNS, mention_rows)
        insert_rows(conn, hits, HIT_COLUMNS, hit_rows)
        insert_rows(conn, ad_features, FEATURE_COLUMNS, feature_rows)
        insert_rows(conn, photos, PHOTO_COLUMNS, photo_rows)

    def _insert_rejects(self, conn: sa.Connection, rows: Sequence[Reject], now: str) -> int:
        """Insert rejects not seen before (same source and line): re-runs add none."""
        keys = {(r.source, r.line): r for r in rows}
        existing: set[tuple[str, int]] = set()
        sources = sorted({r.source for r in rows})
        for source in sources:
            lines = [line for (src, line) in keys if src == source]
            for chunk in _chunks(lines):
                q = sa.select(rejects.c.line).where(
                    rejects.c.source == source, rejects.c.line.in_(chunk)
                )
                existing.update((source, line) for line in conn.scalars(q))
        new = [
            {
                "source": r.source,
                "line": r.line,
                "reason": r.reason,
                "excerpt": r.excerpt[:500],
                "raw_sha256": r.raw_sha256,
                "created_at": now,
            }
            for key, r in keys.items()
            if key not in existing
        ]
        if new:
            conn.execute(sa.insert(rejects), new)
        return len(rows)

    def _save_checkpoint(self, conn: sa.Connection, cp: Checkpoint, now: str) -> None:
        values = {
            "fingerprint": cp.fingerprint,
            "records_done": cp.records_done,
            "complete": cp.complete,
            "updated_at": now,
        }
        updated = conn.execute(
            sa.update(ingest_checkpoints)
            .where(ingest_checkpoints.c.source == cp.source)
            .values(**values)
        )
        if updated.rowcount == 0:
            conn.execute(sa.insert(ingest_checkpoints).values(source=cp.source, **values))

    def checkpoint(self, source: str) -> Checkpoint | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(ingest_checkpoints).where(ingest_checkpoints.c.source == source)
            ).first()
        if row is None:
            return None
        return Checkpoint(row.source, row.fingerprint, row.records_done, bool(row.complete))

    def refresh_statistics(self) -> list[str]:
        """After a bulk ingest, re-analyse the tables it grew (PostgreSQL; see statistics)."""
        with self.engine.begin() as conn:
            return refresh_statistics(conn, _INGEST_TABLES)

    # ---- meta ----------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.scalar(sa.select(meta.c.value).where(meta.c.key == key))

    def set_meta(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            if (
                conn.execute(sa.update(meta).where(meta.c.key == key).values(value=value)).rowcount
                == 0
            ):
                conn.execute(sa.insert(meta).values(key=key, value=value))

    # ---- reading -------------------------------------------------------------------------

    def count(self, table: str = "ads") -> int:
        tables = {"ads": ads, "mentions": mentions, "hits": hits, "rejects": rejects}
        with self.engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(tables[table])) or 0)

    def list_rejects(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(rejects).order_by(rejects.c.id).limit(limit))
            return [dict(r._mapping) for r in rows]

    def get_ad(self, ad_id: str) -> dict[str, Any] | None:
        """One ad with its mentions and hits, as plain JSON-ready data."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(ads).where(ads.c.id == ad_id)).first()
            if row is None:
                return None
            ad = _ad_json(row._mapping)
            pk = row.pk
            ad["mentions"] = [
                {**_drop(dict(m._mapping), "id", "ad_pk"), "detail": json.loads(m.detail)}
                for m in conn.execute(
                    sa.select(mentions).where(mentions.c.ad_pk == pk).order_by(mentions.c.start)
                )
            ]
            ad["hits"] = [
                _drop(dict(h._mapping), "id", "ad_pk")
                for h in conn.execute(
                    sa.select(hits).where(hits.c.ad_pk == pk).order_by(hits.c.start)
                )
            ]
            for ph in conn.execute(sa.select(photos).where(photos.c.ad_pk == pk)):
                if ph.position < len(ad["images"]):
                    _photo_facts(ad["images"][ph.position], ph)
        return ad

    def ads_by_pk(self, conn: sa.Connection, pks: Sequence[int]) -> dict[int, dict[str, Any]]:
        cols = [
            ads.c.pk,
            ads.c.id,
            ads.c.site,
            ads.c.url,
            ads.c.posted_at,
            ads.c.title,
            ads.c.location,
            ads.c.place,
            ads.c.score,
        ]
        out: dict[int, dict[str, Any]] = {}
        for chunk in _chunks(list(pks)):
            for row in conn.execute(sa.select(*cols).where(ads.c.pk.in_(chunk))):
                out[row.pk] = dict(row._mapping)
        return out

    def find_mentions(
        self, pairs: Sequence[tuple[str, str]], limit: int = 1000, timeout_ms: int | None = None
    ) -> dict[str, Any]:
        """Every ad carrying any of the (kind, value) selectors, with where and when it was seen.

        This is the pivot an analyst makes from a tip: the values are already normalised, so an
        ad that disguised the number is found like one that wrote it plainly."""
        if not pairs:
            return {
                "ads": [],
                "count": 0,
                "sites": [],
                "places": [],
                "first_seen": None,
                "last_seen": None,
            }
        cond = sa.or_(*[sa.and_(mentions.c.kind == k, mentions.c.value == v) for k, v in pairs])
        q = (
            sa.select(
                ads.c.id,
                ads.c.site,
                ads.c.url,
                ads.c.posted_at,
                ads.c.title,
                ads.c.place,
                ads.c.location,
                ads.c.score,
                mentions.c.kind,
                mentions.c.value,
                mentions.c.raw,
                mentions.c.obfuscated,
            )
            .join(ads, ads.c.pk == mentions.c.ad_pk)
            .where(cond)
            .order_by(ads.c.posted_at.desc(), ads.c.id)
        )
        by_ad: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn, deadline(conn, timeout_ms):
            for r in conn.execute(q):
                entry = by_ad.get(r.id)
                if entry is None:
                    if len(by_ad) >= limit:
                        break  # an ad's rows come together (ordered by date, id): all read
                    entry = by_ad[r.id] = {
                        "id": r.id,
                        "site": r.site,
                        "url": r.url,
                        "posted_at": r.posted_at,
                        "title": r.title,
                        "place": r.place or r.location,
                        "score": r.score,
                        "matches": [],
                    }
                entry["matches"].append(
                    {
                        "kind": r.kind,
                        "value": r.value,
                        "raw": r.raw,
                        "obfuscated": bool(r.obfuscated),
                    }
                )
        found = list(by_ad.values())
        dates = sorted(a["posted_at"] for a in found if a["posted_at"])
        return {
            "ads": found,
            "count": len(found),
            "sites": sorted({a["site"] for a in found if a["site"]}),
            "places": sorted({a["place"] for a in found if a["place"]}),
            "first_seen": dates[0] if dates else None,
            "last_seen": dates[-1] if dates else None,
        }

    def search(
        self,
        query: str,
        *,
        site: str | None = None,
        place: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        min_score: float | None = None,
        limit: int = 20,
        timeout_ms: int | None = None,
        snippets: int | None = None,
        rank_within: int | None = None,
        info: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Full-text search, best first, each hit with a highlighted snippet.

        `snippets`: only the first so many hits get one (the others None). A snippet costs more
        than ranking (the ad is re-read and re-tokenised), and a page counts facets over many
        more hits than it shows.
        `rank_within`: rank only the newest (last stored) that many matching ads, so a word
        found in a large share of a big database costs a bounded amount of work; when that
        left older matches out, `info["ranked_within"]` is set to the bound (say it to the user).
        SQLite only: PostgreSQL ranks every match (`fts.Ranking` says why).
        `timeout_ms` (default: the `time_limit` in force) stops a runaway query: QueryTimeout."""
        words = fts.query_words(query)
        if not words:
            return []
        where: list[str] = []
        params: dict[str, Any] = {"match": fts.match_param(self.dialect, words)}
        if site:
            where.append("a.site = :site")
            params["site"] = site
        if place:
            where.append("a.place = :place")
            params["place"] = place
        if date_from:
            where.append("a.posted_at >= :date_from")
            params["date_from"] = date_from
        if date_to:
            where.append("a.posted_at <= :date_to")
            params["date_to"] = date_to + ("T23:59:59Z" if len(date_to) == 10 else "")
        if min_score is not None:
            where.append("a.score >= :min_score")
            params["min_score"] = float(min_score)
        limit = max(1, min(limit, 500))
        n_snippets = limit if snippets is None else max(0, min(snippets, limit))
        plan = fts.ranking(self.dialect, where)
        with self.engine.connect() as conn, deadline(conn, timeout_ms):
            fts.prepare(conn)
            cut = None
            rank_sql = plan.rank
            for sql in plan.newest if rank_within else []:
                cut = conn.scalar(sa.text(f"{sql} LIMIT 1 OFFSET {int(rank_within or 0)}"), params)
                if cut is None:  # no more matches than the bound: rank them all
                    break
            if cut is not None:  # more: rank the newest only, and say so
                rank_sql += plan.after
                params["after"] = int(cut)
                if info is not None:
                    info["ranked_within"] = int(rank_within or 0)
            found = conn.execute(
                sa.text(f"{rank_sql} ORDER BY rank, pk LIMIT {limit}"), params
            ).all()
            pks = ", ".join(str(int(r.pk)) for r in found) or "NULL"  # integers from the db
            cols = ("id", "site", "url", "posted_at", "title", "location", "place", "score")
            meta_of = {
                row[0]: dict(zip(cols, row[1:], strict=True))
                for row in conn.execute(
                    sa.select(ads.c.pk, *(ads.c[c] for c in cols)).where(
                        sa.text(f"ads.pk IN ({pks})")
                    )
                ).all()
            }
            snippet_of: dict[int, str | None] = {}
            shown = [int(r.pk) for r in found[:n_snippets]]
            if shown:
                sql, snip_params = fts.snippets(self.dialect, words, shown)
                snip_params["match"] = params["match"]
                snippet_of = {r.pk: r.snippet for r in conn.execute(sa.text(sql), snip_params)}
                long_ones = [pk for pk in shown if snippet_of.get(pk) is None]
                if long_ones:  # too long for the engine's snippet (fts.SQLITE_SNIPPET_MAX_CHARS)
                    for row in conn.execute(
                        sa.select(ads.c.pk, ads.c.title, ads.c.body).where(ads.c.pk.in_(long_ones))
                    ):
                        snippet_of[row.pk] = fts.snippet_from_text(
                            (row.body or "", row.title or ""), words
                        )
        out = []
        for r in found:
            ad = meta_of.get(r.pk)
            if ad is not None:
                ad["snippet"] = snippet_of.get(r.pk)
                ad["rank"] = float(r.rank)
                out.append(ad)
        return out


def _drop(d: dict[str, Any], *keys: str) -> dict[str, Any]:
    for k in keys:
        d.pop(k, None)
    return d


def _photo_facts(image: dict[str, Any], ph: Any) -> None:
    """Hashes (and, when an admin enabled them, the blurred thumbnail) of a stored photo."""
    image.update(
        {k: v for k, v in (("pdq", ph.pdq), ("sha256", ph.sha256), ("quality", ph.quality)) if v}
    )
    image["low_quality"] = bool(ph.low_quality)
    if ph.thumbnail:  # already heavily blurred; the page blurs it again until a click
        image["thumbnail"] = base64.b64encode(ph.thumbnail).decode()


def _ad_json(row: Any) -> dict[str, Any]:
    ad = dict(row)
    ad.pop("pk", None)
    for key in ("images", "structured", "extra"):
        ad[key] = json.loads(ad[key])
    return ad
