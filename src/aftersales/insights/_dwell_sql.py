"""The dwell rows behind :func:`aftersales.insights.bottlenecks.dwell_times`: one SQL
statement per call on SQLiteStore and SQLAlchemyStore (SQLite, PostgreSQL, MariaDB), and
the same rows counted in Python over MemoryStore's objects.

A *stint* is one stay of a subject in one state: it starts at an event whose ``to_state``
differs from the previous event's (or the subject's first event) and ends at the next such
event, whose trigger is the one that *left* the state. Events that keep the state (messages,
SLA events, a trigger leading back to the same state) neither start nor end a stint. Stints
are cut at ``as_of``: one entered at or after it does not count, one left after it counts
until ``as_of`` with no leaving trigger, and the last stint of a subject counts until
``as_of`` only while the subject is open (its status category neither ``resolved`` nor
``closed``, as the ticket backlog counts); a finished subject's final state is where it
ended, not where it waits.

Every store answers with :data:`DwellRow` rows: per group, subject kind, state, leaving
trigger and duration bucket (:func:`~aftersales.insights._ticket_memory.duration_bucket`),
the stints and their exact total in microseconds.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from aftersales.exceptions import StorageError
from aftersales.insights._ticket_memory import bucket_floor, duration_bucket
from aftersales.insights._ticket_sql import (
    DIALECTS,
    STRFTIME,
    Dialect,
    _grouped,
)
from aftersales.models import Event
from aftersales.storage import MemoryStore, SQLiteStore
from aftersales.storage._codec import ts

if TYPE_CHECKING:  # the sql extra may be absent
    from aftersales.storage.sqlalchemy import SQLAlchemyStore

TICKET_KIND = "ticket"

FINISHED = ("resolved", "closed")
"""The status categories of a subject whose last state no longer waits."""

DwellRow = tuple[str | None, str, str, str | None, int, int, int]
"""``(group, kind, state, left_by, bucket, stints, total_microseconds)``: ``group`` is the
team (None when not grouping, or for subjects without one); ``left_by`` is the trigger
that left the state, None for stints still running at ``as_of``."""


@attrs.frozen
class DwellPlan:
    """What a query asks the stores, in their terms."""

    created_from: datetime
    created_to: datetime
    as_of: datetime
    kinds: tuple[str, ...] | None
    teams: tuple[str, ...] | None
    by_team: bool

    def counts_tickets(self) -> bool:
        return self.kinds is None or TICKET_KIND in self.kinds

    def case_kinds(self) -> tuple[str, ...] | None:
        """The case kinds asked for (None: all); empty when only tickets are."""
        if self.kinds is None:
            return None
        return tuple(kind for kind in self.kinds if kind != TICKET_KIND)


# ----------------------------------------------------------------------- in Python


def stints(
    events: Iterable[Event], as_of: datetime, still_open: bool
) -> Iterable[tuple[str, str | None, int]]:
    """``(state, left_by, microseconds)`` of each counted stint of one subject's events."""
    changes: list[Event] = []
    for event in sorted(events, key=lambda e: e.sequence):
        if not changes or changes[-1].to_state != event.to_state:
            changes.append(event)
    for position, entered in enumerate(changes):
        if entered.at >= as_of:
            continue
        left = changes[position + 1] if position + 1 < len(changes) else None
        if left is None and not still_open:
            continue
        if left is not None and left.at <= as_of:
            end, left_by = left.at, left.trigger
        else:
            end, left_by = as_of, None
        yield entered.to_state, left_by, (end - entered.at) // timedelta(microseconds=1)


def memory_rows(store: MemoryStore, plan: DwellPlan) -> list[DwellRow]:
    """The rows over a MemoryStore's own objects, under its lock (a consistent view)."""
    stints_seen: Counter[tuple[str | None, str, str, str | None, int]] = Counter()
    micros: Counter[tuple[str | None, str, str, str | None, int]] = Counter()
    teams = None if plan.teams is None else set(plan.teams)
    with store._lock:
        subjects: list[tuple[str, str, str | None, str]] = []
        if plan.counts_tickets():
            subjects += [
                (t.id, TICKET_KIND, t.team, t.status_category.value)
                for t in store._tickets.values()
                if plan.created_from <= t.created_at < plan.created_to
            ]
        case_kinds = plan.case_kinds()
        if case_kinds is None or case_kinds:
            for case in store._cases.values():
                kind = str(case.kind.value)
                if not plan.created_from <= case.created_at < plan.created_to:
                    continue
                if case_kinds is not None and kind not in case_kinds:
                    continue
                ticket = store._tickets.get(case.ticket_id)
                team = None if ticket is None else ticket.team
                subjects.append((case.id, kind, team, case.status_category.value))
        for subject_id, kind, team, category in subjects:
            if teams is not None and team not in teams:
                continue
            group = team if plan.by_team else None
            still_open = category not in FINISHED
            for state, left_by, duration in stints(
                store._events.get(subject_id, ()), plan.as_of, still_open
            ):
                key = (group, kind, state, left_by, duration_bucket(duration))
                stints_seen[key] += 1
                micros[key] += duration
    return [(*key, count, micros[key]) for key, count in stints_seen.items()]


# ----------------------------------------------------------------------- in SQL


class SQLiteSeconds(Dialect):
    """SQLite, reading each instant's whole seconds (its first 19 characters) apart from
    its fraction: SQLite parses a time to the millisecond, rounding, so ``unixepoch`` of
    ``...:59.999600`` is the next second and a duration would count one second too many."""

    def _epoch_micros(self, column: str) -> str:
        seconds = self._epoch.format(f"substr({column}, 1, 19)")
        return f"({seconds} * 1000000 + CAST(substr({column}, 21, 6) AS INTEGER))"


class Ladder(SQLiteSeconds):
    """SQLite without the math functions: the bucket by comparisons with each bucket's
    first second (:func:`bucket_floor`), the same buckets :func:`duration_bucket` gives,
    up to 2^40 seconds (beyond, the last of them)."""

    name = "sqlite-ladder"

    def bucket(self, seconds: str) -> str:
        steps: dict[int, int] = {}
        for bucket in range(1, 4 * 40 + 1):
            floor = bucket_floor(bucket)
            steps.setdefault(floor, duration_bucket(floor * 1_000_000))
        whens = " ".join(
            f"WHEN {seconds} >= {floor} THEN {bucket}"
            for floor, bucket in sorted(steps.items(), reverse=True)
        )
        return f"(CASE {whens} ELSE 0 END)"


def _in(column: str, name: str, values: Sequence[str], params: dict[str, Any]) -> str:
    names = []
    for position, value in enumerate(values):
        params[f"{name}_{position}"] = value
        names.append(f":{name}_{position}")
    return f" AND {column} IN ({', '.join(names)})"


def _open(column: str) -> str:
    finished = ", ".join(f"'{category}'" for category in FINISHED)
    return f"CASE WHEN {column} IN ({finished}) THEN 0 ELSE 1 END"


def dwell_statement(plan: DwellPlan, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """The one statement: the subjects of the period (tickets, and cases with their
    ticket's team), their state-changing events (``LAG`` over each subject's sequence),
    the stints between them (``LEAD``), cut at ``as_of`` and counted per bucket."""
    params: dict[str, Any] = {
        "created_from": ts(plan.created_from),
        "created_to": ts(plan.created_to),
        "as_of": ts(plan.as_of),
    }
    teams = "" if plan.teams is None else _in("t.team", "team", plan.teams, params)
    branches = []
    if plan.counts_tickets():
        branches.append(
            f"SELECT t.id AS id, '{TICKET_KIND}' AS kind, t.team AS team,"
            f" {_open('t.status_category')} AS still_open\n"
            "  FROM tickets t\n"
            "  WHERE t.tenant = :tenant"
            " AND t.created_at >= :created_from AND t.created_at < :created_to" + teams
        )
    case_kinds = plan.case_kinds()
    if case_kinds is None or case_kinds:
        kinds = "" if case_kinds is None else _in("c.kind", "kind", case_kinds, params)
        branches.append(
            "SELECT c.id AS id, c.kind AS kind, t.team AS team,"
            f" {_open('c.status_category')} AS still_open\n"
            "  FROM cases c LEFT JOIN tickets t ON t.tenant = c.tenant AND t.id = c.ticket_id\n"
            "  WHERE c.tenant = :tenant"
            " AND c.created_at >= :created_from AND c.created_at < :created_to" + kinds + teams
        )
    window = "OVER (PARTITION BY {0}.subject_id ORDER BY {0}.sequence)"
    ends = "st.left_at <= :as_of"
    micros = dialect.micros(f"CASE WHEN {ends} THEN st.left_at ELSE :as_of END", "st.entered_at")
    ctes = (
        "WITH subjects AS (\n  " + "\n  UNION ALL\n  ".join(branches) + "\n),\n"
        "marked AS (\n"
        "  SELECT e.subject_id, e.sequence, e.trigger AS by_trigger, e.at AS entered_at,"
        " e.to_state, s.kind, s.team, s.still_open,\n"
        f"    LAG(e.to_state) {window.format('e')} AS before_state\n"
        # the subjects drive: each one's events by the primary key, in sequence order
        "  FROM subjects s JOIN events e ON e.subject_id = s.id AND e.tenant = :tenant\n"
        "),\n"
        "stays AS (\n"
        "  SELECT m.kind, m.team, m.still_open, m.to_state AS state, m.entered_at,\n"
        f"    LEAD(m.entered_at) {window.format('m')} AS left_at,\n"
        f"    LEAD(m.by_trigger) {window.format('m')} AS left_by\n"
        "  FROM marked m WHERE m.before_state IS NULL OR m.before_state <> m.to_state\n"
        "),\n"
        "cut AS (\n"
        "  SELECT st.team, st.kind, st.state,\n"
        f"    CASE WHEN {ends} THEN st.left_by ELSE NULL END AS left_by,\n"
        f"    {micros} AS micros\n"
        "  FROM stays st\n"
        "  WHERE st.entered_at < :as_of AND (st.left_at IS NOT NULL OR st.still_open = 1)\n"
        ")\n"
    )
    columns = ["cut.team"] if plan.by_team else []
    columns += [
        "cut.kind",
        "cut.state",
        "cut.left_by",
        dialect.bucket(dialect.seconds("cut.micros")),
    ]
    return ctes + _grouped(columns, ["COUNT(*)", "SUM(cut.micros)"], "FROM cut"), params


def _rows(plan: DwellPlan, raw: Iterable[Sequence[Any]]) -> list[DwellRow]:
    """The statement's rows as :data:`DwellRow` (the group put back where the statement
    left it out; the databases' decimals made ints)."""
    rows: list[DwellRow] = []
    for row in raw:
        values = list(row)
        group = values.pop(0) if plan.by_team else None
        kind, state, left_by, bucket, count, total = values
        rows.append((group, str(kind), str(state), left_by, int(bucket), int(count), int(total)))
    return rows


def _sqlite_dialect(execute: Callable[[str], object]) -> Dialect:
    """The SQLite dialect this build can run: ``log2`` where the build has the math
    functions (else :class:`Ladder`), ``unixepoch`` from SQLite 3.38 (else ``strftime``)."""
    epoch = "unixepoch({})"
    try:
        execute("SELECT unixepoch('2000-01-01')")
    except Exception:  # noqa: BLE001 - each driver words "no such function" its own way
        epoch = STRFTIME
    try:
        execute("SELECT log2(2)")
    except Exception:  # noqa: BLE001
        return Ladder(epoch)
    return SQLiteSeconds(epoch)


def sqlite_rows(store: SQLiteStore, plan: DwellPlan) -> list[DwellRow]:
    """The rows from SQLiteStore's connection, read under its lock."""
    recorder = store.recorder

    def read(_records: object) -> list[DwellRow]:
        conn: sqlite3.Connection = recorder._conn
        sql, params = dwell_statement(plan, _sqlite_dialect(conn.execute))
        try:
            raw = conn.execute(sql, {**params, "tenant": store.tenant}).fetchall()
        except sqlite3.Error as error:
            raise StorageError(f"sqlite: dwell times failed: {error}") from error
        return _rows(plan, [tuple(r) for r in raw])

    return recorder.reading(read)


def sqlalchemy_rows(store: SQLAlchemyStore, plan: DwellPlan) -> list[DwellRow]:
    """The rows from SQLAlchemyStore's engine (one statement, so one snapshot)."""
    import sqlalchemy as sa

    try:
        with store.engine.connect() as conn:
            found = DIALECTS.get(store.dialect)
            if found is None:
                found = _sqlite_dialect(lambda sql: conn.execute(sa.text(sql)))
                conn.rollback()
            sql, params = dwell_statement(plan, found)
            raw = conn.execute(sa.text(sql), {**params, "tenant": store.tenant}).all()
            conn.rollback()
    except sa.exc.SQLAlchemyError as error:
        raise StorageError(f"{store.dialect}: dwell times failed: {error}") from error
    return _rows(plan, [tuple(r) for r in raw])
