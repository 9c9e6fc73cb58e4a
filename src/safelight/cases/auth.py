"""Who may do what, and the key that signs web sessions.

Three roles: analysts work the ads (search, view, cases, watches, triage decisions); auditors
read the audit log and nothing of the ads; admins do both and manage users.
"""

from __future__ import annotations

import contextlib
import secrets
import time
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


class LoginThrottle:
    """Failed logins counted per user name and per client address over a sliding window.

    Per user stops guessing one account's password from many addresses; per address stops one
    machine spraying guesses over many accounts. In memory and per process on purpose: a
    restart forgets, which errs toward letting people in, and nothing about it reaches disk.
    """

    def __init__(
        self,
        per_user: int = 5,
        per_address: int = 20,
        window: float = 300.0,
        max_keys: int = 50_000,
    ) -> None:
        self.per_user, self.per_address, self.window = per_user, per_address, window
        self.max_keys = max_keys
        self._failures: dict[tuple[str, str], list[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        times = [t for t in self._failures.get(key, ()) if now - t < self.window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def blocked(self, name: str, address: str, now: float | None = None) -> bool:
        """True when either the user or the address has used up its failures."""
        now = time.monotonic() if now is None else now
        user_key, addr_key = ("user", name.strip().lower()), ("addr", address)
        return (
            len(self._recent(user_key, now)) >= self.per_user
            or len(self._recent(addr_key, now)) >= self.per_address
        )

    def failed(self, name: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if len(self._failures) >= self.max_keys:  # a flood of made-up names: forget the stale
            for key in list(self._failures):
                self._recent(key, now)
            while len(self._failures) > self.max_keys - 2:  # room for this failure's two
                self._failures.pop(next(iter(self._failures)))
        for key in (("user", name.strip().lower()), ("addr", address)):
            self._failures.setdefault(key, []).append(now)

    def succeeded(self, name: str) -> None:
        """A right password clears the user's count (not the address's: one account an attacker
        owns must not reset their allowance for guessing others)."""
        self._failures.pop(("user", name.strip().lower()), None)
