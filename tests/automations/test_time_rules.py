"""Time rules and escalation chains: run by run_due, each firing once per subject and
window, across any number of runs and several workers on one database."""

from __future__ import annotations

import tempfile
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales import Desk, FrozenClock, InvalidInput, SQLiteStore
from aftersales.automations import Automations, _due
from aftersales.automations._due import DueRules

START = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)  # a Monday
HOURS = 10

NUDGE = {
    "name": "nudge",
    "kind": "time",
    "since": "updated_at",
    "hours": HOURS,
    "conditions": [{"field": "subject.tags", "op": "not_contains", "value": "quiet"}],
    "actions": [{"do": "add_note", "text": "Still open: anyone?"}],
}

POLICY: dict[str, Any] = {
    "name": "office",
    "calendar": {"hours": {str(d): ["09:00-17:00"] for d in range(5)}},
    "rules": [{"name": "all", "targets": {"resolution": {"minutes": 60}}}],
}


def fired_windows(desk: Desk, ticket_id: str) -> list[tuple[str, str]]:
    return [
        (e.payload["rule"], e.payload["window"])
        for e in desk.history(ticket_id)
        if e.trigger == "rule_due"
    ]


def test_a_time_rule_fires_once_when_its_hours_have_passed() -> None:
    clock = FrozenClock(START)
    desk = Desk(clock=clock)
    Automations(desk, {"rules": [NUDGE]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    quiet = desk.open_ticket(customer="c1", channel="email", subject="Hush", tags=["quiet"])
    clock.advance(hours=HOURS - 1)
    assert desk.run_due().automations == ()
    clock.advance(hours=1)
    assert desk.run_due().automations == ((ticket.id, "nudge"),)
    assert desk.run_due().automations == ()
    assert fired_windows(desk, ticket.id) == [("nudge", START.isoformat())]
    notes = [m.body for m in desk.messages(ticket.id, include_internal=True)]
    assert notes == ["Still open: anyone?"]
    assert fired_windows(desk, quiet.id) == []


def test_a_time_rule_in_business_hours_counts_on_the_sla_calendar() -> None:
    friday_four = datetime(2025, 3, 7, 16, 0, tzinfo=timezone.utc)
    clock = FrozenClock(friday_four)
    desk = Desk(clock=clock, sla=POLICY)
    rule = {**NUDGE, "since": "created_at", "hours": 2, "business_hours": True}
    Automations(desk, {"rules": [rule]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    clock.set(datetime(2025, 3, 10, 9, 59, tzinfo=timezone.utc))  # Monday, 1h59 of work
    assert desk.run_due().automations == ()
    clock.set(datetime(2025, 3, 10, 10, 0, tzinfo=timezone.utc))
    assert desk.run_due().automations == ((ticket.id, "nudge"),)


def test_business_hours_without_an_sla_calendar_are_refused_at_install() -> None:
    rule = {**NUDGE, "business_hours": True}
    with pytest.raises(InvalidInput, match=r"business hours need a desk with an SLA policy"):
        Automations(Desk(), {"rules": [rule]})
    with pytest.raises(InvalidInput, match=r"ticket has no timestamp 'touched_at'"):
        Automations(Desk(), {"rules": [{**NUDGE, "since": "touched_at"}]})


ACK_COMPLAINTS = {
    "name": "ack-complaints",
    "kind": "time",
    "subjects": ["complaint"],
    "since": "created_at",
    "hours": 1,
    "actions": [{"do": "fire", "trigger": "acknowledge"}],
}
"""Acknowledge a complaint an hour after it was opened."""


def test_a_time_rule_on_a_case_kind_fires_its_trigger_once() -> None:
    clock = FrozenClock(START)
    desk = Desk(clock=clock)
    Automations(desk, {"rules": [ACK_COMPLAINTS]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Rude")
    complaint = desk.cases.open_complaint(ticket.id, summary="The courier was rude")
    clock.advance(hours=2)
    assert desk.run_due().automations == ((complaint.id, "ack-complaints"),)
    assert desk.cases.get(complaint.id).status == "acknowledged"
    assert desk.run_due().automations == ()


def test_a_time_rule_on_a_case_kind_reads_every_page_of_its_cases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # it read one find of at most 10,000 cases: a kind with more open cases than that
    # never had its newer ones reach the rule
    clock = FrozenClock(START)
    desk = Desk(clock=clock)
    Automations(desk, {"rules": [ACK_COMPLAINTS]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Rude")
    complaints = [
        desk.cases.open_complaint(ticket.id, summary=f"Courier {n} was rude").id for n in range(5)
    ]
    clock.advance(hours=2)
    monkeypatch.setattr(_due, "PAGE", 2)
    pages = []
    find_cases = desk.store.find_cases

    def recorded(query: Any) -> Any:
        found = find_cases(query)
        if query.kind == "complaint" and query.status_category is not None:  # the rule's
            pages.append((query.limit, query.after is not None, len(found)))
        return found

    monkeypatch.setattr(desk.store, "find_cases", recorded)
    fired = desk.run_due().automations
    assert sorted(subject for subject, _ in fired) == sorted(complaints)
    # the "new" complaints a page of two at a time, each page after the last (the
    # acknowledged ones move out of the category meanwhile); then the other categories
    assert pages[:3] == [(2, False, 2), (2, True, 2), (2, True, 1)]
    assert {limit for limit, _, _ in pages} == {2}


def test_an_escalation_chain_fires_each_level_once_and_records_the_level() -> None:
    clock = FrozenClock(START)
    desk = Desk(clock=clock)
    chain = {
        "name": "breach",
        "kind": "escalation",
        "start": "escalate",
        "levels": [
            {"after_hours": 0, "actions": [{"do": "add_tags", "tags": ["escalated"]}]},
            {"after_hours": 4, "actions": [{"do": "assign", "assignee": "supervisor-1"}]},
            {"after_hours": 8, "actions": [{"do": "assign", "assignee": "director-1"}]},
        ],
    }
    Automations(desk, {"rules": [chain]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    desk.assign(ticket.id, assignee="li")
    assert desk.run_due().automations == ()
    desk.escalate(ticket.id, reason="angry customer")
    assert desk.run_due().automations == ((ticket.id, "breach.level1"),)
    clock.advance(hours=4)
    assert desk.run_due().automations == ((ticket.id, "breach.level2"),)
    after = desk.get(ticket.id)
    assert (after.escalation_level, after.assignee, after.tags) == (
        2,
        "supervisor-1",
        ("escalated",),
    )
    desk.fire(ticket.id, "start")
    desk.resolve(ticket.id, resolution="fixed")
    clock.advance(hours=8)
    assert desk.run_due().automations == ()
    levels = [e.payload["level"] for e in desk.history(ticket.id) if e.trigger == "rule_due"]
    assert levels == [1, 2]


# ---------------------------------------------------------------- several workers

Step = tuple[str, int]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("run"), st.integers(0, 2)),
        st.tuples(st.just("race"), st.integers(0, 2)),
        st.tuples(st.just("advance"), st.integers(1, 2 * HOURS)),
        st.tuples(st.just("touch"), st.integers(0, 2)),
    ),
    min_size=1,
    max_size=25,
)


def _race(worker: Desk, other: Desk) -> None:
    """Make ``worker``'s next look at a subject's history let ``other`` run first, so
    ``worker`` decides on what it read before ``other`` fired."""
    due: DueRules = worker._due_work[0].__self__  # type: ignore[attr-defined]
    history = due.history
    raced: list[bool] = []

    def racing(kind: str, subject: Any) -> Any:
        if not raced:
            raced.append(True)
            other.run_due()
        return history(kind, subject)

    due.history = racing  # type: ignore[method-assign]


def _check(desks: list[Desk], tickets: list[str], now: datetime) -> None:
    desks[0].run_due()
    for ticket_id in tickets:
        windows = Counter(fired_windows(desks[0], ticket_id))
        assert [w for w, n in windows.items() if n > 1] == []
        ticket = desks[0].get(ticket_id)
        due = ticket.updated_at + timedelta(hours=HOURS)
        assert now < due or ("nudge", ticket.updated_at.isoformat()) in windows


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps, workers=st.integers(2, 3))
def test_a_time_rule_fires_at_most_once_per_window_across_workers_on_one_database(
    steps: list[Step], workers: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        clock = FrozenClock(START)
        path = Path(folder) / "desk.db"
        desks = [Desk(SQLiteStore(path), clock=clock) for _ in range(workers)]
        try:
            for desk in desks:
                Automations(desk, {"rules": [NUDGE]})
            tickets = [
                desks[0].open_ticket(customer="c1", channel="email", subject=f"T{n}").id
                for n in range(3)
            ]
            for op, value in steps:
                if op == "run":
                    desks[value % workers].run_due()
                elif op == "race":
                    worker = desks[value % workers]
                    _race(worker, desks[(value + 1) % workers])
                    worker.run_due()
                    del worker._due_work[0].__self__.history  # type: ignore[attr-defined]
                elif op == "advance":
                    clock.advance(hours=value)
                else:
                    desks[value % workers].add_message(
                        tickets[value], "any news?", author_id="c1", author_role="customer"
                    )
            _check(desks, tickets, clock.now())
        finally:
            for desk in desks:
                desk.close()


@settings(max_examples=30, deadline=None)
@given(steps=steps)
def test_a_time_rule_fires_at_most_once_per_window_on_a_memory_store(steps: list[Step]) -> None:
    clock = FrozenClock(START)
    desk = Desk(clock=clock)
    Automations(desk, {"rules": [NUDGE]})
    tickets = [
        desk.open_ticket(customer="c1", channel="email", subject=f"T{n}").id for n in range(3)
    ]
    for op, value in steps:
        if op in ("run", "race"):
            desk.run_due()
        elif op == "advance":
            clock.advance(hours=value)
        else:
            desk.add_message(tickets[value], "news?", author_id="c1", author_role="customer")
    _check([desk], tickets, clock.now())


def test_workers_running_due_work_at_once_fire_each_window_once() -> None:
    with tempfile.TemporaryDirectory() as folder:
        clock = FrozenClock(START)
        path = Path(folder) / "desk.db"
        desks = [Desk(SQLiteStore(path), clock=clock) for _ in range(3)]
        for desk in desks:
            Automations(desk, {"rules": [NUDGE]})
        tickets = [
            desks[0].open_ticket(customer="c1", channel="email", subject=f"T{n}").id
            for n in range(20)
        ]
        clock.advance(hours=HOURS + 1)
        barrier = threading.Barrier(3)
        errors: list[Exception] = []

        def work(desk: Desk) -> None:
            try:
                barrier.wait(timeout=60)
                desk.run_due()
            except Exception as error:  # noqa: BLE001  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=work, args=(desk,)) for desk in desks]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        counts = [len(fired_windows(desks[0], ticket_id)) for ticket_id in tickets]
        assert counts == [1] * len(tickets)
        for desk in desks:
            desk.close()


def test_a_subject_that_loses_every_race_is_left_for_the_next_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aftersales import ConcurrencyError
    from aftersales.automations import _due

    clock = FrozenClock(START)
    desk = Desk(clock=clock)
    Automations(desk, {"rules": [NUDGE]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Busy")
    clock.advance(hours=HOURS)

    def busy(*args: Any, **kwargs: Any) -> None:
        raise ConcurrencyError(ticket.id, 1, 2)

    with monkeypatch.context() as patched:
        patched.setattr(_due, "record_on_subject", busy)
        assert desk.run_due().automations == ()
    assert desk.run_due().automations == ((ticket.id, "nudge"),)
