"""The ticket metrics' two statements (cohort and backlog), rendered per SQL dialect, and
how they run on SQLiteStore's connection and on SQLAlchemyStore's engine.

Each statement is one GROUP BY over ``tickets`` with conditional aggregates, returning
the rows of :mod:`aftersales.insights._ticket_memory` (a few hundred at most, never a row
per ticket). Durations are computed from the fixed-width UTC text in exact integer
microseconds (SQLite: ``unixepoch`` or ``strftime('%s')`` and the six fraction digits; PostgreSQL:
``EXTRACT(EPOCH ...)`` of the difference of the instants as ``timestamptz``; MariaDB and
MySQL: ``TIMESTAMPDIFF(MICROSECOND, ...)`` of the instants as ``DATETIME(6)``), then
bucketed by the same formula as :func:`~aftersales.insights._ticket_memory.duration_bucket`.
The statements are text with named parameters, run through ``sqlalchemy.text`` on
SQLAlchemyStore, so each metric is written once for every database.

A ticket is in the backlog at an instant by its columns, and, if it was ever reopened (a
reopening clears ``resolved_at``), by its last transition by then: a correlated subquery
on the events' key ``(subject_id, sequence)``, run for the reopened tickets the columns
call open only (see :func:`~aftersales.insights._ticket_memory.open_at`).

A ticket's escalation level is no column: it is read from the ticket's JSON record, by a
third statement run only when the plan asks (:func:`escalation_statement`), as it reads
every row of the period where the other two read an index.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aftersales.exceptions import StorageError
from aftersales.insights._ticket_memory import (
    BUCKETS_PER_DOUBLING,
    FINISHED_STATES,
    NOT_TRANSITIONS,
    NUDGE,
    SCORES,
    WAITING_ON_CUSTOMER,
    BacklogRow,
    CohortRow,
    EscalationRow,
    Group,
    Plan,
    Rows,
)
from aftersales.storage import SQLiteStore
from aftersales.storage._codec import ts

if TYPE_CHECKING:  # the sql extra may be absent
    from aftersales.storage.sqlalchemy import SQLAlchemyStore

Statement = tuple[str, dict[str, Any]]


class Dialect:
    """How one database computes a duration's bucket from two instants' text: SQLite's
    own (with ``unixepoch``, SQLite 3.38 and later, or else the slower ``strftime``)."""

    name = "sqlite"
    fence = ""
    """Appended to a derived table's SELECT to keep the planner from merging it into the
    statement around it (SQLite keeps a CROSS JOIN's order as written)."""
    settings: tuple[str, ...] = ()
    """Statements run first in the read transaction (settings for it alone)."""

    def __init__(self, epoch: str = "unixepoch({})") -> None:
        self._epoch = epoch

    def micros(self, later: str, earlier: str) -> str:
        """The exact microseconds from ``earlier`` to ``later`` (both not NULL)."""
        return f"({self._epoch_micros(later)} - {self._epoch_micros(earlier)})"

    def _epoch_micros(self, column: str) -> str:
        # whole seconds from the text without its fraction: SQLite parses a time to the
        # millisecond, rounding, so '...:07.999700' would count as second 8 plus .9997
        seconds = self._epoch.format(f"substr({column}, 1, 19)")
        return f"({seconds} * 1000000 + CAST(substr({column}, 21, 6) AS INTEGER))"

    def seconds(self, micros: str) -> str:
        """Whole seconds of a duration, a negative one as 0."""
        return f"(max({micros}, 0) / 1000000)"

    def bucket(self, seconds: str) -> str:
        return f"CAST(floor({BUCKETS_PER_DOUBLING} * log2({seconds} + 1) + {NUDGE!r}) AS INTEGER)"

    def json_text(self, data: str, key: str) -> str:
        """The text at top-level ``key`` of the JSON text ``data`` (NULL where absent or
        null)."""
        return f"json_extract({data}, '$.{key}')"

    def integer(self, text: str) -> str:
        """``text`` (a number, or its text) as an integer."""
        return f"CAST({text} AS INTEGER)"


STRFTIME = "CAST(strftime('%s', {}) AS INTEGER)"
"""Seconds since the epoch on an SQLite older than 3.38, which lacks ``unixepoch``."""


class PostgreSQL(Dialect):
    name = "postgresql"
    fence = " OFFSET 0"
    # JIT compiling a report's expressions took 2 of its 3 seconds at a million tickets
    settings = ("SET LOCAL jit = off",)

    def micros(self, later: str, earlier: str) -> str:
        return (
            f"CAST(EXTRACT(EPOCH FROM (CAST({later} AS TIMESTAMPTZ)"
            f" - CAST({earlier} AS TIMESTAMPTZ))) * 1000000 AS BIGINT)"
        )

    def seconds(self, micros: str) -> str:
        return f"(GREATEST({micros}, 0) / 1000000)"

    def bucket(self, seconds: str) -> str:
        double = "DOUBLE PRECISION"
        return (
            f"CAST(FLOOR({BUCKETS_PER_DOUBLING} * LN(CAST({seconds} + 1 AS {double}))"
            f" / LN(CAST(2 AS {double})) + CAST({NUDGE!r} AS {double})) AS INTEGER)"
        )

    def json_text(self, data: str, key: str) -> str:
        # the records' JSON is kept as text: parsed here, per row read
        return f"(CAST({data} AS JSON) ->> '{key}')"


class MariaDB(Dialect):
    name = "mariadb"

    def micros(self, later: str, earlier: str) -> str:
        return (
            f"TIMESTAMPDIFF(MICROSECOND, CAST(SUBSTRING({earlier}, 1, 26) AS DATETIME(6)),"
            f" CAST(SUBSTRING({later}, 1, 26) AS DATETIME(6)))"
        )

    def seconds(self, micros: str) -> str:
        return f"(GREATEST({micros}, 0) DIV 1000000)"

    def bucket(self, seconds: str) -> str:
        return f"FLOOR({BUCKETS_PER_DOUBLING} * LOG2({seconds} + 1) + {NUDGE!r})"

    def json_text(self, data: str, key: str) -> str:
        return f"JSON_VALUE({data}, '$.{key}')"

    def integer(self, text: str) -> str:
        return f"CAST({text} AS SIGNED)"


DIALECTS: dict[str, Dialect] = {
    "postgresql": PostgreSQL(),
    "mariadb": MariaDB(),
    "mysql": MariaDB(),
}


TIER = "tier"
"""The grouping and filter column that is not the ticket's: its customer's tier, in the
customer's JSON record, read through a join (see :func:`_source`)."""


def _column(name: str, dialect: Dialect | None) -> str:
    """A grouping or filter column's expression: the ticket's column, or the tier of its
    customer (``c``, joined by :func:`_source`)."""
    if name == TIER:
        return (dialect or Dialect()).json_text("c.data", TIER)
    return f"t.{name}"


def _source(plan: Plan) -> str:
    """The tickets (``t``), joined with their customers (``c``) when the plan groups or
    filters by tier."""
    if plan.group_column == TIER or any(name == TIER for name, _ in plan.filters):
        return "tickets t LEFT JOIN customers c ON c.tenant = t.tenant AND c.id = t.customer_id"
    return "tickets t"


def _filters(plan: Plan, params: dict[str, Any], dialect: Dialect | None = None) -> str:
    """`` AND column IN (...)`` for each filter (a tier filter reads the customer ``c``:
    the statement's FROM must be :func:`_source`'s)."""
    clauses = []
    for column, values in plan.filters:
        names = []
        for position, value in enumerate(values):
            name = f"{column}_{position}"
            params[name] = value
            names.append(f":{name}")
        clauses.append(f" AND {_column(column, dialect)} IN ({', '.join(names)})")
    return "".join(clauses)


def _grouped(columns: Sequence[str], aggregates: Sequence[str], rest: str) -> str:
    """``SELECT columns, aggregates rest GROUP BY columns`` (never empty: each statement
    groups by a bucket at least)."""
    select = ",\n  ".join((*columns, *aggregates))
    positions = ", ".join(str(i + 1) for i in range(len(columns)))
    return f"SELECT\n  {select}\n{rest}\nGROUP BY {positions}"


def _duration_bucket(dialect: Dialect, later: str) -> str:
    seconds = dialect.seconds(dialect.micros(f"t.{later}", "t.created_at"))
    return f"CASE WHEN t.{later} IS NULL THEN NULL ELSE {dialect.bucket(seconds)} END"


def cohort_statement(plan: Plan, dialect: Dialect) -> Statement:
    """Tickets created in the period (and the previous one), per group, period and
    duration buckets, with the reopened and first-contact resolutions among them."""
    params, columns, rest = _cohort(plan, dialect)
    columns += [
        _duration_bucket(dialect, "first_response_at"),
        _duration_bucket(dialect, "resolved_at"),
    ]
    resolved = "t.resolved_at IS NOT NULL"
    reopened = f"{resolved} AND COALESCE(t.reopen_count, 0) > 0"
    first_contact = (
        f"{resolved} AND COALESCE(t.reopen_count, 0) = 0 AND NOT EXISTS ("
        "SELECT 1 FROM events e WHERE e.tenant = t.tenant AND e.subject_id = t.id"
        # a literal, not a parameter: an index on the events of that state, partial on
        # this very condition, can then answer from the index alone
        f" AND e.to_state = '{WAITING_ON_CUSTOMER}')"
    )
    aggregates = [
        "COUNT(*)",
        f"SUM(CASE WHEN {reopened} THEN 1 ELSE 0 END)",
        f"SUM(CASE WHEN {first_contact} THEN 1 ELSE 0 END)",
        *(f"SUM(CASE WHEN t.satisfaction = {score} THEN 1 ELSE 0 END)" for score in SCORES),
    ]
    return _grouped(columns, aggregates, rest), params


def _cohort(plan: Plan, dialect: Dialect) -> tuple[dict[str, Any], list[str], str]:
    """What the cohort's statements share: their parameters, the keys they group by (the
    trend slice or the group, then the period when comparing) and their FROM and WHERE."""
    params: dict[str, Any] = {
        "cohort_from": ts(plan.cohort_from),
        "created_to": ts(plan.created_to),
    }
    columns = []
    if plan.slice_ends:
        columns.append(_slice_ladder(plan, params))
    elif plan.group_column is not None:
        columns.append(_column(plan.group_column, dialect))
    if plan.compare:
        params["period_from"] = ts(plan.period_from)
        columns.append("CASE WHEN t.created_at >= :period_from THEN 0 ELSE 1 END")
    rest = (
        f"FROM {_source(plan)}\n"
        "WHERE t.tenant = :tenant AND t.created_at >= :cohort_from AND t.created_at < :created_to"
        + _filters(plan, params, dialect)
    )
    return params, columns, rest


ESCALATION_LEVEL = "escalation_level"
"""The key of ``Ticket.escalation_level`` in a ticket's JSON record."""


def escalation_statement(plan: Plan, dialect: Dialect) -> Statement:
    """The tickets the cohort statement counts, per group, period and escalation level
    (0 for the tickets never escalated)."""
    params, columns, rest = _cohort(plan, dialect)
    # level 0 is grouped too (a row per group and period) rather than left out by a
    # WHERE on the level: the JSON is then read once per ticket, not twice
    level = dialect.integer(dialect.json_text("t.data", ESCALATION_LEVEL))
    return _grouped([*columns, f"COALESCE({level}, 0)"], ["COUNT(*)"], rest), params


def _slice_ladder(plan: Plan, params: dict[str, Any]) -> str:
    """The trend slice of a ticket of the period: the number of slice ends at or before
    its creation."""
    whens = []
    for index, end in enumerate(plan.slice_ends[:-1]):
        params[f"slice_{index}"] = ts(end)
        whens.append(f"WHEN t.created_at < :slice_{index} THEN {index}")
    last = len(plan.slice_ends) - 1
    return f"CASE {' '.join(whens)} ELSE {last} END" if whens else str(last)


def _literals(values: Sequence[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _open_at(at: str, ticket: str = "t") -> str:
    """The ticket (an alias with ``id``, ``created_at``, ``resolved_at``, ``closed_at``
    and ``reopen_count``) open at ``at``: by its columns, and, reopened, by its last
    transition by then (none: still in its first state, an open one). The subquery comes
    last, so a database that stops at the first false term reads no events for the
    tickets the columns settle."""
    t = ticket
    last_state = (
        "(SELECT e.to_state FROM events e"
        f" WHERE e.tenant = :tenant AND e.subject_id = {t}.id AND e.at <= {at}"
        # literals, like the states below: the same text whatever the instant
        f" AND e.trigger NOT IN ({_literals(NOT_TRANSITIONS)})"
        " ORDER BY e.sequence DESC LIMIT 1)"
    )
    return (
        f"({t}.created_at < {at} AND ({t}.resolved_at IS NULL OR {t}.resolved_at > {at})"
        f" AND ({t}.closed_at IS NULL OR {t}.closed_at > {at})"
        f" AND (COALESCE({t}.reopen_count, 0) = 0"
        f" OR COALESCE({last_state}, '') NOT IN ({_literals(FINISHED_STATES)})))"
    )


def trend_backlog_statement(plan: Plan, dialect: Dialect) -> Statement:
    """Tickets open at each trend slice's end, per slice and ageing bucket there: one pass
    over the tickets open at some slice end, each matched with the slice ends it is open
    at (a derived table of one row per slice)."""
    params: dict[str, Any] = {}
    slices = []
    for index, end in enumerate(plan.slice_ends):
        params[f"end_{index}"] = ts(end)
        limits = []
        for bucket, limit in enumerate(plan.age_limits(index)):
            params[f"age_{index}_{bucket}"] = ts(limit)
            limits.append(f":age_{index}_{bucket} AS age_{bucket}")
        slices.append(f"SELECT {index} AS slice, :end_{index} AS ends_at, {', '.join(limits)}")
    buckets = len(plan.age_limits(0))
    ladder = " ".join(f"WHEN o.created_at > s.age_{b} THEN {b}" for b in range(buckets))
    last = len(plan.slice_ends) - 1
    # The tickets open at some slice end, read once (a derived table the planner keeps
    # apart, so it never reads the tickets once per slice), then matched with the ends.
    # A ticket open at no slice end is left out first, by its columns: it is open at some
    # end only if they call it open at the first end after its creation (once they say
    # finished, it stays so: a reopening clears resolved_at; a closed ticket stays closed).
    next_end = " ".join(
        f"WHEN t.created_at < :end_{index} THEN :end_{index}" for index in range(last + 1)
    )
    candidates = (
        "SELECT t.id, t.created_at, t.resolved_at, t.closed_at, t.reopen_count"
        f" FROM {_source(plan)}"
        f" WHERE t.tenant = :tenant AND {_open_between(':end_0', f':end_{last}')}"
        + _filters(plan, params, dialect)
        + f" AND {_finished_after(f'CASE {next_end} END')}"
        + dialect.fence
    )
    rest = (
        f"FROM ({candidates}) o CROSS JOIN (\n  " + "\n  UNION ALL ".join(slices) + "\n) s\n"
        f"WHERE {_open_at('s.ends_at', 'o')}"
    )
    columns = ["s.slice", f"CASE {ladder} ELSE {buckets} END"]
    return _grouped(columns, ["COUNT(*)"], rest), params


def _finished_after(at: str) -> str:
    """A ticket neither resolved nor closed by ``at``."""
    return (
        f"(t.resolved_at IS NULL OR t.resolved_at > {at})"
        f" AND (t.closed_at IS NULL OR t.closed_at > {at})"
    )


def _open_between(first: str, last: str) -> str:
    """A ticket open at some instant from ``first`` to ``last``."""
    return (
        f"t.created_at < {last} AND (t.resolved_at IS NULL OR t.resolved_at > {first})"
        f" AND (t.closed_at IS NULL OR t.closed_at > {first})"
    )


def backlog_statement(plan: Plan, dialect: Dialect) -> Statement:
    """Tickets open at each ``as_of``, per group and ageing bucket at each (in a trend:
    at each slice's end, per slice)."""
    if plan.slice_ends:
        return trend_backlog_statement(plan, dialect)
    params: dict[str, Any] = {}
    opens = []
    ages = []
    for period, at in enumerate(plan.as_of):
        params[f"as_of_{period}"] = ts(at)
        is_open = _open_at(f":as_of_{period}")
        opens.append(is_open)
        whens = []
        for bucket, limit in enumerate(plan.age_limits(period)):
            params[f"age_{period}_{bucket}"] = ts(limit)
            whens.append(f"WHEN t.created_at > :age_{period}_{bucket} THEN {bucket}")
        ladder = f"CASE {' '.join(whens)} ELSE {len(whens)} END"
        ages.append(f"CASE WHEN {is_open} THEN {ladder} ELSE NULL END")
    columns = [] if plan.group_column is None else [_column(plan.group_column, dialect)]
    if not plan.compare:
        columns += [ages[0]]
    else:
        columns += ages
    rest = (
        f"FROM {_source(plan)}\n"
        "WHERE t.tenant = :tenant AND t.created_at < :as_of_0"
        + _filters(plan, params, dialect)
        + f" AND ({' OR '.join(opens)})"
    )
    return _grouped(columns, ["COUNT(*)"], rest), params


def _group(value: Any, sliced: bool) -> Group:
    """A row's group: a trend's slice number as an int (some drivers give decimals)."""
    return int(value) if sliced else value


def _rows(
    plan: Plan,
    raw: Sequence[Sequence[Any]],
    backlog: Sequence[Sequence[Any]],
    levels: Sequence[Sequence[Any]] = (),
) -> Rows:
    """The statements' rows as the tallies (group and period put back where the
    statement left them out; the databases' decimals made ints; level 0 left out)."""
    sliced = bool(plan.slice_ends)
    grouped, compare = plan.group_column is not None or sliced, plan.compare
    cohort_rows: list[CohortRow] = []
    for row in raw:
        values = list(row)
        group = _group(values.pop(0), sliced) if grouped else None
        period = int(values.pop(0)) if compare else 0
        first, resolution, count, reopened, first_contact, *scores = values
        one, two, three, four, five = (int(n) for n in scores)
        cohort_rows.append(
            (
                group,
                period,
                None if first is None else int(first),
                None if resolution is None else int(resolution),
                int(count),
                int(reopened),
                int(first_contact),
                (one, two, three, four, five),
            )
        )
    backlog_rows: list[BacklogRow] = []
    for row in backlog:
        values = list(row)
        group = _group(values.pop(0), sliced) if grouped else None
        now = values.pop(0)
        before = values.pop(0) if compare else None
        backlog_rows.append(
            (
                group,
                None if now is None else int(now),
                None if before is None else int(before),
                int(values[0]),
            )
        )
    escalation_rows: list[EscalationRow] = []
    for row in levels:
        values = list(row)
        group = _group(values.pop(0), sliced) if grouped else None
        period = int(values.pop(0)) if compare else 0
        level, count = int(values[0]), int(values[1])
        if level > 0:
            escalation_rows.append((group, period, level, count))
    return cohort_rows, backlog_rows, escalation_rows


def sqlite_dialect(execute: Callable[[str], object]) -> Dialect | None:
    """The SQLite dialect this build can run: None without the math functions (``log2``,
    absent from builds without ``SQLITE_ENABLE_MATH_FUNCTIONS``: counted in Python
    instead), ``strftime`` before SQLite 3.38 (no ``unixepoch``)."""
    try:
        execute("SELECT log2(2)")
    except Exception:  # noqa: BLE001 - each driver words "no such function" its own way
        return None
    try:
        execute("SELECT unixepoch('2000-01-01')")
    except Exception:  # noqa: BLE001
        return Dialect(STRFTIME)
    return Dialect()


def scoped(statements: Sequence[Statement], tenant: str) -> list[Statement]:
    """The statements with the store's tenant, which each names as ``:tenant`` (every
    table they read is the tenant's only)."""
    return [(sql, {**params, "tenant": tenant}) for sql, params in statements]


def _statements(plan: Plan, dialect: Dialect) -> list[Statement]:
    """The cohort and backlog statements, and the escalation one when the plan asks."""
    statements = [cohort_statement(plan, dialect), backlog_statement(plan, dialect)]
    if plan.escalations:
        statements.append(escalation_statement(plan, dialect))
    return statements


def sqlite_tally(store: SQLiteStore, plan: Plan) -> Rows | None:
    """The rows from SQLiteStore's connection, read under its lock in one read
    transaction (the statements see the same commits); None without ``log2``."""
    recorder = store.recorder

    def read(_records: object) -> Rows | None:
        conn: sqlite3.Connection = recorder._conn
        dialect = sqlite_dialect(conn.execute)
        if dialect is None:
            return None
        statements = scoped(_statements(plan, dialect), store.tenant)
        began = not conn.in_transaction
        if began:
            conn.execute("BEGIN")
        try:
            answers = [
                [tuple(r) for r in conn.execute(sql, params).fetchall()]
                for sql, params in statements
            ]
        finally:
            if began:
                conn.execute("COMMIT")
        return _rows(plan, *answers)

    return recorder.reading(read)


def sqlalchemy_tally(store: SQLAlchemyStore, plan: Plan) -> Rows | None:
    """The rows from SQLAlchemyStore's engine, the statements on one connection (in one
    REPEATABLE READ transaction on PostgreSQL and MariaDB, so they see the same commits);
    None on an SQLite build without ``log2``. (The store refuses databases other than
    those of :data:`DIALECTS`.)"""
    import sqlalchemy as sa

    try:
        with store.engine.connect() as conn:
            found = DIALECTS.get(store.dialect)
            if store.dialect == "sqlite":
                found = sqlite_dialect(lambda sql: conn.execute(sa.text(sql)))
                conn.rollback()
            else:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            if found is None:
                return None
            statements = scoped(_statements(plan, found), store.tenant)
            for setting in found.settings:
                conn.execute(sa.text(setting))
            answers = [
                [tuple(r) for r in conn.execute(sa.text(sql), params).all()]
                for sql, params in statements
            ]
            conn.rollback()
    except sa.exc.SQLAlchemyError as error:
        raise StorageError(f"{store.dialect}: ticket metrics failed: {error}") from error
    return _rows(plan, *answers)
