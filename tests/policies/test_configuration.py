"""Policies as plain data, JSON Schema, versioning, decisions as JSON, and bad input."""

from __future__ import annotations

import json
from datetime import date

import pytest
from policy_facts import make_facts

from aftersales import InvalidInput
from aftersales.policies import Decision, Facts, Outcome, PolicyBook, PolicySet, decide
from aftersales.policies.presets import cn_online_no_reason_return

SHOP_POLICY = {
    "name": "acme-returns",
    "version": "2024-07",
    "time_zone": "Asia/Shanghai",
    "rules": [
        {
            "kind": "return_window",
            "name": "15-day return",
            "name_zh": "15 天无理由退货",
            "period": {"days": 15},
            "start": "sign_off",
            "absolute_exclusions": ["perishable"],
            "remedies": ["refund", "exchange"],
            "return_shipping_paid_by": "seller",
            "refund": {"days": 3, "restocking_fee_percent": "5", "restocking_fee_on": ["opened"]},
        }
    ],
}


def test_a_shop_writes_its_policy_as_json_and_gets_explained_decisions() -> None:
    policy = PolicySet.from_json(json.dumps(SHOP_POLICY))
    decision = policy.evaluate(
        make_facts(
            jurisdiction="shop",
            delivered="2024-03-03",
            claim="2024-03-18",
            condition="opened",
            price="80.00",
        )
    )
    assert (decision.outcome, decision.policy) == (Outcome.ALLOWED, "acme-returns@2024-07")
    assert decision.window is not None
    assert decision.window.last_day == date(2024, 3, 18)
    assert decision.refund is not None
    assert str(decision.refund.net_money) == "76.00 CNY"
    assert decision.refund_deadline is not None
    assert decision.refund_deadline.due_by == date(2024, 3, 21)
    assert "15 天无理由退货" in decision.explain("zh")


def test_a_bad_field_is_named_with_its_path() -> None:
    broken = json.loads(json.dumps(SHOP_POLICY))
    broken["rules"][0]["period"] = {"days": -3}
    with pytest.raises(InvalidInput) as raised:
        PolicySet.from_dict(broken)
    assert raised.value.errors[0].location[:4] == ("rules", 0, "return_window", "period")
    broken["rules"][0] = {"kind": "lottery"}
    with pytest.raises(InvalidInput) as raised:
        PolicySet.from_dict(broken)
    assert raised.value.errors[0].kind == "union_tag_invalid"
    with pytest.raises(InvalidInput, match="unknown time zone"):
        PolicySet.from_dict({**SHOP_POLICY, "time_zone": "Mars/Base"})


def test_the_json_schema_describes_every_policy_kind_for_editors() -> None:
    schema = PolicySet.json_schema()
    kinds = {
        branch["$ref"].rsplit("/", 1)[-1]
        for branch in schema["properties"]["rules"]["items"]["oneOf"]
    }
    assert kinds == {
        "ReturnWindowRule",
        "QualityTiersRule",
        "LegalGuaranteeRule",
        "ShortTermRejectRule",
        "StatutoryReturnRule",
        "HouseholdCarRule",
    }
    json.dumps(schema)


def test_presets_round_trip_through_plain_data() -> None:
    preset = cn_online_no_reason_return()
    assert PolicySet.from_json(preset.model_dump_json()) == preset


def test_the_version_in_force_on_the_contract_date_decides() -> None:
    v1 = {**SHOP_POLICY, "version": "2024-01"}
    v2 = {
        **SHOP_POLICY,
        "version": "2024-07",
        "rules": [{**SHOP_POLICY["rules"][0], "period": {"days": 30}}],
    }  # type: ignore[dict-item]
    book = PolicyBook.from_dict(
        {
            "name": "acme",
            "versions": [
                {"effective_from": "2024-07-01", "policy": v2},
                {"effective_from": "2024-01-01", "policy": v1},
            ],
        }
    )
    bought_in_june = make_facts(
        jurisdiction="shop", purchased="2024-06-30", delivered="2024-07-02", claim="2024-07-25"
    )
    assert book.evaluate(bought_in_june).policy == "acme-returns@2024-01"
    assert book.evaluate(bought_in_june).outcome is Outcome.REFUSED
    bought_in_july = make_facts(
        jurisdiction="shop", purchased="2024-07-01", delivered="2024-07-02", claim="2024-07-25"
    )
    assert book.evaluate(bought_in_july).policy == "acme-returns@2024-07"
    by_claim = PolicyBook.model_validate({**book.model_dump(), "decide_by": "claim"})
    assert by_claim.evaluate(bought_in_june).policy == "acme-returns@2024-07"
    with pytest.raises(InvalidInput):
        book.evaluate(
            make_facts(jurisdiction="shop", purchased="2023-12-31", delivered="2024-01-02")
        )
    with pytest.raises(InvalidInput):
        PolicyBook.from_dict(
            {
                "name": "x",
                "versions": [
                    {"effective_from": "2024-01-01", "policy": v1},
                    {"effective_from": "2024-01-01", "policy": v2},
                ],
            }
        )


def test_a_decision_serialises_to_json_and_back() -> None:
    decision = decide(make_facts(price="99.90", flags=("activation_loses_value",)))
    text = decision.model_dump_json()
    assert Decision.model_validate_json(text) == decision
    data = json.loads(text)
    assert data["reasons"][0] == {
        "code": "exclusion_not_confirmed",
        "permits": True,
        "params": {"flag": "activation_loses_value"},
        "window_zh": None,
        "message": "activation_loses_value goods may be returned: "
        "the buyer did not confirm the exclusion at checkout",
        "message_zh": "activation_loses_value类商品可以退货：消费者下单时未确认不适用",
    }
    assert (data["refund"]["net"], data["refund"]["currency"]) == ("99.90", "CNY")


BAD_FACTS = [
    ({"order": {"delivered_at": "2024-02-01T12:00:00+08:00"}}, ("order", "delivered_at"), "before"),
    ({"claim_fields": {"at": "2024-03-02T12:00:00+08:00"}}, ("claim",), "before the goods"),
    ({"claim_quantity": -1}, ("claim", "quantity"), "greater than 0"),
    ({"claim_quantity": 5}, ("claim",), "more than the order"),
    ({"claim_fields": {"at": "2024-03-05T12:00:00"}}, ("claim", "at"), "timezone"),
    ({"order": {"purchased_at": None}}, ("order", "purchased_at"), "valid datetime"),
    ({"kind": "refund_please"}, ("claim", "kind"), "no_reason_return"),
    ({"flags": ("radioactive",)}, ("product", "flags", 0), "perishable"),
    ({"order": {"coupon_value": {"amount": "5", "currency": "USD"}}}, ("order",), "currency"),
    (
        {"repairs": ({"handed_in_at": "2024-03-04", "handed_back_at": "2024-03-03"},)},
        ("repairs", 0, "handed_back_at"),
        "before handed_in_at",
    ),
    ({"repairs": ({"handed_in_at": "2024-02-01"},)}, ("repairs",), "before the purchase"),
]


@pytest.mark.parametrize(("change", "location", "words"), BAD_FACTS)
def test_bad_facts_raise_invalid_input_naming_the_field(
    change: dict[str, object], location: tuple[object, ...], words: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        make_facts(**change)  # type: ignore[arg-type]
    error = raised.value.errors[0]
    assert error.location == location
    assert words in error.message


def test_an_unknown_jurisdiction_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as raised:
        decide(make_facts(jurisdiction="atlantis"))
    assert raised.value.errors[0].location == ("jurisdiction",)
    assert "known: cn, eu, uk, us-ca" in str(raised.value)


def test_facts_name_their_start_events() -> None:
    facts: Facts = make_facts(order={"installed_at": "2024-03-04T12:00:00+08:00"})
    assert facts.event_time("installation") == facts.order.installed_at
    assert facts.event_time("invoice") == facts.order.purchased_at
    assert facts.event_time("unknown") is None


def test_explain_in_an_unknown_language_is_invalid_input_naming_the_known_ones() -> None:
    decision = decide(make_facts())
    assert decision.explain("en") == decision.explain()
    assert decision.explain("zh") != decision.explain("en")
    with pytest.raises(InvalidInput) as raised:
        decision.explain("fr")
    assert "known: en, zh" in str(raised.value)


def test_every_reason_survives_a_json_round_trip_as_a_stored_case_needs() -> None:
    from aftersales.policies.presets import retailer_example

    opened = make_facts(
        jurisdiction="shop",
        currency="USD",
        purchased="2025-03-01",
        delivered="2025-03-01",
        claim="2025-03-05",
        condition="opened",
    )
    decision = retailer_example().evaluate(opened)
    assert "restocking_fee" in decision.codes
    assert Decision.model_validate_json(decision.model_dump_json()) == decision


def test_a_book_deciding_by_claim_date_names_the_claim_date_when_no_version_was_in_force() -> None:
    by_claim = PolicyBook.model_validate(
        {
            "name": "acme",
            "decide_by": "claim",
            "versions": [{"effective_from": "2024-03-06", "policy": SHOP_POLICY}],
        }
    )
    by_contract = by_claim.model_copy(update={"decide_by": "contract"})
    facts = make_facts(jurisdiction="shop", purchased="2024-03-01", claim="2024-03-05")
    with pytest.raises(InvalidInput) as raised:
        by_claim.evaluate(facts)
    assert [e.location for e in raised.value.errors] == [("claim", "at")]
    assert "in force on 2024-03-05" in str(raised.value)
    with pytest.raises(InvalidInput) as raised:
        by_contract.evaluate(facts)
    assert [e.location for e in raised.value.errors] == [("order", "purchased_at")]
