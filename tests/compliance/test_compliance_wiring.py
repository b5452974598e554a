"""How the desk wires permissions and erasure: the subject a row rule reads, what a
second erasure reports, the fields erased by default, permission sets from a file."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from aftersales import Desk, FrozenClock, PermissionDenied, TransitionError
from aftersales.security import Principal, default_permissions

START = datetime(2024, 3, 5, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def desk(clock: FrozenClock) -> Desk:
    desk = Desk(clock=clock, permissions=default_permissions())
    desk.principals.add(Principal.agent("zhao", "repairs"))
    desk.principals.add(Principal.agent("qian", "care"))
    return desk


def _ticket_of_team(desk: Desk, team: str) -> str:
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    return desk.assign(ticket.id, assignee=f"lead-{team}", team=team).id


def test_an_agent_cannot_take_another_teams_ticket_by_assigning_it_to_their_own(
    desk: Desk,
) -> None:
    # the row rule reads the ticket as it was: a care ticket, out of a repairs agent's reach
    ticket_id = _ticket_of_team(desk, "care")
    before = desk.get(ticket_id)
    with pytest.raises(PermissionDenied) as refused:
        desk.assign(ticket_id, assignee="zhao", team="repairs", actor="zhao")
    assert refused.value.principal == "zhao"
    assert desk.get(ticket_id) == before


def test_an_agent_can_hand_their_teams_ticket_to_another_team(desk: Desk) -> None:
    ticket_id = _ticket_of_team(desk, "care")
    assert desk.assign(ticket_id, assignee="zhao", team="repairs", actor="qian").team == "repairs"


def test_a_permission_set_is_read_from_a_json_file(tmp_path: Path, clock: FrozenClock) -> None:
    path = tmp_path / "permissions.json"
    path.write_text(json.dumps(default_permissions().model_dump(mode="json")))
    desk = Desk(clock=clock, permissions=path)
    assert desk.permissions == default_permissions()


def test_erasing_a_customer_twice_reports_nothing_the_second_time(clock: FrozenClock) -> None:
    desk = Desk(clock=clock)
    desk.save_customer({"id": "c-1", "name": "Zhang San"})
    desk.open_ticket(customer="c-1", channel="email", subject="Zhang San's kettle")
    first = desk.erase_customer("c-1")
    second = desk.erase_customer("c-1")
    assert (first.tickets, first.events, first.customer) == (1, 1, True)
    assert (second.tickets, second.events, second.customer) == (0, 0, False)


def test_a_visits_address_and_note_are_erased_by_default(clock: FrozenClock) -> None:
    desk = Desk(clock=clock)
    ticket = desk.open_ticket(customer="c-1", channel="phone", subject="上门安装洗衣机")
    visit = desk.cases.open(
        "visit",
        ticket.id,
        address="88 Nanjing Road, Shanghai",
        window_start=START,
        window_end=START + timedelta(hours=3),
    )
    desk.erase_customer("c-1")
    erased = desk.cases.get(visit.id)
    assert erased.details is not None
    assert "Nanjing" not in erased.model_dump_json()
    assert all("Nanjing" not in e.model_dump_json() for e in desk.cases.history(visit.id))
    assert desk.verify_audit([ticket.id, visit.id]).ok


def test_a_customer_cannot_write_as_an_agent(desk: Desk) -> None:
    # an agent's public reply is the first response the SLA counts
    desk.principals.add(Principal.customer("c-1"))
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    with pytest.raises(PermissionDenied) as refused:
        desk.add_message(ticket.id, "Solved!", author_id="customer:c-1", author_role="agent")
    assert refused.value.rule == "author_role"
    assert desk.messages(ticket.id) == []
    assert desk.get(ticket.id).first_response_at is None
    desk.add_message(ticket.id, "Still broken", author_id="customer:c-1", author_role="customer")


def test_erasure_export_and_the_security_log_need_a_grant(desk: Desk) -> None:
    desk.principals.add(Principal.supervisor("sun", "care"))
    desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    for attempt in (
        lambda: desk.erase_customer("c-1", actor="zhao"),
        lambda: desk.export_customer("c-1", actor="zhao"),
        lambda: desk.security_log(actor="zhao"),
    ):
        with pytest.raises(PermissionDenied):
            attempt()
    assert desk.find()[0].subject == "Kettle"
    refusals = desk.security_log(actor="sun")
    assert [e.action for e in refusals] == [
        "fire erase on customer c-1",
        "fire export on customer c-1",
        "fire read on security_log security_log",
    ]
    assert desk.export_customer("c-1", actor="sun")["tickets"][0]["subject"] == "Kettle"
    assert desk.erase_customer("c-1", actor="sun").tickets == 1


def test_a_desk_holding_a_copy_read_before_an_erasure_cannot_write_the_data_back(
    tmp_path: Path, clock: FrozenClock
) -> None:
    from aftersales.storage import SQLiteStore

    path = tmp_path / "desk.db"
    worker = Desk(SQLiteStore(path), clock=clock)
    admin = Desk(SQLiteStore(path), clock=clock)
    ticket = worker.open_ticket(customer="c-1", channel="email", subject="Wang Fang: kettle")
    worker.classify(ticket.id, category="repair_warranty", severity="high")  # remembered
    admin.erase_customer("c-1")
    worker.assign(ticket.id, assignee="agent-1", team="repairs")  # decided again on a read
    stored = worker.get(ticket.id)
    assert stored.subject == "[erased]"
    assert stored.assignee == "agent-1"
    assert worker.replay(ticket.id) == stored
    assert worker.verify_audit().ok
    worker.close()
    admin.close()


def test_an_import_is_checked_like_opening_each_ticket(desk: Desk) -> None:
    customer = Principal.customer("c-1")
    with pytest.raises(PermissionDenied):
        desk.import_tickets(
            [
                {
                    "channel": "email",
                    "subject": "x",
                    "customer_id": "c-2",
                    "status": "closed",
                    "created_at": START,
                    "updated_at": START,
                }
            ],
            actor=customer,
        )
    assert desk.find() == []
    assert [e.rule for e in desk.security_log()] == ["rows[0]"]


def test_a_merge_is_checked_on_the_ticket_merged_into_too(desk: Desk) -> None:
    desk.principals.add(Principal.senior_agent("sa-care", "care"))
    mine = _ticket_of_team(desk, "care")
    theirs = _ticket_of_team(desk, "repairs")
    before = desk.get(theirs)
    with pytest.raises(PermissionDenied):
        desk.merge(mine, into=theirs, actor="sa-care")
    assert desk.get(theirs) == before
    assert desk.get(mine).merged_into is None


def test_roles_passed_with_a_principal_do_not_outlive_the_call(desk: Desk) -> None:
    desk.principals.add(Principal.agent("bob", "care"))
    ticket_id = _ticket_of_team(desk, "repairs")
    with pytest.raises(TransitionError):  # refused by the workflow, not by permissions
        desk.merge(ticket_id, into=ticket_id, actor=Principal.supervisor("bob", "repairs"))
    with pytest.raises(PermissionDenied):  # the directory's bob: a care agent
        desk.escalate(ticket_id, reason="stuck", actor="bob")


def test_a_case_method_takes_a_principal(desk: Desk) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    complaint = desk.cases.open_complaint(
        ticket.id, summary="rude", actor=Principal.supervisor("sun", "care")
    )
    assert desk.cases.history(complaint.id)[0].actor == "sun"


def test_what_a_customer_wrote_after_a_merge_into_anothers_ticket_is_erased(
    clock: FrozenClock,
) -> None:
    desk = Desk(clock=clock)
    mine = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    theirs = desk.open_ticket(customer="c-2", channel="email", subject="Kettle too")
    desk.merge(mine.id, into=theirs.id)
    desk.add_message(mine.id, "call me on 13912345678", author_id="c-1", author_role="customer")
    desk.add_message(theirs.id, "me too", author_id="c-2", author_role="customer")
    desk.erase_customer("c-1")
    bodies = [m.body for m in desk.messages(theirs.id)]
    assert bodies == ["[erased]", "me too"]
    assert desk.get(theirs.id).subject == "Kettle too"
    assert desk.replay(theirs.id) == desk.get(theirs.id)
    assert desk.verify_audit().ok


def test_retention_keeps_a_closed_ticket_whose_case_still_runs(clock: FrozenClock) -> None:
    desk = Desk(clock=clock, settings={"retention_days": 30})
    ticket = desk.open_ticket(customer="c-1", channel="phone", subject="上门安装洗衣机")
    visit = desk.cases.open(
        "visit",
        ticket.id,
        address="88 Nanjing Road, Shanghai",
        window_start=clock.now() + timedelta(days=40),
        window_end=clock.now() + timedelta(days=40, hours=3),
    )
    desk.cancel(ticket.id, reason="booked by phone")
    clock.advance(timedelta(days=31))
    assert desk.run_due().erased == ()
    assert "Nanjing" in desk.cases.get(visit.id).model_dump_json()


def test_a_refusal_decided_on_a_stale_copy_is_decided_again_on_what_is_stored(
    tmp_path: Path, clock: FrozenClock
) -> None:
    from aftersales.storage import SQLiteStore

    path = tmp_path / "desk.db"
    first = Desk(SQLiteStore(path), clock=clock, permissions=default_permissions())
    second = Desk(SQLiteStore(path), clock=clock, permissions=default_permissions())
    for desk in (first, second):
        desk.principals.add(Principal.agent("qian", "care"))
    ticket_id = _ticket_of_team(first, "repairs")  # first remembers it in repairs
    second.assign(ticket_id, assignee="qian", team="care")
    assert first.fire(ticket_id, "start", actor="qian").status == "in_progress"
    first.close()
    second.close()


def test_a_refused_reservation_takes_no_stock(clock: FrozenClock) -> None:
    from case_facts import claim_line

    from aftersales import MemoryInventory

    inventory = MemoryInventory({"SKU-big": 5})
    desk = Desk(clock=clock, inventory=inventory, permissions=default_permissions())
    desk.principals.add(Principal.customer("c-1"))
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="wrong size")
    line = claim_line(kind="exchange", category="mobile_phone", bought=1, claimed=1)
    case = desk.cases.request_exchange(
        ticket.id, order_id="o-1", line=line, replacement_sku="SKU-big"
    )
    desk.cases.fire(case.id, "send_instructions", payload={"method": "label"})
    desk.cases.fire(case.id, "receive", payload={"units": {"l1": 1}})
    desk.cases.fire(case.id, "inspect", payload={"results": {"l1": ["not_as_described"]}})
    for _ in range(3):
        with pytest.raises(PermissionDenied):
            desk.cases.reserve_replacement(case.id, actor="customer:c-1")
    assert inventory.stock["SKU-big"] == 5
    assert desk.cases.reserve_replacement(case.id).status == "replacement_reserved"
    assert inventory.stock["SKU-big"] == 4


def test_the_audit_report_counts_events_written_before_the_chain(clock: FrozenClock) -> None:
    from aftersales.storage import MemoryStore

    store = MemoryStore()
    desk = Desk(store, clock=clock)
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    assert desk.verify_audit().unchained == 0
    # as a database upgraded from before the chain holds them
    store._events[ticket.id] = [
        e.model_copy(update={"chain": None, "salt": None}) for e in store.events(ticket.id)
    ]
    store._tickets[ticket.id] = store.get(ticket.id).model_copy(update={"audit_chain": None})
    report = desk.verify_audit()
    assert (report.ok, report.unchained) == (True, 2)
