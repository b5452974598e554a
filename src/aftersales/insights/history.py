"""Seeded, realistic after-sales histories written through a desk's public API.

:func:`generate_history` plays ``tickets`` customer inquiries over ``days`` days on a
desk whose clock is a :class:`~aftersales.clock.FrozenClock`, as a discrete-event
simulation: every ticket (and every return, repair and complaint it opens) is a small
process that waits, moves the clock forward and calls the desk, exactly as an
application would (``open_ticket``, ``classify``, ``assign``, ``fire``, ``add_message``,
``reopen``, ``run_due``, ``desk.cases``...). So every store receives the same kind of
data as in production, events and audit chain included.

What a history looks like (the defaults; see :data:`DEFAULT_CATALOGUE`):

- **Arrivals**: weekdays carry full weight, Saturday 45 % and Sunday 35 %; within a
  day about 85 % of tickets arrive in working hours (09:00-18:00 in the desk's
  ``time_zone``), peaking late morning and mid-afternoon, the rest in the evening and a
  few at night.
- **Channels**: email 24 %, phone 20 %, web chat 16 %, WeChat 14 %, app 12 %, SMS 4 %,
  QQ 3 %, Weibo 3 %, in store 2 %, letter 1 %, self-service 1 %.
- **Severity** (priority follows through ``DeskSettings.priority_for_severity``):
  critical 5 %, high 20 %, medium 50 %, low 25 %.
- **Categories**: the desk's own (``desk.categories``); a ticket that opens a return,
  repair or complaint case is classified ``return_refund``, ``repair_warranty`` or
  ``complaint`` when the desk knows those names.
- **Lifecycle**: classify → assign (the category's team, an agent of it) → start with a
  first public reply → (wait for the customer or a third party → resume)* → resolve →
  confirm (then follow up with a satisfaction score, or close) or never confirmed and
  auto-closed by ``run_due`` after ``auto_close_after_days``. Of the tickets that open
  no case, 4 % are cancelled before classification and 2 % self-served; 6 % are
  escalated (24 % of the critical ones); 8 % of the resolved are reopened once (see
  :data:`REOPEN_SHARE`). Agents act in working hours (10:00-16:00 at weekends);
  customers between 08:00 and 22:00. Tickets still on their way at the end of the
  period stay open. Measured on 1,000 tickets over 8 weeks (seed 20): 3 % cancelled,
  1.6 % self-served, 7 % escalated, 7 % of the resolved reopened, 33 % auto-closed,
  3.6 % still open, 0.8 waits per ticket, about 9 desk calls per ticket.
- **Cases**: each ticket is about one SKU of the catalogue; each SKU has its own
  return, repair and complaint probability per ticket, so per-SKU rates differ. Returns
  are decided by the desk's policy, shipped, received, inspected and refunded (the
  refund case processed and paid), and about 8 % of the shipments never arrive and
  expire by ``run_due``; repairs go through hand-in, diagnosis, sometimes a parts wait
  and a failed quality check, hand-back and close (about 10 % are out of warranty:
  quoted, then accepted or declined); complaints are acknowledged, investigated,
  proposed, sometimes rejected once, accepted and closed. A :class:`RateShift`
  multiplies one SKU's rate of one case kind from a given day on (for early-warning
  tests).

The same seed on two fresh desks makes the same calls in the same order at the same
instants; ids are random, so :class:`HistorySummary` compares equal on everything but
the ids it lists (which are left out of equality).

This module owns the simulation's engine (the heap of processes, the clock, opening
hours, arrivals, the nightly ``run_due``), its :class:`HistorySummary` and
:func:`generate_history`. The catalogue, teams and mixes live in ``_catalogue``; the
tickets' processes in ``_history_tickets`` and the cases' in ``_history_cases``.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import attrs

from aftersales.clock import FrozenClock
from aftersales.desk import Desk
from aftersales.exceptions import FieldError, InvalidInput, TransitionError
from aftersales.insights._catalogue import CANCEL_SHARE as CANCEL_SHARE
from aftersales.insights._catalogue import (
    CASE_KINDS,
    CHANNEL_WEIGHTS,
    CUSTOMER_HOURS,
    DEFAULT_CATALOGUE,
    DEFAULT_TEAMS,
    HOUR_WEIGHTS,
    REOPEN_SHARE,
    SEVERITY_WEIGHTS,
    WEEKDAY_WEIGHTS,
    WEEKEND_HOURS,
    WORKING_HOURS,
    CatalogueItem,
    RateShift,
    catalogue_problems,
    shift_problems,
)
from aftersales.insights._catalogue import ESCALATE_SHARE as ESCALATE_SHARE
from aftersales.insights._catalogue import SELF_SERVE_SHARE as SELF_SERVE_SHARE
from aftersales.insights._catalogue import CaseKindName as CaseKindName
from aftersales.insights._history_cases import CaseWork, Step
from aftersales.insights._history_tickets import Arrival, TicketWork

__all__ = [
    "DEFAULT_CATALOGUE",
    "DEFAULT_TEAMS",
    "REOPEN_SHARE",
    "CatalogueItem",
    "HistorySummary",
    "RateShift",
    "generate_history",
]

MAX_TICKETS = 2_000_000
"""The most tickets one call generates."""
MAX_DAYS = 3650
"""The longest period one call covers."""


def _counts(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items()))


@attrs.frozen
class HistorySummary:
    """What :func:`generate_history` wrote, for tests to check metrics by hand.

    Counts are keyed by name and sorted. Ticket statuses are the last the generator saw
    (``run_due``'s auto-closes included). Tickets are named by their human ``number``
    (1, 2... on a fresh desk) so that two runs compare equal; the ``*_ids`` fields hold
    the random ids and are left out of equality. Daily series are indexed by the day of
    the period (0 is the day of ``start``). ``by_category``, ``by_priority``,
    ``by_severity`` and ``by_team`` count the tickets classified (cancelled and
    self-served ones never are)."""

    seed: int
    start: datetime
    end: datetime
    tickets: int
    calls: int
    """Desk calls made (opening, triggers, messages, cases, ``run_due``)."""
    call_digest: str
    """SHA-256 of the calls in order (what, which ticket or case by position, when)."""
    by_channel: dict[str, int]
    by_category: dict[str, int]
    by_priority: dict[str, int]
    by_severity: dict[str, int]
    by_team: dict[str, int]
    by_status: dict[str, int]
    by_weekday: dict[int, int]
    """Arrivals per local weekday (0 is Monday)."""
    by_sku: dict[str, int]
    arrivals_in_working_hours: int
    """Tickets opened on a weekday between 09:00 and 18:00, local time."""
    reopened: tuple[int, ...]
    escalated: tuple[int, ...]
    cancelled: tuple[int, ...]
    self_served: tuple[int, ...]
    auto_closed: tuple[int, ...]
    still_open: tuple[int, ...]
    """Tickets not resolved or closed at the end of the period."""
    waits: int
    """Times a ticket waited on the customer or a third party."""
    cases_by_kind: dict[str, int]
    cases_by_status: dict[str, int]
    """Keyed ``kind:status`` (a return's refund case counts as ``refund``)."""
    cases_by_sku: dict[str, dict[str, int]]
    """Per case kind (return, repair, complaint), cases per SKU."""
    daily_tickets_by_sku: dict[str, tuple[int, ...]]
    daily_cases_by_sku: dict[str, dict[str, tuple[int, ...]]]
    """Per case kind, per SKU, cases opened each day."""
    skipped_steps: int
    """Planned steps the desk refused because something else moved the subject first
    (e.g. a return that expired before its goods came); the subject's plan stops there."""
    shift: RateShift | None
    ticket_ids: tuple[str, ...] = attrs.field(eq=False)
    """Every ticket's id, in the order of opening (ticket number ``n`` at ``n - 1`` on a
    fresh desk)."""
    reopened_ids: tuple[str, ...] = attrs.field(eq=False)
    case_ids: tuple[str, ...] = attrs.field(eq=False)


class _Plan(TicketWork, CaseWork):
    """The simulation: a heap of processes waiting for their instant (the tickets' and
    cases' processes are :class:`TicketWork`'s and :class:`CaseWork`'s)."""

    def __init__(
        self,
        desk: Desk,
        clock: FrozenClock,
        rng: random.Random,
        *,
        effort: random.Random,
        start: datetime,
        days: int,
        catalogue: Sequence[CatalogueItem],
        teams: Mapping[str, Sequence[str]],
        shift: RateShift | None,
        customers: int,
    ) -> None:
        self.desk = desk
        self.clock = clock
        self.rng = rng
        # the agents' logged effort draws from a stream of its own: adding it kept every
        # other draw, so histories of a seed stayed what they were
        self.effort = effort
        self.start = start
        self.days = days
        self.end = start + timedelta(days=days)
        self.zone = ZoneInfo(desk.settings.time_zone)
        self.first_day = start.astimezone(self.zone).date()
        self.catalogue = catalogue
        self.teams = teams
        self.shift = shift
        self.customers = customers
        self.categories = desk.categories
        self.heap: list[tuple[datetime, int, Step]] = []
        self.sequence = 0
        self.digest = hashlib.sha256()
        self.calls = 0
        self.skipped = 0
        # per ticket, by position of opening
        self.ids: list[str] = []
        self.index_of: dict[str, int] = {}
        self.numbers: list[int] = []
        self.customer_of: list[str] = []
        self.status: list[str] = []
        self.status_category: list[str] = []
        self.counters: dict[str, Counter[str]] = {
            name: Counter()
            for name in ("channel", "category", "priority", "severity", "team", "sku")
        }
        self.weekdays: Counter[int] = Counter()
        self.in_hours = 0
        self.flags: dict[str, list[int]] = {
            name: [] for name in ("reopened", "escalated", "cancelled", "self_served", "auto")
        }
        self.waits = 0
        self.known_customers: set[str] = set()
        self.case_ids: list[str] = []
        self.case_state: dict[str, tuple[str, str]] = {}  # id -> (kind, status)
        self.case_position: dict[str, int] = {}
        self.cases_by_sku: dict[str, Counter[str]] = {kind: Counter() for kind in CASE_KINDS}
        self.daily_tickets = {item.sku: [0] * days for item in catalogue}
        self.daily_cases = {
            kind: {item.sku: [0] * days for item in catalogue} for kind in CASE_KINDS
        }

    # ------------------------------------------------------------------ engine

    def spawn(self, at: datetime, process: Step) -> None:
        self.sequence += 1
        heapq.heappush(self.heap, (at, self.sequence, process))

    def run(self) -> None:
        while self.heap:
            at, _, process = heapq.heappop(self.heap)
            if at >= self.end:
                continue  # after the period: this subject stays where it is
            if at > self.clock.now():
                self.clock.set(at)
            try:
                following = next(process)
            except StopIteration:
                continue
            except TransitionError:
                # something else moved the subject first (a desk configured to auto-close
                # sooner than customers confirm): its plan stops there
                self.skipped += 1
                self.note("skipped", "-")
                continue
            self.sequence += 1
            heapq.heappush(self.heap, (following, self.sequence, process))
        self.clock.set(self.end)  # every step ran before the end

    def note(self, what: str, subject: int | str, detail: str = "") -> None:
        self.calls += 1
        line = f"{self.clock.now().isoformat()}|{what}|{subject}|{detail}\n"
        self.digest.update(line.encode())

    # ------------------------------------------------------------------ time

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone)

    def _next_open(self, at: datetime, hours: Callable[[date], tuple[int, int]]) -> datetime:
        """``at`` if it falls in the opening hours, else the next opening plus a few minutes."""
        local = self.local(at)
        for _ in range(8):
            opens, closes = hours(local.date())
            if local.hour < opens:
                opening = local.replace(hour=opens, minute=0, second=0, microsecond=0)
                jitter = timedelta(minutes=self.rng.uniform(0, 45))
                return (opening + jitter).astimezone(timezone.utc)
            if local.hour < closes:
                return local.astimezone(timezone.utc)
            following = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0)
            local = following.replace(microsecond=0)
        raise AssertionError("opening hours never open")  # pragma: no cover

    @staticmethod
    def _agent_hours(day: date) -> tuple[int, int]:
        return WORKING_HOURS if day.weekday() < 5 else WEEKEND_HOURS

    @staticmethod
    def _customer_hours(day: date) -> tuple[int, int]:
        return CUSTOMER_HOURS

    def log_effort(self, subject_id: str, agent: str, *, case: bool = False) -> None:
        """The agent logs the minutes a step took them (log-normal, about 20 on median)."""
        minutes = max(1, min(round(self.effort.lognormvariate(3, 0.8)), 24 * 60))
        if case:
            self.desk.cases.log_time(subject_id, minutes=minutes, actor=agent)
        else:
            self.desk.log_time(subject_id, minutes=minutes, actor=agent)

    def agent_after(self, minutes: float) -> datetime:
        """When an agent acts, ``minutes`` (log-normally spread) after now."""
        spread = minutes * self.rng.lognormvariate(0, 0.6)
        return self._next_open(self.clock.now() + timedelta(minutes=spread), self._agent_hours)

    def customer_after(self, hours_low: float, hours_high: float) -> datetime:
        """When the customer acts, between ``hours_low`` and ``hours_high`` from now."""
        delay = timedelta(hours=self.rng.uniform(hours_low, hours_high))
        return self._next_open(self.clock.now() + delay, self._customer_hours)

    def day_of(self, at: datetime) -> int:
        return min(max((self.local(at).date() - self.first_day).days, 0), self.days - 1)

    # ------------------------------------------------------------------ arrivals

    def arrivals(self, tickets: int, rng: random.Random) -> list[Arrival]:
        """Every ticket's arrival and what it is about, drawn before the simulation from
        their own random stream: a shift or a desk setting changes what happens to
        tickets, never which tickets arrive."""
        day_weights = [
            WEEKDAY_WEIGHTS[(self.first_day + timedelta(days=d)).weekday()]
            for d in range(self.days)
        ]
        days = rng.choices(range(self.days), weights=day_weights, k=tickets)
        hours = rng.choices(range(24), weights=HOUR_WEIGHTS, k=tickets)
        instants: list[datetime] = []
        for day, hour in zip(days, hours, strict=True):
            local_day = self.first_day + timedelta(days=day)
            seconds = rng.randrange(3600)
            local = datetime(
                local_day.year, local_day.month, local_day.day, hour, tzinfo=self.zone
            ) + timedelta(seconds=seconds)
            at = local.astimezone(timezone.utc)
            # the first day may start after local midnight and the last end before the
            # next: arrivals outside the period move just inside it
            edge = timedelta(seconds=1 + seconds % 600)
            instants.append(min(max(at, self.start + edge), self.end - edge))
        instants.sort()
        channels = [channel for channel, _ in CHANNEL_WEIGHTS]
        channel_weights = [weight for _, weight in CHANNEL_WEIGHTS]
        popularity = [item.popularity for item in self.catalogue]
        severities = [severity for severity, _ in SEVERITY_WEIGHTS]
        severity_weights = [weight for _, weight in SEVERITY_WEIGHTS]
        return [
            Arrival(
                at=at,
                channel=rng.choices(channels, channel_weights)[0],
                item=rng.choices(self.catalogue, popularity)[0],
                severity=rng.choices(severities, severity_weights)[0],
                customer=rng.randrange(self.customers),
                tier=rng.choices(("standard", "silver", "gold"), (70, 22, 8))[0],
                case_rolls=(rng.random(), rng.random(), rng.random(), rng.random()),
                category_roll=rng.random(),
            )
            for at in instants
        ]

    def daily_due(self) -> Step:
        """``run_due`` every night at 01:00 local time: auto-closes, expiries, overdue steps."""
        local = self.local(self.start)
        at = local.replace(hour=1, minute=0, second=0, microsecond=0)
        while True:
            if at.astimezone(timezone.utc) <= self.start:
                at += timedelta(days=1)
                continue
            yield at.astimezone(timezone.utc)
            report = self.desk.run_due(limit=100_000)
            self.note("run_due", "-", str(len(report.auto_closed)))
            for ticket_id in report.auto_closed:
                index = self.index_of.get(ticket_id)
                if index is not None:
                    self.status[index] = "closed"
                    self.status_category[index] = "closed"
                    self.flags["auto"].append(self.numbers[index])
            for due in report.cases:
                known = self.case_state.get(due.case_id)
                if known is not None:
                    self.case_state[due.case_id] = (
                        known[0],
                        self.desk.cases.get(due.case_id).status,
                    )
            at += timedelta(days=1)

    # ------------------------------------------------------------------ summary

    def summary(self, seed: int) -> HistorySummary:
        statuses = Counter(self.status)
        numbers = self.numbers
        still_open = tuple(
            numbers[i]
            for i, category in enumerate(self.status_category)
            if category not in ("resolved", "closed")
        )
        case_status = Counter(f"{kind}:{status}" for kind, status in self.case_state.values())
        case_kinds = Counter(kind for kind, _ in self.case_state.values())
        reopened = tuple(sorted(self.flags["reopened"]))
        by_number = {n: i for i, n in enumerate(numbers)}
        return HistorySummary(
            seed=seed,
            start=self.start,
            end=self.end,
            tickets=len(self.ids),
            calls=self.calls,
            call_digest=self.digest.hexdigest(),
            by_channel=_counts(self.counters["channel"]),
            by_category=_counts(self.counters["category"]),
            by_priority=_counts(self.counters["priority"]),
            by_severity=_counts(self.counters["severity"]),
            by_team=_counts(self.counters["team"]),
            by_status=_counts(statuses),
            by_weekday=dict(sorted(self.weekdays.items())),
            by_sku=_counts(self.counters["sku"]),
            arrivals_in_working_hours=self.in_hours,
            reopened=reopened,
            escalated=tuple(sorted(self.flags["escalated"])),
            cancelled=tuple(sorted(self.flags["cancelled"])),
            self_served=tuple(sorted(self.flags["self_served"])),
            auto_closed=tuple(sorted(self.flags["auto"])),
            still_open=tuple(sorted(still_open)),
            waits=self.waits,
            cases_by_kind=_counts(case_kinds),
            cases_by_status=_counts(case_status),
            cases_by_sku={k: _counts(v) for k, v in self.cases_by_sku.items()},
            daily_tickets_by_sku={k: tuple(v) for k, v in self.daily_tickets.items()},
            daily_cases_by_sku={
                kind: {sku: tuple(v) for sku, v in series.items()}
                for kind, series in self.daily_cases.items()
            },
            skipped_steps=self.skipped,
            shift=self.shift,
            ticket_ids=tuple(self.ids),
            reopened_ids=tuple(self.ids[by_number[n]] for n in reopened),
            case_ids=tuple(self.case_ids),
        )


def _problems(
    desk: object,
    tickets: object,
    start: object,
    days: object,
    seed: object,
    catalogue: object,
    teams: object,
    shift: object,
    customers: object,
) -> Iterator[FieldError]:
    if not isinstance(desk, Desk):
        yield FieldError(("desk",), "must be a Desk")
    elif not isinstance(desk.clock, FrozenClock):
        yield FieldError(("desk", "clock"), "must be a FrozenClock (the history moves it)")
    elif isinstance(start, datetime) and start.tzinfo is not None and start < desk.clock.now():
        yield FieldError(("start",), "must not be before the desk clock's now (time only moves on)")
    if not _int_from(tickets, 1, MAX_TICKETS):
        yield FieldError(("tickets",), f"must be an int from 1 to {MAX_TICKETS:,}")
    if not isinstance(start, datetime) or start.tzinfo is None:
        yield FieldError(("start",), "must be a timezone-aware datetime")
    if not _int_from(days, 1, MAX_DAYS):
        yield FieldError(("days",), f"must be an int from 1 to {MAX_DAYS}")
    if not _int_from(seed, -(2**63), 2**63):
        yield FieldError(("seed",), "must be an int")
    if not _int_from(customers, 1, 10 * MAX_TICKETS):
        yield FieldError(("customers",), f"must be an int from 1 to {10 * MAX_TICKETS:,}")
    yield from catalogue_problems(catalogue)
    if not isinstance(teams, Mapping) or not teams:
        yield FieldError(("teams",), "must map at least one team to its agents")
    else:
        for name, agents in teams.items():
            if not isinstance(name, str) or not name:
                yield FieldError(("teams",), "team names must be non-empty text")
            if (
                isinstance(agents, str)
                or not isinstance(agents, Sequence)
                or not agents
                or not all(isinstance(a, str) and a for a in agents)
            ):
                yield FieldError(("teams", str(name)), "must be a non-empty list of agent ids")
    if shift is not None:
        yield from shift_problems(shift, catalogue, days)


def _int_from(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def generate_history(
    desk: Desk,
    *,
    tickets: int,
    start: datetime,
    days: int,
    seed: int,
    catalogue: Sequence[CatalogueItem] = DEFAULT_CATALOGUE,
    teams: Mapping[str, Sequence[str]] = DEFAULT_TEAMS,
    shift: RateShift | None = None,
    customers: int | None = None,
) -> HistorySummary:
    """Write a realistic history of ``tickets`` tickets arriving over ``days`` days from
    ``start`` into ``desk``, through its public API, and return what was written.

    The desk's clock must be a :class:`~aftersales.clock.FrozenClock` not later than
    ``start``; the history moves it forward to ``start + days`` (never back). Work due
    after that instant is not done, so the latest tickets are still open. ``catalogue``
    is the products tickets are about (:data:`DEFAULT_CATALOGUE`), ``teams`` the teams
    and agents who handle them (:data:`DEFAULT_TEAMS`), ``shift`` an optional jump in one
    SKU's case rate, ``customers`` the size of the customer pool (default: a third of
    ``tickets``, so some customers come back). Bad arguments raise
    :class:`~aftersales.InvalidInput` naming each one, before anything is written.

    >>> from datetime import datetime, timezone
    >>> from aftersales import Desk, FrozenClock
    >>> start = datetime(2024, 3, 4, tzinfo=timezone.utc)
    >>> desk = Desk(clock=FrozenClock(start))
    >>> summary = generate_history(desk, tickets=20, start=start, days=7, seed=1)
    >>> summary.tickets, len(desk.find())
    (20, 20)
    """
    pool = max(1, tickets // 3) if customers is None and isinstance(tickets, int) else customers
    problems = list(_problems(desk, tickets, start, days, seed, catalogue, teams, shift, pool))
    if problems:
        raise InvalidInput("history", problems)
    assert isinstance(desk.clock, FrozenClock)
    assert isinstance(pool, int)
    plan = _Plan(
        desk,
        desk.clock,
        random.Random(seed),
        effort=random.Random(f"effort {seed}"),
        start=start.astimezone(timezone.utc),
        days=days,
        catalogue=tuple(catalogue),
        teams={name: tuple(agents) for name, agents in teams.items()},
        shift=shift,
        customers=pool,
    )
    for arrival in plan.arrivals(tickets, random.Random(f"{seed}:arrivals")):
        plan.spawn(arrival.at, plan.ticket(arrival))
    plan.spawn(plan.start, plan.daily_due())
    plan.run()
    desk.flush()
    return plan.summary(seed)
