"""SLA policies (first-match rules choosing targets per metric) and metric tracking
computed from a ticket's event history, so it stays right after a replay."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timezone
from enum import Enum
from typing import Annotated

import attrs
from pydantic import Field, PrivateAttr, model_validator
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
    _built: BusinessCalendar | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _compiles(self) -> Self:
        self._built = BusinessCalendar(
            time_zone=self.time_zone, hours=self.hours, holidays=self.holidays,
            working_days=self.working_days, country=self.country,
            subdivision=self.subdivision, always_open=self.always_open,
        )  # fmt: skip
        return self

    @property
    def calendar(self) -> BusinessCalendar:
        """The compiled calendar (built once)."""
        assert self._built is not None
        return self._built


class Target(Record):
    """A target in business minutes and when to warn: at ``warning_fraction`` of it, or
    ``warning_minutes_before`` it (the later of the two when both are given)."""

    minutes: Annotated[float, Field(gt=0, le=10_000_000)]
    warning_fraction: Annotated[float, Field(gt=0, lt=1)] | None = 0.8
    warning_minutes_before: Annotated[float, Field(gt=0)] | None = None

    @property
    def seconds(self) -> float:
        return self.minutes * 60

    @property
    def warning_seconds(self) -> float | None:
        candidates = []
        if self.warning_fraction is not None:
            candidates.append(self.seconds * self.warning_fraction)
        if self.warning_minutes_before is not None:
            candidates.append(max(self.seconds - self.warning_minutes_before * 60, 0.0))
        return max(candidates) if candidates else None


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
        for metric, target in rule.targets.items():
            cycle = timeline.cycle(metric, now_ts)
            if cycle is None:
                continue
            statuses[metric] = _measure(metric, target, cycle, timeline, calendar,
                                        self.pauses.get(metric, frozenset()), now_ts)  # fmt: skip
        return SLAStatus(rule.name, statuses)


@attrs.frozen
class MetricStatus:
    """One metric now: when it is due, when it was met, business seconds used and paused."""

    metric: Metric
    state: MetricState
    started_at: datetime
    due_at: datetime
    warning_at: datetime | None
    met_at: datetime | None
    used_seconds: float
    paused_seconds: float

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
        """The next time a metric warns or breaches, for the due-work index."""
        upcoming = []
        for status in self.metrics.values():
            if status.state in (MetricState.RUNNING, MetricState.PAUSED) and status.warning_at:
                upcoming.append(status.warning_at)
            if status.state in (MetricState.RUNNING, MetricState.PAUSED, MetricState.WARNING):
                upcoming.append(status.due_at)
        return min(upcoming) if upcoming else None


_RESPONSE_ROLES = frozenset({"agent", "bot"})


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
        for event in events:
            at = event.at.timestamp()
            if event.trigger == MESSAGE_ADDED:
                payload = event.payload
                if payload.get("kind") == "public_reply":
                    (agent if payload.get("author_role") in _RESPONSE_ROLES else customer).append(
                        at
                    )
                continue
            category = category_of(event.to_state)
            if category is not current:
                spans.append((at, category))
                closed = category in (StatusCategory.RESOLVED, StatusCategory.CLOSED)
                was_closed = current in (StatusCategory.RESOLVED, StatusCategory.CLOSED)
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
            waiting = [t for t, c in self.spans if c is StatusCategory.WAITING_ON_CUSTOMER]
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


def _measure(
    metric: Metric,
    target: Target,
    cycle: tuple[float, float | None],
    timeline: _Timeline,
    calendar: BusinessCalendar,
    paused_categories: frozenset[StatusCategory],
    now: float,
) -> MetricStatus:
    start, met = cycle
    end = met if met is not None else now
    used = paused = 0.0
    if metric is Metric.RESOLUTION and timeline.resolved_at:
        intervals = _open_intervals(timeline, end)
    else:
        intervals = [(start, end)]
    spans = timeline.spans
    for interval_start, interval_end in intervals:
        for index, (span_start, category) in enumerate(spans):
            span_end = spans[index + 1][0] if index + 1 < len(spans) else float("inf")
            lo, hi = max(span_start, interval_start, start), min(span_end, interval_end)
            if hi <= lo:
                continue
            seconds = calendar.elapsed_seconds(lo, hi)
            if category in paused_categories:
                paused += seconds
            else:
                used += seconds
    due = calendar.add_seconds(start, target.seconds + paused)
    warning_seconds = target.warning_seconds
    warning = calendar.add_seconds(start, warning_seconds + paused) if warning_seconds else None
    currently_paused = bool(spans) and spans[-1][1] in paused_categories and met is None
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
    return MetricStatus(
        metric=metric,
        state=state,
        started_at=_dt(start),
        due_at=_dt(due),
        warning_at=_dt(warning) if warning is not None else None,
        met_at=_dt(met) if met is not None else None,
        used_seconds=round(used, 6),
        paused_seconds=round(paused, 6),
    )


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
