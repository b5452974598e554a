"""Properties of every preset: total on valid facts, JSON round trip, and an oracle."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from aftersales.policies import ClaimKind, Condition, Decision, Facts, decide
from aftersales.policies.presets import cn_online_no_reason_return

SHANGHAI = ZoneInfo("Asia/Shanghai")
instants = st.datetimes(
    min_value=datetime(2018, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(timezone.utc)
)
offsets = st.integers(0, 60 * 24 * 400)  # minutes


@st.composite
def facts(draw: st.DrawFn, jurisdiction: str | None = None) -> Facts:
    purchased = draw(instants)
    delivered = purchased + timedelta(minutes=draw(offsets) // 20)
    claimed = delivered + timedelta(minutes=draw(offsets))
    quantity = draw(st.integers(1, 5))
    jurisdiction = jurisdiction or draw(st.sampled_from(["cn", "eu", "uk", "us-ca"]))
    repairs = []
    for number in range(draw(st.integers(0, 2))):
        handed_in = delivered + (claimed - delivered) * (number + 1) / 4
        repairs.append(
            {
                "handed_in_at": handed_in,
                "handed_back_at": min(handed_in + timedelta(days=3), claimed),
                "outcome": draw(st.sampled_from(["fixed", "failed", "replaced"])),
                "requested_at": draw(
                    st.sampled_from([None, max(handed_in - timedelta(days=1), purchased)])
                ),
            }
        )
    later = claimed + timedelta(days=draw(st.integers(0, 30)))
    vehicle = draw(
        st.sampled_from(
            [
                None,
                {"odometer_km": 100, "failed_system": "engine"},
                {"odometer_km": 20_000, "serious_safety_fault": True},
            ]
        )
    )
    return Facts.model_validate(
        {
            "jurisdiction": jurisdiction,
            "product": {
                "category": draw(st.sampled_from(["apparel", "television", "mobile_phone"])),
                "same_model_available": draw(st.sampled_from([None, True, False])),
                "flags": draw(
                    st.sets(
                        st.sampled_from(["perishable", "activation_loses_value", "second_hand"])
                    )
                ),
            },
            "order": {
                "purchased_at": purchased,
                "delivered_at": delivered,
                "unit_price": {
                    "amount": str(draw(st.integers(1, 10**6))) + ".00",
                    "currency": "CNY",
                },
                "quantity": quantity,
            },
            "claim": {
                "at": claimed,
                "refund_agreed_at": draw(st.sampled_from([None, later])),
                "goods_returned_at": draw(st.sampled_from([None, later])),
                "quantity": draw(st.integers(1, quantity)),
                "kind": draw(
                    st.sampled_from(
                        [
                            "no_reason_return",
                            "quality_return",
                            "legal_guarantee",
                            "warranty_repair",
                            "final_rejection",
                            "exchange",
                        ]
                    )
                ),
                "condition": draw(st.sampled_from(["unopened", "opened", "damaged", "activated"])),
            },
            "repairs": repairs,
            "withdrawal_information_given_at": draw(st.sampled_from([None, purchased])),
            "vehicle": None if purchased.year < 2022 else vehicle,  # the car rules: 2022-
            "confirmed_non_returnable_at_checkout": draw(st.booleans()),
            "retailer_policy_posted": draw(st.booleans()),
        }
    )


@settings(max_examples=300, deadline=None)
@given(facts=facts())
def test_every_jurisdiction_decides_any_valid_claim_and_the_decision_round_trips(
    facts: Facts,
) -> None:
    decision = decide(facts)
    assert Decision.model_validate_json(decision.model_dump_json()) == decision
    assert decision.reasons
    assert all(r.message and r.message_zh for r in decision.reasons)
    if decision.refund is not None:
        assert decision.refund.net >= 0
    if decision.window is not None:
        assert decision.window.first_day <= decision.window.last_day + timedelta(days=1)


@settings(max_examples=300, deadline=None)
@given(facts=facts(jurisdiction="cn"))
def test_the_seven_day_rule_agrees_with_a_hand_written_oracle(facts: Facts) -> None:
    plain = facts.model_copy(
        update={
            "product": facts.product.model_copy(update={"flags": frozenset()}),
            "claim": facts.claim.model_copy(
                update={"condition": Condition.UNOPENED, "kind": ClaimKind.NO_REASON_RETURN}
            ),
        }
    )
    signed_off = plain.order.delivered_at
    assert signed_off is not None
    last_day = signed_off.astimezone(SHANGHAI).date() + timedelta(days=7)
    expected = plain.claim.at.astimezone(SHANGHAI).date() <= last_day
    assert cn_online_no_reason_return().evaluate(plain).allowed is expected
