"""The workload and next-response statements, rendered per SQL dialect, and how they run
on SQLiteStore's connection and on SQLAlchemyStore's engine.

Four statements, one per metric family, each returning the rows of
:mod:`aftersales.insights._workload_memory` (a row per group and bucket, never a row per
ticket):

- *logged*: the time entries (``log_time`` events) of the period (by the partial index
  on ``events.at`` where ``logged_seconds`` is set), a ticket's and its cases' joined to
  the ticket, summed per group and ticket, then counted per group and handling-time
  bucket;
- *open*: the tickets with an assignee open at the period's end (their last transition
  by then entered no finished state), per group;
- *resolved*: the tickets entering ``resolved`` by a workflow trigger in the period, per
  group (each ticket once);
- *responses*: the public messages of the period, each customer message with the time
  of the next agent's or bot's reply after it (``MIN(...) OVER`` the rows that follow it
  in its thread's order: a merged duplicate's messages are in the thread of the ticket
  its merges lead to), counted per group and bucket on the tickets answered before the
  period's end.

A message's kind (public reply or internal note) and its author's role are columns
(schema 8). Durations and buckets are computed as the ticket metrics
compute them (:mod:`aftersales.insights._ticket_sql`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aftersales.exceptions import StorageError
from aftersales.insights._dwell_sql import _sqlite_dialect
from aftersales.insights._ticket_sql import DIALECTS, Dialect
from aftersales.insights._workload_memory import (
    CUSTOMER,
    FINISHED_STATES,
    MAX_MERGES,
    NOT_TRANSITIONS,
    RESOLVED,
    RESPONDERS,
    CountRow,
    LoggedRow,
    ResponseRow,
    Rows,
    WorkloadPlan,
)
from aftersales.models import MessageKind
from aftersales.models.events import LOG_TIME, TICKET_KIND
from aftersales.storage import SQLiteStore
from aftersales.storage._codec import ts

if TYPE_CHECKING:  # the sql extra may be absent
    from aftersales.storage.sqlalchemy import SQLAlchemyStore

Statement = tuple[str, dict[str, Any]]


def _literals(values: Sequence[str]) -> str:
    """Constants of the library as SQL literals (never user input)."""
    return ", ".join(f"'{value}'" for value in values)


def _filters(plan: WorkloadPlan, params: dict[str, Any], table: str = "t") -> str:
    clauses = []
    for column, values in (("team", plan.teams), ("channel", plan.channels)):
        if values is None:
            continue
        names = []
        for position, value in enumerate(values):
            params[f"{column}_{position}"] = value
            names.append(f":{column}_{position}")
        clauses.append(f" AND {table}.{column} IN ({', '.join(names)})")
    return "".join(clauses)


def _select(columns: Sequence[str], aggregates: Sequence[str], rest: str) -> str:
    """``SELECT columns, aggregates rest GROUP BY columns`` (no GROUP BY without
    columns)."""
    select = ",\n  ".join((*columns, *aggregates))
    sql = f"SELECT\n  {select}\n{rest}"
    if columns:
        sql += "\nGROUP BY " + ", ".join(str(i + 1) for i in range(len(columns)))
    return sql


def _period(plan: WorkloadPlan) -> dict[str, Any]:
    return {"period_from": ts(plan.period_from), "period_to": ts(plan.period_to)}


def _ticket_group(plan: WorkloadPlan, table: str = "t") -> list[str]:
    column = {"agent": "assignee", "team": "team", "channel": "channel"}.get(plan.group)
    return [] if column is None else [f"{table}.{column}"]


def logged_statement(plan: WorkloadPlan, dialect: Dialect) -> Statement:
    """The time entries of the period, summed per group and ticket, counted per group
    and handling bucket (:data:`LoggedRow`)."""
    params = _period(plan)
    filters = _filters(plan, params)
    # the literal condition lets the partial index events_time_logged answer; the
    # trigger too, as a row written before the column took time entries only may hold
    # another event's payload value
    entries = (
        "e.tenant = :tenant AND e.logged_seconds IS NOT NULL"
        " AND e.at >= :period_from AND e.at < :period_to"
        f" AND e.trigger = '{LOG_TIME}'"
    )
    columns = "e.actor AS actor, t.id AS ticket_id, t.team AS team, t.channel AS channel"
    logged = (
        "WITH logged AS (\n"
        f"  SELECT {columns}, NULL AS case_id, e.logged_seconds AS seconds\n"
        "  FROM events e JOIN tickets t ON t.tenant = e.tenant AND t.id = e.subject_id\n"
        f"  WHERE {entries} AND e.kind = '{TICKET_KIND}'{filters}\n"
        "  UNION ALL\n"
        f"  SELECT {columns}, c.id AS case_id, e.logged_seconds AS seconds\n"
        "  FROM events e JOIN cases c ON c.tenant = e.tenant AND c.id = e.subject_id"
        " JOIN tickets t ON t.tenant = c.tenant AND t.id = c.ticket_id\n"
        f"  WHERE {entries} AND e.kind <> '{TICKET_KIND}'{filters}\n"
        "),\n"
    )
    group = {"agent": "l.actor", "team": "l.team", "channel": "l.channel"}.get(plan.group)
    group_columns = [] if group is None else [f"{group} AS grp"]
    per_ticket = _select(
        [*group_columns, "l.ticket_id"],
        [
            "SUM(l.seconds) AS seconds",
            "COUNT(*) AS entries",
            "COUNT(DISTINCT l.case_id) AS cases",
            "MAX(CASE WHEN l.case_id IS NULL THEN 1 ELSE 0 END) AS on_ticket",
        ],
        "FROM logged l",
    )
    outer = _select(
        # a negative sum (none a time entry books) in bucket 0, as duration_bucket has it:
        # log2 of a negative is NULL
        [
            *(["p.grp"] if group else []),
            dialect.bucket("CASE WHEN p.seconds > 0 THEN p.seconds ELSE 0 END"),
        ],
        [
            "COUNT(*)",
            "SUM(p.seconds)",
            "SUM(p.entries)",
            "SUM(p.cases)",
            "SUM(p.on_ticket)",
        ],
        "FROM per_ticket p",
    )
    return f"{logged}per_ticket AS (\n{per_ticket}\n)\n{outer}", params


def open_statement(plan: WorkloadPlan) -> Statement:
    """The tickets with an assignee open at the period's end, per group: created before
    it, and the last transition by then (by the key subject_id, sequence) entered no
    finished state. The ticket's ``resolved_at`` would not do: a reopen clears it."""
    params = {"period_to": ts(plan.period_to)}
    last_state = (
        "(SELECT e.to_state FROM events e\n"
        "   WHERE e.tenant = t.tenant AND e.subject_id = t.id"
        f" AND e.kind = '{TICKET_KIND}' AND e.at <= :period_to"
        f" AND e.trigger NOT IN ({_literals(NOT_TRANSITIONS)})\n"
        "   ORDER BY e.sequence DESC LIMIT 1)"
    )
    rest = (
        "FROM tickets t\n"
        "WHERE t.tenant = :tenant AND t.assignee IS NOT NULL AND t.created_at < :period_to"
        + _filters(plan, params)
        # without a transition the ticket is still in its first state, an open one
        + f"\n  AND COALESCE({last_state}, '') NOT IN ({_literals(FINISHED_STATES)})"
    )
    return _select(_ticket_group(plan), ["COUNT(*)"], rest), params


def resolved_statement(plan: WorkloadPlan) -> Statement:
    """The tickets resolved in the period by a workflow trigger, each once per group."""
    params = _period(plan)
    group = ["e.actor"] if plan.group == "agent" else _ticket_group(plan)
    rest = (
        "FROM events e JOIN tickets t ON t.tenant = e.tenant AND t.id = e.subject_id\n"
        f"WHERE e.tenant = :tenant AND e.kind = '{TICKET_KIND}' AND e.to_state = '{RESOLVED}'"
        " AND e.at >= :period_from AND e.at < :period_to"
        f" AND e.trigger NOT IN ({_literals(NOT_TRANSITIONS)})" + _filters(plan, params)
    )
    return _select(group, ["COUNT(DISTINCT e.subject_id)"], rest), params


THREADS = (
    # each merged ticket with the ticket its chain of merges ends at (MAX_MERGES at most)
    "WITH RECURSIVE chain (id, thread, hops) AS (\n"
    "  SELECT t.id, t.merged_into, 1 FROM tickets t"
    " WHERE t.tenant = :tenant AND t.merged_into IS NOT NULL\n"
    "  UNION ALL\n"
    "  SELECT c.id, n.merged_into, c.hops + 1 FROM chain c"
    " JOIN tickets n ON n.tenant = :tenant AND n.id = c.thread\n"
    f"  WHERE n.merged_into IS NOT NULL AND c.hops < {MAX_MERGES}\n"
    "),\n"
    "threads AS (\n"
    "  SELECT c.id, c.thread FROM chain c"
    " JOIN tickets n ON n.tenant = :tenant AND n.id = c.thread\n"
    "  WHERE n.merged_into IS NULL\n"
    "),\n"
)


def responses_statement(plan: WorkloadPlan, dialect: Dialect, order: str) -> Statement:
    """The customers' messages after the first response, per group and bucket of the
    wait for the next reply (NULL: none by ``as_of``). ``order``: the column keeping the
    order messages were added in (SQLite's rowid, or the ``position`` SQLAlchemyStore
    numbers).

    The next reply is looked for in the message's thread, the ticket its ticket's merges
    lead to, in the order the desk shows it: by time, the thread's own ticket's messages
    before its duplicates' at the same instant, then by ticket id (compared by code
    point, as Python does) and the order added. The filters, the first response and the
    group are the message's own ticket's."""
    params = {**_period(plan), "as_of": ts(plan.as_of)}
    group = [] if plan.group == "none" else [f"{_ticket_group(plan)[0]} AS grp"]
    roles = _literals((CUSTOMER, *RESPONDERS))
    ticket_id = 'm.ticket_id COLLATE "C"' if dialect.name == "postgresql" else "m.ticket_id"
    following = (
        "OVER (PARTITION BY COALESCE(h.thread, m.ticket_id) ORDER BY m.at,"
        f" CASE WHEN h.thread IS NULL THEN 0 ELSE 1 END, {ticket_id}, {order}"
        " ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)"
    )
    scoped = (
        THREADS + "marked AS (\n"
        f"  SELECT {''.join(g + ', ' for g in group)}m.at, m.author_role,"
        " t.first_response_at, t.team, t.channel,\n"
        f"    MIN(CASE WHEN m.author_role <> '{CUSTOMER}' THEN m.at END) {following}"
        " AS replied_at\n"
        "  FROM messages m JOIN tickets t ON t.tenant = m.tenant AND t.id = m.ticket_id"
        " LEFT JOIN threads h ON h.id = m.ticket_id\n"
        "  WHERE m.tenant = :tenant AND m.at >= :period_from AND m.at < :as_of"
        f" AND m.author_role IN ({roles})"
        f" AND m.kind = '{MessageKind.PUBLIC_REPLY.value}'\n"
        ")\n"
    )
    micros = dialect.micros("k.replied_at", "k.at")
    bucket = dialect.bucket(dialect.seconds(micros))
    rest = (
        "FROM marked k\n"
        f"WHERE k.author_role = '{CUSTOMER}' AND k.at < :period_to"
        " AND k.at > k.first_response_at" + _filters(plan, params, table="k")
    )
    columns = [
        *(["k.grp"] if group else []),
        f"CASE WHEN k.replied_at IS NULL THEN NULL ELSE {bucket} END",
    ]
    return scoped + _select(columns, ["COUNT(*)"], rest), params


# ----------------------------------------------------------------------- the rows


def _group(plan: WorkloadPlan, values: list[Any]) -> str | None:
    return None if plan.group == "none" else values.pop(0)


def _logged_rows(plan: WorkloadPlan, raw: Sequence[Sequence[Any]]) -> list[LoggedRow]:
    rows: list[LoggedRow] = []
    for row in raw:
        values = list(row)
        group = _group(plan, values)
        bucket, tickets, seconds, entries, cases, on_ticket = (int(v) for v in values)
        rows.append((group, bucket, tickets, seconds, entries, cases, on_ticket))
    return rows


def _count_rows(plan: WorkloadPlan, raw: Sequence[Sequence[Any]]) -> list[CountRow]:
    rows: list[CountRow] = []
    for row in raw:
        values = list(row)
        group = _group(plan, values)
        if int(values[0]):
            rows.append((group, int(values[0])))
    return rows


def _response_rows(plan: WorkloadPlan, raw: Sequence[Sequence[Any]]) -> list[ResponseRow]:
    rows: list[ResponseRow] = []
    for row in raw:
        values = list(row)
        group = _group(plan, values)
        bucket, count = values
        if int(count):
            rows.append((group, None if bucket is None else int(bucket), int(count)))
    return rows


# ----------------------------------------------------------------------- running them

Execute = Callable[[str, dict[str, Any]], Sequence[Sequence[Any]]]


def _workload(plan: WorkloadPlan, dialect: Dialect, execute: Execute) -> Rows:
    return Rows(
        logged=_logged_rows(plan, execute(*logged_statement(plan, dialect))),
        open_assigned=_count_rows(plan, execute(*open_statement(plan))),
        resolved=_count_rows(plan, execute(*resolved_statement(plan))),
    )


def _responses(
    plan: WorkloadPlan, dialect: Dialect, execute: Execute, order: str
) -> list[ResponseRow]:
    return _response_rows(plan, execute(*responses_statement(plan, dialect, order)))


def sqlite_read(
    store: SQLiteStore, plan: WorkloadPlan, responses: bool
) -> Rows | list[ResponseRow]:
    """The workload rows (or, with ``responses``, the next-response rows) from
    SQLiteStore's connection, under its lock, in one read transaction."""
    recorder = store.recorder

    def read(_records: object) -> Rows | list[ResponseRow]:
        conn: sqlite3.Connection = recorder._conn
        dialect = _sqlite_dialect(conn.execute)

        def execute(sql: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
            scoped = {**params, "tenant": store.tenant}
            return [tuple(r) for r in conn.execute(sql, scoped).fetchall()]

        began = not conn.in_transaction
        if began:
            conn.execute("BEGIN")
        try:
            if responses:
                return _responses(plan, dialect, execute, "m.rowid")
            return _workload(plan, dialect, execute)
        except sqlite3.Error as error:
            raise StorageError(f"sqlite: workload report failed: {error}") from error
        finally:
            if began:
                conn.execute("COMMIT")

    result: Rows | list[ResponseRow] = recorder.reading(read)
    return result


def sqlalchemy_read(
    store: SQLAlchemyStore, plan: WorkloadPlan, responses: bool
) -> Rows | list[ResponseRow]:
    """The same from SQLAlchemyStore's engine, on one connection (in one REPEATABLE READ
    transaction on PostgreSQL and MariaDB, so the statements see the same commits)."""
    import sqlalchemy as sa

    try:
        with store.engine.connect() as conn:
            found = DIALECTS.get(store.dialect)
            if found is None:
                found = _sqlite_dialect(lambda sql: conn.execute(sa.text(sql)))
                conn.rollback()
            else:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")

            def execute(sql: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
                scoped = {**params, "tenant": store.tenant}
                return [tuple(r) for r in conn.execute(sa.text(sql), scoped).all()]

            result: Rows | list[ResponseRow]
            if responses:
                result = _responses(plan, found, execute, "m.position")
            else:
                result = _workload(plan, found, execute)
            conn.rollback()
    except sa.exc.SQLAlchemyError as error:
        raise StorageError(f"{store.dialect}: workload report failed: {error}") from error
    return result
