"""Quality claims in tiers, then a warranty (China: consumer law art. 24, 三包)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models._base import Record
from aftersales.policies.dates import (
    StartEvent,
    count_window,
)
from aftersales.policies.decision import (
    Decision,
    DecisionWindow,
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
    _require_start,
    _window,
    decision,
    refund_breakdown,
    refund_fields,
    repair_days,
)

MESSAGES: dict[str, dict[str, str]] = {
    "tier": {
        "en": "{days}-day tier from {start}: {remedies}",
        "zh": "自{start}起 {days} 日内：{remedies}",
    },
    "in_warranty": {
        "en": "inside the warranty, which ends on {last_day} ({extended} repair days added)",
        "zh": "在三包有效期内，截止 {last_day}（已顺延维修天数 {extended} 天）",
    },
    "warranty_expired": {
        "en": "the warranty ended on {last_day}",
        "zh": "三包有效期已于 {last_day} 届满",
    },
    "failed_repairs": {
        "en": "{count} failed repairs inside the warranty: replacement or return",
        "zh": "三包期内修理 {count} 次仍不能正常使用：可换货或退货",
    },
    "parts_wait": {
        "en": "waited {days} days for parts (limit {limit}): free replacement",
        "zh": "因缺少零配件超过 {limit} 日未修复（{days} 日）：免费更换",
    },
    "repairer_delay": {
        "en": "repair delayed {days} days by the repairer (limit {limit}): free replacement",
        "zh": "因维修者原因超过 {limit} 日未修复（{days} 日）：免费更换",
    },
    "excluded_fault": {
        "en": "not covered: {cause}",
        "zh": "不属于三包范围：{cause}",
    },
    "depreciation": {
        "en": "a refund is less depreciation of {percent}% a year for {days} days of use "
        "(none when no unit of the same model is available)",
        "zh": "退货按每年 {percent}% 收取 {days} 天的折旧费（无同型号同规格产品时不收取）",
    },
    "no_same_model": {
        "en": "no unit of the same model is available: a refund without depreciation",
        "zh": "无同型号同规格产品：退货不收取折旧费",
    },
    "no_proof_of_purchase": {
        "en": "no valid proof of purchase",
        "zh": "无有效发票或三包凭证",
    },
}
"""The templates of the reasons this rule gives (beside the shared ones), by code and
language."""


_REMEDY_NAMES: dict[Remedy, dict[str, str]] = {
    Remedy.REFUND: {"en": "refund", "zh": "退货"},
    Remedy.EXCHANGE: {"en": "exchange", "zh": "换货"},
    Remedy.REPAIR: {"en": "repair", "zh": "修理"},
    Remedy.REPLACEMENT: {"en": "replacement", "zh": "更换"},
    Remedy.PRICE_REDUCTION: {"en": "price reduction", "zh": "减价"},
    Remedy.STORE_CREDIT: {"en": "store credit", "zh": "店铺余额"},
    Remedy.VOUCHER: {"en": "voucher", "zh": "代金券"},
}


def _remedy_text(remedies: Iterable[Remedy]) -> str:
    """The remedies of a tier, in English: they are a parameter of the ``tier`` reason,
    stored as they are, so every language's template shows the same text."""
    return ", ".join(_REMEDY_NAMES[r]["en"] for r in remedies)


class Tier(Record):
    """Within ``days`` of the start event, these remedies are open to the customer."""

    days: Annotated[int, Field(ge=1, le=3650)]
    remedies: tuple[Remedy, ...]


class QualityTiersRule(NamedRule):
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
    names: dict[Language, WindowName] = Field(default_factory=dict)
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


RULE = QualityTiersRule
"""The rule kind this module declares."""
