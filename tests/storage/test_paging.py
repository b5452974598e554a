"""Reading every ticket or case of a query page by page: a store that ignores the cursor
is an error, not a loop that never ends; a cursor's text is its own or refused."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from aftersales import CaseCursor, Desk, InvalidInput, MemoryStore, StorageError, TicketQuery
from aftersales.storage import CaseQuery, every_case, every_ticket


class _IgnoresCursors(MemoryStore):
    """A store written before queries had ``after``: every page is the first."""

    def find(self, query: TicketQuery) -> Any:
        return super().find(query.model_copy(update={"after": None}))

    def find_cases(self, query: CaseQuery) -> Any:
        return super().find_cases(query.model_copy(update={"after": None}))


def _desk_with_three_of_each(store: MemoryStore) -> Desk:
    desk = Desk(store)
    for n in range(3):
        ticket = desk.open_ticket(customer="c-1", channel="email", subject=f"Kettle {n}")
        desk.cases.open_complaint(ticket.id, summary=f"Late delivery {n}")
    return desk


def test_a_store_ignoring_the_cursor_is_an_error_not_an_endless_loop() -> None:
    store = _IgnoresCursors()
    _desk_with_three_of_each(store)
    with pytest.raises(StorageError, match="ignores the query's 'after' cursor"):
        list(every_ticket(store, TicketQuery(customer_id="c-1", limit=2)))
    with pytest.raises(StorageError, match="ignores the query's 'after' cursor"):
        list(every_case(store, CaseQuery(kind="complaint", limit=2)))


def test_every_page_of_a_store_honouring_the_cursor_is_read_once() -> None:
    store = MemoryStore()
    _desk_with_three_of_each(store)
    tickets = list(every_ticket(store, TicketQuery(customer_id="c-1", limit=1)))
    cases = list(every_case(store, CaseQuery(kind="complaint", limit=1)))
    assert [t.subject for t in tickets] == ["Kettle 0", "Kettle 1", "Kettle 2"]
    assert len({c.id for c in cases}) == 3


@pytest.mark.parametrize("token", ["", "bm90IGEgY3Vyc29y", "!!!", "MjAyNi0wMy0wMXw"])
def test_a_case_cursor_refuses_text_it_did_not_write(token: str) -> None:
    # "not a cursor"; bad base64; a time and a bar but no id
    with pytest.raises(InvalidInput) as raised:
        CaseCursor.parse(token)
    assert [e.location for e in raised.value.errors] == [("after",)]


def test_a_case_cursor_keeps_an_id_holding_a_bar() -> None:
    cursor = CaseCursor(created_at=datetime(2026, 3, 1, tzinfo=timezone.utc), id="a|b|c")
    assert CaseCursor.parse(cursor.token()) == cursor
