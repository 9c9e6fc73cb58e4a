"""Core tables: ads, mentions, hits, rejects, checkpoints, meta, and full-text search.

Revision ID: 0001
Revises:

Migrations are frozen history: they spell their tables out instead of importing schema.py,
so a later change to the schema never changes what an old migration does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

# Full text: SQLite keeps an FTS5 table over ads(title, body) in step by triggers (0007
# replaced the insert trigger); PostgreSQL a stored generated tsvector with a GIN index.
_FTS_CREATE = {
    "sqlite": (
        "CREATE VIRTUAL TABLE ads_fts USING fts5(title, body, content='ads', content_rowid='pk',"
        ' tokenize="unicode61 remove_diacritics 2")',
        "CREATE TRIGGER ads_fts_ai AFTER INSERT ON ads BEGIN"
        " INSERT INTO ads_fts(rowid, title, body) VALUES (new.pk, new.title, new.body); END",
        "CREATE TRIGGER ads_fts_ad AFTER DELETE ON ads BEGIN"
        " INSERT INTO ads_fts(ads_fts, rowid, title, body)"
        " VALUES ('delete', old.pk, old.title, old.body); END",
        "CREATE TRIGGER ads_fts_au AFTER UPDATE OF title, body ON ads BEGIN"
        " INSERT INTO ads_fts(ads_fts, rowid, title, body)"
        " VALUES ('delete', old.pk, old.title, old.body);"
        " INSERT INTO ads_fts(rowid, title, body) VALUES (new.pk, new.title, new.body); END",
    ),
    "postgresql": (
        "ALTER TABLE ads ADD COLUMN tsv tsvector GENERATED ALWAYS AS"
        " (to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(body, ''))) STORED",
        "CREATE INDEX ix_ads_tsv ON ads USING gin (tsv)",
    ),
}
_FTS_DROP = {
    "sqlite": (
        "DROP TRIGGER IF EXISTS ads_fts_au",
        "DROP TRIGGER IF EXISTS ads_fts_ad",
        "DROP TRIGGER IF EXISTS ads_fts_ai",
        "DROP TABLE IF EXISTS ads_fts",
    ),
    "postgresql": ("DROP INDEX IF EXISTS ix_ads_tsv", "ALTER TABLE ads DROP COLUMN IF EXISTS tsv"),
}


def upgrade() -> None:
    op.create_table(
        "ads",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(240), nullable=False, unique=True),
        sa.Column("site", sa.String(200), nullable=False, server_default=""),
        sa.Column("url", sa.Text, nullable=False, server_default=""),
        sa.Column("posted_at", sa.String(25)),
        sa.Column("title", sa.Text, nullable=False, server_default=""),
        sa.Column("body", sa.Text, nullable=False, server_default=""),
        sa.Column("html", sa.Text),
        sa.Column("location", sa.Text, nullable=False, server_default=""),
        sa.Column("place", sa.String(120)),
        sa.Column("images", sa.Text, nullable=False, server_default="[]"),
        sa.Column("structured", sa.Text, nullable=False, server_default="{}"),
        sa.Column("extra", sa.Text, nullable=False, server_default="{}"),
        sa.Column("raw_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("source", sa.Text, nullable=False, server_default=""),
        sa.Column("source_line", sa.Integer, nullable=False, server_default="0"),
        sa.Column("ingested_at", sa.String(25), nullable=False),
        sa.Column("score", sa.Float, nullable=False, server_default="0"),
        sa.Column("registry_version", sa.String(40)),
    )
    op.create_index("ix_ads_site_posted", "ads", ["site", "posted_at"])
    op.create_index("ix_ads_place_posted", "ads", ["place", "posted_at"])
    op.create_index("ix_ads_posted", "ads", ["posted_at"])
    op.create_table(
        "mentions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ad_pk", sa.Integer, sa.ForeignKey("ads.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(400), nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("start", sa.Integer, nullable=False),
        sa.Column("end", sa.Integer, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False, server_default="1"),
        sa.Column("obfuscated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("ix_mentions_kind_value", "mentions", ["kind", "value", "ad_pk"])
    op.create_index("ix_mentions_ad", "mentions", ["ad_pk"])
    op.create_table(
        "hits",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ad_pk", sa.Integer, sa.ForeignKey("ads.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("indicator", sa.String(80), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("matched", sa.Text, nullable=False),
        sa.Column("start", sa.Integer, nullable=False),
        sa.Column("end", sa.Integer, nullable=False),
        sa.Column("source", sa.String(200), nullable=False, server_default=""),
    )
    op.create_index("ix_hits_ad", "hits", ["ad_pk"])
    op.create_index("ix_hits_indicator", "hits", ["indicator"])
    op.create_table(
        "rejects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("excerpt", sa.Text, nullable=False, server_default=""),
        sa.Column("raw_sha256", sa.String(64), nullable=False, server_default=""),
        sa.Column("created_at", sa.String(25), nullable=False),
        sa.UniqueConstraint("source", "line", name="uq_rejects_source_line"),
    )
    op.create_table(
        "ingest_checkpoints",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("records_done", sa.Integer, nullable=False),
        sa.Column("complete", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("updated_at", sa.String(25), nullable=False),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    for statement in _FTS_CREATE[op.get_bind().dialect.name]:
        op.execute(sa.text(statement))


def downgrade() -> None:
    for statement in _FTS_DROP[op.get_bind().dialect.name]:
        op.execute(sa.text(statement))
    for name in ("meta", "ingest_checkpoints", "rejects", "hits", "mentions", "ads"):
        op.drop_table(name)
