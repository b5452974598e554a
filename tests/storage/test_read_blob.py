"""SQLiteStore reads a ticket's JSON as bytes (``CAST(data AS BLOB)``): the decoder parses
them as they are, where TEXT makes sqlite3 build a str that pydantic-core encodes to UTF-8
again. Every read of tickets does, and gives the tickets written, text of any script."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from aftersales import Desk, SQLiteStore, TicketQuery

NOW = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)


def test_every_read_of_tickets_takes_their_json_as_bytes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "a.db")
    desk = Desk(store)
    opened = [
        desk.open_ticket(
            customer=f"c-{n}",
            channel="wechat",
            subject=f"退货申请 #{n} ✓ \U0001f600",
            tags=("vip", "退货"),
        )
        for n in range(3)
    ]
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    try:
        got = [store.get(t.id) for t in opened]
        by_number = [store.get_by_number(t.number) for t in opened]
        found = store.find(TicketQuery(customer_id="c-1"))
        tagged = store.find(TicketQuery(tags=("退货", "vip")))
        store.due(NOW + timedelta(days=3650), 10)
        store.sla_due(NOW + timedelta(days=3650), 10)
    finally:
        store._conn.set_trace_callback(None)
    assert got == by_number == opened
    assert found == [opened[1]]
    assert tagged == opened
    reads = [
        s
        for s in statements
        if s.startswith("SELECT") and ("FROM tickets" in s or "JOIN tickets" in s)
    ]
    assert len(reads) == 10, reads  # each read above: 3 + 3 + 2 + 1 + 1
    assert all("CAST(" in s and "data AS BLOB) AS data" in s for s in reads), reads
    desk.close()
