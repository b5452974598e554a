"""Routing weighs every agent's load by counting in the store: a route reads no ticket of
theirs (it used to find and decode every open ticket of every agent, on every route)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from aftersales import Desk, FrozenClock, MemoryStore, SQLiteStore, Store
from aftersales.models import StatusCategory, Ticket
from aftersales.routing import RuleClassifier
from aftersales.storage import TicketQuery, _trusted

NOW = datetime(2024, 3, 4, 10, tzinfo=timezone.utc)  # a Monday
AGENTS = ("ann", "bob", "cat", "dan", "eve")
HELD = {"ann": 9, "bob": 4, "cat": 7, "dan": 2, "eve": 6}
"""Open tickets each agent holds before the route: dan holds the fewest."""


def _routing() -> dict[str, Any]:
    return {
        "agents": [{"id": agent, "teams": ["returns"], "capacity": 50} for agent in AGENTS],
        "teams": [{"id": "returns"}],
        "default_team": "returns",
        "default_strategy": "least_loaded",
    }


def _desk(store: Store) -> Desk:
    """A routing desk whose agents hold :data:`HELD` open tickets, and resolved and
    waiting ones that must not count."""
    desk = Desk(store, clock=FrozenClock(NOW), classifier=RuleClassifier(), routing=_routing())
    records: list[dict[str, Any]] = []
    for agent, held in HELD.items():
        for status in ("assigned",) * held + ("resolved", "waiting_on_customer"):
            records.append(
                {
                    "customer_id": f"c-{agent}-{len(records)}",
                    "channel": "email",
                    "subject": "refund please",
                    "status": status,
                    "assignee": agent,
                    "team": "returns",
                    "created_at": NOW - timedelta(days=1),
                    "updated_at": NOW - timedelta(days=1),
                }
            )
    desk.import_tickets(records)
    return desk


def _open(desk: Desk) -> Ticket:
    return desk.open_ticket(customer="new", channel="email", subject="refund please")


class _Watched(MemoryStore):
    """A memory store that keeps the queries it finds and counts."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[TicketQuery] = []
        self.counted: list[TicketQuery] = []

    def find(self, query: TicketQuery) -> list[Ticket]:
        self.found.append(query)
        return super().find(query)

    def count(self, query: TicketQuery) -> int:
        self.counted.append(query)
        return super().count(query)


def test_a_route_counts_each_agents_load_and_finds_none_of_their_tickets() -> None:
    store = _Watched()
    desk = _desk(store)
    assert [
        store.count(TicketQuery(assignee=a, status_category=StatusCategory.OPEN)) for a in AGENTS
    ] == list(HELD.values())
    store.found.clear()
    store.counted.clear()
    routed = desk.route(_open(desk).id)
    assert routed.assignee == "dan"  # the loads counted are the real ones
    assert [q for q in store.found if q.assignee is not None] == []
    loads = [q for q in store.counted if q.assignee is not None]
    assert sorted(q.assignee for q in loads) == sorted(AGENTS)
    assert {q.status_category for q in loads} == {StatusCategory.OPEN}
    # the customer's earlier contacts are counted too, not found
    assert [q for q in store.found if q.customer_id is not None] == []
    assert [q.customer_id for q in store.counted if q.customer_id is not None] == ["new"]


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many tickets a record store has decoded from its rows (one count, in a list)."""
    seen = [0]
    read_ticket = _trusted.read_ticket

    def counting(data: Any) -> Ticket:
        seen[0] += 1
        return read_ticket(data)

    monkeypatch.setattr(_trusted, "read_ticket", counting)
    return seen


def test_a_route_on_sqlite_decodes_no_ticket_of_the_agents(
    tmp_path: Path, decoded: list[int]
) -> None:
    """Routing one ticket among agents holding 28 open tickets decodes a handful of
    tickets (the routed one, read and written back), not the agents' ones."""
    with SQLiteStore(tmp_path / "loads.db") as store:
        desk = _desk(store)
        ticket = _open(desk)
        decoded[0] = 0
        routed = desk.route(ticket.id)
        assert routed.assignee == "dan"
        assert decoded[0] < sum(HELD.values()) // 4, decoded[0]
