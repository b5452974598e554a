"""The case metrics' statements (tickets, returns, refunds, repairs, complaints), rendered
per SQL dialect, and how they run on SQLiteStore's connection and on SQLAlchemyStore's
engine.

Each statement is one GROUP BY over ``cases`` (joined to each case's ticket for its
channel and, when the case names none, its SKU) or over ``tickets``, returning the rows of
:mod:`aftersales.insights._case_memory`: a few per group, never one per case. Durations
are bucketed by the ticket metrics' dialects (:mod:`aftersales.insights._ticket_sql`). The
one value not in a column, the units a return claims, is summed from the case's JSON
(``json_each`` on SQLite, ``jsonb_array_elements`` on PostgreSQL, ``JSON_TABLE`` on
MariaDB) in the same statement. The statements are text with named parameters, run
through ``sqlalchemy.text`` on SQLAlchemyStore, so each metric is written once for every
database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aftersales.exceptions import StorageError
from aftersales.insights._case_memory import (
    NOT_REPAIRED,
    CasePlan,
    CaseRows,
    ComplaintRow,
    RefundRow,
    RepairRow,
    ReturnRow,
    TicketCountRow,
)
from aftersales.insights._ticket_sql import DIALECTS, Dialect, sqlite_dialect
from aftersales.storage import SQLiteStore
from aftersales.storage._codec import ts

if TYPE_CHECKING:  # the sql extra may be absent
    from aftersales.storage.sqlalchemy import SQLAlchemyStore

Statement = tuple[str, dict[str, Any]]

CASE_COLUMNS = {
    "sku": "COALESCE(c.sku, t.sku)",
    "category": "COALESCE(c.product_category, pc.product_category)",
    "channel": "t.channel",
}
"""What a case is grouped and filtered by: its first line's SKU (else its ticket's), its
first line's product category (else its parent's: a refund case's lines carry no policy
facts, the return it pays has them), its ticket's channel."""

TICKET_COLUMNS = {"sku": "t.sku", "channel": "t.channel"}


def _cases(plan: CasePlan) -> str:
    """The cases with their tickets, and their parents when the category counts."""
    joined = "FROM cases c LEFT JOIN tickets t ON t.id = c.ticket_id"
    if plan.group == "category" or plan.categories is not None:
        joined += " LEFT JOIN cases pc ON pc.id = c.parent_id"
    return joined


_LINE_UNITS = {
    "sqlite": (
        "SELECT SUM(json_extract(l.value, '$.quantity')) FROM json_each(c.data, '$.lines') l"
        " WHERE json_extract(l.value, '$.sku') = c.sku"
    ),
    "postgresql": (
        "SELECT SUM(CAST(l.value ->> 'quantity' AS INTEGER))"
        " FROM jsonb_array_elements(CAST(c.data AS JSONB) -> 'lines') AS l(value)"
        " WHERE l.value ->> 'sku' = c.sku"
    ),
    "mariadb": (
        "SELECT SUM(l.quantity) FROM JSON_TABLE(c.data, '$.lines[*]' COLUMNS ("
        "sku VARCHAR(128) PATH '$.sku', quantity INT PATH '$.quantity')) AS l"
        " WHERE CAST(l.sku AS BINARY) = CAST(c.sku AS BINARY)"
    ),
}
"""The units a case claims on lines of its own SKU, from its ``data`` JSON. (On MariaDB
the JSON's text has the connection's collation, ``utf8mb4_general_ci``, which ignores
case: the SKUs are compared as bytes, exactly, rather than left to the rules choosing
between two collations.)"""

_NOT_REPAIRED = ", ".join(f"'{status}'" for status in NOT_REPAIRED)


def _in(expression: str, name: str, values: Sequence[str], params: dict[str, Any]) -> str:
    names = []
    for position, value in enumerate(values):
        params[f"{name}_{position}"] = value
        names.append(f":{name}_{position}")
    return f" AND {expression} IN ({', '.join(names)})"


def _case_filters(plan: CasePlan, params: dict[str, Any]) -> str:
    clauses = ""
    for column, values in (
        ("sku", plan.skus),
        ("category", plan.categories),
        ("channel", plan.channels),
    ):
        if values is not None:
            clauses += _in(CASE_COLUMNS[column], column, values, params)
    return clauses


def _grouped(columns: Sequence[str], aggregates: Sequence[str], rest: str) -> str:
    """``SELECT columns, aggregates rest GROUP BY columns`` (no GROUP BY without columns)."""
    select = ",\n  ".join((*columns, *aggregates))
    sql = f"SELECT\n  {select}\n{rest}"
    if columns:
        sql += f"\nGROUP BY {', '.join(str(i + 1) for i in range(len(columns)))}"
    return sql


def _period(plan: CasePlan) -> dict[str, Any]:
    return {"period_from": ts(plan.period_from), "period_to": ts(plan.period_to)}


def _group(plan: CasePlan, columns: dict[str, str]) -> list[str]:
    return [] if plan.group is None else [columns[plan.group]]


def _bucket(dialect: Dialect, later: str) -> str:
    return dialect.bucket(dialect.seconds(dialect.micros(later, "c.created_at")))


def tickets_statement(plan: CasePlan) -> Statement:
    """Tickets created in the period, per group."""
    params = _period(plan)
    where = "WHERE t.created_at >= :period_from AND t.created_at < :period_to"
    for column, values in (("sku", plan.skus), ("channel", plan.channels)):
        if values is not None:
            where += _in(TICKET_COLUMNS[column], column, values, params)
    return _grouped(_group(plan, TICKET_COLUMNS), ["COUNT(*)"], f"FROM tickets t\n{where}"), params


def returns_statement(plan: CasePlan, dialect: Dialect) -> Statement:
    """Return cases created in the period, per group, SKU and reason, with their units."""
    params = _period(plan)
    group = ["c_group"] if plan.group is not None else []
    inner_group = [f"{CASE_COLUMNS[plan.group]} AS c_group"] if plan.group is not None else []
    inner = ",\n    ".join(
        [
            *inner_group,
            f"{CASE_COLUMNS['sku']} AS c_sku",
            "c.reason AS c_reason",
            f"COALESCE(({_LINE_UNITS[dialect.name]}), 0) AS c_units",
        ]
    )
    rest = (
        f"FROM (\n  SELECT\n    {inner}\n  {_cases(plan)}\n"
        "  WHERE c.kind = 'return' AND c.created_at >= :period_from"
        f" AND c.created_at < :period_to{_case_filters(plan, params)}\n) x"
    )
    return _grouped([*group, "c_sku", "c_reason"], ["COUNT(*)", "SUM(c_units)"], rest), params


def refunds_statement(plan: CasePlan, dialect: Dialect) -> Statement:
    """Refund cases paid in the period, per group and lead-time bucket, with the late."""
    params = _period(plan)
    rest = (
        f"{_cases(plan)}\n"
        # a refund paid before the period's end was created before it: the bound lets the
        # (kind, created_at) index narrow the scan
        "WHERE c.kind = 'refund' AND c.created_at < :period_to"
        " AND c.paid_at >= :period_from AND c.paid_at < :period_to" + _case_filters(plan, params)
    )
    columns = [*_group(plan, CASE_COLUMNS), _bucket(dialect, "c.paid_at")]
    late = "SUM(CASE WHEN c.late = 1 THEN 1 ELSE 0 END)"
    return _grouped(columns, ["COUNT(*)", late], rest), params


def repairs_statement(plan: CasePlan, dialect: Dialect) -> Statement:
    """Repair cases completed in the period, per group, part and turnaround bucket, with
    those following an earlier repair of their serial within the window."""
    params = _period(plan)
    params["repeat_window"] = plan.repeat_window_micros
    # The earlier repair's kind is tested inside a CASE: as a plain equality it draws
    # the planner to the (kind, created_at) index, a scan of every repair per repair,
    # where the serial's index finds the serial's few cases.
    repeated = (
        "EXISTS (SELECT 1 FROM cases p WHERE p.serial = c.serial"
        " AND CASE WHEN p.kind = 'repair' THEN 1 ELSE 0 END = 1"
        f" AND p.id <> c.id AND p.closed_at IS NOT NULL AND p.status NOT IN ({_NOT_REPAIRED})"
        " AND p.closed_at <= c.created_at"
        f" AND {dialect.micros('c.created_at', 'p.closed_at')} <= :repeat_window)"
    )
    rest = (
        f"{_cases(plan)}\n"
        "WHERE c.kind = 'repair' AND c.created_at < :period_to"
        " AND c.closed_at >= :period_from AND c.closed_at < :period_to"
        f" AND c.status NOT IN ({_NOT_REPAIRED})" + _case_filters(plan, params)
    )
    columns = [*_group(plan, CASE_COLUMNS), "c.part", _bucket(dialect, "c.closed_at")]
    aggregates = ["COUNT(*)", f"SUM(CASE WHEN {repeated} THEN 1 ELSE 0 END)"]
    return _grouped(columns, aggregates, rest), params


def complaints_statement(plan: CasePlan) -> Statement:
    """Complaint cases created in the period, per group."""
    params = _period(plan)
    rest = (
        f"{_cases(plan)}\n"
        "WHERE c.kind = 'complaint' AND c.created_at >= :period_from"
        " AND c.created_at < :period_to" + _case_filters(plan, params)
    )
    return _grouped(_group(plan, CASE_COLUMNS), ["COUNT(*)"], rest), params


def statements(plan: CasePlan, dialect: Dialect) -> list[Statement]:
    """The plan's statements, in :class:`CaseRows` order (no tickets one when the plan
    counts no tickets)."""
    found = [
        returns_statement(plan, dialect),
        refunds_statement(plan, dialect),
        repairs_statement(plan, dialect),
        complaints_statement(plan),
    ]
    if plan.counts_tickets:
        found.insert(0, tickets_statement(plan))
    return found


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _rows(plan: CasePlan, results: Sequence[Sequence[Sequence[Any]]]) -> CaseRows:
    """The statements' rows as the tallies (the group put back where the statement left
    it out; the databases' decimals made ints)."""
    grouped = plan.group is not None
    found = list(results)
    tickets_raw = found.pop(0) if plan.counts_tickets else None

    def split(row: Sequence[Any]) -> tuple[str | None, list[Any]]:
        values = list(row)
        return (_text(values.pop(0)) if grouped else None), values

    tickets: list[TicketCountRow] | None = None
    if tickets_raw is not None:
        tickets = []
        for row in tickets_raw:
            group, (count,) = split(row)
            tickets.append((group, int(count)))
    returns: list[ReturnRow] = []
    for row in found[0]:
        group, (sku, reason, count, units) = split(row)
        returns.append((group, _text(sku), _text(reason), int(count), int(units or 0)))
    refunds: list[RefundRow] = []
    for row in found[1]:
        group, (bucket, count, late) = split(row)
        refunds.append((group, int(bucket), int(count), int(late)))
    repairs: list[RepairRow] = []
    for row in found[2]:
        group, (part, bucket, count, repeats) = split(row)
        repairs.append((group, _text(part), int(bucket), int(count), int(repeats)))
    complaints: list[ComplaintRow] = []
    for row in found[3]:
        group, (count,) = split(row)
        if count:  # without GROUP BY, no complaints is a row of 0
            complaints.append((group, int(count)))
    if tickets is not None:
        tickets = [(group, count) for group, count in tickets if count]
    return CaseRows(tickets, returns, refunds, repairs, complaints)


def case_sqlite_dialect(execute: Callable[[str], object]) -> Dialect | None:
    """The ticket metrics' SQLite dialect (:func:`~aftersales.insights._ticket_sql.
    sqlite_dialect`), or None when this build also lacks the JSON functions."""
    dialect = sqlite_dialect(execute)
    if dialect is None:
        return None
    try:
        execute("SELECT json_extract('{\"a\": 1}', '$.a')")
    except Exception:  # noqa: BLE001 - each driver words "no such function" its own way
        return None
    return dialect


def sqlite_tally(store: SQLiteStore, plan: CasePlan) -> CaseRows | None:
    """The rows from SQLiteStore's connection, read under its lock in one read
    transaction (every statement sees the same commits); None without ``log2`` or JSON."""
    recorder = store.recorder

    def read(_records: object) -> CaseRows | None:
        conn: sqlite3.Connection = recorder._conn
        dialect = case_sqlite_dialect(conn.execute)
        if dialect is None:
            return None
        began = not conn.in_transaction
        if began:
            conn.execute("BEGIN")
        try:
            results = [
                [tuple(row) for row in conn.execute(sql, params).fetchall()]
                for sql, params in statements(plan, dialect)
            ]
        finally:
            if began:
                conn.execute("COMMIT")
        return _rows(plan, results)

    return recorder.reading(read)


def sqlalchemy_tally(store: SQLAlchemyStore, plan: CasePlan) -> CaseRows | None:
    """The rows from SQLAlchemyStore's engine, every statement on one connection (in one
    REPEATABLE READ transaction on PostgreSQL and MariaDB, so they see the same commits);
    None on an SQLite build without ``log2`` or JSON."""
    import sqlalchemy as sa

    try:
        with store.engine.connect() as conn:
            found = DIALECTS.get(store.dialect)
            if store.dialect == "sqlite":
                found = case_sqlite_dialect(lambda sql: conn.execute(sa.text(sql)))
                conn.rollback()
            else:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            if found is None:
                return None
            results = [
                [tuple(row) for row in conn.execute(sa.text(sql), params).all()]
                for sql, params in statements(plan, found)
            ]
            conn.rollback()
    except sa.exc.SQLAlchemyError as error:
        raise StorageError(f"{store.dialect}: case metrics failed: {error}") from error
    return _rows(plan, results)
