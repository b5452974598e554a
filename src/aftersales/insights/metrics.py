"""Ticket KPIs, computed where the data is: :func:`ticket_metrics`.

A :class:`ReportQuery` names a period of ticket creation, optional filters, a grouping,
the instant backlog is measured at and whether to compare with the previous period. Each
store answers with two aggregate queries (SQLiteStore and SQLAlchemyStore in SQL, one
GROUP BY each; MemoryStore and any other store in Python over the same definitions), and
this module turns their counts into :class:`TicketReport` rows, so every store gives the
same numbers. The definitions are in ``docs/reference/metrics.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

import attrs
from pydantic import Field, ValidationInfo, field_validator

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.insights._filters import (
    CategoryFilter,
    ChannelFilter,
    IdentifierFilter,
    PriorityFilter,
)
from aftersales.insights._ticket_memory import (
    AGE_LIMITS_DAYS,
    SCORES,
    BacklogRow,
    CohortRow,
    EscalationRow,
    Group,
    Plan,
    Rows,
    bucket_floor,
    memory_tally,
    store_tally,
)
from aftersales.insights._ticket_sql import sqlalchemy_tally, sqlite_tally
from aftersales.models import Instant, Record
from aftersales.storage import MemoryStore, SQLiteStore, Store

__all__ = [
    "AGEING_BUCKETS",
    "Backlog",
    "DurationStats",
    "Escalations",
    "GroupBy",
    "Period",
    "ReportQuery",
    "Satisfaction",
    "TicketChange",
    "TicketMetrics",
    "TicketReport",
    "TicketReportRow",
    "ticket_metrics",
]

GroupBy = Literal["none", "channel", "category", "priority", "team", "product", "tier"]
"""What a report's rows are per: one row for everything, or one per value of a ticket's
column, its product (SKU) or its customer's tier."""

AGEING_BUCKETS = ("under 1 day", "1-3 days", "3-7 days", "7-30 days", "30 days or more")
"""The names of :attr:`Backlog.ageing`'s buckets, in order."""

_COLUMNS = {"product": "sku"}
"""The ticket column (or :mod:`_ticket_memory`'s name) of each filter and grouping."""


class Period(Record):
    """Subjects created in [``created_from``, ``created_to``), looked at as of ``as_of``
    (default ``created_to``): what every insight query starts from."""

    created_from: Instant
    created_to: Instant
    as_of: Instant | None = Field(default=None, validate_default=True)

    @field_validator("created_to")
    @classmethod
    def _after_the_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("created_from")
        if start is not None and value <= start:
            raise ValueError("must be after created_from")
        return value

    @field_validator("as_of")
    @classmethod
    def _default_as_of(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return info.data.get("created_to") if value is None else value


class ReportQuery(Period):
    """What to report on: the tickets created in [``created_from``, ``created_to``)
    passing every filter given, per ``group_by``.

    - ``channel``, ``category``, ``priority``, ``team``, ``product`` (the SKU of the
      ticket's order line), ``tier`` (its customer's tier): one value or several (a
      ticket passes with any of them); None for no filter.
    - ``as_of``: the instant the backlog and its ageing are measured at (default
      ``created_to``).
    - ``compare_previous``: also report the period of the same length just before (its
      backlog measured as long before ``as_of``) and the change.
    - ``escalations``: also count the tickets per escalation level
      (:attr:`TicketMetrics.escalations`); off by default, as the SQL stores keep the
      level in each ticket's JSON and read every row of the period for it.

    Bad input raises :class:`~aftersales.InvalidInput`.
    """

    channel: ChannelFilter = None
    category: CategoryFilter = None
    priority: PriorityFilter = None
    team: IdentifierFilter = None
    product: CategoryFilter = None
    tier: CategoryFilter = None
    group_by: GroupBy = "none"
    compare_previous: bool = False
    escalations: bool = False

    @property
    def length(self) -> timedelta:
        """The period's length."""
        return self.created_to - self.created_from

    @property
    def backlog_at(self) -> datetime:
        """The instant backlog is measured at (``as_of``, which defaults to
        ``created_to``)."""
        assert self.as_of is not None  # filled by the validator
        return self.as_of

    def _plan(self) -> Plan:
        filters = tuple(
            (
                _COLUMNS.get(name, name),
                tuple(dict.fromkeys(str(getattr(v, "value", v)) for v in values)),
            )
            for name in ("channel", "category", "priority", "team", "product", "tier")
            if (values := getattr(self, name)) is not None
        )
        length = self.length
        group = self.group_by
        return Plan(
            group_column=None if group == "none" else _COLUMNS.get(group, group),
            filters=filters,
            cohort_from=self.created_from - length if self.compare_previous else self.created_from,
            period_from=self.created_from,
            created_to=self.created_to,
            as_of=(self.backlog_at, self.backlog_at - length)
            if self.compare_previous
            else (self.backlog_at,),
            escalations=self.escalations,
        )


@attrs.frozen
class DurationStats:
    """Durations of the tickets that have one (a first response, a resolution), in
    calendar seconds from the ticket's creation, from a histogram of log-spaced buckets.

    ``histogram`` holds ``(bucket, tickets)`` pairs, bucket ``k`` holding durations of
    whole seconds ``s`` with ``floor(4 * log2(s + 1)) == k``: each bucket spans about 19%
    (at least a second), and the median and p90 are interpolated linearly inside theirs.
    """

    count: int
    median_seconds: float | None
    p90_seconds: float | None
    histogram: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, histogram: Mapping[int, int]) -> DurationStats:
        """The stats of ``histogram`` (bucket → tickets)."""
        pairs = tuple(sorted((k, n) for k, n in histogram.items() if n))
        return cls(
            count=sum(n for _, n in pairs),
            median_seconds=percentile(pairs, 0.5),
            p90_seconds=percentile(pairs, 0.9),
            histogram=pairs,
        )


def percentile(histogram: Iterable[tuple[int, int]], fraction: float) -> float | None:
    """The duration (seconds) below which ``fraction`` of the histogram's tickets lie,
    linearly interpolated inside its bucket; None for no tickets."""
    pairs = sorted(histogram)
    total = sum(n for _, n in pairs)
    if total == 0:
        return None
    rank = fraction * total
    below = 0
    for bucket, count in pairs:
        if below + count >= rank:
            low, high = bucket_floor(bucket), bucket_floor(bucket + 1)
            return low + (rank - below) / count * (high - low)
        below += count
    raise AssertionError("unreachable: the last bucket reaches the total")  # pragma: no cover


SATISFIED = (4, 5)
"""The scores that count as satisfied in :attr:`Satisfaction.csat`."""


@attrs.frozen
class Satisfaction:
    """The satisfaction scores (1-5) given for the period's tickets: ``scores[k - 1]``
    tickets rated ``k``; ``rated`` their number, ``mean_score`` their mean and ``csat``
    the share of them rated 4 or 5 (None when none was rated).

    Built from counts per score (:meth:`of`), so scores from any source (a ticket's
    ``satisfaction``, survey answers) add up into the same figures."""

    scores: tuple[int, int, int, int, int]
    rated: int
    mean_score: float | None
    csat: float | None

    @classmethod
    def of(cls, counts: Mapping[int, int]) -> Satisfaction:
        """The figures of ``counts`` (score → how many gave it)."""
        scores = tuple(counts.get(score, 0) for score in SCORES)
        assert len(scores) == 5
        rated = sum(scores)
        return cls(
            scores=scores,
            rated=rated,
            mean_score=sum(k * n for k, n in zip(SCORES, scores, strict=True)) / rated
            if rated
            else None,
            csat=sum(counts.get(k, 0) for k in SATISFIED) / rated if rated else None,
        )


@attrs.frozen
class Backlog:
    """The tickets open at ``as_of`` (created before it, and neither resolved nor closed
    then by their history: one resolved before it and reopened after it was not open),
    counted by age (``as_of`` minus creation) in :data:`AGEING_BUCKETS`."""

    as_of: datetime
    open: int
    ageing: tuple[int, int, int, int, int]


@attrs.frozen
class Escalations:
    """The escalation levels of a period's tickets as stored now
    (``Ticket.escalation_level``: raised by an escalation chain's levels, the ``escalate``
    trigger and an SLA policy's escalation, never lowered, so the highest each reached):
    ``levels[k]`` tickets at level ``k``, from 0 (never escalated) to the highest level
    any of them is at; ``escalated`` those at level 1 or above.

    >>> Escalations.of(10, {1: 3, 3: 1})
    Escalations(escalated=4, levels=(6, 3, 0, 1))
    >>> Escalations.of(10, {1: 3, 3: 1}).reached(2)
    1
    """

    escalated: int
    levels: tuple[int, ...]

    @classmethod
    def of(cls, created: int, counts: Mapping[int, int]) -> Escalations:
        """The figures of ``created`` tickets, ``counts`` of them (level → tickets) above 0."""
        escalated = sum(counts.values())
        top = max(counts, default=0)
        rest = (counts.get(level, 0) for level in range(1, top + 1))
        return cls(escalated, (created - escalated, *rest))

    def reached(self, level: int) -> int:
        """The tickets at ``level`` or above."""
        return sum(self.levels[max(level, 0) :])


@attrs.frozen
class TicketMetrics:
    """The ticket KPIs of one period and group (see ``docs/reference/metrics.md``).

    ``created`` is the volume: tickets created in the period. The others count among them:
    ``resolved`` (holding a resolution now), ``reopened`` (resolved and reopened at least
    once), ``first_contact_resolved`` (resolved, never reopened, never waiting on the
    customer). Rates are over ``resolved`` and None when nothing was resolved.
    ``satisfaction`` holds the scores given for the tickets created in the period, and
    ``escalations`` their escalation levels when the query asks for them (else None).
    """

    period_from: datetime
    period_to: datetime
    created: int
    resolved: int
    reopened: int
    reopen_rate: float | None
    first_contact_resolved: int
    first_contact_resolution_rate: float | None
    first_response: DurationStats
    resolution: DurationStats
    backlog: Backlog
    satisfaction: Satisfaction
    escalations: Escalations | None = None


def _difference(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else now - before


@attrs.frozen
class TicketChange:
    """The queried period minus the previous one: counts in tickets, rates in fractions
    (0.05 is five percentage points), times in seconds; None where either side is None."""

    created: int
    resolved: int
    reopened: int
    reopen_rate: float | None
    first_contact_resolved: int
    first_contact_resolution_rate: float | None
    first_response_median_seconds: float | None
    first_response_p90_seconds: float | None
    resolution_median_seconds: float | None
    resolution_p90_seconds: float | None
    backlog: int
    rated: int
    mean_score: float | None
    csat: float | None

    @classmethod
    def between(cls, now: TicketMetrics, before: TicketMetrics) -> TicketChange:
        return cls(
            created=now.created - before.created,
            resolved=now.resolved - before.resolved,
            reopened=now.reopened - before.reopened,
            reopen_rate=_difference(now.reopen_rate, before.reopen_rate),
            first_contact_resolved=now.first_contact_resolved - before.first_contact_resolved,
            first_contact_resolution_rate=_difference(
                now.first_contact_resolution_rate, before.first_contact_resolution_rate
            ),
            first_response_median_seconds=_difference(
                now.first_response.median_seconds, before.first_response.median_seconds
            ),
            first_response_p90_seconds=_difference(
                now.first_response.p90_seconds, before.first_response.p90_seconds
            ),
            resolution_median_seconds=_difference(
                now.resolution.median_seconds, before.resolution.median_seconds
            ),
            resolution_p90_seconds=_difference(
                now.resolution.p90_seconds, before.resolution.p90_seconds
            ),
            backlog=now.backlog.open - before.backlog.open,
            rated=now.satisfaction.rated - before.satisfaction.rated,
            mean_score=_difference(now.satisfaction.mean_score, before.satisfaction.mean_score),
            csat=_difference(now.satisfaction.csat, before.satisfaction.csat),
        )


@attrs.frozen
class TicketReportRow:
    """One group's metrics: ``group`` is the value of the query's ``group_by`` column
    (None for tickets without one, and for the ungrouped row and the total);
    ``previous`` and ``change`` are there when the query compares."""

    group: str | None
    current: TicketMetrics
    previous: TicketMetrics | None = None
    change: TicketChange | None = None


@attrs.frozen
class TicketReport:
    """:func:`ticket_metrics`' answer: a row per group (ordered by group, tickets
    without one last) and the total over them all."""

    query: ReportQuery
    rows: tuple[TicketReportRow, ...]
    total: TicketReportRow


@attrs.define
class _Tally:
    """One group's and period's counts, as the stores' rows add up."""

    created: int = 0
    reopened: int = 0
    first_contact: int = 0
    first_response: Counter[int] = attrs.Factory(Counter)
    resolution: Counter[int] = attrs.Factory(Counter)
    ageing: list[int] = attrs.Factory(lambda: [0] * (len(AGE_LIMITS_DAYS) + 1))
    scores: Counter[int] = attrs.Factory(Counter)
    levels: Counter[int] = attrs.Factory(Counter)

    def add(self, other: _Tally) -> None:
        self.created += other.created
        self.reopened += other.reopened
        self.first_contact += other.first_contact
        self.first_response.update(other.first_response)
        self.resolution.update(other.resolution)
        self.scores.update(other.scores)
        self.levels.update(other.levels)
        self.ageing = [a + b for a, b in zip(self.ageing, other.ageing, strict=True)]

    def metrics(
        self, period_from: datetime, period_to: datetime, as_of: datetime, escalations: bool
    ) -> TicketMetrics:
        resolved = sum(self.resolution.values())
        ageing = tuple(self.ageing)
        assert len(ageing) == 5
        return TicketMetrics(
            period_from=period_from,
            period_to=period_to,
            created=self.created,
            resolved=resolved,
            reopened=self.reopened,
            reopen_rate=self.reopened / resolved if resolved else None,
            first_contact_resolved=self.first_contact,
            first_contact_resolution_rate=self.first_contact / resolved if resolved else None,
            first_response=DurationStats.of(self.first_response),
            resolution=DurationStats.of(self.resolution),
            backlog=Backlog(as_of=as_of, open=sum(ageing), ageing=ageing),
            satisfaction=Satisfaction.of(self.scores),
            escalations=Escalations.of(self.created, self.levels) if escalations else None,
        )


def _tallies(
    cohort: Iterable[CohortRow],
    backlog: Iterable[BacklogRow],
    levels: Iterable[EscalationRow] = (),
) -> dict[Group, tuple[_Tally, _Tally]]:
    groups: dict[Group, tuple[_Tally, _Tally]] = {}

    def of(group: Group) -> tuple[_Tally, _Tally]:
        found = groups.get(group)
        if found is None:
            found = groups[group] = (_Tally(), _Tally())
        return found

    for group, period, first, resolution, tickets, reopened, first_contact, scores in cohort:
        tally = of(group)[period]
        tally.scores.update(dict(zip(SCORES, scores, strict=True)))
        tally.created += tickets
        tally.reopened += reopened
        tally.first_contact += first_contact
        if first is not None:
            tally.first_response[first] += tickets
        if resolution is not None:
            tally.resolution[resolution] += tickets
    for group, now, before, tickets in backlog:
        current, previous = of(group)
        if now is not None:
            current.ageing[now] += tickets
        if before is not None:
            previous.ageing[before] += tickets
    for group, period, level, tickets in levels:
        of(group)[period].levels[level] += tickets
    return groups


def _row(
    query: ReportQuery, group: str | None, current: _Tally, previous: _Tally
) -> TicketReportRow:
    now = current.metrics(query.created_from, query.created_to, query.backlog_at, query.escalations)
    if not query.compare_previous:
        return TicketReportRow(group, now)
    length = query.length
    before = previous.metrics(
        query.created_from - length,
        query.created_from,
        query.backlog_at - length,
        query.escalations,
    )
    return TicketReportRow(group, now, before, TicketChange.between(now, before))


def _counted(store: Store, plan: Plan) -> Rows:
    """The rows, where the data is: SQL on the SQL stores, Python on the others."""
    if isinstance(store, MemoryStore):
        return memory_tally(store, plan)
    rows = None
    if isinstance(store, SQLiteStore):
        rows = sqlite_tally(store, plan)
    else:
        try:
            from aftersales.storage.sqlalchemy import SQLAlchemyStore
        except ImportError:  # pragma: no cover - without the sql extra
            pass
        else:
            if isinstance(store, SQLAlchemyStore):
                rows = sqlalchemy_tally(store, plan)
    return store_tally(store, plan) if rows is None else rows


def ticket_metrics(store: Store, query: ReportQuery) -> TicketReport:
    """The ticket KPIs of ``query`` over ``store``: created (volume), resolved, reopened
    and reopen rate, first-contact resolution, first response and resolution times (count,
    median, p90), backlog with its ageing, and when asked the tickets per escalation
    level, per group, with the previous period and the change when asked.

    SQLiteStore and SQLAlchemyStore (SQLite, PostgreSQL, MariaDB) count in two SQL
    statements; MemoryStore counts its own objects; any other store is read through
    ``find`` and ``events``. All give the same numbers.
    """
    if not isinstance(query, ReportQuery):
        raise InvalidInput(
            "ticket_metrics",
            [FieldError(("query",), f"must be a ReportQuery, not {type(query).__name__}")],
        )
    counted = _tallies(*_counted(store, query._plan()))
    groups = {str(g) if g is not None else None: t for g, t in counted.items()}
    if query.group_by == "none" and not groups:
        groups[None] = (_Tally(), _Tally())
    rows = tuple(
        _row(query, group, *groups[group])
        for group in sorted(groups, key=lambda g: (g is None, g or ""))
    )
    total_now, total_before = _Tally(), _Tally()
    for current, previous in groups.values():
        total_now.add(current)
        total_before.add(previous)
    return TicketReport(query, rows, _row(query, None, total_now, total_before))


def _slice_tallies(
    store: Store, query: ReportQuery, ends: Sequence[datetime], escalations: bool = False
) -> list[_Tally]:
    """Each trend slice's tally (see :func:`slice_metrics`), with its escalation levels
    when asked (for the period's figures summed from them: a trend shows none)."""
    if ends[-1] != query.created_to:
        raise ValueError("the last slice must end at created_to")
    plan = attrs.evolve(
        query._plan(),
        group_column=None,
        cohort_from=query.created_from,
        as_of=tuple(ends),
        slice_ends=tuple(ends),
        escalations=escalations,
    )
    groups = _tallies(*_counted(store, plan))
    return [groups.get(index, (_Tally(), _Tally()))[0] for index in range(len(ends))]


def slice_metrics(
    store: Store, query: ReportQuery, ends: Sequence[datetime]
) -> tuple[TicketMetrics, ...]:
    """The ungrouped metrics of each slice of the query's period (the first from
    ``created_from``, each ending where the next begins, the last at ``created_to``), its
    backlog measured at its end: what :func:`ticket_metrics` gives for each slice, counted
    in two statements for them all."""
    return _points(query, ends, _slice_tallies(store, query, ends))


def _points(
    query: ReportQuery, ends: Sequence[datetime], tallies: Sequence[_Tally]
) -> tuple[TicketMetrics, ...]:
    starts = (query.created_from, *ends[:-1])
    return tuple(
        tally.metrics(start, end, end, escalations=False)
        for tally, start, end in zip(tallies, starts, ends, strict=True)
    )


def report_metrics(
    store: Store, query: ReportQuery, ends: Sequence[datetime]
) -> tuple[TicketReport, tuple[TicketMetrics, ...]]:
    """:func:`ticket_metrics` of ``query`` and :func:`slice_metrics` of its slices
    (none when ``ends`` is empty). An ungrouped query of one period, its backlog measured
    at its end, is the sum of its slices (the last one's backlog): then the slices' two
    statements give both."""
    if not ends:
        return ticket_metrics(store, query), ()
    if query.group_by != "none" or query.compare_previous or query.backlog_at != ends[-1]:
        return ticket_metrics(store, query), slice_metrics(store, query, ends)
    tallies = _slice_tallies(store, query, ends, query.escalations)
    whole = _Tally()
    for tally in tallies:
        whole.add(tally)
    whole.ageing = list(tallies[-1].ageing)
    row = _row(query, None, whole, _Tally())
    return TicketReport(query, (row,), row), _points(query, ends, tallies)
