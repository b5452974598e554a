"""The return window: no-reason returns (China), withdrawal (EU), a shop's own policy."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr

from aftersales.models._base import trusted
from aftersales.policies.dates import (
    ClosedDays,
    StartEvent,
    Window,
    count_window,
)
from aftersales.policies.decision import (
    Decision,
    Outcome,
    Party,
    Reason,
    Remedy,
    reason,
)
from aftersales.policies.facts import ClaimKind, Condition, ProductFlag
from aftersales.policies.rules._common import (
    _ALLOWED,
    _NO_ROLL,
    _REFUND,
    Context,
    Duration,
    Language,
    NamedRule,
    RefundTerms,
    RollForward,
    WindowName,
    _period,
    _require_start,
    _window,
    decision,
    refund_breakdown,
    refund_deadline,
)

MESSAGES: dict[str, dict[str, str]] = {
    "excluded_with_confirmation": {
        "en": "{flag} goods are excluded: the buyer confirmed this at checkout",
        "zh": "{flag}类商品不适用：消费者下单时已确认",
    },
    "exclusion_not_confirmed": {
        "en": "{flag} goods may be returned: the buyer did not confirm the exclusion at checkout",
        "zh": "{flag}类商品可以退货：消费者下单时未确认不适用",
    },
    "inspection_needed": {
        "en": "goods returned {condition} must be inspected before the refund",
        "zh": "商品{condition}，需检验后退款",
    },
    "not_delivered": {
        "en": "the goods have not been delivered, so the window has not started",
        "zh": "商品尚未签收，期限尚未开始",
    },
    "not_informed_extension": {
        "en": "the buyer was not informed of the right of withdrawal in time: "
        "the period is extended to {last_day}",
        "zh": "未及时告知撤回权：期限延长至 {last_day}",
    },
    "refund_withheld_until_goods_back": {
        "en": "the seller may withhold the refund until it has the goods back "
        "or proof that they were sent, whichever comes first",
        "zh": "经营者可在收到退回商品或消费者提供已寄回凭证前（以先到者为准）暂缓退款",
    },
    "restocking_fee": {
        "en": "restocking fee of {percent}% on opened goods",
        "zh": "已拆封商品收取 {percent}% 的重新上架费",
    },
}
"""The templates of the reasons this rule gives (beside the shared ones), by code and
language."""


class ReturnWindowRule(NamedRule):
    """A return window: no-reason returns (China), withdrawal (EU), a shop's own policy.

    Absolute exclusions refuse whatever the buyer did; conditional ones refuse only when
    the buyer confirmed them at checkout. ``not_intact`` conditions refuse, ``inspect``
    conditions allow after inspection. Without withdrawal information the window grows by
    ``uninformed_extension_months``; information given later starts a fresh period.
    """

    kind: Literal["return_window"] = "return_window"
    name: str = "return"
    name_zh: str | None = None
    names: dict[Language, WindowName] = Field(default_factory=dict)
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
                            window_names=self.names,
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
                    "window_passed",
                    False,
                    window=self.name,
                    window_zh=self.name_zh,
                    window_names=self.names,
                    last_day=last,
                )
            )
            if extended:
                reasons.append(reason("not_informed_extension", False, last_day=last))
            return decision(context, Outcome.REFUSED, reasons, window=_window(self.name, window))
        reasons.append(
            reason(
                "within_window",
                True,
                window=self.name,
                window_zh=self.name_zh,
                window_names=self.names,
                last_day=last,
            )
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


RULE = ReturnWindowRule
"""The rule kind this module declares."""
