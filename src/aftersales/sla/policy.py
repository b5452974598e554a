"""SLA policies (first-match rules choosing targets per metric) and metric tracking
computed from a ticket's event history, so it stays right after a replay."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timezone
from enum import Enum
from typing import Annotated

import attrs
from pydantic import Field, model_validator
from typing_extensions import Self

from aftersales.models import Event, Ticket
from aftersales.models._base import Record
from aftersales.models.customer import Channel
from aftersales.models.events import MESSAGE_ADDED, OPENED
from aftersales.models.ticket import Priority, StatusCategory
from aftersales.sla.calendar import BusinessCalendar

__all__ = [
    "CalendarSpec",
    "Escalation",
    "Metric",
    "MetricState",
    "MetricStatus",
    "SLAMatch",
    "SLAPolicy",
    "SLARule",
    "SLAStatus",
    "Target",
]


class Metric(str, Enum):
    """What an SLA measures."""

    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    PERIODIC_UPDATE = "periodic_update"
    RESOLUTION = "resolution"


class MetricState(str, Enum):
    """Where a metric stands now."""

    RUNNING = "running"
    PAUSED = "paused"
    WARNING = "warning"
    BREACHED = "breached"
    MET = "met"


class CalendarSpec(Record):
    """A business calendar as configuration (see :class:`BusinessCalendar`)."""

    time_zone: str = "UTC"
    hours: dict[str, tuple[str, ...]] | None = None
    holidays: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()
    country: str | None = None
    subdivision: str | None = None
    always_open: bool = False

    @model_validator(mode="after")
    def _compiles(self) -> Self:
        _compile(self)
        return self

    @property
    def calendar(self) -> BusinessCalendar:
        """The compiled calendar (built once, when the spec is validated)."""
        spec, compiled = _COMPILED.get(id(self), (None, None))
        if spec is not self or compiled is None:  # pragma: no cover - a reused id
            compiled = _compile(self)
        return compiled


def _compile(spec: CalendarSpec) -> BusinessCalendar:
    calendar = BusinessCalendar(
        time_zone=spec.time_zone,
        hours=spec.hours,
        holidays=spec.holidays,
        working_days=spec.working_days,
        country=spec.country,
        subdivision=spec.subdivision,
        always_open=spec.always_open,
    )
    _COMPILED[id(spec)] = (spec, calendar)
    return calendar


_COMPILED: dict[int, tuple[CalendarSpec, BusinessCalendar]] = {}
"""Compiled calendars by spec: pydantic private attributes are slow to read on hot paths."""


class Target(Record):
    """A target in business minutes, and when to warn: ``warning_minutes_before`` it when
    given, else at ``warning_fraction`` of it (80% by default; None for no warning)."""

    minutes: Annotated[float, Field(gt=0, le=10_000_000)]
    warning_fraction: Annotated[float, Field(gt=0, lt=1)] | None = 0.8
    warning_minutes_before: Annotated[float, Field(gt=0)] | None = None

    @property
    def seconds(self) -> float:
        return self.minutes * 60

    @property
    def warning_seconds(self) -> float | None:
        if self.warning_minutes_before is not None:
            return max(self.seconds - self.warning_minutes_before * 60, 0.0)
        if self.warning_fraction is not None:
            return self.seconds * self.warning_fraction
        return None


class SLAMatch(Record):
    """Ticket attributes a rule applies to; a missing attribute matches everything."""

    priority: frozenset[Priority] | None = None
    channel: frozenset[Channel] | None = None
    category: frozenset[str] | None = None
    tier: frozenset[str] | None = None

    def matches(self, ticket: Ticket, tier: str | None) -> bool:
        return (
            (self.priority is None or ticket.priority in self.priority)
            and (self.channel is None or ticket.channel in self.channel)
            and (self.category is None or ticket.category in self.category)
            and (self.tier is None or tier in self.tier)
        )


class SLARule(Record):
    """A named rule: the targets per metric for the tickets it matches."""

    name: Annotated[str, Field(min_length=1, max_length=128)]
    match: SLAMatch = SLAMatch()
    targets: dict[Metric, Target] = Field(min_length=1)


class Escalation(Record):
    """What a breach does besides the breach event: raise the escalation level and
    optionally hand the ticket to an assignee or team."""

    on: frozenset[Metric] = frozenset({Metric.FIRST_RESPONSE, Metric.RESOLUTION})
    assignee: str | None = None
    team: str | None = None


_DEFAULT_PAUSES = {
    Metric.RESOLUTION: frozenset(
        {StatusCategory.WAITING_ON_CUSTOMER, StatusCategory.WAITING_ON_THIRD_PARTY}
    ),
    Metric.PERIODIC_UPDATE: frozenset(
        {StatusCategory.WAITING_ON_CUSTOMER, StatusCategory.WAITING_ON_THIRD_PARTY}
    ),
}


class SLAPolicy(Record):
    """Ordered first-match rules, the status categories that pause each metric, the
    calendar (per team where teams keep their own hours) and what a breach escalates."""

    name: Annotated[str, Field(min_length=1, max_length=128)]
    version: str = "1"
    rules: tuple[SLARule, ...] = Field(min_length=1)
    pauses: dict[Metric, frozenset[StatusCategory]] = Field(
        default_factory=lambda: dict(_DEFAULT_PAUSES)
    )
    calendar: CalendarSpec = CalendarSpec(always_open=True)
    team_calendars: dict[str, CalendarSpec] = Field(default_factory=dict)
    escalation: Escalation | None = None

    def rule_for(self, ticket: Ticket, tier: str | None = None) -> SLARule | None:
        """The first rule matching the ticket, or None."""
        for rule in self.rules:
            if rule.match.matches(ticket, tier):
                return rule
        return None

    def calendar_for(self, ticket: Ticket) -> BusinessCalendar:
        """The ticket's team's calendar, else the policy's."""
        spec = self.team_calendars.get(ticket.team) if ticket.team else None
        return (spec or self.calendar).calendar

    def track(
        self,
        ticket: Ticket,
        events: Sequence[Event],
        now: datetime,
        *,
        category_of: Callable[[str], StatusCategory],
        tier: str | None = None,
    ) -> SLAStatus:
        """The state of every metric of ``ticket`` at ``now``, from its events alone."""
        rule = self.rule_for(ticket, tier)
        if rule is None:
            return SLAStatus(None, {})
        calendar = self.calendar_for(ticket)
        timeline = _Timeline.of(events, category_of)
        now_ts = now.timestamp()
        statuses = {}
        clock = _BusinessClock(timeline, calendar, now_ts)
        for metric, target in rule.targets.items():
            cycle = timeline.cycle(metric, now_ts)
            if cycle is None:
                continue
            statuses[metric] = _measure(metric, target, cycle, timeline, clock,
                                        self.pauses.get(metric, _NEVER), now_ts)  # fmt: skip
        return SLAStatus(rule.name, statuses)


@attrs.frozen
class MetricStatus:
    """One metric now: when it is due, when it was met, business seconds used and paused.

    Times are kept as UTC timestamps (``*_ts``) and offered as datetimes.
    """

    metric: Metric
    state: MetricState
    started_ts: float
    due_ts: float
    warning_ts: float | None
    met_ts: float | None
    used_seconds: float
    paused_seconds: float

    @property
    def started_at(self) -> datetime:
        """When the metric's clock started."""
        return _dt(self.started_ts)

    @property
    def due_at(self) -> datetime:
        """When the target is missed, pauses so far included."""
        return _dt(self.due_ts)

    @property
    def warning_at(self) -> datetime | None:
        """When the metric warns, if it has a warning."""
        return None if self.warning_ts is None else _dt(self.warning_ts)

    @property
    def met_at(self) -> datetime | None:
        """When the metric was met, if it was."""
        return None if self.met_ts is None else _dt(self.met_ts)

    @property
    def breached(self) -> bool:
        """Whether the target was (or is being) missed."""
        return self.state is MetricState.BREACHED


@attrs.frozen
class SLAStatus:
    """Every metric of a ticket at one moment, and the rule that set the targets."""

    rule: str | None
    metrics: Mapping[Metric, MetricStatus]

    def next_checkpoint(self) -> datetime | None:
        """The next time a running metric warns or breaches, for the due-work index. A
        paused metric cannot warn or breach until it runs again, which is a change that
        recomputes this."""
        upcoming = []
        for status in self.metrics.values():
            if status.state is MetricState.RUNNING and status.warning_ts is not None:
                upcoming.append(status.warning_ts)
            if status.state in (MetricState.RUNNING, MetricState.WARNING):
                upcoming.append(status.due_ts)
        return _dt(min(upcoming)) if upcoming else None


_RESPONSE_ROLES = frozenset({"agent", "bot"})
_CLOSED = frozenset({StatusCategory.RESOLVED, StatusCategory.CLOSED})
_WAITING_ON_CUSTOMER = StatusCategory.WAITING_ON_CUSTOMER
_NEVER: frozenset[StatusCategory] = frozenset()


@attrs.define
class _Timeline:
    """The facts tracking needs, read once from the events: status spans and replies."""

    created: float
    spans: list[tuple[float, StatusCategory]]  # (from, category) in order
    agent_replies: list[float]
    customer_messages: list[float]
    resolved_at: list[tuple[float, bool]]  # (when, resolved?) at each resolution change

    @classmethod
    def of(cls, events: Sequence[Event], category_of: Callable[[str], StatusCategory]) -> _Timeline:
        created = events[0].at.timestamp()
        spans: list[tuple[float, StatusCategory]] = []
        agent: list[float] = []
        customer: list[float] = []
        resolved: list[tuple[float, bool]] = []
        current: StatusCategory | None = None
        categories: dict[str, StatusCategory] = {}
        for event in events:
            at = event.at.timestamp()
            if event.trigger == MESSAGE_ADDED:
                payload = event.payload
                if payload.get("kind") == "public_reply":
                    (agent if payload.get("author_role") in _RESPONSE_ROLES else customer).append(
                        at
                    )
                continue
            category = categories.get(event.to_state)
            if category is None:
                category = categories[event.to_state] = category_of(event.to_state)
            if category is not current:
                spans.append((at, category))
                closed = category in _CLOSED
                was_closed = current in _CLOSED
                if closed != was_closed or event.trigger == OPENED:
                    resolved.append((at, closed))
                current = category
        return cls(created, spans, agent, customer, resolved)

    def resolution_met(self) -> float | None:
        if self.resolved_at and self.resolved_at[-1][1]:
            return self.resolved_at[-1][0]
        return None

    def cycle(self, metric: Metric, now: float) -> tuple[float, float | None] | None:
        """(start, met) of the metric's current cycle, or None when it does not apply."""
        if metric is Metric.FIRST_RESPONSE:
            waiting = [t for t, c in self.spans if c is _WAITING_ON_CUSTOMER]
            return (self.created, min(self.agent_replies + waiting, default=None))
        if metric is Metric.RESOLUTION:
            # only unresolved stretches count (see _open_intervals), so a reopened ticket
            # continues from the time it had already used
            return (self.created, self.resolution_met())
        if metric is Metric.NEXT_RESPONSE:
            return self._next_response()
        if self.resolution_met() is not None:
            return None  # no periodic updates are owed on a resolved ticket
        return (max(self.agent_replies, default=self.created), None)

    def _next_response(self) -> tuple[float, float | None] | None:
        """The customer's latest unanswered message, or the last answered one."""
        replies = self.agent_replies
        if not replies:
            return None  # the first answer is the first-response metric's
        last_reply = replies[-1]
        waiting = [t for t in self.customer_messages if t > last_reply]
        if waiting:
            return (waiting[0], None)
        earlier = [r for r in replies if r < last_reply]
        since = earlier[-1] if earlier else replies[0]
        answered = [t for t in self.customer_messages if since < t < last_reply]
        return (answered[0], last_reply) if answered else None


class _BusinessClock:
    """Business positions of a timeline's span boundaries, computed once per ticket, and
    prefix sums of paused time per set of pausing categories: used and paused time of any
    stretch is then two bisects and some arithmetic."""

    __slots__ = ("_calendar", "_categories", "_memo", "_positions", "_prefix", "_starts")

    def __init__(self, timeline: _Timeline, calendar: BusinessCalendar, now: float) -> None:
        self._calendar = calendar
        self._starts = [start for start, _ in timeline.spans]
        self._categories = [category for _, category in timeline.spans]
        self._memo: dict[float, float] = {}
        self._positions = [self.position(start) for start in self._starts]
        self._prefix: dict[frozenset[StatusCategory], list[float]] = {}

    def position(self, ts: float) -> float:
        found = self._memo.get(ts)
        if found is None:
            found = self._memo[ts] = self._calendar.position(ts)
        return found

    def _paused_until(self, ts: float, paused: frozenset[StatusCategory]) -> float:
        """Paused business seconds from the first span to ``ts``."""
        prefix = self._prefix.get(paused)
        positions, categories = self._positions, self._categories
        if prefix is None:
            prefix = [0.0]
            for index in range(len(positions) - 1):
                step = (
                    positions[index + 1] - positions[index] if categories[index] in paused else 0.0
                )
                prefix.append(prefix[-1] + step)
            self._prefix[paused] = prefix
        index = bisect_right(self._starts, ts) - 1
        if index < 0:
            return 0.0
        tail = self.position(ts) - positions[index] if categories[index] in paused else 0.0
        return prefix[index] + tail

    def split(self, lo: float, hi: float, paused: frozenset[StatusCategory]) -> tuple[float, float]:
        """(used, paused) business seconds between ``lo`` and ``hi``."""
        if hi <= lo:
            return 0.0, 0.0
        total = self.position(hi) - self.position(lo)
        if not paused:
            return total, 0.0
        stopped = self._paused_until(hi, paused) - self._paused_until(lo, paused)
        return total - stopped, stopped

    def currently(self) -> StatusCategory | None:
        return self._categories[-1] if self._categories else None


def _measure(
    metric: Metric,
    target: Target,
    cycle: tuple[float, float | None],
    timeline: _Timeline,
    clock: _BusinessClock,
    paused_categories: frozenset[StatusCategory],
    now: float,
) -> MetricStatus:
    start, met = cycle
    end = met if met is not None else now
    if metric is Metric.RESOLUTION and timeline.resolved_at:
        intervals = _open_intervals(timeline, end)
    else:
        intervals = [(start, end)]
    used = paused = 0.0
    for interval_start, interval_end in intervals:
        run, stop = clock.split(max(interval_start, start), interval_end, paused_categories)
        used += run
        paused += stop
    calendar = clock._calendar
    due = calendar.add_seconds(start, target.seconds + paused)
    warning_seconds = target.warning_seconds
    warning = None
    if warning_seconds is not None and met is None:  # a met metric warns no more
        warning = calendar.add_seconds(start, warning_seconds + paused)
    currently_paused = met is None and clock.currently() in paused_categories
    if met is not None:
        state = MetricState.MET if used <= target.seconds else MetricState.BREACHED
    elif used >= target.seconds:
        state = MetricState.BREACHED
    elif warning_seconds is not None and used >= warning_seconds:
        state = MetricState.WARNING
    elif currently_paused:
        state = MetricState.PAUSED
    else:
        state = MetricState.RUNNING
    return MetricStatus(metric, state, start, due, warning, met, round(used, 6), round(paused, 6))


def _open_intervals(timeline: _Timeline, end: float) -> list[tuple[float, float]]:
    """For resolution: the stretches the ticket was not resolved, up to ``end``."""
    intervals: list[tuple[float, float]] = []
    opened: float | None = None
    for at, closed in timeline.resolved_at:
        if at > end:
            break
        if not closed and opened is None:
            opened = at
        elif closed and opened is not None:
            intervals.append((opened, at))
            opened = None
    if opened is not None:
        intervals.append((opened, end))
    return intervals


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)
