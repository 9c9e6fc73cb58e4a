"""Full-text search, the one place where SQLite and PostgreSQL differ most.

SQLite: an FTS5 table over ads(title, body), ranked by bm25. PostgreSQL: a narrow table
ads_fts(pk, tsv) with a GIN index, ranked by ts_rank (migration 0009 says why it is not a column
of `ads`). On both, `Store.add_batch` indexes new ads (`index_new_ads`), triggers keep edits in
step, and deletes follow the ads.
"""

from __future__ import annotations

import re
import unicodedata
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from safelight.memo import short_key_cache

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
        "SELECT a.pk AS pk, -ts_rank(f.tsv, q) AS rank,"
        " ts_headline('simple', a.body, q, 'StartSel="
        + HIGHLIGHT_OPEN
        + ", StopSel="
        + HIGHLIGHT_CLOSE
        + ", MaxWords=30, MinWords=10') AS snippet"
        " FROM ads_fts f JOIN ads a ON a.pk = f.pk, plainto_tsquery('simple', :match) q"
        f" WHERE f.tsv @@ q{extra} ORDER BY rank LIMIT {int(limit)}"
    )


@dataclass(frozen=True, slots=True)
class Ranking:
    """The statements of one ranked search (`Store.search`), for one set of filters.

    `rank` gives (pk, rank) of every match, best first once ordered by rank; snippets come
    after, for the hits shown. To rank only the newest n matches, each `newest` statement +
    " LIMIT 1 OFFSET n" gives the pk just past the bound (None: fewer matches), and `rank` +
    `after` with :after set to it keeps the newer ones. SQLite reads the text index alone
    first (no join: cheap) and only when that passes the bound and there are filters, the
    filtered matches.

    PostgreSQL has no `newest`: its GIN index cannot list matches newest first, so finding the
    bound reads every match from the table, which is most of what ranking them all costs
    (measured at 1M ads, with the index still in `ads`: search p50 205 ms with the bound, 132 ms
    without). It ranks every match and never reports a bound."""

    newest: tuple[str, ...]
    after: str
    rank: str


def ranking(dialect: str, where: list[str]) -> Ranking:
    """Ranking statements for matches of :match that also meet every `where` clause (on `a`)."""
    extra = "".join(f" AND {clause}" for clause in where)
    if dialect == "sqlite":
        newest = ["SELECT rowid FROM ads_fts WHERE ads_fts MATCH :match ORDER BY rowid DESC"]
        if where:
            newest.append(
                "SELECT ads_fts.rowid FROM ads_fts JOIN ads a ON a.pk = ads_fts.rowid"
                f" WHERE ads_fts MATCH :match{extra} ORDER BY ads_fts.rowid DESC"
            )
        rank = (
            "SELECT a.pk AS pk, bm25(ads_fts) AS rank FROM ads_fts JOIN ads a"
            f" ON a.pk = ads_fts.rowid WHERE ads_fts MATCH :match{extra}"
            if where
            else "SELECT rowid AS pk, bm25(ads_fts) AS rank FROM ads_fts"
            " WHERE ads_fts MATCH :match"  # nothing to filter: no join per match
        )
        return Ranking(tuple(newest), " AND ads_fts.rowid > :after", rank)
    joined = " JOIN ads a ON a.pk = f.pk" if where else ""  # nothing to filter: no join
    return Ranking(
        (),
        "",
        f"SELECT f.pk AS pk, -ts_rank(f.tsv, q) AS rank FROM ads_fts f{joined},"
        f" plainto_tsquery('simple', :match) q WHERE f.tsv @@ q{extra}",
    )


# SQLite's snippet() weighs every match of an ad against the others: a hostile ad repeating
# a word 22,000 times took 4.7 s per search that showed it. Longer bodies get their snippet
# from `snippet_from_text` instead (no slower than reading them).
SQLITE_SNIPPET_MAX_CHARS = 20_000
SNIPPET_TOKENS = 24
_LEAD_TOKENS = 4  # words shown before the first match
_TOKEN = re.compile(r"[^\W_]+")  # FTS5's unicode61 tokens: letters and digits


@short_key_cache(4096)
def _fold(token: str) -> str:
    """A token as unicode61 with remove_diacritics compares it: case and accents dropped."""
    decomposed = unicodedata.normalize("NFKD", token.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def snippet_from_text(texts: Sequence[str], words: list[str]) -> str | None:
    """A snippet like SQLite's, in one pass: about SNIPPET_TOKENS words from just before the
    first match, in the first of `texts` that has one, matches marked as `search_statement`
    marks them. None when no text holds a word."""
    wanted = {_fold(w) for w in words}
    for text in texts:
        before: deque[re.Match[str]] = deque(maxlen=_LEAD_TOKENS)
        skipped = 0  # words before the first match
        window: list[re.Match[str]] = []
        more = False
        for m in _TOKEN.finditer(text):
            if len(window) == SNIPPET_TOKENS - _LEAD_TOKENS:
                more = True
                break
            if window or _fold(m.group()) in wanted:
                window.append(m)
            else:
                before.append(m)
                skipped += 1
        if not window:
            continue
        shown = [*before, *window]
        out = ["…" if skipped > len(before) else ""]
        pos = shown[0].start()
        for m in shown:
            out.append(text[pos : m.start()])
            hit = _fold(m.group()) in wanted
            out.append(f"{HIGHLIGHT_OPEN}{m.group()}{HIGHLIGHT_CLOSE}" if hit else m.group())
            pos = m.end()
        out.append("…" if more else text[pos:])
        return "".join(out)
    return None


def snippets(dialect: str, words: list[str], pks: list[int]) -> tuple[str, dict[str, str]]:
    """SQL giving (pk, snippet) for these matching ads, and its parameters besides :match.

    SQLite: `search_statement`'s snippet, but straight from the text index by rowid and
    without bm25 (which would recount the matches once per rowid)."""
    listed = "(" + ", ".join(str(int(pk)) for pk in pks) + ")"  # integers from the database
    if dialect == "sqlite":
        sql = (
            f"SELECT f.rowid AS pk, CASE WHEN length(a.body) <= {SQLITE_SNIPPET_MAX_CHARS}"
            " THEN snippet(ads_fts, -1, :open, :close, '…', 24) END AS snippet"
            " FROM ads_fts f JOIN ads a ON a.pk = f.rowid"
            f" WHERE ads_fts MATCH :match AND f.rowid IN {listed}"
        )
        return sql, {"open": HIGHLIGHT_OPEN, "close": HIGHLIGHT_CLOSE}
    return search_statement(dialect, words, [f"a.pk IN {listed}"], len(pks)), {}


# PostgreSQL: memory for one search's bitmap of matching table pages. Below it (the server's
# default is 4MB) a common word's bitmap turns lossy and every ad on those pages is checked
# again: at 1M ads, "available" ranked in 1.16-1.31 s with 4MB and 0.80-0.83 s with 32MB.
SEARCH_WORK_MEM = "32MB"


def prepare(conn: sa.Connection) -> None:
    """Session settings for one search, for its transaction only (SET LOCAL)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{SEARCH_WORK_MEM}'")


def match_param(dialect: str, words: list[str]) -> str:
    if dialect == "sqlite":
        return " ".join('"' + w.replace('"', '""') + '"' for w in words)
    return " ".join(words)


# PostgreSQL's tsvector of an ad (the same text and configuration on every path).
PG_TSV = "to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(body, ''))"


def index_new_ads(conn: sa.Connection, pks: list[int]) -> None:
    """Index the text of ads just inserted in this transaction. One INSERT ... SELECT per batch
    costs a third of a per-row trigger on SQLite (migration 0007 dropped it), and in the same
    transaction the index never lags the ads.

    A batch's pks are normally one contiguous range (one writer; new rowids follow the largest),
    read by one range scan; otherwise they are listed."""
    if not pks:
        return
    if conn.dialect.name == "sqlite":
        insert = "INSERT INTO ads_fts(rowid, title, body) SELECT pk, title, body FROM ads WHERE "
        mark = "?"
    else:
        insert = f"INSERT INTO ads_fts(pk, tsv) SELECT pk, {PG_TSV} FROM ads WHERE "
        mark = "%s"
    lo, hi, n = min(pks), max(pks), len(set(pks))
    if hi - lo + 1 == n:
        done = conn.exec_driver_sql(insert + f"pk BETWEEN {mark} AND {mark}", (lo, hi)).rowcount
    else:
        done = 0
        for i in range(0, len(pks), 500):
            chunk = [int(pk) for pk in pks[i : i + 500]]
            done += conn.exec_driver_sql(
                insert + f"pk IN ({', '.join([mark] * len(chunk))})", tuple(chunk)
            ).rowcount
    if done != n:  # never expected: the rows were inserted in this transaction
        raise RuntimeError(f"text index: {done} rows indexed for {n} new ads")
