"""China: 7-day no-reason return, consumer law art. 24, 三包 general goods, household cars."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from policy_facts import make_facts

from aftersales import InvalidInput
from aftersales.policies import Outcome, Party, Remedy, decide
from aftersales.policies.presets import (
    cn_household_car,
    cn_online_no_reason_return,
    cn_quality_return,
    cn_sanbao_general,
)

SEVEN_DAY = cn_online_no_reason_return()


def test_seven_days_count_from_the_day_after_sign_off_to_midnight() -> None:
    last = SEVEN_DAY.evaluate(make_facts(delivered="2024-03-03", claim="2024-03-10T23:59"))
    assert (last.outcome, last.window and last.window.last_day) == (
        Outcome.ALLOWED,
        date(2024, 3, 10),
    )
    assert last.codes == ("within_window",)
    assert last.remedies == (Remedy.REFUND,)
    assert last.return_shipping_paid_by is Party.CONSUMER
    late = SEVEN_DAY.evaluate(make_facts(delivered="2024-03-03", claim="2024-03-11T00:00"))
    assert (late.outcome, late.codes) == (Outcome.REFUSED, ("window_passed",))
    assert "七日无理由退货期限已于 2024-03-10 届满" in late.explain("zh")


def test_the_deadline_is_midnight_in_china_whatever_the_claim_zone() -> None:
    facts = make_facts(
        delivered="2024-03-03",
        claim="2024-03-10T16:30",
        claim_fields={"at": "2024-03-10T16:30:00+00:00"},
    )  # 00:30 on the 11th in Shanghai
    assert SEVEN_DAY.evaluate(facts).outcome is Outcome.REFUSED


def test_a_window_over_a_leap_day() -> None:
    facts = make_facts(purchased="2024-02-20", delivered="2024-02-25", claim="2024-03-03")
    decision = SEVEN_DAY.evaluate(facts)
    assert decision.window is not None
    assert decision.window.last_day == date(2024, 3, 3)
    assert decision.outcome is Outcome.ALLOWED


@pytest.mark.parametrize("flag", ["made_to_order", "perishable", "digital_download", "periodical"])
def test_absolutely_excluded_goods_are_refused_whatever_was_confirmed(flag: str) -> None:
    decision = SEVEN_DAY.evaluate(make_facts(flags=(flag,)))
    assert (decision.outcome, decision.codes) == (Outcome.REFUSED, ("excluded_category",))
    assert decision.reasons[0].params == {"flag": flag, "window": "7-day no-reason return"}


def test_a_conditional_exclusion_needs_the_checkout_confirmation() -> None:
    confirmed = SEVEN_DAY.evaluate(
        make_facts(flags=("activation_loses_value",), confirmed_non_returnable_at_checkout=True)
    )
    assert (confirmed.outcome, confirmed.codes) == (
        Outcome.REFUSED,
        ("excluded_with_confirmation",),
    )
    unconfirmed = SEVEN_DAY.evaluate(make_facts(flags=("activation_loses_value",)))
    assert unconfirmed.outcome is Outcome.ALLOWED
    assert unconfirmed.codes == ("exclusion_not_confirmed", "within_window")


@pytest.mark.parametrize("condition", ["damaged", "labels_removed", "seal_broken"])
def test_goods_not_intact_are_refused(condition: str) -> None:
    decision = SEVEN_DAY.evaluate(make_facts(condition=condition))
    assert (decision.outcome, decision.codes[-1]) == (Outcome.REFUSED, "condition_not_intact")


def test_opened_to_inspect_is_still_intact_and_activated_goods_need_inspection() -> None:
    assert SEVEN_DAY.evaluate(make_facts(condition="opened")).outcome is Outcome.ALLOWED
    activated = SEVEN_DAY.evaluate(make_facts(condition="activated"))
    assert (activated.outcome, activated.codes[-1]) == (
        Outcome.NEEDS_INSPECTION,
        "inspection_needed",
    )


def test_goods_not_yet_signed_for_may_still_be_refused_by_the_buyer() -> None:
    decision = SEVEN_DAY.evaluate(make_facts(delivered=None, claim="2024-03-02"))
    assert (decision.outcome, decision.codes) == (Outcome.ALLOWED, ("not_delivered",))


def test_the_refund_returns_the_claimed_share_less_gifts_within_seven_days_of_receipt() -> None:
    facts = make_facts(
        price="100.00",
        quantity=3,
        claim_quantity=2,
        order={
            "gifts_value": {"amount": "30.00", "currency": "CNY"},
            "shipping_paid": {"amount": "10.00", "currency": "CNY"},
        },
    )
    decision = SEVEN_DAY.evaluate(facts)
    refund = decision.refund
    assert refund is not None
    assert (refund.gross, refund.gifts_and_coupons, refund.shipping) == (
        Decimal("200.00"),
        Decimal("20.00"),
        Decimal(0),
    )
    assert refund.net == Decimal("180.00")
    deadline = decision.refund_deadline
    assert deadline is not None
    assert (
        deadline.days,
        deadline.counted_from,
        deadline.sanctionable_after_days,
        deadline.due_by,
    ) == (7, "goods_received", 15, None)
    assert decision.refund_method == "original_payment_split_per_method"


def test_holiday_roll_forward_is_a_parameter_off_by_default() -> None:
    facts = make_facts(purchased="2024-09-20", delivered="2024-09-24", claim="2024-10-08")
    assert SEVEN_DAY.evaluate(facts).outcome is Outcome.REFUSED
    rolled = cn_online_no_reason_return(roll_forward_holidays=True).evaluate(facts)
    assert rolled.window is not None
    assert rolled.window.last_day == date(2024, 10, 8)
    assert rolled.outcome is Outcome.ALLOWED


QUALITY = cn_quality_return()


def test_art_24_gives_every_remedy_for_seven_days_of_receipt_then_repair_or_replacement() -> None:
    early = QUALITY.evaluate(
        make_facts(kind="quality_return", delivered="2024-03-01", claim="2024-03-08")
    )
    assert early.remedies == (Remedy.REFUND, Remedy.EXCHANGE, Remedy.REPAIR)
    assert early.window is not None
    assert early.window.last_day == date(2024, 3, 8)
    assert early.return_shipping_paid_by is Party.SELLER
    later = QUALITY.evaluate(
        make_facts(kind="quality_return", delivered="2024-03-01", claim="2024-03-09")
    )
    assert later.remedies == (Remedy.REPAIR, Remedy.REPLACEMENT)
    assert later.codes[0] == "repair_first"


def test_art_23_puts_the_burden_on_the_seller_for_six_months() -> None:
    inside = QUALITY.evaluate(
        make_facts(kind="quality_return", delivered="2024-03-01", claim="2024-09-01")
    )
    outside = QUALITY.evaluate(
        make_facts(kind="quality_return", delivered="2024-03-01", claim="2024-09-02")
    )
    assert (inside.burden_of_proof, outside.burden_of_proof) == (Party.SELLER, Party.CONSUMER)


SANBAO = cn_sanbao_general()


def _washer(claim: str, **fields: object) -> object:
    return SANBAO.evaluate(
        make_facts(
            kind="quality_return",
            category="washing_machine",
            purchased="2024-03-01",
            delivered="2024-03-01",
            price="3000.00",
            claim=claim,
            order={"invoiced_at": "2024-03-01T12:00:00+08:00"},
            **fields,
        )
    )  # type: ignore[arg-type]


def test_sanbao_tiers_seven_then_fifteen_days_from_the_invoice() -> None:
    assert _washer("2024-03-08").remedies == (Remedy.REFUND, Remedy.EXCHANGE, Remedy.REPAIR)  # type: ignore[attr-defined]
    assert _washer("2024-03-09").remedies == (Remedy.EXCHANGE, Remedy.REPAIR)  # type: ignore[attr-defined]
    assert _washer("2024-03-16").remedies == (Remedy.EXCHANGE, Remedy.REPAIR)  # type: ignore[attr-defined]
    repair = _washer("2024-03-17")
    assert repair.remedies == (Remedy.REPAIR,)  # type: ignore[attr-defined]
    assert repair.window.last_day == date(2025, 3, 1)  # type: ignore[attr-defined]
    assert repair.policy == "cn-sanbao-general@1995"  # type: ignore[attr-defined]


def test_the_warranty_is_extended_by_repair_days() -> None:
    repaired = ({"handed_in_at": "2024-06-01", "handed_back_at": "2024-06-21", "outcome": "fixed"},)
    assert _washer("2025-03-15").outcome is Outcome.REFUSED  # type: ignore[attr-defined]
    extended = _washer("2025-03-15", repairs=repaired)
    assert extended.outcome is Outcome.ALLOWED  # type: ignore[attr-defined]
    assert extended.window.last_day == date(2025, 3, 21)  # type: ignore[attr-defined]
    assert extended.reasons[0].params["extended"] == 20  # type: ignore[attr-defined]


def test_a_second_failed_repair_opens_replacement_or_return_less_depreciation() -> None:
    once = ({"handed_in_at": "2024-05-01", "handed_back_at": "2024-05-11", "outcome": "failed"},)
    assert _washer("2024-07-10", repairs=once).remedies == (Remedy.REPAIR,)  # type: ignore[attr-defined]
    twice = (
        *once,
        {"handed_in_at": "2024-06-01", "handed_back_at": "2024-06-11", "outcome": "failed"},
    )
    decision = _washer("2024-07-10", repairs=twice)
    assert decision.remedies == (Remedy.REPLACEMENT, Remedy.REFUND)  # type: ignore[attr-defined]
    assert "failed_repairs" in decision.codes  # type: ignore[attr-defined]
    used_days = (date(2024, 7, 10) - date(2024, 3, 1)).days - 20
    expected = (Decimal("3000.00") * 10 / 100 * used_days / 365).quantize(Decimal("0.01"))
    assert decision.refund.deductions == expected  # type: ignore[attr-defined]


def test_a_long_wait_for_parts_or_a_slow_repairer_means_free_replacement() -> None:
    parts = ({"handed_in_at": "2024-04-01", "outcome": "in_repair", "waiting_for_parts_days": 91},)
    assert _washer("2024-07-10", repairs=parts).remedies == (Remedy.REPLACEMENT,)  # type: ignore[attr-defined]
    slow = (
        {"handed_in_at": "2024-04-01", "handed_back_at": "2024-05-15", "repairer_fault_days": 31},
    )
    assert _washer("2024-07-10", repairs=slow).codes[-1] == "repairer_delay"  # type: ignore[attr-defined]


def test_a_replacement_restarts_the_warranty() -> None:
    replaced = (
        {"handed_in_at": "2024-08-25", "handed_back_at": "2024-09-01", "outcome": "replaced"},
    )
    decision = _washer("2025-08-01", repairs=replaced)
    assert decision.outcome is Outcome.ALLOWED  # type: ignore[attr-defined]
    assert decision.window.last_day == date(2025, 9, 1)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"misuse": True}, "excluded_fault"),
        ({"unauthorised_repair": True}, "excluded_fault"),
        ({"proof_of_purchase": False}, "no_proof_of_purchase"),
    ],
)
def test_sanbao_exclusions(fields: dict[str, bool], code: str) -> None:
    decision = _washer("2024-05-01", claim_fields=fields)
    assert (decision.outcome, decision.codes) == (Outcome.REFUSED, (code,))  # type: ignore[attr-defined]


def test_sanbao_needs_a_catalogue_category_and_a_purchase_after_1995() -> None:
    with pytest.raises(InvalidInput) as raised:
        SANBAO.evaluate(make_facts(kind="quality_return", category="kite", claim="2024-06-01"))
    assert raised.value.errors[0].location == ("product", "category")
    with pytest.raises(InvalidInput) as raised:
        SANBAO.evaluate(
            make_facts(
                kind="quality_return",
                category="television",
                purchased="1994-05-01",
                delivered="1994-05-02",
                claim="1994-06-01",
            )
        )
    assert raised.value.errors[0].location == ("order", "purchased_at")


CARS = cn_household_car()


def _car(claim: str, km: int, system: str | None = None, **fields: object) -> object:
    vehicle = {"odometer_km": km, "failed_system": system}
    vehicle.update(fields.pop("vehicle", {}))  # type: ignore[call-overload]
    return CARS.evaluate(
        make_facts(
            kind="quality_return",
            category="car",
            price="200000.00",
            purchased="2024-03-01",
            delivered="2024-03-01",
            claim=claim,
            vehicle=vehicle,
            **fields,
        )
    )  # type: ignore[arg-type]


def test_car_main_assembly_within_seven_days_means_new_car_or_refund() -> None:
    decision = _car("2024-03-06", 300, "engine")
    assert decision.remedies == (Remedy.REPLACEMENT, Remedy.REFUND)  # type: ignore[attr-defined]
    assert "art. 22" in decision.reasons[0].params["rule"]  # type: ignore[attr-defined]
    assert decision.refund_deadline.working_days  # type: ignore[attr-defined]
    assert decision.refund_deadline.due_by == date(2024, 4, 3)  # type: ignore[attr-defined]


def test_car_main_assembly_within_sixty_days_means_a_new_assembly() -> None:
    decision = _car("2024-04-10", 2000, "gearbox")
    assert decision.remedies == (Remedy.REPLACEMENT,)  # type: ignore[attr-defined]
    assert "art. 20" in decision.reasons[0].params["rule"]  # type: ignore[attr-defined]
    beyond = _car("2024-04-10", 3001, "gearbox")
    assert beyond.remedies == (Remedy.REPAIR,)  # type: ignore[attr-defined]


def test_car_severe_failure_within_sixty_days_means_replacement_or_refund() -> None:
    decision = _car("2024-04-20", 2500, "brakes")
    assert "art. 23" in decision.reasons[0].params["rule"]  # type: ignore[attr-defined]


def test_car_safety_fault_after_two_repairs_with_usage_compensation() -> None:
    repairs = tuple(
        {"handed_in_at": day, "handed_back_at": day, "outcome": "failed", "part": "airbag"}
        for day in ("2024-06-01", "2024-08-01")
    )
    decision = _car(
        "2025-03-01", 20_000, "airbag", repairs=repairs, vehicle={"serious_safety_fault": True}
    )
    assert decision.remedies == (Remedy.REPLACEMENT, Remedy.REFUND)  # type: ignore[attr-defined]
    assert decision.compensation.amount == Decimal("20000.00")  # type: ignore[attr-defined]
    assert decision.refund.net == Decimal("180000.00")  # type: ignore[attr-defined]


def test_car_repairs_over_thirty_days_or_five_of_one_problem() -> None:
    long_repair = ({"handed_in_at": "2024-05-01", "handed_back_at": "2024-06-05"},)
    assert "30 days" in _car("2024-07-01", 9000, repairs=long_repair).reasons[0].params["rule"]  # type: ignore[attr-defined]
    same = tuple(
        {"handed_in_at": f"2024-0{m}-01", "handed_back_at": f"2024-0{m}-01", "part": "window"}
        for m in range(4, 9)
    )
    assert "4 times" in _car("2024-09-01", 9000, repairs=same).reasons[0].params["rule"]  # type: ignore[attr-defined]


def test_car_periods_by_time_and_mileage() -> None:
    assert _car("2025-02-01", 20_000).remedies == (Remedy.REPAIR,)  # type: ignore[attr-defined]
    warranty = _car("2026-09-01", 55_000)
    assert warranty.window.name == "repair warranty"  # type: ignore[attr-defined]
    assert _car("2027-03-02", 40_000).outcome is Outcome.REFUSED  # type: ignore[attr-defined]
    assert _car("2025-03-01", 70_000).codes == ("mileage_exceeded",)  # type: ignore[attr-defined]


def test_car_rules_need_the_vehicle_facts() -> None:
    with pytest.raises(InvalidInput) as raised:
        CARS.evaluate(make_facts(kind="quality_return", category="car", claim="2024-03-05"))
    assert raised.value.errors[0].location == ("vehicle",)


def test_decide_routes_chinese_claims_to_the_right_preset() -> None:
    assert decide(make_facts()).policy == "cn-online-7-day-return@2020"
    assert (
        decide(make_facts(kind="quality_return", category="television", claim="2024-05-01")).policy
        == "cn-sanbao-general@1995"
    )
    assert (
        decide(make_facts(kind="quality_return", category="apparel")).policy
        == "cn-quality-return@2014"
    )
    assert (
        decide(
            make_facts(kind="quality_return", category="car", vehicle={"odometer_km": 10})
        ).policy
        == "cn-household-car@2022"
    )


def test_a_mixed_payment_is_refunded_per_method_in_proportion() -> None:
    facts = make_facts(
        price="100.00",
        order={
            "payments": [
                {"method": "alipay", "amount": {"amount": "70.00", "currency": "CNY"}},
                {"method": "gift_card", "amount": {"amount": "30.00", "currency": "CNY"}},
            ]
        },
    )
    refund = SEVEN_DAY.evaluate(facts).refund
    assert refund is not None
    assert refund.per_method == {"alipay": Decimal("70.00"), "gift_card": Decimal("30.00")}
    thirds = make_facts(
        price="100.00",
        order={
            "payments": [
                {
                    "method": m,
                    "amount": {"amount": "33.34" if m == "card" else "33.33", "currency": "CNY"},
                }
                for m in ("card", "wallet", "points")
            ]
        },
    )
    split = SEVEN_DAY.evaluate(thirds).refund
    assert split is not None
    assert sum(split.per_method.values()) == split.net == Decimal("100.00")
    assert split.per_method["card"] == Decimal("33.34")


def test_warranties_may_differ_per_part_and_cover_some_faults_only() -> None:
    from aftersales.policies import Duration, PolicySet, QualityTiersRule

    tv = PolicySet(
        name="tv-sanbao",
        time_zone="Asia/Shanghai",
        rules=(
            QualityTiersRule(
                warranty=Duration(years=1),
                warranty_by_part={"panel": Duration(years=3)},
                excluded_faults=frozenset({"burn_in"}),
            ),
        ),
    )

    def claim(part: str | None, fault: str | None = None) -> object:
        return tv.evaluate(
            make_facts(
                kind="warranty_repair",
                category="television",
                purchased="2024-03-01",
                delivered="2024-03-01",
                claim="2025-09-01",
                claim_fields={"part": part, "fault": fault},
            )
        )

    assert claim(None).outcome is Outcome.REFUSED  # type: ignore[attr-defined]
    panel = claim("panel")
    assert panel.outcome is Outcome.ALLOWED  # type: ignore[attr-defined]
    assert panel.window.last_day == date(2027, 3, 1)  # type: ignore[attr-defined]
    assert claim("panel", "burn_in").codes == ("excluded_fault",)  # type: ignore[attr-defined]
    covered_only = PolicySet(
        name="covered",
        rules=(
            QualityTiersRule(warranty=Duration(years=1), covered_faults=frozenset({"no_power"})),
        ),
    )
    refused = covered_only.evaluate(
        make_facts(kind="warranty_repair", claim="2024-05-01", claim_fields={"fault": "scratch"})
    )
    assert refused.codes == ("excluded_fault",)


def test_car_refund_working_days_skip_chinese_holidays_and_count_make_up_days() -> None:
    decision = _car("2024-03-06", 300, "engine")
    assert decision.refund_deadline.due_by == date(2024, 4, 3)  # type: ignore[attr-defined]
    national_day = CARS.evaluate(
        make_facts(
            kind="quality_return",
            category="car",
            price="200000.00",
            purchased="2024-09-20",
            delivered="2024-09-20",
            claim="2024-09-25",
            vehicle={"odometer_km": 100, "failed_system": "engine"},
        )
    )
    # 20 working days from 25 September: 29 September and 12 October are worked,
    # 1-7 October are not.
    assert national_day.refund_deadline is not None
    assert national_day.refund_deadline.due_by == date(2024, 10, 28)


def test_a_car_replacement_or_refund_request_gets_a_reply_deadline_of_ten_working_days() -> None:
    decision = _car("2024-03-06", 300, "engine")
    reply = decision.reply_deadline  # type: ignore[attr-defined]
    assert (reply.days, reply.working_days, reply.counted_from) == (10, True, "claim")
    assert reply.due_by == date(2024, 3, 20)
    assert decision.refund_deadline.due_by == date(2024, 4, 3)  # type: ignore[attr-defined]
    assert "reply_due" in decision.codes  # type: ignore[attr-defined]
    assert "2024-03-20" in decision.explain("zh")  # type: ignore[attr-defined]
    national_day = CARS.evaluate(
        make_facts(
            kind="quality_return",
            category="car",
            price="200000.00",
            purchased="2024-09-20",
            delivered="2024-09-20",
            claim="2024-09-25",
            vehicle={"odometer_km": 100, "failed_system": "engine"},
        )
    )
    # 26, 27, 29 (a worked Sunday), 30 September, then 8-12 (a worked Saturday), 14 October.
    assert national_day.reply_deadline is not None
    assert national_day.reply_deadline.due_by == date(2024, 10, 14)
    assert _car("2025-02-01", 20_000).reply_deadline is None  # type: ignore[attr-defined]


def test_sanbao_depreciation_applies_only_when_a_same_model_unit_is_available() -> None:
    twice = tuple(
        {"handed_in_at": day, "handed_back_at": back, "outcome": "failed"}
        for day, back in (("2024-05-01", "2024-05-11"), ("2024-06-01", "2024-06-11"))
    )
    assumed = _washer("2024-07-10", repairs=twice)
    assert assumed.refund.deductions > 0  # type: ignore[attr-defined]
    assert "depreciation" in assumed.codes  # type: ignore[attr-defined]
    available = _washer(
        "2024-07-10",
        repairs=twice,
        product={"category": "washing_machine", "same_model_available": True},
    )
    assert available.refund.deductions == assumed.refund.deductions  # type: ignore[attr-defined]
    none_left = _washer(
        "2024-07-10",
        repairs=twice,
        product={"category": "washing_machine", "same_model_available": False},
    )
    assert none_left.refund.deductions == 0  # type: ignore[attr-defined]
    assert none_left.refund.net == Decimal("3000.00")  # type: ignore[attr-defined]
    assert "no_same_model" in none_left.codes  # type: ignore[attr-defined]
