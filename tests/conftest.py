"""Shared fixtures. Tests that take `db_url` or `store` run once on SQLite and once on PostgreSQL.

PostgreSQL tests create and drop their own database on the server at
SAFELIGHT_TEST_PG (default postgresql://postgres@127.0.0.1:5432/postgres). They skip with the
reason only where no server is reachable and CI is not set; in CI an unreachable server fails.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

PG_ADMIN = os.environ.get("SAFELIGHT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_connect(dbname: str | None = None):  # type: ignore[no-untyped-def]
    import psycopg

    url = PG_ADMIN if dbname is None else PG_ADMIN.rsplit("/", 1)[0] + "/" + dbname
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def _pg_available() -> str | None:
    try:
        with _pg_connect():
            return None
    except Exception as exc:
        return f"no PostgreSQL server reachable at {PG_ADMIN}: {exc}"


@pytest.fixture(scope="session")
def pg_reason() -> str | None:
    return _pg_available()


def make_pg_database(pg_reason: str | None) -> str:
    if pg_reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must reach PostgreSQL: {pg_reason}")
        pytest.skip(pg_reason)
    name = "safelight_test_" + uuid.uuid4().hex[:12]
    with _pg_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_pg_database(name: str) -> None:
    with _pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def _fresh_pg_url(pg_reason: str | None) -> Iterator[str]:
    name = make_pg_database(pg_reason)
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        drop_pg_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path, pg_reason) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    with _fresh_pg_url(pg_reason) as url:
        yield url


@pytest.fixture
def pg_url(pg_reason) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh, empty PostgreSQL database URL, for what only PostgreSQL does."""
    with _fresh_pg_url(pg_reason) as url:
        yield url


@pytest.fixture
def store(db_url):  # type: ignore[no-untyped-def]
    from safelight.store import Store

    s = Store.open(db_url)
    yield s
    s.close()
