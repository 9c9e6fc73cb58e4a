"""The demo account that `make demo` prints before `safelight serve`."""

from __future__ import annotations

import secrets

from safelight.cases import users
from safelight.store import Store
from safelight.web.app import serve

__all__ = ["DEMO_USER", "ensure_demo_user", "serve"]

DEMO_USER = "demo"


def ensure_demo_user(store: Store) -> tuple[str, str]:
    """Create (or reset) the analyst "demo" with a fresh random password and return both.

    Random, not fixed: a demo database left running on a shared network must not open with a
    password printed in the README. The password is reset on every call, so the one just
    printed is always the one that works."""
    password = secrets.token_urlsafe(12)
    if users.get_user(store, DEMO_USER) is None:
        users.add_user(store, DEMO_USER, "analyst", password)
    else:
        users.set_password(store, DEMO_USER, password)
        users.set_active(store, DEMO_USER, True)
    return DEMO_USER, password
