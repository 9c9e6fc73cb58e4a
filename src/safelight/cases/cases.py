"""Cases: an analyst's investigation, holding ads, entities and networks, notes and members.

A case is seen only by its members (the owner is one) and by admins. Every change is written
to the audit log here, not in the web layer, so the API, the pages and the CLI all leave the
same trail.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from safelight.cases import audit
from safelight.cases.auth import Forbidden, require
from safelight.cases.tables import case_items, case_members, case_notes, cases, users
from safelight.store import Store
from safelight.store.schema import ads
from safelight.store.store import utcnow

STATUSES = ("open", "active", "referred", "closed")
ITEM_KINDS = ("ad", "entity", "network")
ENTITY_KINDS = ("phone", "email", "handle", "payment", "photo", "url", "name")


class CaseError(ValueError):
    """A case request that cannot be honoured (unknown case or item, bad value)."""


class NotFound(LookupError):
    """No such case (or none this user may see: the two are not told apart)."""


def _is_member(conn: sa.Connection, case_id: int, user: dict[str, Any]) -> bool:
    if user.get("role") == "admin":
        return conn.scalar(sa.select(cases.c.id).where(cases.c.id == case_id)) is not None
    return (
        conn.scalar(
            sa.select(case_members.c.user_id).where(
                case_members.c.case_id == case_id, case_members.c.user_id == user["id"]
            )
        )
        is not None
    )


def _check(store: Store, case_id: int, user: dict[str, Any]) -> None:
    require(user, "work")
    with store.engine.connect() as conn:
        if not _is_member(conn, case_id, user):
            raise NotFound(f"no case {case_id}")


def _touch(conn: sa.Connection, case_id: int) -> None:
    conn.execute(sa.update(cases).where(cases.c.id == case_id).values(updated_at=utcnow()))


def create_case(
    store: Store, user: dict[str, Any], title: str, description: str = ""
) -> dict[str, Any]:
    require(user, "work")
    title = title.strip()
    if not title:
        raise CaseError("a case needs a title")
    now = utcnow()
    with store.engine.begin() as conn:
        case_id = conn.execute(
            sa.insert(cases)
            .values(
                title=title[:300],
                description=description[:20000],
                status="open",
                owner_id=user["id"],
                assignee_id=user["id"],
                created_at=now,
                updated_at=now,
            )
            .returning(cases.c.id)
        ).scalar_one()
        conn.execute(
            sa.insert(case_members).values(case_id=case_id, user_id=user["id"], added_at=now)
        )
    audit.record(store, user["name"], "case.create", f"case:{case_id}", {"title": title[:300]})
    return get_case(store, case_id, user, audited=False)


def list_cases(
    store: Store, user: dict[str, Any], status: str | None = None
) -> list[dict[str, Any]]:
    """The cases this user may see, most recently changed first, with item and note counts."""
    require(user, "work")
    n_items = sa.select(sa.func.count()).where(case_items.c.case_id == cases.c.id).scalar_subquery()
    n_notes = sa.select(sa.func.count()).where(case_notes.c.case_id == cases.c.id).scalar_subquery()
    owner = users.alias("owner")
    assignee = users.alias("assignee")
    q = (
        sa.select(
            cases,
            owner.c.name.label("owner"),
            assignee.c.name.label("assignee"),
            n_items.label("items"),
            n_notes.label("notes"),
        )
        .join(owner, owner.c.id == cases.c.owner_id)
        .outerjoin(assignee, assignee.c.id == cases.c.assignee_id)
        .order_by(cases.c.updated_at.desc(), cases.c.id.desc())
    )
    if user.get("role") != "admin":
        q = q.where(
            cases.c.id.in_(
                sa.select(case_members.c.case_id).where(case_members.c.user_id == user["id"])
            )
        )
    if status:
        q = q.where(cases.c.status == status)
    with store.engine.connect() as conn:
        return [_case_row(r) for r in conn.execute(q)]


def _case_row(r: Any) -> dict[str, Any]:
    m = r._mapping
    out = {k: m[k] for k in ("id", "title", "description", "status", "created_at", "updated_at")}
    out["owner"] = m.get("owner")
    out["assignee"] = m.get("assignee")
    for k in ("items", "notes"):
        if k in m:
            out[k + "_count"] = int(m[k])
    return out


def get_case(
    store: Store, case_id: int, user: dict[str, Any], audited: bool = True
) -> dict[str, Any]:
    """A case with its items, notes and members; NotFound when absent or not the user's."""
    _check(store, case_id, user)
    owner = users.alias("owner")
    assignee = users.alias("assignee")
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(cases, owner.c.name.label("owner"), assignee.c.name.label("assignee"))
            .join(owner, owner.c.id == cases.c.owner_id)
            .outerjoin(assignee, assignee.c.id == cases.c.assignee_id)
            .where(cases.c.id == case_id)
        ).one()
        case = _case_row(row)
        case["items"] = [
            {
                "id": r.id,
                "kind": r.kind,
                "ref": r.ref,
                "label": r.label,
                "added_by": r.name,
                "added_at": r.added_at,
            }
            for r in conn.execute(
                sa.select(case_items, users.c.name)
                .join(users, users.c.id == case_items.c.added_by)
                .where(case_items.c.case_id == case_id)
                .order_by(case_items.c.id)
            )
        ]
        case["notes"] = [
            {"id": r.id, "user": r.name, "text": r.text, "created_at": r.created_at}
            for r in conn.execute(
                sa.select(case_notes, users.c.name)
                .join(users, users.c.id == case_notes.c.user_id)
                .where(case_notes.c.case_id == case_id)
                .order_by(case_notes.c.id)
            )
        ]
        case["members"] = [
            {"name": r.name, "role": r.role, "added_at": r.added_at}
            for r in conn.execute(
                sa.select(users.c.name, users.c.role, case_members.c.added_at)
                .join(users, users.c.id == case_members.c.user_id)
                .where(case_members.c.case_id == case_id)
                .order_by(users.c.name)
            )
        ]
    if audited:
        audit.record(store, user["name"], "case.view", f"case:{case_id}")
    return case


def _validate_item(store: Store, kind: str, ref: str) -> str:
    if kind not in ITEM_KINDS:
        raise CaseError(f"item kind must be one of {', '.join(ITEM_KINDS)}")
    ref = ref.strip()
    if not ref or len(ref) > 500:
        raise CaseError("an item needs a reference of 1 to 500 characters")
    if kind == "ad":
        with store.engine.connect() as conn:
            if conn.scalar(sa.select(ads.c.pk).where(ads.c.id == ref)) is None:
                raise CaseError(f"no ad {ref!r}")
    elif kind == "entity":
        ekind, sep, value = ref.partition(":")
        if not sep or ekind not in ENTITY_KINDS or not value:
            raise CaseError("an entity reference is KIND:VALUE, e.g. phone:+17135550142")
    return ref


def add_item(
    store: Store, case_id: int, user: dict[str, Any], kind: str, ref: str, label: str = ""
) -> dict[str, Any]:
    """Attach an ad, entity or network; adding the same thing twice keeps the first."""
    _check(store, case_id, user)
    ref = _validate_item(store, kind, ref)
    now = utcnow()
    added = True
    try:
        with store.engine.begin() as conn:
            conn.execute(
                sa.insert(case_items).values(
                    case_id=case_id,
                    kind=kind,
                    ref=ref,
                    label=label[:500],
                    added_by=user["id"],
                    added_at=now,
                )
            )
            _touch(conn, case_id)
    except IntegrityError:
        added = False
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(case_items).where(
                case_items.c.case_id == case_id, case_items.c.kind == kind, case_items.c.ref == ref
            )
        ).one()
    if added:
        audit.record(
            store, user["name"], "case.add_item", f"case:{case_id}", {"kind": kind, "ref": ref}
        )
    return {
        "id": row.id,
        "kind": row.kind,
        "ref": row.ref,
        "label": row.label,
        "added_at": row.added_at,
        "added": added,
    }


def remove_item(store: Store, case_id: int, user: dict[str, Any], item_id: int) -> None:
    _check(store, case_id, user)
    with store.engine.begin() as conn:
        row = conn.execute(
            sa.select(case_items).where(case_items.c.id == item_id, case_items.c.case_id == case_id)
        ).first()
        if row is None:
            raise CaseError(f"no item {item_id} in case {case_id}")
        conn.execute(sa.delete(case_items).where(case_items.c.id == item_id))
        _touch(conn, case_id)
    audit.record(
        store,
        user["name"],
        "case.remove_item",
        f"case:{case_id}",
        {"kind": row.kind, "ref": row.ref},
    )


def add_note(store: Store, case_id: int, user: dict[str, Any], text: str) -> dict[str, Any]:
    _check(store, case_id, user)
    text = text.strip()
    if not text:
        raise CaseError("a note needs text")
    now = utcnow()
    with store.engine.begin() as conn:
        note_id = conn.execute(
            sa.insert(case_notes)
            .values(
                case_id=case_id,
                user_id=user["id"],
                text=text[:20000],
                created_at=now,
            )
            .returning(case_notes.c.id)
        ).scalar_one()
        _touch(conn, case_id)
    audit.record(store, user["name"], "case.note", f"case:{case_id}", {"note": note_id})
    return {"id": note_id, "user": user["name"], "text": text[:20000], "created_at": now}


def update_case(
    store: Store,
    case_id: int,
    user: dict[str, Any],
    *,
    status: str | None = None,
    assignee: str | None = None,
    title: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """Change status, assignee (must be a member, or becomes one), title or description."""
    _check(store, case_id, user)
    values: dict[str, Any] = {}
    if status is not None:
        if status not in STATUSES:
            raise CaseError(f"status must be one of {', '.join(STATUSES)}")
        values["status"] = status
    if title is not None:
        if not title.strip():
            raise CaseError("a case needs a title")
        values["title"] = title.strip()[:300]
    if description is not None:
        values["description"] = description[:20000]
    with store.engine.begin() as conn:
        if assignee:
            target = conn.execute(sa.select(users).where(users.c.name == assignee)).first()
            if target is None or target.role not in ("admin", "analyst"):
                raise CaseError(f"no analyst {assignee!r}")
            values["assignee_id"] = target.id
            _ensure_member(conn, case_id, target.id)
        if values:
            values["updated_at"] = utcnow()
            conn.execute(sa.update(cases).where(cases.c.id == case_id).values(**values))
    if values:
        changed = {k: v for k, v in values.items() if k not in ("updated_at", "assignee_id")}
        if assignee:
            changed["assignee"] = assignee
        audit.record(store, user["name"], "case.update", f"case:{case_id}", changed)
    return get_case(store, case_id, user, audited=False)


def _ensure_member(conn: sa.Connection, case_id: int, user_id: int) -> bool:
    exists = conn.scalar(
        sa.select(case_members.c.user_id).where(
            case_members.c.case_id == case_id, case_members.c.user_id == user_id
        )
    )
    if exists is None:
        conn.execute(
            sa.insert(case_members).values(case_id=case_id, user_id=user_id, added_at=utcnow())
        )
        return True
    return False


def add_member(store: Store, case_id: int, user: dict[str, Any], name: str) -> None:
    _check(store, case_id, user)
    with store.engine.begin() as conn:
        target = conn.execute(sa.select(users).where(users.c.name == name)).first()
        if target is None or target.role not in ("admin", "analyst"):
            raise CaseError(f"no analyst {name!r}")
        added = _ensure_member(conn, case_id, target.id)
    if added:
        audit.record(store, user["name"], "case.add_member", f"case:{case_id}", {"member": name})


def remove_member(store: Store, case_id: int, user: dict[str, Any], name: str) -> None:
    _check(store, case_id, user)
    with store.engine.begin() as conn:
        row = conn.execute(
            sa.select(cases.c.owner_id, users.c.id)
            .join(users, users.c.name == name)
            .where(cases.c.id == case_id)
        ).first()
        if row is None:
            raise CaseError(f"no user {name!r}")
        if row.owner_id == row.id:
            raise CaseError("the owner stays a member")
        conn.execute(
            sa.delete(case_members).where(
                case_members.c.case_id == case_id, case_members.c.user_id == row.id
            )
        )
    audit.record(store, user["name"], "case.remove_member", f"case:{case_id}", {"member": name})


def cases_for_ref(store: Store, user: dict[str, Any], kind: str, ref: str) -> list[dict[str, Any]]:
    """The user's cases that already hold this item (shown beside "add to case")."""
    try:
        require(user, "work")
    except Forbidden:
        return []
    q = (
        sa.select(cases.c.id, cases.c.title)
        .join(case_items, case_items.c.case_id == cases.c.id)
        .where(case_items.c.kind == kind, case_items.c.ref == ref)
    )
    if user.get("role") != "admin":
        q = q.where(
            cases.c.id.in_(
                sa.select(case_members.c.case_id).where(case_members.c.user_id == user["id"])
            )
        )
    with store.engine.connect() as conn:
        return [{"id": r.id, "title": r.title} for r in conn.execute(q)]
