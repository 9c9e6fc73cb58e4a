"""PostgreSQL: the text index moves from a generated column of `ads` to a narrow table.

Ranking a common word reads the tsvector of every matching ad. Kept in `ads`, each read lands
on a wide row (body, HTML, JSON fields) and mostly in its TOAST table; at 1M ads, ranking
"available" read some 40,000 table pages and took 0.8-1.5 s. From `ads_fts(pk, tsv)` (a copy
of the same index in the same database), common words ranked 2.4-4.5x faster. Like SQLite's FTS5
table, `Store.add_batch` indexes each batch in its own transaction (`fts.index_new_ads`); a
trigger keeps edits of title or body in step, and deletes cascade. SQLite is unchanged.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"

# The same text and configuration as the generated column it replaces (0001).
_TSV = "to_tsvector('simple', coalesce({t}.title, '') || ' ' || coalesce({t}.body, ''))"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for sql in (
        "CREATE TABLE ads_fts (pk INTEGER PRIMARY KEY REFERENCES ads (pk) ON DELETE CASCADE,"
        " tsv tsvector NOT NULL)",
        "INSERT INTO ads_fts (pk, tsv) SELECT pk, tsv FROM ads ORDER BY pk",
        "CREATE INDEX ix_ads_fts_tsv ON ads_fts USING gin (tsv)",
        "CREATE FUNCTION ads_fts_edit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" UPDATE ads_fts SET tsv = {_TSV.format(t='NEW')} WHERE pk = NEW.pk;"
        " RETURN NULL; END $$",
        "CREATE TRIGGER ads_fts_au AFTER UPDATE OF title, body ON ads"
        " FOR EACH ROW EXECUTE FUNCTION ads_fts_edit()",
        "DROP INDEX ix_ads_tsv",
        "ALTER TABLE ads DROP COLUMN tsv",
    ):
        op.execute(sa.text(sql))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for sql in (
        "ALTER TABLE ads ADD COLUMN tsv tsvector GENERATED ALWAYS AS"
        " (to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(body, ''))) STORED",
        "CREATE INDEX ix_ads_tsv ON ads USING gin (tsv)",
        "DROP TRIGGER ads_fts_au ON ads",
        "DROP FUNCTION ads_fts_edit()",
        "DROP TABLE ads_fts",
    ):
        op.execute(sa.text(sql))
