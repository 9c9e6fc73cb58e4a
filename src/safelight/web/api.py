"""The JSON API under /api/: the same use cases as the pages, for scripts and other tools.

Authenticate with `Authorization: Bearer TOKEN` (see `safelight user token NAME`) or the
session cookie (then changes need the `X-CSRF-Token` header). Anonymous calls get 401.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.responses import Response

from safelight.cases import audit, cases, exports, hashalerts, watches
from safelight.cases.cases import NotFound
from safelight.web import queries
from safelight.web.deps import (
    MAX_DB_ID,
    DbId,
    csrf_guard,
    current_user,
    need,
    record,
    settings_of,
    store_of,
)
from safelight.web.pages import query_limit

router = APIRouter(prefix="/api", dependencies=[Depends(csrf_guard)])
Viewer = Annotated[dict[str, Any], Depends(need("view"))]
Worker = Annotated[dict[str, Any], Depends(need("work"))]
Auditor = Annotated[dict[str, Any], Depends(need("audit"))]
TriageStatus = Literal["new", "reviewing", "escalated", "dismissed"]


class StatusIn(BaseModel):
    status: TriageStatus
    reason: str = Field("", max_length=2000)


class CaseIn(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=20000)


class CasePatch(BaseModel):
    status: Literal["open", "active", "referred", "closed"] | None = None
    assignee: str | None = None
    title: str | None = Field(None, max_length=300)
    description: str | None = Field(None, max_length=20000)


class ItemIn(BaseModel):
    kind: Literal["ad", "entity", "network"]
    ref: str = Field(min_length=1, max_length=500)
    label: str = Field("", max_length=500)


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=20000)


class MemberIn(BaseModel):
    name: str = Field(min_length=1, max_length=80)


class WatchIn(BaseModel):
    kind: Literal["auto", "phone", "email", "handle", "payment", "photo", "search"] = "auto"
    value: str = Field(min_length=1, max_length=500)
    label: str = Field("", max_length=500)


class SeenIn(BaseModel):
    ids: list[DbId] | None = Field(None, max_length=1000)


def _missing(what: str) -> JSONResponse:
    return JSONResponse({"detail": f"no such {what}"}, status_code=404)


def _json(data: dict[str, Any]) -> Any:
    """The answer as JSON, as FastAPI would write it, without its per-value walk over the data
    (`jsonable_encoder`: tens of milliseconds for a network's graph, which is plain JSON data
    already)."""
    return JSONResponse(data)


@router.get("/openapi.json", include_in_schema=False)
def openapi(
    request: Request, user: Annotated[dict[str, Any], Depends(current_user)]
) -> dict[str, Any]:
    """The API description (behind login like everything else)."""
    return request.app.openapi()


@router.get("/me")
def me(user: Annotated[dict[str, Any], Depends(current_user)]) -> dict[str, Any]:
    return user


# ---- triage, search, lookup ------------------------------------------------------------------


@router.get("/triage")
def triage(
    request: Request,
    user: Viewer,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    include_dismissed: bool = False,
) -> dict[str, Any]:
    data = queries.triage_rows(store_of(request), limit=limit, include_dismissed=include_dismissed)
    record(request, user, "triage.view", "", {"limit": limit})
    return _json(
        {"items": data["items"], "count": len(data["items"]), "fallback": data["fallback"]}
    )


@router.post("/triage/{item_id}/status")
def triage_status(request: Request, user: Worker, item_id: str, body: StatusIn) -> dict[str, Any]:
    from safelight.triage.queue import set_status

    try:
        set_status(store_of(request), item_id, body.status, body.reason.strip(), user["name"])
    except ValueError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=400)  # type: ignore[return-value]
    except KeyError:
        return _missing("triage item")  # type: ignore[return-value]
    record(
        request,
        user,
        "triage.status",
        item_id,
        {"status": body.status, "reason": body.reason[:500]},
    )
    return {"item": item_id, "status": body.status}


@router.get("/search")
def search(
    request: Request,
    user: Viewer,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    site: str | None = None,
    place: str | None = None,
    date_from: Annotated[str | None, Query(alias="from")] = None,
    date_to: Annotated[str | None, Query(alias="to")] = None,
    min_score: float | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Full-text search: `ads` best first, each with a snippet whose matches are wrapped in
    \\u0002 … \\u0003 (escape the text, then replace them with your own highlighting)."""
    with query_limit(request):
        result = queries.search(
            store_of(request),
            q,
            site=site,
            place=place,
            date_from=date_from,
            date_to=date_to,
            min_score=min_score,
            limit=limit,
            rank_within=settings_of(request).search_rank_within,
        )
    record(request, user, "search", q, {"results": result["count"]})
    selector = queries.strong_selector(q, settings_of(request).region)
    result["selector"] = f"{selector[0]}:{selector[1]}" if selector else None
    return _json(result)


@router.get("/lookup")
def lookup(
    request: Request,
    user: Viewer,
    value: Annotated[str, Query(min_length=1, max_length=500)],
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> dict[str, Any]:
    """Every ad carrying the phone, email, handle... however the query or the ad spelled it."""
    with query_limit(request):
        result = queries.lookup(store_of(request), value, settings_of(request).region, limit=limit)
    record(
        request,
        user,
        "lookup",
        value,
        {"selectors": result["selectors"], "results": result["count"]},
    )
    return _json(result)


# ---- ads, entities, networks -----------------------------------------------------------------


@router.get("/ads/{ad_id:path}")
def get_ad(request: Request, user: Viewer, ad_id: str) -> Any:
    ad = store_of(request).get_ad(ad_id)
    if ad is None:
        return _missing("ad")
    record(request, user, "ad.view", ad_id)
    from safelight.link.networks import network_of_ad

    ad["network"] = network_of_ad(store_of(request), ad_id)
    ad["known_hash_lists"] = hashalerts.lists_for_ads(store_of(request), [ad_id])
    for im in ad.get("images") or []:
        im.pop("thumbnail", None)  # photos never leave by the API, not even blurred
    return _json(ad)


@router.get("/entities/{kind}/{value:path}")
def get_entity(request: Request, user: Viewer, kind: str, value: str) -> Any:
    if kind not in queries.ENTITY_KINDS:
        return _missing("kind of entity")
    with query_limit(request):
        view = queries.entity_view(store_of(request), kind, value)
    record(request, user, "entity.view", f"{kind}:{value}", {"results": view["count"]})
    return _json(view)


@router.get("/networks")
def networks(
    request: Request,
    user: Viewer,
    min_size: Annotated[int, Query(ge=2, le=MAX_DB_ID)] = 2,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    found = queries.list_networks(store_of(request), min_size=min_size, limit=limit)
    record(request, user, "networks.view", "", {"min_size": min_size})
    return _json({"networks": found, "count": len(found)})


@router.get("/networks/{network_id}")
def get_network(request: Request, user: Viewer, network_id: str) -> Any:
    view = queries.network_view(store_of(request), network_id)
    if view is None:
        return _missing("network")
    record(request, user, "network.view", network_id)
    known = hashalerts.lists_for_ads(
        store_of(request), [a["id"] for a in view["network"].get("ads") or []]
    )
    return _json(
        {**view["network"], "graph": view["graph"], "map": view["map"], "known_hash_lists": known}
    )


# ---- cases -----------------------------------------------------------------------------------


@router.get("/cases")
def list_cases(request: Request, user: Worker, status: str | None = None) -> dict[str, Any]:
    found = cases.list_cases(store_of(request), user, status=status)
    return {"cases": found, "count": len(found)}


@router.post("/cases", status_code=201)
def create_case(request: Request, user: Worker, body: CaseIn) -> dict[str, Any]:
    return cases.create_case(store_of(request), user, body.title, body.description)


@router.get("/cases/{case_id}")
def get_case(request: Request, user: Worker, case_id: DbId) -> dict[str, Any]:
    return cases.get_case(store_of(request), case_id, user)


@router.patch("/cases/{case_id}")
def update_case(request: Request, user: Worker, case_id: DbId, body: CasePatch) -> dict[str, Any]:
    return cases.update_case(
        store_of(request),
        case_id,
        user,
        status=body.status,
        assignee=body.assignee,
        title=body.title,
        description=body.description,
    )


@router.post("/cases/{case_id}/items", status_code=201)
def add_item(request: Request, user: Worker, case_id: DbId, body: ItemIn) -> dict[str, Any]:
    return cases.add_item(store_of(request), case_id, user, body.kind, body.ref, body.label)


@router.delete("/cases/{case_id}/items/{item_id}", status_code=204)
def remove_item(request: Request, user: Worker, case_id: DbId, item_id: DbId) -> Response:
    cases.remove_item(store_of(request), case_id, user, item_id)
    return Response(status_code=204)


@router.get("/cases/{case_id}/notes")
def list_notes(request: Request, user: Worker, case_id: DbId) -> dict[str, Any]:
    case = cases.get_case(store_of(request), case_id, user, audited=False)
    return {"notes": case["notes"]}


@router.post("/cases/{case_id}/notes", status_code=201)
def add_note(request: Request, user: Worker, case_id: DbId, body: NoteIn) -> dict[str, Any]:
    return cases.add_note(store_of(request), case_id, user, body.text)


@router.post("/cases/{case_id}/members", status_code=201)
def add_member(request: Request, user: Worker, case_id: DbId, body: MemberIn) -> dict[str, Any]:
    cases.add_member(store_of(request), case_id, user, body.name)
    return {"members": cases.get_case(store_of(request), case_id, user, audited=False)["members"]}


@router.get("/cases/{case_id}/export")
def export_case(
    request: Request, user: Worker, case_id: DbId, format: Literal["html", "pdf", "zip"] = "zip"
) -> Response:
    """The case report (HTML, PDF) or data bundle (ZIP of CSV + JSON with a manifest)."""
    body, media, filename = exports.export_case(store_of(request), case_id, user, format)
    return exports.download_response(body, media, filename)


# ---- watches and alerts ----------------------------------------------------------------------


@router.get("/watches")
def list_watches(request: Request, user: Worker) -> dict[str, Any]:
    found = watches.list_watches(store_of(request), user)
    return {"watches": found, "count": len(found)}


@router.post("/watches", status_code=201)
def add_watch(request: Request, user: Worker, body: WatchIn) -> dict[str, Any]:
    return watches.add_watch(
        store_of(request), user, body.kind, body.value, body.label, settings_of(request).region
    )


@router.delete("/watches/{watch_id}", status_code=204)
def delete_watch(request: Request, user: Worker, watch_id: DbId) -> Response:
    if not watches.delete_watch(store_of(request), user, watch_id):
        raise NotFound(f"no watch {watch_id}")
    return Response(status_code=204)


@router.get("/alerts")
def list_alerts(
    request: Request,
    user: Worker,
    unseen: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """The user's watch alerts (kind "watch") and every known-hash match (kind "hashlist":
    list name and kind, ad id, network id, distance, when), newest first."""
    store = store_of(request)
    found = [
        {"kind": "watch", **a}
        for a in watches.list_alerts(store, user, unseen_only=unseen, limit=limit)
    ]
    found += hashalerts.list_hash_alerts(store, user, unseen_only=unseen, limit=limit)
    found.sort(key=lambda a: a["created_at"] or "", reverse=True)
    found = found[:limit]
    record(request, user, "alerts.view", "", {"count": len(found)})
    return {"alerts": found, "count": len(found), "unseen": watches.unseen_count(store, user)}


@router.post("/alerts/seen")
def alerts_seen(request: Request, user: Worker, body: SeenIn) -> dict[str, Any]:
    """Mark watch alerts seen by id, or everything (known-hash matches too) without ids."""
    store = store_of(request)
    marked = watches.mark_seen(store, user, body.ids)
    if body.ids is None:
        marked += hashalerts.mark_seen(store, user)
    return {"marked": marked}


# ---- audit -----------------------------------------------------------------------------------


@router.get("/audit")
def audit_log(
    request: Request,
    user: Auditor,
    who: str | None = None,
    action: str | None = None,
    target: str | None = None,
    before: DbId | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    entries = audit.list_entries(
        store_of(request), user=who, action=action, target=target, before=before, limit=limit
    )
    record(request, user, "audit.view", "", {"user": who, "action": action, "target": target})
    return {"entries": entries, "count": len(entries)}


@router.get("/audit/verify")
def audit_verify(request: Request, user: Auditor) -> dict[str, Any]:
    result = audit.verify(store_of(request))
    record(request, user, "audit.verify", "", {"ok": result["ok"]})
    return result
