"""Review of the automations (issue 19): each defect found is proven by a strict xfail
that fails now and passes once the defect is fixed."""

from __future__ import annotations

from datetime import datetime, timezone

import jsonschema
import pytest

from aftersales import Desk, FrozenClock, InvalidInput, MemoryStore, PermissionDenied
from aftersales.automations import Automations, MacroBook, parse_rules, rules_schema
from aftersales.notify import Notification
from aftersales.security import Principal, default_permissions

START = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)  # a Monday


def _notes(desk: Desk, ticket_id: str) -> list[str]:
    return [m.body for m in desk.messages(ticket_id, include_internal=True)]


# ---------------------------------------------------------------------- explain


@pytest.mark.xfail(
    strict=True,
    reason="explain says a rule hearing every trigger fires on a rule_due event, "
    "but _rows never writes an event rule's row for rule_due",
)
def test_explain_agrees_with_what_fires_on_a_time_rules_own_event() -> None:
    clock = FrozenClock(START)
    desk = Desk(clock=clock)
    heard: list[str] = []
    automations = Automations(
        desk,
        {
            "rules": [
                {
                    "name": "late",
                    "kind": "time",
                    "since": "created_at",
                    "hours": 1,
                    "actions": [{"do": "call_webhook", "webhook": "log"}],
                },
                {
                    "name": "everything",
                    "kind": "event",
                    "when": {},
                    "conditions": [{"field": "event.trigger", "op": "eq", "value": "rule_due"}],
                    "actions": [{"do": "call_webhook", "webhook": "log"}],
                },
            ]
        },
        webhooks={"log": lambda n: heard.append(n.handler)},
    )
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    clock.advance(hours=2)
    assert desk.run_due().automations == ((ticket.id, "late"),)
    due = next(e for e in desk.history(ticket.id) if e.trigger == "rule_due")
    said = {v.rule: v.would_fire for v in automations.explain(due)}
    did = "rule:everything" in heard
    assert (said["everything"], did) == (did, did)


# ---------------------------------------------------------------------- the schema


@pytest.mark.xfail(
    strict=True,
    reason="parse_rules coerces a string of hours (pydantic lax mode) that the exported "
    "JSON Schema refuses",
)
def test_what_parse_rules_accepts_the_schema_accepts() -> None:
    document = {
        "rules": [
            {
                "name": "late",
                "kind": "time",
                "hours": "24",
                "actions": [{"do": "add_note", "text": "late"}],
            }
        ]
    }
    refused_by_parse = False
    try:
        parse_rules(document)
    except InvalidInput:
        refused_by_parse = True
    refused_by_schema = False
    try:
        jsonschema.validate(document, rules_schema())
    except jsonschema.ValidationError:
        refused_by_schema = True
    assert refused_by_parse == refused_by_schema


@pytest.mark.xfail(
    strict=True,
    reason="the schema's Condition.field is any 3-200 characters; parse_rules refuses "
    "a root other than subject/event/actor/customer/time",
)
def test_what_the_schema_accepts_parse_rules_accepts() -> None:
    document = {
        "rules": [
            {
                "name": "odd",
                "kind": "event",
                "when": {},
                "conditions": [{"field": "nonsense.x", "op": "exists"}],
                "actions": [{"do": "add_note", "text": "odd"}],
            }
        ]
    }
    jsonschema.validate(document, rules_schema())  # the schema says this is a rule set
    parse_rules(document)


# ---------------------------------------------------------------------- escalation


@pytest.mark.xfail(
    strict=True,
    reason="a chain started again after resolve+reopen leaves escalation_level at the "
    "old chain's top level (_due.decide only raises the level)",
)
def test_a_restarted_escalation_chain_shows_its_own_level_on_the_ticket() -> None:
    clock = FrozenClock(START)
    desk = Desk(clock=clock)
    chain = {
        "name": "breach",
        "kind": "escalation",
        "start": "assign",
        "levels": [
            {"after_hours": 0, "actions": [{"do": "add_tags", "tags": ["lead"]}]},
            {"after_hours": 4, "actions": [{"do": "add_tags", "tags": ["supervisor"]}]},
            {"after_hours": 8, "actions": [{"do": "add_tags", "tags": ["director"]}]},
        ],
    }
    Automations(desk, {"rules": [chain]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    desk.assign(ticket.id, assignee="li")  # the chain starts (start: assign)
    clock.advance(hours=9)
    assert [name for _, name in desk.run_due().automations] == [
        "breach.level1",
        "breach.level2",
        "breach.level3",
    ]
    desk.fire(ticket.id, "start")
    desk.resolve(ticket.id, resolution="fixed")
    desk.fire(ticket.id, "reopen", payload={"reason": "broke again"})
    desk.assign(ticket.id, assignee="mo")  # a new chain, from its first level
    assert [name for _, name in desk.run_due().automations] == ["breach.level1"]
    assert desk.get(ticket.id).escalation_level == 1


# ---------------------------------------------------------------------- time windows


@pytest.mark.xfail(
    strict=True,
    reason="the rule_due event record_on_ticket writes moves updated_at, so a time rule "
    "on updated_at re-arms itself on a ticket nobody touched",
)
def test_a_time_rule_on_updated_at_fires_once_on_a_ticket_nobody_touches() -> None:
    clock = FrozenClock(START)
    desk = Desk(clock=clock)
    calls: list[Notification] = []
    Automations(
        desk,
        {
            "rules": [
                {
                    "name": "stale",
                    "kind": "time",
                    "since": "updated_at",
                    "hours": 24,
                    "actions": [{"do": "call_webhook", "webhook": "chat"}],
                }
            ]
        },
        webhooks={"chat": calls.append},
    )
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    fired: list[tuple[str, str]] = []
    for _ in range(4):
        clock.advance(hours=25)
        fired.extend(desk.run_due().automations)
    # the webhook changed nothing on the ticket: its last update is still its creation
    assert (fired, len(calls)) == ([(ticket.id, "stale")], 1)


# ---------------------------------------------------------------------- retries


class _CrashOnceAfterTheNote(MemoryStore):
    """A store whose first write of an automations marker fails, as a process dying
    between an action's commit and its marker would."""

    def __init__(self) -> None:
        super().__init__()
        self.crashed = False

    def set_state(self, key: str, value: str) -> None:
        if key.startswith("automations:") and not self.crashed:
            self.crashed = True
            raise RuntimeError("process died here")
        super().set_state(key, value)


@pytest.mark.xfail(
    strict=True,
    reason="an action's done-marker is written after (not with) its commit "
    "(_actions.ActionRunner.run), so a retried delivery posts the note again",
)
def test_a_retried_delivery_after_a_crash_adds_the_note_once() -> None:
    clock = FrozenClock(START)
    store = _CrashOnceAfterTheNote()
    desk = Desk(store=store, clock=clock)
    Automations(
        desk,
        {
            "rules": [
                {
                    "name": "welcome",
                    "kind": "event",
                    "when": {"triggers": ["created"]},
                    "actions": [{"do": "add_note", "text": "New ticket: triage it"}],
                }
            ]
        },
    )
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    assert store.crashed
    for _ in range(5):
        clock.advance(hours=1)
        desk.dispatch_outbox()
    assert _notes(desk, ticket.id) == ["New ticket: triage it"]


# ---------------------------------------------------------------------- roles in the dry run


@pytest.mark.xfail(
    strict=True,
    reason="explain_trigger drops a Principal actor to its id (not @acting), so actor.role "
    "reads the directory's roles, not the ones desk.fire(actor=principal) sees",
)
def test_explain_trigger_with_a_principal_agrees_with_firing_as_that_principal() -> None:
    desk = Desk(clock=FrozenClock(START))
    heard: list[str] = []
    automations = Automations(
        desk,
        {
            "rules": [
                {
                    "name": "agent-starts",
                    "kind": "event",
                    "when": {"triggers": ["start"]},
                    "conditions": [{"field": "actor.role", "op": "eq", "value": "agent"}],
                    "actions": [{"do": "call_webhook", "webhook": "log"}],
                }
            ]
        },
        webhooks={"log": lambda n: heard.append(n.event.trigger)},
    )
    agent = Principal(id="li", roles=("agent",), teams=("repairs",))
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="li", team="repairs")
    said = automations.explain_trigger(ticket.id, "start", actor=agent)[0].would_fire
    desk.fire(ticket.id, "start", actor=agent)
    assert (said, heard) == (True, ["start"])


# ---------------------------------------------------------------------- macros and permissions


@pytest.mark.xfail(
    strict=True,
    reason="MacroBook.apply runs actions one by one: an action the agent may not do raises "
    "PermissionDenied after macro_applied and the earlier fields were committed",
)
def test_a_macro_with_an_action_the_agent_may_not_do_changes_nothing() -> None:
    desk = Desk(clock=FrozenClock(START), permissions=default_permissions())
    macros = MacroBook(
        [
            {
                "name": "wrap-up",
                "title": "Wrap up",
                "actions": [
                    {"do": "add_tags", "tags": ["wrapped"]},
                    {"do": "fire", "trigger": "auto_close"},  # the system's, not an agent's
                ],
            }
        ]
    )
    automations = Automations(desk, {"rules": []}, macros=macros)
    agent = Principal(id="li", roles=("agent",), teams=("repairs",))
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="li", team="repairs")
    desk.fire(ticket.id, "start")
    desk.resolve(ticket.id, resolution="fixed")
    before = [e.trigger for e in desk.history(ticket.id)]
    with pytest.raises(PermissionDenied):
        automations.apply_macro(ticket.id, "wrap-up", actor=agent)
    after = desk.get(ticket.id)
    assert (after.tags, after.status, [e.trigger for e in desk.history(ticket.id)]) == (
        (),
        "resolved",
        before,
    )


# ---------------------------------------------------------------------- retried deliveries


@pytest.mark.xfail(
    strict=True,
    reason="assign (like set_fields) carries no done-marker (_actions.ActionRunner.run), so "
    "a delivery retried for a later action assigns again over a newer human change",
)
def test_a_retried_delivery_does_not_undo_a_reassignment_made_meanwhile() -> None:
    clock = FrozenClock(START)
    desk = Desk(clock=clock)
    attempts: list[int] = []

    def flaky(notification: Notification) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("chat server down")

    Automations(
        desk,
        {
            "rules": [
                {
                    "name": "to-the-lead",
                    "kind": "event",
                    "when": {"triggers": ["classify"]},
                    "actions": [
                        {"do": "assign", "assignee": "lead", "team": "repairs"},
                        {"do": "call_webhook", "webhook": "chat"},
                    ],
                }
            ]
        },
        webhooks={"chat": flaky},
    )
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    assert desk.get(ticket.id).assignee == "lead"
    desk.assign(ticket.id, assignee="li", team="repairs", actor="lead")  # handed on
    for _ in range(5):
        clock.advance(hours=1)
        desk.dispatch_outbox()
    assert (len(attempts), desk.get(ticket.id).assignee) == (2, "li")
