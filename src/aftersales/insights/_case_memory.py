"""The rows behind :func:`aftersales.insights.case_metrics.case_metrics`, and how Python
counts them over cases and tickets in memory (MemoryStore's objects, or any store's public
API).

Every store answers the same five questions with rows of plain values (a few per group,
never one per case), and :mod:`aftersales.insights.case_metrics` turns them into the
report, so every store gives the same numbers:

- :data:`TicketCountRow`: the tickets created in the period, per group (the denominator of
  the return and complaint rates);
- :data:`ReturnRow`: the return cases created in the period, per group and reason;
- :data:`UnitRow`: the units those returns claim (but a refused or cancelled one's), per
  group and SKU;
- :data:`RefundRow`: the refund cases paid in the period, per group and lead-time bucket;
- :data:`RepairRow`: the repair cases completed in the period, per group, part and
  turnaround bucket, with the repeat failures among them;
- :data:`ComplaintRow`: the complaint cases created in the period, per group.

The SQL stores compute the same rows in the database (:mod:`aftersales.insights._case_sql`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import attrs

from aftersales.exceptions import NotFound
from aftersales.insights._ticket_memory import duration_bucket, ticket_pages
from aftersales.models import Case, CaseKind, Ticket
from aftersales.storage import CaseQuery, MemoryStore, Store, TicketQuery, every_case
from aftersales.storage._codec import (
    case_failures,
    case_handed_back_at,
    case_part,
    case_product_category,
    case_reason,
    case_sku,
)

TicketCountRow = tuple[str | None, int]
"""``(group, tickets)``."""
ReturnRow = tuple[str | None, str | None, int]
"""``(group, reason, returns)``."""
UnitRow = tuple[str | None, str | None, int]
"""``(group, sku, units)``: the units the returns claim on lines of ``sku`` (each line's
own SKU, else its case's); grouped by SKU, ``group`` is that SKU."""
RefundRow = tuple[str | None, int, int, int]
"""``(group, lead_time_bucket, paid, late)``."""
RepairRow = tuple[str | None, str | None, int, int, int]
"""``(group, part, turnaround_bucket, repairs, repeats)``."""
ComplaintRow = tuple[str | None, int]
"""``(group, complaints)``."""

NOT_REPAIRED = ("declined", "cancelled", "replaced")
"""The repair workflow's closed states in which nothing was repaired (the quote was
declined, the case cancelled, the product replaced). A repair closed after the goods were
taken back for a refund ends as ``closed`` too: it is told by the return it opened
(``return_case_id``). Such cases are neither counted nor an earlier repair."""

NOT_RETURNED = ("refused", "cancelled")
"""The return workflow's states in which no unit came back: the return counts, its units
do not."""

GROUPS = ("sku", "category", "channel")


@attrs.frozen
class CasePlan:
    """What a query asks the stores, in their terms."""

    period_from: datetime
    period_to: datetime
    group: str | None
    """One of :data:`GROUPS`, or None for one row."""
    skus: tuple[str, ...] | None
    categories: tuple[str, ...] | None
    channels: tuple[str, ...] | None
    repeat_window: timedelta

    @property
    def counts_tickets(self) -> bool:
        """Whether tickets can be counted under the plan: a ticket has no product
        category, so a plan grouped or filtered by one has no ticket denominator."""
        return self.group != "category" and self.categories is None

    @property
    def repeat_window_micros(self) -> int:
        return self.repeat_window // timedelta(microseconds=1)


@attrs.frozen
class CaseRows:
    """Every store's answer to a plan."""

    tickets: list[TicketCountRow] | None
    """None when the plan cannot count tickets (see :attr:`CasePlan.counts_tickets`)."""
    returns: list[ReturnRow]
    units: list[UnitRow]
    refunds: list[RefundRow]
    repairs: list[RepairRow]
    complaints: list[ComplaintRow]


def _micros(later: datetime, earlier: datetime) -> int:
    return (later - earlier) // timedelta(microseconds=1)


def _in(value: str | None, allowed: tuple[str, ...] | None) -> bool:
    return allowed is None or (value is not None and value in allowed)


def _channel(ticket: Ticket | None) -> str | None:
    return None if ticket is None else ticket.channel.value


def _repaired(case: Case) -> bool:
    """A repair case that did not end without a repair (see :data:`NOT_REPAIRED`)."""
    return (
        case.kind.value == CaseKind.REPAIR
        and case.status not in NOT_REPAIRED
        and case.return_case_id is None
    )


def _category(case: Case, case_of: Callable[[str], Case | None]) -> str | None:
    """The case's product category, else its parent's (a refund case's lines carry no
    policy facts: the return it pays has them)."""
    category = case_product_category(case)
    if category is None and case.parent_id is not None:
        parent = case_of(case.parent_id)
        category = None if parent is None else case_product_category(parent)
    return category


class _Products:
    """What product a ticket is about: its order line's SKU, else the SKU of its first
    return naming one (created first, then the smallest id), so that a ticket and the
    returns it led to are counted under the same product."""

    def __init__(self, cases: Iterable[Case]) -> None:
        first: dict[str, tuple[datetime, str, str]] = {}
        for case in cases:
            sku = case_sku(case)
            if case.kind.value != CaseKind.RETURN or sku is None:
                continue
            known = first.get(case.ticket_id)
            if known is None or (case.created_at, case.id) < known[:2]:
                first[case.ticket_id] = (case.created_at, case.id, sku)
        self._returned = {ticket_id: found[2] for ticket_id, found in first.items()}

    def of(self, ticket: Ticket | None) -> str | None:
        if ticket is None:
            return None
        if ticket.order_line is not None and ticket.order_line.sku is not None:
            return ticket.order_line.sku
        return self._returned.get(ticket.id)


def _tickets_tally(
    tickets: Iterable[Ticket], plan: CasePlan, products: _Products
) -> list[TicketCountRow]:
    counted: Counter[str | None] = Counter()
    for ticket in tickets:
        if ticket.merged_into is not None or not (
            plan.period_from <= ticket.created_at < plan.period_to
        ):
            continue
        sku, via = products.of(ticket), _channel(ticket)
        if _in(sku, plan.skus) and _in(via, plan.channels):
            counted[{"sku": sku, "channel": via}.get(plan.group or "")] += 1
    return list(counted.items())


@attrs.frozen
class _Repair:
    """A repair that gave its product back: an earlier repair for the ones after it."""

    id: str
    sku: str | None
    handed_back: datetime
    """When it last gave the product back, else when it closed."""

    def precedes(self, case: Case, window: int) -> bool:
        """Whether ``case`` (another repair of the serial) follows it within ``window``
        microseconds, on the same product (when both name their SKU)."""
        sku = case_sku(case)
        return (
            self.id != case.id
            and (self.sku is None or sku is None or self.sku == sku)
            and 0 <= _micros(case.created_at, self.handed_back) <= window
        )


def _earlier_repairs(cases: Iterable[Case]) -> defaultdict[str | None, list[_Repair]]:
    """The repairs that gave a product back, per serial."""
    found: defaultdict[str | None, list[_Repair]] = defaultdict(list)
    for case in cases:
        handed_back = case_handed_back_at(case) or case.closed_at
        if _repaired(case) and handed_back is not None:
            found[case.serial].append(_Repair(case.id, case_sku(case), handed_back))
    return found


def tally(
    cases: Iterable[Case],
    tickets: Iterable[Ticket],
    ticket_of: Callable[[str], Ticket | None],
    case_of: Callable[[str], Case | None],
    plan: CasePlan,
) -> CaseRows:
    """The rows of ``cases`` (any superset of the ones the plan counts, with every repair
    of their serials and every return of their tickets) and ``tickets`` (any superset of
    the period's); ``ticket_of`` finds a case's ticket, ``case_of`` its parent."""
    cases = list(cases)
    products = _Products(cases)
    start, end = plan.period_from, plan.period_to
    returns: Counter[tuple[str | None, str | None]] = Counter()
    units: Counter[tuple[str | None, str | None]] = Counter()
    refunds: Counter[tuple[str | None, int]] = Counter()
    late: Counter[tuple[str | None, int]] = Counter()
    complaints: Counter[str | None] = Counter()
    counted_repairs: list[tuple[Case, datetime, str | None]] = []
    for case in cases:
        kind = case.kind.value
        ticket = ticket_of(case.ticket_id)
        own_sku = case_sku(case)
        sku = own_sku if own_sku is not None else products.of(ticket)
        category, via = _category(case, case_of), _channel(ticket)
        if not (_in(category, plan.categories) and _in(via, plan.channels)):
            continue
        group = {"sku": sku, "category": category, "channel": via}.get(plan.group or "")
        created = case.created_at
        if kind == CaseKind.RETURN and start <= created < end:
            if _in(sku, plan.skus):
                returns[(group, case_reason(case))] += 1
            if case.status in NOT_RETURNED:
                continue
            for line in case.lines:
                line_sku = line.sku if line.sku is not None else sku
                if _in(line_sku, plan.skus):
                    units[(line_sku if plan.group == "sku" else group, line_sku)] += line.quantity
        elif not _in(sku, plan.skus):
            continue
        elif kind == CaseKind.COMPLAINT and start <= created < end:
            complaints[group] += 1
        elif kind == CaseKind.REFUND and case.refund is not None and created < end:
            # created before the end, as the SQL bounds it for its index: the same numbers
            # even for a case paid "before" its creation by a clock set back
            paid = case.refund.succeeded_at
            if paid is not None and start <= paid < end:
                bucket = (group, duration_bucket(_micros(paid, created)))
                refunds[bucket] += 1
                late[bucket] += int(case.refund.late)
        elif (
            _repaired(case)
            and case.closed_at is not None
            and start <= case.closed_at < end
            and created < end
        ):
            counted_repairs.append((case, case.closed_at, group))
    earlier = _earlier_repairs(cases) if counted_repairs else defaultdict(list)
    repairs: Counter[tuple[str | None, str | None, int]] = Counter()
    repeats: Counter[tuple[str | None, str | None, int]] = Counter()
    window = plan.repeat_window_micros
    for case, closed_at, group in counted_repairs:
        turnaround = (group, case_part(case), duration_bucket(_micros(closed_at, case.created_at)))
        repairs[turnaround] += 1
        if (case_failures(case) or 0) > 0 or (
            case.serial is not None
            and any(repair.precedes(case, window) for repair in earlier[case.serial])
        ):
            repeats[turnaround] += 1
    return CaseRows(
        tickets=_tickets_tally(tickets, plan, products) if plan.counts_tickets else None,
        returns=[(*key, n) for key, n in returns.items()],
        units=[(*key, n) for key, n in units.items()],
        refunds=[(*key, n, late[key]) for key, n in refunds.items()],
        repairs=[(*key, n, repeats[key]) for key, n in repairs.items()],
        complaints=list(complaints.items()),
    )


def memory_tally(store: MemoryStore, plan: CasePlan) -> CaseRows:
    """The rows over a MemoryStore's own objects, read under its lock (a consistent
    view) and counted once it is let go."""
    with store._lock:
        cases = dict(store._cases)
        tickets = dict(store._tickets)
    return tally(cases.values(), tickets.values(), tickets.get, cases.get, plan)


PAGE = 10_000
"""Tickets and cases read per ``find`` or ``find_cases`` call, on a store without a
faster path."""


def store_tally(store: Store, plan: CasePlan) -> CaseRows:
    """The rows over any store's public API: its cases of the four kinds and the period's
    tickets, a page at a time by cursor, and each counted case's ticket."""
    cases: list[Case] = []
    for kind in (CaseKind.RETURN, CaseKind.REFUND, CaseKind.REPAIR, CaseKind.COMPLAINT):
        cases += every_case(store, CaseQuery(kind=kind, limit=PAGE))
    known: dict[str, Ticket | None] = {}

    def ticket_of(ticket_id: str) -> Ticket | None:
        if ticket_id not in known:
            try:
                known[ticket_id] = store.get(ticket_id)
            except NotFound:
                known[ticket_id] = None
        return known[ticket_id]

    by_id: dict[str, Case | None] = {case.id: case for case in cases}

    def case_of(case_id: str) -> Case | None:
        if case_id not in by_id:
            try:
                by_id[case_id] = store.get_case(case_id)
            except NotFound:
                by_id[case_id] = None
        return by_id[case_id]

    tickets = (
        ticket_pages(
            store, TicketQuery(created_from=plan.period_from, created_to=plan.period_to, limit=PAGE)
        )
        if plan.counts_tickets
        else ()
    )
    return tally(cases, tickets, ticket_of, case_of, plan)
