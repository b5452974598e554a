"""SLA policies: first-match rules choosing a target per metric, the calendars they count
on, the statuses that pause each metric, and escalation. :meth:`SLAPolicy.track` measures
a ticket against them from its event history (see :mod:`aftersales.sla.measure`), so it
stays right after a replay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Annotated

from pydantic import Field, model_validator
from typing_extensions import Self

from aftersales.exceptions import InvalidInput
from aftersales.models import Event, Ticket
from aftersales.models._base import Record
from aftersales.models.customer import Channel
from aftersales.models.ticket import PriorityLevel, StatusCategory
from aftersales.sla.calendar import BusinessCalendar
from aftersales.sla.measure import (
    _CLOSED,
    _MEETS_FIRST_RESPONSE,
    _NEVER,
    FIRST_RESPONSE_MET_BY,
    Metric,
    MetricState,
    MetricStatus,
    SLAStatus,
    _bad,
    _BusinessClock,
    _check_category_of,
    _check_events,
    _check_ticket,
    _instant,
    _measure,
    _Timeline,
    first_response_at,
    meets_first_response,
)

__all__ = [
    "FIRST_RESPONSE_MET_BY",
    "MAX_TARGET_MINUTES",
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
    "first_response_at",
    "meets_first_response",
]

MAX_TARGET_MINUTES = 365 * 24 * 60
"""The longest SLA target: 365 days (525,600 minutes) of business time. On a calendar open
40 hours a week that is over four years of calendar time; with instants limited to the
years 1900-2200, a target whose due time would fall after 2200 raises InvalidInput."""


class CalendarSpec(Record):
    """A business calendar as configuration (see :class:`BusinessCalendar`)."""

    time_zone: str = "UTC"
    hours: dict[str, tuple[str, ...]] | None = None
    holidays: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()
    country: str | None = None
    subdivision: str | None = None
    always_open: bool = False
    make_up_hours_from: int | str | None = None
    """The weekday whose hours make-up working days are worked with (0-6 or a name like
    "mon"); by default the standard weekday, the hours most of Monday-Friday share."""

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
        make_up_hours_from=spec.make_up_hours_from,
    )
    _COMPILED[id(spec)] = (spec, calendar)
    return calendar


_COMPILED: dict[int, tuple[CalendarSpec, BusinessCalendar]] = {}
"""Compiled calendars by spec: pydantic private attributes are slow to read on hot paths."""


class Target(Record):
    """A target in business minutes (more than 0, at most :data:`MAX_TARGET_MINUTES`, 365
    days), and when to warn: ``warning_minutes_before`` it when given, else at
    ``warning_fraction`` of it (80% by default; None for no warning)."""

    minutes: Annotated[float, Field(gt=0, le=MAX_TARGET_MINUTES)]
    warning_fraction: Annotated[float, Field(gt=0, lt=1)] | None = 0.8
    warning_minutes_before: Annotated[float, Field(gt=0, le=MAX_TARGET_MINUTES)] | None = None

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

    priority: frozenset[PriorityLevel] | None = None
    channel: frozenset[Channel] | None = None
    category: frozenset[str] | None = None
    tier: frozenset[str] | None = None

    def matches(self, ticket: Ticket, tier: str | None) -> bool:
        """Whether the rule applies to ``ticket`` of a customer in ``tier``."""
        _check_ticket(ticket, tier)
        return self._matches(ticket, tier)

    def _matches(self, ticket: Ticket, tier: str | None) -> bool:
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
    categories whose entry meets the first response, the calendar (per team where teams
    keep their own hours) and what a breach escalates.

    ``pauses`` maps next response, periodic update and resolution to the categories that
    stop their clocks (default: waiting on the customer or a third party pause resolution
    and periodic updates). Paused business time extends a target only until the target is
    used up. The first response is never paused: ``pauses`` refuses it. Instead, entering
    a category of ``first_response_met_by`` meets it (default: waiting on the customer;
    any of waiting on the customer, waiting on a third party, resolved and closed may be
    listed, or none), as does the first public reply by an agent or a bot.
    """

    name: Annotated[str, Field(min_length=1, max_length=128)]
    version: str = "1"
    rules: tuple[SLARule, ...] = Field(min_length=1)
    pauses: dict[Metric, frozenset[StatusCategory]] = Field(
        default_factory=lambda: dict(_DEFAULT_PAUSES)
    )
    first_response_met_by: frozenset[StatusCategory] = FIRST_RESPONSE_MET_BY
    calendar: CalendarSpec = CalendarSpec(always_open=True)
    team_calendars: dict[str, CalendarSpec] = Field(default_factory=dict)
    escalation: Escalation | None = None

    @model_validator(mode="after")
    def _first_response_is_never_paused(self) -> Self:
        if Metric.FIRST_RESPONSE in self.pauses:
            raise ValueError(
                "pauses: the first response is never paused; list the statuses that meet "
                "it in first_response_met_by"
            )
        refused = self.first_response_met_by - _MEETS_FIRST_RESPONSE
        if refused:
            names = ", ".join(sorted(category.value for category in refused))
            raise ValueError(
                f"first_response_met_by: entering {names} cannot meet the first response "
                "(a ticket starts there); use waiting_on_customer, waiting_on_third_party, "
                "resolved or closed"
            )
        return self

    def meets_first_response(
        self, event: Event, *, category_of: Callable[[str], StatusCategory]
    ) -> bool:
        """Whether ``event`` meets the first response under this policy (see
        :func:`meets_first_response`)."""
        return meets_first_response(
            event, category_of=category_of, met_by=self.first_response_met_by
        )

    def first_response_at(
        self, events: Sequence[Event], *, category_of: Callable[[str], StatusCategory]
    ) -> datetime | None:
        """When the ticket with ``events`` got its first response under this policy (see
        :func:`first_response_at`)."""
        return first_response_at(events, category_of=category_of, met_by=self.first_response_met_by)

    def rule_for(self, ticket: Ticket, tier: str | None = None) -> SLARule | None:
        """The first rule matching the ticket, or None."""
        _check_ticket(ticket, tier)
        return self._rule_for(ticket, tier)

    def _rule_for(self, ticket: Ticket, tier: str | None) -> SLARule | None:
        for rule in self.rules:
            if rule.match._matches(ticket, tier):
                return rule
        return None

    def calendar_for(self, ticket: Ticket) -> BusinessCalendar:
        """The ticket's team's calendar, else the policy's."""
        _check_ticket(ticket)
        return self._calendar_for(ticket)

    def _calendar_for(self, ticket: Ticket) -> BusinessCalendar:
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
        """The state of every metric of ``ticket`` at ``now``, from its events alone (the
        ticket's history, oldest first, starting with its creation)."""
        _check_ticket(ticket, tier)
        _check_category_of(category_of)
        now_ts = _instant(now, "now")
        rule = self._rule_for(ticket, tier)
        if rule is None:
            _check_events(events)
            return SLAStatus(None, {})
        calendar = self._calendar_for(ticket)
        timeline = _Timeline.checked(events, category_of)
        statuses = {}
        clock = _BusinessClock(timeline, calendar, now_ts)
        # A resolved stretch before the last resolution stops the resolution clock too.
        reopened = timeline.reopened
        for metric, target in rule.targets.items():
            cycle = timeline.cycle(metric, self.first_response_met_by)
            if cycle is None:
                continue
            paused = self.pauses.get(metric, _NEVER)
            stopped = paused | _CLOSED if reopened and metric is Metric.RESOLUTION else paused
            try:
                statuses[metric] = _measure(metric, target, cycle, clock, paused, stopped, now_ts)
            except InvalidInput as error:  # a due time past the supported range
                raise _bad(
                    metric.value,
                    f"rule {rule.name!r}: a target of {target.minutes:g} minutes cannot be "
                    f"tracked here: {error.errors[0].message}",
                ) from None
        return SLAStatus(rule.name, statuses)
