"""Time entries (``desk.log_time``, ``desk.cases.log_time``): an event by the agent whose
time it is, that changes no state, bounded, refused whole on bad input and checked by the
desk's permissions like any command."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from aftersales import (
    CaseNotFound,
    Desk,
    FrozenClock,
    InvalidInput,
    PermissionDenied,
    SQLiteStore,
    Store,
    TicketNotFound,
)
from aftersales.models import Case, Event
from aftersales.privacy import RedactionSettings
from aftersales.security import MemoryDirectory, Principal, default_permissions
from aftersales.settings import DeskSettings

CUSTOMER = Principal.customer("c-1")
CARE_AGENT = Principal.agent("agent-1", "care")
REPAIRS_AGENT = Principal.agent("li.wei", "repairs")
TECHNICIAN = Principal.technician("tech-1", "field")


def open_ticket(desk: Desk, team: str | None = "care") -> str:
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle leaks")
    if team is not None:
        desk.classify(ticket.id, category="repair_warranty", severity="low")
        desk.assign(ticket.id, assignee="agent-1", team=team)
    return ticket.id


def test_an_entry_is_an_event_by_the_agent_that_keeps_the_state(
    desk: Desk, clock: FrozenClock
) -> None:
    ticket_id = open_ticket(desk)
    before = desk.get(ticket_id)
    clock.advance(timedelta(minutes=40))
    after = desk.log_time(ticket_id, minutes=25, actor="agent-1", note="Called the customer")
    assert (after.status, after.version) == (before.status, before.version + 1)
    assert after.updated_at == clock.now()
    entry = desk.history(ticket_id)[-1]
    assert (entry.trigger, entry.actor, entry.at) == ("log_time", "agent-1", clock.now())
    assert (entry.from_state, entry.to_state) == (before.status, before.status)
    assert entry.payload == {"logged_seconds": 1500, "note": "Called the customer"}
    assert desk.get(ticket_id) == after
    assert desk.replay(ticket_id) == after


def test_a_timedelta_logs_its_seconds_and_a_ticket_number_names_the_ticket(desk: Desk) -> None:
    ticket_id = open_ticket(desk)
    number = desk.get(ticket_id).number
    desk.log_time(number, minutes=timedelta(minutes=1, seconds=30), actor="agent-1")
    desk.log_time(ticket_id, minutes=timedelta(hours=24), actor="agent-2")
    entries = [e.payload for e in desk.history(ticket_id) if e.trigger == "log_time"]
    assert entries == [
        {"logged_seconds": 90, "note": None},
        {"logged_seconds": 86_400, "note": None},
    ]


def test_sqlite_keeps_the_seconds_in_the_column_reports_sum(tmp_path: Path) -> None:
    desk = Desk(SQLiteStore(tmp_path / "desk.db"))
    ticket_id = open_ticket(desk)
    desk.log_time(ticket_id, minutes=7, actor="agent-1")
    desk.close()
    with sqlite3.connect(tmp_path / "desk.db") as conn:
        rows = conn.execute("SELECT trigger, logged_seconds FROM events ORDER BY sequence")
        assert [r for r in rows if r[1] is not None] == [("log_time", 420)]


def test_an_entry_on_a_case_keeps_its_state_and_step(desk: Desk, clock: FrozenClock) -> None:
    ticket_id = open_ticket(desk)
    complaint = desk.cases.open_complaint(ticket_id, summary="The courier was rude")
    clock.advance(timedelta(hours=1))
    after = desk.cases.log_time(complaint.id, minutes=15, actor="agent-1", note="Read the file")
    assert isinstance(after, Case)
    assert (after.status, after.version) == (complaint.status, complaint.version + 1)
    assert (after.step_due_at, after.step_action) == (complaint.step_due_at, complaint.step_action)
    entry = desk.cases.history(complaint.id)[-1]
    assert (entry.trigger, entry.actor, entry.subject_kind) == ("log_time", "agent-1", "complaint")
    assert entry.payload == {"logged_seconds": 900, "note": "Read the file"}
    assert desk.cases.replay(complaint.id) == after == desk.cases.get(complaint.id)


def test_the_note_is_redacted_as_messages_are(clock: FrozenClock) -> None:
    desk = Desk(clock=clock, settings=DeskSettings(redaction=RedactionSettings(style="mask")))
    ticket_id = open_ticket(desk)
    desk.log_time(ticket_id, minutes=5, actor="agent-1", note="Called 13912345678")
    note = desk.history(ticket_id)[-1].payload["note"]
    assert "13912345678" not in note
    assert note.startswith("Called ")


def test_a_remembered_copy_changed_by_another_desk_loses_no_time(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "desk.db")
    mine, theirs = Desk(store), Desk(store)
    ticket_id = open_ticket(mine)  # mine remembers version 3
    theirs.add_message(ticket_id, "On it", author_id="agent-2")
    logged = mine.log_time(ticket_id, minutes=10, actor="agent-1")
    assert logged.version == 5
    triggers = [e.trigger for e in store.events(ticket_id)]
    assert triggers[-2:] == ["add_message", "log_time"]
    assert triggers.count("log_time") == 1
    store.close()


# ----------------------------------------------------------------------- bad input

BAD_ENTRIES: list[tuple[dict[str, Any], str]] = [
    ({"minutes": 0}, "minutes"),
    ({"minutes": -5}, "minutes"),
    ({"minutes": 1441}, "minutes"),
    ({"minutes": 1.5}, "minutes"),
    ({"minutes": True}, "minutes"),
    ({"minutes": "30"}, "minutes"),
    ({"minutes": timedelta(0)}, "minutes"),
    ({"minutes": timedelta(minutes=-1)}, "minutes"),
    ({"minutes": timedelta(hours=24, seconds=1)}, "minutes"),
    ({"minutes": timedelta(seconds=1.5)}, "minutes"),
    ({"minutes": 5, "note": ""}, "note"),
    ({"minutes": 5, "note": "a" * 1001}, "note"),
    ({"minutes": 5, "note": "nul\x00"}, "note"),
    ({"minutes": 5, "note": 12}, "note"),
    ({"minutes": 5, "actor": ""}, "actor"),
    ({"minutes": 5, "actor": "bad\nactor"}, "actor"),
]


def stored(store: Store, subject_id: str) -> list[Event]:
    return store.events(subject_id)


@pytest.mark.parametrize(("fields", "named"), BAD_ENTRIES, ids=str)
def test_bad_input_names_the_field_and_stores_nothing(
    desk: Desk, fields: dict[str, Any], named: str
) -> None:
    ticket_id = open_ticket(desk)
    complaint = desk.cases.open_complaint(ticket_id, summary="Rude")
    ticket_events, case_events = stored(desk.store, ticket_id), stored(desk.store, complaint.id)
    arguments = {"actor": "agent-1", **fields}
    log_ticket: Callable[[], object] = lambda: desk.log_time(ticket_id, **arguments)  # noqa: E731
    log_case: Callable[[], object] = lambda: desk.cases.log_time(complaint.id, **arguments)  # noqa: E731
    for log in (log_ticket, log_case):
        with pytest.raises(InvalidInput) as raised:
            log()
        assert any(named in error.location for error in raised.value.errors), raised.value
    assert stored(desk.store, ticket_id) == ticket_events
    assert stored(desk.store, complaint.id) == case_events
    assert desk.get(ticket_id).version == len(ticket_events)


def test_the_actor_is_required_and_an_unknown_subject_is_not_found(desk: Desk) -> None:
    ticket_id = open_ticket(desk)
    with pytest.raises(TypeError, match="actor"):
        desk.log_time(ticket_id, minutes=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="actor"):
        desk.cases.log_time("case-1", minutes=5)  # type: ignore[call-arg]
    with pytest.raises(TicketNotFound):
        desk.log_time("no-such-ticket", minutes=5, actor="agent-1")
    with pytest.raises(CaseNotFound):
        desk.cases.log_time("no-such-case", minutes=5, actor="agent-1")


# ----------------------------------------------------------------------- permissions


@pytest.fixture
def guarded(store: Store, clock: FrozenClock) -> Desk:
    desk = Desk(store, clock=clock, permissions=default_permissions())
    directory = desk.principals
    assert isinstance(directory, MemoryDirectory)
    for principal in (CUSTOMER, CARE_AGENT, REPAIRS_AGENT, TECHNICIAN):
        directory.add(principal)
    return desk


def refused(desk: Desk, subject_id: str, act: Callable[[], object], rule: str) -> None:
    """``act`` is refused by ``rule``, logged, and stores nothing."""
    events = stored(desk.store, subject_id)
    logged = len(desk.security_log())
    with pytest.raises(PermissionDenied) as raised:
        act()
    assert raised.value.rule == rule
    assert stored(desk.store, subject_id) == events
    assert len(desk.security_log()) == logged + 1
    assert "log_time" in desk.security_log()[-1].action


def test_agents_log_time_on_their_teams_tickets_and_cases(guarded: Desk) -> None:
    ticket_id = open_ticket(guarded)
    assert guarded.log_time(ticket_id, minutes=20, actor=CARE_AGENT.id).version == 4
    complaint = guarded.cases.open_complaint(ticket_id, summary="Rude", actor=CARE_AGENT.id)
    guarded.cases.log_time(complaint.id, minutes=5, actor=CARE_AGENT.id)
    no_team = open_ticket(guarded, team=None)
    guarded.log_time(no_team, minutes=5, actor=CARE_AGENT)  # a principal as actor
    assert guarded.history(no_team)[-1].actor == CARE_AGENT.id
    visit = guarded.cases.open(
        "visit",
        no_team,
        address="88 Nanjing Road, Shanghai",
        window_start=datetime(2024, 3, 5, 9, tzinfo=timezone.utc),
        window_end=datetime(2024, 3, 5, 12, tzinfo=timezone.utc),
    )
    guarded.cases.log_time(visit.id, minutes=90, actor=TECHNICIAN.id, note="Fitted the pump")
    assert guarded.cases.history(visit.id)[-1].payload["logged_seconds"] == 5400


def test_customers_bots_and_other_teams_may_not_log_time(guarded: Desk) -> None:
    ticket_id = open_ticket(guarded)
    refused(
        guarded,
        ticket_id,
        lambda: guarded.log_time(ticket_id, minutes=5, actor=CUSTOMER.id),
        "grants",
    )
    refused(
        guarded,
        ticket_id,
        lambda: guarded.log_time(ticket_id, minutes=5, actor=REPAIRS_AGENT.id),
        "rows[1]",
    )
    refused(
        guarded,
        ticket_id,
        lambda: guarded.log_time(ticket_id, minutes=5, actor=Principal.bot()),
        "grants",
    )
    complaint = guarded.cases.open_complaint(ticket_id, summary="Rude")
    refused(
        guarded,
        complaint.id,
        lambda: guarded.cases.log_time(complaint.id, minutes=5, actor=TECHNICIAN.id),
        "grants",
    )
