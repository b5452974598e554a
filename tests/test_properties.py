"""Property tests: replay equals state for every shipped workflow, and bad input is harmless."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales import AftersalesError, Desk, FrozenClock, MemoryStore, SQLiteStore, Store
from aftersales.workflows import TICKET_WORKFLOW

TICKET_WORKFLOWS = {TICKET_WORKFLOW.name: TICKET_WORKFLOW}
"""Workflows a ticket can run on (the after-sales case workflows: tests/cases)."""

START = datetime(2024, 2, 28, 23, 0, tzinfo=timezone.utc)
# Valid names and free text: no control characters (Identifier refuses them; a separate
# fuzz test feeds the invalid ones and expects InvalidInput).
words = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)
severity = st.sampled_from(["critical", "high", "medium", "low"])

PAYLOADS: dict[str, dict[str, st.SearchStrategy[dict[str, Any]]]] = {
    "ticket": {
        "classify": st.fixed_dictionaries(
            {"category": words, "severity": severity},
            optional={"priority": st.sampled_from(["urgent", "high", "normal", "low"])},
        ),
        "assign": st.fixed_dictionaries({"assignee": words}, optional={"team": words}),
        "queue": st.fixed_dictionaries({"team": words}, optional={"reason": words}),
        "start": st.just({}),
        "wait_for_customer": st.fixed_dictionaries({}, optional={"note": words}),
        "wait_for_third_party": st.just({}),
        "resume": st.just({}),
        "resolve": st.fixed_dictionaries({"resolution": words}),
        "self_serve": st.fixed_dictionaries(
            {"resolution": words, "article_id": words},
            optional={
                "article_version": st.integers(1, 9),
                "confidence": st.floats(0, 1),
            },
        ),
        "confirm": st.just({}),
        "follow_up": st.fixed_dictionaries(
            {}, optional={"satisfaction": st.integers(1, 5), "note": words}
        ),
        "close": st.just({}),
        "auto_close": st.just({}),
        "escalate": st.fixed_dictionaries({"reason": words}, optional={"assignee": words}),
        "reopen": st.fixed_dictionaries({"reason": words}),
        "merge": st.just({"into": "<other>"}),
        "cancel": st.fixed_dictionaries({"reason": words}),
    }
}


def test_every_trigger_of_every_ticket_workflow_has_a_payload_strategy() -> None:
    for name, workflow in TICKET_WORKFLOWS.items():
        assert set(PAYLOADS[name]) == set(workflow.triggers)


def _step(workflow: str) -> st.SearchStrategy[tuple[str, dict[str, Any], int, int]]:
    return st.sampled_from(sorted(PAYLOADS[workflow])).flatmap(
        lambda trigger: st.tuples(
            st.just(trigger),
            PAYLOADS[workflow][trigger],
            st.integers(0, 1),
            st.integers(0, 3 * 24 * 60),
        )
    )


STORES: dict[str, Callable[[], Store]] = {
    "memory": MemoryStore,
    "sqlite": lambda: SQLiteStore(":memory:"),
}


@pytest.mark.parametrize("store_kind", sorted(STORES))
@pytest.mark.parametrize("workflow", sorted(TICKET_WORKFLOWS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_replaying_events_reproduces_the_stored_state(
    workflow: str, store_kind: str, data: st.DataObject
) -> None:
    clock = FrozenClock(START)
    desk = Desk(STORES[store_kind](), clock=clock, workflow=TICKET_WORKFLOWS[workflow])
    try:
        tickets = [
            desk.open_ticket(customer="c", channel="app", subject=f"t{i}").id for i in (1, 2)
        ]
        steps = data.draw(st.lists(_step(workflow), max_size=40))
        for trigger, payload, which, minutes in steps:
            clock.advance(minutes=minutes)
            target, other = tickets[which], tickets[1 - which]
            if payload.get("into") == "<other>":
                payload = {"into": other}
            try:
                if trigger == "add_message":
                    desk.add_message(target, "hi", author_id="a")
                else:
                    desk.fire(target, trigger, actor="prop", payload=payload)
            except AftersalesError:
                pass
            if minutes % 7 == 0:
                desk.add_message(target, "update", author_id="agent")
            if minutes % 11 == 0:
                desk.run_due()
        for ticket_id in tickets:
            stored = desk.get(ticket_id)
            events = desk.history(ticket_id)
            assert [e.sequence for e in events] == list(range(1, stored.version + 1))
            assert desk.replay(ticket_id) == stored
            assert events[-1].to_state == stored.status
    finally:
        desk.close()  # Hypothesis may stop an example early with its own exception


garbage = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=300),
    st.binary(max_size=20),
    st.datetimes(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)


def _snapshot(desk: Desk) -> Any:
    tickets = desk.find(limit=10_000)
    return (
        tickets,
        [desk.store.events(t.id) for t in tickets],
        [desk.store.messages(t.id) for t in tickets],
        desk.store.outbox(),
    )


CALLS: dict[str, Callable[[Desk, str, Any, Any], Any]] = {
    "open_ticket": lambda d, t, a, b: d.open_ticket(customer=a, channel=b, subject=a),
    "open_ticket_fields": lambda d, t, a, b: d.open_ticket(
        customer="c", channel="email", subject="s", order_line=a, tags=b, priority=a
    ),
    "fire": lambda d, t, a, b: d.fire(t, a, payload=b),
    "fire_actor": lambda d, t, a, b: d.fire(t, "classify", actor=a, payload=b),
    "fire_id": lambda d, t, a, b: d.fire(a, "cancel", payload={"reason": b}),
    "classify": lambda d, t, a, b: d.classify(t, category=a, severity=b),
    "assign": lambda d, t, a, b: d.assign(t, assignee=a, team=b),
    "resolve": lambda d, t, a, b: d.resolve(t, resolution=a),
    "escalate": lambda d, t, a, b: d.escalate(t, reason=a, assignee=b),
    "reopen": lambda d, t, a, b: d.reopen(t, reason=a),
    "merge": lambda d, t, a, b: d.merge(t, into=a),
    "cancel": lambda d, t, a, b: d.cancel(t, reason=a, actor=b),
    "add_message": lambda d, t, a, b: d.add_message(t, a, author_id="x", author_role=b),
    "add_message_kind": lambda d, t, a, b: d.add_message(t, "hi", author_id=a, kind=b),
    "get": lambda d, t, a, b: d.get(a),
    "find": lambda d, t, a, b: d.find(status=a, channel=b),
    "find_dates": lambda d, t, a, b: d.find(created_from=a, limit=b),
    "history": lambda d, t, a, b: d.history(a),
    "messages": lambda d, t, a, b: d.messages(a),
    "save_customer": lambda d, t, a, b: d.save_customer(a),
    "save_customer_fields": lambda d, t, a, b: d.save_customer({"name": a, "contacts": b}),
    "find_customer": lambda d, t, a, b: d.find_customer(a, b),
    "customer_history": lambda d, t, a, b: d.customer_history(a),
    "run_due": lambda d, t, a, b: d.run_due(a),
    "dispatch_outbox": lambda d, t, a, b: d.dispatch_outbox(a),
    "outbox": lambda d, t, a, b: d.outbox(a),
    "subscribe": lambda d, t, a, b: d.subscribe(a, name=b),
    "settings": lambda d, t, a, b: Desk(settings={"reopen_within_days": a}),
}


@settings(max_examples=400, deadline=None)
@given(call=st.sampled_from(sorted(CALLS)), first=garbage, second=garbage)
def test_malformed_input_raises_only_our_errors_and_stores_nothing(
    call: str, first: Any, second: Any
) -> None:
    clock = FrozenClock(START)
    desk = Desk(clock=clock)
    ticket = desk.open_ticket(customer="c", channel="email", subject="s")
    desk.classify(ticket.id, category="other", severity="low")
    before = _snapshot(desk)
    try:
        CALLS[call](desk, ticket.id, first, second)
    except AftersalesError:
        assert _snapshot(desk) == before
    clock.advance(timedelta(seconds=1))
