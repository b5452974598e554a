"""The EU legal guarantee (Directive 2019/771)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from aftersales.policies.dates import (
    StartEvent,
    count_window,
)
from aftersales.policies.decision import (
    Decision,
    Outcome,
    Party,
    Remedy,
    reason,
)
from aftersales.policies.facts import ClaimKind, ProductFlag, RepairOutcome
from aftersales.policies.rules._common import (
    Context,
    Duration,
    Language,
    NamedRule,
    RefundTerms,
    WindowName,
    _period,
    _require_start,
    _window,
    _window_passed,
    decision,
    refund_breakdown,
    refund_fields,
)

MESSAGES: dict[str, dict[str, str]] = {}
"""This rule gives only the shared reasons (see ``_common.MESSAGES``)."""


class LegalGuaranteeRule(NamedRule):
    """The EU legal guarantee (Directive 2019/771): liability for non-conformity that
    appears within ``period`` of delivery, a presumption for ``presumption_months``,
    repair or replacement first, then price reduction or termination."""

    kind: Literal["legal_guarantee"] = "legal_guarantee"
    name: str = "legal guarantee"
    name_zh: str | None = None
    names: dict[Language, WindowName] = Field(default_factory=dict)
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
            return _window_passed(context, self, window)
        reasons = [
            reason(
                "within_window",
                True,
                window=self.name,
                window_zh=self.name_zh,
                window_names=self.names,
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


RULE = LegalGuaranteeRule
"""The rule kind this module declares."""
