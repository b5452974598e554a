"""Measuring SLA metrics from a ticket's event history: the business time each metric has
used, its pauses, warning and due times, and whether it was met or breached.

Pauses extend a target only while it is not used up: once a metric has used its target,
its due time is the moment it did, and later pauses leave it there. The first response
is never paused; entering one of the policy's ``first_response_met_by`` categories (by
default waiting on the customer) meets it, as a public agent or bot reply does.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING

import attrs

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models import Event, Ticket
from aftersales.models.events import MESSAGE_ADDED, OPENED
from aftersales.models.ticket import StatusCategory
from aftersales.sla.calendar import BusinessCalendar, instant_seconds
from aftersales.sla.calendar import _dt as _calendar_dt

if TYPE_CHECKING:
    from aftersales.sla.policy import Target

__all__ = [
    "FIRST_RESPONSE_MET_BY",
    "Metric",
    "MetricState",
    "MetricStatus",
    "SLAStatus",
    "first_response_at",
    "meets_first_response",
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


FIRST_RESPONSE_MET_BY: frozenset[StatusCategory] = frozenset({StatusCategory.WAITING_ON_CUSTOMER})
"""The status categories whose entry meets the first response by default: waiting on the
customer (an agent asked the customer something, which answers them)."""

_MEETS_FIRST_RESPONSE = frozenset(
    {
        StatusCategory.WAITING_ON_CUSTOMER,
        StatusCategory.WAITING_ON_THIRD_PARTY,
        StatusCategory.RESOLVED,
        StatusCategory.CLOSED,
    }
)


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
_NEVER: frozenset[StatusCategory] = frozenset()


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput("SLA tracking", [FieldError((field,), message)])


def _instant(at: object, field: str) -> float:
    """The UTC timestamp of an aware datetime in the supported range, or InvalidInput."""
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise _bad(field, f"must be a timezone-aware datetime, not {at!r:.80}")
    ts: float = instant_seconds(at, field)
    return ts


def _check_ticket(ticket: object, tier: object = None) -> None:
    if not isinstance(ticket, Ticket):
        raise _bad("ticket", f"must be a Ticket, not {type(ticket).__name__}")
    if tier is not None and not isinstance(tier, str):
        raise _bad("tier", f"must be a customer tier name or None, not {type(tier).__name__}")


def _check_category_of(category_of: object) -> None:
    if not callable(category_of):
        raise _bad("category_of", "must map a status to its category (workflow.category_of)")


def _categories(met_by: object) -> frozenset[StatusCategory]:
    """``met_by`` as a set of status categories, or InvalidInput."""
    if met_by is FIRST_RESPONSE_MET_BY:
        return met_by
    if isinstance(met_by, frozenset) and all(isinstance(c, StatusCategory) for c in met_by):
        return met_by
    if isinstance(met_by, (str, bytes)) or not isinstance(met_by, Iterable):
        raise _bad("met_by", f"must be a set of status categories, not {type(met_by).__name__}")
    try:
        return frozenset(StatusCategory(category) for category in met_by)
    except (ValueError, TypeError):
        known = ", ".join(category.value for category in StatusCategory)
        raise _bad("met_by", f"must hold status categories ({known})") from None


def _check_events(events: object) -> None:
    if isinstance(events, (str, bytes)) or not isinstance(events, Sequence):
        raise _bad("events", f"must be a sequence of events, not {type(events).__name__}")
    if not events:
        raise _bad("events", "a ticket's history starts with its creation; none was given")
    for event in events:
        if not isinstance(event, Event):
            raise _bad("events", f"must hold Event records, not {type(event).__name__}")


def _is_agent_reply(event: Event) -> bool:
    payload = event.payload
    return payload.get("kind") == "public_reply" and payload.get("author_role") in _RESPONSE_ROLES


def meets_first_response(
    event: Event,
    *,
    category_of: Callable[[str], StatusCategory],
    met_by: frozenset[StatusCategory] = FIRST_RESPONSE_MET_BY,
) -> bool:
    """Whether ``event`` meets a ticket's first response, if none came before it: a public
    reply by an agent or a bot, or entering (creating the ticket in, or changing to) a
    status whose category is in ``met_by``. ``category_of`` maps a status to its category
    (``Desk.workflow.category_of``).

    The SLA metric and ``Ticket.first_response_at`` follow this rule; a desk keeps the
    ticket's field right by calling it on each new event while the field is None.
    """
    if not isinstance(event, Event):
        raise _bad("event", f"must be an Event, not {type(event).__name__}")
    if event.trigger == MESSAGE_ADDED:
        return _is_agent_reply(event)
    _check_category_of(category_of)
    met_by = _categories(met_by)
    category = category_of(event.to_state)
    if category not in met_by:
        return False
    return event.from_state is None or category_of(event.from_state) is not category


def first_response_at(
    events: Sequence[Event],
    *,
    category_of: Callable[[str], StatusCategory],
    met_by: frozenset[StatusCategory] = FIRST_RESPONSE_MET_BY,
) -> datetime | None:
    """When the ticket with history ``events`` (oldest first) got its first response, by
    the rule of :func:`meets_first_response`; None when it has not had one. This is the
    time the first-response metric is met."""
    _check_category_of(category_of)
    met = _Timeline.checked(events, category_of).first_response(_categories(met_by))
    return None if met is None else _dt(met)


@attrs.define
class _Timeline:
    """The facts tracking needs, read once from the events: status spans and replies."""

    created: float
    spans: list[tuple[float, StatusCategory]]  # (from, category) in order
    agent_replies: list[float]
    customer_messages: list[float]
    resolved_at: list[tuple[float, bool]]  # (when, resolved?) at each resolution change
    reopened: bool  # resolved before its last resolution (or before now, if open)

    @classmethod
    def checked(
        cls, events: Sequence[Event], category_of: Callable[[str], StatusCategory]
    ) -> _Timeline:
        """:meth:`of` events given at a public entry: anything but a ticket's history
        raises InvalidInput (checked in full only when reading it fails)."""
        if not events or isinstance(events, (str, bytes)) or not isinstance(events, Sequence):
            _check_events(events)
        try:
            return cls.of(events, category_of)
        except (AttributeError, TypeError):
            _check_events(events)
            raise

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
                    responder = payload.get("author_role") in _RESPONSE_ROLES
                    (agent if responder else customer).append(at)
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
        reopened = len(resolved) > 1 and any(closed for _, closed in resolved[:-1])
        return cls(created, spans, agent, customer, resolved, reopened)

    def resolution_met(self) -> float | None:
        if self.resolved_at and self.resolved_at[-1][1]:
            return self.resolved_at[-1][0]
        return None

    def first_response(self, met_by: frozenset[StatusCategory]) -> float | None:
        """The first public agent or bot reply, or entering a category of ``met_by``."""
        replied = self.agent_replies[0] if self.agent_replies else None
        for at, category in self.spans:
            if replied is not None and at > replied:
                break
            if category in met_by:
                return at
        return replied

    def cycle(
        self, metric: Metric, met_by: frozenset[StatusCategory]
    ) -> tuple[float, float | None] | None:
        """(start, met) of the metric's current cycle, or None when it does not apply."""
        if metric is Metric.FIRST_RESPONSE:
            return (self.created, self.first_response(met_by))
        if metric is Metric.RESOLUTION:
            # resolved stretches stop the clock like pauses, so a reopened ticket continues
            # from the time it had already used
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

    __slots__ = (
        "_calendar",
        "_categories",
        "_memo",
        "_positions",
        "_prefix",
        "_running",
        "_starts",
    )

    def __init__(self, timeline: _Timeline, calendar: BusinessCalendar, now: float) -> None:
        self._calendar = calendar
        self._starts = [start for start, _ in timeline.spans]
        self._categories = [category for _, category in timeline.spans]
        self._memo: dict[float, float] = {}
        self._positions = [self.position(start) for start in self._starts]
        self._prefix: dict[frozenset[StatusCategory], list[float]] = {}
        self._running: dict[frozenset[StatusCategory], list[float]] = {}

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

    def _running_at(self, ts: float, stopped: frozenset[StatusCategory]) -> float:
        """Running (not stopped) business seconds from the first span to ``ts``."""
        return self.position(ts) - self._paused_until(ts, stopped) if stopped else self.position(ts)

    def when_used(
        self, start: float, amounts: Sequence[float], stopped: frozenset[StatusCategory]
    ) -> list[float]:
        """The instants the clock, running from ``start`` except in ``stopped`` categories,
        had used each of ``amounts`` business seconds (which it did by the timeline's end)."""
        add_seconds = self._calendar.add_seconds
        if not stopped:
            return [add_seconds(start, amount) for amount in amounts]
        start_running = self._running_at(start, stopped)  # builds the prefix sums
        running = self._running.get(stopped)
        if running is None:
            prefix = self._prefix[stopped]
            running = self._running[stopped] = [
                position - paused for position, paused in zip(self._positions, prefix, strict=True)
            ]
        found = []
        for amount in amounts:
            goal = start_running + amount
            # The last span the clock entered before reaching the goal is a running one, and
            # the goal lies inside it (a stopped span adds nothing).
            index = bisect_left(running, goal) - 1
            if index >= 0 and self._starts[index] > start:
                found.append(add_seconds(self._starts[index], goal - running[index]))
            else:
                found.append(add_seconds(start, amount))
        return found

    def currently(self) -> StatusCategory | None:
        return self._categories[-1] if self._categories else None


def _measure(
    metric: Metric,
    target: Target,
    cycle: tuple[float, float | None],
    clock: _BusinessClock,
    paused_categories: frozenset[StatusCategory],
    stopped: frozenset[StatusCategory],
    now: float,
) -> MetricStatus:
    """One metric's state. ``stopped`` holds the categories that stop its clock: the paused
    ones, and for resolution the resolved ones too (a reopen continues the clock)."""
    start, met = cycle
    end = met if met is not None else now
    used, stopped_seconds = clock.split(start, end, stopped)
    paused = (
        stopped_seconds
        if stopped is paused_categories
        else clock.split(start, end, paused_categories)[1]
    )

    # A target used up by ``end`` fell due the moment it was, which later pauses cannot
    # move. Else it falls due at ``end`` plus what is left, pauses so far included (as if
    # the clock runs from now on). The same for the warning point.
    seconds = target.seconds
    warning_seconds = target.warning_seconds
    if met is not None:
        warning_seconds = None  # a met metric warns no more
    add_seconds = clock._calendar.add_seconds
    if used < seconds:
        due = add_seconds(end, seconds - used)
        warning = None
        if warning_seconds is not None:
            if used < warning_seconds:
                warning = add_seconds(end, warning_seconds - used)
            else:
                warning = clock.when_used(start, (warning_seconds,), stopped)[0]
    elif warning_seconds is None:
        due, warning = clock.when_used(start, (seconds,), stopped)[0], None
    else:
        due, warning = clock.when_used(start, (seconds, warning_seconds), stopped)
    currently_paused = met is None and clock.currently() in paused_categories
    if met is not None:
        state = MetricState.MET if used <= seconds else MetricState.BREACHED
    elif used >= seconds:
        state = MetricState.BREACHED
    elif warning_seconds is not None and used >= warning_seconds:
        state = MetricState.WARNING
    elif currently_paused:
        state = MetricState.PAUSED
    else:
        state = MetricState.RUNNING
    return MetricStatus(metric, state, start, due, warning, met, round(used, 6), round(paused, 6))


def _dt(ts: float) -> datetime:
    return _calendar_dt(ts)
