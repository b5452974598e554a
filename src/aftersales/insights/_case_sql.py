"""The case metrics' statements (tickets, returns, refunds, repairs, complaints), rendered
per SQL dialect, and how they run on SQLiteStore's connection and on SQLAlchemyStore's
engine.

Each statement is one GROUP BY over ``cases`` (joined to each case's ticket for its
channel and, when the case names none, its product) or over ``tickets``, returning the
rows of :mod:`aftersales.insights._case_memory`: a few per group, never one per case.
Durations are bucketed by the ticket metrics' dialects
(:mod:`aftersales.insights._ticket_sql`). The one value not in a column, the units a
return claims per line, is summed from the case's JSON (``json_each`` on SQLite,
``jsonb_array_elements`` on PostgreSQL, ``JSON_TABLE`` on MariaDB) in the returns'
statement, a UNION ALL of the returns per reason and their units per SKU. The
statements are text with named parameters, run through ``sqlalchemy.text`` on
SQLAlchemyStore, so each metric is written once for every database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aftersales.exceptions import StorageError
from aftersales.insights._case_memory import (
    NOT_REPAIRED,
    NOT_RETURNED,
    CasePlan,
    CaseRows,
    ComplaintRow,
    RefundRow,
    RepairRow,
    ReturnRow,
    TicketCountRow,
    UnitRow,
)
from aftersales.insights._ticket_sql import DIALECTS, Dialect, scoped, sqlite_dialect
from aftersales.storage import SQLiteStore
from aftersales.storage._codec import ts

if TYPE_CHECKING:  # the sql extra may be absent
    from aftersales.storage.sqlalchemy import SQLAlchemyStore

Statement = tuple[str, dict[str, Any]]

_EXACT_ORDER = {"postgresql": '{} COLLATE "C"'}
"""How an id is ordered code point by code point, as Python orders it (SQLite's default
and MariaDB's columns, ``utf8mb4_nopad_bin``, do so already)."""


def _first_return_sku(dialect: Dialect) -> str:
    """The SKU of the first return of ticket ``t`` naming one (created first, then the
    smallest id)."""
    first_id = _EXACT_ORDER.get(dialect.name, "{}").format("r.id")
    return (
        "(SELECT r.sku FROM cases r"
        " WHERE r.tenant = t.tenant AND r.ticket_id = t.id AND r.kind = 'return'"
        f" AND r.sku IS NOT NULL ORDER BY r.created_at, {first_id} LIMIT 1)"
    )


def ticket_product(dialect: Dialect) -> str:
    """The product a ticket ``t`` is about: its order line's SKU, else the SKU of its
    first return naming one, so that a ticket and the returns it led to count under the
    same product."""
    return f"COALESCE(t.sku, {_first_return_sku(dialect)})"


def case_columns(dialect: Dialect) -> dict[str, str]:
    """What a case is grouped and filtered by: its first line's SKU (else its ticket's
    product, :func:`ticket_product`), its first line's product category (else its
    parent's: a refund case's lines carry no policy facts, the return it pays has them),
    its ticket's channel."""
    return {
        "sku": f"COALESCE(c.sku, t.sku, {_first_return_sku(dialect)})",
        "category": "COALESCE(c.product_category, pc.product_category)",
        "channel": "t.channel",
    }


def ticket_columns(dialect: Dialect) -> dict[str, str]:
    return {"sku": ticket_product(dialect), "channel": "t.channel"}


def _cases(plan: CasePlan, lines: str = "") -> str:
    """The cases (with their lines' rows when ``lines`` joins them) with their tickets,
    and their parents when the category counts."""
    joined = (
        f"FROM cases c{lines} LEFT JOIN tickets t ON t.tenant = c.tenant AND t.id = c.ticket_id"
    )
    if plan.group == "category" or plan.categories is not None:
        joined += " LEFT JOIN cases pc ON pc.tenant = c.tenant AND pc.id = c.parent_id"
    return joined


_LINES = {
    "sqlite": (
        " JOIN json_each(c.data, '$.lines') l",
        "json_extract(l.value, '$.sku')",
        "json_extract(l.value, '$.quantity')",
    ),
    "postgresql": (
        " CROSS JOIN LATERAL jsonb_array_elements(CAST(c.data AS JSONB) -> 'lines') AS l(value)",
        "(l.value ->> 'sku')",
        "CAST(l.value ->> 'quantity' AS INTEGER)",
    ),
    "mariadb": (
        " CROSS JOIN JSON_TABLE(c.data, '$.lines[*]' COLUMNS ("
        "sku VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin PATH '$.sku',"
        " quantity INT PATH '$.quantity')) AS l",
        "l.sku",
        "l.quantity",
    ),
}
"""Per dialect: the join giving a row ``l`` per line of a case's ``data`` JSON, a line's
SKU and its units. (On MariaDB the JSON's text would have the connection's collation,
``utf8mb4_general_ci``, which ignores case: the SKU is read with the tables' exact
collation, so that "kettle" and "KETTLE" are two products as everywhere else.)"""

_NOT_REPAIRED = ", ".join(f"'{status}'" for status in NOT_REPAIRED)
_NOT_RETURNED = ", ".join(f"'{status}'" for status in NOT_RETURNED)


def _repaired(dialect: Dialect, case: str) -> str:
    """The repair case ``case`` did not end without a repair (see :data:`NOT_REPAIRED`):
    neither in such a state nor taken back for a refund (``return_case_id``)."""
    return (
        f"{case}.status NOT IN ({_NOT_REPAIRED})"
        f" AND {dialect.json_text(f'{case}.data', 'return_case_id')} IS NULL"
    )


def _in(expression: str, name: str, values: Sequence[str], params: dict[str, Any]) -> str:
    names = []
    for position, value in enumerate(values):
        params[f"{name}_{position}"] = value
        names.append(f":{name}_{position}")
    return f" AND {expression} IN ({', '.join(names)})"


def _case_filters(
    plan: CasePlan, params: dict[str, Any], columns: dict[str, str], sku: bool = True
) -> str:
    """The plan's filters on the case ``c`` (its SKU's left out when ``sku`` is False)."""
    clauses = ""
    for column, values in (
        ("sku", plan.skus if sku else None),
        ("category", plan.categories),
        ("channel", plan.channels),
    ):
        if values is not None:
            clauses += _in(columns[column], column, values, params)
    return clauses


def _grouped(
    columns: Sequence[str], aggregates: Sequence[str], rest: str, *, kind: str = ""
) -> str:
    """``SELECT [kind,] columns, aggregates rest GROUP BY columns`` (no GROUP BY without
    columns); ``kind`` is a constant telling a UNION's parts apart."""
    first = [kind] if kind else []
    select = ",\n  ".join((*first, *columns, *aggregates))
    sql = f"SELECT\n  {select}\n{rest}"
    if columns:
        sql += f"\nGROUP BY {', '.join(str(i + 1 + len(first)) for i in range(len(columns)))}"
    return sql


def _period(plan: CasePlan) -> dict[str, Any]:
    return {"period_from": ts(plan.period_from), "period_to": ts(plan.period_to)}


def _group(plan: CasePlan, columns: dict[str, str]) -> list[str]:
    return [] if plan.group is None else [columns[plan.group]]


def _bucket(dialect: Dialect, later: str) -> str:
    return dialect.bucket(dialect.seconds(dialect.micros(later, "c.created_at")))


def tickets_statement(plan: CasePlan, dialect: Dialect) -> Statement:
    """Tickets created in the period, per group, but those merged into another."""
    params = _period(plan)
    columns = ticket_columns(dialect)
    where = (
        "WHERE t.tenant = :tenant AND t.created_at >= :period_from AND t.created_at < :period_to"
        " AND t.merged_into IS NULL"
    )
    for column, values in (("sku", plan.skus), ("channel", plan.channels)):
        if values is not None:
            where += _in(columns[column], column, values, params)
    return _grouped(_group(plan, columns), ["COUNT(*)"], f"FROM tickets t\n{where}"), params


def returns_statement(plan: CasePlan, dialect: Dialect) -> Statement:
    """Return cases created in the period, per group and reason (rows of kind 0), and
    the units they claim, but a refused or cancelled return's, per group and each line's
    SKU (kind 1)."""
    params = _period(plan)
    columns = case_columns(dialect)
    created = (
        "WHERE c.tenant = :tenant AND c.kind = 'return'"
        " AND c.created_at >= :period_from AND c.created_at < :period_to"
    )
    returns = _grouped(
        [*_group(plan, columns), "c.reason"],
        ["COUNT(*)"],
        f"{_cases(plan)}\n{created}{_case_filters(plan, params, columns)}",
        kind="0",
    )
    join, line_sku, quantity = _LINES[dialect.name]
    sku = f"COALESCE({line_sku}, {columns['sku']})"
    unit_columns = {**columns, "sku": sku}
    where = (
        f"{created} AND c.status NOT IN ({_NOT_RETURNED})"
        + _case_filters(plan, params, columns, sku=False)
        + ("" if plan.skus is None else _in(sku, "sku", plan.skus, params))
    )
    units = _grouped(
        [*_group(plan, unit_columns), sku],
        [f"SUM({quantity})"],
        f"{_cases(plan, join)}\n{where}",
        kind="1",
    )
    return f"{returns}\nUNION ALL\n{units}", params


def refunds_statement(plan: CasePlan, dialect: Dialect) -> Statement:
    """Refund cases paid in the period, per group and lead-time bucket, with the late."""
    params = _period(plan)
    columns = case_columns(dialect)
    rest = (
        f"{_cases(plan)}\n"
        # a refund paid before the period's end was created before it: the bound lets the
        # (kind, created_at) index narrow the scan
        "WHERE c.tenant = :tenant AND c.kind = 'refund' AND c.created_at < :period_to"
        " AND c.paid_at >= :period_from AND c.paid_at < :period_to"
        + _case_filters(plan, params, columns)
    )
    group = [*_group(plan, columns), _bucket(dialect, "c.paid_at")]
    late = "SUM(CASE WHEN c.late = 1 THEN 1 ELSE 0 END)"
    return _grouped(group, ["COUNT(*)", late], rest), params


def repairs_statement(plan: CasePlan, dialect: Dialect) -> Statement:
    """Repair cases completed in the period, per group, part and turnaround bucket, with
    the repeat failures among them: failed in the case itself, or following an earlier
    repair of their serial and SKU within the window."""
    params = _period(plan)
    params["repeat_window"] = plan.repeat_window_micros
    columns = case_columns(dialect)
    back = "COALESCE(p.handed_back_at, p.closed_at)"
    # The earlier repair's kind is tested inside a CASE: as a plain equality it draws
    # the planner to the (kind, created_at) index, a scan of every repair per repair,
    # where the serial's index finds the serial's few cases.
    repeated = (
        "c.failures > 0 OR EXISTS (SELECT 1 FROM cases p"
        " WHERE p.tenant = c.tenant AND p.serial = c.serial"
        " AND CASE WHEN p.kind = 'repair' THEN 1 ELSE 0 END = 1"
        f" AND p.id <> c.id AND {_repaired(dialect, 'p')}"
        " AND (p.sku = c.sku OR p.sku IS NULL OR c.sku IS NULL)"
        f" AND {back} <= c.created_at"
        f" AND {dialect.micros('c.created_at', back)} <= :repeat_window)"
    )
    rest = (
        f"{_cases(plan)}\n"
        "WHERE c.tenant = :tenant AND c.kind = 'repair' AND c.created_at < :period_to"
        " AND c.closed_at >= :period_from AND c.closed_at < :period_to"
        f" AND {_repaired(dialect, 'c')}" + _case_filters(plan, params, columns)
    )
    group = [*_group(plan, columns), "c.part", _bucket(dialect, "c.closed_at")]
    aggregates = ["COUNT(*)", f"SUM(CASE WHEN {repeated} THEN 1 ELSE 0 END)"]
    return _grouped(group, aggregates, rest), params


def complaints_statement(plan: CasePlan, dialect: Dialect) -> Statement:
    """Complaint cases created in the period, per group."""
    params = _period(plan)
    columns = case_columns(dialect)
    rest = (
        f"{_cases(plan)}\n"
        "WHERE c.tenant = :tenant AND c.kind = 'complaint' AND c.created_at >= :period_from"
        " AND c.created_at < :period_to" + _case_filters(plan, params, columns)
    )
    return _grouped(_group(plan, columns), ["COUNT(*)"], rest), params


def statements(plan: CasePlan, dialect: Dialect) -> list[Statement]:
    """The plan's statements, in :class:`CaseRows` order (the returns' and units' one
    statement; no tickets one when the plan counts no tickets)."""
    found = [
        returns_statement(plan, dialect),
        refunds_statement(plan, dialect),
        repairs_statement(plan, dialect),
        complaints_statement(plan, dialect),
    ]
    if plan.counts_tickets:
        found.insert(0, tickets_statement(plan, dialect))
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
            if count:  # without GROUP BY, no tickets is a row of 0
                tickets.append((group, int(count)))
    returns: list[ReturnRow] = []
    units: list[UnitRow] = []
    for kind, *row in found[0]:
        group, (label, count) = split(row)
        if int(kind) == 0:
            if count:
                returns.append((group, _text(label), int(count)))
        elif count is not None:  # without GROUP BY, no units is a row of NULL
            units.append((group, _text(label), int(count)))
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
    return CaseRows(tickets, returns, units, refunds, repairs, complaints)


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
                for sql, params in scoped(statements(plan, dialect), store.tenant)
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
            # PostgreSQL's JIT compiled the returns' statement for 380 of its 390 ms on a
            # year of 10,000 tickets (a line per return, estimated at a hundred)
            for setting in found.settings:
                conn.execute(sa.text(setting))
            results = [
                [tuple(row) for row in conn.execute(sa.text(sql), params).all()]
                for sql, params in scoped(statements(plan, found), store.tenant)
            ]
            conn.rollback()
    except sa.exc.SQLAlchemyError as error:
        raise StorageError(f"{store.dialect}: case metrics failed: {error}") from error
    return _rows(plan, results)
