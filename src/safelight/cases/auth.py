"""Who may do what, and the key that signs web sessions.

Three roles: analysts work the ads (search, view, cases, watches, triage decisions); auditors
read the audit log and nothing of the ads; admins do both and manage users.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from safelight.settings import Settings
from safelight.store import Store

# permission -> roles holding it
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset({"admin", "analyst"}),  # triage, search, lookup, ads, entities, networks
    "work": frozenset({"admin", "analyst"}),  # cases, watches, triage decisions
    "audit": frozenset({"admin", "auditor"}),  # read the audit log
    "admin": frozenset({"admin"}),  # users
}
SECRET_META_KEY = "web.secret_key"


class Forbidden(PermissionError):
    """The user is known but their role does not allow this."""


def can(user: dict[str, Any] | None, permission: str) -> bool:
    return user is not None and user.get("role") in PERMISSIONS.get(permission, frozenset())


def require(user: dict[str, Any] | None, permission: str) -> dict[str, Any]:
    if user is None or not can(user, permission):
        raise Forbidden(
            f"the {user.get('role') if user else 'anonymous'} role may not {permission}"
        )
    return user


def secret_key(store: Store, settings: Settings) -> str:
    """The session signing key: the setting if given, else one generated once per database.

    Kept in the database so every worker and every restart signs alike without anyone having
    to invent a key."""
    if settings.secret_key:
        return settings.secret_key
    key = store.get_meta(SECRET_META_KEY)
    if not key:
        with contextlib.suppress(Exception):  # another worker created it first: use theirs
            store.set_meta(SECRET_META_KEY, secrets.token_hex(32))
        key = store.get_meta(SECRET_META_KEY)
    assert key
    return key
