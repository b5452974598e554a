"""On-site service visits (上门服务), the case kind added as one module: booking a window,
a technician, rescheduling, no-shows, the visit's outcome (a depot repair opens a repair
case), the customer's confirmation, and time limits handled by run_due."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone

import pytest
from case_facts import phone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales import (
    AftersalesError,
    Desk,
    FrozenClock,
    InvalidInput,
    SQLiteStore,
    Store,
    TransitionRefused,
    TriggerNotAllowed,
)
from aftersales.cases import KINDS
from aftersales.cases.visits import VISIT, VisitDetails, VisitOutcome
from aftersales.storage import CaseQuery

START = datetime(2024, 3, 5, 9, 0, tzinfo=timezone.utc)  # the day after the fixture clock
END = START + timedelta(hours=3)


def _book(desk: Desk, **fields: object) -> str:
    ticket = desk.open_ticket(customer="c-1", channel="phone", subject="上门安装洗衣机")
    values: dict[str, object] = {
        "address": "88 Nanjing Road, Shanghai",
        "window_start": START,
        "window_end": END,
        **fields,
    }
    return desk.cases.open("visit", ticket.id, **values).id


def _details(desk: Desk, case_id: str) -> VisitDetails:
    details = desk.cases.get(case_id).details
    assert isinstance(details, VisitDetails)
    return details


def test_the_visit_kind_is_registered_with_the_shipped_kinds(desk: Desk) -> None:
    assert VISIT in KINDS
    assert desk.cases.kinds["visit"] is VISIT


def test_visits_are_found_by_their_kinds_name_and_an_unknown_kind_is_refused(
    desk: Desk,
) -> None:
    booked = _book(desk)
    assert [case.id for case in desk.cases.find(kind="visit")] == [booked]
    assert [case.id for case in desk.store.find_cases(CaseQuery(kind="visit"))] == [booked]
    assert desk.cases.find(kind="repair") == []
    with pytest.raises(InvalidInput, match="unknown case kind 'visits'"):
        desk.cases.find(kind="visits")


def test_a_booked_visit_keeps_its_window_and_address_and_replays_from_its_events(
    desk: Desk,
) -> None:
    case_id = _book(desk)
    case = desk.cases.get(case_id)
    assert (case.kind, case.workflow, case.status) == ("visit", "visit", "scheduled")
    assert _details(desk, case_id).window_start == START
    assert case.step_due_at == START  # a technician is due by the window's start
    assert desk.cases.replay(case_id) == case


def test_a_window_that_ends_before_it_starts_is_bad_input_and_stores_nothing(
    desk: Desk, store: Store
) -> None:
    with pytest.raises(InvalidInput, match="window_end must be after window_start"):
        _book(desk, window_end=START - timedelta(hours=1))
    assert store.find_cases(CaseQuery()) == []


def test_a_technician_assigned_at_booking_commits_with_the_booking(desk: Desk) -> None:
    case_id = _book(desk, technician="wang.tech")
    case = desk.cases.get(case_id)
    assert case.status == "assigned"
    assert _details(desk, case_id).technician == "wang.tech"
    assert case.step_due_at == END  # an outcome is due by the window's end
    assert [e.trigger for e in desk.cases.history(case_id)] == ["created", "assign"]


def test_rescheduling_books_a_new_window_and_needs_a_technician_again(
    desk: Desk,
) -> None:
    case_id = _book(desk, technician="wang.tech")
    later = START + timedelta(days=2)
    moved = desk.cases.fire(
        case_id,
        "reschedule",
        payload={"window_start": later, "window_end": later + timedelta(hours=2)},
    )
    details = _details(desk, case_id)
    assert (moved.status, details.technician, details.reschedules) == ("scheduled", None, 1)
    assert moved.step_due_at == later
    again = desk.cases.fire(
        case_id,
        "reschedule",
        payload={
            "window_start": later + timedelta(days=1),
            "window_end": later + timedelta(days=1, hours=1),
        },
    )
    assert again.step_due_at == later + timedelta(days=1)  # rescheduling restarts the clock


def test_an_outcome_before_the_window_starts_is_refused(desk: Desk) -> None:
    case_id = _book(desk, technician="wang.tech")
    with pytest.raises(TransitionRefused) as refused:
        desk.cases.fire(case_id, "fixed")
    assert refused.value.refusal.code == "window_not_started"
    assert desk.cases.get(case_id).status == "assigned"


def test_a_no_show_is_recorded_and_the_visit_is_booked_again(
    desk: Desk, clock: FrozenClock
) -> None:
    case_id = _book(desk, technician="wang.tech")
    clock.set(START + timedelta(hours=1))
    missed = desk.cases.fire(case_id, "no_show", payload={"party": "customer", "note": "无人"})
    assert missed.status == "missed"
    assert [n.party for n in _details(desk, case_id).no_shows] == ["customer"]
    later = START + timedelta(days=1)
    desk.cases.fire(
        case_id,
        "reschedule",
        payload={"window_start": later, "window_end": later + timedelta(hours=2)},
    )
    assert desk.cases.fire(case_id, "assign", payload={"technician": "li.tech"}).status == (
        "assigned"
    )


def test_a_fixed_visit_closes_when_the_customer_confirms(desk: Desk, clock: FrozenClock) -> None:
    case_id = _book(desk, technician="wang.tech")
    clock.set(START + timedelta(hours=1))
    fixed = desk.cases.fire(case_id, "fixed", payload={"note": "installed and tested"})
    assert (fixed.status, _details(desk, case_id).outcome) == (
        "awaiting_confirmation",
        VisitOutcome.FIXED,
    )
    done = desk.cases.fire(case_id, "confirm", actor="c-1", payload={"rating": 5})
    assert (done.status, _details(desk, case_id).rating) == ("completed", 5)
    assert done.closed_at is not None


def test_run_due_confirms_a_fixed_visit_the_customer_left_unconfirmed(
    desk: Desk, clock: FrozenClock
) -> None:
    case_id = _book(desk, technician="wang.tech")
    clock.set(START + timedelta(hours=1))
    desk.cases.fire(case_id, "fixed")
    done = desk.cases.run_due(START + timedelta(hours=1, days=3))
    assert [(d.case_id, d.action) for d in done] == [(case_id, "confirm")]
    assert desk.cases.get(case_id).status == "completed"


def test_run_due_reports_a_visit_without_a_technician_when_its_window_starts(
    desk: Desk,
) -> None:
    case_id = _book(desk)
    assert desk.cases.run_due(START - timedelta(minutes=1)) == []
    done = desk.cases.run_due(START)
    assert [(d.case_id, d.kind, d.action) for d in done] == [(case_id, "visit", "step_overdue")]


def test_a_visit_that_needs_parts_waits_and_is_booked_again(desk: Desk, clock: FrozenClock) -> None:
    case_id = _book(desk, technician="wang.tech", purpose="repair")
    clock.set(START + timedelta(hours=1))
    waiting = desk.cases.fire(case_id, "needs_parts", payload={"parts": "drain pump"})
    assert (waiting.status, _details(desk, case_id).parts) == ("waiting_for_parts", "drain pump")
    later = START + timedelta(days=5)
    desk.cases.fire(
        case_id,
        "reschedule",
        payload={"window_start": later, "window_end": later + timedelta(hours=2)},
    )
    assert desk.cases.get(case_id).status == "scheduled"


def test_a_visit_that_needs_a_depot_repair_opens_the_repair_case_in_its_transaction(
    desk: Desk, clock: FrozenClock
) -> None:
    case_id = _book(desk, technician="wang.tech", purpose="repair", serial="IMEI-77", line=phone())
    clock.set(START + timedelta(hours=2))
    sent = desk.cases.fire(case_id, "needs_depot_repair", payload={"note": "board fault"})
    details = _details(desk, case_id)
    assert (sent.status, details.outcome) == ("sent_to_depot", VisitOutcome.NEEDS_DEPOT_REPAIR)
    repair = desk.cases.get(details.repair_case_id or "")
    assert (repair.kind.value, repair.status, repair.parent_id, repair.serial) == (
        "repair",
        "claimed",
        case_id,
        "IMEI-77",
    )
    assessed = desk.cases.assess_repair(repair.id)  # the visit's line carries the facts
    assert assessed.status != "claimed"


def test_a_depot_repair_without_a_serial_number_is_refused(desk: Desk, clock: FrozenClock) -> None:
    case_id = _book(desk, technician="wang.tech")
    clock.set(START + timedelta(hours=2))
    with pytest.raises(TransitionRefused) as refused:
        desk.cases.fire(case_id, "needs_depot_repair")
    assert refused.value.refusal.code == "serial_needed"
    sent = desk.cases.fire(case_id, "needs_depot_repair", payload={"serial": "SN-1"})
    assert sent.status == "sent_to_depot"


def test_a_cancelled_visit_takes_no_more_steps(desk: Desk) -> None:
    case_id = _book(desk)
    cancelled = desk.cases.fire(case_id, "cancel", payload={"reason": "bought elsewhere"})
    assert (cancelled.status, cancelled.reason) == ("cancelled", "bought elsewhere")
    with pytest.raises(TriggerNotAllowed):
        desk.cases.fire(case_id, "assign", payload={"technician": "wang.tech"})


def test_a_stored_visit_loads_from_a_fresh_store_with_its_details(
    tmp_path: object, clock: FrozenClock
) -> None:
    path = f"{tmp_path}/visits.db"
    with Desk(SQLiteStore(path), clock=clock) as desk:
        case_id = _book(desk, technician="wang.tech")
    with Desk(SQLiteStore(path), clock=clock) as desk:
        case = desk.cases.get(case_id)
        assert isinstance(case.details, VisitDetails)
        assert case.details.technician == "wang.tech"
        assert desk.cases.replay(case_id) == case


_STEPS = st.sampled_from(
    [
        ("assign", {"technician": "wang.tech"}),
        ("reschedule", "window"),
        ("not_fixed", "window"),
        ("no_show", {"party": "technician"}),
        ("fixed", {"note": "done"}),
        ("needs_parts", {"parts": "pump"}),
        ("needs_depot_repair", {"serial": "SN-9"}),
        ("confirm", {"rating": 4}),
        ("cancel", {}),
        ("run_due", None),
    ]
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(_STEPS, st.integers(0, 72)), max_size=12))
def test_random_visit_steps_replay_to_the_stored_visit_and_raise_only_our_errors(
    steps: list[tuple[tuple[str, object], int]],
) -> None:
    clock = FrozenClock(START - timedelta(days=1))
    with Desk(clock=clock) as desk:
        case_id = _book(desk)
        for (trigger, payload), hours in steps:
            clock.advance(hours=hours)
            now = clock.now()
            if payload == "window":
                payload = {"window_start": now, "window_end": now + timedelta(hours=2)}
            with contextlib.suppress(AftersalesError):
                if trigger == "run_due":
                    desk.cases.run_due(now)
                else:
                    assert isinstance(payload, dict)
                    desk.cases.fire(case_id, trigger, payload=payload)
            for case in desk.cases.find():
                assert desk.cases.replay(case.id) == case
                assert case.status in {s.name for s in desk.cases.spec(case.kind).workflow.states}
