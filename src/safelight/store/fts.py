"""Full-text search, the one place where SQLite and PostgreSQL differ most.

SQLite: an FTS5 table over ads(title, body), ranked by bm25. `Store.add_batch` indexes new ads
(`index_new_ads`); triggers keep deletes and edits in step.
PostgreSQL: a stored generated tsvector with a GIN index, ranked by ts_rank.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

_WORD = re.compile(r"\w+", re.UNICODE)
HIGHLIGHT_OPEN = "\x02"
HIGHLIGHT_CLOSE = "\x03"


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


def index_new_ads(conn: sa.Connection, pks: list[int]) -> None:
    """Index the text of ads just inserted in this transaction (SQLite; PostgreSQL's column is
    generated). One INSERT ... SELECT per batch costs a third of a per-row trigger (migration
    0007 dropped it), and in the same transaction the index never lags the ads.

    A batch's pks are normally one contiguous range (one writer; new rowids follow the largest),
    read by one range scan; otherwise they are listed."""
    if conn.dialect.name != "sqlite" or not pks:
        return
    insert = "INSERT INTO ads_fts(rowid, title, body) SELECT pk, title, body FROM ads WHERE "
    lo, hi = min(pks), max(pks)
    if hi - lo + 1 == len(set(pks)):
        done = conn.exec_driver_sql(insert + "pk BETWEEN ? AND ?", (lo, hi)).rowcount
    else:
        done = 0
        for i in range(0, len(pks), 500):
            chunk = [int(pk) for pk in pks[i : i + 500]]
            done += conn.exec_driver_sql(
                insert + f"pk IN ({', '.join('?' * len(chunk))})", tuple(chunk)
            ).rowcount
    if done != len(set(pks)):  # never expected: the rows were inserted in this transaction
        raise RuntimeError(f"text index: {done} rows indexed for {len(set(pks))} new ads")


def rebuild(conn: sa.Connection) -> None:
    """Rebuild the whole index from the ads (repair)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("INSERT INTO ads_fts(ads_fts) VALUES ('rebuild')")
