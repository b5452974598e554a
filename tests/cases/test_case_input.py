"""Wrong input to the case desk raises InvalidInput and stores nothing (issue 15)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from case_facts import claim_line, phone

from aftersales import Desk, FrozenClock, InvalidInput, Store

BAD_TEXT = ["\ud800", "a\x00b", "tab\there", "", {}, 7, None]
"""Lone surrogate, NUL, a control character, empty, and things that are not text."""


@pytest.fixture
def ticket_id(desk: Desk) -> str:
    return desk.open_ticket(customer="c-1", channel="app", subject="after-sales").id


def stored(desk: Desk) -> list[tuple[str, int]]:
    return sorted((c.id, c.version) for c in desk.cases.find())


def refuses(desk: Desk, call: Callable[[], Any]) -> InvalidInput:
    before = stored(desk)
    with pytest.raises(InvalidInput) as raised:
        call()
    assert stored(desk) == before
    return raised.value


REFUND_LINE = {
    "line_id": "l1",
    "quantity": 1,
    "bought": 1,
    "unit_price": {"amount": "10.00", "currency": "CNY"},
}


@pytest.mark.parametrize("lines", [None, 0, "l1", {"line_id": "l1"}, [None], b"x"])
def test_order_lines_that_are_not_a_list_of_lines_are_bad_input(
    desk: Desk, ticket_id: str, lines: Any
) -> None:
    refuses(desk, lambda: desk.cases.request_return(ticket_id, order_id="o", lines=lines))
    refuses(desk, lambda: desk.cases.open_refund(ticket_id, order_id="o", lines=lines))


def test_a_case_has_at_most_max_case_lines_order_lines(store: Store, clock: FrozenClock) -> None:
    assert Desk(clock=clock).cases.max_lines == 500
    desk = Desk(store, clock=clock, settings={"max_case_lines": 3})
    ticket_id = desk.open_ticket(customer="c-1", channel="app", subject="退货").id
    four = [claim_line(f"l{n}", claimed=1) for n in range(4)]
    error = refuses(desk, lambda: desk.cases.request_return(ticket_id, order_id="o", lines=four))
    assert "at most 3 order lines" in str(error)
    refunds = [{**REFUND_LINE, "line_id": f"l{n}"} for n in range(4)]
    refuses(desk, lambda: desk.cases.open_refund(ticket_id, order_id="o", lines=refunds))
    endless = (claim_line(f"l{n}", claimed=1) for n in range(10**9))
    refuses(desk, lambda: desk.cases.request_return(ticket_id, order_id="o", lines=endless))
    assert desk.cases.request_return(ticket_id, order_id="o", lines=four[:3]).status == "approved"


def test_an_amount_too_large_for_money_is_bad_input(desk: Desk, ticket_id: str) -> None:
    huge = claim_line(price="1e30")
    refuses(desk, lambda: desk.cases.request_return(ticket_id, order_id="o", lines=[huge]))
    exchange = claim_line(kind="exchange", price="1e30")
    refuses(
        desk,
        lambda: desk.cases.request_exchange(
            ticket_id, order_id="o", line=exchange, replacement_sku="SKU-2"
        ),
    )
    refuses(desk, lambda: desk.cases.open_repair(ticket_id, serial="SN", line=phone(price="1e30")))
    refuses(
        desk,
        lambda: desk.cases.open_refund(
            ticket_id,
            order_id="o",
            lines=[REFUND_LINE],
            amount={"amount": "1e30", "currency": "CNY"},
        ),
    )


@pytest.mark.parametrize("bad", BAD_TEXT)
def test_ids_and_actors_with_control_characters_or_lone_surrogates_are_bad_input(
    desk: Desk, ticket_id: str, bad: Any
) -> None:
    case = desk.cases.open_complaint(ticket_id, summary="late")
    refuses(desk, lambda: desk.cases.get(bad))
    refuses(desk, lambda: desk.cases.history(bad))
    refuses(desk, lambda: desk.cases.fire(bad, "acknowledge"))
    refuses(desk, lambda: desk.cases.fire(case.id, "acknowledge", actor=bad))
    refuses(desk, lambda: desk.cases.open_complaint(ticket_id, summary="x", actor=bad))
    refuses(desk, lambda: desk.cases.open_complaint(bad, summary="x"))
    if bad is not None:  # a complaint may name no order
        refuses(desk, lambda: desk.cases.open_complaint(ticket_id, summary="x", order_id=bad))
    line = [claim_line()]
    refuses(desk, lambda: desk.cases.request_return(ticket_id, order_id=bad, lines=line))
    refuses(desk, lambda: desk.cases.request_return(ticket_id, order_id="o", lines=line, actor=bad))
    refuses(desk, lambda: desk.cases.open_refund(ticket_id, order_id=bad, lines=[REFUND_LINE]))
    refuses(desk, lambda: desk.cases.open_repair(ticket_id, serial=bad, line=phone()))
    refuses(desk, lambda: desk.cases.open_repair(ticket_id, serial="SN", line=phone(), actor=bad))
    refuses(desk, lambda: desk.cases.assess_repair(bad))
    refuses(desk, lambda: desk.cases.reserve_replacement(bad))
    assert desk.cases.get(case.id).version == 1


@pytest.mark.parametrize("version", ["1", 1.0, -1, True, 2**70])
def test_an_expected_version_that_is_not_a_version_is_bad_input(
    desk: Desk, ticket_id: str, version: Any
) -> None:
    case = desk.cases.open_complaint(ticket_id, summary="late")
    refuses(desk, lambda: desk.cases.fire(case.id, "acknowledge", expected_version=version))


@pytest.mark.parametrize("limit", ["", 0, -1, 2**70, None])
def test_run_due_with_a_limit_that_is_not_a_count_is_bad_input(desk: Desk, limit: Any) -> None:
    with pytest.raises(InvalidInput):
        desk.cases.run_due(desk.clock.now(), limit=limit)
