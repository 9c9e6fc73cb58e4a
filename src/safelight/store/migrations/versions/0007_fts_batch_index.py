"""SQLite: index new ads' text once per batch instead of by a trigger per row.

The per-row insert trigger cost about a third of the writer's time at ingest; `Store.add_batch`
now inserts each batch's text into ads_fts itself, in the same transaction (`fts.index_new_ads`).
Every ad stored so far is already indexed, so nothing needs rebuilding. The delete and update
triggers stay. PostgreSQL (a generated column) is unchanged.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(sa.text("DROP TRIGGER IF EXISTS ads_fts_ai"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            sa.text(
                "CREATE TRIGGER ads_fts_ai AFTER INSERT ON ads BEGIN"
                " INSERT INTO ads_fts(rowid, title, body) VALUES (new.pk, new.title, new.body); END"
            )
        )
