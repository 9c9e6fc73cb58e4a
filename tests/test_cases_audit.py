"""The audit log: a hash chain that names the first entry someone edited, removed or forged."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from safelight.cases import audit
from safelight.cases.tables import audit_log


def test_chain_links_every_entry_to_the_one_before(store) -> None:  # type: ignore[no-untyped-def]
    first = audit.record(store, "ann", "search", "sweet", {"results": 3})
    second = audit.record(store, "ann", "ad.view", "ad-1")
    assert first["seq"] == 1 and first["prev_hash"] == audit.GENESIS
    assert second["prev_hash"] == first["hash"]
    assert second["hash"] == audit.entry_hash(
        first["hash"], {k: second[k] for k in ("seq", "at", "user", "action", "target", "detail")}
    )
    result = audit.verify(store)
    assert result == {
        "ok": True,
        "entries": 2,
        "first_bad": None,
        "reason": "",
        "head": second["hash"],
    }


def test_an_edited_entry_is_found(store) -> None:  # type: ignore[no-untyped-def]
    for n in range(5):
        audit.record(store, "ann", "ad.view", f"ad-{n}")
    with store.engine.begin() as conn:
        conn.execute(sa.update(audit_log).where(audit_log.c.seq == 3).values(target="ad-other"))
    result = audit.verify(store)
    assert not result["ok"] and result["first_bad"] == 3 and result["entries"] == 2
    assert "edited" in result["reason"]


def test_an_edit_that_rehashes_its_own_entry_still_breaks_the_next(store) -> None:  # type: ignore[no-untyped-def]
    for n in range(4):
        audit.record(store, "ann", "ad.view", f"ad-{n}")
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(audit_log).where(audit_log.c.seq == 2)).one()
    forged = {
        "seq": 2,
        "at": row.at,
        "user": "bob",
        "action": row.action,
        "target": row.target,
        "detail": {},
    }
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(audit_log)
            .where(audit_log.c.seq == 2)
            .values(user="bob", hash=audit.entry_hash(row.prev_hash, forged))
        )
    result = audit.verify(store)
    assert not result["ok"] and result["first_bad"] == 3


def test_a_removed_entry_is_found(store) -> None:  # type: ignore[no-untyped-def]
    for n in range(4):
        audit.record(store, "ann", "search", f"q{n}")
    with store.engine.begin() as conn:
        conn.execute(sa.delete(audit_log).where(audit_log.c.seq == 2))
    result = audit.verify(store)
    assert not result["ok"] and result["first_bad"] == 3 and "missing" in result["reason"]


def test_detail_is_stored_exactly_as_hashed(store) -> None:  # type: ignore[no-untyped-def]
    entry = audit.record(store, "ann", "search", "x", {"b": 1, "a": [1, 2], "ü": "é", "when": None})
    listed = audit.list_entries(store, limit=1)[0]
    assert listed["detail"] == {"a": [1, 2], "b": 1, "ü": "é", "when": None}
    assert listed["hash"] == entry["hash"]
    assert audit.verify(store)["ok"]


def test_concurrent_writers_never_fork_the_chain(store) -> None:  # type: ignore[no-untyped-def]
    def write(name: str) -> None:
        for n in range(15):
            audit.record(store, name, "ad.view", f"{name}-{n}")

    threads = [threading.Thread(target=write, args=(f"user{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = audit.verify(store)
    assert result["ok"] and result["entries"] == 60


def test_list_filters_by_user_action_and_target(store) -> None:  # type: ignore[no-untyped-def]
    audit.record(store, "ann", "search", "sweet")
    audit.record(store, "bob", "ad.view", "ad-1")
    audit.record(store, "ann", "case.note", "case:12")
    audit.record(store, "ann", "case.note", "case:1")
    assert [e["target"] for e in audit.list_entries(store, user="ann")] == [
        "case:1",
        "case:12",
        "sweet",
    ]
    assert [e["user"] for e in audit.list_entries(store, action="ad.view")] == ["bob"]
    assert [e["target"] for e in audit.list_entries(store, target="case:1")] == [
        "case:1",
        "case:12",
    ]
    assert [e["seq"] for e in audit.list_entries(store, before=3)] == [2, 1]


def test_cli_audit_verify_exit_code(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import safelight.commands_web  # noqa: F401  (registers the commands until cli imports it)
    from safelight.cli import main
    from safelight.store import Store

    url = f"sqlite:///{tmp_path / 'a.db'}"
    store = Store.open(url)
    audit.record(store, "ann", "search", "one")
    audit.record(store, "ann", "search", "two")
    assert main(["audit", "verify", "--db", url]) == 0
    assert "intact: 2 entries" in capsys.readouterr().out
    assert main(["audit", "list", "--db", url, "--json"]) == 0
    assert '"target": "two"' in capsys.readouterr().out
    with store.engine.begin() as conn:
        conn.execute(sa.update(audit_log).where(audit_log.c.seq == 1).values(user="mallory"))
    assert main(["audit", "verify", "--db", url]) == 1
    assert "BROKEN at entry 1" in capsys.readouterr().out
    store.close()
