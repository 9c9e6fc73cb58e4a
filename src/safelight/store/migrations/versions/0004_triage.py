"""Triage decisions: the current status per item and the full judgement history.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "triage_status",
        sa.Column("item", sa.String(24), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("user", sa.String(80), nullable=False),
        sa.Column("at", sa.String(25), nullable=False),
        sa.Column("max_ad_pk", sa.Integer, nullable=False),
    )
    op.create_table(
        "triage_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item", sa.String(24), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("user", sa.String(80), nullable=False),
        sa.Column("at", sa.String(25), nullable=False),
        sa.Column("features", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("ix_triage_history_item", "triage_history", ["item"])


def downgrade() -> None:
    op.drop_table("triage_history")
    op.drop_table("triage_status")
