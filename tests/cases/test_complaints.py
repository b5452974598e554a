"""Escalated complaints go to the supervisor configured for the team, never to the agent
who escalates, and always reach a sign-off."""

from __future__ import annotations

import pytest
from case_facts import CARE_ROUTING

from aftersales import Desk, FrozenClock, Store, TransitionRefused


@pytest.fixture
def desk(store: Store, clock: FrozenClock) -> Desk:
    return Desk(store, clock=clock, routing=CARE_ROUTING)


@pytest.fixture
def complaint_id(desk: Desk) -> str:
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="rude courier")
    case = desk.cases.open_complaint(ticket.id, summary="The courier threw the parcel")
    desk.cases.fire(case.id, "acknowledge", actor="agent-1")
    return desk.cases.fire(case.id, "investigate", actor="agent-1").id


def test_an_agent_cannot_escalate_to_a_supervisor_of_their_own_choosing(
    desk: Desk, complaint_id: str
) -> None:
    before = desk.cases.get(complaint_id)
    with pytest.raises(TransitionRefused) as refused:
        desk.cases.fire(
            complaint_id,
            "escalate",
            actor="agent-1",
            payload={"supervisor": "agent-2", "reason": "a friend signs it off"},
        )
    assert refused.value.refusal.code == "not_a_supervisor"
    assert "configured: sup-wang" in refused.value.refusal.message
    assert desk.cases.get(complaint_id) == before


def test_a_supervisor_cannot_escalate_to_themself_and_sign_off(
    desk: Desk, complaint_id: str
) -> None:
    with pytest.raises(TransitionRefused) as refused:
        desk.cases.fire(
            complaint_id,
            "escalate",
            actor="sup-wang",
            payload={"supervisor": "sup-wang", "reason": "I sign it off myself"},
        )
    assert refused.value.refusal.code == "own_escalation"
    assert desk.cases.get(complaint_id).status == "investigating"


def test_an_escalation_goes_to_the_supervisor_of_the_tickets_team(
    desk: Desk, complaint_id: str
) -> None:
    ticket_id = desk.cases.get(complaint_id).ticket_id
    desk.classify(ticket_id, category="complaint", severity="high")
    desk.fire(ticket_id, "assign", payload={"assignee": "li.wei", "team": "repairs"})
    escalated = desk.cases.fire(
        complaint_id, "escalate", actor="agent-1", payload={"reason": "wants compensation"}
    )
    assert escalated.complaint is not None
    assert (escalated.complaint.supervisor, escalated.complaint.escalated_by) == (
        "sup-li",
        "agent-1",
    )
    with pytest.raises(TransitionRefused) as refused:
        desk.cases.fire(complaint_id, "sign_off", actor="sup-wang", payload={"note": "ok"})
    assert refused.value.refusal.code == "not_the_supervisor"
    signed = desk.cases.fire(complaint_id, "sign_off", actor="sup-li", payload={"note": "ok"})
    assert signed.status == "signed_off"


def test_a_desk_without_team_supervisors_refuses_to_escalate(
    store: Store, clock: FrozenClock
) -> None:
    desk = Desk(store, clock=clock)
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="rude")
    case = desk.cases.open_complaint(ticket.id, summary="Rude agent")
    with pytest.raises(TransitionRefused) as refused:
        desk.cases.fire(case.id, "escalate", payload={"supervisor": "me", "reason": "angry"})
    assert refused.value.refusal.code == "no_supervisor"
    assert "routing" in refused.value.refusal.message


def test_a_resolution_accepted_after_an_escalation_is_signed_off_and_closes(
    desk: Desk, complaint_id: str
) -> None:
    desk.cases.fire(complaint_id, "escalate", actor="agent-1", payload={"reason": "angry"})
    desk.cases.fire(complaint_id, "propose", actor="sup-wang", payload={"proposal": "voucher"})
    accepted = desk.cases.fire(complaint_id, "accept")
    assert accepted.status == "accepted"
    signed = desk.cases.fire(
        complaint_id, "sign_off", actor="sup-wang", payload={"note": "voucher sent"}
    )
    assert signed.complaint is not None
    assert signed.complaint.signed_off_by == "sup-wang"
    closed = desk.cases.fire(complaint_id, "close", actor="sup-wang")
    assert closed.status == "closed"
    assert desk.cases.replay(complaint_id) == closed
