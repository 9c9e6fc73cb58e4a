"""Alembic environment: runs on the connection Safelight hands over (see store.db.migrate)."""

from __future__ import annotations

from alembic import context

from safelight.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through safelight.store.db.migrate
    raise RuntimeError("run migrations through safelight.store.db.migrate()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
