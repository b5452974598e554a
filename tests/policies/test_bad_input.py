"""Bad input to the policies: refused with InvalidInput, never a raw Python error.

The fuzz runs a bounded budget in CI (300 examples each); set AFTERSALES_FUZZ_EXAMPLES for
a longer run, e.g. ``AFTERSALES_FUZZ_EXAMPLES=20000 pytest tests/policies/test_bad_input.py``.
"""

from __future__ import annotations

import copy
import os
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_facts import make_facts

from aftersales import AftersalesError, InvalidInput
from aftersales.models._base import MAX_YEAR, MIN_YEAR
from aftersales.policies import Decision, Facts, decide
from aftersales.policies.presets import (
    cn_household_car,
    cn_online_no_reason_return,
    cn_quality_return,
    cn_sanbao_general,
    eu_legal_guarantee,
    eu_withdrawal,
    retailer_example,
    uk_consumer_rights,
    us_ca_1723,
)

FUZZ = settings(
    max_examples=int(os.environ.get("AFTERSALES_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

VALID: dict[str, Any] = {
    "jurisdiction": "cn",
    "product": {"category": "washing_machine", "flags": []},
    "order": {
        "purchased_at": "2024-03-01T10:00:00+08:00",
        "delivered_at": "2024-03-03T15:00:00+08:00",
        "unit_price": {"amount": "199.00", "currency": "CNY"},
        "quantity": 2,
        "shipping_paid": {"amount": "10.00", "currency": "CNY"},
        "payments": [{"method": "card", "amount": {"amount": "398.00", "currency": "CNY"}}],
        "gifts_value": {"amount": "5.00", "currency": "CNY"},
        "coupon_value": {"amount": "5.00", "currency": "CNY"},
    },
    "claim": {"at": "2024-03-09T20:00:00+08:00", "kind": "no_reason_return", "quantity": 1},
    "repairs": [
        {
            "handed_in_at": "2024-03-04T10:00:00+08:00",
            "handed_back_at": "2024-03-05T10:00:00+08:00",
            "outcome": "failed",
        }
    ],
    "vehicle": None,
}


@pytest.mark.parametrize(
    "field",
    [
        "unit_price",
        "shipping_paid",
        "gifts_value",
        "coupon_value",
    ],
)
def test_a_negative_amount_in_the_order_is_refused(field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        make_facts(order={field: {"amount": "-1.00", "currency": "CNY"}})
    assert raised.value.errors[0].location == ("order", field)
    assert "negative" in raised.value.errors[0].message


def test_a_negative_payment_is_refused() -> None:
    payments = [{"method": "card", "amount": {"amount": "-5", "currency": "CNY"}}]
    with pytest.raises(InvalidInput) as raised:
        make_facts(order={"payments": payments})
    assert raised.value.errors[0].location[:2] == ("order", "payments")


def test_decide_accepts_facts_as_plain_data() -> None:
    assert decide(copy.deepcopy(VALID)) == decide(Facts.model_validate(VALID))


@pytest.mark.parametrize("junk", [None, 0, "facts", [], b"{}", object(), {"jurisdiction": "cn"}])
def test_decide_refuses_anything_but_facts_with_invalid_input(junk: object) -> None:
    with pytest.raises(InvalidInput):
        decide(junk)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "policy",
    [cn_online_no_reason_return(), eu_withdrawal(), cn_household_car()],
    ids=lambda policy: policy.name,
)
def test_a_policy_evaluates_plain_data_and_refuses_junk(policy: Any) -> None:
    assert isinstance(policy.evaluate(copy.deepcopy(VALID)), Decision)
    with pytest.raises(InvalidInput):
        policy.evaluate(None)


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"quantity": 10**30, "claim_quantity": 10**30}, ("order", "quantity")),
        ({"vehicle": {"odometer_km": 10**30}}, ("vehicle", "odometer_km")),
        (
            {"repairs": ({"handed_in_at": "2024-03-04", "waiting_for_parts_days": 10**30},)},
            ("repairs", 0, "waiting_for_parts_days"),
        ),
    ],
)
def test_huge_numbers_in_facts_are_refused(
    change: dict[str, Any], location: tuple[object, ...]
) -> None:
    with pytest.raises(InvalidInput) as raised:
        make_facts(**change)
    assert raised.value.errors[0].location == location


@pytest.mark.parametrize("field", ["shipping_paid", "gifts_value", "coupon_value", "payments"])
def test_amounts_like_1e30_are_invalid_input(field: str) -> None:
    data = copy.deepcopy(VALID)
    huge = {"amount": "1e30", "currency": "CNY"}
    data["order"][field] = [{"method": "card", "amount": huge}] if field == "payments" else huge
    with pytest.raises(InvalidInput):
        decide(data)


PRESETS = [
    cn_online_no_reason_return(roll_forward_holidays=True),
    cn_quality_return(),
    cn_sanbao_general(),
    cn_household_car(),
    eu_withdrawal(holiday_country="DE"),
    eu_legal_guarantee(),
    uk_consumer_rights(),
    us_ca_1723(),
    retailer_example(),
]
KINDS = [
    "no_reason_return",
    "quality_return",
    "exchange",
    "warranty_repair",
    "legal_guarantee",
    "final_rejection",
]
_EDGE = timedelta(days=800)
far_instants = st.one_of(
    st.datetimes(min_value=datetime(MIN_YEAR, 1, 1), max_value=datetime(MIN_YEAR, 1, 1) + _EDGE),
    st.datetimes(
        min_value=datetime(MAX_YEAR, 12, 31) - _EDGE, max_value=datetime(MAX_YEAR, 12, 31, 9)
    ),
).map(lambda naive: naive.replace(tzinfo=timezone.utc))


@FUZZ
@given(
    policy=st.sampled_from(PRESETS),
    purchased=far_instants,
    delivered_after=st.integers(0, 5),
    claimed_after=st.integers(0, 2000),
    kind=st.sampled_from(KINDS),
    repaired=st.booleans(),
    km=st.integers(0, 100_000),
)
def test_decisions_near_the_ends_of_the_supported_years_raise_only_our_errors(
    policy: Any,
    purchased: datetime,
    delivered_after: int,
    claimed_after: int,
    kind: str,
    repaired: bool,
    km: int,
) -> None:
    delivered = purchased + timedelta(days=delivered_after)
    claimed = delivered + timedelta(days=claimed_after)
    if claimed.year > MAX_YEAR:
        claimed = delivered
    data: dict[str, Any] = {
        "jurisdiction": "cn",
        "product": {"category": "television"},
        "order": {
            "purchased_at": purchased,
            "delivered_at": delivered,
            "unit_price": {"amount": "100.00", "currency": "CNY"},
        },
        "claim": {"at": claimed, "kind": kind},
        "vehicle": {"odometer_km": km, "failed_system": "engine"},
        "repairs": (
            [{"handed_in_at": delivered, "handed_back_at": claimed, "outcome": "failed"}] * 2
            if repaired
            else []
        ),
    }
    try:
        decision = policy.evaluate(Facts.model_validate(data))
    except AftersalesError:
        return
    assert decision.reasons


@pytest.mark.parametrize("instant", ["1899-12-31T23:59:59+00:00", "2201-01-01T00:00:00+00:00"])
def test_instants_outside_the_supported_years_are_invalid_input(instant: str) -> None:
    data = copy.deepcopy(VALID)
    data["claim"]["at"] = instant
    with pytest.raises(InvalidInput):
        decide(data)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["", "1e30", "-1", "2024-03-09T20:00:00+08:00", "NaN", "cn", "eu"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


plausible = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        1,
        2,
        7,
        10**6,
        "0",
        "0.01",
        "999999999999.999999",
        "-0.01",
        "CNY",
        "EUR",
        "2024-03-01T00:00:00+08:00",
        "2024-03-20T12:00:00+00:00",
        "2025-06-30T12:00:00-08:00",
        "1900-01-01T00:00:00+14:00",
        "2200-12-31T23:59:59-12:00",
        "opened",
        "damaged",
        "activated",
        "failed",
        "replaced",
        "in_repair",
        "engine",
        "brakes",
        "airbag",
        "television",
        "car",
        "perishable",
        "second_hand",
        *KINDS,
    ]
)


plausible_claims = st.integers(0, 3 * 365).map(
    lambda days: (datetime(2024, 3, 6, 12, tzinfo=timezone.utc) + timedelta(days=days)).isoformat()
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated_facts(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(VALID)
    data["jurisdiction"] = draw(st.sampled_from(["cn", "eu", "uk", "us-ca", "xx"]))
    data["claim"]["kind"] = draw(st.sampled_from(KINDS))
    data["claim"]["at"] = draw(plausible_claims)
    if draw(st.booleans()):
        data["vehicle"] = {"odometer_km": 10, "failed_system": "engine"}
    for _ in range(draw(st.integers(0, 3))):
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.integers(0, 9)) == 0:
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(st.one_of(plausible, json_values))
    return data


@FUZZ
@given(value=st.one_of(json_values, mutated_facts()))
def test_decide_on_any_json_like_input_raises_only_our_errors(value: Any) -> None:
    try:
        decision = decide(value)
    except AftersalesError:
        return
    assert isinstance(decision, Decision)
    assert decision.model_dump_json()


POLICY_DATA = [
    policy.model_dump(mode="json")
    for policy in (
        cn_online_no_reason_return(roll_forward_holidays=True),
        eu_withdrawal(),
        uk_consumer_rights(),
        us_ca_1723(),
    )
] + [
    version.policy.model_dump(mode="json")
    for book in (cn_household_car(), cn_sanbao_general(), eu_legal_guarantee())
    for version in book.versions
]


@st.composite
def mutated_policies(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(draw(st.sampled_from(POLICY_DATA)))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from([p for p in _paths(data) if p]))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = draw(st.one_of(plausible, json_values, st.integers(-(10**12), 10**12)))
    return data


@FUZZ
@given(policy=mutated_policies(), facts=mutated_facts())
def test_a_policy_from_any_plain_data_decides_or_raises_only_our_errors(
    policy: Any, facts: Any
) -> None:
    from aftersales.policies import PolicySet

    try:
        decision = PolicySet.from_dict(policy).evaluate(facts)
    except AftersalesError:
        return
    assert decision.model_dump_json()


def test_a_policy_with_a_month_count_past_the_calendar_is_invalid_input() -> None:
    from aftersales.policies import PolicySet

    data = eu_withdrawal().model_dump(mode="json")
    data["rules"][0]["uninformed_extension_months"] = 10**9
    with pytest.raises(InvalidInput) as raised:
        PolicySet.from_dict(data)
    assert raised.value.errors[0].location[-1] == "uninformed_extension_months"
