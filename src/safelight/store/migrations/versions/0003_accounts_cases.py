"""Accounts and casework: users, API tokens, the hash-chained audit log, cases, watches, alerts.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def _fk(target: str, cascade: bool = True) -> sa.ForeignKey:
    return sa.ForeignKey(target, ondelete="CASCADE") if cascade else sa.ForeignKey(target)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(80), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.String(25), nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, _fk("users.id"), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("label", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.String(25), nullable=False),
        sa.Column("last_used_at", sa.String(25)),
        sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(25), nullable=False),
        sa.Column("user", sa.String(80), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.Text, nullable=False, server_default=""),
        sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_user_at", "audit_log", ["user", "at"])
    op.create_index("ix_audit_action", "audit_log", ["action"])
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("owner_id", sa.Integer, _fk("users.id", cascade=False), nullable=False),
        sa.Column("assignee_id", sa.Integer, _fk("users.id", cascade=False)),
        sa.Column("created_at", sa.String(25), nullable=False),
        sa.Column("updated_at", sa.String(25), nullable=False),
    )
    op.create_table(
        "case_members",
        sa.Column("case_id", sa.Integer, _fk("cases.id"), primary_key=True),
        sa.Column("user_id", sa.Integer, _fk("users.id"), primary_key=True),
        sa.Column("added_at", sa.String(25), nullable=False),
    )
    op.create_table(
        "case_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, _fk("cases.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(500), nullable=False),
        sa.Column("label", sa.Text, nullable=False, server_default=""),
        sa.Column("added_by", sa.Integer, _fk("users.id", cascade=False), nullable=False),
        sa.Column("added_at", sa.String(25), nullable=False),
        sa.UniqueConstraint("case_id", "kind", "ref", name="uq_case_items"),
    )
    op.create_table(
        "case_notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, _fk("cases.id"), nullable=False),
        sa.Column("user_id", sa.Integer, _fk("users.id", cascade=False), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(25), nullable=False),
    )
    op.create_index("ix_case_notes_case", "case_notes", ["case_id"])
    op.create_table(
        "watches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, _fk("users.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(500), nullable=False),
        sa.Column("label", sa.Text, nullable=False, server_default=""),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.String(25), nullable=False),
    )
    op.create_index("ix_watches_kind_value", "watches", ["kind", "value"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("watch_id", sa.Integer, _fk("watches.id"), nullable=False),
        sa.Column("user_id", sa.Integer, _fk("users.id"), nullable=False),
        sa.Column("ad_id", sa.String(240), nullable=False),
        sa.Column("created_at", sa.String(25), nullable=False),
        sa.Column("seen", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
        sa.UniqueConstraint("watch_id", "ad_id", name="uq_alerts_watch_ad"),
    )
    op.create_index("ix_alerts_user_seen", "alerts", ["user_id", "seen"])


def downgrade() -> None:
    for name in (
        "alerts",
        "watches",
        "case_notes",
        "case_items",
        "case_members",
        "cases",
        "audit_log",
        "api_tokens",
        "users",
    ):
        op.drop_table(name)
