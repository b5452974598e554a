"""A desk of one tenant never counts another tenant's tickets: on one database, shops with
the same ticket numbers, assignees, customers and tags each count their own, on SQLite,
on SQLAlchemy (SQLite, PostgreSQL, MariaDB) and in one memory (where MemoryStore keeps
tenants), through every filter a count takes.

The servers are taken from AFTERSALES_TEST_POSTGRES_URL and AFTERSALES_TEST_MYSQL_URL
(see tests/test_sqlalchemy_store.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from aftersales import MemoryStore, SQLiteStore, Store, TicketQuery
from aftersales.models import StatusCategory
from aftersales.storage import Change, TicketCursor
from aftersales.storage.recorder import RecordStore
from aftersales.testing.contracts import _event, _ticket

T0 = datetime(2024, 3, 4, 9, tzinfo=timezone.utc)
SHOPS = {"": 1, "shop-a": 3, "shop-b": 6}
"""Each tenant and how many open tickets of agent ``li`` (tagged ``vip``, of customer
``c1``) it holds; each also holds one resolved ticket of ``li``'s."""

QUERIES = {
    "agent load": TicketQuery(assignee="li", status_category=StatusCategory.OPEN, limit=10_000),
    "open queue": TicketQuery(status_category=StatusCategory.OPEN),
    "customer": TicketQuery(customer_id="c1"),
    "tag": TicketQuery(tags=("vip",)),
    "every ticket": TicketQuery(limit=10_000),
    "created range": TicketQuery(created_from=T0, created_to=T0 + timedelta(hours=1)),
    "after #1": TicketQuery(after=TicketCursor(created_at=T0 + timedelta(minutes=1), number=1)),
}


def _expected(held: int) -> dict[str, int]:
    every = held + 1  # and the resolved one
    return {
        "agent load": held,
        "open queue": held,
        "customer": every,
        "tag": held,
        "every ticket": every,
        "created range": every,
        "after #1": every - 1,
    }


def _fill(store: Any) -> None:
    for tenant, held in SHOPS.items():
        scoped = store.for_tenant(tenant)
        tickets = [
            _ticket(n, assignee="li", status="open", status_category="open", tags=("vip",))
            for n in range(1, held + 1)
        ]
        tickets.append(_ticket(held + 1, assignee="li", status="done", status_category="resolved"))
        # the same ids in every tenant would be taken: ids are unique across tenants
        tickets = [t.model_copy(update={"id": f"{tenant}-{t.id}"}) for t in tickets]
        scoped.commit_many([Change(t, 0, (_event(t),)) for t in tickets])


def _sqlite(tmp_path: Path) -> RecordStore:
    return SQLiteStore(tmp_path / "shops.db")


def _sqlalchemy(dialect: str, tmp_path: Path) -> RecordStore:
    pytest.importorskip("sqlalchemy")
    from aftersales.storage.sqlalchemy import SQLAlchemyStore
    from test_sqlalchemy_store import fresh_store, server_url

    if dialect == "sqlite":
        return SQLAlchemyStore(f"sqlite:///{tmp_path / 'shops-sa.db'}")
    return fresh_store(server_url(dialect))


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        "sqlalchemy-sqlite",
        pytest.param("postgresql", marks=pytest.mark.servers),
        pytest.param("mariadb", marks=pytest.mark.servers),
    ],
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    made: Any
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "sqlite":
        made = _sqlite(tmp_path)
    else:
        made = _sqlalchemy(request.param.removeprefix("sqlalchemy-"), tmp_path)
    _fill(made)
    yield made
    made.close()


def test_each_tenant_counts_its_own_tickets_only(store: Any) -> None:
    for tenant, held in SHOPS.items():
        scoped: Store = store.for_tenant(tenant)
        counted = {name: scoped.count(query) for name, query in QUERIES.items()}
        assert counted == _expected(held), tenant
        # and exactly what its find finds
        assert counted == {name: len(scoped.find(query)) for name, query in QUERIES.items()}
    # a tenant with no tickets counts none of the others'
    empty = store.for_tenant("shop-c")
    assert {name: empty.count(query) for name, query in QUERIES.items()} == dict.fromkeys(
        QUERIES, 0
    )
