"""A repair case follows its decision's remedies; replacements keep the repair history."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from case_facts import claim_line, phone

from aftersales import (
    Desk,
    FrozenClock,
    InvalidInput,
    Store,
    TransitionRefused,
    TriggerNotAllowed,
)
from aftersales.policies.presets import cn_household_car


@pytest.fixture
def ticket_id(desk: Desk) -> str:
    return desk.open_ticket(customer="c-1", channel="app", subject="repair").id


def repair_to_hand_back(desk: Desk, case_id: str) -> None:
    desk.cases.fire(case_id, "hand_in", payload={"site": "depot"})
    desk.cases.fire(case_id, "diagnose", payload={"diagnosis": "brake pump leaks"})
    desk.cases.fire(case_id, "start_repair")
    desk.cases.fire(case_id, "finish_repair")
    desk.cases.fire(case_id, "pass_qc")
    desk.cases.fire(case_id, "hand_back")


def fail_twice(desk: Desk, case_id: str, clock: FrozenClock, times: int = 2) -> Any:
    """Two repairs that did not hold; the case as assessed after the second."""
    for _ in range(times):
        repair_to_hand_back(desk, case_id)
        clock.advance(days=3)
        desk.cases.fire(case_id, "report_failure", payload={"reason": "fails again"})
        assessed = desk.cases.assess_repair(case_id)
    return assessed


def car(**vehicle: Any) -> dict[str, Any]:
    """A household car bought in June 2023 (China's SAMR Order 43), its brakes failing."""
    line = claim_line(
        "car",
        kind="warranty_repair",
        bought=1,
        claimed=1,
        price="200000.00",
        category="car",
        purchased="2023-06-01T10:00:00+08:00",
        delivered="2023-06-02T10:00:00+08:00",
    )
    line["facts"]["vehicle"] = {
        "odometer_km": 12000,
        "failed_system": "brakes",
        "serious_safety_fault": True,
        **vehicle,
    }
    return line


def test_a_serious_fault_that_failed_two_repairs_is_not_repaired_a_third_time(
    desk: Desk, ticket_id: str, clock: FrozenClock
) -> None:
    case = desk.cases.open_repair(ticket_id, serial="VIN-1", line=car(), order_id="o-car")
    assert case.status == "awaiting_device"
    offered = fail_twice(desk, case.id, clock)
    decision = offered.lines[0].decision
    assert decision is not None
    assert [r.value for r in decision.remedies] == ["replacement", "refund"]
    assert offered.status == "replacement_offered"
    assert offered.repair is not None
    assert offered.repair.replacement_reason == "vehicle_trigger"
    with pytest.raises(TriggerNotAllowed):
        desk.cases.fire(case.id, "hand_in")


def test_a_repair_whose_decision_offers_a_refund_takes_the_goods_back_and_pays_it(
    desk: Desk, ticket_id: str, clock: FrozenClock
) -> None:
    case = desk.cases.open_repair(ticket_id, serial="VIN-2", line=car(), order_id="o-car")
    fail_twice(desk, case.id, clock)
    refunding = desk.cases.fire(case.id, "choose_refund")
    assert refunding.status == "refunding"
    returned = desk.cases.get(refunding.return_case_id or "")
    assert (returned.kind.value, returned.status, returned.parent_id) == (
        "return",
        "approved",
        case.id,
    )
    desk.cases.fire(returned.id, "send_instructions", payload={"method": "address"})
    desk.cases.fire(returned.id, "receive", payload={"units": {"car": 1}})
    desk.cases.fire(returned.id, "inspect", payload={"results": {"car": ["not_as_described"]}})
    refund_id = desk.cases.fire(returned.id, "refund").refund_case_id
    refund = desk.cases.get(refund_id or "")
    assert refund.refund is not None
    # the price less the usage compensation: 200,000 x 12,000 km / 1000 x 0.5%
    assert refund.refund.amount.amount == Decimal("188000.00")
    desk.cases.fire(refund.id, "process")
    desk.cases.fire(refund.id, "succeed")
    assert desk.cases.get(returned.id).status == "closed"
    assert desk.cases.get(case.id).status == "closed"
    for case_id in (case.id, returned.id, refund.id):
        assert desk.cases.replay(case_id) == desk.cases.get(case_id)


def test_a_replacement_keeps_every_repair_record_and_restarts_the_warranty_from_its_day(
    desk: Desk, ticket_id: str, clock: FrozenClock
) -> None:
    case = desk.cases.open_repair(ticket_id, serial="IMEI-9", line=phone())
    offered = fail_twice(desk, case.id, clock)
    assert offered.status == "replacement_offered"
    assert offered.repair is not None
    failed = offered.repair.records
    assert [r.outcome.value for r in failed] == ["failed", "failed"]
    clock.advance(days=4)
    replaced_at = clock.now()
    replaced = desk.cases.fire(case.id, "accept_replacement")
    assert replaced.repair is not None
    assert replaced.repair.records[:2] == failed
    last = replaced.repair.records[-1]
    assert (last.outcome.value, last.handed_in_at, last.handed_back_at) == (
        "replaced",
        replaced_at,
        replaced_at,
    )
    assert replaced.repair.replaced_at == replaced_at
    assert [r.outcome.value for r in desk.cases.repair_history("IMEI-9")] == [
        "failed",
        "failed",
        "replaced",
    ]
    # a fault a month later: the 1-year 三包 warranty now runs from the replacement
    clock.advance(days=30)
    again = desk.cases.open_repair(ticket_id, serial="IMEI-9", line=phone())
    decision = again.lines[0].decision
    assert decision is not None
    assert decision.window is not None
    replaced_day = replaced_at.date()
    assert decision.window.last_day == date(replaced_day.year + 1, *replaced_day.timetuple()[1:3])
    assert again.status == "awaiting_device"


def test_a_replacement_the_decision_does_not_offer_is_refused(
    desk: Desk, ticket_id: str, clock: FrozenClock
) -> None:
    # the EU legal guarantee after a failed repair: price reduction or refund, no replacement
    line = phone(jurisdiction="eu", kind="legal_guarantee")
    case = desk.cases.open_repair(ticket_id, serial="SN-eu", line=line)
    assert case.status == "awaiting_device"
    offered = fail_twice(desk, case.id, clock, times=1)
    assert offered.status == "replacement_offered"
    decision = offered.lines[0].decision
    assert decision is not None
    assert [r.value for r in decision.remedies] == ["price_reduction", "refund"]
    with pytest.raises(TransitionRefused) as refused:
        desk.cases.fire(case.id, "accept_replacement")
    assert refused.value.refusal.code == "replacement_not_offered"
    assert desk.cases.fire(case.id, "choose_refund").status == "refunding"


def test_an_unassessed_repair_cannot_be_quoted_as_a_paid_repair(desk: Desk, ticket_id: str) -> None:
    case = desk.cases.open_repair(ticket_id, serial="SN-q", line=phone(), assess=False)
    assert case.status == "claimed"
    with pytest.raises(TransitionRefused) as refused:
        desk.cases.fire(
            case.id, "quote", payload={"amount": {"amount": "480.00", "currency": "CNY"}}
        )
    assert refused.value.refusal.code == "no_decision"
    assessed = desk.cases.assess_repair(case.id)
    assert assessed.status == "awaiting_device"  # inside the warranty after all


def test_a_repair_the_policy_cannot_decide_is_not_stored(store: Store, clock: FrozenClock) -> None:
    desk = Desk(store, clock=clock, policy=cn_household_car())
    ticket_id = desk.open_ticket(customer="c-1", channel="app", subject="repair").id
    bought_in_2021 = car(odometer_km=100)
    bought_in_2021["facts"]["order"]["purchased_at"] = "2021-06-01T10:00:00+08:00"
    bought_in_2021["facts"]["order"]["delivered_at"] = "2021-06-02T10:00:00+08:00"
    with pytest.raises(InvalidInput, match="no version of 'cn-household-car' was in force"):
        desk.cases.open_repair(ticket_id, serial="VIN-old", line=bought_in_2021)
    with pytest.raises(InvalidInput, match="jurisdiction"):
        Desk(store, clock=clock).cases.open_repair(
            ticket_id, serial="SN-x", line=phone(jurisdiction="atlantis")
        )
    assert desk.cases.for_ticket(ticket_id) == []
    assert desk.cases.find(serial="VIN-old") == []


def test_a_repair_opened_and_assessed_is_one_commit(desk: Desk, ticket_id: str) -> None:
    case = desk.cases.open_repair(ticket_id, serial="SN-1", line=phone())
    assert [e.trigger for e in desk.cases.history(case.id)] == ["created", "accept_claim"]
    assert case.created_at == case.updated_at
    assert case.created_at - timedelta(0) == desk.cases.history(case.id)[-1].at


def test_a_replacement_after_the_parts_wait_ends_the_repair_that_waited(
    desk: Desk, ticket_id: str, clock: FrozenClock
) -> None:
    case = desk.cases.open_repair(ticket_id, serial="SN-parts", line=phone())
    handed_in = clock.now()
    desk.cases.fire(case.id, "hand_in")
    desk.cases.fire(case.id, "diagnose", payload={"diagnosis": "board"})
    desk.cases.fire(case.id, "start_repair")
    desk.cases.fire(case.id, "wait_for_parts", payload={"part": "main board"})
    clock.advance(days=91)
    desk.run_due()
    replaced = desk.cases.fire(case.id, "accept_replacement")
    assert replaced.repair is not None
    waited, replacement = replaced.repair.records
    assert (waited.outcome.value, waited.handed_in_at, waited.handed_back_at) == (
        "failed",
        handed_in,
        clock.now(),
    )
    assert waited.waiting_for_parts_days == 91
    assert (replacement.outcome.value, replacement.handed_in_at) == ("replaced", clock.now())
    assert desk.cases.replay(case.id) == replaced
