"""The audit log: who searched, looked up, viewed, exported or changed what, and when.

Entries form a hash chain: each stores sha256(prev_hash + canonical JSON of the entry), so any
later edit, insertion or deletion inside the log breaks the chain and `verify` names the first
entry that no longer fits. (Cutting entries off the end is only visible against a head hash
kept elsewhere: `verify` returns the head so it can be noted down or sent out.)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from safelight.cases.tables import audit_log
from safelight.store import Store
from safelight.store.store import utcnow

GENESIS = "0" * 64
_LOCK = threading.Lock()  # serialises writers in one process; the unique prev_hash covers many
_RETRIES = 20


def canonical(entry: dict[str, Any]) -> str:
    """The one JSON spelling of an entry that its hash covers."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(entry)).encode()).hexdigest()


def _entry(
    seq: int, at: str, user: str, action: str, target: str, detail: dict[str, Any]
) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": at,
        "user": user,
        "action": action,
        "target": target,
        "detail": detail,
    }


def record(
    store: Store,
    user: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append one entry to the chain and return it with its hash.

    Two writers racing for the same head collide on the unique prev_hash (or seq): the loser
    reads the new head and tries again, so the chain never forks."""
    detail = json.loads(canonical(detail or {}))  # what is stored is exactly what was hashed
    target = str(target)[:2000]
    last_error: Exception | None = None
    for attempt in range(_RETRIES):
        try:
            with _LOCK, store.engine.begin() as conn:
                head = conn.execute(
                    sa.select(audit_log.c.seq, audit_log.c.hash)
                    .order_by(audit_log.c.seq.desc())
                    .limit(1)
                ).first()
                seq, prev = (head.seq + 1, head.hash) if head is not None else (1, GENESIS)
                entry = _entry(seq, utcnow(), user, action[:40], target, detail)
                digest = entry_hash(prev, entry)
                conn.execute(
                    sa.insert(audit_log).values(
                        seq=seq,
                        at=entry["at"],
                        user=user,
                        action=entry["action"],
                        target=target,
                        detail=canonical(detail),
                        prev_hash=prev,
                        hash=digest,
                    )
                )
            return {**entry, "prev_hash": prev, "hash": digest}
        except (IntegrityError, OperationalError) as exc:  # lost a race, or the file was busy
            last_error = exc
            time.sleep(0.005 * (attempt + 1))
    raise RuntimeError(f"could not append to the audit log: {last_error}")


def _rows(store: Store, batch: int = 5000) -> Iterator[Any]:
    """Every entry in chain order, read in pages so a long log needs little memory."""
    after = 0
    while True:
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(audit_log)
                .where(audit_log.c.seq > after)
                .order_by(audit_log.c.seq)
                .limit(batch)
            ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].seq


def verify(store: Store) -> dict[str, Any]:
    """Walk the chain: ok, how many entries, the head hash, and the first entry that fails."""
    prev, expected_seq, count = GENESIS, 1, 0
    for row in _rows(store):
        problem = None
        if row.seq != expected_seq:
            problem = f"entry {expected_seq} is missing (next is {row.seq})"
        elif row.prev_hash != prev:
            problem = "prev_hash does not match the hash of the entry before"
        else:
            try:
                detail = json.loads(row.detail)
            except ValueError:
                detail = row.detail
            entry = _entry(row.seq, row.at, row.user, row.action, row.target, detail)
            if entry_hash(prev, entry) != row.hash:
                problem = "content does not match its hash (edited)"
        if problem is not None:
            return {
                "ok": False,
                "entries": count,
                "first_bad": row.seq,
                "reason": problem,
                "head": prev,
            }
        prev, expected_seq, count = row.hash, row.seq + 1, count + 1
    return {"ok": True, "entries": count, "first_bad": None, "reason": "", "head": prev}


def list_entries(
    store: Store,
    *,
    user: str | None = None,
    action: str | None = None,
    target: str | None = None,
    before: int | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    limit: int = 100,
    max_limit: int = 1000,
) -> list[dict[str, Any]]:
    """Newest first, optionally for one user, action ("case.*": a family), target (prefix) and
    date range (ISO dates or times, `date_to` inclusive of its whole day), paged by `before`."""
    q = sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(max(1, min(limit, max_limit)))
    if user:
        q = q.where(audit_log.c.user == user)
    if action and action.endswith("*"):
        q = q.where(audit_log.c.action.startswith(action[:-1], autoescape=True))
    elif action:
        q = q.where(audit_log.c.action == action)
    if date_from:
        q = q.where(audit_log.c.at >= date_from)
    if date_to:
        q = q.where(audit_log.c.at <= date_to + ("T23:59:59Z" if len(date_to) == 10 else ""))
    if target:
        q = q.where(audit_log.c.target.startswith(target, autoescape=True))
    if before:
        q = q.where(audit_log.c.seq < before)
    with store.engine.connect() as conn:
        rows = conn.execute(q).all()
    out = []
    for r in rows:
        item = dict(r._mapping)
        with contextlib.suppress(ValueError):
            item["detail"] = json.loads(item["detail"])
        out.append(item)
    return out


CSV_COLUMNS = ("seq", "at", "user", "action", "target", "detail", "prev_hash", "hash")


def to_csv(entries: list[dict[str, Any]]) -> bytes:
    """Entries as CSV for a spreadsheet. Targets and details carry analysts' queries and ad
    values (hostile text), so a cell that would start a formula is prefixed with '."""
    from safelight.cases.exports import _csv

    rows = [
        {**e, "detail": e["detail"] if isinstance(e["detail"], str) else canonical(e["detail"])}
        for e in entries
    ]
    return _csv(rows, list(CSV_COLUMNS))


def known_actions(store: Store) -> list[str]:
    """The distinct actions in the log, for the filter's suggestions."""
    with store.engine.connect() as conn:
        return list(
            conn.scalars(sa.select(audit_log.c.action).distinct().order_by(audit_log.c.action))
        )
