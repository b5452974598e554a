"""A return on SQLiteStore: the order checks inside its transactions read the order's
cases from the order's index (not every case of a kind), and a commit of two cases (a
refund that opens, a refund that closes its return) writes both logs or neither."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest
from case_facts import claim_line

from aftersales import ConcurrencyError, Desk, FrozenClock, Notification, SQLiteStore


def _desk(path: Path, delivered: list[str]) -> Desk:
    desk = Desk(SQLiteStore(path), clock=FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc)))

    def hook(notification: Notification) -> None:
        delivered.append(notification.key)

    desk.on_transition(hook, name="hook", kinds="all")
    return desk


def _refunded(desk: Desk, order_id: str) -> tuple[str, str]:
    """A return of ``order_id`` taken back and refunded: its id and its refund's."""
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="退货")
    case = desk.cases.request_return(
        ticket.id, order_id=order_id, lines=[claim_line()], instructions={"method": "label"}
    )
    desk.cases.fire(case.id, "receive", payload={"units": {"l1": 2}})
    desk.cases.fire(case.id, "inspect", payload={"results": {"l1": ["restock", "restock"]}})
    refund_id = desk.cases.fire(case.id, "refund").refund_case_id
    assert refund_id is not None
    return case.id, refund_id


def test_order_checks_read_the_orders_cases_from_its_index(tmp_path: Path) -> None:
    desk = _desk(tmp_path / "cases.db", [])
    for number in range(3):  # refunds of other orders, which the checks must not read
        _refunded(desk, f"earlier-{number}")
    checks: list[str] = []
    conn = desk.services.store.recorder._conn  # type: ignore[attr-defined]
    conn.set_trace_callback(
        lambda sql: checks.append(sql) if sql.startswith("SELECT data, terms FROM cases") else None
    )
    _refunded(desk, "o-1")
    conn.set_trace_callback(None)
    # the return's check (returns and exchanges of the order) and the refund's (refunds)
    assert len(checks) == 2
    assert any("'refund'" in sql for sql in checks)
    for sql in checks:
        plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert "cases_order" in plan, plan
        assert "cases_kind_created" not in plan, plan
    desk.close()


def test_a_refund_that_closes_its_return_commits_both_logs(tmp_path: Path) -> None:
    delivered: list[str] = []
    desk = _desk(tmp_path / "cases.db", delivered)
    return_id, refund_id = _refunded(desk, "o-1")
    desk.cases.fire(refund_id, "process")
    desk.cases.fire(refund_id, "succeed")
    assert desk.cases.get(return_id).status == "closed"
    assert [e.trigger for e in desk.cases.history(refund_id)][-2:] == ["process", "succeed"]
    assert desk.cases.history(return_id)[-1].trigger == "close"
    handed = list(delivered)
    # one row per event, each once: the ticket's opening and the return's ten
    assert len(handed) == len(set(handed)) == 11
    desk.open_ticket(customer="c-1", channel="app", subject="next")  # acknowledges them
    with sqlite3.connect(tmp_path / "cases.db") as conn:
        statuses = dict(conn.execute("SELECT key, status FROM outbox").fetchall())
    # every row handed to the hook, the two of the last case commit included
    assert {statuses[key] for key in handed} == {"delivered"}
    desk.close()


def test_a_taken_event_of_the_closed_return_refuses_the_whole_commit(tmp_path: Path) -> None:
    desk = _desk(tmp_path / "cases.db", [])
    return_id, refund_id = _refunded(desk, "o-1")
    desk.cases.fire(refund_id, "process")
    taken = desk.cases.get(return_id).version + 1
    with sqlite3.connect(tmp_path / "cases.db") as conn:  # another writer's event
        conn.execute(
            "INSERT INTO events (subject_id, sequence, trigger, at, data) VALUES (?, ?, ?, ?, ?)",
            (return_id, taken, "close", "2024-03-04T09:00:00.000000+00:00", "{}"),
        )
    with pytest.raises(ConcurrencyError) as raised:
        desk.cases.fire(refund_id, "succeed")
    assert raised.value.subject_id == return_id
    # neither case moved, neither log grew
    assert desk.cases.get(refund_id).status == "processing"
    assert desk.cases.history(refund_id)[-1].trigger == "process"
    assert desk.cases.get(return_id).status == "refunded"
    desk.close()
