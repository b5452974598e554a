"""SQLiteStore finds a ticket's or an order's cases of one kind through the ticket's or
the order's index, not through ``cases_kind_created``: that index gives find order but
holds every case of the kind, so a ticket's returns cost more the more returns the shop
had. A find by kind alone still reads that index (in find order, ties apart)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from case_facts import claim_line

from aftersales import CaseCursor, CaseQuery, Desk, FrozenClock, SQLiteStore
from aftersales.models import Case


def _find_and_plan(desk: Desk, query: CaseQuery) -> tuple[list[Case], str]:
    store = desk.services.store
    conn = store.recorder._conn  # type: ignore[attr-defined]
    statements: list[str] = []
    conn.set_trace_callback(lambda sql: statements.append(sql) if "FROM cases" in sql else None)
    try:
        found = store.find_cases(query)
    finally:
        conn.set_trace_callback(None)
    assert len(statements) == 1, statements
    plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statements[0]}"))
    return found, plan


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    made = Desk(
        SQLiteStore(tmp_path / "cases.db"),
        clock=FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc)),
    )
    yield made
    made.close()


def _returns(desk: Desk) -> dict[str, list[Case]]:
    """Two returns on each of three tickets, each of its own order; by ticket id."""
    made: dict[str, list[Case]] = {}
    for number in range(3):
        ticket = desk.open_ticket(customer=f"c-{number}", channel="app", subject="退货")
        made[ticket.id] = [
            desk.cases.request_return(ticket.id, order_id=f"o-{number}-{n}", lines=[claim_line()])
            for n in range(2)
        ]
    return made


@pytest.mark.parametrize(
    ("narrowing", "index"), [("ticket_id", "cases_ticket"), ("order_id", "cases_order")]
)
def test_a_narrowing_filter_beside_a_kind_reads_its_own_index(
    desk: Desk, narrowing: str, index: str
) -> None:
    returns = _returns(desk)
    ticket_id, cases = next(iter(returns.items()))
    value = ticket_id if narrowing == "ticket_id" else cases[1].order_id
    expected = cases if narrowing == "ticket_id" else [cases[1]]

    found, plan = _find_and_plan(desk, CaseQuery(kind="return", **{narrowing: value}))

    assert [c.id for c in found] == [c.id for c in expected]
    assert index in plan, plan
    assert "cases_kind_created" not in plan, plan


def test_a_find_by_kind_alone_reads_the_kind_index(desk: Desk) -> None:
    returns = _returns(desk)

    found, plan = _find_and_plan(desk, CaseQuery(kind="return"))

    assert [c.id for c in found] == [c.id for cases in returns.values() for c in cases]
    assert "cases_kind_created" in plan, plan


def test_a_page_by_kind_after_a_cursor_starts_in_the_kind_index_at_the_cursor(
    desk: Desk,
) -> None:
    returns = _returns(desk)
    in_order = [c.id for cases in returns.values() for c in cases]
    first = desk.services.store.find_cases(CaseQuery(kind="return", limit=2))

    found, plan = _find_and_plan(
        desk, CaseQuery(kind="return", limit=2, after=CaseCursor.of(first[-1]))
    )

    assert [c.id for c in found] == in_order[2:4]
    # a search from the cursor's creation time, not a scan of the kind from its first case
    assert "SEARCH cases USING INDEX cases_kind_created" in plan, plan
    assert "created_at>?" in plan, plan
