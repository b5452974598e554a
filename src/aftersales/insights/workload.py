"""Who did the work and how long customers waited between replies: :func:`workload` and
:func:`next_response_times`.

:func:`workload` reports, per agent (an event's actor), per team or for everyone, the
agent time logged in a period (``desk.log_time``, ``desk.cases.log_time``), its entries,
the tickets and cases it went on, the handling time per ticket (median and p90), the
tickets assigned and still open at the period's end and the tickets resolved in the
period. :func:`next_response_times` reports how long each customer message written after
a ticket's first response waited for the next reply, and how many still wait.

Each store answers where its data is (SQLiteStore and SQLAlchemyStore in SQL, one
statement per metric family; MemoryStore over its own objects; any other store through
its public API), with the same rows, so every store gives the same numbers. The
definitions are in ``docs/reference/workload.md``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

import attrs
from pydantic import Field, ValidationInfo, field_validator

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.insights._filters import (
    ChannelFilter,
    IdentifierFilter,
)
from aftersales.insights._workload_memory import (
    ResponseRow,
    Rows,
    WorkloadPlan,
    memory_responses,
    memory_workload,
    store_responses,
    store_workload,
)
from aftersales.insights._workload_sql import sqlalchemy_read, sqlite_read
from aftersales.insights.metrics import DurationStats
from aftersales.models import Instant, Record
from aftersales.storage import MemoryStore, SQLiteStore, Store

__all__ = [
    "NextResponseQuery",
    "NextResponseReport",
    "NextResponseRow",
    "WorkloadQuery",
    "WorkloadReport",
    "WorkloadRow",
    "next_response_times",
    "workload",
]


class _Window(Record):
    """A period of events, [``period_from``, ``period_to``), and the tickets counted in
    it: those of the ``team`` and ``channel`` given (one value or several; None for
    all). A case counts with its ticket."""

    period_from: Instant
    period_to: Instant
    team: IdentifierFilter = None
    channel: ChannelFilter = None

    @field_validator("period_to")
    @classmethod
    def _after_the_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("period_from")
        if start is not None and value <= start:
            raise ValueError("must be after period_from")
        return value

    def _plan(self, group: str, as_of: datetime) -> WorkloadPlan:
        return WorkloadPlan(
            period_from=self.period_from,
            period_to=self.period_to,
            as_of=as_of,
            group=group,
            teams=None if self.team is None else tuple(dict.fromkeys(self.team)),
            channels=None
            if self.channel is None
            else tuple(dict.fromkeys(c.value for c in self.channel)),
        )


class WorkloadQuery(_Window):
    """Whose work to report: the events of [``period_from``, ``period_to``) on the
    tickets passing ``team`` and ``channel`` (and on their cases), per ``group_by``:

    - ``"agent"`` (default): a row per agent, the actor of the time entries and of the
      resolutions, and the assignee of the open tickets;
    - ``"team"``: a row per team of the tickets (None for tickets without one);
    - ``"none"``: one row for everyone.

    Bad input raises :class:`~aftersales.InvalidInput`.
    """

    group_by: Literal["agent", "team", "none"] = "agent"


class NextResponseQuery(_Window):
    """Which customer messages to follow: those written in [``period_from``,
    ``period_to``) on the tickets passing ``team`` and ``channel``, each answered (or
    not) by ``as_of`` (default ``period_to``, never before it), per ``group_by``
    (``"none"``, ``"team"`` or ``"channel"`` of the ticket).

    Bad input raises :class:`~aftersales.InvalidInput`.
    """

    as_of: Instant | None = Field(default=None, validate_default=True)
    group_by: Literal["none", "team", "channel"] = "none"

    @field_validator("as_of")
    @classmethod
    def _not_before_the_end(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        end = info.data.get("period_to")
        if value is None:
            return end
        if end is not None and value < end:
            raise ValueError("must not be before period_to")
        return value

    @property
    def until(self) -> datetime:
        """The instant replies are counted up to (``as_of``, default ``period_to``)."""
        assert self.as_of is not None  # filled by the validator
        return self.as_of


@attrs.frozen
class WorkloadRow:
    """One agent's (team's, everyone's) work in the period.

    - ``logged_seconds``, ``entries``: the time logged and its entries (``log_time``
      events);
    - ``tickets``, ``cases``: the tickets and the cases with an entry on them;
    - ``handling``: per ticket worked on (an entry on it or on one of its cases), the
      seconds the group logged on it in the period: count, median, p90 and histogram;
    - ``open_assigned``: the tickets with an assignee still open at ``period_to`` (by
      their last transition then, so a later reopen changes nothing; grouping by agent:
      assigned to that agent);
    - ``resolved``: the tickets that entered ``resolved`` in the period (grouping by
      agent: by that agent), each once.
    """

    group: str | None
    logged_seconds: int
    entries: int
    tickets: int
    cases: int
    handling: DurationStats
    open_assigned: int
    resolved: int


@attrs.frozen
class WorkloadReport:
    """:func:`workload`'s answer: a row per group, ordered by group (None last); one row
    (group None) for ``group_by="none"``."""

    query: WorkloadQuery
    rows: tuple[WorkloadRow, ...]

    def row(self, group: str | None) -> WorkloadRow | None:
        """The row of ``group``, if it has one."""
        return next((row for row in self.rows if row.group == group), None)


@attrs.frozen
class NextResponseRow:
    """One group's next responses: ``next_response`` over the answered messages (from
    each customer message to the next reply), ``unanswered`` the messages still waiting
    at ``as_of``."""

    group: str | None
    next_response: DurationStats
    unanswered: int


@attrs.frozen
class NextResponseReport:
    """:func:`next_response_times`' answer: a row per group (ordered by group, None
    last) and the total over them all."""

    query: NextResponseQuery
    rows: tuple[NextResponseRow, ...]
    total: NextResponseRow


def _ordered(groups: Iterable[str | None]) -> list[str | None]:
    return sorted(groups, key=lambda g: (g is None, g or ""))


def _sql_read(store: Store, plan: WorkloadPlan, responses: bool) -> Any:
    """The rows from the database of an SQL store, None for any other store."""
    if isinstance(store, SQLiteStore):
        return sqlite_read(store, plan, responses)
    try:
        from aftersales.storage.sqlalchemy import SQLAlchemyStore
    except ImportError:  # pragma: no cover - without the sql extra
        return None
    if isinstance(store, SQLAlchemyStore):
        return sqlalchemy_read(store, plan, responses)
    return None


def _checked(store: Store, query: object, kind: type[Record], function: str) -> None:
    if not isinstance(query, kind):
        raise InvalidInput(
            function,
            [FieldError(("query",), f"must be a {kind.__name__}, not {type(query).__name__}")],
        )
    if not isinstance(store, Store):
        raise InvalidInput(function, [FieldError(("store",), "must be a Store")])


def workload(store: Store, query: WorkloadQuery) -> WorkloadReport:
    """The agents' (teams') workload of ``query`` over ``store``: time logged, entries,
    tickets and cases worked on, handling time per ticket (count, median, p90), tickets
    assigned and open at the period's end, tickets resolved in the period.

    SQLiteStore and SQLAlchemyStore (SQLite, PostgreSQL, MariaDB) count in three SQL
    statements; MemoryStore counts its own objects; any other store is read through
    ``find``, ``find_cases`` and ``events``. All give the same numbers.
    """
    _checked(store, query, WorkloadQuery, "workload")
    plan = query._plan(query.group_by, query.period_to)
    rows: Rows | None = _sql_read(store, plan, responses=False)
    if rows is None:
        if isinstance(store, MemoryStore):
            rows = memory_workload(store, plan)
        else:
            rows = store_workload(store, plan)
    handling: dict[str | None, Counter[int]] = defaultdict(Counter)
    sums: dict[str | None, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for group, bucket, tickets, seconds, entries, cases, on_ticket in rows.logged:
        handling[group][bucket] += tickets
        total = sums[group]
        total[0] += seconds
        total[1] += entries
        total[2] += on_ticket
        total[3] += cases
    open_assigned = Counter(dict(rows.open_assigned))
    resolved = Counter(dict(rows.resolved))
    groups = set(sums) | set(open_assigned) | set(resolved)
    if query.group_by == "none":
        groups = {None}
    report_rows = []
    for group in _ordered(groups):
        seconds, entries, tickets, cases = sums.get(group, (0, 0, 0, 0))
        report_rows.append(
            WorkloadRow(
                group=group,
                logged_seconds=seconds,
                entries=entries,
                tickets=tickets,
                cases=cases,
                handling=DurationStats.of(handling.get(group, {})),
                open_assigned=open_assigned[group],
                resolved=resolved[group],
            )
        )
    return WorkloadReport(query, tuple(report_rows))


def next_response_times(store: Store, query: NextResponseQuery) -> NextResponseReport:
    """How long the customers' messages written in the period after each ticket's first
    response waited for the next public reply by an agent or a bot (count, median, p90),
    and how many were still unanswered at ``as_of``, per group and in total.

    The next reply is looked for in the message's thread: a merged duplicate's messages
    are answered on the ticket its merges lead to, as ``desk.messages`` shows them.

    SQLiteStore and SQLAlchemyStore count in one SQL statement (a window over each
    thread's messages); MemoryStore counts its own objects; any other store is read
    through ``find`` and ``messages``. All give the same numbers.
    """
    _checked(store, query, NextResponseQuery, "next_response_times")
    plan = query._plan(query.group_by, query.until)
    rows: list[ResponseRow] | None = _sql_read(store, plan, responses=True)
    if rows is None:
        if isinstance(store, MemoryStore):
            rows = memory_responses(store, plan)
        else:
            rows = store_responses(store, plan)
    answered: dict[str | None, Counter[int]] = defaultdict(Counter)
    waiting: Counter[str | None] = Counter()
    for group, bucket, messages in rows:
        if bucket is None:
            waiting[group] += messages
        else:
            answered[group][bucket] += messages
    groups = set(answered) | set(waiting)
    if query.group_by == "none":
        groups = {None}
    report_rows = tuple(
        NextResponseRow(group, DurationStats.of(answered.get(group, {})), waiting[group])
        for group in _ordered(groups)
    )
    everything: Counter[int] = Counter()
    for histogram in answered.values():
        everything.update(histogram)
    total = NextResponseRow(None, DurationStats.of(everything), sum(waiting.values()))
    return NextResponseReport(query, report_rows, total)
