"""HTML pages for finding and reading: login, triage, search, lookup, ads, entities, networks.

Each handler reads the request, calls `queries` (or the triage layer), audits what was seen,
and renders a template. Nothing else.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from safelight.cases import hashalerts, users
from safelight.cases.cases import cases_for_ref, list_cases
from safelight.store.store import QueryTimeout, time_limit
from safelight.web import queries
from safelight.web.deps import (
    csrf_guard,
    csrf_token,
    is_htmx,
    need,
    optional_user,
    page,
    record,
    settings_of,
    store_of,
)
from safelight.web.render import urlpart

router = APIRouter(dependencies=[Depends(csrf_guard)], include_in_schema=False)
Viewer = Annotated[dict[str, Any], Depends(need("view"))]
Worker = Annotated[dict[str, Any], Depends(need("work"))]
TRIAGE_STATUSES = ("new", "reviewing", "escalated", "dismissed")


@contextlib.contextmanager
def query_limit(request: Request) -> Iterator[None]:
    """Searches and lookups inside run under `Settings.query_timeout_ms`; one that runs over
    is stopped and answered 503 with advice, instead of holding a worker until it ends."""
    ms = settings_of(request).query_timeout_ms
    try:
        with time_limit(ms):
            yield
    except QueryTimeout as exc:
        raise HTTPException(
            503,
            f"The query took longer than {ms / 1000:g} s and was stopped: narrow it "
            "(more specific words, a site, a place or dates) and try again.",
        ) from exc


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute or scheme-relative URL (open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# ---- login -----------------------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    if optional_user(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return page(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login")
def login(
    request: Request,
    name: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    # Throttling (per user name and per client address) is the `login_throttle` middleware's
    # (app.py): it answers 429 before this runs and counts this route's 401s.
    store = store_of(request)
    user = users.authenticate(store, name, password)
    if user is None:
        from safelight.cases import audit

        audit.record(
            store,
            name.strip()[:80] or "-",
            "login.failed",
            "",
            {"ip": request.client.host if request.client else ""},
        )
        return page(
            request,
            "login.html",
            {"next": _safe_next(next), "error": "Unknown user or wrong password."},
            status_code=401,
        )
    request.session.clear()  # a fresh session: nothing from before the login carries over
    request.session["uid"] = user["id"]
    request.session["csrf"] = secrets.token_urlsafe(32)
    request.state.user = user
    request.state.via = "session"
    record(request, user, "login", "", {"ip": request.client.host if request.client else ""})
    target = _safe_next(next)
    if target == "/" and user["role"] == "auditor":
        target = "/audit"
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    user = optional_user(request)
    if user is not None:
        record(request, user, "logout")
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


# ---- triage ----------------------------------------------------------------------------------


@router.get("/")
def triage_page(
    request: Request,
    user: Viewer,
    status: str | None = None,
    place: str | None = None,
    min_score: float | None = None,
    include_dismissed: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    store = store_of(request)
    data = queries.triage_rows(
        store,
        limit=limit,
        include_dismissed=include_dismissed or status == "dismissed",
        with_ads=False,
    )
    items = queries.filter_triage(data["items"], status or None, place or None, min_score)
    record(
        request,
        user,
        "triage.view",
        "",
        {"filters": {"status": status, "place": place, "min_score": min_score}},
    )
    return page(
        request,
        "triage.html",
        {
            "items": items,
            "fallback": data["fallback"],
            "statuses": TRIAGE_STATUSES,
            "filters": {
                "status": status or "",
                "place": place or "",
                "min_score": "" if min_score is None else min_score,
                "include_dismissed": include_dismissed,
            },
        },
    )


@router.post("/triage/status")
def triage_status(
    request: Request,
    user: Worker,
    item: Annotated[str, Form()],
    status: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    from safelight.triage.queue import set_status

    try:
        set_status(store_of(request), item, status, reason.strip(), user["name"])
    except (ValueError, KeyError) as exc:
        message = str(exc).strip("'\"")
        if is_htmx(request):  # htmx swaps only 2xx answers: say it inside the row
            ctx = {
                "item": {"item": item, "status": status},
                "statuses": TRIAGE_STATUSES,
                "error": message,
            }
            return page(request, "_status.html", ctx)
        code = 404 if isinstance(exc, KeyError) else 400
        return page(request, "error.html", {"status": code, "message": message}, status_code=code)
    record(request, user, "triage.status", item, {"status": status, "reason": reason.strip()[:500]})
    if is_htmx(request):
        return page(
            request,
            "_status.html",
            {"item": {"item": item, "status": status}, "statuses": TRIAGE_STATUSES, "saved": True},
        )
    return RedirectResponse("/", status_code=303)


# ---- search and lookup -----------------------------------------------------------------------


@router.get("/search")
def search_page(
    request: Request,
    user: Viewer,
    q: str = "",
    site: str | None = None,
    place: str | None = None,
    date_from: Annotated[str | None, Query(alias="from")] = None,
    date_to: Annotated[str | None, Query(alias="to")] = None,
    min_score: float | None = None,
) -> Response:
    store, settings = store_of(request), settings_of(request)
    q = q.strip()[:500]
    filters = {
        "site": site or "",
        "place": place or "",
        "from": date_from or "",
        "to": date_to or "",
        "min_score": "" if min_score is None else min_score,
    }
    if not q:
        return page(request, "search.html", {"q": "", "result": None, "filters": filters})
    selector = queries.strong_selector(q, settings.region)
    if selector is not None and not any((site, place, date_from, date_to, min_score)):
        record(request, user, "search.selector", f"{selector[0]}:{selector[1]}", {"query": q})
        return RedirectResponse(
            f"/entities/{urlpart(selector[0])}/{urlpart(selector[1])}", status_code=303
        )
    with query_limit(request):
        result = queries.search(
            store,
            q,
            site=site,
            place=place,
            date_from=date_from,
            date_to=date_to,
            min_score=min_score,
            rank_within=settings.search_rank_within,
        )
    record(
        request,
        user,
        "search",
        q,
        {"filters": {k: v for k, v in filters.items() if v != ""}, "results": result["count"]},
    )

    def facet_link(key: str, value: Any) -> str:
        params = {"q": q, **{k: v for k, v in filters.items() if v != ""}, key: value}
        return "/search?" + urlencode(params)

    return page(
        request,
        "search.html",
        {"q": q, "result": result, "filters": filters, "facet_link": facet_link},
    )


@router.get("/lookup")
def lookup_page(request: Request, user: Viewer, value: str = "") -> Response:
    value = value.strip()[:500]
    with query_limit(request):
        result = (
            queries.lookup(store_of(request), value, settings_of(request).region) if value else None
        )
    if result is not None:
        record(
            request,
            user,
            "lookup",
            value,
            {"selectors": result["selectors"], "results": result["count"]},
        )
    return page(request, "lookup.html", {"value": value, "result": result})


# ---- ads, entities, networks -----------------------------------------------------------------


@router.get("/ads/{ad_id:path}")
def ad_page(request: Request, user: Viewer, ad_id: str) -> Response:
    store = store_of(request)
    view = queries.ad_view(store, ad_id)
    if view is None:
        return page(
            request, "error.html", {"status": 404, "message": "no such ad"}, status_code=404
        )
    record(request, user, "ad.view", ad_id)
    return page(
        request,
        "ad.html",
        {
            **view,
            "known_lists": hashalerts.lists_for_ads(store, [ad_id]),
            "in_cases": cases_for_ref(store, user, "ad", ad_id),
            "my_cases": _my_cases(request, user),
        },
    )


@router.post("/photos/reveal")
def reveal_photo(
    request: Request, user: Viewer, ad_id: Annotated[str, Form()], n: Annotated[int, Form()]
) -> Response:
    """Unblurring is a deliberate, audited act; the thumbnail is already only a blurred copy."""
    record(request, user, "photo.unblur", ad_id, {"image": n})
    return Response(status_code=204)


@router.get("/photos/thumb")
def photo_thumb(request: Request, user: Viewer, ad_id: str, n: int) -> Response:
    data = queries.thumbnail(store_of(request), ad_id, n)
    if data is None:
        return Response(status_code=404)
    return Response(data, media_type="image/jpeg")


@router.get("/entities/{kind}/{value:path}")
def entity_page(request: Request, user: Viewer, kind: str, value: str) -> Response:
    if kind not in queries.ENTITY_KINDS:
        return page(
            request,
            "error.html",
            {"status": 404, "message": "no such kind of entity"},
            status_code=404,
        )
    store = store_of(request)
    with query_limit(request):
        view = queries.entity_view(store, kind, value)
    record(request, user, "entity.view", f"{kind}:{value}", {"results": view["count"]})
    ref = f"{kind}:{value}"
    return page(
        request,
        "entity.html",
        {
            "e": view,
            "ref": ref,
            "in_cases": cases_for_ref(store, user, "entity", ref),
            "my_cases": _my_cases(request, user),
        },
    )


@router.get("/networks")
def networks_page(request: Request, user: Viewer, min_size: int = 2) -> Response:
    nets = queries.list_networks(store_of(request), min_size=max(2, min_size), limit=200)
    record(request, user, "networks.view", "", {"min_size": min_size})
    return page(request, "networks.html", {"networks": nets})


@router.get("/networks/{network_id}")
def network_page(request: Request, user: Viewer, network_id: str) -> Response:
    store = store_of(request)
    view = queries.network_view(store, network_id)
    if view is None:
        return page(
            request, "error.html", {"status": 404, "message": "no such network"}, status_code=404
        )
    record(
        request, user, "network.view", network_id, {"ads": len(view["network"].get("ads") or [])}
    )
    return page(
        request,
        "network.html",
        {
            **view,
            "known_lists": hashalerts.lists_for_ads(
                store, [a["id"] for a in view["network"].get("ads") or []]
            ),
            "in_cases": cases_for_ref(store, user, "network", network_id),
            "my_cases": _my_cases(request, user),
        },
    )


def _my_cases(request: Request, user: dict[str, Any]) -> list[dict[str, Any]]:
    from safelight.cases.auth import can

    if not can(user, "work"):
        return []
    return [c for c in list_cases(store_of(request), user) if c["status"] != "closed"][:50]


__all__ = ["csrf_token", "query_limit", "router"]
