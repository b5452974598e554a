"""What every rule kind shares: the context of a decision, the decision builder, the
refund breakdown and deadline, durations and roll-forward, and the shared messages."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, StringConstraints, model_validator
from typing_extensions import Self

from aftersales.models._base import Record, trusted
from aftersales.policies.dates import (
    ClosedDays,
    HolidayCalendar,
    Period,
    StartEvent,
    Window,
    add_working_days,
    local_date,
    working_calendar,
)
from aftersales.policies.decision import (
    Decision,
    DecisionWindow,
    Outcome,
    Reason,
    RefundBreakdown,
    RefundDeadline,
    Remedy,
    reason,
)
from aftersales.policies.facts import (
    ClaimKind,
    Condition,
    Facts,
    OrderFacts,
    Payment,
    RepairRecord,
)

MESSAGES: dict[str, dict[str, str]] = {
    "within_window": {
        "en": "within the {window} window, which ends on {last_day}",
        "zh": "在{window}期限内，截止日期为 {last_day}",
    },
    "window_passed": {
        "en": "the {window} window ended on {last_day}",
        "zh": "{window}期限已于 {last_day} 届满",
    },
    "excluded_category": {
        "en": "{flag} goods are excluded from {window}",
        "zh": "{flag}类商品不适用{window}",
    },
    "condition_not_intact": {
        "en": "goods returned {condition} are not in intact condition",
        "zh": "商品{condition}，不符合完好标准",
    },
    "burden_on_seller": {
        "en": "the defect appeared within {months} months of delivery: "
        "the seller must prove it was not there",
        "zh": "收货后 {months} 个月内出现的瑕疵由经营者承担举证责任",
    },
    "burden_on_consumer": {
        "en": "the defect appeared more than {months} months after delivery: "
        "the consumer must show it",
        "zh": "收货超过 {months} 个月出现的瑕疵由消费者举证",
    },
    "repair_first": {
        "en": "repair or replacement first, free of charge",
        "zh": "先修理或更换，免费",
    },
    "after_failed_remedy": {
        "en": "a repair or replacement has failed: price reduction or ending the contract",
        "zh": "修理或更换未能解决：可减价或解除合同",
    },
    "wrong_claim_kind": {
        "en": "this policy does not handle {kind} claims",
        "zh": "本政策不处理{kind}申请",
    },
}
"""The templates of reasons that several rule kinds give, by code and language."""

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


Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$")]
"""A language code: ``en``, ``zh``, ``ja``, ``pt-BR``."""
WindowName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class NamedRule(Record):
    """The base of rule kinds: what a policy set asks of every rule.

    Each kind declares (so that its fields keep their order) a ``kind`` literal, the
    claim kinds it ``handles``, and its window's ``name``, ``name_zh`` and ``names``,
    which must agree on the Chinese name. ``names`` names the window in further
    languages (``{"ja": "8日間返品"}``), so that reasons read naturally in them;
    ``names["zh"]`` is the same as ``name_zh``.
    """

    if TYPE_CHECKING:  # declared by each kind, where its fields come in order
        kind: str
        name: str
        name_zh: str | None
        names: dict[str, str]
        handles: frozenset[ClaimKind]

    def evaluate(self, context: Context) -> Decision:
        """Decide the claim of ``context.facts``: pure, no storage, no clock."""
        raise NotImplementedError

    @model_validator(mode="after")
    def _chinese_name_agrees(self) -> Self:
        chinese = self.names.get("zh")
        if chinese is not None:
            if self.name_zh is None:
                object.__setattr__(self, "name_zh", chinese)
            elif self.name_zh != chinese:
                raise ValueError("names['zh'] and name_zh name the window differently")
        return self


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


def _window_passed(context: Context, rule: NamedRule, window: Window) -> Decision:
    """The refusal of a claim made after the window's last day."""
    name = rule.name
    return decision(
        context,
        Outcome.REFUSED,
        [
            reason(
                "window_passed",
                False,
                window=name,
                window_zh=rule.name_zh,
                window_names=rule.names,
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
