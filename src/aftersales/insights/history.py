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
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo

import attrs

from aftersales.clock import FrozenClock
from aftersales.desk import Desk
from aftersales.exceptions import FieldError, InvalidInput, TransitionError
from aftersales.models import AuthorRole, Case, Channel, Customer, Ticket

__all__ = [
    "DEFAULT_CATALOGUE",
    "DEFAULT_TEAMS",
    "REOPEN_SHARE",
    "CatalogueItem",
    "HistorySummary",
    "RateShift",
    "generate_history",
]

CaseKindName = Literal["return", "repair", "complaint"]
_CASE_KINDS: tuple[CaseKindName, ...] = ("return", "repair", "complaint")

MAX_TICKETS = 2_000_000
"""The most tickets one call generates."""
MAX_DAYS = 3650
"""The longest period one call covers."""

REOPEN_SHARE = 0.08
"""Probability that a resolved ticket (resolved once, within the period) is reopened."""


@attrs.frozen
class CatalogueItem:
    """One product of the catalogue tickets are about, with its per-ticket case rates.

    ``policy_category`` is the product category the desk's policy decides returns and
    repairs by; ``popularity`` weighs how many tickets are about this SKU."""

    sku: str
    policy_category: str
    price: str
    popularity: float
    return_rate: float
    repair_rate: float
    complaint_rate: float

    def rate(self, kind: CaseKindName) -> float:
        """The probability that a ticket about this SKU opens a case of ``kind``."""
        if kind == "return":
            return self.return_rate
        if kind == "repair":
            return self.repair_rate
        return self.complaint_rate


DEFAULT_CATALOGUE: tuple[CatalogueItem, ...] = (
    CatalogueItem("PHONE-X1", "mobile_phone", "2999.00", 0.20, 0.06, 0.10, 0.04),
    CatalogueItem("PHONE-X2", "mobile_phone", "1999.00", 0.15, 0.08, 0.14, 0.05),
    CatalogueItem("EARBUDS-2", "electronics", "399.00", 0.15, 0.12, 0.05, 0.03),
    CatalogueItem("KETTLE-K3", "small_appliance", "199.00", 0.12, 0.05, 0.08, 0.02),
    CatalogueItem("JACKET-M", "apparel", "599.00", 0.12, 0.18, 0.00, 0.02),
    CatalogueItem("LAPTOP-P14", "laptop", "6999.00", 0.08, 0.04, 0.09, 0.03),
    CatalogueItem("WATCH-S", "electronics", "1299.00", 0.10, 0.07, 0.06, 0.06),
    CatalogueItem("VACUUM-V8", "home_appliance", "1599.00", 0.08, 0.05, 0.12, 0.04),
)
"""Eight SKUs whose return, repair and complaint rates differ (e.g. the jacket is
returned three times as often as the laptop and never repaired)."""

DEFAULT_TEAMS: Mapping[str, tuple[str, ...]] = {
    "care": ("agent-01", "agent-02", "agent-03", "agent-04", "agent-05"),
    "repairs": ("agent-06", "agent-07", "agent-08"),
    "logistics": ("agent-09", "agent-10"),
}
"""Teams and their agents; ``care`` takes every category not mapped to another team."""

_TEAM_OF_CATEGORY = {"repair_warranty": "repairs", "exchange": "repairs", "delivery": "logistics"}

_CHANNEL_WEIGHTS: tuple[tuple[Channel, float], ...] = (
    (Channel.EMAIL, 24),
    (Channel.PHONE, 20),
    (Channel.WEB_CHAT, 16),
    (Channel.WECHAT, 14),
    (Channel.APP, 12),
    (Channel.SMS, 4),
    (Channel.QQ, 3),
    (Channel.WEIBO, 3),
    (Channel.IN_STORE, 2),
    (Channel.LETTER, 1),
    (Channel.SELF_SERVICE, 1),
)
_SEVERITY_WEIGHTS = (("critical", 5), ("high", 20), ("medium", 50), ("low", 25))
_CATEGORY_WEIGHTS = {
    "return_refund": 14,
    "exchange": 7,
    "repair_warranty": 12,
    "delivery": 20,
    "billing_invoice": 8,
    "account": 6,
    "product_inquiry": 18,
    "complaint": 5,
    "other": 4,
}
_CASE_CATEGORY: dict[CaseKindName, str] = {
    "return": "return_refund",
    "repair": "repair_warranty",
    "complaint": "complaint",
}
_WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0, 0.45, 0.35)
# Share of a day's arrivals in each local hour: ~85 % between 09:00 and 18:00.
_HOUR_WEIGHTS = (
    *(0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 1.0, 2.5),  # 00-08
    *(8.0, 11.0, 11.5, 9.0, 8.0, 10.0, 10.5, 9.5, 7.5),  # 09-17
    *(2.5, 1.8, 1.6, 1.4, 1.0, 0.5),  # 18-23
)
WORKING_HOURS = (9, 18)
"""Local hours [from, to) when agents work on weekdays, and most tickets arrive."""
_WEEKEND_HOURS = (10, 16)
_CUSTOMER_HOURS = (8, 22)

CANCEL_SHARE = 0.04
SELF_SERVE_SHARE = 0.02
ESCALATE_SHARE = 0.06


@attrs.frozen
class RateShift:
    """From day ``from_day`` of the period (0 is the first), tickets about ``sku`` open
    a ``kind`` case ``factor`` times as often (capped at probability 1)."""

    sku: str
    kind: CaseKindName
    from_day: int
    factor: float


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


_Step = Generator[datetime, None, None]


@attrs.frozen
class _Arrival:
    """A ticket's arrival and what it is about."""

    at: datetime
    channel: Channel
    item: CatalogueItem
    severity: str
    customer: int
    tier: str
    case_rolls: tuple[float, float, float, float]
    """Uniform draws deciding its return, repair and complaint cases (and which of a
    return and a repair wins when both come up)."""
    category_roll: float


_CaseStep = tuple[Callable[[], datetime], str, "str | None", "Mapping[str, object] | None"]
"""A planned case step: when it happens, its trigger, who fires it (None: the ticket's
agent) and its payload."""


class _Plan:
    """The simulation: a heap of processes waiting for their instant."""

    def __init__(
        self,
        desk: Desk,
        clock: FrozenClock,
        rng: random.Random,
        *,
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
        self.heap: list[tuple[datetime, int, _Step]] = []
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
        self.cases_by_sku: dict[str, Counter[str]] = {kind: Counter() for kind in _CASE_KINDS}
        self.daily_tickets = {item.sku: [0] * days for item in catalogue}
        self.daily_cases = {
            kind: {item.sku: [0] * days for item in catalogue} for kind in _CASE_KINDS
        }

    # ------------------------------------------------------------------ engine

    def spawn(self, at: datetime, process: _Step) -> None:
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
        return WORKING_HOURS if day.weekday() < 5 else _WEEKEND_HOURS

    @staticmethod
    def _customer_hours(day: date) -> tuple[int, int]:
        return _CUSTOMER_HOURS

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

    def arrivals(self, tickets: int, rng: random.Random) -> list[_Arrival]:
        """Every ticket's arrival and what it is about, drawn before the simulation from
        their own random stream: a shift or a desk setting changes what happens to
        tickets, never which tickets arrive."""
        day_weights = [
            _WEEKDAY_WEIGHTS[(self.first_day + timedelta(days=d)).weekday()]
            for d in range(self.days)
        ]
        days = rng.choices(range(self.days), weights=day_weights, k=tickets)
        hours = rng.choices(range(24), weights=_HOUR_WEIGHTS, k=tickets)
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
        channels = [channel for channel, _ in _CHANNEL_WEIGHTS]
        channel_weights = [weight for _, weight in _CHANNEL_WEIGHTS]
        popularity = [item.popularity for item in self.catalogue]
        severities = [severity for severity, _ in _SEVERITY_WEIGHTS]
        severity_weights = [weight for _, weight in _SEVERITY_WEIGHTS]
        return [
            _Arrival(
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

    def daily_due(self) -> _Step:
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

    # ------------------------------------------------------------------ tickets

    def pick_case_kinds(self, arrival: _Arrival, day: int) -> list[CaseKindName]:
        item, rolls = arrival.item, arrival.case_rolls
        kinds: list[CaseKindName] = []
        for kind, roll in zip(_CASE_KINDS, rolls, strict=False):
            rate = item.rate(kind)
            shift = self.shift
            shifted = shift is not None and (shift.sku, shift.kind) == (item.sku, kind)
            if shift is not None and shifted and day >= shift.from_day:
                rate = min(1.0, rate * shift.factor)
            if roll < rate:
                kinds.append(kind)
        if "return" in kinds and "repair" in kinds:  # one product: taken back or repaired
            kinds.remove("repair" if rolls[3] < 0.5 else "return")
        return kinds

    def pick_category(self, kinds: Sequence[CaseKindName], roll: float) -> str:
        for kind in kinds:
            if _CASE_CATEGORY[kind] in self.categories:
                return _CASE_CATEGORY[kind]
        weights = [_CATEGORY_WEIGHTS.get(name, 5) for name in self.categories]
        threshold, total = roll * sum(weights), 0.0
        for name, weight in zip(self.categories, weights, strict=True):
            total += weight
            if threshold < total:
                return name
        return self.categories[-1]  # pragma: no cover - rounding at the very top

    def team_for(self, category: str) -> str:
        names = list(self.teams)
        team = _TEAM_OF_CATEGORY.get(category, names[0])
        return team if team in self.teams else names[0]

    def order_id(self, index: int) -> str:
        """One order per ticket. A later history on the same desk starts later, so its
        orders are others (a return claims units of an order only once)."""
        return f"order-{self.start:%Y%m%d%H%M%S}-{index + 1:07d}"

    def record(self, index: int, ticket: Ticket) -> None:
        self.status[index] = ticket.status
        self.status_category[index] = ticket.status_category.value

    def ticket(self, arrival: _Arrival) -> _Step:
        desk = self.desk
        index = len(self.ids)
        channel, item, severity = arrival.channel, arrival.item, arrival.severity
        day = self.day_of(arrival.at)
        kinds = self.pick_case_kinds(arrival, day)
        category = self.pick_category(kinds, arrival.category_roll)
        customer_id = f"customer-{arrival.customer:06d}"
        customer: Customer | str = customer_id
        if customer_id not in self.known_customers:
            self.known_customers.add(customer_id)
            name = f"Customer {arrival.customer}"
            customer = Customer(id=customer_id, name=name, tier=arrival.tier)
        order_line = {"order_id": self.order_id(index), "line_id": "l1", "sku": item.sku}
        ticket = desk.open_ticket(
            customer=customer,
            channel=channel,
            subject=f"{category.replace('_', ' ')}: {item.sku}",
            description=f"About my {item.policy_category.replace('_', ' ')} {item.sku}.",
            order_line=order_line,
        )
        self.note("open", index, f"{channel.value}/{item.sku}/{category}/{severity}")
        self.ids.append(ticket.id)
        self.index_of[ticket.id] = index
        self.numbers.append(ticket.number)
        self.customer_of.append(customer_id)
        self.status.append(ticket.status)
        self.status_category.append(ticket.status_category.value)
        local = self.local(arrival.at)
        self.weekdays[local.weekday()] += 1
        if local.weekday() < 5 and WORKING_HOURS[0] <= local.hour < WORKING_HOURS[1]:
            self.in_hours += 1
        counters = self.counters
        counters["channel"][channel.value] += 1
        counters["sku"][item.sku] += 1
        self.daily_tickets[item.sku][day] += 1
        yield from self.lifecycle(index, ticket.id, item, category, severity, kinds, day)

    def lifecycle(
        self,
        index: int,
        ticket_id: str,
        item: CatalogueItem,
        category: str,
        severity: str,
        kinds: Sequence[CaseKindName],
        day: int,
    ) -> _Step:
        rng, desk, number = self.rng, self.desk, self.numbers[index]
        if not kinds and rng.random() < CANCEL_SHARE:
            yield self.customer_after(0.2, 6)
            self.record(index, desk.cancel(ticket_id, reason="The customer withdrew the request"))
            self.note("cancel", index)
            self.flags["cancelled"].append(number)
            return
        if not kinds and _self_served(rng):
            yield self.customer_after(0.05, 0.5)
            ticket = desk.fire(
                ticket_id,
                "self_serve",
                payload={"resolution": "Answered by an article", "article_id": "kb-faq-1"},
            )
            self.record(index, ticket)
            self.note("self_serve", index)
            self.flags["self_served"].append(number)
            yield from self.after_resolution(index, ticket_id, allow_reopen=False)
            return
        yield self.agent_after(20)
        ticket = desk.classify(ticket_id, category=category, severity=severity)
        self.record(index, ticket)
        self.note("classify", index)
        self.counters["category"][category] += 1
        self.counters["severity"][severity] += 1
        self.counters["priority"][str(getattr(ticket.priority, "value", ticket.priority))] += 1
        team = self.team_for(category)
        agent = rng.choice(list(self.teams[team]))
        yield self.agent_after(40)
        self.record(index, desk.assign(ticket_id, assignee=agent, team=team))
        self.note("assign", index, agent)
        self.counters["team"][team] += 1
        for kind in kinds:
            self.spawn(self.agent_after(90), self.case(kind, index, ticket_id, item, agent, day))
        yield self.agent_after(60 if severity in ("critical", "high") else 180)
        self.record(index, desk.fire(ticket_id, "start", actor=agent))
        desk.add_message(
            ticket_id, "Thank you, we are looking into it.", author_id=agent, channel=None
        )
        self.note("start", index)
        escalate_share = ESCALATE_SHARE * (4 if severity == "critical" else 1)
        if rng.random() < escalate_share:
            yield self.agent_after(120)
            self.record(index, desk.escalate(ticket_id, reason="Needs a senior agent"))
            self.note("escalate", index)
            self.flags["escalated"].append(number)
        yield from self.work(index, ticket_id, agent)
        yield from self.after_resolution(index, ticket_id, allow_reopen=True, agent=agent)

    def work(self, index: int, ticket_id: str, agent: str) -> _Step:
        """Waits on the customer or a third party, then the resolution."""
        rng, desk = self.rng, self.desk
        waits = rng.choices((0, 1, 2, 3), (50, 30, 14, 6))[0]
        for _ in range(waits):
            yield self.agent_after(120)
            third_party = rng.random() < 0.25
            trigger = "wait_for_third_party" if third_party else "wait_for_customer"
            self.record(index, desk.fire(ticket_id, trigger, actor=agent))
            self.note(trigger, index)
            self.waits += 1
            if third_party:
                yield self.agent_after(60 * 24)
                self.record(index, desk.fire(ticket_id, "resume", actor=agent))
                self.note("resume", index)
                continue
            yield self.customer_after(1, 60)
            desk.add_message(
                ticket_id,
                "Here are the details you asked for.",
                author_id=self.customer_of[index],
                author_role=AuthorRole.CUSTOMER,
            )
            self.note("customer_reply", index)
            if not desk.settings.resume_on_customer_reply:
                desk.fire(ticket_id, "resume", actor=agent)
                self.note("resume", index)
            self.record(index, desk.get(ticket_id))
        yield self.agent_after(240)
        self.record(index, desk.resolve(ticket_id, resolution="Solved", actor=agent))
        self.note("resolve", index)

    def after_resolution(
        self, index: int, ticket_id: str, *, allow_reopen: bool, agent: str = "system"
    ) -> _Step:
        rng, desk, number = self.rng, self.desk, self.numbers[index]
        reopened = False
        # reopened 4 to 96 hours after the resolution: inside the default 7-day window
        can_reopen = desk.settings.reopen_within_days >= 4
        while True:
            roll = rng.random()
            if allow_reopen and not reopened and roll < REOPEN_SHARE and can_reopen:
                reopened = True
                yield self.customer_after(4, 96)
                self.record(index, desk.reopen(ticket_id, reason="It broke again"))
                self.note("reopen", index)
                self.flags["reopened"].append(number)
                yield from self.work(index, ticket_id, agent)
                continue
            if roll < REOPEN_SHARE + 0.55:
                yield self.customer_after(2, 48)
                self.record(index, desk.fire(ticket_id, "confirm", actor="customer"))
                self.note("confirm", index)
                yield self.agent_after(60 * 24)
                if rng.random() < 0.4:
                    satisfaction = rng.choices((1, 2, 3, 4, 5), (4, 6, 15, 35, 40))[0]
                    payload = {"satisfaction": satisfaction}
                    self.record(index, desk.fire(ticket_id, "follow_up", payload=payload))
                    self.note("follow_up", index, str(satisfaction))
                    yield self.agent_after(60)
                self.record(index, desk.fire(ticket_id, "close", actor=agent))
                self.note("close", index)
            # otherwise the customer never confirms: run_due auto-closes it
            return

    # ------------------------------------------------------------------ cases

    def case(
        self,
        kind: CaseKindName,
        index: int,
        ticket_id: str,
        item: CatalogueItem,
        agent: str,
        day: int,
    ) -> _Step:
        self.cases_by_sku[kind][item.sku] += 1
        self.daily_cases[kind][item.sku][day] += 1
        if kind == "return":
            yield from self.return_case(index, ticket_id, item, agent)
        elif kind == "repair":
            yield from self.repair_case(index, ticket_id, item, agent)
        else:
            yield from self.complaint_case(index, ticket_id, item, agent)

    def opened(self, case: Case, index: int, kind: str) -> int:
        position = len(self.case_ids)
        self.case_ids.append(case.id)
        self.case_position[case.id] = position
        self.case_state[case.id] = (kind, case.status)
        self.note(f"open_{kind}", index, f"case {position}: {case.status}")
        return position

    def step(
        self, case_id: str, trigger: str, agent: str, payload: Mapping[str, object] | None = None
    ) -> Case | None:
        """Fire a planned case step; None (and the plan stops) when the case moved on."""
        try:
            case = self.desk.cases.fire(case_id, trigger, actor=agent, payload=payload)
        except TransitionError:
            self.skipped += 1
            self.note("skipped", self.case_position[case_id], trigger)
            return None
        kind = self.case_state[case_id][0]
        self.case_state[case_id] = (kind, case.status)
        self.note(trigger, self.case_position[case_id])
        return case

    def claim_line(
        self, item: CatalogueItem, claim: str, delivered_days_ago: float
    ) -> dict[str, object]:
        now = self.clock.now()
        delivered = now - timedelta(days=delivered_days_ago)
        return {
            "line_id": "l1",
            "sku": item.sku,
            "facts": {
                "jurisdiction": "cn",
                "product": {"category": item.policy_category, "sku": item.sku},
                "order": {
                    "purchased_at": (delivered - timedelta(days=2)).isoformat(),
                    "delivered_at": delivered.isoformat(),
                    "unit_price": {"amount": item.price, "currency": "CNY"},
                    "quantity": 1,
                },
                "claim": {"at": now.isoformat(), "kind": claim, "quantity": 1},
            },
        }

    def later(self, minutes: float) -> Callable[[], datetime]:
        """An agent's wait of about ``minutes``, drawn when the wait starts."""
        return lambda: self.agent_after(minutes)

    def customer_later(self, hours_low: float, hours_high: float) -> Callable[[], datetime]:
        """The customer's wait of ``hours_low`` to ``hours_high``, drawn when it starts."""
        return lambda: self.customer_after(hours_low, hours_high)

    def steps(
        self, case_id: str, agent: str, plan: Sequence[_CaseStep]
    ) -> Generator[datetime, None, bool]:
        """Fire ``plan``'s steps in turn, each when its wait ends; False when the desk
        refused one (the case moved on meanwhile) and the rest was dropped."""
        for wait, trigger, actor, payload in plan:
            yield wait()
            if self.step(case_id, trigger, actor or agent, payload) is None:
                return False
        return True

    def return_case(self, index: int, ticket_id: str, item: CatalogueItem, agent: str) -> _Step:
        rng = self.rng
        line = self.claim_line(item, "no_reason_return", rng.uniform(0.5, 5))
        case = self.desk.cases.request_return(
            ticket_id, order_id=self.order_id(index), lines=[line], actor=agent
        )
        self.opened(case, index, "return")
        if case.status != "approved":
            return
        # the goods never come (run_due expires the return after 14 days), or come damaged
        # (nothing refundable: they are sent back)
        lost = rng.random() < 0.08
        damaged = rng.random() < 0.15
        instructions = {"method": "label", "carrier": "SF", "tracking": f"SF{index:08d}"}
        result = "damaged" if damaged else "restock"
        goods_in: list[_CaseStep] = [
            (self.customer_later(24, 24 * 6), "receive", None, {"units": {"l1": 1}}),
            (self.later(60 * 8), "inspect", None, {"results": {"l1": [result]}}),
        ]
        outcome: list[_CaseStep] = (
            [
                (self.later(60 * 4), "send_back", None, {"carrier": "SF"}),
                (self.later(60 * 24), "close", None, None),
            ]
            if damaged
            else [(self.later(60 * 4), "refund", None, None)]
        )
        plan: list[_CaseStep] = [
            (self.later(120), "send_instructions", None, instructions),
            *([] if lost else [*goods_in, *outcome]),
        ]
        done = yield from self.steps(case.id, agent, plan)
        if not done or lost or damaged:
            return
        # the refund trigger opened the refund case that pays the return
        refund_id = self.desk.cases.get(case.id).refund_case_id
        assert refund_id is not None
        self.case_position[refund_id] = len(self.case_ids)
        self.case_ids.append(refund_id)
        self.case_state[refund_id] = ("refund", "pending")
        paid = yield from self.steps(
            refund_id,
            agent,
            [
                (self.later(60 * 6), "process", None, None),
                (self.later(60 * 24), "succeed", None, {"reference": f"PSP-{index}"}),
            ],
        )
        del paid  # paid or not, the return's state is read back: a paid refund closes it
        self.case_state[case.id] = ("return", self.desk.cases.get(case.id).status)

    def repair_case(self, index: int, ticket_id: str, item: CatalogueItem, agent: str) -> _Step:
        rng = self.rng
        out_of_warranty = rng.random() < 0.10
        age = rng.uniform(400, 800) if out_of_warranty else rng.uniform(20, 330)
        serial = f"SN-{item.sku}-{index:07d}"
        line = self.claim_line(item, "warranty_repair", age)
        case = self.desk.cases.open_repair(ticket_id, serial=serial, line=line, actor=agent)
        self.opened(case, index, "repair")
        declined = rng.random() < 0.5
        waits_for_parts = int(rng.random() < 0.2)
        failed_checks = rng.choices((0, 1), (90, 10))[0]
        quote = {"amount": {"amount": "380.00", "currency": "CNY"}}
        answer = "decline_quote" if declined else "accept_quote"
        # outside the warranty the case waits, claimed, for a paid repair's quote
        head: list[_CaseStep] = (
            [
                (self.later(60 * 4), "quote", None, quote),
                (self.customer_later(6, 72), answer, "customer", None),
            ]
            if case.status == "claimed"
            else []
        )
        repair: list[_CaseStep] = [
            (self.customer_later(12, 24 * 4), "hand_in", None, {"site": "depot"}),
            (self.later(60 * 8), "diagnose", None, {"diagnosis": "Worn part"}),
            (self.later(60 * 4), "start_repair", None, None),
            *[
                (self.later(60), "wait_for_parts", None, {"part": "board"}),
                (self.later(60 * 24 * rng.uniform(2, 10)), "parts_arrived", None, None),
            ]
            * waits_for_parts,
            *[
                (self.later(60 * 6), "finish_repair", None, None),
                (self.later(60 * 2), "fail_qc", None, {"reason": "Still faulty"}),
            ]
            * failed_checks,
            (self.later(60 * 6), "finish_repair", None, None),
            (self.later(60 * 2), "pass_qc", None, None),
            (self.customer_later(12, 72), "hand_back", None, None),
            (self.later(60 * 24 * 2), "close", None, None),
        ]
        quote_declined = bool(head) and declined
        yield from self.steps(case.id, agent, [*head, *([] if quote_declined else repair)])

    def complaint_case(self, index: int, ticket_id: str, item: CatalogueItem, agent: str) -> _Step:
        rng = self.rng
        severity = rng.choices(("low", "medium", "high"), (30, 55, 15))[0]
        case = self.desk.cases.open_complaint(
            ticket_id, summary=f"Unhappy with {item.sku}", severity=severity, actor=agent
        )
        self.opened(case, index, "complaint")
        rejections = rng.choices((0, 1), (80, 20))[0]
        proposal = (self.later(60 * 24), "propose", None, {"proposal": "A voucher"})
        plan: list[_CaseStep] = [
            (self.later(60 * 3), "acknowledge", None, None),
            (self.later(60 * 6), "investigate", None, None),
            *[proposal, (self.customer_later(4, 72), "reject", "customer", None)] * rejections,
            proposal,
            (self.customer_later(4, 72), "accept", "customer", None),
            (self.later(60 * 4), "close", None, None),
        ]
        yield from self.steps(case.id, agent, plan)

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


def _self_served(rng: random.Random) -> bool:
    """Whether this inquiry is answered by a knowledge-base article (no agent)."""
    return rng.random() < SELF_SERVE_SHARE


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
    yield from _catalogue_problems(catalogue)
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
        yield from _shift_problems(shift, catalogue, days)


def _int_from(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _catalogue_problems(catalogue: object) -> Iterator[FieldError]:
    if (
        not isinstance(catalogue, Sequence)
        or not catalogue
        or not all(isinstance(item, CatalogueItem) for item in catalogue)
    ):
        yield FieldError(("catalogue",), "must be a non-empty sequence of CatalogueItem")
        return
    skus = [item.sku for item in catalogue]
    if len(set(skus)) != len(skus):
        yield FieldError(("catalogue",), "SKUs must be unique")
    for item in catalogue:
        rates = (item.return_rate, item.repair_rate, item.complaint_rate)
        if not all(isinstance(r, (int, float)) and 0 <= r <= 1 for r in rates):
            yield FieldError(("catalogue", item.sku), "rates must be from 0 to 1")
        if not isinstance(item.popularity, (int, float)) or not (
            math.isfinite(item.popularity) and item.popularity > 0
        ):
            yield FieldError(("catalogue", item.sku), "popularity must be above 0")


def _shift_problems(shift: object, catalogue: object, days: object) -> Iterator[FieldError]:
    if not isinstance(shift, RateShift):
        yield FieldError(("shift",), "must be a RateShift or None")
        return
    if isinstance(catalogue, Sequence) and shift.sku not in {
        getattr(item, "sku", None) for item in catalogue
    }:
        yield FieldError(("shift", "sku"), f"{shift.sku!r} is not in the catalogue")
    if shift.kind not in _CASE_KINDS:
        yield FieldError(("shift", "kind"), f"must be one of {', '.join(_CASE_KINDS)}")
    if (
        not isinstance(shift.from_day, int)
        or shift.from_day < 0
        or (isinstance(days, int) and shift.from_day >= days)
    ):
        yield FieldError(("shift", "from_day"), "must be a day of the period (0 to days - 1)")
    if not isinstance(shift.factor, (int, float)) or not (
        math.isfinite(shift.factor) and shift.factor >= 0
    ):
        yield FieldError(("shift", "factor"), "must be a finite number, 0 or more")


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
