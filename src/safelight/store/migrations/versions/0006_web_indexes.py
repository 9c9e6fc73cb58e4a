"""Indexes for the analyst's pages, so each request reads a few rows instead of a table.

- networks in triage order (score, size, id): the queue is the first rows of this index
  instead of a sort of every network;
- networks not scored yet (a partial index: usually empty), which every queue view checks;
- networks largest first (size, id) for the networks list;
- case items by what they hold (kind, ref), for "in cases" on every ad, entity and network page.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_index(
        "ix_networks_rank", "networks", [sa.text("score DESC"), sa.text("size DESC"), "id"]
    )
    op.create_index(
        "ix_networks_unscored",
        "networks",
        ["id"],
        sqlite_where=sa.text("scored_at IS NULL"),
        postgresql_where=sa.text("scored_at IS NULL"),
    )
    op.create_index("ix_networks_size_id", "networks", [sa.text("size DESC"), "id"])
    op.create_index("ix_case_items_kind_ref", "case_items", ["kind", "ref"])


def downgrade() -> None:
    op.drop_index("ix_case_items_kind_ref", table_name="case_items")
    op.drop_index("ix_networks_size_id", table_name="networks")
    op.drop_index("ix_networks_unscored", table_name="networks")
    op.drop_index("ix_networks_rank", table_name="networks")
