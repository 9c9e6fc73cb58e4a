"""Full-text search, the one place where SQLite and PostgreSQL differ most.

SQLite: an FTS5 table over ads(title, body) kept in step by triggers, ranked by bm25.
PostgreSQL: a stored generated tsvector with a GIN index, ranked by ts_rank.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

SQLITE_CREATE = (
    "CREATE VIRTUAL TABLE ads_fts USING fts5(title, body, content='ads', content_rowid='pk',"
    ' tokenize="unicode61 remove_diacritics 2")',
    "CREATE TRIGGER ads_fts_ai AFTER INSERT ON ads BEGIN"
    " INSERT INTO ads_fts(rowid, title, body) VALUES (new.pk, new.title, new.body); END",
    "CREATE TRIGGER ads_fts_ad AFTER DELETE ON ads BEGIN"
    " INSERT INTO ads_fts(ads_fts, rowid, title, body) VALUES ('delete', old.pk, old.title, old.body);"
    " END",
    "CREATE TRIGGER ads_fts_au AFTER UPDATE OF title, body ON ads BEGIN"
    " INSERT INTO ads_fts(ads_fts, rowid, title, body) VALUES ('delete', old.pk, old.title, old.body);"
    " INSERT INTO ads_fts(rowid, title, body) VALUES (new.pk, new.title, new.body); END",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS ads_fts_au",
    "DROP TRIGGER IF EXISTS ads_fts_ad",
    "DROP TRIGGER IF EXISTS ads_fts_ai",
    "DROP TABLE IF EXISTS ads_fts",
)
POSTGRES_CREATE = (
    "ALTER TABLE ads ADD COLUMN tsv tsvector GENERATED ALWAYS AS"
    " (to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(body, ''))) STORED",
    "CREATE INDEX ix_ads_tsv ON ads USING gin (tsv)",
)
POSTGRES_DROP = ("DROP INDEX IF EXISTS ix_ads_tsv", "ALTER TABLE ads DROP COLUMN IF EXISTS tsv")

_WORD = re.compile(r"\w+", re.UNICODE)
HIGHLIGHT_OPEN = "\x02"
HIGHLIGHT_CLOSE = "\x03"


def create_statements(dialect: str) -> tuple[str, ...]:
    return SQLITE_CREATE if dialect == "sqlite" else POSTGRES_CREATE


def drop_statements(dialect: str) -> tuple[str, ...]:
    return SQLITE_DROP if dialect == "sqlite" else POSTGRES_DROP


def query_words(query: str) -> list[str]:
    """The words of a user's query. Operators are not exposed: every word must match, so any
    text an analyst pastes (quotes, colons, dashes) is a valid query and never a syntax error."""
    return _WORD.findall(query)[:32]


def search_statement(dialect: str, words: list[str], where: list[str], limit: int) -> str:
    """SQL returning (pk, rank, snippet) for ads matching every word, best first.

    Snippets mark matches with control characters that ad text cannot contain (ingest strips
    them), so callers can escape the snippet and then highlight safely."""
    extra = "".join(f" AND {clause}" for clause in where)
    if dialect == "sqlite":
        return (
            "SELECT a.pk AS pk, bm25(ads_fts) AS rank,"
            f" snippet(ads_fts, -1, '{HIGHLIGHT_OPEN}', '{HIGHLIGHT_CLOSE}', '…', 24) AS snippet"
            " FROM ads_fts JOIN ads a ON a.pk = ads_fts.rowid"
            f" WHERE ads_fts MATCH :match{extra} ORDER BY rank LIMIT {int(limit)}"
        )
    return (
        "SELECT a.pk AS pk, -ts_rank(a.tsv, q) AS rank,"
        " ts_headline('simple', a.body, q, 'StartSel="
        + HIGHLIGHT_OPEN
        + ", StopSel="
        + HIGHLIGHT_CLOSE
        + ", MaxWords=30, MinWords=10') AS snippet"
        " FROM ads a, plainto_tsquery('simple', :match) q"
        f" WHERE a.tsv @@ q{extra} ORDER BY rank LIMIT {int(limit)}"
    )


def match_param(dialect: str, words: list[str]) -> str:
    if dialect == "sqlite":
        return " ".join('"' + w.replace('"', '""') + '"' for w in words)
    return " ".join(words)


def rebuild(conn: sa.Connection) -> None:
    """Rebuild the index from the ads (after a bulk load with triggers off)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("INSERT INTO ads_fts(ads_fts) VALUES ('rebuild')")
