"""Fast bulk inserts for the linking stage, which writes millions of small rows.

SQLAlchemy Core's executemany spends most of its time building parameters per row; handing
plain tuples straight to the driver's executemany is several times faster. Table and column
names come from our schema, never from data, and every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

_CHUNK = 20_000


def insert_rows(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    for name in columns:  # only real column names reach the statement
        table.c[name]
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    cols = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table.name}" ({cols}) VALUES ({", ".join([mark] * len(columns))})'
    for i in range(0, len(rows), _CHUNK):
        conn.exec_driver_sql(sql, list(rows[i : i + _CHUNK]))
