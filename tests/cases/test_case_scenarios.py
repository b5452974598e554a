"""After-sales workflows end to end, on the memory store and on SQLite."""

from __future__ import annotations

from decimal import Decimal

import pytest
from case_facts import CARE_ROUTING, claim_line, phone

from aftersales import (
    CaseKind,
    Desk,
    FrozenClock,
    MemoryInventory,
    TransitionRefused,
)
from aftersales.policies import Facts, decide


@pytest.fixture
def ticket_id(desk: Desk) -> str:
    return desk.open_ticket(customer="c-1", channel="app", subject="after-sales").id


def assert_replays(desk: Desk, *case_ids: str) -> None:
    for case_id in case_ids:
        stored = desk.cases.get(case_id)
        assert desk.cases.replay(case_id) == stored
        history = desk.cases.history(case_id)
        assert [e.sequence for e in history] == list(range(1, stored.version + 1))
        assert history[-1].to_state == stored.status


def test_a_partial_return_with_one_damaged_unit_refunds_the_decisions_share(
    desk: Desk, ticket_id: str
) -> None:
    line = claim_line(bought=3, claimed=2, payments=(("card", "200.00"), ("points", "100.00")))
    decision = decide(Facts.model_validate(line["facts"]))
    case = desk.cases.request_return(ticket_id, order_id="o-1", lines=[line])
    assert case.status == "approved"
    assert case.lines[0].decision == decision
    desk.cases.fire(case.id, "send_instructions", payload={"method": "label", "tracking": "SF1"})
    desk.cases.fire(case.id, "receive", payload={"units": {"l1": 2}})
    desk.cases.fire(case.id, "inspect", payload={"results": {"l1": ["restock", "damaged"]}})
    returned = desk.cases.fire(case.id, "refund")
    assert returned.status == "refunded"
    [refund] = desk.cases.find(parent_id=case.id)
    assert returned.refund_case_id == refund.id
    assert refund.refund is not None
    assert decision.refund is not None
    assert refund.refund.amount.amount == decision.refund.net / 2 == Decimal("100.00")
    assert refund.refund.per_method == {"card": Decimal("66.66"), "points": Decimal("33.34")}
    assert sum(refund.refund.per_method.values()) == refund.refund.amount.amount
    assert refund.lines[0].quantity == 1
    desk.cases.fire(refund.id, "process")
    desk.cases.fire(refund.id, "succeed", payload={"reference": "PSP-9"})
    assert desk.cases.get(case.id).status == "closed"
    assert {(c.kind, c.status) for c in desk.cases.for_ticket(ticket_id)} == {
        (CaseKind.RETURN, "closed"),
        (CaseKind.REFUND, "succeeded"),
    }
    assert_replays(desk, case.id, refund.id)


def test_a_return_outside_the_window_is_refused_with_the_policys_reasons(
    desk: Desk, ticket_id: str
) -> None:
    late = claim_line(claim_at="2024-03-20T10:00:00+08:00")
    case = desk.cases.request_return(ticket_id, order_id="o-1", lines=[late], decide_now=False)
    with pytest.raises(TransitionRefused) as refused:
        desk.cases.fire(case.id, "approve")
    refusal = refused.value.refusal
    assert refusal.code == "window_passed"
    assert "2024-03-06" in refusal.message
    assert "2024-03-06" in (refusal.message_zh or "")
    assert "届满" in (refusal.message_zh or "")
    refused_case = desk.cases.fire(case.id, "refuse")
    assert refused_case.status == "refused"
    assert refused_case.reason == "window_passed"
    assert refused_case.closed_at is not None
    assert_replays(desk, case.id)


def test_a_second_return_may_take_only_what_is_left(desk: Desk, ticket_id: str) -> None:
    desk.cases.request_return(ticket_id, order_id="o-1", lines=[claim_line(claimed=2)])
    second = desk.cases.request_return(ticket_id, order_id="o-1", lines=[claim_line(claimed=1)])
    assert second.status == "approved"
    cancelled = desk.cases.fire(second.id, "cancel", payload={"reason": "changed my mind"})
    assert cancelled.status == "cancelled"
    again = desk.cases.request_return(ticket_id, order_id="o-1", lines=[claim_line(claimed=1)])
    assert again.status == "approved"


def test_an_exchange_falls_back_to_a_refund_when_the_replacement_is_out_of_stock(
    store, clock: FrozenClock
) -> None:
    desk = Desk(store, clock=clock, inventory=MemoryInventory({"SKU-big": 0}))
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="wrong size")
    line = claim_line(kind="exchange", category="mobile_phone", bought=1, claimed=1)
    case = desk.cases.request_exchange(
        ticket.id, order_id="o-1", line=line, replacement_sku="SKU-big"
    )
    assert case.status == "approved"
    desk.cases.fire(case.id, "send_instructions", payload={"method": "pickup"})
    desk.cases.fire(case.id, "receive", payload={"units": {"l1": 1}})
    desk.cases.fire(case.id, "inspect", payload={"results": {"l1": ["restock"]}})
    fallen_back = desk.cases.reserve_replacement(case.id)
    assert fallen_back.status == "refunded"
    assert fallen_back.exchange is not None
    assert fallen_back.exchange.out_of_stock
    [refund] = desk.cases.find(parent_id=case.id, kind="refund")
    assert fallen_back.refund_case_id == refund.id
    assert refund.refund is not None
    assert refund.refund.amount.amount == Decimal("100.00")
    desk.cases.fire(refund.id, "process")
    desk.cases.fire(refund.id, "fail", payload={"error": "card expired"})
    desk.cases.fire(refund.id, "retry")
    desk.cases.fire(refund.id, "succeed")
    assert desk.cases.get(refund.id).refund.attempts == 2  # type: ignore[union-attr]
    assert desk.cases.get(case.id).status == "closed"
    assert_replays(desk, case.id, refund.id)


def test_an_exchange_with_stock_ships_the_replacement(store, clock: FrozenClock) -> None:
    inventory = MemoryInventory({"SKU-big": 5})
    desk = Desk(store, clock=clock, inventory=inventory)
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="wrong size")
    line = claim_line(kind="exchange", category="mobile_phone", bought=1, claimed=1)
    case = desk.cases.request_exchange(
        ticket.id, order_id="o-1", line=line, replacement_sku="SKU-big"
    )
    desk.cases.fire(case.id, "send_instructions", payload={"method": "label"})
    desk.cases.fire(case.id, "receive", payload={"units": {"l1": 1}})
    desk.cases.fire(case.id, "inspect", payload={"results": {"l1": ["not_as_described"]}})
    assert desk.cases.reserve_replacement(case.id).status == "replacement_reserved"
    assert inventory.stock["SKU-big"] == 4
    desk.cases.fire(case.id, "ship", payload={"carrier": "SF", "tracking": "SF2"})
    desk.cases.fire(case.id, "deliver")
    closed = desk.cases.fire(case.id, "close")
    assert closed.exchange is not None
    assert closed.exchange.tracking == "SF2"
    assert_replays(desk, case.id)


def repair_to_hand_back(desk: Desk, case_id: str, *, fail_qc: int = 0) -> None:
    desk.cases.fire(case_id, "hand_in", payload={"site": "depot"})
    desk.cases.fire(case_id, "diagnose", payload={"diagnosis": "charging port worn"})
    desk.cases.fire(case_id, "start_repair")
    for _ in range(fail_qc):
        desk.cases.fire(case_id, "finish_repair")
        desk.cases.fire(case_id, "fail_qc", payload={"reason": "still not charging"})
    desk.cases.fire(case_id, "finish_repair")
    desk.cases.fire(case_id, "pass_qc")
    desk.cases.fire(case_id, "hand_back")


def test_a_warranty_repair_that_fails_quality_check_once(
    desk: Desk, ticket_id: str, clock: FrozenClock
) -> None:
    case = desk.cases.open_repair(ticket_id, serial="IMEI-1", line=phone(), order_id="o-2")
    assert case.status == "awaiting_device"
    assert case.repair is not None
    assert case.repair.in_warranty
    repair_to_hand_back(desk, case.id, fail_qc=1)
    returned = desk.cases.get(case.id)
    assert returned.status == "returned"
    assert returned.repair is not None
    assert returned.repair.qc_failures == 1
    [record] = desk.cases.repair_history("IMEI-1")
    assert record.outcome.value == "fixed"
    assert record.handed_back_at is not None
    assert [e.trigger for e in desk.cases.history(case.id)].count("fail_qc") == 1
    assert desk.cases.fire(case.id, "close").status == "closed"
    assert_replays(desk, case.id)


def test_a_second_failed_repair_leads_to_a_replacement_offer(
    desk: Desk, ticket_id: str, clock: FrozenClock
) -> None:
    case = desk.cases.open_repair(ticket_id, serial="IMEI-2", line=phone())
    for attempt in (1, 2):
        repair_to_hand_back(desk, case.id)
        clock.advance(days=10)
        failed = desk.cases.fire(case.id, "report_failure", payload={"reason": "dead again"})
        assert failed.status == "claimed"
        assessed = desk.cases.assess_repair(case.id)
        if attempt == 1:
            assert assessed.status == "awaiting_device"
    assert assessed.status == "replacement_offered"
    assert assessed.repair is not None
    assert assessed.repair.replacement_reason == "failed_repairs"
    decision = assessed.lines[0].decision
    assert decision is not None
    assert "failed_repairs" in decision.codes
    replaced = desk.cases.fire(case.id, "accept_replacement")
    assert replaced.status == "replaced"
    assert_replays(desk, case.id)


def test_an_out_of_warranty_quote_declined(desk: Desk, ticket_id: str) -> None:
    old = phone(purchased="2022-01-10T10:00:00+08:00", delivered="2022-01-11T10:00:00+08:00")
    case = desk.cases.open_repair(ticket_id, serial="IMEI-3", line=old)
    assert case.status == "claimed"
    assert case.repair is not None
    assert case.repair.in_warranty is False
    assert case.lines[0].decision is not None
    assert case.lines[0].decision.codes == ("warranty_expired",)
    with pytest.raises(TransitionRefused) as refused:
        desk.cases.fire(case.id, "accept_claim")
    assert refused.value.refusal.code == "warranty_expired"
    quoted = desk.cases.fire(
        case.id, "quote", payload={"amount": {"amount": "480.00", "currency": "CNY"}}
    )
    assert quoted.status == "quoted"
    declined = desk.cases.fire(case.id, "decline_quote")
    assert declined.status == "declined"
    assert declined.repair is not None
    assert declined.repair.quote_accepted is False
    assert [e.trigger for e in desk.cases.history(case.id)] == [
        "created",
        "assessed",
        "quote",
        "decline_quote",
    ]
    assert_replays(desk, case.id)


def test_a_complaint_escalated_and_signed_off(store, clock: FrozenClock) -> None:
    desk = Desk(store, clock=clock, routing=CARE_ROUTING)
    ticket_id = desk.open_ticket(customer="c-1", channel="app", subject="courier").id
    case = desk.cases.open_complaint(ticket_id, summary="Courier threw the parcel", severity="high")
    desk.cases.fire(case.id, "acknowledge", actor="agent-1")
    desk.cases.fire(case.id, "investigate", actor="agent-1")
    desk.cases.fire(
        case.id,
        "escalate",
        actor="agent-1",
        payload={"supervisor": "sup-wang", "reason": "customer asks for compensation"},
    )
    with pytest.raises(TransitionRefused) as refused:
        desk.cases.fire(case.id, "sign_off", actor="agent-2", payload={"note": "ok"})
    assert refused.value.refusal.code == "not_the_supervisor"
    signed = desk.cases.fire(
        case.id, "sign_off", actor="sup-wang", payload={"note": "voucher of 50 CNY"}
    )
    assert signed.complaint is not None
    assert (signed.complaint.signed_off_by, signed.complaint.sign_off_note) == (
        "sup-wang",
        "voucher of 50 CNY",
    )
    closed = desk.cases.fire(case.id, "close", actor="sup-wang")
    assert closed.status == "closed"
    assert closed.complaint == signed.complaint
    assert_replays(desk, case.id)


def test_an_escalated_complaint_cannot_close_without_the_sign_off(
    store, clock: FrozenClock
) -> None:
    desk = Desk(store, clock=clock, routing=CARE_ROUTING)
    ticket_id = desk.open_ticket(customer="c-1", channel="app", subject="rude").id
    case = desk.cases.open_complaint(ticket_id, summary="Rude agent")
    desk.cases.fire(case.id, "acknowledge")
    desk.cases.fire(case.id, "escalate", payload={"reason": "angry"})
    desk.cases.fire(case.id, "propose", actor="sup-wang", payload={"proposal": "apology"})
    desk.cases.fire(case.id, "accept")
    with pytest.raises(TransitionRefused) as refused:
        desk.cases.fire(case.id, "close")
    assert refused.value.refusal.code == "sign_off_missing"
    assert desk.cases.get(case.id).status == "accepted"
    # the accepted resolution is signed off by the supervisor, then the complaint closes
    signed = desk.cases.fire(case.id, "sign_off", actor="sup-wang", payload={"note": "ok"})
    assert signed.status == "signed_off"
    assert desk.cases.fire(case.id, "close").status == "closed"
    assert_replays(desk, case.id)


def test_a_complaint_the_customer_accepts_closes_without_a_supervisor(
    desk: Desk, ticket_id: str
) -> None:
    case = desk.cases.open_complaint(ticket_id, summary="Late delivery")
    for trigger, payload in (
        ("acknowledge", None),
        ("investigate", None),
        ("propose", {"proposal": "refund shipping"}),
        ("reject", None),
        ("propose", {"proposal": "refund shipping and a voucher"}),
        ("accept", None),
        ("close", None),
    ):
        case = desk.cases.fire(case.id, trigger, payload=payload)
    assert case.status == "closed"
    assert case.complaint is not None
    assert case.complaint.proposal == "refund shipping and a voucher"
    assert case.complaint.acknowledged_at is not None


def test_counting_units_records_only_the_counts_not_every_line_again(
    desk: Desk, ticket_id: str
) -> None:
    lines = [claim_line("l1", bought=3, claimed=2), claim_line("l2", bought=1, claimed=1)]
    case = desk.cases.request_return(ticket_id, order_id="o-1", lines=lines)
    desk.cases.fire(case.id, "send_instructions", payload={"method": "label"})
    desk.cases.fire(case.id, "receive", payload={"units": {"l1": 2}})
    desk.cases.fire(case.id, "inspect", payload={"results": {"l1": ["restock"]}})
    *_, received, inspected = desk.cases.history(case.id)
    assert received.changes["line_changes"] == {
        "l1": {"received": 2, "received_at": received.at.isoformat()}
    }
    assert inspected.changes["line_changes"] == {"l1": {"inspections": ["restock"]}}
    assert "lines" not in received.changes
    assert_replays(desk, case.id)


def test_a_return_label_can_go_out_with_the_approval_in_one_transaction(
    desk: Desk, ticket_id: str
) -> None:
    case = desk.cases.request_return(
        ticket_id,
        order_id="o-1",
        lines=[claim_line()],
        instructions={"method": "label", "carrier": "SF", "tracking": "SF1"},
    )
    assert case.status == "awaiting_goods"
    assert case.logistics is not None
    assert case.logistics.tracking == "SF1"
    assert [e.trigger for e in desk.cases.history(case.id)] == [
        "created",
        "approve",
        "send_instructions",
    ]
    assert_replays(desk, case.id)
    refused = desk.cases.request_return(
        ticket_id,
        order_id="o-2",
        lines=[claim_line(claim_at="2024-03-20T10:00:00+08:00")],
        instructions={"method": "label"},
    )
    assert (refused.status, refused.logistics) == ("refused", None)


def _inspected_return(desk: Desk, results: list[str], **line: object) -> str:
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="wrong colour")
    case = desk.cases.request_return(
        ticket.id, order_id="o-1", lines=[claim_line(claimed=len(results), **line)]
    )
    desk.cases.fire(case.id, "send_instructions", payload={"method": "label"})
    desk.cases.fire(case.id, "receive", payload={"units": {"l1": len(results)}})
    desk.cases.fire(case.id, "inspect", payload={"results": {"l1": results}})
    return case.id


def test_an_exchange_on_a_return_opens_the_exchange_that_ships_the_replacement(
    store, clock: FrozenClock
) -> None:
    inventory = MemoryInventory({"SKU-blue": 5})
    desk = Desk(store, clock=clock, inventory=inventory)
    return_id = _inspected_return(desk, ["restock", "damaged"], bought=3)
    returned = desk.cases.fire(return_id, "exchange", payload={"replacement_sku": "SKU-blue"})
    assert returned.status == "exchanged"
    assert returned.exchange is not None
    assert returned.exchange.replacement_sku == "SKU-blue"
    [exchange] = desk.cases.find(parent_id=return_id, kind="exchange")
    assert returned.exchange_case_id == exchange.id
    # only the unit that passed inspection is replaced, and it needs no second inspection
    assert exchange.status == "inspected"
    assert [(line.received, line.refundable_units) for line in exchange.lines] == [(1, 1)]
    assert desk.cases.reserve_replacement(exchange.id).status == "replacement_reserved"
    assert inventory.stock["SKU-blue"] == 4
    desk.cases.fire(exchange.id, "ship", payload={"carrier": "SF", "tracking": "SF3"})
    assert desk.cases.get(return_id).status == "exchanged"
    desk.cases.fire(exchange.id, "deliver")
    assert desk.cases.get(return_id).status == "closed"
    # the exchange ships what the return took back: the order's third unit is still free
    ticket_id = returned.ticket_id
    last = desk.cases.request_return(ticket_id, order_id="o-1", lines=[claim_line(claimed=1)])
    assert last.status == "approved"
    assert_replays(desk, return_id, exchange.id)


def test_a_returns_exchange_out_of_stock_refunds_by_its_decision_and_closes_the_chain(
    store, clock: FrozenClock
) -> None:
    desk = Desk(store, clock=clock, inventory=MemoryInventory({"SKU-blue": 0}))
    return_id = _inspected_return(
        desk, ["restock", "damaged"], payments=(("card", "200.00"), ("points", "100.00"))
    )
    desk.cases.fire(return_id, "exchange", payload={"replacement_sku": "SKU-blue"})
    exchange_id = desk.cases.get(return_id).exchange_case_id
    assert exchange_id is not None
    assert desk.cases.reserve_replacement(exchange_id).status == "refunded"
    [refund] = desk.cases.find(parent_id=exchange_id, kind="refund")
    assert refund.refund is not None
    # the share of the return's policy decision, as a refund of the return would pay
    assert refund.refund.amount.amount == Decimal("100.00")
    assert refund.refund.per_method == {"card": Decimal("66.66"), "points": Decimal("33.34")}
    desk.cases.fire(refund.id, "process")
    desk.cases.fire(refund.id, "succeed", payload={"reference": "PSP-10"})
    assert desk.cases.get(exchange_id).status == "closed"
    assert desk.cases.get(return_id).status == "closed"
    assert_replays(desk, return_id, exchange_id, refund.id)


def test_a_return_with_nothing_that_passed_inspection_cannot_be_exchanged(desk: Desk) -> None:
    return_id = _inspected_return(desk, ["damaged"])
    with pytest.raises(TransitionRefused) as refused:
        desk.cases.fire(return_id, "exchange", payload={"replacement_sku": "SKU-blue"})
    assert refused.value.refusal.code == "nothing_exchangeable"
    assert desk.cases.find(parent_id=return_id) == []
    assert desk.cases.get(return_id).status == "inspected"
