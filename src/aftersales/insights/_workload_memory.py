"""The rows behind :mod:`aftersales.insights.workload`, and how Python counts them over
a store's objects (MemoryStore's own, or any store's public API).

Every store answers with rows of plain values, and :mod:`aftersales.insights.workload`
turns them into reports, so every store gives the same numbers:

- :data:`LoggedRow`: time entries (``log_time`` events) in the period, summed
  per group and ticket (a case's entries count on its ticket), counted per handling-time
  bucket;
- :data:`CountRow`: per group, the tickets assigned and open at the period's end (by
  their last transition then), and the tickets resolved in the period;
- :data:`ResponseRow`: the customers' public messages waiting for a reply, per group and
  next-response bucket (None: still waiting at ``as_of``); a message on a merged
  duplicate is answered in the thread the merge leads to, as the desk shows it.

The SQL stores compute the same rows in the database (:mod:`._workload_sql`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from aftersales._time_log import LOG_TIME
from aftersales.insights._ticket_memory import duration_bucket
from aftersales.models import (
    AuthorRole,
    Case,
    Event,
    Message,
    MessageKind,
    StatusCategory,
    Ticket,
)
from aftersales.models.events import RESERVED_TRIGGERS, TICKET_KIND
from aftersales.storage import (
    CaseQuery,
    MemoryStore,
    Store,
    TicketQuery,
    every_case,
    every_ticket,
)
from aftersales.workflows import TICKET_WORKFLOW

RESOLVED = "resolved"
"""The ticket workflow's state whose entry is a resolution."""

FINISHED_STATES = tuple(
    sorted(
        state.name
        for state in TICKET_WORKFLOW.states
        if state.category in (StatusCategory.RESOLVED, StatusCategory.CLOSED)
    )
)
"""The shipped ticket workflow's states of the ``resolved`` and ``closed`` categories: a
ticket whose last transition by an instant entered one of them is not open then (the
events keep a state's name, not its category)."""

NOT_TRANSITIONS = tuple(sorted(RESERVED_TRIGGERS | {LOG_TIME}))
"""The triggers of events the library records without a transition (a message, an SLA
warning, a time entry...): one of them on a resolved ticket keeps it ``resolved`` without
resolving it again."""

CUSTOMER = AuthorRole.CUSTOMER.value
RESPONDERS = (AuthorRole.AGENT.value, AuthorRole.BOT.value)
"""Whose public reply answers a customer: an agent's or a bot's, as for the first
response (:func:`aftersales.sla.meets_first_response`)."""

LoggedRow = tuple[str | None, int, int, int, int, int, int]
"""``(group, handling_bucket, tickets, seconds, entries, cases, tickets_logged_on)``:
the tickets whose time logged in the period by the group falls in the bucket, that
time, its entries, the cases among them with an entry, and the tickets with an entry
on the ticket itself."""

CountRow = tuple[str | None, int]
"""``(group, tickets)``."""

ResponseRow = tuple[str | None, int | None, int]
"""``(group, next_response_bucket, messages)``: None for messages still unanswered."""


@attrs.frozen
class WorkloadPlan:
    """What a query asks the stores, in their terms."""

    period_from: datetime
    period_to: datetime
    as_of: datetime
    group: str
    """``"agent"``, ``"team"``, ``"channel"`` or ``"none"``."""
    teams: tuple[str, ...] | None
    channels: tuple[str, ...] | None

    def passes(self, ticket: Ticket) -> bool:
        return (self.teams is None or ticket.team in self.teams) and (
            self.channels is None or ticket.channel.value in self.channels
        )

    def in_period(self, at: datetime) -> bool:
        return self.period_from <= at < self.period_to

    def ticket_group(self, ticket: Ticket) -> str | None:
        """The group of a ticket's figures: its team or channel (its assignee when
        grouping by agent: whose open tickets they are)."""
        if self.group == "team":
            return ticket.team
        if self.group == "channel":
            return ticket.channel.value
        if self.group == "agent":
            return ticket.assignee
        return None

    def event_group(self, event: Event, ticket: Ticket) -> str | None:
        """The group of an event's figures: its actor when grouping by agent."""
        return event.actor if self.group == "agent" else self.ticket_group(ticket)


@attrs.frozen
class Rows:
    """A store's answer to the workload: its three families of rows."""

    logged: list[LoggedRow]
    open_assigned: list[CountRow]
    resolved: list[CountRow]


def _open_at(ticket: Ticket, events: Sequence[Event], at: datetime) -> bool:
    """Whether ``ticket`` was open at ``at``: created before it, and its last transition
    by then (none: still in its first state) entered no finished state. Its current
    ``resolved_at`` would not do: a reopen after ``at`` clears it."""
    if ticket.created_at >= at:
        return False
    last: Event | None = None
    for event in events:
        if (
            event.at <= at
            and event.trigger not in NOT_TRANSITIONS
            and (last is None or event.sequence > last.sequence)
        ):
            last = event
    return last is None or last.to_state not in FINISHED_STATES


def workload_rows(
    tickets: Iterable[tuple[Ticket, Sequence[Event], Sequence[tuple[Case, Sequence[Event]]]]],
    plan: WorkloadPlan,
) -> Rows:
    """The rows of ``tickets``, each with its events and its cases with theirs."""
    # (group, ticket id) -> seconds, entries, cases with an entry, an entry on the ticket
    per_ticket: dict[tuple[str | None, str], list[int]] = {}
    cases_logged: dict[tuple[str | None, str], set[str]] = defaultdict(set)
    open_assigned: Counter[str | None] = Counter()
    resolved: dict[str | None, set[str]] = defaultdict(set)
    for ticket, events, cases in tickets:
        if not plan.passes(ticket):
            continue
        if ticket.assignee is not None and _open_at(ticket, events, plan.period_to):
            open_assigned[plan.ticket_group(ticket)] += 1
        subjects = [(TICKET_KIND, ticket.id, events)]
        subjects += [(case.kind.value, case.id, case_events) for case, case_events in cases]
        for kind, subject_id, subject_events in subjects:
            for event in subject_events:
                if not plan.in_period(event.at):
                    continue
                seconds = event.payload.get("logged_seconds")
                if event.trigger == LOG_TIME and type(seconds) is int:
                    key = (plan.event_group(event, ticket), ticket.id)
                    sums = per_ticket.setdefault(key, [0, 0, 0])
                    sums[0] += seconds
                    sums[1] += 1
                    if kind == TICKET_KIND:
                        sums[2] = 1
                    else:
                        cases_logged[key].add(subject_id)
                if (
                    kind == TICKET_KIND
                    and event.to_state == RESOLVED
                    and event.trigger not in NOT_TRANSITIONS
                ):
                    resolved[plan.event_group(event, ticket)].add(ticket.id)
    logged: Counter[tuple[str | None, int]] = Counter()
    totals: dict[tuple[str | None, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for key, (seconds, entries, on_ticket) in per_ticket.items():
        row_key = (key[0], duration_bucket(seconds * 1_000_000))
        logged[row_key] += 1
        total = totals[row_key]
        total[0] += seconds
        total[1] += entries
        total[2] += len(cases_logged.get(key, ()))
        total[3] += on_ticket
    rows: list[LoggedRow] = []
    for (group, bucket), count in logged.items():
        seconds, entries, with_cases, on_ticket = totals[group, bucket]
        rows.append((group, bucket, count, seconds, entries, with_cases, on_ticket))
    return Rows(
        logged=rows,
        open_assigned=list(open_assigned.items()),
        resolved=[(group, len(ids)) for group, ids in resolved.items()],
    )


MAX_MERGES = 100
"""How many merges a thread is followed through, as ``add_message`` follows them."""


def thread_of(ticket: Ticket, tickets: Mapping[str, Ticket]) -> str:
    """The ticket whose thread holds ``ticket``'s messages: the end of its chain of
    merges (its own id when not merged, or when the chain ends nowhere)."""
    current = ticket
    for _ in range(MAX_MERGES):
        if current.merged_into is None:
            return current.id
        found = tickets.get(current.merged_into)
        if found is None:
            return ticket.id
        current = found
    return current.id if current.merged_into is None else ticket.id


def response_rows(
    tickets: Iterable[tuple[Ticket, Sequence[Message]]], plan: WorkloadPlan
) -> list[ResponseRow]:
    """The next-response rows of ``tickets`` (every ticket a thread may hold, not only
    those passing the filters), each with its messages in the order the store keeps
    them (the order added)."""
    read = list(tickets)
    by_id = {ticket.id: ticket for ticket, _ in read}
    # per thread: (time, 1 for a merged duplicate's, ticket id, order added, message)
    threads: dict[str, list[tuple[datetime, int, str, int, Message]]] = defaultdict(list)
    for ticket, messages in read:
        thread = thread_of(ticket, by_id)
        duplicate = int(thread != ticket.id)
        for position, m in enumerate(messages):
            if (
                m.kind is MessageKind.PUBLIC_REPLY
                and plan.period_from <= m.at < plan.as_of
                and (m.author_role.value == CUSTOMER or m.author_role.value in RESPONDERS)
            ):
                threads[thread].append((m.at, duplicate, ticket.id, position, m))
    counted: Counter[tuple[str | None, int | None]] = Counter()
    for entries in threads.values():
        entries.sort(key=lambda entry: entry[:4])
        replied: datetime | None = None
        for at, _, ticket_id, _, message in reversed(entries):  # each one's next reply
            if message.author_role.value != CUSTOMER:
                replied = at
                continue
            ticket = by_id[ticket_id]  # the message's own ticket: its filters and group
            first = ticket.first_response_at
            if first is not None and first < at < plan.period_to and plan.passes(ticket):
                bucket = None if replied is None else duration_bucket(_micros(replied, at))
                counted[plan.ticket_group(ticket), bucket] += 1
    return [(*key, count) for key, count in counted.items()]


def _micros(later: datetime, earlier: datetime) -> int:
    return (later - earlier) // timedelta(microseconds=1)


# ----------------------------------------------------------------------- reading the stores


def memory_workload(store: MemoryStore, plan: WorkloadPlan) -> Rows:
    """The workload rows over a MemoryStore's own objects, under its lock."""
    with store._lock:
        events = store._events
        cases: dict[str, list[tuple[Case, Sequence[Event]]]] = defaultdict(list)
        for case in store._cases.values():
            cases[case.ticket_id].append((case, events.get(case.id, ())))
        return workload_rows(
            ((t, events.get(t.id, ()), cases.get(t.id, ())) for t in store._tickets.values()),
            plan,
        )


def memory_responses(store: MemoryStore, plan: WorkloadPlan) -> list[ResponseRow]:
    """The next-response rows over a MemoryStore's own objects, under its lock."""
    with store._lock:
        messages = store._messages
        return response_rows(((t, messages.get(t.id, ())) for t in store._tickets.values()), plan)


PAGE = 10_000
"""Tickets read per ``find`` call on a store without a faster path."""


def _all_tickets(store: Store, plan: WorkloadPlan, *, filtered: bool = True) -> Iterator[Ticket]:
    for ticket in every_ticket(store, TicketQuery(created_to=plan.as_of, limit=PAGE)):
        if not filtered or plan.passes(ticket):
            yield ticket


def store_workload(store: Store, plan: WorkloadPlan) -> Rows:
    """The workload rows over any store's public API: every ticket created before
    ``as_of``, its events, its cases and theirs."""

    def cases_of(ticket: Ticket) -> list[tuple[Case, Sequence[Event]]]:
        found = every_case(store, CaseQuery(ticket_id=ticket.id, limit=PAGE))
        return [(case, store.events(case.id)) for case in found]

    return workload_rows(
        ((t, store.events(t.id), cases_of(t)) for t in _all_tickets(store, plan)), plan
    )


def store_responses(store: Store, plan: WorkloadPlan) -> list[ResponseRow]:
    """The next-response rows over any store's public API: every ticket's messages, as a
    reply on a ticket of any team or channel may answer a message on its duplicate."""
    tickets = _all_tickets(store, plan, filtered=False)
    return response_rows(((t, store.messages(t.id)) for t in tickets), plan)
