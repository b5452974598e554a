"""Decisions that explain themselves: outcome, remedies, reasons, windows and money."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import ConfigDict, Field, computed_field

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models._base import Record, trusted
from aftersales.models.order import Money
from aftersales.policies.dates import (
    NO_CLOSED_DAYS,
    ClosedDays,
    HolidayCalendar,
    add_working_days,
    working_calendar,
)

_WEEKDAYS = HolidayCalendar()

__all__ = [
    "LANGUAGES",
    "MESSAGES",
    "Deadline",
    "Decision",
    "DecisionWindow",
    "Outcome",
    "Party",
    "Reason",
    "RefundBreakdown",
    "RefundDeadline",
    "Remedy",
    "reason",
]


class Outcome(str, Enum):
    """The answer to the claim."""

    ALLOWED = "allowed"
    REFUSED = "refused"
    NEEDS_INSPECTION = "needs_inspection"


class Remedy(str, Enum):
    """What the customer may get."""

    REFUND = "refund"
    EXCHANGE = "exchange"
    REPAIR = "repair"
    REPLACEMENT = "replacement"
    PRICE_REDUCTION = "price_reduction"
    STORE_CREDIT = "store_credit"
    VOUCHER = "voucher"


class Party(str, Enum):
    """Who bears a cost or a burden."""

    SELLER = "seller"
    CONSUMER = "consumer"


MESSAGES: dict[str, tuple[str, str]] = {
    "within_window": (
        "within the {window} window, which ends on {last_day}",
        "在{window}期限内，截止日期为 {last_day}",
    ),
    "window_passed": (
        "the {window} window ended on {last_day}",
        "{window}期限已于 {last_day} 届满",
    ),
    "excluded_category": (
        "{flag} goods are excluded from {window}",
        "{flag}类商品不适用{window}",
    ),
    "excluded_with_confirmation": (
        "{flag} goods are excluded: the buyer confirmed this at checkout",
        "{flag}类商品不适用：消费者下单时已确认",
    ),
    "exclusion_not_confirmed": (
        "{flag} goods may be returned: the buyer did not confirm the exclusion at checkout",
        "{flag}类商品可以退货：消费者下单时未确认不适用",
    ),
    "condition_not_intact": (
        "goods returned {condition} are not in intact condition",
        "商品{condition}，不符合完好标准",
    ),
    "inspection_needed": (
        "goods returned {condition} must be inspected before the refund",
        "商品{condition}，需检验后退款",
    ),
    "not_delivered": (
        "the goods have not been delivered, so the window has not started",
        "商品尚未签收，期限尚未开始",
    ),
    "tier": (
        "{days}-day tier from {start}: {remedies}",
        "自{start}起 {days} 日内：{remedies}",
    ),
    "in_warranty": (
        "inside the warranty, which ends on {last_day} ({extended} repair days added)",
        "在三包有效期内，截止 {last_day}（已顺延维修天数 {extended} 天）",
    ),
    "warranty_expired": (
        "the warranty ended on {last_day}",
        "三包有效期已于 {last_day} 届满",
    ),
    "failed_repairs": (
        "{count} failed repairs inside the warranty: replacement or return",
        "三包期内修理 {count} 次仍不能正常使用：可换货或退货",
    ),
    "parts_wait": (
        "waited {days} days for parts (limit {limit}): free replacement",
        "因缺少零配件超过 {limit} 日未修复（{days} 日）：免费更换",
    ),
    "repairer_delay": (
        "repair delayed {days} days by the repairer (limit {limit}): free replacement",
        "因维修者原因超过 {limit} 日未修复（{days} 日）：免费更换",
    ),
    "excluded_fault": (
        "not covered: {cause}",
        "不属于三包范围：{cause}",
    ),
    "burden_on_seller": (
        "the defect appeared within {months} months of delivery: "
        "the seller must prove it was not there",
        "收货后 {months} 个月内出现的瑕疵由经营者承担举证责任",
    ),
    "burden_on_consumer": (
        "the defect appeared more than {months} months after delivery: the consumer must show it",
        "收货超过 {months} 个月出现的瑕疵由消费者举证",
    ),
    "repair_first": (
        "repair or replacement first, free of charge",
        "先修理或更换，免费",
    ),
    "after_failed_remedy": (
        "a repair or replacement has failed: price reduction or ending the contract",
        "修理或更换未能解决：可减价或解除合同",
    ),
    "paused_for_repair": (
        "the period stopped for {days} days while waiting for a repair or replacement",
        "等待修理或更换期间暂停 {days} 天",
    ),
    "deduction_for_use": (
        "more than 6 months after delivery: a deduction for use may apply",
        "交付超过 6 个月：可扣除使用折旧",
    ),
    "policy_posted": (
        "the retailer posts its own return policy, which governs this return",
        "商家已公示退货政策，按该政策处理",
    ),
    "statutory_return": (
        "no posted policy: full refund or exchange until {last_day}",
        "商家未公示退货政策：{last_day} 前可全额退款或换货",
    ),
    "not_informed_extension": (
        "the buyer was not informed of the right of withdrawal in time: "
        "the period is extended to {last_day}",
        "未及时告知撤回权：期限延长至 {last_day}",
    ),
    "refund_withheld_until_goods_back": (
        "the seller may withhold the refund until it has the goods back "
        "or proof that they were sent, whichever comes first",
        "经营者可在收到退回商品或消费者提供已寄回凭证前（以先到者为准）暂缓退款",
    ),
    "reply_due": (
        "the seller must answer the request within {days} working days, by {due_by}",
        "销售者应在 {days} 个工作日内（{due_by} 前）答复",
    ),
    "depreciation": (
        "a refund is less depreciation of {percent}% a year for {days} days of use "
        "(none when no unit of the same model is available)",
        "退货按每年 {percent}% 收取 {days} 天的折旧费（无同型号同规格产品时不收取）",
    ),
    "no_same_model": (
        "no unit of the same model is available: a refund without depreciation",
        "无同型号同规格产品：退货不收取折旧费",
    ),
    "mileage_exceeded": (
        "{km} km exceeds the {limit} km limit of the {window}",
        "行驶里程 {km} 公里超过{window}的 {limit} 公里限制",
    ),
    "vehicle_trigger": (
        "{rule}: {remedies}",
        "{rule}：{remedies}",
    ),
    "usage_compensation": (
        "usage compensation: price x {km} km / 1000 x {rate}",
        "使用补偿费：车价 x {km} 公里 / 1000 x {rate}",
    ),
    "wrong_claim_kind": (
        "this policy does not handle {kind} claims",
        "本政策不处理{kind}申请",
    ),
    "no_proof_of_purchase": (
        "no valid proof of purchase",
        "无有效发票或三包凭证",
    ),
    "restocking_fee": (
        "restocking fee of {percent}% on opened goods",
        "已拆封商品收取 {percent}% 的重新上架费",
    ),
}
"""Reason code → (English, Chinese) message templates."""

LANGUAGES: tuple[str, ...] = ("en", "zh")
"""The languages :meth:`Decision.explain` speaks, in the order of :data:`MESSAGES`."""


class Reason(Record):
    """One reason behind a decision: a stable ``code``, its ``params`` and messages.

    ``permits`` is True for reasons that allow something and False for refusals. The
    messages come from :data:`MESSAGES`; they are formatted when read or serialised.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    code: str
    permits: bool
    params: dict[str, Any] = Field(default_factory=dict)
    window_zh: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def message(self) -> str:
        """The reason in English."""
        return MESSAGES[self.code][0].format(**self.params)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def message_zh(self) -> str:
        """The reason in Chinese."""
        params = (
            self.params if self.window_zh is None else {**self.params, "window": self.window_zh}
        )
        return MESSAGES[self.code][1].format(**params)


def reason(code: str, permits: bool, window_zh: str | None = None, **params: Any) -> Reason:
    """Build a reason from the message catalogue (``window_zh`` names the window in Chinese)."""
    return trusted(
        Reason, {"code": code, "permits": permits, "params": params, "window_zh": window_zh}
    )


class DecisionWindow(Record):
    """The window that decided: its name, first counted day and last day (inclusive)."""

    name: str
    first_day: date
    last_day: date


class RefundBreakdown(Record):
    """How the refund is computed, in one ``currency``: ``net = gross - restocking_fee -
    deductions - gifts_and_coupons + shipping``."""

    currency: str
    gross: Decimal
    restocking_fee: Decimal
    deductions: Decimal
    gifts_and_coupons: Decimal
    shipping: Decimal
    net: Decimal
    per_method: dict[str, Decimal] = Field(default_factory=dict)
    """The net split over the order's payment methods in proportion to what each paid
    (China's art. 14 for mixed payments); empty when the order lists no payments."""

    @property
    def net_money(self) -> Money:
        """The net refund as :class:`~aftersales.Money`."""
        return money(self.net, self.currency)


class Deadline(Record):
    """A deadline of ``days`` counted from the ``counted_from`` event, due on ``due_by``
    when that event's date is known.

    ``working_days`` counts Monday to Friday, less the public holidays of
    ``holiday_country`` (with its make-up working days) when it is set. When the event is
    later than the decision, count from its day with :meth:`due_from`, which uses the
    same calendar.
    """

    days: int
    counted_from: str
    due_by: date | None = None
    working_days: bool = False
    holiday_country: str | None = None

    def calendar(self) -> ClosedDays:
        """The days this deadline does not count (none when it counts calendar days)."""
        if not self.working_days:
            return NO_CLOSED_DAYS
        if self.holiday_country:
            return working_calendar(self.holiday_country)
        return _WEEKDAYS

    def due_from(self, start: date) -> date:
        """The day the deadline falls when ``counted_from`` happened on ``start``.

        >>> from datetime import date
        >>> deadline = RefundDeadline(days=20, counted_from="claim", working_days=True,
        ...                           holiday_country="CN")
        >>> deadline.due_from(date(2024, 9, 20))
        datetime.date(2024, 10, 23)
        """
        return add_working_days(start, self.days, self.calendar())


class RefundDeadline(Deadline):
    """When the refund is due (see :class:`Deadline`); ``sanctionable_after_days`` where a
    regulator may fine.

    ``counted_from`` is ``claim`` (the claim or notice), ``goods_received`` (the seller
    receiving the goods back) or ``refund_agreed`` (the trader agreeing to refund: UK
    Consumer Rights Act s20(15); ``due_by`` is None until ``claim.refund_agreed_at`` is
    known). ``withheld_until_goods_back``: the seller may withhold the refund until it has
    the goods back or proof that they were sent (EU Directive 2011/83/EU art. 13(3));
    ``due_by`` is then the later of the deadline and ``claim.goods_returned_at`` when that
    is known.
    """

    sanctionable_after_days: int | None = None
    withheld_until_goods_back: bool = False

    def sanctionable_from(self, start: date) -> date | None:
        """The last day before a regulator may sanction (``sanctionable_after_days``
        counted from ``start`` as :meth:`due_from` counts), or None."""
        if self.sanctionable_after_days is None:
            return None
        return add_working_days(start, self.sanctionable_after_days, self.calendar())


class Decision(Record):
    """The answer to one claim, with everything needed to act on it and explain it."""

    outcome: Outcome
    remedies: tuple[Remedy, ...] = ()
    reasons: tuple[Reason, ...] = ()
    window: DecisionWindow | None = None
    burden_of_proof: Party | None = None
    return_shipping_paid_by: Party | None = None
    refund: RefundBreakdown | None = None
    refund_deadline: RefundDeadline | None = None
    reply_deadline: Deadline | None = None
    refund_method: str | None = None
    compensation: Money | None = None
    policy: str

    @property
    def allowed(self) -> bool:
        """True when the claim is allowed (possibly after inspection)."""
        return self.outcome is not Outcome.REFUSED

    @property
    def codes(self) -> tuple[str, ...]:
        """The reason codes, in order."""
        return tuple(r.code for r in self.reasons)

    def explain(self, language: str = "en") -> str:
        """The reasons as one sentence per line, in English (``en``) or Chinese (``zh``).

        Any other language raises InvalidInput naming the known ones (:data:`LANGUAGES`):
        a decision never falls back to another language silently."""
        if language == "zh":
            return "\n".join(r.message_zh for r in self.reasons)
        if language == "en":
            return "\n".join(r.message for r in self.reasons)
        raise InvalidInput(
            "explain",
            [
                FieldError(
                    ("language",),
                    f"unknown language {language!r}; known: {', '.join(LANGUAGES)}",
                )
            ],
        )


def money(amount: Decimal, currency: str) -> Money:
    """A Money built without validation, for amounts computed from validated ones."""
    return trusted(Money, {"amount": amount, "currency": currency})
