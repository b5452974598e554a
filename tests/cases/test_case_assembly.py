"""Cases the desk assembles from valid parts without validating them again (a return's
request, the refund it opens) are the records validation would make of the same parts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from case_facts import claim_line

from aftersales import Case, Desk, FrozenClock, InvalidInput
from aftersales.storage import Store


def assert_as_validated(case: Case) -> None:
    """Every field set, and equal to the case validation builds from its own data."""
    assert set(case.__dict__) == set(Case.model_fields)
    assert Case.model_validate(case.model_dump()) == case
    assert case.created_at.tzinfo is timezone.utc


def returned_and_refunded(desk: Desk) -> tuple[Case, Case]:
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="退货")
    case = desk.cases.request_return(
        ticket.id, order_id="o-1", lines=[claim_line()], instructions={"method": "label"}
    )
    desk.cases.fire(case.id, "receive", payload={"units": {"l1": 2}})
    desk.cases.fire(case.id, "inspect", payload={"results": {"l1": ["restock", "restock"]}})
    refund_id = desk.cases.fire(case.id, "refund").refund_case_id
    assert refund_id is not None
    return desk.cases.get(case.id), desk.cases.get(refund_id)


def test_a_return_and_its_refund_are_the_cases_validation_makes(desk: Desk) -> None:
    returned, refund = returned_and_refunded(desk)
    for case in (returned, refund):
        assert_as_validated(case)
        assert desk.cases.replay(case.id) == case
    assert refund.parent_id == returned.id
    assert refund.customer_id == returned.customer_id == "c-1"


def test_a_clock_in_another_zone_still_gives_utc_instants(store: Store) -> None:
    beijing = timezone(timedelta(hours=8))
    desk = Desk(store, clock=FrozenClock(datetime(2024, 3, 4, 17, tzinfo=beijing)))
    returned, refund = returned_and_refunded(desk)
    for case in (returned, refund):
        assert_as_validated(case)
        assert case.created_at == datetime(2024, 3, 4, 9, tzinfo=timezone.utc)


@pytest.mark.parametrize("year", [1850, 2300])
def test_a_clock_out_of_range_is_refused_and_opens_nothing(
    desk: Desk, clock: FrozenClock, year: int
) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="退货")
    clock.set(datetime(year, 3, 4, 9, tzinfo=timezone.utc))
    with pytest.raises(InvalidInput):
        desk.cases.request_return(ticket.id, order_id="o-1", lines=[claim_line()])
    assert desk.cases.for_ticket(ticket.id) == []
