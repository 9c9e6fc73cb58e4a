"""Opening a database: one URL setting, SQLite by default, migrated to the newest schema."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from safelight.store.writer import one_at_a_time

MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(db: str) -> str:
    """Accept a URL or a plain file path (the CLI's --db takes either)."""
    if "://" in db:
        return db
    return "sqlite:///" + str(Path(db).expanduser().resolve())


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets analysts read while an ingest writes; NORMAL sync is safe with WAL.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def make_engine(db: str) -> sa.Engine:
    url = normalise_url(db)
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    # Up to 40 connections: one for each of the web server's 40 worker threads (AnyIO's
    # default), so a busy server queues requests in its threads, never on the pool.
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=30)


def _alembic_config(conn: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# PostgreSQL advisory lock key of migrations (scoring holds ..._0001, linking ..._0002).
MIGRATE_LOCK_KEY = 0x5AFE1_0003


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; a no-op when it is already there."""
    if revision == "head" and current_revision(engine) == head_revision():
        return
    with engine.begin() as conn:
        _one_migrator(conn)
        command.upgrade(_alembic_config(conn), revision)


def _one_migrator(conn: sa.Connection) -> None:
    """Let one process at a time migrate. Two opening a new database at once (two ingests, a
    server's workers) both found no schema and both created it: the second failed on "table
    ads already exists". Now the second waits, then reads the schema the first committed and
    has nothing to do. PostgreSQL: an advisory lock for this transaction, whose DDL is
    transactional. SQLite: the writer lock, taken before anything is read (the sqlite3 module
    would otherwise run each CREATE on its own)."""
    one_at_a_time(conn, MIGRATE_LOCK_KEY)


def downgrade(engine: sa.Engine, revision: str) -> None:
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), revision)
