"""A desk given the shipped permission set refuses what a principal may not do, stores
nothing for it, logs the refusal without personal data, and still runs scripts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from case_facts import CARE_ROUTING, claim_line

from aftersales import (
    AftersalesError,
    Desk,
    FrozenClock,
    MemoryStore,
    PermissionDenied,
    SQLiteStore,
    Store,
    TransitionRefused,
)
from aftersales.notify import Notification
from aftersales.security import MemoryDirectory, Principal, default_permissions
from aftersales.storage import CaseQuery, TicketQuery

PHONE = "13912345678"
EMAIL = "wang.fang@example.cn"

CUSTOMER = Principal.customer("c-1")
OTHER_CUSTOMER = Principal.customer("c-2")
CARE_AGENT = Principal.agent("agent-1", "care")
CARE_AGENT_2 = Principal.agent("agent-2", "care")
REPAIRS_AGENT = Principal.agent("li.wei", "repairs")
CARE_SUPERVISOR = Principal.supervisor("sup-wang", "care")
REPAIRS_SUPERVISOR = Principal.supervisor("sup-li", "repairs")
EVERYONE = (
    CUSTOMER,
    OTHER_CUSTOMER,
    CARE_AGENT,
    CARE_AGENT_2,
    REPAIRS_AGENT,
    CARE_SUPERVISOR,
    REPAIRS_SUPERVISOR,
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "p.db")
    yield made
    made.close()


@pytest.fixture
def heard() -> list[Notification]:
    return []


@pytest.fixture
def desk(store: Store, clock: FrozenClock, heard: list[Notification]) -> Desk:
    desk = Desk(store, clock=clock, routing=CARE_ROUTING, permissions=default_permissions())
    directory = desk.principals
    assert isinstance(directory, MemoryDirectory)
    for principal in EVERYONE:
        directory.add(principal)
    # A subscriber makes every commit write outbox rows, so a refusal can be seen to
    # write none.
    desk.subscribe(heard.append, messages=True, name="everything")
    return desk


def stored(desk: Desk) -> dict[str, Any]:
    """Everything the desk's store holds about tickets and cases, as comparable values."""
    store = desk.store
    tickets = store.find(TicketQuery(limit=1000))
    cases = store.find_cases(CaseQuery(limit=1000))
    ids = [t.id for t in tickets] + [c.id for c in cases]
    return {
        "tickets": sorted((t.id, t.version, t.model_dump_json()) for t in tickets),
        "cases": sorted((c.id, c.version, c.model_dump_json()) for c in cases),
        "events": {i: [e.model_dump_json() for e in store.events(i)] for i in ids},
        "messages": {t.id: [m.model_dump_json() for m in store.messages(t.id)] for t in tickets},
        "outbox": sorted(n.event.model_dump_json() for n in store.outbox()),
    }


def refused(
    desk: Desk, heard: list[Notification], act: Callable[[], object], rule: str
) -> PermissionDenied:
    """Run ``act``, expect a PermissionDenied by ``rule`` that stores nothing, and return it."""
    before = stored(desk)
    log_before = len(desk.security_log())
    delivered = len(heard)
    with pytest.raises(PermissionDenied) as raised:
        act()
    assert raised.value.rule == rule
    assert stored(desk) == before
    assert len(heard) == delivered
    assert len(desk.security_log()) == log_before + 1
    return raised.value


def open_own_ticket(desk: Desk, **fields: Any) -> str:
    values: dict[str, Any] = {
        "customer": "c-1",
        "channel": "app",
        "subject": "Kettle leaks",
        "actor": CUSTOMER.id,
    }
    values.update(fields)
    return desk.open_ticket(**values).id


def care_ticket(desk: Desk, team: str = "care") -> str:
    ticket_id = open_own_ticket(desk)
    desk.classify(ticket_id, category="repair_warranty", severity="high", actor=CARE_AGENT.id)
    desk.assign(ticket_id, assignee="agent-1", team=team, actor=CARE_SUPERVISOR.id)
    return ticket_id


# ----------------------------------------------------------------------- customers


def test_a_customer_opens_a_ticket_and_writes_on_it(desk: Desk) -> None:
    ticket_id = open_own_ticket(desk)
    message = desk.add_message(
        ticket_id, "It still leaks", author_id=CUSTOMER.id, author_role="customer"
    )
    assert desk.get(ticket_id).customer_id == "c-1"
    assert [m.id for m in desk.messages(ticket_id)] == [message.id]
    assert [(e.trigger, e.actor) for e in desk.history(ticket_id)] == [
        ("created", CUSTOMER.id),
        ("add_message", CUSTOMER.id),
    ]
    assert desk.security_log() == []


@pytest.mark.parametrize(
    ("act", "rule"),
    [
        (lambda d, t: d.escalate(t, reason="now", actor=CUSTOMER.id), "grants"),
        (lambda d, t: d.assign(t, assignee="agent-1", team="care", actor=CUSTOMER.id), "grants"),
        (lambda d, t: d.resolve(t, resolution="fixed", actor=CUSTOMER.id), "grants"),
        (lambda d, t: d.cancel(t, reason="not mine", actor=OTHER_CUSTOMER.id), "rows[0]"),
        (
            lambda d, t: d.add_message(
                t, "hello", author_id=OTHER_CUSTOMER.id, author_role="customer"
            ),
            "rows[0]",
        ),
    ],
    ids=["escalate", "assign", "resolve", "cancel-others", "message-others"],
)
def test_a_customer_may_not_work_a_ticket_nor_touch_another_customers(
    desk: Desk, heard: list[Notification], act: Callable[[Desk, str], object], rule: str
) -> None:
    ticket_id = care_ticket(desk)
    desk.fire(ticket_id, "start", actor=CARE_AGENT.id)
    error = refused(desk, heard, lambda: act(desk, ticket_id), rule)
    assert isinstance(error, AftersalesError)
    assert error.principal in (CUSTOMER.id, OTHER_CUSTOMER.id)
    assert ticket_id in error.action
    assert error.reason
    assert error.principal in str(error)
    assert rule in str(error)


def test_a_customer_cannot_open_a_ticket_for_another_customer(
    desk: Desk, heard: list[Notification]
) -> None:
    error = refused(desk, heard, lambda: open_own_ticket(desk, actor=OTHER_CUSTOMER.id), "rows[0]")
    assert (error.principal, error.action.split()[:2]) == (OTHER_CUSTOMER.id, ["open", "ticket"])


def test_a_customer_cancels_their_own_ticket(desk: Desk) -> None:
    ticket_id = open_own_ticket(desk)
    assert desk.cancel(ticket_id, reason="sorted out", actor=CUSTOMER.id).status == "cancelled"


def test_a_refusal_is_in_the_security_log_without_personal_data(
    desk: Desk, heard: list[Notification]
) -> None:
    ticket_id = open_own_ticket(
        desk, subject=f"Wang Fang, {PHONE}", description=f"write to {EMAIL}"
    )
    desk.add_message(
        ticket_id, f"my phone is {PHONE}", author_id=CUSTOMER.id, author_role="customer"
    )
    error = refused(
        desk,
        heard,
        lambda: desk.classify(ticket_id, category="delivery", severity="low", actor=CUSTOMER.id),
        "grants",
    )
    [entry] = desk.security_log()
    assert (entry.kind, entry.principal, entry.rule, entry.subject_id) == (
        "refused",
        CUSTOMER.id,
        "grants",
        ticket_id,
    )
    assert (entry.action, entry.reason) == (error.action, error.reason)
    text = entry.model_dump_json()
    for personal in (PHONE, EMAIL, "Wang Fang", "my phone"):
        assert personal not in text


# ----------------------------------------------------------------------- agents' teams


def test_an_agent_of_another_team_is_refused_and_a_supervisor_is_not(
    desk: Desk, heard: list[Notification]
) -> None:
    ticket_id = care_ticket(desk, team="repairs")
    refused(desk, heard, lambda: desk.fire(ticket_id, "start", actor=CARE_AGENT.id), "rows[1]")
    started = desk.fire(ticket_id, "start", actor=CARE_SUPERVISOR.id)
    assert started.status == "in_progress"
    assert desk.fire(ticket_id, "wait_for_customer", actor=REPAIRS_AGENT.id).version == 5


def test_an_agent_cannot_take_another_teams_ticket_by_assigning_it_to_their_own(
    desk: Desk, heard: list[Notification]
) -> None:
    # The row rule is about the ticket acted on: a repairs ticket is not the care
    # agent's to move, whatever team the move would give it.
    ticket_id = care_ticket(desk, team="repairs")
    refused(
        desk,
        heard,
        lambda: desk.assign(ticket_id, assignee="agent-1", team="care", actor=CARE_AGENT.id),
        "rows[1]",
    )
    assert desk.get(ticket_id).team == "repairs"


def test_an_agent_hands_their_teams_ticket_over_to_another_team(desk: Desk) -> None:
    ticket_id = care_ticket(desk)
    handed = desk.assign(ticket_id, assignee="li.wei", team="repairs", actor=CARE_AGENT.id)
    assert (handed.team, handed.assignee) == ("repairs", "li.wei")


def test_reads_show_an_agent_only_their_teams_tickets_and_a_customer_only_their_own(
    desk: Desk,
) -> None:
    care = care_ticket(desk)
    repairs = care_ticket(desk, team="repairs")
    unassigned = open_own_ticket(desk)
    others = desk.open_ticket(
        customer="c-2", channel="app", subject="late", actor=OTHER_CUSTOMER.id
    ).id
    everything = desk.find()
    assert {t.id for t in everything} == {care, repairs, unassigned, others}

    def seen(actor: Principal | str) -> set[str]:
        return {t.id for t in desk.visible(actor, everything)}

    assert seen(CARE_AGENT) == seen(CARE_AGENT.id) == {care, unassigned, others}
    assert seen(REPAIRS_AGENT) == {repairs, unassigned, others}
    assert seen(CARE_SUPERVISOR) == {care, repairs, unassigned, others}
    assert seen(CUSTOMER) == {care, repairs, unassigned}
    assert seen(OTHER_CUSTOMER) == {others}
    assert seen("script") == {care, repairs, unassigned, others}
    assert desk.may_read(CARE_AGENT.id, desk.get(care))
    assert not desk.may_read(CARE_AGENT.id, desk.get(repairs))
    assert not desk.may_read(OTHER_CUSTOMER, desk.get(care))


def test_a_customer_sees_only_their_own_cases(desk: Desk) -> None:
    ticket_id = open_own_ticket(desk)
    case = desk.cases.request_return(
        ticket_id, order_id="o-1", lines=[claim_line()], actor=CUSTOMER.id
    )
    assert desk.may_read(CUSTOMER, case)
    assert not desk.may_read(OTHER_CUSTOMER, case)
    assert desk.may_read(CARE_AGENT, case)


def test_an_agent_reads_the_cases_of_their_teams_tickets_only(desk: Desk) -> None:
    care = care_ticket(desk)
    complaint = desk.cases.open_complaint(care, summary="Rude courier", actor=CARE_AGENT.id)
    assert desk.may_read(CARE_AGENT, complaint)
    assert not desk.may_read(REPAIRS_AGENT, complaint)  # as writing to it is refused
    assert desk.visible(REPAIRS_AGENT, [complaint, desk.get(care)]) == []
    assert desk.visible(CARE_SUPERVISOR, [complaint]) == [complaint]


# ----------------------------------------------------------------------- four eyes


@pytest.fixture
def complaint_id(desk: Desk) -> str:
    ticket_id = open_own_ticket(desk)
    case = desk.cases.open_complaint(ticket_id, summary="Rude courier", actor=CUSTOMER.id)
    desk.cases.fire(case.id, "acknowledge", actor=CARE_AGENT.id)
    return desk.cases.fire(case.id, "investigate", actor=CARE_AGENT.id).id


def test_a_complaint_is_signed_off_by_a_supervisor_other_than_who_escalated_it(
    desk: Desk, complaint_id: str
) -> None:
    desk.cases.fire(complaint_id, "escalate", actor=CARE_AGENT.id, payload={"reason": "angry"})
    before = stored(desk)
    with pytest.raises((PermissionDenied, TransitionRefused)):
        desk.cases.fire(complaint_id, "sign_off", actor=CARE_AGENT.id, payload={"note": "mine"})
    assert stored(desk) == before
    signed = desk.cases.fire(
        complaint_id, "sign_off", actor=CARE_SUPERVISOR.id, payload={"note": "voucher"}
    )
    assert signed.status == "signed_off"


def test_a_supervisor_who_once_escalated_a_complaint_may_not_sign_it_off(
    desk: Desk, heard: list[Notification], complaint_id: str
) -> None:
    # The workflow checks only the latest escalation; the four-eyes rule checks every one.
    ticket_id = desk.cases.get(complaint_id).ticket_id
    desk.classify(ticket_id, category="complaint", severity="high", actor=CARE_SUPERVISOR.id)
    desk.assign(ticket_id, assignee="li.wei", team="repairs", actor=CARE_SUPERVISOR.id)
    desk.cases.fire(complaint_id, "escalate", actor=CARE_SUPERVISOR.id, payload={"reason": "angry"})
    desk.cases.fire(complaint_id, "propose", actor=REPAIRS_SUPERVISOR.id, payload={"proposal": "x"})
    desk.cases.fire(complaint_id, "reject", actor=CUSTOMER.id)
    desk.assign(ticket_id, assignee="agent-1", team="care", actor=REPAIRS_SUPERVISOR.id)
    escalated = desk.cases.fire(
        complaint_id, "escalate", actor=CARE_AGENT.id, payload={"reason": "still angry"}
    )
    assert escalated.complaint is not None
    assert escalated.complaint.supervisor == CARE_SUPERVISOR.id
    error = refused(
        desk,
        heard,
        lambda: desk.cases.fire(
            complaint_id, "sign_off", actor=CARE_SUPERVISOR.id, payload={"note": "fine"}
        ),
        "four_eyes[0]",
    )
    assert "sign_off" in error.action


def test_a_return_is_approved_by_someone_other_than_who_requested_it(
    desk: Desk, heard: list[Notification]
) -> None:
    ticket_id = care_ticket(desk)
    case = desk.cases.request_return(
        ticket_id, order_id="o-1", lines=[claim_line()], actor=CARE_AGENT.id, decide_now=False
    )
    refused(
        desk,
        heard,
        lambda: desk.cases.fire(case.id, "approve", actor=CARE_AGENT.id),
        "four_eyes[1]",
    )
    assert desk.cases.fire(case.id, "approve", actor=CARE_AGENT_2.id).status == "approved"


def test_a_return_decided_at_once_is_not_the_requesters_own_approval(desk: Desk) -> None:
    ticket_id = care_ticket(desk)
    case = desk.cases.request_return(
        ticket_id, order_id="o-1", lines=[claim_line()], actor=CARE_AGENT.id
    )
    assert case.status == "approved"


# ----------------------------------------------------------------------- field conditions


def received_return(desk: Desk, price: str) -> str:
    """A return of one unit at ``price``, received and inspected: ready to refund."""
    ticket_id = care_ticket(desk)
    line = claim_line(bought=1, claimed=1, price=price)
    case = desk.cases.request_return(ticket_id, order_id="o-1", lines=[line], actor=CUSTOMER.id)
    assert case.status == "approved"
    desk.cases.fire(case.id, "send_instructions", actor=CARE_AGENT.id, payload={"method": "label"})
    desk.cases.fire(case.id, "receive", actor=CARE_AGENT.id, payload={"units": {"l1": 1}})
    desk.cases.fire(
        case.id, "inspect", actor=CARE_AGENT.id, payload={"results": {"l1": ["restock"]}}
    )
    desk.cases.fire(case.id, "refund", actor=CARE_AGENT.id)
    [refund] = desk.cases.find(parent_id=case.id)
    return refund.id


def test_a_refund_above_1000_is_processed_by_a_supervisor_not_an_agent(
    desk: Desk, heard: list[Notification]
) -> None:
    refund_id = received_return(desk, "1500.00")
    error = refused(
        desk,
        heard,
        lambda: desk.cases.fire(refund_id, "process", actor=CARE_AGENT.id),
        "conditions[0]",
    )
    assert "1000" in error.reason
    assert desk.cases.fire(refund_id, "process", actor=CARE_SUPERVISOR.id).status == "processing"


def test_a_refund_of_1000_or_less_is_processed_by_an_agent(desk: Desk) -> None:
    refund_id = received_return(desk, "1000.00")
    assert desk.cases.fire(refund_id, "process", actor=CARE_AGENT.id).status == "processing"


def test_a_goodwill_refund_is_opened_by_a_supervisor_not_an_agent(
    desk: Desk, heard: list[Notification]
) -> None:
    ticket_id = care_ticket(desk)
    line = {
        "line_id": "l1",
        "quantity": 1,
        "bought": 1,
        "unit_price": {"amount": "10.00", "currency": "CNY"},
    }

    def goodwill(actor: str) -> Any:
        return desk.cases.open_refund(ticket_id, order_id="o-1", lines=[line], actor=actor)

    error = refused(desk, heard, lambda: goodwill(CARE_AGENT.id), "conditions[1]")
    assert "goodwill" in error.reason
    assert desk.cases.for_ticket(ticket_id) == []
    refund = goodwill(CARE_SUPERVISOR.id)
    assert (refund.parent_id, [c.id for c in desk.cases.for_ticket(ticket_id)]) == (
        None,
        [refund.id],
    )


# ----------------------------------------------------------------------- scripts


def test_a_script_actor_no_directory_knows_runs_a_whole_lifecycle_and_a_return(
    store: Store, clock: FrozenClock
) -> None:
    desk = Desk(store, clock=clock, permissions=default_permissions())
    assert desk.principal("system").roles == frozenset({"system"})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Kettle leaks")
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    desk.assign(ticket.id, assignee="li.wei", team="repairs")
    for trigger in ("start", "wait_for_customer", "resume"):
        desk.fire(ticket.id, trigger, actor="agent-7")
    desk.resolve(ticket.id, resolution="Replaced the seal", actor="agent-7")
    desk.fire(ticket.id, "confirm", actor="c1")
    desk.fire(ticket.id, "follow_up", actor="survey", payload={"satisfaction": 4})
    assert desk.fire(ticket.id, "close").status == "closed"
    case = desk.cases.request_return(ticket.id, order_id="o-1", lines=[claim_line()])
    desk.cases.fire(case.id, "send_instructions", payload={"method": "label"})
    desk.cases.fire(case.id, "receive", payload={"units": {"l1": 2}})
    desk.cases.fire(case.id, "inspect", payload={"results": {"l1": ["restock", "restock"]}})
    desk.cases.fire(case.id, "refund")
    [refund] = desk.cases.find(parent_id=case.id)
    desk.cases.fire(refund.id, "process")
    desk.cases.fire(refund.id, "succeed")
    assert desk.cases.get(case.id).status == "closed"
    assert desk.security_log() == []


def test_a_desk_without_permissions_checks_nothing(store: Store, clock: FrozenClock) -> None:
    desk = Desk(store, clock=clock, principals=MemoryDirectory([CUSTOMER]))
    assert desk.permissions is None
    ticket_id = desk.open_ticket(
        customer="c-2", channel="app", subject="not mine", actor=CUSTOMER.id
    ).id
    desk.classify(ticket_id, category="delivery", severity="low", actor=CUSTOMER.id)
    desk.assign(ticket_id, assignee="x", team="repairs", actor=CUSTOMER.id)
    assert desk.cancel(ticket_id, reason="mine now", actor=CUSTOMER.id).status == "cancelled"
    assert desk.may_read(CUSTOMER, desk.get(ticket_id))
    assert desk.security_log() == []


def test_a_principal_object_is_an_actor_the_desk_checks_as_itself(
    desk: Desk, heard: list[Notification]
) -> None:
    # Issue 17's design: desk methods accept a Principal as actor=, recorded by its id.
    visitor = Principal.customer("c-9")
    ticket = desk.open_ticket(
        customer="c-9",
        channel="app",
        subject="Kettle leaks",
        actor=visitor,  # type: ignore[arg-type]
    )
    assert desk.history(ticket.id)[0].actor == visitor.id
    refused(
        desk,
        heard,
        lambda: desk.classify(
            ticket.id,
            category="delivery",
            severity="low",
            actor=visitor,  # type: ignore[arg-type]
        ),
        "grants",
    )
