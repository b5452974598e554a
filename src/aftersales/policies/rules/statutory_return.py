"""A statutory return where the retailer posts no policy (California Civil Code §1723)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aftersales.policies.dates import (
    count_window,
)
from aftersales.policies.decision import (
    Decision,
    Outcome,
    Remedy,
    reason,
)
from aftersales.policies.facts import ClaimKind, Condition, ProductFlag
from aftersales.policies.rules._common import (
    Context,
    Duration,
    Language,
    NamedRule,
    RefundTerms,
    WindowName,
    _window,
    _window_passed,
    decision,
    refund_breakdown,
    refund_fields,
)

MESSAGES: dict[str, dict[str, str]] = {
    "policy_posted": {
        "en": "the retailer posts its own return policy, which governs this return",
        "zh": "商家已公示退货政策，按该政策处理",
    },
    "statutory_return": {
        "en": "no posted policy: full refund or exchange until {last_day}",
        "zh": "商家未公示退货政策：{last_day} 前可全额退款或换货",
    },
}
"""The templates of the reasons this rule gives (beside the shared ones), by code and
language."""


class StatutoryReturnRule(NamedRule):
    """California Civil Code §1723: a retailer that does not post a policy of at least a
    full refund or exchange within 7 days must take returns until the 30th day after
    purchase, except exempt goods."""

    kind: Literal["statutory_return"] = "statutory_return"
    name: str = "California §1723 return"
    name_zh: str | None = None
    names: dict[Language, WindowName] = Field(default_factory=dict)
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
                        window_names=self.names,
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
            return _window_passed(context, self, window)
        return decision(
            context,
            Outcome.ALLOWED,
            [reason("statutory_return", True, last_day=window.last_day.isoformat())],
            remedies=(Remedy.REFUND, Remedy.EXCHANGE),
            window=_window(self.name, window),
            **refund_fields(context, self.refund, refund_breakdown(context, self.refund)),
        )


RULE = StatutoryReturnRule
"""The rule kind this module declares."""
