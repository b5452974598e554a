"""Legal presets and a typical retailer policy, each citing its source.

Verification tags follow ../shared/policy-presets.md: [V] read in the legal text, [S] from
secondary sources, [M] from memory of the text, still to be checked. Every contested
choice is a keyword argument with the documented default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.policies.book import PolicyBook, PolicySet, PolicyVersion
from aftersales.policies.dates import StartEvent
from aftersales.policies.decision import Decision, Party, Remedy
from aftersales.policies.facts import ClaimKind, Condition, Facts, ProductFlag, as_facts
from aftersales.policies.rules import (
    Duration,
    HouseholdCarRule,
    LegalGuaranteeRule,
    QualityTiersRule,
    RefundTerms,
    ReturnWindowRule,
    RollForward,
    ShortTermRejectRule,
    StatutoryReturnRule,
    Tier,
)

__all__ = [
    "JURISDICTIONS",
    "SANBAO_CATALOGUE",
    "cn_household_car",
    "cn_online_no_reason_return",
    "cn_quality_return",
    "cn_sanbao_general",
    "decide",
    "eu_legal_guarantee",
    "eu_withdrawal",
    "retailer_example",
    "uk_consumer_rights",
    "us_ca_1723",
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


def eu_withdrawal(
    *, time_zone: str = "Europe/Brussels", holiday_country: str | None = None
) -> PolicySet:
    """EU right of withdrawal (Directive 2011/83/EU) [M; numbers confirmed by S].

    14 days from physical possession of the last good of an order delivered in parts
    (art. 9); without withdrawal information the period ends 12 months later, or 14 days
    after the information arrives (art. 10). Exceptions (art. 16): made to specification,
    quick to deteriorate, unsealed hygiene goods, inseparably mixed goods, unsealed media,
    periodicals. Refund of all payments including standard delivery within 14 days of the
    notice, by the same means (art. 13), which the seller may withhold until it has the
    goods back or proof that they were sent (art. 13(3); ``claim.goods_returned_at``); the
    consumer bears the direct return cost (art. 14). Counting per Regulation 1182/71 [M]:
    the event day is not counted and a last day on a weekend (or a public holiday of
    ``holiday_country``) moves to the next working day.
    """
    return PolicySet(
        name="eu-withdrawal",
        version="2014",
        jurisdiction="eu",
        time_zone=time_zone,
        source="Directive 2011/83/EU arts. 9-16; Regulation 1182/71 [M; S]",
        rules=(
            ReturnWindowRule(
                name="14-day withdrawal",
                name_zh="14 日撤回期",
                period=Duration(days=14),
                start=StartEvent.LAST_ITEM,
                roll_forward=RollForward(weekends=True, country=holiday_country),
                absolute_exclusions=frozenset(
                    {
                        ProductFlag.MADE_TO_ORDER,
                        ProductFlag.PERISHABLE,
                        ProductFlag.INSEPARABLY_MIXED,
                        ProductFlag.PERIODICAL,
                    }
                ),
                not_intact=frozenset(),
                inspect=frozenset({Condition.SEAL_BROKEN, Condition.DAMAGED}),
                uninformed_extension_months=12,
                return_shipping_paid_by=Party.CONSUMER,
                refund=RefundTerms(
                    days=14,
                    counted_from="claim",
                    refund_shipping=True,
                    method="original_payment",
                    deduct_gifts_and_coupons=False,
                    withhold_until_goods_back=True,
                ),
            ),
        ),
    )


def eu_legal_guarantee(
    *, presumption_months: int = 12, time_zone: str = "Europe/Brussels"
) -> PolicyBook:
    """EU legal guarantee [M; 2 years S].

    Contracts from 2022-01-01 (Directive 2019/771): 2 years from delivery, a presumption
    that a defect existed at delivery for ``presumption_months`` (12; member states may
    choose 24), repair or replacement first, then price reduction or termination. Earlier
    contracts (Directive 1999/44/EC): 2 years with a 6-month presumption. The version in
    force on the contract date decides.
    """

    def version(name: str, months: int) -> PolicySet:
        return PolicySet(
            name="eu-legal-guarantee",
            version=name,
            jurisdiction="eu",
            time_zone=time_zone,
            source=f"Directive {name} [M; S]",
            rules=(LegalGuaranteeRule(presumption_months=months, refund=RefundTerms(days=14)),),
        )

    return PolicyBook(
        name="eu-legal-guarantee",
        versions=(
            PolicyVersion(effective_from=date(2002, 1, 1), policy=version("1999/44/EC", 6)),
            PolicyVersion(
                effective_from=date(2022, 1, 1), policy=version("2019/771", presumption_months)
            ),
        ),
    )


def uk_consumer_rights() -> PolicySet:
    """UK Consumer Rights Act 2015.

    Short-term right to reject: 30 days beginning with the first day after ownership,
    delivery and any installation (s22) [V]; the period stops while the consumer waits for
    a repair or replacement, then the consumer has the remainder or 7 days, whichever is
    longer (s22(6)-(8)); the wait begins with the day the repair is requested
    (``RepairRecord.requested_at``, else the hand-in day) [V]. Final right to reject or
    price reduction after one failed repair or replacement (s24(5)) [V]; defects within 6
    months of delivery are presumed present at delivery [M]; a deduction for use may apply
    after 6 months, and for motor vehicles [M]. Refund within 14 days of the trader
    agreeing (s20(15); ``claim.refund_agreed_at``) [S].
    """
    return PolicySet(
        name="uk-consumer-rights",
        version="2015",
        jurisdiction="uk",
        time_zone="Europe/London",
        source="Consumer Rights Act 2015 ss20, 22, 24 [V; M; S]",
        rules=(ShortTermRejectRule(refund=RefundTerms(days=14, counted_from="refund_agreed")),),
    )


def us_ca_1723() -> PolicySet:
    """California Civil Code §1723 [S]: a retailer whose return policy is less than a full
    refund or exchange within 7 days and is not posted must refund or exchange goods
    returned on or before the 30th day after purchase. Exempt: food, plants and
    perishables; goods marked "as is", "no returns" or "all sales final"; used or damaged
    goods; custom goods; goods not in the original package; goods not resellable for
    health reasons."""
    return PolicySet(
        name="us-ca-1723",
        version="1723",
        jurisdiction="us-ca",
        time_zone="America/Los_Angeles",
        source="California Civil Code §1723 [S]",
        rules=(StatutoryReturnRule(refund=RefundTerms(days=14)),),
    )


def retailer_example(
    *, days: int = 30, restocking_fee_percent: Decimal = Decimal(15), time_zone: str = "UTC"
) -> PolicyBook:
    """A typical retailer's own policy, as an example of a shop's: returns within ``days``
    of delivery, a ``restocking_fee_percent`` fee on opened items, refund in 14 days to the
    original payment. Versioned like a real one: before 2025 there was no restocking fee
    (Apple once charged 10% on opened items, then dropped it: a real case for versions)."""

    def version(name: str, fee: Decimal) -> PolicySet:
        return PolicySet(
            name="retailer-returns",
            version=name,
            time_zone=time_zone,
            source="example retailer policy",
            rules=(
                ReturnWindowRule(
                    name=f"{days}-day return",
                    period=Duration(days=days),
                    start=StartEvent.DELIVERY,
                    count_start_day=True,
                    handles=frozenset({ClaimKind.NO_REASON_RETURN, ClaimKind.EXCHANGE}),
                    absolute_exclusions=frozenset(
                        {ProductFlag.FINAL_SALE, ProductFlag.DIGITAL_DOWNLOAD}
                    ),
                    not_intact=frozenset({Condition.DAMAGED}),
                    remedies=(Remedy.REFUND, Remedy.EXCHANGE, Remedy.STORE_CREDIT),
                    return_shipping_paid_by=Party.SELLER,
                    refund=RefundTerms(
                        days=14,
                        restocking_fee_percent=fee,
                        restocking_fee_on=frozenset({Condition.OPENED, Condition.ACTIVATED}),
                    ),
                ),
            ),
        )

    return PolicyBook(
        name="retailer-returns",
        versions=(
            PolicyVersion(effective_from=date(2020, 1, 1), policy=version("2020", Decimal(0))),
            PolicyVersion(
                effective_from=date(2025, 1, 1), policy=version("2025", restocking_fee_percent)
            ),
        ),
    )


def _cn(facts: Facts) -> Decision:
    if facts.vehicle is not None:
        return cn_household_car().evaluate(facts)
    if facts.claim.kind is ClaimKind.NO_REASON_RETURN:
        return _CN_RETURN.evaluate(facts)
    if facts.product.category in SANBAO_CATALOGUE:
        return _CN_SANBAO.evaluate(facts)
    return _CN_QUALITY.evaluate(facts)


def _eu(facts: Facts) -> Decision:
    if facts.claim.kind is ClaimKind.NO_REASON_RETURN:
        return _EU_WITHDRAWAL.evaluate(facts)
    return _EU_GUARANTEE.evaluate(facts)


_CN_RETURN = cn_online_no_reason_return()
_CN_SANBAO = cn_sanbao_general()
_CN_QUALITY = cn_quality_return()
_EU_WITHDRAWAL = eu_withdrawal()
_EU_GUARANTEE = eu_legal_guarantee()

JURISDICTIONS: dict[str, Callable[[Facts], Decision]] = {
    "cn": _cn,
    "eu": _eu,
    "uk": uk_consumer_rights().evaluate,
    "us-ca": us_ca_1723().evaluate,
}
"""The statutory default for each jurisdiction, chosen by ``facts.jurisdiction``."""


def decide(facts: Facts | Mapping[str, Any]) -> Decision:
    """Decide ``facts`` under the statutory presets of ``facts.jurisdiction``.

    ``facts`` is :class:`~aftersales.policies.Facts` or plain data (a mapping, e.g. parsed
    JSON) validated into it; anything else, or invalid facts, raise InvalidInput.

    China: vehicles by the car rules, no-reason returns by the 7-day rule, catalogue
    categories by 三包, others by consumer law art. 24. EU: withdrawal, else the legal
    guarantee. UK: the Consumer Rights Act. California: §1723.
    """
    if type(facts) is not Facts:
        facts = as_facts(facts)
    try:
        rule = JURISDICTIONS[facts.jurisdiction]
    except KeyError:
        raise InvalidInput(
            "facts",
            [
                FieldError(
                    ("jurisdiction",),
                    f"unknown jurisdiction {facts.jurisdiction!r}; "
                    f"known: {', '.join(sorted(JURISDICTIONS))}",
                )
            ],
        ) from None
    return rule(facts)
