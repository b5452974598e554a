"""Bad input changes nothing; overdue steps are acted on by run_due."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from case_facts import claim_line, phone

from aftersales import (
    CaseNotFound,
    Desk,
    FrozenClock,
    InvalidInput,
    SQLiteStore,
    Store,
    TicketNotFound,
    TriggerNotAllowed,
)
from aftersales.testing.contracts import race_for_the_last_units


@pytest.fixture
def ticket_id(desk: Desk) -> str:
    return desk.open_ticket(customer="c-1", channel="app", subject="after-sales").id


def snapshot(desk: Desk, ticket_id: str) -> list[tuple[str, int, int]]:
    return [
        (c.id, c.version, len(desk.cases.history(c.id))) for c in desk.cases.for_ticket(ticket_id)
    ]


def test_returning_more_than_bought_is_refused_and_stores_nothing(
    desk: Desk, ticket_id: str
) -> None:
    with pytest.raises(InvalidInput, match="quantity"):
        desk.cases.request_return(ticket_id, order_id="o", lines=[claim_line(claimed=4)])
    desk.cases.request_return(ticket_id, order_id="o", lines=[claim_line(claimed=2)])
    before = snapshot(desk, ticket_id)
    with pytest.raises(InvalidInput, match="only 1 of the 3 bought"):
        desk.cases.request_return(ticket_id, order_id="o", lines=[claim_line(claimed=2)])
    assert snapshot(desk, ticket_id) == before


def test_refunding_more_than_paid_is_refused_and_stores_nothing(desk: Desk, ticket_id: str) -> None:
    line = {
        "line_id": "l1",
        "quantity": 1,
        "bought": 2,
        "unit_price": {"amount": "50.00", "currency": "CNY"},
    }
    with pytest.raises(InvalidInput, match=r"more than the 50\.00"):
        desk.cases.open_refund(
            ticket_id, order_id="o", lines=[line], amount={"amount": "60", "currency": "CNY"}
        )
    first = desk.cases.open_refund(
        ticket_id,
        order_id="o",
        lines=[{**line, "quantity": 2}],
        amount={"amount": "80", "currency": "CNY"},
    )
    assert first.refund is not None
    assert first.refund.allocation == {"l1": Decimal("80")}
    before = snapshot(desk, ticket_id)
    with pytest.raises(InvalidInput, match=r"more than the 100\.00 paid"):
        desk.cases.open_refund(
            ticket_id,
            order_id="o",
            lines=[{**line, "quantity": 2}],
            amount={"amount": "30", "currency": "CNY"},
        )
    assert snapshot(desk, ticket_id) == before
    desk.cases.fire(first.id, "cancel", payload={"reason": "duplicate"})
    again = desk.cases.open_refund(ticket_id, order_id="o", lines=[line])
    assert again.refund is not None
    assert again.refund.amount.amount == Decimal("50.00")


def test_inspecting_a_unit_that_never_arrived_is_refused(desk: Desk, ticket_id: str) -> None:
    case = desk.cases.request_return(ticket_id, order_id="o", lines=[claim_line(claimed=2)])
    desk.cases.fire(
        case.id, "send_instructions", payload={"method": "address", "address": "仓库 3"}
    )
    received = desk.cases.fire(case.id, "receive", payload={"units": {"l1": 1}})
    with pytest.raises(InvalidInput, match="only 1 were received"):
        desk.cases.fire(case.id, "inspect", payload={"results": {"l1": ["restock", "restock"]}})
    with pytest.raises(InvalidInput, match="no order line 'l9'"):
        desk.cases.fire(case.id, "inspect", payload={"results": {"l9": ["restock"]}})
    with pytest.raises(InvalidInput, match="only 2 are being returned"):
        desk.cases.fire(case.id, "receive", payload={"units": {"l1": 2}})
    with pytest.raises(InvalidInput, match="results"):
        desk.cases.fire(case.id, "inspect", payload={"results": {"l1": ["lost in space"]}})
    assert desk.cases.get(case.id) == received
    assert len(desk.cases.history(case.id)) == received.version


def test_a_hand_back_before_the_hand_in_is_refused(
    desk: Desk, ticket_id: str, clock: FrozenClock
) -> None:
    case = desk.cases.open_repair(ticket_id, serial="SN-1", line=phone())
    desk.cases.fire(case.id, "hand_in")
    for trigger in ("diagnose", "start_repair", "finish_repair", "pass_qc"):
        payload = {"diagnosis": "battery"} if trigger == "diagnose" else None
        ready = desk.cases.fire(case.id, trigger, payload=payload)
    earlier = (clock.now() - timedelta(days=1)).isoformat()
    with pytest.raises(InvalidInput, match="before the hand-in"):
        desk.cases.fire(case.id, "hand_back", payload={"at": earlier})
    assert desk.cases.get(case.id) == ready


def test_unknown_cases_triggers_and_payloads_get_clear_errors(desk: Desk, ticket_id: str) -> None:
    with pytest.raises(CaseNotFound):
        desk.cases.fire("nope", "approve")
    with pytest.raises(TicketNotFound):
        desk.cases.open_complaint("nope", summary="x")
    case = desk.cases.open_complaint(ticket_id, summary="x")
    with pytest.raises(TriggerNotAllowed, match=r"complaint case .*allowed: acknowledge, escalate"):
        desk.cases.fire(case.id, "close")
    with pytest.raises(InvalidInput, match="reason"):
        desk.cases.fire(case.id, "escalate", payload={"supervisor": "sup-wang"})
    with pytest.raises(InvalidInput):
        desk.cases.request_return(ticket_id, order_id="o", lines=[])
    with pytest.raises(InvalidInput, match="appears twice"):
        desk.cases.request_return(ticket_id, order_id="o", lines=[claim_line(), claim_line()])
    with pytest.raises(InvalidInput, match="kind"):
        desk.cases.request_return(
            ticket_id, order_id="o", lines=[claim_line(kind="warranty_repair")]
        )
    with pytest.raises(InvalidInput, match="unknown workflow"):
        Desk(step_limits={"rma": {}})
    with pytest.raises(InvalidInput, match="unknown state"):
        Desk(step_limits={"return": {"limbo": {"hours": 1}}})
    with pytest.raises(InvalidInput, match="hours"):
        Desk(step_limits={"return": {"requested": {"hours": -1}}})
    assert desk.cases.get(case.id).version == 1


def test_run_due_cancels_a_return_whose_goods_never_came(
    desk: Desk, ticket_id: str, clock: FrozenClock
) -> None:
    case = desk.cases.request_return(ticket_id, order_id="o", lines=[claim_line()])
    waiting = desk.cases.fire(case.id, "send_instructions", payload={"method": "pickup"})
    assert waiting.step_due_at == clock.now() + timedelta(days=14)
    assert waiting.step_action == "expire"
    clock.advance(days=13)
    assert desk.run_due().cases == ()
    clock.advance(days=2)
    report = desk.run_due()
    assert [(d.case_id, d.action) for d in report.cases] == [(case.id, "expire")]
    expired = desk.cases.get(case.id)
    assert expired.status == "cancelled"
    assert expired.step_due_at is None
    assert desk.run_due().cases == ()


def test_run_due_reminds_about_an_open_quote_every_seven_days(
    desk: Desk, ticket_id: str, clock: FrozenClock
) -> None:
    old = phone(purchased="2022-01-10T10:00:00+08:00", delivered="2022-01-11T10:00:00+08:00")
    case = desk.cases.open_repair(ticket_id, serial="SN-2", line=old)
    desk.cases.fire(case.id, "quote", payload={"amount": {"amount": "300", "currency": "CNY"}})
    for reminders in (1, 2):
        clock.advance(days=7, seconds=1)
        assert [d.action for d in desk.run_due().cases] == ["remind"]
        repair = desk.cases.get(case.id).repair
        assert repair is not None
        assert repair.reminders == reminders
    accepted = desk.cases.fire(case.id, "accept_quote")
    assert accepted.repair is not None
    assert accepted.repair.quote_accepted


def test_run_due_offers_a_replacement_after_the_ninety_day_parts_wait(
    desk: Desk, ticket_id: str, clock: FrozenClock
) -> None:
    case = desk.cases.open_repair(ticket_id, serial="SN-3", line=phone())
    desk.cases.fire(case.id, "hand_in")
    desk.cases.fire(case.id, "diagnose", payload={"diagnosis": "board"})
    desk.cases.fire(case.id, "start_repair")
    desk.cases.fire(case.id, "wait_for_parts", payload={"part": "main board"})
    clock.advance(days=91)
    assert [d.action for d in desk.run_due().cases] == ["parts_wait_exceeded"]
    offered = desk.cases.get(case.id)
    assert offered.status == "replacement_offered"
    assert offered.repair is not None
    record = offered.repair.records[-1]
    assert (record.waiting_for_parts_days, record.part) == (91, "main board")


def test_a_refund_past_its_due_date_is_flagged_late_and_sanctionable(
    desk: Desk, ticket_id: str, clock: FrozenClock
) -> None:
    case = desk.cases.request_return(ticket_id, order_id="o", lines=[claim_line(claimed=1)])
    desk.cases.fire(case.id, "send_instructions", payload={"method": "label"})
    desk.cases.fire(case.id, "receive", payload={"units": {"l1": 1}})
    desk.cases.fire(case.id, "inspect", payload={"results": {"l1": ["restock"]}})
    desk.cases.fire(case.id, "refund")
    [refund] = desk.cases.find(parent_id=case.id)
    assert refund.refund is not None
    assert refund.refund.due_by == clock.now().date() + timedelta(days=7)
    clock.advance(days=8)
    assert [d.action for d in desk.run_due().cases] == ["mark_late"]
    late = desk.cases.get(refund.id).refund
    assert late is not None
    assert (late.late, late.sanctionable) == (True, False)
    clock.advance(days=10)
    assert desk.run_due().cases == ()
    desk.cases.fire(refund.id, "process")
    done = desk.cases.fire(refund.id, "succeed")
    assert done.refund is not None
    assert (done.refund.late, done.refund.sanctionable) == (True, True)


def test_a_step_without_an_action_is_reported_overdue_once(
    desk: Desk, ticket_id: str, clock: FrozenClock
) -> None:
    case = desk.cases.open_complaint(ticket_id, summary="nobody answers")
    clock.advance(hours=25)
    report = desk.run_due()
    assert [(d.case_id, d.state, d.action) for d in report.cases] == [
        (case.id, "received", "step_overdue")
    ]
    assert desk.run_due().cases == ()
    assert desk.cases.get(case.id).status == "received"
    assert desk.cases.replay(case.id) == desk.cases.get(case.id)


def test_case_hooks_hear_case_events_through_the_outbox(desk: Desk, ticket_id: str) -> None:
    heard: list[tuple[str, str]] = []
    desk.subscribe(
        lambda n: heard.append((n.event.trigger, n.event.to_state)),
        entered="refunded",
        name="refund-mail",
    )
    case = desk.cases.request_return(ticket_id, order_id="o", lines=[claim_line(claimed=1)])
    desk.cases.fire(case.id, "send_instructions", payload={"method": "label"})
    desk.cases.fire(case.id, "receive", payload={"units": {"l1": 1}})
    desk.cases.fire(case.id, "inspect", payload={"results": {"l1": ["restock"]}})
    desk.cases.fire(case.id, "refund")
    assert heard == [("refund", "refunded")]
    desk.flush()
    assert [n.status.value for n in desk.outbox()] == ["delivered"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"quantity": 4}, "more than the 3 bought"),
        ({"received": 3}, "more than the 2 claimed"),
        ({"received": 1, "inspections": ["restock", "damaged"]}, "2 inspections for 1 units"),
    ],
)
def test_a_case_line_whose_units_do_not_add_up_is_invalid(
    fields: dict[str, object], message: str
) -> None:
    from aftersales import CaseLine

    values: dict[str, object] = {
        "line_id": "l1",
        "quantity": 2,
        "bought": 3,
        "unit_price": {"amount": "10", "currency": "CNY"},
        **fields,
    }
    with pytest.raises(InvalidInput, match=message):
        CaseLine.model_validate(values)


def test_every_field_that_may_be_none_defaults_to_none() -> None:
    """Stores and creation events leave None fields out of a case's JSON (and of an
    imported ticket's); that loses nothing only while a field that admits None also
    defaults to it."""
    import typing

    from pydantic import BaseModel

    from aftersales import Case, Ticket

    seen: set[type[BaseModel]] = set()
    found: list[str] = []

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            if type(None) in typing.get_args(field.annotation) and field.default is not None:
                found.append(f"{model.__name__}.{name}")
            stack = [field.annotation]
            while stack:
                annotation = stack.pop()
                if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                    walk(annotation)
                stack.extend(typing.get_args(annotation))

    walk(Case)
    walk(Ticket)
    assert Ticket in seen
    assert len(seen) > 10  # the facts and the decision were walked too
    assert found == []


def test_bad_return_instructions_store_no_return(desk: Desk, ticket_id: str) -> None:
    with pytest.raises(InvalidInput, match="method"):
        desk.cases.request_return(
            ticket_id, order_id="o", lines=[claim_line()], instructions={"method": "pigeon"}
        )
    with pytest.raises(InvalidInput, match="decide_now"):
        desk.cases.request_return(
            ticket_id,
            order_id="o",
            lines=[claim_line()],
            decide_now=False,
            instructions={"method": "label"},
        )
    assert desk.cases.for_ticket(ticket_id) == []


def test_two_processes_racing_for_the_last_units_of_a_line_cannot_both_win(
    tmp_path: Path,
) -> None:
    # Two connections to one file, as two app processes have: the store re-checks the
    # order inside its write transaction, so the second return sees the first.
    outcomes = race_for_the_last_units(
        SQLiteStore(tmp_path / "race.db"), SQLiteStore(tmp_path / "race.db")
    )
    assert outcomes == [["refused", "returned"]] * len(outcomes)


def test_a_refund_is_late_when_its_due_day_ends_where_the_desk_is(store: Store) -> None:
    # 01:00 on Tuesday 5 March in Shanghai, still Monday in UTC
    clock = FrozenClock(datetime(2024, 3, 4, 17, 0, tzinfo=timezone.utc))
    desk = Desk(store, clock=clock, settings={"time_zone": "Asia/Shanghai"})
    ticket_id = desk.open_ticket(customer="c-1", channel="app", subject="退款").id
    case = desk.cases.request_return(ticket_id, order_id="o", lines=[claim_line(claimed=1)])
    desk.cases.fire(case.id, "send_instructions", payload={"method": "label"})
    desk.cases.fire(case.id, "receive", payload={"units": {"l1": 1}})
    desk.cases.fire(case.id, "inspect", payload={"results": {"l1": ["restock"]}})
    refund_id = desk.cases.fire(case.id, "refund").refund_case_id
    assert refund_id is not None
    refund = desk.cases.get(refund_id)
    assert refund.refund is not None
    assert refund.refund.due_by == date(2024, 3, 12)  # seven days from the local date
    # the 12th ends at 16:00 UTC in Shanghai, eight hours before it ends in UTC
    assert refund.step_due_at == datetime(2024, 3, 12, 15, 59, 59, 999999, tzinfo=timezone.utc)
    clock.set(datetime(2024, 3, 12, 15, 59, tzinfo=timezone.utc))
    assert desk.run_due().cases == ()
    clock.set(datetime(2024, 3, 12, 16, 1, tzinfo=timezone.utc))
    assert [d.action for d in desk.run_due().cases] == ["mark_late"]
    desk.cases.fire(refund_id, "process")
    done = desk.cases.fire(refund_id, "succeed")
    assert done.refund is not None
    assert done.refund.late


def test_an_unknown_desk_time_zone_is_bad_input(store: Store) -> None:
    with pytest.raises(InvalidInput, match="time_zone"):
        Desk(store, settings={"time_zone": "Mars/Olympus_Mons"})
