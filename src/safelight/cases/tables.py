"""Tables of the analyst side: users, API tokens, the audit log, cases, watches and alerts.

Defined on the store's one `metadata` so Core queries and tests see a single schema; the
migration 0003 spells the same tables out as frozen history.
"""

from __future__ import annotations

import sqlalchemy as sa

from safelight.store.schema import metadata

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(80), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.String(25), nullable=False),
)

# Only the SHA-256 of a token is kept: a stolen database does not hand out API access.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("label", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", sa.String(25), nullable=False),
    sa.Column("last_used_at", sa.String(25)),
    sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
)

# Hash-chained: each row's hash covers the previous hash and the row's canonical JSON.
# `prev_hash` is unique so two writers can never both extend the same head.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", sa.String(25), nullable=False),
    sa.Column("user", sa.String(80), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("target", sa.Text, nullable=False, server_default=""),
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
    sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("hash", sa.String(64), nullable=False),
)
sa.Index("ix_audit_user_at", audit_log.c.user, audit_log.c.at)
sa.Index("ix_audit_action", audit_log.c.action)

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("assignee_id", sa.Integer, sa.ForeignKey("users.id")),
    sa.Column("created_at", sa.String(25), nullable=False),
    sa.Column("updated_at", sa.String(25), nullable=False),
)

case_members = sa.Table(
    "case_members",
    metadata,
    sa.Column(
        "case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("added_at", sa.String(25), nullable=False),
)

case_items = sa.Table(
    "case_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # ad, entity, network
    sa.Column("ref", sa.String(500), nullable=False),  # ad id, "kind:value", network id
    sa.Column("label", sa.Text, nullable=False, server_default=""),
    sa.Column("added_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("added_at", sa.String(25), nullable=False),
    sa.UniqueConstraint("case_id", "kind", "ref", name="uq_case_items"),
)
sa.Index("ix_case_items_kind_ref", case_items.c.kind, case_items.c.ref)  # migration 0006

case_notes = sa.Table(
    "case_notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(25), nullable=False),
)
sa.Index("ix_case_notes_case", case_notes.c.case_id)

watches = sa.Table(
    "watches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column(
        "kind", sa.String(16), nullable=False
    ),  # phone, email, handle, payment, photo, search
    sa.Column("value", sa.String(500), nullable=False),
    sa.Column("label", sa.Text, nullable=False, server_default=""),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.String(25), nullable=False),
)
sa.Index("ix_watches_kind_value", watches.c.kind, watches.c.value)

# ad_id rather than a key into ads: an alert outlives the purge of the ad that raised it.
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "watch_id", sa.Integer, sa.ForeignKey("watches.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("ad_id", sa.String(240), nullable=False),
    sa.Column("created_at", sa.String(25), nullable=False),
    sa.Column("seen", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
    sa.UniqueConstraint("watch_id", "ad_id", name="uq_alerts_watch_ad"),
)
sa.Index("ix_alerts_user_seen", alerts.c.user_id, alerts.c.seen)
