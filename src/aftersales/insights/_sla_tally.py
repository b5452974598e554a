"""The tally behind :func:`aftersales.insights.service_levels.sla_figures`: tickets per
group, SLA metric, outcome and business-duration bucket, from one statement on the SQL
stores (a UNION ALL of one GROUP BY per metric) or counted in Python over any store.

Each ticket keeps its SLA outcome and business-hours duration for first response and
resolution (``Ticket.sla_first_response``, ``first_response_business_seconds`` and the
resolution pair, columns of schema 8), as the change that settled them computed them; so
the tally reads columns, never a ticket's events.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from aftersales.exceptions import CustomerNotFound, StorageError
from aftersales.insights._ticket_memory import (
    BUCKETS_PER_DOUBLING,
    NUDGE,
    PAGE,
    Plan,
    TierOf,
    column_value,
    ticket_pages,
)
from aftersales.insights._ticket_sql import (
    DIALECTS,
    Dialect,
    _column,
    _filters,
    _source,
    sqlite_dialect,
)
from aftersales.models import Ticket
from aftersales.storage import MemoryStore, SQLiteStore, Store, TicketQuery
from aftersales.storage._codec import ts

if TYPE_CHECKING:  # the sql extra may be absent
    from aftersales.storage.sqlalchemy import SQLAlchemyStore

SLARow = tuple[str | None, str, str, int | None, int]
"""``(group, metric, outcome, business_seconds_bucket, tickets)``: the bucket is None
where the metric was not met (still pending, or missed and not met yet)."""

METRICS = (
    ("first_response", "sla_first_response", "first_response_business_seconds"),
    ("resolution", "sla_resolution", "resolution_business_seconds"),
)
"""Each metric's name, its outcome column and its business-seconds column."""


def seconds_bucket(seconds: int) -> int:
    """The histogram bucket of whole ``seconds`` (as
    :func:`~aftersales.insights._ticket_memory.duration_bucket` buckets a duration)."""
    return math.floor(BUCKETS_PER_DOUBLING * math.log2(max(seconds, 0) + 1) + NUDGE)


def sla_statement(plan: Plan, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """Tickets created in the queried period with an SLA outcome, per group, metric,
    outcome and business-duration bucket."""
    params: dict[str, Any] = {
        "period_from": ts(plan.period_from),
        "created_to": ts(plan.created_to),
    }
    where = "t.tenant = :tenant AND t.created_at >= :period_from AND t.created_at < :created_to"
    where += _filters(plan, params, dialect)
    group = "NULL" if plan.group_column is None else _column(plan.group_column, dialect)
    parts = []
    for metric, outcome, seconds in METRICS:
        bucket = dialect.bucket(f"t.{seconds}")
        parts.append(
            f"SELECT {group} AS grp, '{metric}' AS metric, t.{outcome} AS outcome,"
            f" CASE WHEN t.{seconds} IS NULL THEN NULL ELSE {bucket} END AS bucket,"
            f" COUNT(*) AS tickets FROM {_source(plan)} WHERE {where} AND t.{outcome} IS NOT NULL"
            " GROUP BY 1, 2, 3, 4"
        )
    return "\nUNION ALL\n".join(parts), params


def _rows(raw: Iterable[Sequence[Any]]) -> list[SLARow]:
    return [
        (
            None if group is None else str(group),
            str(metric),
            str(outcome),
            None if bucket is None else int(bucket),
            int(count),
        )
        for group, metric, outcome, bucket, count in raw
    ]


def tally(tickets: Iterable[Ticket], plan: Plan, tier_of: TierOf) -> list[SLARow]:
    """The rows of ``tickets`` (any superset of the ones the plan counts); ``tier_of``
    a customer's tier."""
    counts: Counter[tuple[str | None, str, str, int | None]] = Counter()
    filters = [(column, set(values)) for column, values in plan.filters]
    for ticket in tickets:
        if not plan.period_from <= ticket.created_at < plan.created_to:
            continue
        if any(column_value(ticket, name, tier_of) not in values for name, values in filters):
            continue
        group = (
            None if plan.group_column is None else column_value(ticket, plan.group_column, tier_of)
        )
        for metric, outcome_field, seconds_field in METRICS:
            outcome = getattr(ticket, outcome_field)
            if outcome is None:
                continue
            seconds = getattr(ticket, seconds_field)
            bucket = None if seconds is None else seconds_bucket(seconds)
            counts[group, metric, outcome.value, bucket] += 1
    return [(*key, count) for key, count in counts.items()]


def memory_rows(store: MemoryStore, plan: Plan) -> list[SLARow]:
    """The rows over a MemoryStore's own objects, under its lock."""
    with store._lock:
        customers = store._customers

        def tier_of(customer_id: str) -> str | None:
            customer = customers.get(customer_id)
            return None if customer is None else customer.tier

        return tally(list(store._tickets.values()), plan, tier_of)


def store_rows(store: Store, plan: Plan) -> list[SLARow]:
    """The rows over any store's public API, a page of tickets at a time."""
    query = TicketQuery(created_from=plan.period_from, created_to=plan.created_to, limit=PAGE)

    def tier_of(customer_id: str) -> str | None:
        try:
            return store.get_customer(customer_id).tier
        except CustomerNotFound:
            return None

    return tally(ticket_pages(store, query), plan, tier_of)


def sqlite_rows(store: SQLiteStore, plan: Plan) -> list[SLARow] | None:
    """The rows from SQLiteStore's connection; None without ``log2``."""
    recorder = store.recorder

    def read(_records: object) -> list[SLARow] | None:
        conn: sqlite3.Connection = recorder._conn
        dialect = sqlite_dialect(conn.execute)
        if dialect is None:
            return None
        sql, params = sla_statement(plan, dialect)
        return _rows(conn.execute(sql, {**params, "tenant": store.tenant}).fetchall())

    return recorder.reading(read)


def sqlalchemy_rows(store: SQLAlchemyStore, plan: Plan) -> list[SLARow] | None:
    """The rows from SQLAlchemyStore's engine; None on an SQLite build without ``log2``."""
    import sqlalchemy as sa

    try:
        with store.engine.connect() as conn:
            found = DIALECTS.get(store.dialect)
            if store.dialect == "sqlite":
                found = sqlite_dialect(lambda sql: conn.execute(sa.text(sql)))
            if found is None:
                return None
            sql, params = sla_statement(plan, found)
            rows = _rows(conn.execute(sa.text(sql), {**params, "tenant": store.tenant}).all())
            conn.rollback()
    except sa.exc.SQLAlchemyError as error:
        raise StorageError(f"{store.dialect}: SLA figures failed: {error}") from error
    return rows


def rows_of(store: Store, plan: Plan) -> list[SLARow]:
    """The rows from ``store`` by its fastest path."""
    if isinstance(store, MemoryStore):
        return memory_rows(store, plan)
    found: list[SLARow] | None = None
    if isinstance(store, SQLiteStore):
        found = sqlite_rows(store, plan)
    else:
        try:
            from aftersales.storage.sqlalchemy import SQLAlchemyStore
        except ImportError:  # pragma: no cover - the sql extra is absent
            pass
        else:
            if isinstance(store, SQLAlchemyStore):
                found = sqlalchemy_rows(store, plan)
    return store_rows(store, plan) if found is None else found
