"""The web app: server-rendered pages for analysts and a JSON API under /api/.

Everything is served from this process (no CDN: analysts' networks are often closed), every
page and API call needs a login, and the headers forbid any script that is not one of our
own files, so an ad that smuggles markup past the escaping still cannot run code.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import anyio
import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response

from safelight.cases import audit
from safelight.cases.auth import Forbidden, LoginThrottle, secret_key
from safelight.cases.cases import CaseError, NotFound
from safelight.cases.users import UserError
from safelight.cases.watches import WatchError
from safelight.settings import Settings
from safelight.store import Store
from safelight.web import deps

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
    "payment=(), usb=()"
)
HSTS = "max-age=31536000"
SESSION_HOURS = 12
SESSION_COOKIE = "safelight_session"


MAX_REQUEST_BYTES = 1_000_000  # the largest thing anyone sends is a 20,000-character note


class InputGuard:
    """ASGI middleware: turn away, at the door, input no route could want: NUL characters
    (PostgreSQL cannot store them, so they would end as a server error deep in a query) and
    bodies larger than any form or API call needs."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").lower()
        if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
            await _refuse(scope, send, 400, "NUL characters are not accepted")
            return
        if scope["method"] not in deps.UNSAFE:
            await self.app(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_REQUEST_BYTES:
                await _refuse(scope, send, 413, "request too large")
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        ctype = dict(scope["headers"]).get(b"content-type", b"").lower()
        if (
            b"\x00" in body
            or (b"urlencoded" in ctype and b"%00" in body)
            or (b"json" in ctype and b"\\u0000" in body)
        ):
            await _refuse(scope, send, 400, "NUL characters are not accepted")
            return
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _refuse(scope: Any, send: Any, status: int, message: str) -> None:
    response = JSONResponse(
        {"detail": message}, status_code=status, headers={"Cache-Control": "no-store"}
    )
    await response(scope, _no_receive, send)


async def _no_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


class SecureCookies:
    """ASGI middleware: over HTTPS (or always, by setting) every cookie we set is `Secure` and
    the browser is told to stay on HTTPS. Decided per request, because the same app is reached
    over plain HTTP on a laptop and over HTTPS behind a proxy."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = deps.is_https(scope, self.settings)
        secure = https or self.settings.cookie_secure

        async def send_secure(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = []
                for key, value in message.get("headers", []):
                    if secure and key.lower() == b"set-cookie" and b"secure" not in value.lower():
                        value += b"; Secure"
                    headers.append((key, value))
                if https:
                    headers.append((b"strict-transport-security", HSTS.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_secure)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    """Build the app over `settings.db` (or an already open store, for tests and `serve`)."""
    from safelight import __version__ as version

    store = store or Store.open(settings.db)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(_warm_up, app)
        await _warm_routes(app)
        # What is loaded by now (gazetteers, tables, templates) lives as long as the server:
        # frozen, the collector stops walking it on every full collection (~80 ms pauses
        # under load at 1M ads, the network page's p95).
        gc.collect()  # garbage of the warm-up is not kept for ever
        gc.freeze()
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="Safelight",
        version=str(version),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        description="Investigator API. Authenticate with `Authorization: Bearer TOKEN` "
        "(`safelight user token NAME`).",
    )
    app.state.store = store
    app.state.settings = settings
    app.state.templates = deps.make_templates()
    app.state.login_throttle = LoginThrottle()
    app.add_middleware(InputGuard)  # innermost, so its refusals get the security headers too

    @app.middleware("http")
    async def login_throttle(request: Request, call_next: Any) -> Response:
        if request.method != "POST" or request.url.path != "/login":
            return await call_next(request)
        return await _throttled_login(request, call_next)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        h = response.headers
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "no-referrer")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        h.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if not request.url.path.startswith("/static/"):
            h.setdefault("Cache-Control", "no-store")
        return response

    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key(store, settings),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_HOURS * 3600,
        same_site="lax",  # strict would drop the session when an analyst follows a shared link
        https_only=False,  # decided per request by SecureCookies
    )
    app.add_middleware(SecureCookies, settings=settings)
    app.mount("/static", StaticFiles(directory=str(deps.HERE / "static")), name="static")

    from safelight.web import api, pages, pages_cases

    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(pages_cases.router)
    _handlers(app)
    return app


def _warm_up(app: FastAPI) -> None:
    """Before the server takes requests: compile every template and load what the first
    search, lookup and ad page need, so no analyst's request waits on a cold start."""
    from safelight.web import queries

    env = app.state.templates.env
    for name in env.list_templates(extensions=["html"]):
        try:
            env.get_template(name)
        except jinja2.TemplateError:  # not a page of this app (report.html is the exports')
            continue
    settings: Settings = app.state.settings
    queries.warm_up(settings.region, settings.indicators_path or None)


async def _warm_routes(app: FastAPI) -> None:
    """FastAPI prepares a route on the first request that is matched against it (about 0.3 s
    for this app's routes, paid by the first analyst). One anonymous request for a path no
    route has, before the server takes requests, is matched against them all; it is answered
    with a redirect to the login page and touches nothing else."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/-/warm-up",
        "raw_path": b"/-/warm-up",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    await app(scope, receive, send)


async def _throttled_login(request: Request, call_next: Any) -> Response:
    """Refuse a login attempt while its user name or client address is throttled, and count
    the outcome of the others (401: failed, 303: signed in)."""
    body = await request.body()

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form()
        raw = form.get("name")
    except Exception:  # malformed bodies are the route's to reject
        raw = None
    name = raw if isinstance(raw, str) else ""
    address = deps.client_address(request)
    throttle: LoginThrottle = request.app.state.login_throttle
    if throttle.blocked(name, address):
        audit.record(
            deps.store_of(request),
            name.strip()[:80] or "-",
            "login.throttled",
            "",
            {"ip": address},
        )
        return deps.page(
            request,
            "login.html",
            {"next": "/", "error": "Too many failed attempts: wait five minutes."},
            status_code=429,
        )
    response: Response = await call_next(request)
    if response.status_code == 401:
        throttle.failed(name, address)
    elif response.status_code == 303:
        throttle.succeeded(name)
    return response


def _to_login(request: Request) -> Response:
    if _is_api(request):
        return JSONResponse(
            {"detail": "login required"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)


def _error(request: Request, status: int, message: str) -> Response:
    if _is_api(request):
        return JSONResponse({"detail": message}, status_code=status)
    return deps.page(
        request, "error.html", {"status": status, "message": message}, status_code=status
    )


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(deps.LoginRequired)
    async def login_required(request: Request, exc: Exception) -> Response:
        return _to_login(request)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Exception) -> Response:
        return _error(request, 403, str(exc) or "not allowed")

    @app.exception_handler(deps.CSRFError)
    async def csrf(request: Request, exc: Exception) -> Response:
        return _error(request, 403, "the form was stale or came from elsewhere: reload and retry")

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(request, 404, str(exc))

    @app.exception_handler(CaseError)
    @app.exception_handler(WatchError)
    @app.exception_handler(UserError)
    async def bad_request(request: Request, exc: Exception) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": exc.errors()}, status_code=422)
        return _error(request, 422, "some fields were missing or malformed")

    @app.exception_handler(OperationalError)
    async def database_busy(request: Request, exc: OperationalError) -> Response:
        # SQLite's one writer: an analyst's write (or the audit entry of a page view) waited
        # the busy timeout behind a long ingest or link. Say so, rather than a bare 500.
        if "database is locked" not in str(exc.orig):
            raise exc
        response = _error(
            request,
            503,
            "the database is busy with a long write (an ingest or a link): try again in a minute",
        )
        response.headers["Retry-After"] = "30"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) or exc.status_code < 400:
            return JSONResponse(
                {"detail": exc.detail},
                status_code=exc.status_code,
                headers=getattr(exc, "headers", None),
            )
        if exc.status_code in (401, 403, 404, 405) and deps.optional_user(request) is None:
            # Anonymous visitors learn nothing about which pages exist.
            return _to_login(request)
        return _error(request, exc.status_code, str(exc.detail))


def serve(
    settings: Settings, host: str = "127.0.0.1", port: int = 8000, store: Store | None = None
) -> None:
    """Run the app with uvicorn until Ctrl-C (what `safelight serve` and `safelight demo` do)."""
    import uvicorn

    uvicorn.run(
        create_app(settings, store), host=host, port=port, log_level="warning", proxy_headers=False
    )
