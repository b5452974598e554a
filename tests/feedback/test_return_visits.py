"""Return visits (回访), the case kind of aftersales.cases.return_visits: scheduled a delay
after a subject closed, made due and assigned by run_due, called with a script until the
customer is reached or the attempts run out, a persisting problem reopening the ticket or
opening a linked case, and the report of how they went; on every store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from case_facts import CARE_ROUTING, phone

from aftersales import (
    Desk,
    FrozenClock,
    InvalidInput,
    MemoryStore,
    PermissionDenied,
    SQLiteStore,
    Store,
    TransitionRefused,
    TriggerNotAllowed,
)
from aftersales.cases import return_visits
from aftersales.cases.return_visits import (
    RETURN_VISIT,
    ProblemAction,
    ReturnVisitDetails,
    ReturnVisitOutcome,
    record_no_answer,
    return_visit_id,
)
from aftersales.insights._return_visits import return_visit_report
from aftersales.models import Case, Ticket
from aftersales.security import Principal, default_permissions
from aftersales.storage import CaseQuery

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)

STORES = ["memory", "sqlite", "postgresql"]


def _server() -> Store:
    """A fresh PostgreSQL store, as every server test has it: the server the variable
    names (else the local default), a skip naming the variable where there is none, a
    failure in CI."""
    from test_sqlalchemy_store import fresh_store, server_url

    return fresh_store(server_url("postgresql"))


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        made: Store = MemoryStore()
    elif request.param == "sqlite":
        made = SQLiteStore(tmp_path / "visits.db")
    else:
        made = _server()
    yield made
    made.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def desk(store: Store, clock: FrozenClock) -> Desk:
    return Desk(store, clock=clock, case_kinds=[RETURN_VISIT])


# ----------------------------------------------------------------------- subjects


def worked_ticket(
    desk: Desk, subject: str, *, team: str = "care", assignee: str = "agent-1"
) -> Ticket:
    ticket = desk.open_ticket(customer="c-1", channel="phone", subject=subject)
    desk.fire(ticket.id, "classify", payload={"category": "complaint", "severity": "medium"})
    desk.fire(ticket.id, "assign", payload={"assignee": assignee, "team": team})
    return desk.fire(ticket.id, "start")


def closed_repair(desk: Desk, clock: FrozenClock) -> tuple[Ticket, Case]:
    """A phone repaired at the depot and handed back: the repair closes."""
    ticket = worked_ticket(desk, "My phone reboots", team="repairs", assignee="li.wei")
    repair = desk.cases.open_repair(ticket.id, serial="IMEI-7", line=phone(), order_id="o-7")
    for trigger, payload in (
        ("hand_in", {"site": "depot"}),
        ("diagnose", {"diagnosis": "loose battery connector"}),
        ("start_repair", None),
        ("finish_repair", None),
        ("pass_qc", None),
        ("hand_back", None),
    ):
        desk.cases.fire(repair.id, trigger, payload=payload)
    clock.advance(hours=2)
    return ticket, desk.cases.fire(repair.id, "close")


def closed_complaint(desk: Desk, clock: FrozenClock) -> tuple[Ticket, Case]:
    """A complaint accepted and closed, its ticket resolved."""
    ticket = worked_ticket(desk, "The courier was rude")
    complaint = desk.cases.open_complaint(ticket.id, summary="The courier was rude")
    desk.cases.fire(complaint.id, "acknowledge")
    desk.cases.fire(complaint.id, "investigate")
    desk.cases.fire(complaint.id, "propose", payload={"proposal": "an apology and a coupon"})
    desk.cases.fire(complaint.id, "accept")
    complaint = desk.cases.fire(complaint.id, "close")
    ticket = desk.fire(ticket.id, "resolve", payload={"resolution": "apologised"})
    return ticket, complaint


def schedule(desk: Desk, ticket: Ticket, subject: Case, **fields: Any) -> Case:
    return desk.cases.open(
        "return_visit",
        ticket.id,
        subject_id=subject.id,
        subject_kind=subject.kind.value,
        **fields,
    )


def details(desk: Desk, case_id: str) -> ReturnVisitDetails:
    found = desk.cases.get(case_id).details
    assert isinstance(found, ReturnVisitDetails)
    return found


def due_visit(desk: Desk, clock: FrozenClock, subject: str = "complaint") -> tuple[Ticket, Case]:
    ticket, closed = (closed_complaint if subject == "complaint" else closed_repair)(desk, clock)
    visit = schedule(desk, ticket, closed, delay_hours=0)
    assert visit.status == "due"
    return ticket, visit


# ----------------------------------------------------------------------- scheduling


def test_a_visit_comes_due_the_delay_after_its_subject_closed_and_goes_to_the_ticket_team(
    desk: Desk, clock: FrozenClock
) -> None:
    ticket, repair = closed_repair(desk, clock)
    clock.advance(hours=5)  # the scheduler runs later: the delay counts from the closing
    visit = schedule(desk, ticket, repair)
    assert visit.id == return_visit_id("repair", repair.id)
    assert (visit.status, visit.step_action) == ("scheduled", "make_due")
    assert repair.closed_at is not None
    assert visit.step_due_at == repair.closed_at + timedelta(hours=72)
    assert [q.text for q in details(desk, visit.id).script][:2] == [
        "Is the product working now?",
        "Was the technician on time?",
    ]

    assert desk.cases.run_due(visit.step_due_at - timedelta(seconds=1)) == []
    done = desk.cases.run_due(visit.step_due_at)
    assert [(d.case_id, d.action) for d in done] == [(visit.id, "make_due")]
    made_due = details(desk, visit.id)
    assert desk.cases.get(visit.id).status == "due"
    assert (made_due.team, made_due.assignee, made_due.assigned_by) == (
        "repairs",
        "li.wei",
        "ticket",
    )
    assert desk.cases.replay(visit.id) == desk.cases.get(visit.id)


def test_scheduling_a_subject_again_returns_its_one_visit(desk: Desk, clock: FrozenClock) -> None:
    ticket, complaint = closed_complaint(desk, clock)
    first = schedule(desk, ticket, complaint, delay_hours=12)
    again = schedule(desk, ticket, complaint, delay_hours=1)
    assert again == first
    assert [e.trigger for e in desk.cases.history(first.id)] == ["created"]


def test_two_schedulers_racing_for_a_subject_get_its_one_visit(
    store: Store, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = Desk(store, clock=clock, case_kinds=[RETURN_VISIT])
    other = Desk(store, clock=clock, case_kinds=[RETURN_VISIT])
    ticket, complaint = closed_complaint(desk, clock)
    first = schedule(desk, ticket, complaint)
    real = return_visits._existing
    looks: list[str] = []

    def before_the_first_committed(cases: Any, case_id: str, subject_id: str) -> Case | None:
        looks.append(case_id)
        return None if len(looks) == 1 else real(cases, case_id, subject_id)

    monkeypatch.setattr(return_visits, "_existing", before_the_first_committed)
    assert schedule(other, ticket, complaint) == first
    assert looks == [first.id, first.id]
    assert [e.trigger for e in desk.cases.history(first.id)] == ["created"]


def test_a_resolved_ticket_is_followed_up_and_reopened_when_its_problem_persists(
    desk: Desk,
) -> None:
    ticket = worked_ticket(desk, "The app will not log in")
    ticket = desk.fire(ticket.id, "resolve", payload={"resolution": "password reset"})
    visit = desk.cases.open(
        "return_visit", ticket.id, subject_id=ticket.id, subject_kind="ticket", delay_hours=0
    )
    assert details(desk, visit.id).on_problem is ProblemAction.REOPEN_TICKET
    desk.cases.fire(visit.id, "problem_persists", payload={"answers": {"resolved": "no"}})
    desk.cases.fire(visit.id, "reopen_ticket")
    assert desk.get(ticket.id).status == "in_progress"
    with pytest.raises(InvalidInput, match="a ticket subject is the visit's ticket"):
        desk.cases.open("return_visit", ticket.id, subject_id="another", subject_kind="ticket")


def test_the_desk_follow_up_rules_open_one_visit_when_the_subject_closes(
    store: Store, clock: FrozenClock
) -> None:
    rule = {"kinds": ["complaint"], "opens": "return_visit", "after": "closure"}
    desk = Desk(
        store,
        clock=clock,
        case_kinds=[RETURN_VISIT],
        surveys={"rules": [{**rule, "options": {"max_attempts": 2}}]},
    )
    _, complaint = closed_complaint(desk, clock)
    visit = desk.cases.get(return_visit_id("complaint", complaint.id))
    assert complaint.closed_at is not None
    assert visit.step_due_at == complaint.closed_at + timedelta(hours=24)
    assert details(desk, visit.id).max_attempts == 2
    assert [c.kind.value for c in store.find_cases(CaseQuery(ticket_id=visit.ticket_id))] == [
        "complaint",
        "return_visit",
    ]


def test_the_router_assigns_a_due_visit_within_the_ticket_team(clock: FrozenClock) -> None:
    desk = Desk(clock=clock, routing=CARE_ROUTING, case_kinds=[RETURN_VISIT])
    ticket, complaint = closed_complaint(desk, clock)  # the care team's ticket
    visit = schedule(desk, ticket, complaint, delay_hours=0)
    routed = details(desk, visit.id)
    assert (routed.team, routed.assigned_by) == ("care", "router")
    assert routed.assignee in {"agent-1", "agent-2"}


def test_a_router_pick_outside_the_ticket_team_leaves_the_visit_to_that_team(
    clock: FrozenClock,
) -> None:
    desk = Desk(clock=clock, routing=CARE_ROUTING, case_kinds=[RETURN_VISIT])
    ticket, repair = closed_repair(desk, clock)  # the repairs team's; the router picks care
    visit = schedule(desk, ticket, repair, delay_hours=0)
    kept = details(desk, visit.id)
    assert (kept.team, kept.assignee, kept.assigned_by) == ("repairs", "li.wei", "ticket")


def test_a_chinese_speaking_customer_is_asked_the_chinese_script(
    desk: Desk, clock: FrozenClock
) -> None:
    desk.save_customer({"id": "c-1", "name": "王芳", "language": "zh-CN"})
    ticket, complaint = closed_complaint(desk, clock)
    visit = schedule(desk, ticket, complaint)
    assert details(desk, visit.id).language == "zh"
    assert details(desk, visit.id).script[0].text == "您投诉的问题是否已经解决？"


# ----------------------------------------------------------------------- outcomes


def test_a_satisfied_customer_closes_the_visit_with_the_answers(
    desk: Desk, clock: FrozenClock
) -> None:
    _, visit = due_visit(desk, clock)
    answers = {"resolved": "yes", "fair": "yes, thank you"}
    closed = desk.cases.fire(visit.id, "satisfied", payload={"answers": answers})
    assert (closed.status, closed.status_category.value) == ("satisfied", "closed")
    found = details(desk, visit.id)
    assert found.outcome is ReturnVisitOutcome.SATISFIED
    assert [(a.reached, a.answers) for a in found.attempts] == [(True, answers)]
    assert closed.step_due_at is None


def test_a_customer_never_reached_is_unreachable_after_the_attempts_each_a_retry_interval_apart(
    store: Store, clock: FrozenClock
) -> None:
    desk = Desk(
        store,
        clock=clock,
        case_kinds=[RETURN_VISIT],
        step_limits={"return_visit": {"retry_wait": {"hours": 4, "action": "retry"}}},
    )
    _, visit = due_visit(desk, clock)
    for attempt in (1, 2):
        waiting = record_no_answer(desk.cases, visit.id, note=f"call {attempt}: no answer")
        assert waiting.status == "retry_wait"
        assert waiting.step_due_at == clock.now() + timedelta(hours=4)
        assert desk.cases.run_due(clock.now() + timedelta(hours=3)) == []
        clock.advance(hours=4)
        assert [d.action for d in desk.cases.run_due(clock.now())] == ["retry"]
        assert desk.cases.get(visit.id).status == "due"
    with pytest.raises(TransitionRefused) as refused:
        desk.cases.fire(visit.id, "no_answer")
    assert refused.value.refusal.code == "last_attempt"
    gone = record_no_answer(desk.cases, visit.id)
    assert gone.status == "unreachable"
    found = details(desk, visit.id)
    assert found.outcome is ReturnVisitOutcome.UNREACHABLE
    assert [a.reached for a in found.attempts] == [False, False, False]


def test_a_problem_after_a_repair_opens_a_linked_repair_of_the_same_product(
    desk: Desk, clock: FrozenClock
) -> None:
    _, visit = due_visit(desk, clock, subject="repair")
    persists = desk.cases.fire(
        visit.id,
        "problem_persists",
        payload={"answers": {"working": "it reboots again"}, "note": "reboots daily"},
    )
    assert (persists.status, persists.step_action) == ("following_up", "open_case")
    assert persists.step_due_at == clock.now()
    assert [d.action for d in desk.cases.run_due(clock.now())] == ["open_case"]
    closed = desk.cases.get(visit.id)
    assert closed.status == "problem_persists"
    linked_id = details(desk, visit.id).linked_case_id
    assert linked_id is not None
    linked = desk.cases.get(linked_id)
    assert (linked.kind.value, linked.status, linked.serial) == ("repair", "claimed", "IMEI-7")
    assert linked.parent_id == visit.id
    assert linked.lines[0].decision is None  # assessed afresh, with the repair history
    assert desk.cases.assess_repair(linked_id).status == "awaiting_device"


def test_a_problem_after_a_complaint_reopens_its_resolved_ticket_once(
    desk: Desk, clock: FrozenClock
) -> None:
    ticket, visit = due_visit(desk, clock)
    desk.cases.fire(visit.id, "problem_persists", payload={"note": "still no coupon"})
    assert desk.get(ticket.id).status == "resolved"  # the step recorded first
    # As if an earlier run had reopened the ticket and stopped before recording it:
    desk.reopen(ticket.id, reason="the customer called back")
    assert [d.action for d in desk.cases.run_due(clock.now())] == ["reopen_ticket"]
    found = details(desk, visit.id)
    assert desk.cases.get(visit.id).status == "problem_persists"
    assert (found.reopened_ticket_id, found.ticket_follow_up) == (ticket.id, "reopened")
    assert [e.trigger for e in desk.history(ticket.id)].count("reopen") == 1


def test_a_problem_reopens_the_ticket_through_the_desk_when_run_due_follows_it_up(
    desk: Desk, clock: FrozenClock
) -> None:
    ticket, visit = due_visit(desk, clock)
    desk.cases.fire(visit.id, "problem_persists", payload={"note": "still no coupon"})
    desk.cases.run_due(clock.now())
    reopened = desk.get(ticket.id)
    assert (reopened.status, reopened.reopen_count) == ("in_progress", 1)
    reopen = [e for e in desk.history(ticket.id) if e.trigger == "reopen"]
    assert visit.id in reopen[0].payload["reason"]
    with pytest.raises(TriggerNotAllowed):
        desk.cases.fire(visit.id, "reopen_ticket")


def test_a_problem_on_a_ticket_still_open_leaves_it_to_its_assignee(
    desk: Desk, clock: FrozenClock
) -> None:
    ticket, visit = due_visit(desk, clock)
    desk.reopen(ticket.id, reason="the customer wrote again")
    clock.advance(minutes=5)  # that reopening came before the visit's call
    desk.cases.fire(visit.id, "problem_persists")
    desk.cases.fire(visit.id, "reopen_ticket")
    found = details(desk, visit.id)
    assert (found.reopened_ticket_id, found.ticket_follow_up) == (ticket.id, "already_open")
    assert [e.trigger for e in desk.history(ticket.id)].count("reopen") == 1


def test_a_problem_on_a_closed_ticket_opens_its_follow_up_ticket(
    desk: Desk, clock: FrozenClock
) -> None:
    ticket, visit = due_visit(desk, clock)
    desk.fire(ticket.id, "confirm")
    desk.fire(ticket.id, "close")
    desk.cases.fire(visit.id, "problem_persists", payload={"then": "reopen_ticket"})
    desk.cases.fire(visit.id, "reopen_ticket")
    found = details(desk, visit.id)
    assert found.ticket_follow_up == "follow_up_ticket"
    assert found.reopened_ticket_id is not None
    follow_up = desk.get(found.reopened_ticket_id)
    assert follow_up.follow_up_of == ticket.id
    assert desk.get(ticket.id).status == "closed"


def test_a_problem_on_a_merged_ticket_is_left_with_the_ticket_it_went_into(
    desk: Desk, clock: FrozenClock
) -> None:
    ticket = worked_ticket(desk, "The courier was rude")
    complaint = desk.cases.open_complaint(ticket.id, summary="The courier was rude")
    desk.cases.fire(complaint.id, "acknowledge")
    desk.cases.fire(complaint.id, "investigate")
    desk.cases.fire(complaint.id, "propose", payload={"proposal": "an apology"})
    desk.cases.fire(complaint.id, "accept")
    complaint = desk.cases.fire(complaint.id, "close")
    target = worked_ticket(desk, "Rude courier, again")
    desk.merge(ticket.id, into=target.id)
    visit = schedule(desk, ticket, complaint, delay_hours=0)
    desk.cases.fire(visit.id, "problem_persists")
    desk.cases.fire(visit.id, "reopen_ticket")
    found = details(desk, visit.id)
    assert (found.reopened_ticket_id, found.ticket_follow_up) == (target.id, "already_open")


def test_a_problem_on_a_cancelled_ticket_opens_its_follow_up_ticket(
    desk: Desk, clock: FrozenClock
) -> None:
    ticket = worked_ticket(desk, "The parcel came open")
    complaint = desk.cases.open_complaint(ticket.id, summary="The parcel came open")
    desk.cases.fire(complaint.id, "acknowledge")
    desk.cases.fire(complaint.id, "investigate")
    desk.cases.fire(complaint.id, "propose", payload={"proposal": "a refund"})
    desk.cases.fire(complaint.id, "accept")
    complaint = desk.cases.fire(complaint.id, "close")
    desk.fire(ticket.id, "cancel", payload={"reason": "opened twice"})
    visit = schedule(desk, ticket, complaint, delay_hours=0)
    desk.cases.fire(visit.id, "problem_persists", payload={"note": "still open"})
    desk.cases.fire(visit.id, "reopen_ticket")
    found = details(desk, visit.id)
    assert found.ticket_follow_up == "follow_up_ticket"
    assert found.reopened_ticket_id is not None
    follow_up = desk.get(found.reopened_ticket_id)
    assert (follow_up.follow_up_of, follow_up.status) == (ticket.id, "new")
    assert "the problem persists: still open" in follow_up.description


def test_the_visit_names_its_follow_up_and_the_other_one_is_refused(
    desk: Desk, clock: FrozenClock
) -> None:
    _, visit = due_visit(desk, clock)
    desk.cases.fire(visit.id, "problem_persists", payload={"then": ProblemAction.OPEN_CASE.value})
    with pytest.raises(TransitionRefused) as refused:
        desk.cases.fire(visit.id, "reopen_ticket")
    assert refused.value.refusal.code == "other_follow_up"
    desk.cases.fire(visit.id, "open_case")
    linked_id = details(desk, visit.id).linked_case_id
    assert linked_id is not None
    assert desk.cases.get(linked_id).kind.value == "complaint"


# ----------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "fields",
    [
        {"subject_kind": "survey"},
        {"subject_id": "no-such-case"},
        {"script": []},
        {"script": [{"id": "a", "text": "Q?"}, {"id": "a", "text": "Again?"}]},
        {"delay_hours": -1},
        {"max_attempts": 0},
        {"language": "fr"},
        {"on_problem": "shrug"},
    ],
)
def test_bad_scheduling_input_is_invalid_and_stores_nothing(
    desk: Desk, clock: FrozenClock, store: Store, fields: dict[str, Any]
) -> None:
    ticket, complaint = closed_complaint(desk, clock)
    before = store.find_cases(CaseQuery(ticket_id=ticket.id))
    values = {"subject_id": complaint.id, "subject_kind": "complaint", **fields}
    with pytest.raises(InvalidInput):
        desk.cases.open("return_visit", ticket.id, **values)
    assert store.find_cases(CaseQuery(ticket_id=ticket.id)) == before


def test_a_subject_still_open_gets_no_visit(desk: Desk, store: Store) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="phone", subject="Rude courier")
    complaint = desk.cases.open_complaint(ticket.id, summary="rude")
    with pytest.raises(InvalidInput, match="a visit follows what closed"):
        desk.cases.open(
            "return_visit", ticket.id, subject_id=complaint.id, subject_kind="complaint"
        )
    assert [c.id for c in store.find_cases(CaseQuery(ticket_id=ticket.id))] == [complaint.id]


def test_an_answer_to_a_question_the_script_lacks_is_invalid_and_changes_nothing(
    desk: Desk, clock: FrozenClock
) -> None:
    _, visit = due_visit(desk, clock)
    with pytest.raises(InvalidInput, match="the script has no question 'color'"):
        desk.cases.fire(visit.id, "satisfied", payload={"answers": {"color": "blue"}})
    assert desk.cases.get(visit.id).version == visit.version


# ----------------------------------------------------------------------- permissions


def test_agents_of_the_ticket_team_make_the_visit_and_others_may_not(
    store: Store, clock: FrozenClock
) -> None:
    desk = Desk(store, clock=clock, case_kinds=[RETURN_VISIT], permissions=default_permissions())
    _, visit = due_visit(desk, clock)
    with pytest.raises(PermissionDenied):
        desk.cases.fire(visit.id, "satisfied", actor=Principal.agent("li.wei", "repairs"))
    done = desk.cases.fire(visit.id, "satisfied", actor=Principal.agent("agent-2", "care"))
    assert done.status == "satisfied"


# ----------------------------------------------------------------------- report


def test_the_report_counts_outcomes_and_completion_over_the_period(
    desk: Desk, clock: FrozenClock, store: Store
) -> None:
    outcomes = ["satisfied", "problem", "unreachable", "open", "cancelled"]
    for outcome in outcomes:
        ticket, complaint = closed_complaint(desk, clock)
        visit = schedule(desk, ticket, complaint, delay_hours=0, max_attempts=1)
        if outcome == "satisfied":
            desk.cases.fire(visit.id, "satisfied")
        elif outcome == "problem":
            desk.cases.fire(visit.id, "problem_persists")
        elif outcome == "unreachable":
            record_no_answer(desk.cases, visit.id)
        elif outcome == "cancelled":
            desk.cases.fire(visit.id, "cancel", payload={"reason": "the customer asked"})
    clock.advance(days=40)  # a visit of the next period counts there
    ticket, complaint = closed_complaint(desk, clock)
    schedule(desk, ticket, complaint)

    report = return_visit_report(store, T0, T0 + timedelta(days=30))
    assert report.outcomes == {"satisfied": 1, "problem_persists": 1, "unreachable": 1}
    assert (report.scheduled, report.cancelled, report.open, report.completed) == (5, 1, 1, 3)
    assert report.completion_rate == pytest.approx(3 / 4)
    assert report.reach_rate == pytest.approx(2 / 3)
    assert report.satisfaction_rate == pytest.approx(1 / 2)
    later = return_visit_report(store, T0 + timedelta(days=30), T0 + timedelta(days=60))
    assert (later.scheduled, later.open, later.completion_rate) == (1, 1, 0.0)


def test_a_store_of_another_kind_reports_through_its_public_api(clock: FrozenClock) -> None:
    from aftersales.storage.recorder import MemoryRecorder, RecordStore

    store = RecordStore(MemoryRecorder())
    desk = Desk(store, clock=clock, case_kinds=[RETURN_VISIT])
    _, visit = due_visit(desk, clock)
    desk.cases.fire(visit.id, "satisfied")
    report = return_visit_report(store, T0, T0 + timedelta(days=1))
    assert (report.scheduled, report.outcomes["satisfied"], report.completion_rate) == (1, 1, 1.0)


def test_an_empty_period_has_no_rates_and_a_backwards_one_is_invalid(store: Store) -> None:
    report = return_visit_report(store, T0, T0 + timedelta(days=1))
    assert (report.scheduled, report.completion_rate, report.reach_rate) == (0, None, None)
    with pytest.raises(InvalidInput, match="must be after period_from"):
        return_visit_report(store, T0, T0)


def test_what_the_customer_said_on_a_return_visit_is_erased_with_them(
    desk: Desk, clock: FrozenClock
) -> None:
    ticket, visit = due_visit(desk, clock)
    answers = {"resolved": "yes", "fair": "Mr Wang at 13800138000 was kind"}
    desk.cases.fire(visit.id, "satisfied", payload={"answers": answers, "note": "Wang said so"})
    desk.erase_customer(ticket.customer_id)
    found = details(desk, visit.id)
    assert [a.answers for a in found.attempts] == [{}]
    assert "13800138000" not in desk.cases.get(visit.id).model_dump_json()
    assert found.outcome is ReturnVisitOutcome.SATISFIED  # the outcome counts on


def test_a_store_of_another_kind_reports_every_page_of_its_visits(
    clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aftersales.insights import _return_visits
    from aftersales.storage.recorder import MemoryRecorder, RecordStore

    monkeypatch.setattr(_return_visits, "_PAGE", 2)  # three visits in one state: two pages
    store = RecordStore(MemoryRecorder())
    desk = Desk(store, clock=clock, case_kinds=[RETURN_VISIT])
    for _ in range(3):
        _, visit = due_visit(desk, clock)
        desk.cases.fire(visit.id, "satisfied")
    report = return_visit_report(store, T0, T0 + timedelta(days=1))
    assert (report.scheduled, report.outcomes["satisfied"]) == (3, 3)
