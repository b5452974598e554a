"""EU withdrawal and legal guarantee, UK Consumer Rights Act, California §1723, a retailer."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from policy_facts import make_facts

from aftersales.policies import Outcome, Party, Remedy, decide
from aftersales.policies.presets import (
    eu_legal_guarantee,
    eu_withdrawal,
    retailer_example,
    uk_consumer_rights,
    us_ca_1723,
)

WITHDRAWAL = eu_withdrawal()


def _eu(claim: str, **fields: object) -> object:
    fields.setdefault("order", {"order_completed_at": "2024-03-06T12:00:00+01:00"})
    fields.setdefault("withdrawal_information_given_at", "2024-03-01T12:00:00+01:00")
    return WITHDRAWAL.evaluate(
        make_facts(
            jurisdiction="eu",
            currency="EUR",
            purchased="2024-03-01",
            delivered="2024-03-04",
            claim=claim,
            **fields,
        )
    )  # type: ignore[arg-type]


def test_withdrawal_runs_fourteen_days_from_the_last_item_of_a_split_delivery() -> None:
    last = _eu("2024-03-20T23:59")
    assert last.outcome is Outcome.ALLOWED  # type: ignore[attr-defined]
    assert last.window.last_day == date(2024, 3, 20)  # type: ignore[attr-defined]
    assert _eu("2024-03-21").outcome is Outcome.REFUSED  # type: ignore[attr-defined]


def test_a_last_day_on_a_weekend_moves_to_monday() -> None:
    decision = _eu("2024-03-18", order={"order_completed_at": "2024-03-02T12:00:00+01:00"})
    assert decision.window.last_day == date(2024, 3, 18)  # type: ignore[attr-defined]
    assert decision.outcome is Outcome.ALLOWED  # type: ignore[attr-defined]


def test_without_withdrawal_information_the_period_runs_twelve_months_longer() -> None:
    decision = _eu("2025-03-19", withdrawal_information_given_at=None)
    assert decision.outcome is Outcome.ALLOWED  # type: ignore[attr-defined]
    assert decision.window.last_day == date(2025, 3, 20)  # type: ignore[attr-defined]


def test_information_given_late_starts_fourteen_days_from_then() -> None:
    decision = _eu("2024-06-17", withdrawal_information_given_at="2024-06-01T12:00:00+01:00")
    assert decision.window.last_day == date(2024, 6, 17)  # type: ignore[attr-defined]
    assert decision.outcome is Outcome.ALLOWED  # type: ignore[attr-defined]


def test_withdrawal_exceptions_and_unsealed_goods() -> None:
    assert _eu("2024-03-10", flags=("made_to_order",)).codes == ("excluded_category",)  # type: ignore[attr-defined]
    unsealed = _eu("2024-03-10", condition="seal_broken")
    assert unsealed.outcome is Outcome.NEEDS_INSPECTION  # type: ignore[attr-defined]


def test_withdrawal_refunds_standard_delivery_within_fourteen_days_of_the_notice() -> None:
    decision = _eu(
        "2024-03-10",
        price="50.00",
        order={
            "order_completed_at": "2024-03-06T12:00:00+01:00",
            "shipping_paid": {"amount": "4.95", "currency": "EUR"},
        },
    )
    refund = decision.refund  # type: ignore[attr-defined]
    assert (refund.shipping, refund.net) == (Decimal("4.95"), Decimal("54.95"))
    assert decision.refund_deadline.due_by == date(2024, 3, 24)  # type: ignore[attr-defined]
    assert decision.return_shipping_paid_by is Party.CONSUMER  # type: ignore[attr-defined]


GUARANTEE = eu_legal_guarantee()


def _guarantee(purchased: str, claim: str, **fields: object) -> object:
    return GUARANTEE.evaluate(
        make_facts(
            jurisdiction="eu",
            kind="legal_guarantee",
            currency="EUR",
            purchased=purchased,
            delivered=purchased,
            claim=claim,
            **fields,
        )
    )  # type: ignore[arg-type]


def test_the_legal_guarantee_presumes_a_defect_for_a_year_then_the_consumer_shows_it() -> None:
    early = _guarantee("2023-05-10", "2024-05-10")
    assert (early.burden_of_proof, early.remedies) == (
        Party.SELLER,
        (Remedy.REPAIR, Remedy.REPLACEMENT),
    )  # type: ignore[attr-defined]
    assert early.policy == "eu-legal-guarantee@2019/771"  # type: ignore[attr-defined]
    assert _guarantee("2023-05-10", "2024-05-11").burden_of_proof is Party.CONSUMER  # type: ignore[attr-defined]
    assert _guarantee("2023-05-10", "2025-05-10").outcome is Outcome.ALLOWED  # type: ignore[attr-defined]
    assert _guarantee("2023-05-10", "2025-05-11").outcome is Outcome.REFUSED  # type: ignore[attr-defined]


def test_contracts_before_2022_keep_the_six_month_presumption() -> None:
    old = _guarantee("2021-06-01", "2022-01-15")
    assert old.policy == "eu-legal-guarantee@1999/44/EC"  # type: ignore[attr-defined]
    assert old.burden_of_proof is Party.CONSUMER  # type: ignore[attr-defined]


def test_member_states_may_presume_for_two_years() -> None:
    longer = eu_legal_guarantee(presumption_months=24).evaluate(
        make_facts(
            jurisdiction="eu",
            kind="legal_guarantee",
            currency="EUR",
            purchased="2023-05-10",
            delivered="2023-05-10",
            claim="2025-01-10",
        )
    )
    assert longer.burden_of_proof is Party.SELLER


def test_after_a_failed_repair_price_reduction_or_termination() -> None:
    failed = ({"handed_in_at": "2023-08-01", "handed_back_at": "2023-08-10", "outcome": "failed"},)
    decision = _guarantee("2023-05-10", "2023-09-01", repairs=failed)
    assert decision.remedies == (Remedy.PRICE_REDUCTION, Remedy.REFUND)  # type: ignore[attr-defined]


UK = uk_consumer_rights()


def _uk(claim: str, kind: str = "quality_return", **fields: object) -> object:
    return UK.evaluate(
        make_facts(
            jurisdiction="uk",
            kind=kind,
            currency="GBP",
            purchased="2024-03-01",
            delivered="2024-03-01",
            claim=claim,
            **fields,
        )
    )  # type: ignore[arg-type]


def test_the_short_term_right_to_reject_lasts_thirty_days_after_delivery() -> None:
    last = _uk("2024-03-31")
    assert (last.outcome, last.remedies) == (Outcome.ALLOWED, (Remedy.REFUND,))  # type: ignore[attr-defined]
    after = _uk("2024-04-01")
    assert after.remedies == (Remedy.REPAIR, Remedy.REPLACEMENT)  # type: ignore[attr-defined]


def test_the_period_counts_from_installation_when_later() -> None:
    decision = _uk("2024-04-05", order={"installed_at": "2024-03-10T12:00:00+00:00"})
    assert decision.window.last_day == date(2024, 4, 9)  # type: ignore[attr-defined]


def test_waiting_for_a_repair_pauses_the_period_then_the_remainder_or_seven_days() -> None:
    early = ({"handed_in_at": "2024-03-20", "handed_back_at": "2024-04-05", "outcome": "fixed"},)
    decision = _uk("2024-04-17", repairs=early)
    assert decision.window.last_day == date(2024, 4, 17)  # type: ignore[attr-defined]
    assert "paused_for_repair" in decision.codes  # type: ignore[attr-defined]
    late = ({"handed_in_at": "2024-03-29", "handed_back_at": "2024-04-10", "outcome": "fixed"},)
    assert _uk("2024-04-17", repairs=late).window.last_day == date(2024, 4, 17)  # type: ignore[attr-defined]


def test_final_rejection_after_one_failed_repair_with_a_deduction_after_six_months() -> None:
    failed = ({"handed_in_at": "2024-05-01", "handed_back_at": "2024-05-10", "outcome": "failed"},)
    soon = _uk("2024-06-01", kind="final_rejection", repairs=failed)
    assert soon.remedies == (Remedy.REFUND, Remedy.PRICE_REDUCTION)  # type: ignore[attr-defined]
    assert "deduction_for_use" not in soon.codes  # type: ignore[attr-defined]
    later = _uk("2024-10-01", kind="final_rejection", repairs=failed)
    assert "deduction_for_use" in later.codes  # type: ignore[attr-defined]
    assert later.burden_of_proof is Party.CONSUMER  # type: ignore[attr-defined]
    assert _uk("2030-03-02").outcome is Outcome.REFUSED  # type: ignore[attr-defined]


CALIFORNIA = us_ca_1723()


def _ca(claim: str, posted: bool = False, **fields: object) -> object:
    return CALIFORNIA.evaluate(
        make_facts(
            jurisdiction="us-ca",
            currency="USD",
            purchased="2024-03-01",
            delivered="2024-03-01",
            claim=claim,
            retailer_policy_posted=posted,
            **fields,
        )
    )  # type: ignore[arg-type]


def test_california_unposted_policy_means_thirty_days_after_purchase() -> None:
    assert _ca("2024-03-31").remedies == (Remedy.REFUND, Remedy.EXCHANGE)  # type: ignore[attr-defined]
    assert _ca("2024-04-01").outcome is Outcome.REFUSED  # type: ignore[attr-defined]
    assert _ca("2024-03-10", posted=True).codes == ("policy_posted",)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"flags": ("perishable",)}, "excluded_category"),
        ({"flags": ("final_sale",)}, "excluded_category"),
        ({"condition": "damaged"}, "condition_not_intact"),
    ],
)
def test_california_exempt_goods(fields: dict[str, object], code: str) -> None:
    assert _ca("2024-03-10", **fields).codes == (code,)  # type: ignore[attr-defined]


RETAILER = retailer_example()


def test_the_retailer_policy_counts_the_delivery_day_and_charges_restocking_from_2025() -> None:
    old = RETAILER.evaluate(
        make_facts(
            jurisdiction="shop",
            currency="USD",
            price="100.00",
            purchased="2024-03-01",
            delivered="2024-03-01",
            claim="2024-03-30",
            condition="opened",
        )
    )
    assert (old.policy, old.refund.restocking_fee) == ("retailer-returns@2020", Decimal(0))  # type: ignore[union-attr]
    new = RETAILER.evaluate(
        make_facts(
            jurisdiction="shop",
            currency="USD",
            price="100.00",
            purchased="2025-03-01",
            delivered="2025-03-01",
            claim="2025-03-30",
            condition="opened",
        )
    )
    assert new.policy == "retailer-returns@2025"
    assert new.refund is not None
    assert new.refund.restocking_fee == Decimal("15.00")
    assert new.refund.net == Decimal("85.00")
    assert "restocking_fee" in new.codes
    late = RETAILER.evaluate(
        make_facts(
            jurisdiction="shop",
            currency="USD",
            purchased="2025-03-01",
            delivered="2025-03-01",
            claim="2025-03-31",
        )
    )
    assert late.outcome is Outcome.REFUSED
    wrong = RETAILER.evaluate(
        make_facts(
            jurisdiction="shop",
            currency="USD",
            kind="warranty_repair",
            purchased="2025-03-01",
            delivered="2025-03-01",
            claim="2025-03-02",
        )
    )
    assert wrong.codes == ("wrong_claim_kind",)


def test_decide_routes_eu_uk_and_california() -> None:
    assert (
        decide(
            make_facts(jurisdiction="eu", currency="EUR", withdrawal_information_given_at=None)
        ).policy
        == "eu-withdrawal@2014"
    )
    assert decide(
        make_facts(jurisdiction="eu", currency="EUR", kind="legal_guarantee")
    ).policy.startswith("eu-legal")
    assert (
        decide(make_facts(jurisdiction="uk", currency="GBP", kind="quality_return")).policy
        == "uk-consumer-rights@2015"
    )
    assert decide(make_facts(jurisdiction="us-ca", currency="USD")).policy == "us-ca-1723@1723"


def test_the_uk_waiting_period_begins_with_the_day_the_repair_is_requested() -> None:
    # Delivered 1 March: the 30 days are 2-31 March. Handed in on 20 March after 18 days
    # (2-19 March); 20 March is the waiting period's first day, so 12 days remain and run
    # from 6 April, the day after the goods came back (s22(6), (8)(a)).
    repair = {"handed_in_at": "2024-03-20", "handed_back_at": "2024-04-05", "outcome": "fixed"}
    decision = _uk("2024-04-17", repairs=(repair,))
    assert decision.window.last_day == date(2024, 4, 17)  # type: ignore[attr-defined]
    assert decision.remedies == (Remedy.REFUND,)  # type: ignore[attr-defined]
    paused = decision.reasons[1]  # type: ignore[attr-defined]
    assert (paused.code, paused.params["days"]) == ("paused_for_repair", 17)
    # Requested on 18 March, handed in later: the waiting period begins with the request.
    requested = {**repair, "requested_at": "2024-03-18"}
    assert _uk("2024-04-19", repairs=(requested,)).window.last_day == date(2024, 4, 19)  # type: ignore[attr-defined]
    # Requested on the last day: 1 day remains, so the 7-day minimum applies.
    last = {"handed_in_at": "2024-03-31", "handed_back_at": "2024-04-02"}
    assert _uk("2024-04-09", repairs=(last,)).window.last_day == date(2024, 4, 9)  # type: ignore[attr-defined]


def test_a_uk_refund_is_due_fourteen_days_after_the_trader_agrees() -> None:
    waiting = _uk("2024-03-20")
    assert waiting.refund_deadline.counted_from == "refund_agreed"  # type: ignore[attr-defined]
    assert waiting.refund_deadline.due_by is None  # type: ignore[attr-defined]
    agreed = _uk("2024-03-20", claim_fields={"refund_agreed_at": "2024-03-22T09:00:00+00:00"})
    assert agreed.refund_deadline.due_by == date(2024, 4, 5)  # type: ignore[attr-defined]


def test_an_eu_refund_may_be_withheld_until_the_goods_are_back_or_shown_sent() -> None:
    decision = _eu("2024-03-10")
    deadline = decision.refund_deadline  # type: ignore[attr-defined]
    assert deadline.withheld_until_goods_back is True
    assert deadline.due_by == date(2024, 3, 24)
    assert "refund_withheld_until_goods_back" in decision.codes  # type: ignore[attr-defined]
    late = _eu("2024-03-10", claim_fields={"goods_returned_at": "2024-03-28T12:00:00+01:00"})
    assert late.refund_deadline.due_by == date(2024, 3, 28)  # type: ignore[attr-defined]
    early = _eu("2024-03-10", claim_fields={"goods_returned_at": "2024-03-12T12:00:00+01:00"})
    assert early.refund_deadline.due_by == date(2024, 3, 24)  # type: ignore[attr-defined]


def test_an_eu_window_extended_for_missing_withdrawal_information_says_so() -> None:
    never = _eu("2025-03-19", withdrawal_information_given_at=None)
    assert never.codes[:2] == ("within_window", "not_informed_extension")  # type: ignore[attr-defined]
    assert "2025-03-20" in never.explain()  # type: ignore[attr-defined]
    late = _eu("2024-06-17", withdrawal_information_given_at="2024-06-01T12:00:00+01:00")
    assert "not_informed_extension" in late.codes  # type: ignore[attr-defined]
    informed = _eu("2024-03-10")
    assert "not_informed_extension" not in informed.codes  # type: ignore[attr-defined]


def test_the_eu_withdrawal_refund_includes_standard_delivery_in_net() -> None:
    decision = _eu(
        "2024-03-10",
        price="50.00",
        quantity=2,
        claim_quantity=2,
        order={
            "order_completed_at": "2024-03-06T12:00:00+01:00",
            "shipping_paid": {"amount": "4.95", "currency": "EUR"},
        },
    )
    refund = decision.refund  # type: ignore[attr-defined]
    assert (refund.gross, refund.shipping, refund.net) == (
        Decimal("100.00"),
        Decimal("4.95"),
        Decimal("104.95"),
    )
    assert refund.net > Decimal("50.00") * 2  # more than unit price x quantity


def test_withdrawal_information_given_after_twelve_months_leaves_the_extension() -> None:
    # Delivered 6 March 2024: the initial period ends 20 March 2024, the extension
    # 20 March 2025. Information on 1 May 2025 is too late to start a fresh 14 days.
    decision = _eu("2025-03-20", withdrawal_information_given_at="2025-05-01T12:00:00+01:00")
    assert decision.window.last_day == date(2025, 3, 20)  # type: ignore[attr-defined]
    assert "not_informed_extension" in decision.codes  # type: ignore[attr-defined]
