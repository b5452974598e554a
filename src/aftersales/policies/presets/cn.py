"""China: the 7-day online no-reason return, consumer law art. 24, 三包 for general goods
and for household cars.

Verification tags follow ../shared/policy-presets.md: [V] read in the legal text, [S] from
secondary sources, [M] from memory of the text, still to be checked.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from aftersales.policies.book import PolicyBook, PolicySet, PolicyVersion
from aftersales.policies.dates import StartEvent
from aftersales.policies.decision import Decision, Party, Remedy
from aftersales.policies.facts import ClaimKind, Condition, Facts, ProductFlag
from aftersales.policies.presets._base import Jurisdiction
from aftersales.policies.rules import (
    Duration,
    HouseholdCarRule,
    QualityTiersRule,
    RefundTerms,
    ReturnWindowRule,
    RollForward,
    Tier,
)

__all__ = [
    "JURISDICTION",
    "SANBAO_CATALOGUE",
    "SHANGHAI",
    "cn_household_car",
    "cn_online_no_reason_return",
    "cn_quality_return",
    "cn_sanbao_general",
]

SHANGHAI = "Asia/Shanghai"


def cn_online_no_reason_return(*, roll_forward_holidays: bool = False) -> PolicySet:
    """China, online 7-day no-reason return (网络购买商品七日无理由退货暂行办法, 2017,
    amended 2020) [V].

    Notice within 7 days, day 1 the day after sign-off (art. 10). Absolute exclusions
    (art. 6): made to order, fresh and perishable, digital goods downloaded or unsealed,
    newspapers and periodicals. Conditional exclusions (art. 7) hold only when the buyer
    confirmed them at checkout (art. 20). Goods must be intact (arts. 8-9): damaged goods,
    removed labels or broken one-time seals are not. Refund within 7 days of the seller
    receiving the goods (art. 13), sanctionable after 15 (art. 31), by the original payment
    method, split for mixed payments (art. 14); the consumer pays return freight (art. 18).
    Gifts come back or are paid for (art. 12). ``roll_forward_holidays`` (contested, off by
    default) moves a last day on a public holiday to the next working day.
    """
    return PolicySet(
        name="cn-online-7-day-return",
        version="2020",
        jurisdiction="cn",
        time_zone=SHANGHAI,
        source="网络购买商品七日无理由退货暂行办法 (2017, amended 2020) arts. 6-14, 18, 20, 31 [V]",
        rules=(
            ReturnWindowRule(
                name="7-day no-reason return",
                name_zh="七日无理由退货",
                period=Duration(days=7),
                start=StartEvent.SIGN_OFF,
                roll_forward=RollForward(
                    weekends=roll_forward_holidays, country="CN" if roll_forward_holidays else None
                ),
                absolute_exclusions=frozenset(
                    {
                        ProductFlag.MADE_TO_ORDER,
                        ProductFlag.PERISHABLE,
                        ProductFlag.DIGITAL_DOWNLOAD,
                        ProductFlag.PERIODICAL,
                    }
                ),
                conditional_exclusions=frozenset(
                    {
                        ProductFlag.UNSEALING_AFFECTS_SAFETY,
                        ProductFlag.ACTIVATION_LOSES_VALUE,
                        ProductFlag.NEAR_EXPIRY_MARKED,
                        ProductFlag.DEFECT_MARKED,
                    }
                ),
                not_intact=frozenset(
                    {Condition.DAMAGED, Condition.LABELS_REMOVED, Condition.SEAL_BROKEN}
                ),
                inspect=frozenset({Condition.ACTIVATED}),
                return_shipping_paid_by=Party.CONSUMER,
                refund=RefundTerms(
                    days=7,
                    counted_from="goods_received",
                    sanctionable_after_days=15,
                    method="original_payment_split_per_method",
                ),
            ),
        ),
    )


def cn_quality_return(*, seller_burden_months: int = 6) -> PolicySet:
    """China, consumer law (消费者权益保护法) art. 24 [V]: a non-conforming good may be
    returned within 7 days of receipt; afterwards repair or replacement (return only when
    the statutory conditions to end the contract hold); the seller pays transport. Art. 23:
    for durable goods the seller bears the burden of proof for defects found within 6
    months of receipt (``seller_burden_months``)."""
    return PolicySet(
        name="cn-quality-return",
        version="2014",
        jurisdiction="cn",
        time_zone=SHANGHAI,
        source="消费者权益保护法 arts. 23-24 [V]",
        rules=(
            QualityTiersRule(
                name="quality return",
                name_zh="质量问题退货",
                start=StartEvent.DELIVERY,
                tiers=(Tier(days=7, remedies=(Remedy.REFUND, Remedy.EXCHANGE, Remedy.REPAIR)),),
                after_tiers=(Remedy.REPAIR, Remedy.REPLACEMENT),
                seller_burden_months=seller_burden_months,
                refund=RefundTerms(days=7, counted_from="goods_received"),
            ),
        ),
    )


SANBAO_CATALOGUE: dict[str, Duration] = {
    "television": Duration(years=1),
    "refrigerator": Duration(years=1),
    "washing_machine": Duration(years=1),
    "air_conditioner": Duration(years=1),
    "microwave_oven": Duration(years=1),
    "mobile_phone": Duration(years=1),
    "computer": Duration(years=1),
    "camera": Duration(years=1),
    "vacuum_cleaner": Duration(years=1),
}
"""三包 warranty periods per product category (whole unit) [S]; main parts often run
longer (e.g. television main parts 3 years): pass your own catalogue for those."""


def _sanbao_1995(catalogue: dict[str, Duration], depreciation: Decimal) -> PolicySet:
    return PolicySet(
        name="cn-sanbao-general",
        version="1995",
        jurisdiction="cn",
        time_zone=SHANGHAI,
        source="部分商品修理更换退货责任规定 (1995) [S; article numbers to check]",
        rules=(
            QualityTiersRule(
                name="三包",
                start=StartEvent.INVOICE,
                tiers=(
                    Tier(days=7, remedies=(Remedy.REFUND, Remedy.EXCHANGE, Remedy.REPAIR)),
                    Tier(days=15, remedies=(Remedy.EXCHANGE, Remedy.REPAIR)),
                ),
                after_tiers=(Remedy.REPAIR,),
                warranty_by_category=catalogue,
                extend_by_repair_days=True,
                replacement_restarts=True,
                max_failed_repairs=2,
                parts_wait_limit_days=90,
                repairer_delay_limit_days=30,
                depreciation_percent_per_year=depreciation,
                refund=RefundTerms(days=7, counted_from="claim"),
            ),
        ),
    )


def cn_sanbao_general(
    *,
    catalogue: dict[str, Duration] | None = None,
    depreciation_percent_per_year: Decimal = Decimal(10),
) -> PolicyBook:
    """China, 三包 for general goods (部分商品修理更换退货责任规定, 1995) [S].

    A performance failure within 7 days of sale: return, exchange or repair; within 15
    days: exchange or repair; then repair inside the warranty, which runs from the invoice
    date, per category (``catalogue``, default :data:`SANBAO_CATALOGUE`), and is extended
    by repair days. After two failed repairs: replacement, or return less depreciation
    (``depreciation_percent_per_year`` of the price per year of use, repair days excluded;
    the rate is a parameter because the 1995 rules set it per product), charged only when
    a unit of the same model is available (``ProductFacts.same_model_available``). More than 90 days
    waiting for parts, or 30 days of repairer delay: free replacement. A replacement
    restarts the warranty. Misuse, unauthorised repair and no proof of purchase are not
    covered. Purchases before 1995-08-25 fell under the 1986 rules, which this book does
    not model: it refuses them with InvalidInput naming the purchase date.
    """
    policy = _sanbao_1995(catalogue or SANBAO_CATALOGUE, depreciation_percent_per_year)
    return PolicyBook(
        name="cn-sanbao-general",
        versions=(PolicyVersion(effective_from=date(1995, 8, 25), policy=policy),),
    )


def cn_household_car(*, usage_rate_percent: Decimal = Decimal("0.5")) -> PolicyBook:
    """China, 三包 for household cars (家用汽车产品修理更换退货责任规定, SAMR Order 43,
    in force 2022-01-01) [V].

    三包 period 2 years / 50,000 km, repair warranty 3 years / 60,000 km, from the invoice
    or delivery date (art. 18). Main assembly (engine, gearbox, traction battery, drive
    motor) failing within 60 days / 3,000 km: free replacement of the assembly (art. 20);
    within 7 days: new car or refund (art. 22). Steering or brake failure, cracked body,
    fuel leak or battery fire within 60 days / 3,000 km: replacement or refund (art. 23).
    Inside the 三包 period, replacement or refund after two failed repairs of a serious
    safety fault, two replacements of a main assembly, over 30 days in repair, or the same
    problem repaired more than 4 times (art. 24). Usage compensation = price x km / 1000 x
    ``usage_rate_percent`` (at most 0.5%, art. 27). The seller answers a replacement or
    refund request within 10 working days (``Decision.reply_deadline``) and completes it
    within 20 (``Decision.refund_deadline``), both counted on China's working calendar
    (art. 28).
    """
    policy = PolicySet(
        name="cn-household-car",
        version="2022",
        jurisdiction="cn",
        time_zone=SHANGHAI,
        source="家用汽车产品修理更换退货责任规定 (SAMR Order 43) arts. 18-28 [V]",
        rules=(HouseholdCarRule(usage_rate_percent=usage_rate_percent),),
    )
    return PolicyBook(
        name="cn-household-car",
        versions=(PolicyVersion(effective_from=date(2022, 1, 1), policy=policy),),
    )


def _decide(facts: Facts) -> Decision:
    if facts.vehicle is not None:
        return _CN_CAR.evaluate(facts)
    if facts.claim.kind is ClaimKind.NO_REASON_RETURN:
        return _CN_RETURN.evaluate(facts)
    if facts.product.category in SANBAO_CATALOGUE:
        return _CN_SANBAO.evaluate(facts)
    return _CN_QUALITY.evaluate(facts)


_CN_CAR = cn_household_car()
_CN_RETURN = cn_online_no_reason_return()
_CN_SANBAO = cn_sanbao_general()
_CN_QUALITY = cn_quality_return()

JURISDICTION = Jurisdiction(
    code="cn",
    decide=_decide,
    summary="China: vehicles by the car rules, no-reason returns by the 7-day rule, "
    "catalogue categories by 三包, others by consumer law art. 24",
)
"""China's statutory default, chosen by ``facts.jurisdiction == "cn"``."""
