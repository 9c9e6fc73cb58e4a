"""Linking: text signatures, templates, photo links, selector hubs, networks.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def _ad_fk() -> sa.ForeignKey:
    return sa.ForeignKey("ads.pk", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "ad_features",
        sa.Column("ad_pk", sa.Integer, _ad_fk(), primary_key=True),
        sa.Column("sig", sa.LargeBinary, nullable=False),
        sa.Column("ntokens", sa.Integer, nullable=False),
    )
    op.create_table(
        "ad_templates",
        sa.Column("ad_pk", sa.Integer, _ad_fk(), primary_key=True),
        sa.Column("leader_pk", sa.Integer, nullable=False),
        sa.Column("similarity", sa.Float, nullable=False),
    )
    op.create_index("ix_ad_templates_leader", "ad_templates", ["leader_pk"])
    op.create_table(
        "template_bands",
        sa.Column("band_key", sa.BigInteger, nullable=False),
        sa.Column("leader_pk", sa.Integer, nullable=False),
    )
    op.create_index("ix_template_bands_key", "template_bands", ["band_key"])
    op.create_table(
        "links",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ad_a", sa.Integer, _ad_fk(), nullable=False),
        sa.Column("ad_b", sa.Integer, _ad_fk(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("evidence", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("ix_links_a", "links", ["ad_a"])
    op.create_index("ix_links_b", "links", ["ad_b"])
    op.create_table(
        "selectors",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("value", sa.String(400), primary_key=True),
        sa.Column("n_ads", sa.Integer, nullable=False),
        sa.Column("groups", sa.Integer, nullable=False),
        sa.Column("hub", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "ad_networks",
        sa.Column("ad_pk", sa.Integer, _ad_fk(), primary_key=True),
        sa.Column("network_id", sa.String(24), nullable=False),
    )
    op.create_index("ix_ad_networks_network", "ad_networks", ["network_id"])
    op.create_table(
        "networks",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("first_seen", sa.String(25)),
        sa.Column("last_seen", sa.String(25)),
        sa.Column("places", sa.Text, nullable=False, server_default="[]"),
        sa.Column("sites", sa.Text, nullable=False, server_default="[]"),
        sa.Column("score", sa.Float, nullable=False, server_default="0"),
        sa.Column("reasons", sa.Text, nullable=False, server_default="[]"),
        sa.Column("updated_at", sa.String(25), nullable=False),
        sa.Column("scored_at", sa.String(25)),
        sa.Column("max_ad_pk", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_networks_size", "networks", ["size"])
    op.create_index("ix_networks_score", "networks", ["score"])


def downgrade() -> None:
    for name in (
        "networks",
        "ad_networks",
        "selectors",
        "links",
        "template_bands",
        "ad_templates",
        "ad_features",
    ):
        op.drop_table(name)
