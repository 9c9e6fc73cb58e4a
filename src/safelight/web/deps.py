"""What every route needs: the store, the signed-in user, permission checks, CSRF, auditing
and page rendering with the common context.

A request is authenticated by `Authorization: Bearer TOKEN` or by the session cookie set at
login. Cookie-authenticated requests that change something must carry the session's CSRF
token (form field `csrf` or header `X-CSRF-Token`); bearer requests carry no ambient
credential and need none.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

import annotated_types
from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from safelight.cases import audit, users, watches
from safelight.cases.auth import Forbidden, can
from safelight.cases.exports import reason_line
from safelight.settings import Settings
from safelight.store import Store
from safelight.web import render

HERE = Path(__file__).parent
MAX_DB_ID = 2**31 - 1  # ids are INTEGER columns: 32 bits on PostgreSQL
# A row id as the client may send it (path, query, form or JSON): out of range is a 422, not a
# database overflow (a 500) as it would be for an unbounded int.
DbId = Annotated[int, annotated_types.Ge(1), annotated_types.Le(MAX_DB_ID)]
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginRequired(Exception):
    """No valid session or token: pages redirect to /login, the API answers 401."""


class CSRFError(Exception):
    """A cookie-authenticated change without the session's CSRF token."""


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.autoescape = True
    env.auto_reload = False  # no stat() of every template (and include) on every render
    env.filters["urlpart"] = render.urlpart
    env.filters["snippet"] = render.snippet_html
    env.filters["reason_text"] = render.reason_text
    env.filters["reason_full"] = reason_line
    env.globals["can"] = can
    return templates


def store_of(request: Request) -> Store:
    return request.app.state.store


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def _forwarded(headers: Any, name: str) -> str:
    """The value the nearest proxy appended (the last one): earlier ones came from the client."""
    value = headers.get(name, "")
    return value.rsplit(",", 1)[-1].strip() if value else ""


def client_address(request: Request) -> str:
    """The address login throttling counts: the peer, or what a trusted proxy says it saw."""
    if settings_of(request).trust_proxy:
        forwarded = _forwarded(request.headers, "x-forwarded-for")
        if forwarded:
            return forwarded
    return request.client.host if request.client else ""


def is_https(scope: dict[str, Any], settings: Settings) -> bool:
    """Did this request reach us over HTTPS (directly, or per a proxy we were told to trust)?"""
    if scope.get("scheme") in ("https", "wss"):
        return True
    if settings.trust_proxy:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        return _forwarded(headers, "x-forwarded-proto").lower() == "https"
    return False


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def optional_user(request: Request) -> dict[str, Any] | None:
    """The user behind this request, or None. A bad bearer token is never silently ignored in
    favour of the cookie: it counts as no login."""
    if hasattr(request.state, "user"):
        return request.state.user
    store = store_of(request)
    user = None
    token = bearer_token(request)
    if token is not None:
        user = users.user_for_token(store, token)
        request.state.via = "token"
    else:
        uid = request.session.get("uid")
        if isinstance(uid, int):
            user = users.get_user_by_id(store, uid)
            if user is not None and not user["active"]:
                user = None
            if user is None:
                request.session.clear()
        request.state.via = "session"
    request.state.user = user
    return user


def current_user(request: Request) -> dict[str, Any]:
    user = optional_user(request)
    if user is None:
        raise LoginRequired()
    return user


def need(permission: str):  # type: ignore[no-untyped-def]
    """A dependency: the signed-in user, who must hold `permission` (else 403)."""

    def dependency(request: Request) -> dict[str, Any]:
        user = current_user(request)
        if not can(user, permission):
            raise Forbidden(f"the {user['role']} role may not {permission}")
        return user

    return dependency


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 20:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def csrf_guard(request: Request) -> None:
    """Router-wide dependency: changes made with the session cookie must prove same origin."""
    if request.method not in UNSAFE or bearer_token(request) is not None:
        return
    expected = request.session.get("csrf")
    given = request.headers.get("x-csrf-token")
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf")
        given = value if isinstance(value, str) else None
    if not expected or not given or not secrets.compare_digest(str(expected), given):
        raise CSRFError()


def record(
    request: Request,
    user: dict[str, Any],
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit one thing the user did, with how (page or API) and the case they were working."""
    extra: dict[str, Any] = {"via": "api" if request.url.path.startswith("/api/") else "web"}
    if getattr(request.state, "via", None) == "token":
        extra["auth"] = "token"
    active = (
        request.session.get("case") if getattr(request.state, "via", None) == "session" else None
    )
    if isinstance(active, int):
        extra["case"] = active
    audit.record(store_of(request), user["name"], action, target, {**(detail or {}), **extra})


def page(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    """Render a page with what the layout needs: user, CSRF token, unseen alerts, active case."""
    user = optional_user(request)
    ctx: dict[str, Any] = {
        "user": user,
        "csrf": csrf_token(request),
        "alerts_unseen": 0,
        "active_case": request.session.get("case"),
        "path": request.url.path,
    }
    if user is not None and can(user, "work"):
        ctx["alerts_unseen"] = watches.unseen_count(store_of(request), user)
    ctx.update(context or {})
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"
