"""User accounts and API tokens.

Passwords are hashed with Argon2id (argon2-cffi); tokens are random and only their SHA-256 is
stored, so neither a database dump nor a backup hands out a working credential.
"""

from __future__ import annotations

import hashlib
import secrets
from functools import cache
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from safelight.cases.tables import api_tokens, users
from safelight.store import Store
from safelight.store.store import utcnow

ROLES = ("admin", "analyst", "auditor")
TOKEN_PREFIX = "sl_"
MIN_PASSWORD = 8


class UserError(ValueError):
    """A request about users that cannot be honoured (unknown name, bad role, short password)."""


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


# A fixed hash to verify against when the name is unknown, so a login's timing does not tell
# whether the account exists.
@cache
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_hex(16))


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "active": bool(row.active),
        "created_at": row.created_at,
    }


def add_user(store: Store, name: str, role: str, password: str) -> dict[str, Any]:
    """Create an account; names are unique and case-sensitive as typed (trimmed)."""
    name = name.strip()
    if not name or len(name) > 80 or any(c.isspace() for c in name):
        raise UserError("a user name is 1 to 80 characters without spaces")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password has at least {MIN_PASSWORD} characters")
    with store.engine.begin() as conn:
        if conn.scalar(sa.select(users.c.id).where(users.c.name == name)) is not None:
            raise UserError(f"user {name!r} exists")
        conn.execute(
            sa.insert(users).values(
                name=name,
                role=role,
                active=True,
                password_hash=_hasher().hash(password),
                created_at=utcnow(),
            )
        )
        row = conn.execute(sa.select(users).where(users.c.name == name)).one()
    return _public(row)


def set_password(store: Store, name: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password has at least {MIN_PASSWORD} characters")
    with store.engine.begin() as conn:
        done = conn.execute(
            sa.update(users)
            .where(users.c.name == name)
            .values(password_hash=_hasher().hash(password))
        )
    if done.rowcount == 0:
        raise UserError(f"no user {name!r}")


def set_active(store: Store, name: str, active: bool) -> None:
    with store.engine.begin() as conn:
        done = conn.execute(sa.update(users).where(users.c.name == name).values(active=active))
    if done.rowcount == 0:
        raise UserError(f"no user {name!r}")


def get_user(store: Store, name: str) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.name == name)).first()
    return _public(row) if row is not None else None


def get_user_by_id(store: Store, user_id: int) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
    return _public(row) if row is not None else None


def list_users(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [_public(r) for r in conn.execute(sa.select(users).order_by(users.c.name))]


def authenticate(store: Store, name: str, password: str) -> dict[str, Any] | None:
    """The active user with this name and password, or None (same cost either way)."""
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.name == name.strip())).first()
    stored = row.password_hash if row is not None else _dummy_hash()
    try:
        _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or not row.active:
        return None
    if _hasher().check_needs_rehash(stored):
        set_password(store, row.name, password)
    return _public(row)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(store: Store, name: str, label: str = "") -> str:
    """A new API token for the user; shown once, only its hash is kept."""
    user = get_user(store, name)
    if user is None:
        raise UserError(f"no user {name!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(api_tokens).values(
                user_id=user["id"],
                token_sha256=_digest(token),
                label=label[:200],
                created_at=utcnow(),
            )
        )
    return token


def revoke_tokens(store: Store, name: str) -> int:
    user = get_user(store, name)
    if user is None:
        raise UserError(f"no user {name!r}")
    with store.engine.begin() as conn:
        done = conn.execute(
            sa.update(api_tokens).where(api_tokens.c.user_id == user["id"]).values(revoked=True)
        )
    return int(done.rowcount or 0)


def user_for_token(store: Store, token: str) -> dict[str, Any] | None:
    """The active user a bearer token belongs to, or None if unknown or revoked."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = _digest(token)
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(users, api_tokens.c.id.label("token_id"))
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(api_tokens.c.token_sha256 == digest, api_tokens.c.revoked == sa.false())
        ).first()
    if row is None or not row.active:
        return None
    return _public(row)
