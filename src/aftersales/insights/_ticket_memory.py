"""The tallies behind :func:`aftersales.insights.metrics.ticket_metrics`, and how Python
counts them over tickets in memory (MemoryStore's objects, or any store's public API).

Every store answers the same two questions with rows of plain values, and
:mod:`aftersales.insights.metrics` turns the rows into the report, so every store gives
the same numbers:

- the *cohort* rows: the tickets created in the period(s), counted per group, period,
  first-response bucket and resolution bucket (:data:`CohortRow`);
- the *backlog* rows: the tickets open at each period's ``as_of``, counted per group and
  ageing bucket at each measuring instant (:data:`BacklogRow`); a reopened ticket is open
  at an instant by its last transition by then (:func:`open_at`);
- when the plan asks, the *escalation* rows: the escalated tickets among the cohort,
  counted per group, period and escalation level (:data:`EscalationRow`).

Durations are bucketed by :func:`duration_bucket`; the SQL stores compute the same
function in the database (:mod:`aftersales.insights._ticket_sql`).
"""

from __future__ import annotations

import bisect
import functools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from aftersales.exceptions import NotFound
from aftersales.models import Channel, Event, StatusCategory, Ticket
from aftersales.models.events import RESERVED_TRIGGERS
from aftersales.storage import MemoryStore, Store, TicketQuery, every_ticket
from aftersales.storage._codec import ticket_sku
from aftersales.workflows import TICKET_WORKFLOW

WAITING_ON_CUSTOMER = "waiting_on_customer"
"""The ticket workflow's state whose entry means the agent had to ask the customer: a
ticket that ever entered it was not resolved at first contact."""

FINISHED_STATES = tuple(
    sorted(
        state.name
        for state in TICKET_WORKFLOW.states
        if state.category in (StatusCategory.RESOLVED, StatusCategory.CLOSED)
    )
)
"""The ticket workflow's states of the ``resolved`` and ``closed`` categories: a reopened
ticket whose last transition by an instant entered one of them was not open then (the
events keep a state's name, not its category)."""

NOT_TRANSITIONS = tuple(sorted(RESERVED_TRIGGERS))
"""The triggers of events recorded without a transition (a message, an SLA warning, a
time entry...): they leave a ticket in its state."""

History = Callable[[str], Sequence[Event]]
"""A ticket's events, by its id."""

AGE_LIMITS_DAYS = (1, 3, 7, 30)
"""The ageing buckets' limits: under 1 day, 1-3, 3-7, 7-30 and 30 days or more."""

BUCKETS_PER_DOUBLING = 4
"""Histogram buckets per doubling of a duration: each bucket is 2^(1/4), about 19%, wide."""

NUDGE = 1e-9
"""Added before the floor in :func:`duration_bucket` so that an exact power of two lands
in the same bucket on every database whatever the last bit of its logarithm."""

Group = str | int | None
"""A row's group: the value of the grouping column (None for none), or a trend's slice
number."""

SCORES = (1, 2, 3, 4, 5)
"""The satisfaction scores a customer can give (``Ticket.satisfaction``)."""

Scores = tuple[int, int, int, int, int]
"""Tickets per satisfaction score, from 1 to 5."""

CohortRow = tuple[Group, int, int | None, int | None, int, int, int, Scores]
"""``(group, period, first_response_bucket, resolution_bucket, tickets, reopened,
first_contact, scores)``: ``period`` 0 is the queried one, 1 the previous; a bucket is
None when the ticket has no first response (no resolution); ``reopened`` and
``first_contact`` count resolved tickets only; ``scores`` the tickets rated 1 to 5."""

BacklogRow = tuple[Group, int | None, int | None, int]
"""``(group, age_bucket_now, age_bucket_before, tickets)``: the ageing bucket (0-4) of
the tickets open at the queried ``as_of`` and at the previous period's, None where they
were not open. In a trend, the group is the slice and ``age_bucket_now`` the ageing at
the slice's end."""

EscalationRow = tuple[Group, int, int, int]
"""``(group, period, escalation_level, tickets)``: the cohort's tickets whose
``Ticket.escalation_level`` is that level now, for levels above 0 only (the others are
the cohort's remaining tickets)."""

Rows = tuple[list[CohortRow], list[BacklogRow], list[EscalationRow]]
"""What every store answers a :class:`Plan` with."""

GROUP_COLUMNS = ("channel", "category", "priority", "team", "sku", "tier")
"""The ticket columns a report may group and filter by, and ``tier``: the tier of the
ticket's customer (from the customer's record)."""

TierOf = Callable[[str], str | None]
"""The tier of a customer, by id (None for a customer without one, or unknown)."""


def duration_bucket(microseconds: int) -> int:
    """The histogram bucket of a duration: ``floor(4 * log2(s + 1))`` where ``s`` is the
    duration in whole seconds (a negative duration counts as 0)."""
    seconds = max(microseconds, 0) // 1_000_000
    return math.floor(BUCKETS_PER_DOUBLING * math.log2(seconds + 1) + NUDGE)


@functools.lru_cache(maxsize=512)
def bucket_floor(bucket: int) -> int:
    """The fewest whole seconds that fall in ``bucket``: durations in bucket ``k`` lie in
    ``[bucket_floor(k), bucket_floor(k + 1))`` seconds. Found by bisection over
    :func:`duration_bucket` itself (not its closed form), so the bounds are the ones the
    databases bucket by, nudge included."""
    low, high = 0, 2 ** (bucket // BUCKETS_PER_DOUBLING + 1)  # bucket(high) > bucket
    while low < high:
        middle = (low + high) // 2
        if duration_bucket(middle * 1_000_000) >= bucket:
            high = middle
        else:
            low = middle + 1
    return low


@attrs.frozen
class Plan:
    """What a query asks the stores, in their terms."""

    group_column: str | None
    filters: tuple[tuple[str, tuple[str, ...]], ...]
    """``(column, allowed values)`` pairs."""
    cohort_from: datetime
    """The earliest creation counted: the previous period's start when comparing."""
    period_from: datetime
    """The queried period's start: earlier tickets belong to the previous period."""
    created_to: datetime
    as_of: tuple[datetime, ...]
    """The instants backlog is measured at: the queried one, then the previous one (in a
    trend: each slice's end)."""
    slice_ends: tuple[datetime, ...] = ()
    """A trend's slices, by their ends (the last one ``created_to``): each row's group is
    then the slice a ticket was created in (slice 0 from ``period_from``), and the backlog
    is counted at each slice's end. Empty for a report of the period."""
    escalations: bool = False
    """Whether to count the :data:`EscalationRow` rows too (a read of each ticket's JSON
    on the SQL stores, where the level is kept)."""

    @property
    def compare(self) -> bool:
        return len(self.as_of) > 1 and not self.slice_ends

    def slice_of(self, created_at: datetime) -> int:
        """The trend slice a ticket created at ``created_at`` (in the period) belongs to."""
        return bisect.bisect_right(self.slice_ends, created_at)

    def age_limits(self, period: int) -> tuple[datetime, ...]:
        """The creation instants after which a ticket open at ``as_of[period]`` is in an
        ageing bucket below each limit of :data:`AGE_LIMITS_DAYS`."""
        return tuple(self.as_of[period] - timedelta(days=days) for days in AGE_LIMITS_DAYS)


def _value(value: Any) -> str | None:
    """A ticket field as the text its column holds."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _micros(later: datetime, earlier: datetime) -> int:
    return (later - earlier) // timedelta(microseconds=1)


def _age_bucket(created_at: datetime, limits: tuple[datetime, ...]) -> int:
    for bucket, limit in enumerate(limits):
        if created_at > limit:
            return bucket
    return len(limits)


def open_at(ticket: Ticket, at: datetime, history: Callable[[], Sequence[Event]]) -> bool:
    """Whether ``ticket`` was open at ``at``: created before it, neither resolved nor
    closed by then by its columns, and, if it was ever reopened, its last transition by
    then (none: still in its first state) entered no finished state.

    The columns alone do for a ticket never reopened (it finished once, at its
    ``resolved_at`` or ``closed_at``), and whenever they say finished (a reopening clears
    ``resolved_at``, and a closed ticket is never reopened); only a reopened ticket's
    ``history()`` is read, as a reopening after ``at`` would have it open at ``at``."""
    if not (
        ticket.created_at < at
        and (ticket.resolved_at is None or ticket.resolved_at > at)
        and (ticket.closed_at is None or ticket.closed_at > at)
    ):
        return False
    if not ticket.reopen_count:
        return True
    last: Event | None = None
    for event in history():
        if (
            event.at <= at
            and event.trigger not in NOT_TRANSITIONS
            and (last is None or event.sequence > last.sequence)
        ):
            last = event
    return last is None or last.to_state not in FINISHED_STATES


def column_value(ticket: Ticket, column: str, tier_of: TierOf) -> str | None:
    """A ticket's value of a :data:`GROUP_COLUMNS` column, as the SQL stores read it."""
    if column == "sku":
        return ticket_sku(ticket)
    if column == "tier":
        return tier_of(ticket.customer_id)
    return _value(getattr(ticket, column))


_Key = tuple[Group, int, int | None, int | None]
"""A cohort row's group, period and buckets."""


def tally(
    tickets: Iterable[Ticket],
    waited: Callable[[str], bool],
    plan: Plan,
    tier_of: TierOf,
    events_of: History,
) -> Rows:
    """The rows of ``tickets`` (any superset of the ones the plan counts);
    ``waited(ticket_id)`` says whether the ticket ever entered
    :data:`WAITING_ON_CUSTOMER`, ``tier_of`` a customer's tier, ``events_of`` a ticket's
    events (read for the reopened tickets the backlog may count, once each)."""
    cohort: Counter[_Key] = Counter()
    scores: dict[_Key, list[int]] = {}
    reopened: Counter[_Key] = Counter()
    first_contact: Counter[_Key] = Counter()
    backlog: Counter[tuple[Group, int | None, int | None]] = Counter()
    levels: Counter[tuple[Group, int, int]] = Counter()
    limits = [plan.age_limits(period) for period in range(len(plan.as_of))]
    filters = [(column, set(values)) for column, values in plan.filters]
    for ticket in tickets:
        if any(column_value(ticket, name, tier_of) not in values for name, values in filters):
            continue
        group: Group = (
            None if plan.group_column is None else column_value(ticket, plan.group_column, tier_of)
        )
        created = ticket.created_at
        history = functools.cache(functools.partial(events_of, ticket.id))
        if plan.slice_ends:
            _count_slices(ticket, history, plan, limits, backlog)
            group = plan.slice_of(created)
        if plan.cohort_from <= created < plan.created_to:
            period = 0 if created >= plan.period_from else 1
            responded, resolved = ticket.first_response_at, ticket.resolved_at
            key = (
                group,
                period,
                None if responded is None else duration_bucket(_micros(responded, created)),
                None if resolved is None else duration_bucket(_micros(resolved, created)),
            )
            cohort[key] += 1
            if plan.escalations and ticket.escalation_level > 0:
                levels[group, period, ticket.escalation_level] += 1
            if ticket.satisfaction is not None:
                scores.setdefault(key, [0] * 5)[ticket.satisfaction - 1] += 1
            if resolved is not None:
                if ticket.reopen_count > 0:
                    reopened[key] += 1
                elif not waited(ticket.id):
                    first_contact[key] += 1
        if plan.slice_ends:
            continue
        ages = [
            _age_bucket(created, limits[period]) if open_at(ticket, at, history) else None
            for period, at in enumerate(plan.as_of)
        ]
        if any(age is not None for age in ages):
            now, before = ages[0], (ages[1] if plan.compare else None)
            backlog[group, now, before] += 1
    cohort_rows: list[CohortRow] = [
        (*key, count, reopened[key], first_contact[key], _scores(scores.get(key)))
        for key, count in cohort.items()
    ]
    backlog_rows: list[BacklogRow] = [(*key, count) for key, count in backlog.items()]
    return cohort_rows, backlog_rows, [(*key, count) for key, count in levels.items()]


def _scores(counts: list[int] | None) -> Scores:
    if counts is None:
        return (0, 0, 0, 0, 0)
    one, two, three, four, five = counts
    return (one, two, three, four, five)


def _count_slices(
    ticket: Ticket,
    history: Callable[[], Sequence[Event]],
    plan: Plan,
    limits: list[tuple[datetime, ...]],
    backlog: Counter[tuple[Group, int | None, int | None]],
) -> None:
    """Count ``ticket`` in the backlog at the end of each trend slice it is open at."""
    for index, end in enumerate(plan.slice_ends):
        if open_at(ticket, end, history):
            backlog[index, _age_bucket(ticket.created_at, limits[index]), None] += 1


def memory_tally(store: MemoryStore, plan: Plan) -> Rows:
    """The rows over a MemoryStore's own objects, under its lock (a consistent view)."""
    with store._lock:
        events = store._events

        customers = store._customers

        def waited(ticket_id: str) -> bool:
            return any(e.to_state == WAITING_ON_CUSTOMER for e in events.get(ticket_id, ()))

        def tier_of(customer_id: str) -> str | None:
            customer = customers.get(customer_id)
            return None if customer is None else customer.tier

        def events_of(ticket_id: str) -> Sequence[Event]:
            return events.get(ticket_id, ())

        return tally(store._tickets.values(), waited, plan, tier_of, events_of)


PAGE = 10_000
"""Tickets read per ``find`` call on a store without a faster path."""


def ticket_pages(store: Store, query: TicketQuery) -> Iterator[Ticket]:
    """The tickets ``query`` finds in ``store``, read :data:`PAGE` at a time by cursor
    (an offset page reads every row before it)."""
    return every_ticket(store, query.model_copy(update={"limit": PAGE}))


def store_tally(store: Store, plan: Plan) -> Rows:
    """The rows over any store's public API: its tickets created before the last instant
    counted, a page at a time, and the events of the tickets that may count as resolved at
    first contact or, reopened, as open at an instant."""
    single = {column: values[0] for column, values in plan.filters if len(values) == 1}
    channel = single.get("channel")
    query = TicketQuery(
        channel=None if channel is None else Channel(channel),
        team=single.get("team"),
        created_to=max(plan.created_to, plan.as_of[0]),
        limit=PAGE,
    )

    def waited(ticket_id: str) -> bool:
        return any(e.to_state == WAITING_ON_CUSTOMER for e in store.events(ticket_id))

    @functools.cache
    def tier_of(customer_id: str) -> str | None:
        try:
            return store.get_customer(customer_id).tier
        except NotFound:
            return None

    return tally(ticket_pages(store, query), waited, plan, tier_of, store.events)
