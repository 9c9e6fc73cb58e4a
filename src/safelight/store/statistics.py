"""Planner statistics after bulk writes, on PostgreSQL.

PostgreSQL plans every query from the statistics ANALYZE last took. After a bulk ingest or a
link rebuild those describe a much smaller (or empty) table until autovacuum wakes up, and on
a server where autovacuum is off, never. Measured at 300,000 generated ads: scoring every
network right after linking took 200 s on unanalysed tables and 49 s after ANALYZE (2 s).

So the bulk writers re-analyse, at once, every table they wrote that has grown by more than
a tenth (autovacuum's default scale factor) since its statistics were taken. Growth is read
from the table's size on disk against the page count ANALYZE recorded: unlike the activity
counters, that includes the caller's own uncommitted writes and adds up over many small runs.

SQLite is left alone: its planner needs no statistics for our indexed pivots, and every query
plan was tuned and measured at 1M ads without them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

SCALE_FACTOR = 0.1  # autovacuum_analyze_scale_factor, PostgreSQL's default


def refresh_statistics(
    conn: sa.Connection, tables: Sequence[str], *, rewritten: bool = False
) -> list[str]:
    """ANALYZE those of `tables` grown past the rule above (all of them if `rewritten`: a
    rebuild replaced their rows). Runs in the caller's transaction, so a rollback also takes
    the new statistics back. Returns the tables analysed; on SQLite, none."""
    if conn.dialect.name != "postgresql":
        return []
    sizes = conn.execute(
        sa.text(
            "SELECT t.name, c.relpages, pg_relation_size(c.oid) / current_setting('block_size')::int"
            " FROM unnest(CAST(:names AS text[])) WITH ORDINALITY AS t(name, n)"
            " JOIN pg_class c ON c.oid = to_regclass(t.name) ORDER BY t.n"
        ),
        {"names": list(tables)},
    ).all()
    chosen = [
        name
        for name, recorded, pages in sizes
        if pages > 0 and (rewritten or pages > (1 + SCALE_FACTOR) * recorded)
    ]
    for name in chosen:
        conn.exec_driver_sql(f'ANALYZE "{name}"')  # our own table names, never input
    return chosen
