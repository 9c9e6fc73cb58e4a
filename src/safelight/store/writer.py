"""SQLite's writer lock, taken at the start of a transaction and waited for with patience.

SQLite lets one connection write at a time. A link rebuild at a million ads holds the lock
for about a minute, longer than a connection's busy timeout (30 s); and a transaction that
reads before it writes cannot wait at all once another writer has committed in between (its
snapshot is stale, and SQLite says "database is locked" at once). So a writer that may meet
a long one takes the lock before anything else, asking again until its patience runs out.
PostgreSQL writers wait on row locks by themselves and need none of this.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

# How long a writer waits for another to finish (each attempt also waits the busy timeout).
WRITER_PATIENCE_S = 600.0


def begin_writing(conn: sa.Connection, patience_s: float = WRITER_PATIENCE_S) -> None:
    """Begin `conn`'s transaction holding SQLite's writer lock; a no-op on PostgreSQL.
    Must come before the transaction's first statement."""
    if conn.dialect.name != "sqlite":
        return
    deadline = time.monotonic() + patience_s
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except sa.exc.OperationalError as exc:
            if "locked" not in str(exc.orig) or time.monotonic() >= deadline:
                raise


def one_at_a_time(conn: sa.Connection, pg_lock_key: int) -> None:
    """Let this transaction alone do its job across processes until it ends: PostgreSQL by
    the advisory lock `pg_lock_key`, SQLite by its writer lock (`begin_writing`). Must come
    before the transaction's first statement."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": pg_lock_key})
    else:
        begin_writing(conn)
