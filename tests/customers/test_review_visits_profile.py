"""Review of issue 18 (return visits, customer merge): defects proved by strict xfails."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from aftersales import (
    Desk,
    FrozenClock,
    InvalidInput,
    MemoryStore,
    SQLiteStore,
    Store,
    TransitionRefused,
)
from aftersales.cases.return_visits import RETURN_VISIT, ReturnVisitDetails
from aftersales.models import Case, Ticket

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = (
        MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "review.db")
    )
    yield made
    made.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def desk(store: Store, clock: FrozenClock) -> Desk:
    return Desk(store, clock=clock, case_kinds=[RETURN_VISIT])


def closed_complaint(desk: Desk) -> tuple[Ticket, Case]:
    ticket = desk.open_ticket(customer="c-1", channel="phone", subject="The courier was rude")
    desk.fire(ticket.id, "classify", payload={"category": "complaint", "severity": "medium"})
    desk.fire(ticket.id, "assign", payload={"assignee": "agent-1", "team": "care"})
    desk.fire(ticket.id, "start")
    complaint = desk.cases.open_complaint(ticket.id, summary="The courier was rude")
    for trigger, payload in (
        ("acknowledge", None),
        ("investigate", None),
        ("propose", {"proposal": "an apology"}),
        ("accept", None),
    ):
        desk.cases.fire(complaint.id, trigger, payload=payload)
    complaint = desk.cases.fire(complaint.id, "close")
    ticket = desk.fire(ticket.id, "resolve", payload={"resolution": "apologised"})
    return ticket, complaint


def schedule(desk: Desk, ticket: Ticket, subject: Case, **fields: object) -> Case:
    return desk.cases.open(
        "return_visit",
        ticket.id,
        subject_id=subject.id,
        subject_kind=subject.kind.value,
        **fields,
    )


def test_erasing_a_kept_customer_erases_the_name_of_a_duplicate_merged_into_it(
    desk: Desk, store: Store
) -> None:
    desk.save_customer({"id": "wang", "name": "王芳"})
    desk.save_customer(
        {"id": "wang-wechat", "name": "芳芳", "contacts": [{"channel": "wechat", "address": "wx"}]}
    )
    desk.merge_customers("wang-wechat", into="wang")
    desk.erase_customer("wang")
    assert store.get_customer("wang").name != "王芳"
    assert store.get_customer("wang-wechat").name != "芳芳"


def test_a_visit_cannot_be_scheduled_for_a_team_other_than_its_ticket_s(
    desk: Desk, store: Store
) -> None:
    ticket, complaint = closed_complaint(desk)
    with pytest.raises(InvalidInput):
        schedule(desk, ticket, complaint, team="sales", assignee="bob")


def test_a_due_visit_cannot_be_reassigned_outside_the_ticket_s_team(desk: Desk) -> None:
    ticket, complaint = closed_complaint(desk)
    visit = schedule(desk, ticket, complaint, delay_hours=0)
    with pytest.raises(InvalidInput):
        desk.cases.fire(visit.id, "assign", payload={"team": "sales", "assignee": "bob"})
    found = desk.cases.get(visit.id).details
    assert isinstance(found, ReturnVisitDetails)
    assert found.team == "care"


def test_a_visit_is_unreachable_only_after_its_max_attempts(desk: Desk) -> None:
    ticket, complaint = closed_complaint(desk)
    visit = schedule(desk, ticket, complaint, delay_hours=0, max_attempts=3)
    with pytest.raises(TransitionRefused):  # as no_answer on the last attempt is
        desk.cases.fire(visit.id, "unreachable")
    assert desk.cases.get(visit.id).status == "due"


def test_a_ticket_opened_under_a_merged_id_shows_in_the_kept_customer_s_profile(
    desk: Desk,
) -> None:
    desk.save_customer({"id": "wang", "name": "王芳"})
    desk.save_customer({"id": "wang-wechat", "name": "芳芳"})
    desk.merge_customers("wang-wechat", into="wang")
    late = desk.open_ticket(customer="wang-wechat", channel="wechat", subject="又坏了")
    assert late.id in [t.id for t in desk.customer_profile("wang").tickets]
    assert late.id in [t.id for t in desk.customer_profile("wang-wechat").tickets]


def test_a_late_ticket_of_a_merge_chain_reaches_the_final_record(desk: Desk) -> None:
    for customer in ("a", "b", "c"):
        desk.save_customer({"id": customer, "name": customer.upper()})
    desk.merge_customers("a", into="b")
    desk.merge_customers("b", into="c")
    late = desk.open_ticket(customer="a", channel="phone", subject="late")
    desk.merge_customers("a", into="b")  # the documented way to move what came since
    assert late.id in [t.id for t in desk.customer_profile("c").tickets]


def test_a_persisting_problem_never_reopens_another_customer_s_ticket(desk: Desk) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="phone", subject="The courier was rude")
    desk.fire(ticket.id, "classify", payload={"category": "complaint", "severity": "medium"})
    desk.fire(ticket.id, "assign", payload={"assignee": "agent-1", "team": "care"})
    desk.fire(ticket.id, "start")
    complaint = desk.cases.open_complaint(ticket.id, summary="The courier was rude")
    for trigger, payload in (
        ("acknowledge", None),
        ("investigate", None),
        ("propose", {"proposal": "an apology"}),
        ("accept", None),
    ):
        desk.cases.fire(complaint.id, trigger, payload=payload)
    complaint = desk.cases.fire(complaint.id, "close")
    other = desk.open_ticket(customer="c-2", channel="phone", subject="Another matter")
    desk.fire(other.id, "classify", payload={"category": "complaint", "severity": "medium"})
    desk.fire(other.id, "assign", payload={"assignee": "agent-1", "team": "care"})
    desk.fire(other.id, "start")
    desk.merge(ticket.id, into=other.id)  # merged by mistake into another customer's
    desk.fire(other.id, "resolve", payload={"resolution": "done"})
    visit = schedule(desk, ticket, complaint, delay_hours=0)
    desk.cases.fire(visit.id, "problem_persists", payload={"note": "my address is 5 Elm St"})
    desk.cases.fire(visit.id, "reopen_ticket")
    found = desk.cases.get(visit.id).details
    assert isinstance(found, ReturnVisitDetails)
    assert found.reopened_ticket_id is not None
    assert desk.get(found.reopened_ticket_id).customer_id == "c-1"
    assert all("5 Elm St" not in str(e.payload) for e in desk.history(other.id))
