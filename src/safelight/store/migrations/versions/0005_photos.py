"""Photos (hashes only), known-hash lists and their matches.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "photos",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ad_pk", sa.Integer, sa.ForeignKey("ads.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("url", sa.Text, nullable=False, server_default=""),
        sa.Column("sha256", sa.String(64), nullable=False, server_default=""),
        sa.Column("md5", sa.String(32), nullable=False, server_default=""),
        sa.Column("pdq", sa.String(64), nullable=False, server_default=""),
        sa.Column("quality", sa.Integer),
        sa.Column("low_quality", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("index_hashes", sa.Text, nullable=False, server_default="[]"),
        sa.Column("query_hashes", sa.Text, nullable=False, server_default="[]"),
        sa.Column("thumbnail", sa.LargeBinary),
    )
    op.create_index("ix_photos_ad", "photos", ["ad_pk"])
    op.create_index("ix_photos_sha256", "photos", ["sha256"])
    op.create_index("ix_photos_pdq", "photos", ["pdq"])
    op.create_table(
        "hashlists",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False, server_default=""),
        sa.Column("imported_at", sa.String(25), nullable=False),
        sa.Column("n_hashes", sa.Integer, nullable=False),
    )
    op.create_table(
        "known_hashes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "list_id", sa.Integer, sa.ForeignKey("hashlists.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("label", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_known_hashes_kind_value", "known_hashes", ["kind", "value"])
    op.create_index("ix_known_hashes_list", "known_hashes", ["list_id"])
    op.create_table(
        "hash_matches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ad_pk", sa.Integer, sa.ForeignKey("ads.pk", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "photo_id", sa.Integer, sa.ForeignKey("photos.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "list_id", sa.Integer, sa.ForeignKey("hashlists.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "known_id",
            sa.Integer,
            sa.ForeignKey("known_hashes.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("distance", sa.Integer, nullable=False),
        sa.Column("created_at", sa.String(25), nullable=False),
        sa.UniqueConstraint("photo_id", "known_id", name="uq_hash_matches_photo_known"),
    )
    op.create_index("ix_hash_matches_ad", "hash_matches", ["ad_pk"])


def downgrade() -> None:
    for name in ("hash_matches", "known_hashes", "hashlists", "photos"):
        op.drop_table(name)
