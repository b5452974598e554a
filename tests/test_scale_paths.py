"""Lookups the desk makes on every write of some kind stay cheap as a store grows: they
read an index (SQL) or only the records they want (memory), never every ticket."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from aftersales import Desk, MemoryStore, SQLiteStore, TicketQuery


class _NoScan(dict):  # type: ignore[type-arg]
    """The store's tickets, refusing to be read whole."""

    def values(self):  # type: ignore[no-untyped-def]
        raise AssertionError("read every ticket")


def test_finding_a_parents_children_reads_only_them_on_the_memory_store() -> None:
    store = MemoryStore()
    desk = Desk(store)
    parent = desk.open_ticket(customer="c-1", channel="email", subject="Order late")
    others = [desk.open_ticket(customer="c-2", channel="email", subject="x") for _ in range(3)]
    children = [
        desk.open_ticket(customer="c-1", channel="email", subject=f"item {n}", parent_id=parent.id)
        for n in range(2)
    ]
    for ticket in others:  # a ticket's own changes leave the index as it was
        desk.fire(ticket.id, "cancel", payload={"reason": "duplicate"})
    store._tickets = _NoScan(store._tickets)  # type: ignore[assignment]
    found = store.find(TicketQuery(parent_id=parent.id))
    assert [t.id for t in found] == [c.id for c in children]
    assert store.find(TicketQuery(parent_id=others[0].id)) == []
    desk.fire(children[0].id, "cancel", payload={"reason": "part of the parent"})
    assert [t.status for t in store.find(TicketQuery(parent_id=parent.id))] == ["cancelled", "new"]


def test_sqlite_finds_a_parents_children_through_an_index(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "t.db").close()
    with sqlite3.connect(tmp_path / "t.db") as connection:
        plan = connection.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM tickets WHERE parent_id = ?", ("p",)
        ).fetchall()
    assert "USING INDEX tickets_parent" in " ".join(str(row) for row in plan)
