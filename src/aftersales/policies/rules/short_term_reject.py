"""The UK short-term and final rights to reject (Consumer Rights Act 2015 ss22, 24)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field

from aftersales.policies.dates import (
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
from aftersales.policies.facts import ClaimKind, RepairOutcome
from aftersales.policies.rules._common import (
    Context,
    Duration,
    Language,
    NamedRule,
    RefundTerms,
    WindowName,
    _period,
    _window,
    decision,
    refund_breakdown,
    refund_fields,
)

MESSAGES: dict[str, dict[str, str]] = {
    "paused_for_repair": {
        "en": "the period stopped for {days} days while waiting for a repair or replacement",
        "zh": "等待修理或更换期间暂停 {days} 天",
    },
    "deduction_for_use": {
        "en": "more than 6 months after delivery: a deduction for use may apply",
        "zh": "交付超过 6 个月：可扣除使用折旧",
    },
}
"""The templates of the reasons this rule gives (beside the shared ones), by code and
language."""


class ShortTermRejectRule(NamedRule):
    """UK Consumer Rights Act 2015: the short-term right to reject (s22) and, after one
    failed repair or replacement, the final right to reject or a price reduction (s24)."""

    kind: Literal["short_term_reject"] = "short_term_reject"
    name: str = "short-term right to reject"
    name_zh: str | None = None
    names: dict[Language, WindowName] = Field(default_factory=dict)
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
                    window_names=self.names,
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


RULE = ShortTermRejectRule
"""The rule kind this module declares."""
