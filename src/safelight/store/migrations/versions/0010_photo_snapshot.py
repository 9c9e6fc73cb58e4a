"""A snapshot of every stored photo hash, so that linking a few new ads reads one blob.

Linking new ads compares their photos with every stored one. Reading those from `photos` (two
million rows of JSON hash lists at 1M ads) took 4.8 s of an 11 s update; the snapshot holds
them as arrays, and only rows of later ads are read. Linking keeps it current; deleting any
photo row it covers (a purge) makes it count short, and the next link reads every row again.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "photo_snapshot",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("upto_pk", sa.Integer, nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("photo_snapshot")
