"""Drop the photos table's sha256 and pdq indexes: every lookup by a photo hash goes through the
photo selectors in `mentions` (kind "photo", value "sha256:…" or "pdq:…"), indexed already.

Each index cost a random B-tree insert per stored photo; at a million ads the single ingest
writer spends most of its time writing pages dirtied by such inserts.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.drop_index("ix_photos_pdq", table_name="photos")
    op.drop_index("ix_photos_sha256", table_name="photos")


def downgrade() -> None:
    op.create_index("ix_photos_sha256", "photos", ["sha256"])
    op.create_index("ix_photos_pdq", "photos", ["pdq"])
