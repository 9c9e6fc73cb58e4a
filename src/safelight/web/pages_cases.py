"""HTML pages for casework: cases and their exports, watches, alerts, and the audit log."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from safelight.cases import audit, cases, exports, hashalerts, users, watches
from safelight.web.deps import DbId, csrf_guard, is_htmx, need, page, record, settings_of, store_of
from safelight.web.render import urlpart

router = APIRouter(dependencies=[Depends(csrf_guard)], include_in_schema=False)
Worker = Annotated[dict[str, Any], Depends(need("work"))]
Auditor = Annotated[dict[str, Any], Depends(need("audit"))]


def _back(request: Request, fallback: str) -> str:
    """Return to the page the form was on (same site only), else `fallback`."""
    ref = request.headers.get("referer", "")
    base = str(request.base_url)
    if ref.startswith(base):
        return "/" + ref[len(base) :]
    return fallback


# ---- cases -----------------------------------------------------------------------------------


@router.get("/cases")
def cases_page(request: Request, user: Worker, status: str | None = None) -> Response:
    found = cases.list_cases(store_of(request), user, status=status or None)
    record(request, user, "cases.view")
    return page(
        request, "cases.html", {"cases": found, "statuses": cases.STATUSES, "status": status or ""}
    )


@router.post("/cases")
def create_case(
    request: Request,
    user: Worker,
    title: Annotated[str, Form()],
    description: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    ref: Annotated[str, Form()] = "",
) -> Response:
    """Create a case, optionally with a first item (the "new case from here" buttons)."""
    store = store_of(request)
    case = cases.create_case(store, user, title, description)
    if kind and ref:
        cases.add_item(store, case["id"], user, kind, ref)
    request.session["case"] = case["id"]
    return RedirectResponse(f"/cases/{case['id']}", status_code=303)


@router.get("/cases/{case_id}")
def case_page(request: Request, user: Worker, case_id: DbId) -> Response:
    store = store_of(request)
    case = cases.get_case(store, case_id, user)
    return page(
        request,
        "case.html",
        {
            "case": case,
            "statuses": cases.STATUSES,
            "analysts": [
                u["name"]
                for u in users.list_users(store)
                if u["role"] in ("admin", "analyst") and u["active"]
            ],
        },
    )


@router.post("/cases/{case_id}/items")
def add_item(
    request: Request,
    user: Worker,
    case_id: DbId,
    kind: Annotated[str, Form()],
    ref: Annotated[str, Form()],
    label: Annotated[str, Form()] = "",
) -> Response:
    item = cases.add_item(store_of(request), case_id, user, kind, ref, label)
    request.session["case"] = case_id
    if is_htmx(request):
        return page(request, "_added.html", {"case_id": case_id, "item": item})
    return RedirectResponse(_back(request, f"/cases/{case_id}"), status_code=303)


@router.post("/case-items")
def add_item_to(
    request: Request,
    user: Worker,
    case_id: Annotated[DbId, Form()],
    kind: Annotated[str, Form()],
    ref: Annotated[str, Form()],
    label: Annotated[str, Form()] = "",
) -> Response:
    """The "add to case" widget: the case is chosen in the form, not in the URL."""
    return add_item(request, user, case_id, kind, ref, label)


@router.post("/cases/{case_id}/items/{item_id}/delete")
def remove_item(request: Request, user: Worker, case_id: DbId, item_id: DbId) -> Response:
    cases.remove_item(store_of(request), case_id, user, item_id)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/notes")
def add_note(
    request: Request, user: Worker, case_id: DbId, text: Annotated[str, Form()]
) -> Response:
    cases.add_note(store_of(request), case_id, user, text)
    return RedirectResponse(f"/cases/{case_id}#notes", status_code=303)


@router.post("/cases/{case_id}/update")
def update_case(
    request: Request,
    user: Worker,
    case_id: DbId,
    status: Annotated[str | None, Form()] = None,
    assignee: Annotated[str | None, Form()] = None,
) -> Response:
    cases.update_case(
        store_of(request), case_id, user, status=status or None, assignee=assignee or None
    )
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/members")
def add_member(
    request: Request, user: Worker, case_id: DbId, name: Annotated[str, Form()]
) -> Response:
    cases.add_member(store_of(request), case_id, user, name.strip())
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/activate")
def activate(request: Request, user: Worker, case_id: DbId) -> Response:
    """Make this the case the analyst is working: searches and views are audited against it."""
    cases.get_case(store_of(request), case_id, user, audited=False)  # must be the user's
    request.session["case"] = case_id
    record(request, user, "case.activate", f"case:{case_id}")
    return RedirectResponse(_back(request, f"/cases/{case_id}"), status_code=303)


@router.post("/cases/deactivate")
def deactivate(request: Request, user: Worker) -> Response:
    request.session.pop("case", None)
    return RedirectResponse(_back(request, "/cases"), status_code=303)


@router.get("/cases/{case_id}/export.{fmt}")
def export_case(request: Request, user: Worker, case_id: DbId, fmt: str) -> Response:
    if fmt not in exports.FORMATS:
        return page(
            request, "error.html", {"status": 404, "message": "no such export"}, status_code=404
        )
    body, media, filename = exports.export_case(store_of(request), case_id, user, fmt)
    return exports.download_response(body, media, filename)


# ---- watches and alerts ----------------------------------------------------------------------


@router.get("/watches")
def watches_page(request: Request, user: Worker) -> Response:
    found = watches.list_watches(store_of(request), user)
    return page(
        request, "watches.html", {"watches": found, "kinds": ("auto", *watches.WATCH_KINDS)}
    )


@router.post("/watches")
def add_watch(
    request: Request,
    user: Worker,
    value: Annotated[str, Form()],
    kind: Annotated[str, Form()] = "auto",
    label: Annotated[str, Form()] = "",
) -> Response:
    w = watches.add_watch(store_of(request), user, kind, value, label, settings_of(request).region)
    if is_htmx(request):
        return page(request, "_watched.html", {"watch": w})
    return RedirectResponse(_back(request, "/watches"), status_code=303)


@router.post("/watches/{watch_id}/delete")
def delete_watch(request: Request, user: Worker, watch_id: DbId) -> Response:
    if not watches.delete_watch(store_of(request), user, watch_id):
        raise cases.NotFound(f"no watch {watch_id}")  # someone else's is not told apart
    return RedirectResponse("/watches", status_code=303)


@router.get("/alerts")
def alerts_page(request: Request, user: Worker, unseen: bool = False) -> Response:
    """The user's watch alerts and everyone's known-hash matches, newest first."""
    store = store_of(request)
    found = watches.list_alerts(store, user, unseen_only=unseen)
    known = hashalerts.list_hash_alerts(store, user, unseen_only=unseen)
    record(request, user, "alerts.view", "", {"count": len(found), "hashlist": len(known)})
    return page(request, "alerts.html", {"alerts": found, "hash_alerts": known, "unseen": unseen})


@router.post("/alerts/seen")
def alerts_seen(
    request: Request, user: Worker, alert_id: Annotated[DbId | None, Form()] = None
) -> Response:
    """One watch alert, or (no id) everything: watch alerts and known-hash matches."""
    store = store_of(request)
    watches.mark_seen(store, user, None if alert_id is None else [alert_id])
    if alert_id is None:
        hashalerts.mark_seen(store, user)
    return RedirectResponse("/alerts", status_code=303)


# ---- audit -----------------------------------------------------------------------------------

AUDIT_CSV_MAX = 100_000


def _audit_filters(
    who: str | None,
    action: str | None,
    target: str | None,
    date_from: str | None,
    date_to: str | None,
) -> dict[str, str]:
    return {
        "who": (who or "").strip()[:80],
        "action": (action or "").strip()[:40],
        "target": (target or "").strip()[:2000],
        "from": (date_from or "").strip()[:25],
        "to": (date_to or "").strip()[:25],
    }


def _audit_entries(
    request: Request, f: dict[str, str], before: int | None, limit: int, max_limit: int = 1000
) -> list[dict[str, Any]]:
    return audit.list_entries(
        store_of(request),
        user=f["who"] or None,
        action=f["action"] or None,
        target=f["target"] or None,
        date_from=f["from"] or None,
        date_to=f["to"] or None,
        before=before,
        limit=limit,
        max_limit=max_limit,
    )


@router.get("/audit")
def audit_page(
    request: Request,
    user: Auditor,
    who: str | None = None,
    action: str | None = None,
    target: str | None = None,
    date_from: Annotated[str | None, Query(alias="from")] = None,
    date_to: Annotated[str | None, Query(alias="to")] = None,
    before: DbId | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    """The trail for auditors and admins: filter by user, action, target and dates."""
    f = _audit_filters(who, action, target, date_from, date_to)
    entries = _audit_entries(request, f, before, limit)
    record(request, user, "audit.view", "", {"filters": {k: v for k, v in f.items() if v}})
    return page(
        request,
        "audit.html",
        {
            "entries": entries,
            "verify": None,
            "filters": f,
            "limit": limit,
            "query": urlencode({k: v for k, v in f.items() if v}),
            "actions": audit.known_actions(store_of(request)),
        },
    )


@router.get("/audit/export.csv")
def audit_export(
    request: Request,
    user: Auditor,
    who: str | None = None,
    action: str | None = None,
    target: str | None = None,
    date_from: Annotated[str | None, Query(alias="from")] = None,
    date_to: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    """The filtered trail as CSV (newest first, at most AUDIT_CSV_MAX rows); the export itself
    is audited with its filters, row count and content hash."""
    import hashlib

    f = _audit_filters(who, action, target, date_from, date_to)
    entries = _audit_entries(request, f, None, AUDIT_CSV_MAX, AUDIT_CSV_MAX)
    body = audit.to_csv(entries)
    record(
        request,
        user,
        "audit.export",
        "",
        {
            "filters": {k: v for k, v in f.items() if v},
            "rows": len(entries),
            "sha256": hashlib.sha256(body).hexdigest(),
        },
    )
    return exports.download_response(body, "text/csv; charset=utf-8", "safelight-audit.csv")


@router.post("/audit/verify")
def audit_verify(request: Request, user: Auditor) -> Response:
    store = store_of(request)
    result = audit.verify(store)
    record(request, user, "audit.verify", "", {"ok": result["ok"], "entries": result["entries"]})
    entries = audit.list_entries(store, limit=200)
    return page(
        request,
        "audit.html",
        {
            "entries": entries,
            "verify": result,
            "filters": _audit_filters(None, None, None, None, None),
            "limit": 200,
            "query": "",
            "actions": audit.known_actions(store),
        },
    )


__all__ = ["router", "urlpart"]
