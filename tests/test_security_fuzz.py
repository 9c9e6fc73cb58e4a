"""Every API operation fuzzed from its own OpenAPI description (schemathesis, in process over
ASGI) with a valid analyst-and-admin bearer token: whatever the input, never a server error.

Bounded so the file runs in well under a minute: a few dozen examples per operation, no
shrinking deadline, on a copy of the shared web corpus (SQLite).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from conftest import PG_ADMIN, drop_pg_database, make_pg_database
from safelight.cases import users
from safelight.settings import Settings
from safelight.store import Store
from safelight.web.app import create_app
from test_web_corpus import add_ads, cheap_password_hashing, corpus_db

cheap_password_hashing()

EXAMPLES = 15
PG_ADS = [
    {
        "id": f"fuzz-{n}",
        "title": f"New in town {n}",
        "body": f"Sweet and young-looking, call 713-555-01{n:02d} companionship in Houston, TX",
        "place": "Houston, TX",
        "mentions": [("phone", f"713-555-01{n:02d}", f"+171355501{n:02d}")],
    }
    for n in range(10, 20)
]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_env(request, tmp_path_factory, pg_reason) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """SQLite: a copy of the shared corpus. PostgreSQL: a fresh database with a few hand-made
    ads (what differs there is how the server takes odd values, not how much data it holds)."""
    pg_name = None
    if request.param == "sqlite":
        url = corpus_db(tmp_path_factory.mktemp("fuzz"))
        store = Store.open(url)
    else:
        pg_name = make_pg_database(pg_reason)
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + pg_name
        store = Store.open(url)
        add_ads(store, PG_ADS)
    users.add_user(store, "fuzzer", "admin", "a long password")  # admin: every operation open
    users.add_user(store, "ann", "analyst", "a long password")  # a member to add, an assignee
    token = users.create_token(store, "fuzzer")
    app = create_app(Settings.from_env({}, db=url), store)
    try:
        yield {"app": app, "auth": {"Authorization": f"Bearer {token}"}}
    finally:
        store.close()
        if pg_name:
            drop_pg_database(pg_name)


@pytest.fixture(scope="module")
def api_schema(fuzz_env):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_asgi(
        "/api/openapi.json", fuzz_env["app"], headers=fuzz_env["auth"]
    )


def _fuzz(operation: Any, auth: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=auth, checks=[not_a_server_error])

    run()


def test_api_never_answers_with_a_server_error(fuzz_env, api_schema) -> None:  # type: ignore[no-untyped-def]
    """Driven by hand rather than by schemathesis' pytest plugin, which this pytest outgrew;
    every operation runs even after one fails, so a single run shows them all."""
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        try:
            _fuzz(operation, dict(fuzz_env["auth"]))
        except Exception as exc:  # collected, and all reported together below
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    assert not failures, "\n\n".join(failures)


def test_the_schema_covers_every_api_operation(api_schema) -> None:  # type: ignore[no-untyped-def]
    """Nothing under /api/ escapes fuzzing by being left out of the schema (only the schema
    document itself is)."""
    from safelight.web import api

    documented = {(p, m.upper()) for p, ops in api_schema.raw_schema["paths"].items() for m in ops}
    routed = {
        (route.path.replace(":path}", "}"), method)
        for route in api.router.routes
        if route.path != "/api/openapi.json"
        for method in route.methods - {"HEAD"}
    }
    assert len(routed) >= 20 and routed <= documented
