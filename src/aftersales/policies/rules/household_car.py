"""China's household-car 三包 rules (SAMR Order 43)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from pydantic import Field

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models._base import trusted
from aftersales.policies.dates import (
    Window,
    add_working_days,
    count_window,
    working_calendar,
)
from aftersales.policies.decision import (
    Deadline,
    Decision,
    Outcome,
    Party,
    Reason,
    Remedy,
    money,
    reason,
)
from aftersales.policies.facts import ClaimKind, RepairOutcome
from aftersales.policies.rules._common import (
    _CENT,
    _WEEKDAYS,
    Context,
    Duration,
    Language,
    NamedRule,
    RefundTerms,
    WindowName,
    _window,
    decision,
    refund_breakdown,
    refund_fields,
    repair_days,
)

MESSAGES: dict[str, dict[str, str]] = {
    "mileage_exceeded": {
        "en": "{km} km exceeds the {limit} km limit of the {window}",
        "zh": "行驶里程 {km} 公里超过{window}的 {limit} 公里限制",
    },
    "vehicle_trigger": {
        "en": "{rule}: {remedies}",
        "zh": "{rule}：{remedies}",
    },
    "usage_compensation": {
        "en": "usage compensation: price x {km} km / 1000 x {rate}",
        "zh": "使用补偿费：车价 x {km} 公里 / 1000 x {rate}",
    },
    "reply_due": {
        "en": "the seller must answer the request within {days} working days, by {due_by}",
        "zh": "销售者应在 {days} 个工作日内（{due_by} 前）答复",
    },
}
"""The templates of the reasons this rule gives (beside the shared ones), by code and
language."""


MAIN_ASSEMBLIES = frozenset({"engine", "gearbox", "traction_battery", "drive_motor"})
SEVERE_FAILURES = frozenset({"steering", "brakes", "body_crack", "fuel_leak", "battery_fire"})


class HouseholdCarRule(NamedRule):
    """China's household-car 三包 rules (SAMR Order 43, in force 2022-01-01)."""

    kind: Literal["household_car"] = "household_car"
    name: str = "汽车三包"
    name_zh: str | None = None
    names: dict[Language, WindowName] = Field(default_factory=dict)
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
                    window_names=self.names,
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


RULE = HouseholdCarRule
"""The rule kind this module declares."""
