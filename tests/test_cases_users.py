"""Accounts: Argon2 passwords, hashed API tokens, roles, and the `safelight user` commands."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from safelight.cases import auth, users
from safelight.cases.tables import api_tokens
from safelight.cases.tables import users as users_table


def test_add_and_authenticate(store) -> None:  # type: ignore[no-untyped-def]
    ann = users.add_user(store, "ann", "analyst", "correct horse")
    assert ann["role"] == "analyst" and ann["active"]
    assert users.authenticate(store, "ann", "correct horse")["name"] == "ann"
    assert users.authenticate(store, "ann", "wrong horse") is None
    assert users.authenticate(store, "nobody", "correct horse") is None
    with store.engine.connect() as conn:
        stored = conn.scalar(sa.select(users_table.c.password_hash))
    assert stored.startswith("$argon2id$") and "correct horse" not in stored


BAD_ACCOUNTS = [
    ("", "analyst", "long enough"),
    ("two words", "analyst", "long enough"),
    ("ann", "superuser", "long enough"),
    ("ann", "analyst", "short"),
]


def test_bad_accounts_are_refused(store) -> None:  # type: ignore[no-untyped-def]
    for name, role, password in BAD_ACCOUNTS:
        with pytest.raises(users.UserError):
            users.add_user(store, name, role, password)


def test_names_are_unique(store) -> None:  # type: ignore[no-untyped-def]
    users.add_user(store, "ann", "analyst", "long enough")
    with pytest.raises(users.UserError, match="exists"):
        users.add_user(store, "ann", "auditor", "long enough")


def test_disabled_users_cannot_log_in_or_use_tokens(store) -> None:  # type: ignore[no-untyped-def]
    users.add_user(store, "ann", "analyst", "long enough")
    token = users.create_token(store, "ann")
    users.set_active(store, "ann", False)
    assert users.authenticate(store, "ann", "long enough") is None
    assert users.user_for_token(store, token) is None


def test_tokens_are_kept_only_as_hashes_and_can_be_revoked(store) -> None:  # type: ignore[no-untyped-def]
    users.add_user(store, "ann", "analyst", "long enough")
    token = users.create_token(store, "ann", "script")
    assert token.startswith(users.TOKEN_PREFIX)
    assert users.user_for_token(store, token)["name"] == "ann"
    assert users.user_for_token(store, token + "x") is None
    assert users.user_for_token(store, "not-a-token") is None
    with store.engine.connect() as conn:
        kept = conn.scalar(sa.select(api_tokens.c.token_sha256))
    assert token not in kept and len(kept) == 64
    assert users.revoke_tokens(store, "ann") == 1
    assert users.user_for_token(store, token) is None


def test_role_permissions() -> None:
    analyst, auditor, admin = ({"role": r} for r in ("analyst", "auditor", "admin"))
    assert (
        auth.can(analyst, "view") and auth.can(analyst, "work") and not auth.can(analyst, "audit")
    )
    assert (
        auth.can(auditor, "audit")
        and not auth.can(auditor, "view")
        and not auth.can(auditor, "work")
    )
    assert all(auth.can(admin, p) for p in auth.PERMISSIONS)
    assert not auth.can(None, "view")
    with pytest.raises(auth.Forbidden):
        auth.require(auditor, "view")


def test_secret_key_is_generated_once_per_database(store) -> None:  # type: ignore[no-untyped-def]
    from safelight.settings import Settings

    first = auth.secret_key(store, Settings())
    assert len(first) == 64 and auth.secret_key(store, Settings()) == first
    assert auth.secret_key(store, Settings(secret_key="given")) == "given"


def test_demo_user_gets_a_fresh_working_password(store) -> None:  # type: ignore[no-untyped-def]
    from safelight.web.demo import ensure_demo_user

    name, password = ensure_demo_user(store)
    assert users.authenticate(store, name, password)["role"] == "analyst"
    name2, password2 = ensure_demo_user(store)
    assert name2 == name and password2 != password
    assert users.authenticate(store, name, password2) is not None
    assert users.authenticate(store, name, password) is None


def test_cli_user_add_token_list(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import safelight.commands_web  # noqa: F401  (registers the commands until cli imports it)
    from safelight.cli import main
    from safelight.store import Store

    url = f"sqlite:///{tmp_path / 'u.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert main(["user", "add", "ann", "--role", "analyst", "--password-stdin", "--db", url]) == 0
    assert "added ann (analyst)" in capsys.readouterr().out
    assert main(["user", "token", "ann", "--db", url]) == 0
    token = capsys.readouterr().out.strip()
    store = Store.open(url)
    assert users.user_for_token(store, token)["name"] == "ann"
    assert users.authenticate(store, "ann", "a long password") is not None
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "add", "bob", "--role", "analyst", "--password-stdin", "--db", url]) == 2
    assert "at least" in capsys.readouterr().err
    assert main(["user", "token", "nobody", "--db", url]) == 2
    assert main(["user", "disable", "ann", "--db", url]) == 0
    assert users.user_for_token(store, token) is None
    assert main(["user", "list", "--db", url]) == 0
    assert "disabled" in capsys.readouterr().out
    from safelight.cases import audit

    assert [e["action"] for e in audit.list_entries(store)][:3] == [
        "user.disable",
        "user.token",
        "user.add",
    ]
    store.close()
