"""Every find a desk runs is read from an index, in find order: no scan of the tickets, no
sort. The plans checked are those of the statements the stores actually run, captured as
they run (SQLite: ``EXPLAIN QUERY PLAN``; PostgreSQL: ``EXPLAIN`` with sequential scans
and sorts priced out, so that a plan which still has one shows there is no index for it).

The counts (``Store.count``) are checked on MariaDB too: each reads an index that alone
answers it (``EXPLAIN``'s "Using index").

PostgreSQL is taken from AFTERSALES_TEST_POSTGRES_URL and MariaDB from
AFTERSALES_TEST_MYSQL_URL (defaults: this machine's loopback servers); without them those
tests skip, in CI (CI=true) they fail.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from aftersales import SQLiteStore, Store
from aftersales.models import Channel, Event, Priority, Ticket
from aftersales.storage import Change, TicketCursor, TicketQuery

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)
TICKETS = 3000
"""Enough tickets, each value a small share of them, that reading the whole of an index
in order would cost PostgreSQL more than its plan for the filter's own index."""
_PRIORITIES = (Priority.HIGH, "p1-vip", *(Priority.NORMAL,) * 6, Priority.LOW, Priority.URGENT)
_CATEGORIES = ("new", "open", *("resolved",) * 3, *("closed",) * 5)


def _tickets() -> list[Ticket]:
    """Tickets with every filtered field varied, several created at the same instant."""
    made = []
    for number in range(1, TICKETS + 1):
        category = _CATEGORIES[number % len(_CATEGORIES)]
        made.append(
            Ticket(
                id=f"t{number}",
                number=number,
                channel=list(Channel)[number % 10],
                subject="Leaks",
                customer_id=f"c{number % 37}",
                status=f"{category}-{number % 3}",
                status_category=category,
                assignee=None if number % 5 == 0 else f"agent{number % 17}",
                team=None if number % 6 == 0 else f"team{number % 7}",
                category=None if number % 4 == 0 else f"cat{number % 11}",
                priority=_PRIORITIES[number % len(_PRIORITIES)],
                tags=(f"a{number % 13}", f"b{number % 17}", f"c{number % 19}"),
                due_at=None if number % 3 else T0 + timedelta(hours=number),
                sla_due_at=None if number % 2 else T0 + timedelta(hours=number),
                created_at=T0 + timedelta(minutes=number // 3),  # three a minute
                updated_at=T0 + timedelta(minutes=number // 3),
            )
        )
    return made


def _fill(store: Store) -> None:
    changes = [
        Change(
            ticket,
            0,
            (
                Event(
                    subject_id=ticket.id,
                    sequence=1,
                    trigger="open",
                    from_state=None,
                    to_state=ticket.status,
                    actor="tester",
                    at=ticket.created_at,
                ),
            ),
        )
        for ticket in _tickets()
    ]
    store.commit_many(changes)


LATER = T0 + timedelta(hours=50)
CURSOR = TicketCursor(created_at=T0 + timedelta(minutes=20), number=61)
DESK_QUERIES: dict[str, Callable[[Store], object]] = {
    "open queue": lambda s: s.find(TicketQuery(status_category="open", limit=100)),
    "open queue, next page": lambda s: s.find(TicketQuery(status_category="open", after=CURSOR)),
    "my tickets": lambda s: s.find(TicketQuery(assignee="agent3")),
    "my open tickets": lambda s: s.find(TicketQuery(assignee="agent3", status_category="open")),
    "my tickets, next page": lambda s: s.find(TicketQuery(assignee="agent3", after=CURSOR)),
    "team queue": lambda s: s.find(TicketQuery(team="team1", status_category="open")),
    "status": lambda s: s.find(TicketQuery(status="open-1")),
    "status and category": lambda s: s.find(TicketQuery(status="open-1", status_category="open")),
    "channel": lambda s: s.find(TicketQuery(channel=Channel.WECHAT)),
    "category": lambda s: s.find(TicketQuery(category="cat2")),
    "priority": lambda s: s.find(TicketQuery(priority=Priority.HIGH)),
    "desk priority": lambda s: s.find(TicketQuery(priority="p1-vip")),
    "customer": lambda s: s.find(TicketQuery(customer_id="c5")),
    "created range": lambda s: s.find(
        TicketQuery(created_from=T0 + timedelta(minutes=10), created_to=T0 + timedelta(hours=1))
    ),
    "one tag": lambda s: s.find(TicketQuery(tags=("a1",))),
    "every tag": lambda s: s.find(TicketQuery(tags=("a1", "b2"))),
    "tags, next page": lambda s: s.find(TicketQuery(tags=("a1", "b2"), after=CURSOR)),
    "merged into a ticket": lambda s: s.find(TicketQuery(merged_into="t1", limit=10_000)),
    "follow-ups": lambda s: s.find(TicketQuery(follow_up_of="t1", created_from=T0, limit=1)),
    "due": lambda s: s.due(LATER, 100),
    "SLA due": lambda s: s.sla_due(LATER, 100),
}
UNINDEXED: Callable[[Store], object] = lambda s: s.find(TicketQuery(team="team1"))  # noqa: E731
"""A find no desk runs (a team's tickets of every status: its index serves the team's
tickets by status category only), and the check must say so."""
FOUND = ("tickets", "ticket_tags")
"""The tables whose plans are checked (finds read nothing else)."""


COUNTED: dict[str, Callable[[Store], object]] = {
    "agent load, counted": lambda s: s.count(
        TicketQuery(assignee="agent3", status_category="open", limit=10_000)
    ),
    "open queue, counted": lambda s: s.count(TicketQuery(status_category="open", limit=10_000)),
    "team queue, counted": lambda s: s.count(TicketQuery(team="team1", status_category="open")),
    "customer's contacts, counted": lambda s: s.count(TicketQuery(customer_id="c5", limit=100)),
    "every tag, counted": lambda s: s.count(TicketQuery(tags=("a1", "b2"))),
}
"""What routing counts (each agent's load, the new ticket's customer's contacts) and a
queue's size: counted in the index of their filters (a covering one), no row read."""
DESK_QUERIES.update(COUNTED)


# ---------------------------------------------------------------------------- SQLite


class _Recording:
    """A stand-in for the recorder's sqlite3 connection that keeps each SELECT it runs."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.selects: list[tuple[str, tuple[Any, ...]]] = []

    def execute(self, sql: str, params: Any = ()) -> Any:
        if sql.lstrip().upper().startswith("SELECT"):
            self.selects.append((sql, tuple(params)))
        return self.conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def sqlite_problems(store: SQLiteStore, run: Callable[[Store], object]) -> list[str]:
    """What is wrong with the plans of the SELECTs ``run`` makes the store execute: a
    table scanned (read whole rather than searched by an index) or a temporary sort."""
    recorder = store.recorder
    real = recorder._conn
    recording = _Recording(real)
    recorder._conn = recording  # type: ignore[assignment]
    try:
        run(store)
    finally:
        recorder._conn = real
    assert recording.selects, "the query ran no SELECT"
    problems = []
    for sql, params in recording.selects:
        details = [row[3] for row in real.execute("EXPLAIN QUERY PLAN " + sql, params)]
        for detail in details:
            # a search by the tenant alone reads every row of the tenant's
            tenant_only = detail.endswith("(tenant=?)")
            # a count reads the rows its subquery makes as it makes them (a co-routine)
            scan = detail.startswith("SCAN") and not detail.startswith("SCAN (subquery-")
            if scan or "TEMP B-TREE" in detail or tenant_only:
                problems.append(detail)
        if not any("USING" in detail for detail in details):
            problems.append(f"no index: {details}")
    return problems


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path_factory.mktemp("plans") / "plans.db")
    _fill(store)
    yield store
    store.close()


@pytest.mark.parametrize("name", DESK_QUERIES)
def test_sqlite_reads_each_desk_query_from_an_index_in_find_order(
    sqlite_store: SQLiteStore, name: str
) -> None:
    assert sqlite_problems(sqlite_store, DESK_QUERIES[name]) == []


def test_sqlite_plans_are_checked_for_real(tmp_path: Path) -> None:
    """A find no index serves is reported, and so is the open queue once its index is
    gone: the check above can fail."""
    store = SQLiteStore(tmp_path / "control.db")
    _fill(store)
    assert any(
        p.startswith("SCAN") or p.endswith("(tenant=?)") for p in sqlite_problems(store, UNINDEXED)
    )
    store._conn.execute("DROP INDEX tickets_status_category")
    assert sqlite_problems(store, DESK_QUERIES["open queue"]) != []
    assert sqlite_problems(store, DESK_QUERIES["open queue, counted"]) != []
    store.close()


def test_sqlite_pages_the_same_tickets_the_plans_read(sqlite_store: SQLiteStore) -> None:
    """The plans checked are of finds that answer: the open queue paged by cursor is the
    open tickets, in creation order then number."""
    query: TicketQuery | None = TicketQuery(status_category="open", limit=30)
    seen: list[int] = []
    while query is not None:
        page = sqlite_store.find(query)
        seen += [t.number for t in page]
        query = query.next_page(page)
    expected = sorted(
        (t for t in _tickets() if t.status_category == "open"),
        key=lambda t: (t.created_at, t.number),
    )
    assert seen == [t.number for t in expected]


# ---------------------------------------------------------------------------- PostgreSQL


def _postgres_url() -> str:
    pytest.importorskip("sqlalchemy")
    from test_sqlalchemy_store import server_url

    return server_url("postgresql")


def _tenant_only(condition: str) -> bool:
    return "tenant" in condition and " AND " not in condition


def _bad_nodes(node: dict[str, Any]) -> list[str]:
    """The nodes of a JSON plan that read a whole table or sort."""
    found = []
    kind = node["Node Type"]
    relation = node.get("Relation Name")
    if kind in ("Sort", "Incremental Sort"):
        found.append(kind)
    elif relation in FOUND and kind == "Seq Scan":
        found.append(f"{kind} on {relation}")
    elif relation in FOUND and "Index" in kind and "Index Cond" not in node:
        found.append(f"{kind} on {relation} without a condition (the whole index)")
    elif relation in FOUND and "Index" in kind and _tenant_only(node["Index Cond"]):
        found.append(f"{kind} on {relation} by the tenant alone (the tenant's whole index)")
    for child in node.get("Plans", ()):
        found += _bad_nodes(child)
    return found


def _selects_run(store: Any, run: Callable[[Store], object]) -> list[tuple[str, Any]]:
    """The SELECTs (with their parameters) ``run`` makes a SQLAlchemy store execute."""
    import sqlalchemy

    selects: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append((statement, parameters))

    sqlalchemy.event.listen(store.engine, "before_cursor_execute", keep)
    try:
        run(store)
    finally:
        sqlalchemy.event.remove(store.engine, "before_cursor_execute", keep)
    assert selects, "the query ran no SELECT"
    return selects


def postgres_problems(store: Any, run: Callable[[Store], object]) -> list[str]:
    """What is wrong with the plans of the SELECTs ``run`` makes the store execute."""
    selects = _selects_run(store, run)
    problems = []
    with store.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        conn.exec_driver_sql("SET enable_sort = off")
        for statement, parameters in selects:
            found = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)
            plan = found.scalar_one()
            plan = json.loads(plan) if isinstance(plan, str) else plan
            problems += _bad_nodes(plan[0]["Plan"])
        conn.rollback()
    return problems


@pytest.fixture(scope="module")
def postgres_store() -> Iterator[Any]:
    sqlalchemy_store = pytest.importorskip("aftersales.storage.sqlalchemy")
    url = _postgres_url()
    engine = pytest.importorskip("sqlalchemy").create_engine(url)
    sqlalchemy_store.metadata.drop_all(engine)  # what an interrupted run left
    engine.dispose()
    store = sqlalchemy_store.SQLAlchemyStore(url)
    _fill(store)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    yield store
    store.drop_schema()
    store.close()


@pytest.mark.parametrize("name", DESK_QUERIES)
def test_postgresql_reads_each_desk_query_from_an_index_in_find_order(
    postgres_store: Any, name: str
) -> None:
    assert postgres_problems(postgres_store, DESK_QUERIES[name]) == []


def test_postgresql_plans_are_checked_for_real(postgres_store: Any) -> None:
    """A find no index serves is reported, and so is the open queue without its index
    (dropped inside a transaction that is rolled back)."""
    assert postgres_problems(postgres_store, UNINDEXED) != []
    import sqlalchemy

    selects: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        selects.append((statement, parameters))

    sqlalchemy.event.listen(postgres_store.engine, "before_cursor_execute", keep)
    try:
        DESK_QUERIES["open queue"](postgres_store)
    finally:
        sqlalchemy.event.remove(postgres_store.engine, "before_cursor_execute", keep)
    with postgres_store.engine.connect() as conn:
        conn.exec_driver_sql("DROP INDEX tickets_status_category")
        conn.exec_driver_sql("SET enable_seqscan = off")
        conn.exec_driver_sql("SET enable_sort = off")
        statement, parameters = selects[-1]
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)
        found = plan.scalar_one()
        conn.rollback()
    found = json.loads(found) if isinstance(found, str) else found
    assert _bad_nodes(found[0]["Plan"]) != []


# ---------------------------------------------------------------------------- MariaDB

COUNTS = [name for name in COUNTED if "tag" not in name]
"""The counts read from one table (a tag count joins ticket_tags to the tickets)."""


@pytest.fixture(scope="module")
def mariadb_store() -> Iterator[Any]:
    sqlalchemy_store = pytest.importorskip("aftersales.storage.sqlalchemy")
    from test_sqlalchemy_store import server_url

    url = server_url("mariadb")
    engine = pytest.importorskip("sqlalchemy").create_engine(url)
    sqlalchemy_store.metadata.drop_all(engine)  # what an interrupted run left
    engine.dispose()
    store = sqlalchemy_store.SQLAlchemyStore(url)
    _fill(store)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE TABLE tickets")
    yield store
    store.drop_schema()
    store.close()


def mariadb_problems(store: Any, run: Callable[[Store], object]) -> list[str]:
    """What is wrong with the plans of the SELECTs ``run`` makes the store execute: the
    tickets read otherwise than by a lookup beyond the tenant in an index that alone
    answers the query (MariaDB's "Using index")."""
    selects = _selects_run(store, run)
    problems = []
    with store.engine.connect() as conn:
        for statement, parameters in selects:
            found = conn.exec_driver_sql("EXPLAIN " + statement, parameters).mappings().all()
            read = [row for row in found if row["table"] == "tickets"]
            assert read, found
            for row in read:
                covering = "Using index" in row["Extra"].split("; ")  # not "... condition"
                tenant_only = row["ref"] == "const"  # one column looked up: the tenant
                if row["type"] not in ("ref", "range") or not covering or tenant_only:
                    problems.append(f"{row['type']} {row['key']} {row['ref']} {row['Extra']}")
        conn.rollback()
    return problems


@pytest.mark.parametrize("name", COUNTS)
def test_mariadb_counts_from_a_covering_index(mariadb_store: Any, name: str) -> None:
    assert mariadb_problems(mariadb_store, DESK_QUERIES[name]) == []


def test_mariadb_count_plans_are_checked_for_real(mariadb_store: Any) -> None:
    """A count that no index answers alone is reported: two filters, each with an index
    of its own, neither covering the other."""
    open_wechat = TicketQuery(status_category="open", channel=Channel.WECHAT)
    assert mariadb_problems(mariadb_store, lambda s: s.count(open_wechat))
    urgent_c5 = TicketQuery(customer_id="c5", priority=Priority.URGENT)
    assert mariadb_problems(mariadb_store, lambda s: s.count(urgent_c5))
