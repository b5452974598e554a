"""Counting a store's cases (and tickets) per SKU and day, for
:func:`~aftersales.insights.case_series`: one GROUP BY on SQLiteStore and
SQLAlchemyStore, the objects themselves on MemoryStore, ``find_cases`` and ``find`` on any
other store.

A case counts on the UTC day it was created, under the SKU of its first line that names
one (the ``cases.sku`` column), or, when none does, its ticket's (a complaint has no
lines: it is about the order line its ticket names); a ticket under the SKU of its order
line (``tickets.sku``). Cases and tickets without a SKU are not counted.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

from aftersales.exceptions import StorageError, TicketNotFound
from aftersales.insights._ticket_memory import ticket_pages
from aftersales.models import Case, CaseKind, Ticket
from aftersales.storage import (
    CaseQuery,
    MemoryStore,
    SQLiteStore,
    Store,
    TicketQuery,
    every_case,
)
from aftersales.storage._codec import ts

if TYPE_CHECKING:  # the sql extra may be absent
    from aftersales.storage.sqlalchemy import SQLAlchemyStore

Tally = Counter[tuple[str, date]]
"""How many cases (or tickets) per (SKU, UTC day)."""

PAGE = 10_000
"""Tickets and cases read per ``find`` or ``find_cases`` call, on a store without a
faster path."""


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), timezone.utc)


def statement(
    table: str, kind: str | None, first_day: date, end_day: date, tenant: str = ""
) -> tuple[str, dict[str, Any]]:
    """Rows (sku, UTC day as ``YYYY-MM-DD``, count) of ``table`` created in the days
    ``first_day`` up to ``end_day`` (excluded); with ``kind``, the cases of that kind,
    under their ticket's SKU when no line names one. The instants are fixed-width UTC
    text, so their first ten characters are the UTC day on every database. Only
    ``tenant``'s rows count."""
    params: dict[str, Any] = {"start": ts(_midnight(first_day)), "end": ts(_midnight(end_day))}
    params["tenant"] = tenant
    sku, join, kind_filter = "x.sku", "", ""
    if kind is not None:
        params["kind"] = kind
        sku = "COALESCE(x.sku, t.sku)"
        join = " LEFT JOIN tickets t ON t.tenant = x.tenant AND t.id = x.ticket_id"
        kind_filter = " AND x.kind = :kind"
    sql = (
        f"SELECT {sku}, SUBSTR(x.created_at, 1, 10), COUNT(*)\n"
        f"FROM {table} x{join}\n"
        "WHERE x.tenant = :tenant AND x.created_at >= :start AND x.created_at < :end"
        f" AND {sku} IS NOT NULL"
        f"{kind_filter}\nGROUP BY 1, 2"
    )
    return sql, params


def _tally(rows: Iterable[Any]) -> Tally:
    return Counter({(str(sku), date.fromisoformat(str(day))): int(n) for sku, day, n in rows})


def count(
    store: Store, kind: str, first_day: date, end_day: date, *, tickets: bool
) -> tuple[Tally, Tally | None]:
    """Cases of ``kind`` per SKU and day from ``first_day`` up to ``end_day`` (excluded),
    and tickets per SKU and day when ``tickets``: where the data is."""
    if isinstance(store, MemoryStore):
        with store._lock:  # a consistent view; counted once the lock is let go
            cases = list(store._cases.values())
            by_id = dict(store._tickets)
        return _count_cases(cases, kind, first_day, end_day, _skus_of(by_id.get)), (
            _count_tickets(by_id.values(), first_day, end_day) if tickets else None
        )
    if isinstance(store, SQLiteStore):
        return _sqlite_count(store, kind, first_day, end_day, tickets=tickets)
    try:
        from aftersales.storage.sqlalchemy import SQLAlchemyStore
    except ImportError:  # pragma: no cover - without the sql extra
        pass
    else:
        if isinstance(store, SQLAlchemyStore):
            return _sqlalchemy_count(store, kind, first_day, end_day, tickets=tickets)
    return _store_count(store, kind, first_day, end_day, tickets=tickets)


def _sqlite_count(
    store: SQLiteStore, kind: str, first_day: date, end_day: date, *, tickets: bool
) -> tuple[Tally, Tally | None]:
    recorder = store.recorder
    case_sql, case_params = statement("cases", kind, first_day, end_day, store.tenant)
    ticket_sql, ticket_params = statement("tickets", None, first_day, end_day, store.tenant)

    def read(_records: object) -> tuple[Tally, Tally | None]:
        conn: sqlite3.Connection = recorder._conn
        began = not conn.in_transaction
        if began:
            conn.execute("BEGIN")  # both statements see the same commits
        try:
            cases = _tally(conn.execute(case_sql, case_params).fetchall())
            counted = _tally(conn.execute(ticket_sql, ticket_params)) if tickets else None
        finally:
            if began:
                conn.execute("COMMIT")
        return cases, counted

    return recorder.reading(read)


def _sqlalchemy_count(
    store: SQLAlchemyStore, kind: str, first_day: date, end_day: date, *, tickets: bool
) -> tuple[Tally, Tally | None]:
    import sqlalchemy as sa

    case_sql, case_params = statement("cases", kind, first_day, end_day, store.tenant)
    ticket_sql, ticket_params = statement("tickets", None, first_day, end_day, store.tenant)
    try:
        with store.engine.connect() as conn:
            if store.dialect != "sqlite":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            cases = _tally(conn.execute(sa.text(case_sql), case_params).all())
            counted = None
            if tickets:
                counted = _tally(conn.execute(sa.text(ticket_sql), ticket_params).all())
            conn.rollback()
    except sa.exc.SQLAlchemyError as error:
        raise StorageError(f"{store.dialect}: counting cases per SKU failed: {error}") from error
    return cases, counted


def case_sku(case: Case) -> str | None:
    """The SKU a case's lines name: its first line's that names one (as ``cases.sku``)."""
    return next((line.sku for line in case.lines if line.sku is not None), None)


TicketSku = Callable[[str], "str | None"]
"""The SKU of a ticket's order line, by the ticket's id (None without one)."""


def _skus_of(ticket: Callable[[str], Ticket | None]) -> TicketSku:
    def sku(ticket_id: str) -> str | None:
        found = ticket(ticket_id)
        line = None if found is None else found.order_line
        return None if line is None else line.sku

    return sku


def _count_cases(
    cases: Iterable[Case], kind: str, first_day: date, end_day: date, ticket_sku: TicketSku
) -> Tally:
    start, end = _midnight(first_day), _midnight(end_day)
    tally: Tally = Counter()
    for case in cases:
        if case.kind.value != kind or not start <= case.created_at < end:
            continue
        sku = case_sku(case) or ticket_sku(case.ticket_id)
        if sku is not None:
            tally[sku, case.created_at.astimezone(timezone.utc).date()] += 1
    return tally


def _count_tickets(tickets: Iterable[Ticket], first_day: date, end_day: date) -> Tally:
    start, end = _midnight(first_day), _midnight(end_day)
    tally: Tally = Counter()
    for ticket in tickets:
        line = ticket.order_line
        if line is None or line.sku is None or not start <= ticket.created_at < end:
            continue
        tally[line.sku, ticket.created_at.astimezone(timezone.utc).date()] += 1
    return tally


def _store_count(
    store: Store, kind: str, first_day: date, end_day: date, *, tickets: bool
) -> tuple[Tally, Tally | None]:
    shipped = kind in {member.value for member in CaseKind}
    query = CaseQuery(kind=CaseKind(kind) if shipped else None, limit=PAGE)
    cases = list(every_case(store, query))
    counted = None
    if tickets:
        counted = _count_tickets(_ticket_pages(store, first_day, end_day), first_day, end_day)
    return _count_cases(cases, kind, first_day, end_day, _skus_of(_reader(store))), counted


def _reader(store: Store) -> Callable[[str], Ticket | None]:
    """Tickets by id, each read once (a ticket's cases share it), None when gone."""
    read: dict[str, Ticket | None] = {}

    def ticket(ticket_id: str) -> Ticket | None:
        if ticket_id not in read:
            try:
                read[ticket_id] = store.get(ticket_id)
            except TicketNotFound:
                read[ticket_id] = None
        return read[ticket_id]

    return ticket


def _ticket_pages(store: Store, first_day: date, end_day: date) -> Iterator[Ticket]:
    return ticket_pages(
        store, TicketQuery(created_from=_midnight(first_day), created_to=_midnight(end_day))
    )


def day_after(day: date) -> date:
    return day + timedelta(days=1)
