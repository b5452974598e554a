"""Policy kinds. Each is validated configuration (so a shop writes it as JSON) with a pure
``evaluate`` method: facts in, :class:`~aftersales.policies.Decision` out, no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, PrivateAttr

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models._base import Record, trusted
from aftersales.policies.dates import (
    ClosedDays,
    HolidayCalendar,
    Period,
    StartEvent,
    Window,
    add_working_days,
    count_window,
    local_date,
    working_calendar,
)
from aftersales.policies.decision import (
    Deadline,
    Decision,
    DecisionWindow,
    Outcome,
    Party,
    Reason,
    RefundBreakdown,
    RefundDeadline,
    Remedy,
    money,
    reason,
)
from aftersales.policies.facts import (
    ClaimKind,
    Condition,
    Facts,
    OrderFacts,
    Payment,
    ProductFlag,
    RepairOutcome,
    RepairRecord,
)

_CENT = Decimal("0.01")
_ZERO = Decimal(0)
_ALLOWED = Outcome.ALLOWED  # enum members looked up once: member access is slow on 3.11
_REFUND = Remedy.REFUND
_ONE = Decimal(1)
_PERIODS: dict[tuple[int, int, int], Period] = {}


def _period(days: int = 0, months: int = 0, years: int = 0) -> Period:
    """The Period of these lengths, built once (periods are immutable and few)."""
    key = (days, months, years)
    found = _PERIODS.get(key)
    if found is None:
        found = Period(*key)
        if len(_PERIODS) < 4096:
            _PERIODS[key] = found
    return found


class Duration(Record):
    """A length of time as configuration: days, months and/or years."""

    days: Annotated[int, Field(ge=0, le=36_500)] = 0
    months: Annotated[int, Field(ge=0, le=1_200)] = 0
    years: Annotated[int, Field(ge=0, le=100)] = 0

    @property
    def period(self) -> Period:
        return _period(self.days, self.months, self.years)

    def __str__(self) -> str:
        return str(self.period)


class RollForward(Record):
    """Where a last day that falls on a closed day moves to the next open day.

    ``weekends`` rolls past Saturdays and Sundays, ``country`` (with the ``holidays``
    package) past that country's public holidays; neither means no roll-forward.
    """

    weekends: bool = False
    country: str | None = None
    subdivision: str | None = None
    holidays: frozenset[date] = frozenset()

    def calendar(self, years: Iterable[int] = ()) -> ClosedDays:
        """The closed days: built once per process for a country (every year, see
        :func:`~aftersales.policies.dates.working_calendar`); ``years`` is not needed."""
        weekend = frozenset({5, 6}) if self.weekends else frozenset()
        if self.country:
            return working_calendar(
                self.country,
                subdivision=self.subdivision,
                weekend=weekend,
                extra_holidays=self.holidays,
            )
        return HolidayCalendar(self.holidays, weekend)


_NO_ROLL = RollForward()


class RefundTerms(Record):
    """When and how a refund is paid, and what it includes.

    ``counted_from``: the claim, the seller receiving the goods back, or the trader
    agreeing to refund (``claim.refund_agreed_at``). ``withhold_until_goods_back``: the
    seller may hold the refund until the goods are back or shown sent
    (``claim.goods_returned_at``)."""

    days: Annotated[int, Field(ge=1, le=365)]
    counted_from: Literal["claim", "goods_received", "refund_agreed"] = "claim"
    working_days: bool = False
    holiday_country: str | None = None
    sanctionable_after_days: Annotated[int, Field(ge=1, le=3_650)] | None = None
    method: str = "original_payment"
    refund_shipping: bool = False
    restocking_fee_percent: Annotated[Decimal, Field(ge=0, le=100)] = Decimal(0)
    restocking_fee_on: frozenset[Condition] = frozenset()
    deduct_gifts_and_coupons: bool = True
    withhold_until_goods_back: bool = False

    def calendar(self) -> ClosedDays:
        """The days on which working days are not counted: weekends, and the public
        holidays of ``holiday_country`` (with its make-up working days) when it is set."""
        if self.holiday_country:
            return working_calendar(self.holiday_country)
        return _WEEKDAYS


_WEEKDAYS = HolidayCalendar()


class Context:
    """What every rule needs beside its own settings: the facts, local dates, the label."""

    __slots__ = ("_days", "claim_day", "facts", "policy", "time_zone")

    def __init__(self, facts: Facts, time_zone: ZoneInfo, policy: str) -> None:
        self.facts = facts
        self.time_zone = time_zone
        self.policy = policy
        self.claim_day = local_date(facts.claim.at, time_zone)
        self._days: dict[datetime, date] = {}

    def day(self, instant: datetime) -> date:
        """The local date of ``instant`` (each instant converted once per decision)."""
        found = self._days.get(instant)
        if found is None:
            found = self._days[instant] = instant.astimezone(self.time_zone).date()
        return found


def _window(name: str, window: Window) -> DecisionWindow:
    return trusted(
        DecisionWindow, {"name": name, "first_day": window.first_day, "last_day": window.last_day}
    )


def decision(context: Context, outcome: Outcome, reasons: list[Reason], **fields: Any) -> Decision:
    """Assemble a Decision from computed (already valid) parts."""
    return trusted(
        Decision,
        {
            **_DECISION_DEFAULTS,
            "outcome": outcome,
            "reasons": tuple(reasons),
            "policy": context.policy,
            **fields,
        },
    )


_DECISION_DEFAULTS: dict[str, Any] = {
    "remedies": (),
    "window": None,
    "burden_of_proof": None,
    "return_shipping_paid_by": None,
    "refund": None,
    "refund_deadline": None,
    "reply_deadline": None,
    "refund_method": None,
    "compensation": None,
}


def refund_breakdown(
    context: Context, terms: RefundTerms | None, deductions: Decimal = Decimal(0)
) -> RefundBreakdown:
    """The refund for the claimed quantity: price, less fees, deductions and the claimed
    share of gifts and coupons, plus shipping where the terms refund it."""
    facts = context.facts
    order, claim = facts.order, facts.claim
    currency = order.unit_price.currency
    whole_line = claim.quantity == order.quantity
    share = _ONE if whole_line else Decimal(claim.quantity) / Decimal(order.quantity)
    gross = order.unit_price.amount * claim.quantity
    fee = shipping = gifts = _ZERO
    if terms is not None:
        if terms.restocking_fee_percent and claim.condition in terms.restocking_fee_on:
            fee = (gross * terms.restocking_fee_percent / 100).quantize(_CENT, ROUND_HALF_UP)
        if terms.refund_shipping and order.shipping_paid is not None and whole_line:
            shipping = order.shipping_paid.amount
        if terms.deduct_gifts_and_coupons:
            for value in (order.gifts_value, order.coupon_value):
                if value is not None:
                    gifts += (value.amount * share).quantize(_CENT, ROUND_HALF_UP)
    if deductions:
        deductions = deductions.quantize(_CENT, ROUND_HALF_UP)
    if fee or deductions or gifts or shipping:
        net = gross - fee - deductions - gifts + shipping
        if net < 0:
            net = _ZERO
    else:
        net = gross
    per_method = _split(net, order.payments) if order.payments else {}
    return trusted(
        RefundBreakdown,
        {
            "currency": currency,
            "gross": gross,
            "restocking_fee": fee,
            "deductions": deductions,
            "gifts_and_coupons": gifts,
            "shipping": shipping,
            "net": net,
            "per_method": per_method,
        },
    )


def _split(net: Decimal, payments: Iterable[Payment]) -> dict[str, Decimal]:
    """``net`` in proportion to each method's payment, to the cent; the remainder of the
    rounding goes to the method that paid most."""
    paid: dict[str, Decimal] = {}
    for payment in payments:
        paid[payment.method] = paid.get(payment.method, _ZERO) + payment.amount.amount
    total = sum(paid.values(), _ZERO)
    if not total:
        return {}
    shares = {
        method: (net * amount / total).quantize(_CENT, ROUND_HALF_UP)
        for method, amount in paid.items()
    }
    largest = max(paid, key=lambda method: paid[method])
    shares[largest] += net - sum(shares.values(), _ZERO)
    return shares


_DEADLINES: dict[tuple[int, date | None], tuple[RefundTerms, RefundDeadline]] = {}


def refund_deadline(context: Context, terms: RefundTerms | None) -> RefundDeadline | None:
    """The refund's deadline under ``terms``: due on a known day when the event it counts
    from is known (the claim; the trader's agreement once given), later if the seller may
    withhold it until the goods come back and they came back after that day."""
    if terms is None:
        return None
    counted_from = terms.counted_from
    claim = context.facts.claim
    # The same for every claim (goods_received), or for every claim of one day: built once.
    start: date | None = None
    if counted_from == "claim":
        start = context.claim_day
    elif counted_from == "refund_agreed" and claim.refund_agreed_at is not None:
        start = context.day(claim.refund_agreed_at)
    # The same for every claim counted from the same day (or from an event not known
    # yet), unless the goods came back: built once per terms and day.
    key: tuple[int, date | None] | None = None
    if not (terms.withhold_until_goods_back and claim.goods_returned_at is not None):
        key = (id(terms), start)
        cached = _DEADLINES.get(key)
        if cached is not None and cached[0] is terms:
            return cached[1]
    due_by = None
    if start is not None:
        if terms.working_days:
            due_by = add_working_days(start, terms.days, terms.calendar())
        else:
            due_by = start + timedelta(days=terms.days)
        if terms.withhold_until_goods_back and claim.goods_returned_at is not None:
            back = context.day(claim.goods_returned_at)
            if back > due_by:
                due_by = back
    deadline = trusted(
        RefundDeadline,
        {
            "days": terms.days,
            "counted_from": counted_from,
            "due_by": due_by,
            "working_days": terms.working_days,
            "holiday_country": terms.holiday_country if terms.working_days else None,
            "sanctionable_after_days": terms.sanctionable_after_days,
            "withheld_until_goods_back": terms.withhold_until_goods_back,
        },
    )
    if key is not None:
        if len(_DEADLINES) >= 4096:  # bounded: terms and days come and go
            _DEADLINES.clear()
        _DEADLINES[key] = (terms, deadline)
    return deadline


def refund_fields(
    context: Context, terms: RefundTerms | None, refund: RefundBreakdown | None
) -> dict[str, Any]:
    """A decision's refund, its deadline and its method (none of them without a refund)."""
    if refund is None:
        return {"refund": None, "refund_deadline": None, "refund_method": None}
    return {
        "refund": refund,
        "refund_deadline": refund_deadline(context, terms),
        "refund_method": terms.method if terms is not None else None,
    }


def _window_passed(context: Context, name: str, name_zh: str | None, window: Window) -> Decision:
    """The refusal of a claim made after the window's last day."""
    return decision(
        context,
        Outcome.REFUSED,
        [
            reason(
                "window_passed",
                False,
                window=name,
                window_zh=name_zh,
                last_day=window.last_day.isoformat(),
            )
        ],
        window=_window(name, window),
    )


def repair_days(context: Context, repairs: Iterable[RepairRecord] | None = None) -> int:
    """Calendar days the goods spent in repair (hand-in to hand-back, or to the claim)."""
    total = 0
    zone = context.time_zone
    for repair in context.facts.repairs if repairs is None else repairs:
        back = repair.handed_back_at
        back_day = context.claim_day if back is None else back.astimezone(zone).date()
        total += (back_day - repair.handed_in_at.astimezone(zone).date()).days
    return total


_START_EVENTS: dict[StartEvent, Callable[[OrderFacts], datetime | None]] = {
    StartEvent.PURCHASE: lambda order: order.purchased_at,
    StartEvent.INVOICE: lambda order: order.invoiced_at or order.purchased_at,
    StartEvent.DELIVERY: lambda order: order.delivered_at,
    StartEvent.SIGN_OFF: lambda order: order.delivered_at,
    StartEvent.LAST_ITEM: lambda order: order.order_completed_at or order.delivered_at,
    StartEvent.INSTALLATION: lambda order: order.installed_at or order.delivered_at,
}


def _require_start(context: Context, start: StartEvent) -> date | None:
    instant = _START_EVENTS[start](context.facts.order)
    return None if instant is None else local_date(instant, context.time_zone)


_REMEDY_NAMES = {
    Remedy.REFUND: ("refund", "退货"),
    Remedy.EXCHANGE: ("exchange", "换货"),
    Remedy.REPAIR: ("repair", "修理"),
    Remedy.REPLACEMENT: ("replacement", "更换"),
    Remedy.PRICE_REDUCTION: ("price reduction", "减价"),
    Remedy.STORE_CREDIT: ("store credit", "店铺余额"),
    Remedy.VOUCHER: ("voucher", "代金券"),
}


def _remedy_text(remedies: Iterable[Remedy]) -> str:
    return ", ".join(_REMEDY_NAMES[r][0] for r in remedies)


class ReturnWindowRule(Record):
    """A return window: no-reason returns (China), withdrawal (EU), a shop's own policy.

    Absolute exclusions refuse whatever the buyer did; conditional ones refuse only when
    the buyer confirmed them at checkout. ``not_intact`` conditions refuse, ``inspect``
    conditions allow after inspection. Without withdrawal information the window grows by
    ``uninformed_extension_months``; information given later starts a fresh period.
    """

    kind: Literal["return_window"] = "return_window"
    name: str = "return"
    name_zh: str | None = None
    handles: frozenset[ClaimKind] = frozenset({ClaimKind.NO_REASON_RETURN})
    period: Duration
    start: StartEvent = StartEvent.DELIVERY
    count_start_day: bool = False
    roll_forward: RollForward = RollForward()
    absolute_exclusions: frozenset[ProductFlag] = frozenset()
    conditional_exclusions: frozenset[ProductFlag] = frozenset()
    not_intact: frozenset[Condition] = frozenset({Condition.DAMAGED})
    inspect: frozenset[Condition] = frozenset()
    uninformed_extension_months: Annotated[int, Field(ge=0, le=1_200)] | None = None
    remedies: tuple[Remedy, ...] = (Remedy.REFUND,)
    return_shipping_paid_by: Party = Party.CONSUMER
    refund: RefundTerms | None = None
    _closed: ClosedDays | None = PrivateAttr(default=None)

    def evaluate(self, context: Context) -> Decision:
        facts = context.facts
        reasons: list[Reason] = []
        flags = facts.product.flags
        if flags:
            for flag in sorted(flags & self.absolute_exclusions):
                return decision(
                    context,
                    Outcome.REFUSED,
                    [
                        reason(
                            "excluded_category",
                            False,
                            flag=flag.value,
                            window=self.name,
                            window_zh=self.name_zh,
                        )
                    ],
                )
            for flag in sorted(flags & self.conditional_exclusions):
                if facts.confirmed_non_returnable_at_checkout:
                    return decision(
                        context,
                        Outcome.REFUSED,
                        [reason("excluded_with_confirmation", False, flag=flag.value)],
                    )
                reasons.append(reason("exclusion_not_confirmed", True, flag=flag.value))
        start = _require_start(context, self.start)
        if start is None:
            reasons.append(reason("not_delivered", True))
            return decision(
                context,
                Outcome.ALLOWED,
                reasons,
                remedies=self.remedies,
                return_shipping_paid_by=self.return_shipping_paid_by,
            )
        window, extended = self._window(context, start)
        claim_day = context.claim_day
        last = window.last_day.isoformat()
        if claim_day > window.last_day:
            reasons.append(
                reason(
                    "window_passed", False, window=self.name, window_zh=self.name_zh, last_day=last
                )
            )
            if extended:
                reasons.append(reason("not_informed_extension", False, last_day=last))
            return decision(context, Outcome.REFUSED, reasons, window=_window(self.name, window))
        reasons.append(
            reason("within_window", True, window=self.name, window_zh=self.name_zh, last_day=last)
        )
        if extended:
            reasons.append(reason("not_informed_extension", True, last_day=last))
        condition = facts.claim.condition
        outcome = _ALLOWED
        if condition in self.not_intact:
            reasons.append(reason("condition_not_intact", False, condition=condition.value))
            return decision(context, Outcome.REFUSED, reasons, window=_window(self.name, window))
        if condition in self.inspect:
            reasons.append(reason("inspection_needed", True, condition=condition.value))
            outcome = Outcome.NEEDS_INSPECTION
        terms = self.refund
        if (
            terms is not None
            and terms.restocking_fee_percent
            and condition in terms.restocking_fee_on
        ):
            reasons.append(
                reason("restocking_fee", True, percent=str(terms.restocking_fee_percent))
            )
        remedies = self.remedies
        refunds = _REFUND in remedies
        if refunds and terms is not None and terms.withhold_until_goods_back:
            reasons.append(reason("refund_withheld_until_goods_back", True))
        return trusted(
            Decision,
            {
                "outcome": outcome,
                "remedies": remedies,
                "reasons": tuple(reasons),
                "window": _window(self.name, window),
                "burden_of_proof": None,
                "return_shipping_paid_by": self.return_shipping_paid_by,
                "refund": refund_breakdown(context, terms) if refunds else None,
                "refund_deadline": refund_deadline(context, terms),
                "reply_deadline": None,
                "refund_method": terms.method if terms else None,
                "compensation": None,
                "policy": context.policy,
            },
        )

    def _window(self, context: Context, start: date) -> tuple[Window, bool]:
        """The window, and whether it was extended because the buyer was not informed of
        the right of withdrawal in time."""
        rolls = self.roll_forward
        closed: ClosedDays | None = None
        if rolls is _NO_ROLL or not (rolls.country or rolls.weekends or rolls.holidays):
            pass
        else:
            closed = self._closed
            if closed is None:
                closed = self._closed = rolls.calendar()
        window = count_window(
            start, self.period.period, count_start_day=self.count_start_day, closed=closed
        )
        if self.uninformed_extension_months is not None:
            informed = context.facts.withdrawal_information_given_at
            if informed is not None and context.day(informed) <= window.last_day:
                return window, False
            months = _period(months=self.uninformed_extension_months)
            uninformed = count_window(window.last_day, months, closed=closed)
            if informed is None:
                return Window(window.first_day, uninformed.last_day), True
            # Information given within the months after the start event: the period
            # ends a fresh period after it arrives; given later, the extension holds.
            informed_day = context.day(informed)
            if informed_day <= count_window(start, months).last_day:
                later = count_window(informed_day, self.period.period, closed=closed)
                return Window(window.first_day, later.last_day), True
            return Window(window.first_day, uninformed.last_day), True
        return window, False


class Tier(Record):
    """Within ``days`` of the start event, these remedies are open to the customer."""

    days: Annotated[int, Field(ge=1, le=3650)]
    remedies: tuple[Remedy, ...]


class QualityTiersRule(Record):
    """Quality claims in tiers, then a warranty (China: consumer law art. 24, 三包).

    Inside a tier the customer chooses among its remedies. After the tiers, the warranty
    (per category from ``warranty_by_category``, else ``warranty``) gives repair; it is
    extended by repair days, restarts after a replacement, and turns into replacement or
    return after ``max_failed_repairs``, a parts wait over ``parts_wait_limit_days`` or a
    repairer delay over ``repairer_delay_limit_days``.
    """

    kind: Literal["quality_tiers"] = "quality_tiers"
    name: str = "quality"
    name_zh: str | None = None
    handles: frozenset[ClaimKind] = frozenset(
        {ClaimKind.QUALITY_RETURN, ClaimKind.EXCHANGE, ClaimKind.WARRANTY_REPAIR}
    )
    start: StartEvent = StartEvent.INVOICE
    tiers: tuple[Tier, ...] = ()
    after_tiers: tuple[Remedy, ...] = (Remedy.REPAIR,)
    warranty: Duration | None = None
    warranty_by_category: dict[str, Duration] = Field(default_factory=dict)
    warranty_by_part: dict[str, Duration] = Field(default_factory=dict)
    covered_faults: frozenset[str] | None = None
    excluded_faults: frozenset[str] = frozenset()
    extend_by_repair_days: bool = True
    replacement_restarts: bool = True
    max_failed_repairs: int | None = 2
    parts_wait_limit_days: int | None = 90
    repairer_delay_limit_days: int | None = 30
    depreciation_percent_per_year: Annotated[Decimal, Field(ge=0, le=100)] = Decimal(0)
    seller_burden_months: Annotated[int, Field(ge=0, le=1_200)] | None = None
    refund: RefundTerms | None = None

    def evaluate(self, context: Context) -> Decision:
        facts = context.facts
        claim = facts.claim
        if not claim.proof_of_purchase:
            return decision(context, Outcome.REFUSED, [reason("no_proof_of_purchase", False)])
        for cause, present in (
            ("misuse against the manual", claim.misuse),
            ("dismantled by an unauthorised repairer", claim.unauthorised_repair),
        ):
            if present:
                return decision(
                    context, Outcome.REFUSED, [reason("excluded_fault", False, cause=cause)]
                )
        fault = claim.fault
        if fault is not None and (
            fault in self.excluded_faults
            or (self.covered_faults is not None and fault not in self.covered_faults)
        ):
            return decision(
                context,
                Outcome.REFUSED,
                [reason("excluded_fault", False, cause=f"fault {fault!r}")],
            )
        start = _require_start(context, self.start)
        if start is None:  # pragma: no cover - invoice falls back to the purchase date
            start = context.day(facts.order.purchased_at)
        repairs = facts.repairs
        if self.replacement_restarts:
            replaced = [
                r for r in repairs if r.outcome is RepairOutcome.REPLACED and r.handed_back_at
            ]
            if replaced:
                replacement = max(replaced, key=lambda r: r.handed_in_at)
                start = context.day(replacement.handed_back_at)  # type: ignore[arg-type]
                repairs = tuple(r for r in repairs if r.handed_in_at > replacement.handed_in_at)
        claim_day = context.claim_day
        reasons: list[Reason] = []
        burden = self._burden(context, claim_day, reasons)
        age = (claim_day - start).days  # a tier of n days ends n days after the start
        for tier in self.tiers:
            if age <= tier.days:
                window = count_window(start, _period(tier.days))
                name = f"{tier.days}-day"
                reasons.insert(
                    0,
                    reason(
                        "tier",
                        True,
                        days=tier.days,
                        start=start.isoformat(),
                        remedies=_remedy_text(tier.remedies),
                    ),
                )
                return self._allowed(context, tier.remedies, reasons, _window(name, window), burden)
        period = self.warranty_by_category.get(facts.product.category, self.warranty)
        if claim.part is not None and claim.part in self.warranty_by_part:
            period = self.warranty_by_part[claim.part]
        if period is None:
            if self.warranty_by_category:
                raise InvalidInput(
                    "facts",
                    [
                        FieldError(
                            ("product", "category"),
                            f"no warranty period for category {facts.product.category!r}; known: "
                            f"{', '.join(sorted(self.warranty_by_category))}",
                        )
                    ],
                )
            reasons.insert(
                0, reason("after_failed_remedy" if self._failed(repairs) else "repair_first", True)
            )
            remedies = (
                (Remedy.REFUND, Remedy.PRICE_REDUCTION)
                if self._failed(repairs)
                else self.after_tiers
            )
            return self._allowed(context, remedies, reasons, None, burden)
        extended = repair_days(context, repairs) if self.extend_by_repair_days else 0
        window = count_window(start, period.period, extend_days=extended)
        last = window.last_day.isoformat()
        if claim_day > window.last_day:
            return decision(
                context,
                Outcome.REFUSED,
                [reason("warranty_expired", False, last_day=last)],
                window=_window("warranty", window),
                burden_of_proof=burden,
            )
        reasons.insert(0, reason("in_warranty", True, last_day=last, extended=extended))
        failed = self._failed(repairs)
        remedies = self.after_tiers
        deductions = Decimal(0)
        if self.max_failed_repairs is not None and failed >= self.max_failed_repairs:
            reasons.append(reason("failed_repairs", True, count=failed))
            remedies = (Remedy.REPLACEMENT, Remedy.REFUND)
            if self.depreciation_percent_per_year:
                if facts.product.same_model_available is False:
                    reasons.append(reason("no_same_model", True))
                else:
                    deductions, used_days = self._depreciation(context, start, claim_day, extended)
                    reasons.append(
                        reason(
                            "depreciation",
                            True,
                            percent=str(self.depreciation_percent_per_year),
                            days=used_days,
                        )
                    )
        else:
            for repair in repairs:
                for code, limit, days in (
                    ("parts_wait", self.parts_wait_limit_days, repair.waiting_for_parts_days),
                    ("repairer_delay", self.repairer_delay_limit_days, repair.repairer_fault_days),
                ):
                    if limit is not None and days > limit:
                        reasons.append(reason(code, True, days=days, limit=limit))
                        remedies = (Remedy.REPLACEMENT,)
                        break
        return self._allowed(
            context, remedies, reasons, _window("warranty", window), burden, deductions
        )

    @staticmethod
    def _failed(repairs: Iterable[Any]) -> int:
        return sum(1 for r in repairs if r.outcome is RepairOutcome.FAILED)

    def _burden(self, context: Context, claim_day: date, reasons: list[Reason]) -> Party | None:
        months = self.seller_burden_months
        if months is None:
            return None
        received = context.facts.order.delivered_at or context.facts.order.purchased_at
        limit = count_window(context.day(received), _period(months=months)).last_day
        if claim_day <= limit:
            reasons.append(reason("burden_on_seller", True, months=months))
            return Party.SELLER
        reasons.append(reason("burden_on_consumer", True, months=months))
        return Party.CONSUMER

    def _depreciation(
        self, context: Context, start: date, claim_day: date, repair: int
    ) -> tuple[Decimal, int]:
        """Depreciation for the days of use (repair days excluded), and those days. The
        1995 rules charge it on a refund chosen over an available same-model unit."""
        used_days = max((claim_day - start).days - repair, 0)
        gross = context.facts.order.unit_price.amount * context.facts.claim.quantity
        return gross * (self.depreciation_percent_per_year * used_days) / 36_500, used_days

    def _allowed(
        self,
        context: Context,
        remedies: tuple[Remedy, ...],
        reasons: list[Reason],
        window: DecisionWindow | None,
        burden: Party | None,
        deductions: Decimal = Decimal(0),
    ) -> Decision:
        refund = (
            refund_breakdown(context, self.refund, deductions)
            if Remedy.REFUND in remedies
            else None
        )
        return decision(
            context,
            Outcome.ALLOWED,
            reasons,
            remedies=remedies,
            window=window,
            burden_of_proof=burden,
            return_shipping_paid_by=Party.SELLER,
            **refund_fields(context, self.refund, refund),
        )


class LegalGuaranteeRule(Record):
    """The EU legal guarantee (Directive 2019/771): liability for non-conformity that
    appears within ``period`` of delivery, a presumption for ``presumption_months``,
    repair or replacement first, then price reduction or termination."""

    kind: Literal["legal_guarantee"] = "legal_guarantee"
    name: str = "legal guarantee"
    name_zh: str | None = None
    handles: frozenset[ClaimKind] = frozenset(
        {
            ClaimKind.LEGAL_GUARANTEE,
            ClaimKind.QUALITY_RETURN,
            ClaimKind.WARRANTY_REPAIR,
            ClaimKind.FINAL_REJECTION,
        }
    )
    period: Duration = Duration(years=2)
    second_hand_period: Duration | None = None
    presumption_months: Annotated[int, Field(ge=0, le=120)] = 12
    refund: RefundTerms | None = None

    def evaluate(self, context: Context) -> Decision:
        facts = context.facts
        start = _require_start(context, StartEvent.DELIVERY) or context.day(
            facts.order.purchased_at
        )
        period = self.period
        if ProductFlag.SECOND_HAND in facts.product.flags and self.second_hand_period is not None:
            period = self.second_hand_period
        window = count_window(start, period.period)
        claim_day = context.claim_day
        if claim_day > window.last_day:
            return _window_passed(context, self.name, self.name_zh, window)
        reasons = [
            reason(
                "within_window",
                True,
                window=self.name,
                window_zh=self.name_zh,
                last_day=window.last_day.isoformat(),
            )
        ]
        presumed = (
            count_window(start, _period(months=self.presumption_months)).last_day
            if self.presumption_months
            else start
        )
        if self.presumption_months and claim_day <= presumed:
            burden = Party.SELLER
            reasons.append(reason("burden_on_seller", True, months=self.presumption_months))
        else:
            burden = Party.CONSUMER
            reasons.append(reason("burden_on_consumer", True, months=self.presumption_months))
        failed = any(r.outcome is RepairOutcome.FAILED for r in facts.repairs)
        if failed:
            reasons.append(reason("after_failed_remedy", True))
            remedies: tuple[Remedy, ...] = (Remedy.PRICE_REDUCTION, Remedy.REFUND)
        else:
            reasons.append(reason("repair_first", True))
            remedies = (Remedy.REPAIR, Remedy.REPLACEMENT)
        refund = refund_breakdown(context, self.refund) if Remedy.REFUND in remedies else None
        return decision(
            context,
            Outcome.ALLOWED,
            reasons,
            remedies=remedies,
            window=_window(self.name, window),
            burden_of_proof=burden,
            return_shipping_paid_by=Party.SELLER,
            **refund_fields(context, self.refund, refund),
        )


class ShortTermRejectRule(Record):
    """UK Consumer Rights Act 2015: the short-term right to reject (s22) and, after one
    failed repair or replacement, the final right to reject or a price reduction (s24)."""

    kind: Literal["short_term_reject"] = "short_term_reject"
    name: str = "short-term right to reject"
    name_zh: str | None = None
    handles: frozenset[ClaimKind] = frozenset(
        {
            ClaimKind.QUALITY_RETURN,
            ClaimKind.FINAL_REJECTION,
            ClaimKind.WARRANTY_REPAIR,
            ClaimKind.LEGAL_GUARANTEE,
        }
    )
    period: Duration = Duration(days=30)
    minimum_after_repair_days: Annotated[int, Field(ge=0, le=36_500)] = 7
    presumption_months: Annotated[int, Field(ge=0, le=1_200)] = 6
    limitation: Duration = Duration(years=6)
    refund: RefundTerms | None = None

    def evaluate(self, context: Context) -> Decision:
        facts = context.facts
        order = facts.order
        start = context.day(order.purchased_at)  # the latest of ownership, delivery and
        for event in (order.delivered_at, order.installed_at):  # installation
            if event is not None:
                day = context.day(event)
                if day > start:
                    start = day
        claim_day = context.claim_day
        window = count_window(start, self.period.period)
        last = window.last_day
        paused = 0
        # The waiting period begins with the day the consumer requests (or agrees to) the
        # repair and ends with the day the goods come back (s22(8)): neither day counts
        # as used, and the period resumes the day after.
        for repair in sorted(facts.repairs, key=lambda r: r.waiting_from):
            waiting_from = max(context.day(repair.waiting_from), window.first_day)
            if waiting_from > last:
                continue
            back = context.day(repair.handed_back_at) if repair.handed_back_at else claim_day
            back = max(back, waiting_from)
            remaining = (last - waiting_from).days + 1
            paused += (back - waiting_from).days + 1
            last = back + timedelta(days=max(remaining, self.minimum_after_repair_days))
        window = Window(window.first_day, last)
        reasons: list[Reason] = []
        delivered = context.day(order.delivered_at or order.purchased_at)
        presumed = count_window(delivered, _period(months=self.presumption_months)).last_day
        burden = Party.SELLER if claim_day <= presumed else Party.CONSUMER
        if claim_day <= last and facts.claim.kind in (
            ClaimKind.QUALITY_RETURN,
            ClaimKind.FINAL_REJECTION,
        ):
            reasons.append(
                reason(
                    "within_window",
                    True,
                    window=self.name,
                    window_zh=self.name_zh,
                    last_day=last.isoformat(),
                )
            )
            if paused:
                reasons.append(reason("paused_for_repair", True, days=paused))
            refund = refund_breakdown(context, self.refund)
            return decision(
                context,
                Outcome.ALLOWED,
                reasons,
                remedies=(Remedy.REFUND,),
                window=_window(self.name, window),
                burden_of_proof=burden,
                return_shipping_paid_by=Party.SELLER,
                **refund_fields(context, self.refund, refund),
            )
        limit = count_window(delivered, self.limitation.period)
        if claim_day > limit.last_day:
            return decision(
                context,
                Outcome.REFUSED,
                [
                    reason(
                        "window_passed",
                        False,
                        window="limitation period",
                        last_day=limit.last_day.isoformat(),
                    )
                ],
            )
        reasons.append(
            reason(
                "burden_on_seller" if burden is Party.SELLER else "burden_on_consumer",
                True,
                months=self.presumption_months,
            )
        )
        failed = any(r.outcome is RepairOutcome.FAILED for r in facts.repairs)
        if not failed:
            reasons.insert(0, reason("repair_first", True))
            return decision(
                context,
                Outcome.ALLOWED,
                reasons,
                remedies=(Remedy.REPAIR, Remedy.REPLACEMENT),
                burden_of_proof=burden,
                return_shipping_paid_by=Party.SELLER,
            )
        reasons.insert(0, reason("after_failed_remedy", True))
        if claim_day > presumed or facts.vehicle is not None:
            reasons.append(reason("deduction_for_use", True))
        refund = refund_breakdown(context, self.refund)
        return decision(
            context,
            Outcome.ALLOWED,
            reasons,
            remedies=(Remedy.REFUND, Remedy.PRICE_REDUCTION),
            burden_of_proof=burden,
            return_shipping_paid_by=Party.SELLER,
            **refund_fields(context, self.refund, refund),
        )


class StatutoryReturnRule(Record):
    """California Civil Code §1723: a retailer that does not post a policy of at least a
    full refund or exchange within 7 days must take returns until the 30th day after
    purchase, except exempt goods."""

    kind: Literal["statutory_return"] = "statutory_return"
    name: str = "California §1723 return"
    name_zh: str | None = None
    handles: frozenset[ClaimKind] = frozenset({ClaimKind.NO_REASON_RETURN, ClaimKind.EXCHANGE})
    period: Duration = Duration(days=30)
    exempt: frozenset[ProductFlag] = frozenset(
        {
            ProductFlag.PERISHABLE,
            ProductFlag.FINAL_SALE,
            ProductFlag.SECOND_HAND,
            ProductFlag.MADE_TO_ORDER,
            ProductFlag.NOT_RESELLABLE_FOR_HEALTH,
        }
    )
    exempt_conditions: frozenset[Condition] = frozenset({Condition.DAMAGED, Condition.OPENED})
    refund: RefundTerms | None = None

    def evaluate(self, context: Context) -> Decision:
        facts = context.facts
        if facts.retailer_policy_posted:
            return decision(context, Outcome.REFUSED, [reason("policy_posted", False)])
        for flag in sorted(facts.product.flags & self.exempt):
            return decision(
                context,
                Outcome.REFUSED,
                [
                    reason(
                        "excluded_category",
                        False,
                        flag=flag.value,
                        window=self.name,
                        window_zh=self.name_zh,
                    )
                ],
            )
        condition = facts.claim.condition
        if condition in self.exempt_conditions:
            return decision(
                context,
                Outcome.REFUSED,
                [reason("condition_not_intact", False, condition=condition.value)],
            )
        window = count_window(context.day(facts.order.purchased_at), self.period.period)
        if context.claim_day > window.last_day:
            return _window_passed(context, self.name, self.name_zh, window)
        return decision(
            context,
            Outcome.ALLOWED,
            [reason("statutory_return", True, last_day=window.last_day.isoformat())],
            remedies=(Remedy.REFUND, Remedy.EXCHANGE),
            window=_window(self.name, window),
            **refund_fields(context, self.refund, refund_breakdown(context, self.refund)),
        )


MAIN_ASSEMBLIES = frozenset({"engine", "gearbox", "traction_battery", "drive_motor"})
SEVERE_FAILURES = frozenset({"steering", "brakes", "body_crack", "fuel_leak", "battery_fire"})


class HouseholdCarRule(Record):
    """China's household-car 三包 rules (SAMR Order 43, in force 2022-01-01)."""

    kind: Literal["household_car"] = "household_car"
    name: str = "汽车三包"
    name_zh: str | None = None
    handles: frozenset[ClaimKind] = frozenset(
        {ClaimKind.QUALITY_RETURN, ClaimKind.EXCHANGE, ClaimKind.WARRANTY_REPAIR}
    )
    sanbao: Duration = Duration(years=2)
    sanbao_km: int = 50_000
    repair_warranty: Duration = Duration(years=3)
    repair_warranty_km: int = 60_000
    early_days: int = 60
    early_km: int = 3_000
    new_car_days: int = 7
    max_repair_days: int = 30
    max_same_problem_repairs: int = 4
    usage_rate_percent: Annotated[Decimal, Field(ge=0, le=Decimal("0.5"))] = Decimal("0.5")
    refund: RefundTerms | None = RefundTerms(days=20, working_days=True, holiday_country="CN")
    reply_days: Annotated[int, Field(ge=1, le=365)] | None = 10
    """Working days the seller has to answer a replacement or refund request (art. 28),
    counted on the refund terms' holiday calendar; None leaves the reply out."""

    def evaluate(self, context: Context) -> Decision:
        facts = context.facts
        vehicle = facts.vehicle
        if vehicle is None:
            raise InvalidInput(
                "facts",
                [FieldError(("vehicle",), "the household-car rules need the vehicle facts")],
            )
        order = facts.order
        start = context.day(order.delivered_at or order.invoiced_at or order.purchased_at)
        claim_day = context.claim_day
        age = (claim_day - start).days
        km = vehicle.odometer_km
        system = vehicle.failed_system
        reasons: list[Reason] = []
        sanbao = count_window(start, self.sanbao.period)
        if age <= self.new_car_days and system in MAIN_ASSEMBLIES:
            return self._replace_or_refund(
                context, "art. 22: main assembly within 7 days", sanbao, reasons, km=0
            )
        if age <= self.early_days and km <= self.early_km:
            if system in MAIN_ASSEMBLIES:
                reasons.append(
                    reason(
                        "vehicle_trigger",
                        True,
                        rule="art. 20: main assembly within 60 days / 3,000 km",
                        remedies="replacement of the assembly",
                    )
                )
                return decision(
                    context,
                    Outcome.ALLOWED,
                    reasons,
                    remedies=(Remedy.REPLACEMENT,),
                    window=_window(self.name, sanbao),
                    return_shipping_paid_by=Party.SELLER,
                )
            if system in SEVERE_FAILURES:
                return self._replace_or_refund(
                    context,
                    "art. 23: severe failure within 60 days / 3,000 km",
                    sanbao,
                    reasons,
                    km=0,
                )
        in_sanbao = claim_day <= sanbao.last_day and km <= self.sanbao_km
        if in_sanbao:
            failed = [r for r in facts.repairs if r.outcome is RepairOutcome.FAILED]
            same_part: dict[str, int] = {}
            for repair in facts.repairs:
                if repair.part:
                    same_part[repair.part] = same_part.get(repair.part, 0) + 1
            if vehicle.serious_safety_fault and len(failed) >= 2:
                return self._replace_or_refund(
                    context, "art. 24: safety fault after two repairs", sanbao, reasons, km
                )
            if vehicle.assembly_replacements >= 2 and system in MAIN_ASSEMBLIES:
                return self._replace_or_refund(
                    context, "art. 24: assembly replaced twice", sanbao, reasons, km
                )
            if repair_days(context) > self.max_repair_days:
                return self._replace_or_refund(
                    context, "art. 24: repairs over 30 days", sanbao, reasons, km
                )
            if same_part and max(same_part.values()) > self.max_same_problem_repairs:
                return self._replace_or_refund(
                    context, "art. 24: same problem repaired more than 4 times", sanbao, reasons, km
                )
            reasons.append(
                reason(
                    "within_window",
                    True,
                    window=self.name,
                    window_zh=self.name_zh,
                    last_day=sanbao.last_day.isoformat(),
                )
            )
            return decision(
                context,
                Outcome.ALLOWED,
                reasons,
                remedies=(Remedy.REPAIR,),
                window=_window(self.name, sanbao),
                return_shipping_paid_by=Party.SELLER,
            )
        warranty = count_window(start, self.repair_warranty.period)
        if claim_day <= warranty.last_day and km <= self.repair_warranty_km:
            reasons.append(
                reason(
                    "within_window",
                    True,
                    window="repair warranty",
                    last_day=warranty.last_day.isoformat(),
                )
            )
            return decision(
                context,
                Outcome.ALLOWED,
                reasons,
                remedies=(Remedy.REPAIR,),
                window=_window("repair warranty", warranty),
            )
        if km > self.repair_warranty_km:
            reasons.append(
                reason(
                    "mileage_exceeded",
                    False,
                    km=km,
                    limit=self.repair_warranty_km,
                    window="repair warranty",
                )
            )
        else:
            reasons.append(
                reason(
                    "window_passed",
                    False,
                    window="repair warranty",
                    last_day=warranty.last_day.isoformat(),
                )
            )
        return decision(
            context, Outcome.REFUSED, reasons, window=_window("repair warranty", warranty)
        )

    def _replace_or_refund(
        self, context: Context, rule: str, sanbao: Window, reasons: list[Reason], km: int
    ) -> Decision:
        price = context.facts.order.unit_price
        compensation = (price.amount * km / 1000 * self.usage_rate_percent / 100).quantize(
            _CENT, ROUND_HALF_UP
        )
        reasons.append(reason("vehicle_trigger", True, rule=rule, remedies="replacement or refund"))
        if km:
            reasons.append(
                reason("usage_compensation", True, km=km, rate=f"{self.usage_rate_percent}%")
            )
        reply = self._reply_deadline(context)
        if reply is not None:
            reasons.append(reason("reply_due", True, days=reply.days, due_by=str(reply.due_by)))
        refund = refund_breakdown(context, self.refund, compensation)
        return decision(
            context,
            Outcome.ALLOWED,
            reasons,
            remedies=(Remedy.REPLACEMENT, Remedy.REFUND),
            window=_window(self.name, sanbao),
            return_shipping_paid_by=Party.SELLER,
            **refund_fields(context, self.refund, refund),
            reply_deadline=reply,
            compensation=money(compensation, price.currency),
        )

    def _reply_deadline(self, context: Context) -> Deadline | None:
        """The seller's answer to a replacement or refund request: ``reply_days`` working
        days from the request (art. 28)."""
        if self.reply_days is None:
            return None
        country = self.refund.holiday_country if self.refund is not None else None
        calendar = working_calendar(country) if country else _WEEKDAYS
        return trusted(
            Deadline,
            {
                "days": self.reply_days,
                "counted_from": "claim",
                "due_by": add_working_days(context.claim_day, self.reply_days, calendar),
                "working_days": True,
                "holiday_country": country,
            },
        )


Rule = Annotated[
    ReturnWindowRule
    | QualityTiersRule
    | LegalGuaranteeRule
    | ShortTermRejectRule
    | StatutoryReturnRule
    | HouseholdCarRule,
    Field(discriminator="kind"),
]
"""Any policy kind, chosen by its ``kind`` field in configuration."""
