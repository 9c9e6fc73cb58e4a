"""Whole-table reads for a rebuild: batches of plain tuples, or integer columns as numpy.

A rebuild of a million ads reads millions of rows (mentions, photos, links). SQLAlchemy row
objects and one big fetchall would cost seconds and hold every row at once; these read
straight from the driver's cursor a batch at a time (a server-side cursor on PostgreSQL).
The SQL is always a constant of the caller (table and column names, ints it formatted),
never data.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import sqlalchemy as sa

FETCH = 50_000  # rows per batch
_names = itertools.count()


def stream_rows(conn: sa.Connection, sql: str, size: int = FETCH) -> Iterator[list[Any]]:
    """The rows of `sql` in batches of at most `size` tuples, in the connection's transaction.

    A driver cursor, not SQLAlchemy's: its streaming result buffers rows ahead of the
    cursor, and row objects cost more than the work done on them here."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    if conn.dialect.name == "postgresql":  # a named cursor is psycopg's server-side cursor
        cursor = dbapi.cursor(name=f"safelight_scan_{next(_names)}")  # type: ignore[call-arg]
    else:
        cursor = dbapi.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(size):
            yield list(rows)
    finally:
        cursor.close()


def int_rows(conn: sa.Connection, sql: str, ncols: int) -> np.ndarray:
    """An all-integer query as an (n, ncols) int64 array."""
    parts = [np.asarray(rows, dtype=np.int64).reshape(-1, ncols) for rows in stream_rows(conn, sql)]
    return np.concatenate(parts) if parts else np.zeros((0, ncols), dtype=np.int64)
