"""Refunds pay what the decision grants, never more than was paid, from the right day, by the
method asked for."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from case_facts import claim_line

from aftersales import Desk, FrozenClock, InvalidInput, Store
from aftersales.policies import (
    Duration,
    Facts,
    PolicySet,
    RefundTerms,
    ReturnWindowRule,
    decide,
)


@pytest.fixture
def ticket_id(desk: Desk) -> str:
    return desk.open_ticket(customer="c-1", channel="app", subject="refund").id


def _inspected(desk: Desk, ticket_id: str, line: dict[str, Any], results: list[str]) -> str:
    case = desk.cases.request_return(ticket_id, order_id="o-1", lines=[line])
    assert case.status == "approved"
    desk.cases.fire(case.id, "send_instructions", payload={"method": "label"})
    desk.cases.fire(case.id, "receive", payload={"units": {line["line_id"]: len(results)}})
    desk.cases.fire(case.id, "inspect", payload={"results": {line["line_id"]: results}})
    return case.id


def eu_line(**order: Any) -> dict[str, Any]:
    """A dress bought in Germany, 59.99 EUR plus 4.99 EUR standard delivery, withdrawn."""
    return {
        "line_id": "l1",
        "facts": {
            "jurisdiction": "eu",
            "product": {"category": "apparel", "sku": "DRESS"},
            "order": {
                "purchased_at": "2024-02-26T10:00:00+01:00",
                "delivered_at": "2024-02-28T15:00:00+01:00",
                "unit_price": {"amount": "59.99", "currency": "EUR"},
                "shipping_paid": {"amount": "4.99", "currency": "EUR"},
                "quantity": 1,
                **order,
            },
            "claim": {"at": "2024-03-04T10:00:00+01:00", "kind": "no_reason_return"},
        },
    }


def test_an_eu_withdrawal_refunds_the_price_and_the_standard_delivery(
    desk: Desk, ticket_id: str
) -> None:
    line = eu_line()
    decision = decide(Facts.model_validate(line["facts"]))
    assert decision.refund is not None
    assert decision.refund.net == Decimal("64.98")  # Directive 2011/83/EU art. 13
    return_id = _inspected(desk, ticket_id, line, ["restock"])
    returned = desk.cases.fire(return_id, "refund")
    assert returned.status == "refunded"
    refund = desk.cases.get(returned.refund_case_id or "")
    assert refund.refund is not None
    assert refund.refund.amount.amount == Decimal("64.98")
    assert refund.refund.amount.currency == "EUR"


def test_a_refund_request_cannot_raise_the_price_of_a_line_the_order_facts_state(
    desk: Desk, ticket_id: str
) -> None:
    return_id = _inspected(desk, ticket_id, claim_line(bought=3, claimed=2), ["restock"] * 2)
    desk.cases.fire(return_id, "refund")  # 200 of the 300 paid
    before = [(c.id, c.version) for c in desk.cases.for_ticket(ticket_id)]
    inflated = {
        "line_id": "l1",
        "quantity": 1,
        "bought": 1,
        "unit_price": {"amount": "5000.00", "currency": "CNY"},
    }
    with pytest.raises(InvalidInput, match=r"sold at 100\.00 CNY a unit, not 5000\.00"):
        desk.cases.open_refund(
            ticket_id,
            order_id="o-1",
            lines=[inflated],
            amount={"amount": "4900", "currency": "CNY"},
        )
    honest = {
        **inflated,
        "quantity": 2,
        "bought": 3,
        "unit_price": {"amount": "100.00", "currency": "CNY"},
    }
    with pytest.raises(InvalidInput, match=r"more than the 300\.00 paid \(200\.00 refunded"):
        desk.cases.open_refund(
            ticket_id,
            order_id="o-1",
            lines=[honest],
            amount={"amount": "100.01", "currency": "CNY"},
        )
    assert [(c.id, c.version) for c in desk.cases.for_ticket(ticket_id)] == before
    last = desk.cases.open_refund(
        ticket_id, order_id="o-1", lines=[honest], amount={"amount": "100", "currency": "CNY"}
    )
    assert last.refund is not None
    assert last.refund.amount.amount == Decimal("100.00")


def test_a_second_goodwill_refund_cannot_restate_the_price_of_the_first(
    desk: Desk, ticket_id: str
) -> None:
    line = {
        "line_id": "l1",
        "quantity": 1,
        "bought": 1,
        "unit_price": {"amount": "100.00", "currency": "CNY"},
    }
    desk.cases.open_refund(ticket_id, order_id="o-2", lines=[line])
    with pytest.raises(InvalidInput, match=r"sold at 100\.00 CNY a unit"):
        desk.cases.open_refund(
            ticket_id,
            order_id="o-2",
            lines=[{**line, "unit_price": {"amount": "5000.00", "currency": "CNY"}}],
        )
    refunds = desk.cases.find(order_id="o-2", kind="refund")
    assert sum(c.refund.amount.amount for c in refunds if c.refund) == Decimal("100.00")


def test_a_refund_due_from_the_goods_received_counts_from_their_arrival_not_the_inspection(
    desk: Desk, ticket_id: str, clock: FrozenClock
) -> None:
    case = desk.cases.request_return(ticket_id, order_id="o-1", lines=[claim_line(claimed=1)])
    desk.cases.fire(case.id, "send_instructions", payload={"method": "label"})
    received_on = clock.now().date()
    desk.cases.fire(case.id, "receive", payload={"units": {"l1": 1}})
    clock.advance(days=5)  # a slow inspection
    desk.cases.fire(case.id, "inspect", payload={"results": {"l1": ["restock"]}})
    refund_id = desk.cases.fire(case.id, "refund").refund_case_id
    refund = desk.cases.get(refund_id or "").refund
    assert refund is not None
    # 办法 art. 13: 7 days from receiving the goods; art. 31: sanctionable after 15
    assert refund.due_by == received_on + timedelta(days=7) == date(2024, 3, 11)
    assert refund.sanctionable_after == received_on + timedelta(days=15)


@pytest.mark.parametrize("method", ["store_credit", "voucher", "original_payment"])
def test_a_refund_is_paid_by_the_method_asked_for(desk: Desk, ticket_id: str, method: str) -> None:
    line = claim_line(claimed=1, payments=(("card", "200.00"), ("points", "100.00")))
    return_id = _inspected(desk, ticket_id, line, ["restock"])
    returned = desk.cases.fire(return_id, "refund", payload={"method": method})
    refund = desk.cases.get(returned.refund_case_id or "").refund
    assert refund is not None
    assert refund.method.value == method
    assert refund.amount.amount == Decimal("100.00")
    # a split over the order's payment methods only when the money goes back to them
    expected = {"card": Decimal("66.67"), "points": Decimal("33.33")}
    assert refund.per_method == (expected if method == "original_payment" else {})


def test_a_refund_in_working_days_from_the_goods_received_skips_chinas_national_day(
    store: Store,
) -> None:
    policy = PolicySet(
        name="shop-returns",
        jurisdiction="cn",
        time_zone="Asia/Shanghai",
        rules=(
            ReturnWindowRule(
                period=Duration(days=7),
                refund=RefundTerms(
                    days=3, working_days=True, counted_from="goods_received", holiday_country="CN"
                ),
            ),
        ),
    )
    # Monday 30 September 2024, 10:00 in Shanghai: the goods arrive the day before the
    # National Day holiday (1-7 October)
    clock = FrozenClock(datetime(2024, 9, 30, 2, tzinfo=timezone.utc))
    desk = Desk(store, clock=clock, policy=policy, settings={"time_zone": "Asia/Shanghai"})
    ticket_id = desk.open_ticket(customer="c-1", channel="app", subject="退货").id
    line = claim_line(
        claimed=1,
        purchased="2024-09-20T10:00:00+08:00",
        delivered="2024-09-25T10:00:00+08:00",
        claim_at="2024-09-26T10:00:00+08:00",
    )
    case = desk.cases.request_return(ticket_id, order_id="o-1", lines=[line])
    desk.cases.fire(case.id, "send_instructions", payload={"method": "label"})
    desk.cases.fire(case.id, "receive", payload={"units": {"l1": 1}})
    desk.cases.fire(case.id, "inspect", payload={"results": {"l1": ["restock"]}})
    refund_id = desk.cases.fire(case.id, "refund").refund_case_id
    refund = desk.cases.get(refund_id or "").refund
    assert refund is not None
    # Tuesday 8, Wednesday 9, Thursday 10 October: the first three working days after it
    assert refund.due_by == date(2024, 10, 10)
