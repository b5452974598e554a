"""Event rules: evaluated in the commit, acting after it through the outbox, with loop
protection, and a dry run that writes nothing."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from aftersales import Desk, FrozenClock, InvalidInput, Notification
from aftersales.automations import Automations, RuleSet, parse_rules, rules_schema

START = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)  # a Monday
EXAMPLE = Path(__file__).parent / "example_rules.json"


def make_desk(**kwargs: Any) -> Desk:
    return Desk(clock=FrozenClock(START), **kwargs)


def urgent_rule(**extra: Any) -> dict[str, Any]:
    return {
        "name": "urgent-vip",
        "kind": "event",
        "when": {"subjects": ["ticket"], "triggers": ["classify"]},
        "conditions": [{"field": "subject.severity", "op": "eq", "value": "critical"}],
        "actions": [
            {"do": "set_priority", "priority": "urgent"},
            {"do": "add_tags", "tags": ["vip", "hot"]},
            {"do": "add_note", "text": "Critical: handle first"},
        ],
        **extra,
    }


def test_a_matching_event_rule_sets_fields_tags_and_a_note_after_the_commit() -> None:
    desk = make_desk()
    Automations(desk, {"rules": [urgent_rule()]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Fire!")
    desk.classify(ticket.id, category="repair_warranty", severity="critical", priority="low")
    after = desk.get(ticket.id)
    assert (after.priority.value, after.tags) == ("urgent", ("vip", "hot"))
    notes = desk.messages(ticket.id, include_internal=True)
    assert [m.body for m in notes] == ["Critical: handle first"]
    fields_set = [e for e in desk.history(ticket.id) if e.trigger == "fields_set"]
    expected = {"rule": "urgent-vip", "event": 2, "action": 0, "fields": ["priority"]}
    assert [fields_set[0].payload] == [expected]
    assert fields_set[0].actor == "automation"
    desk.flush()
    assert desk.outbox("pending") == []


def test_a_rule_whose_conditions_fail_writes_no_outbox_row() -> None:
    desk = make_desk()
    Automations(desk, {"rules": [urgent_rule()]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Meh")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    assert [n for n in desk.outbox() if n.handler.startswith("rule:")] == []
    assert desk.get(ticket.id).tags == ()


def test_mode_first_runs_only_the_first_matching_rule() -> None:
    desk = make_desk()
    tag = {
        "name": "tag-all",
        "kind": "event",
        "when": {"triggers": ["classify"]},
        "actions": [{"do": "add_tags", "tags": ["seen"]}],
    }
    Automations(desk, {"mode": "first", "rules": [urgent_rule(), tag]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Fire!")
    desk.classify(ticket.id, category="repair_warranty", severity="critical")
    other = desk.open_ticket(customer="c1", channel="email", subject="Meh")
    desk.classify(other.id, category="repair_warranty", severity="low")
    assert (desk.get(ticket.id).tags, desk.get(other.id).tags) == (("vip", "hot"), ("seen",))


def test_conditions_read_the_actor_role_the_customer_the_payload_and_the_time() -> None:
    desk = make_desk()
    desk.save_customer({"id": "c1", "name": "Ann", "tier": "gold", "language": "zh"})
    rule = {
        "name": "gold-morning",
        "kind": "event",
        "when": {"triggers": ["classify"]},
        "conditions": [
            {"field": "customer.tier", "op": "in", "value": ["gold", "platinum"]},
            {"field": "customer.language", "op": "eq", "value": "zh"},
            {"field": "event.payload.category", "op": "contains", "value": "repair"},
            {"field": "time.hour", "op": "lt", "value": 12},
            {"field": "time.weekday", "op": "le", "value": 5},
            {"field": "actor.id", "op": "eq", "value": "li"},
            {"field": "event.trigger", "op": "eq", "value": "classify"},
            {"field": "subject.tags", "op": "not_contains", "value": "gold"},
        ],
        "any": [
            {"field": "subject.assignee", "op": "exists"},
            {"field": "subject.team", "op": "missing"},
        ],
        "actions": [{"do": "add_tags", "tags": ["gold"]}],
    }
    Automations(desk, {"rules": [rule]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    desk.classify(ticket.id, category="repair_warranty", severity="low", actor="li")
    assert desk.get(ticket.id).tags == ("gold",)


def test_a_rule_that_sets_itself_off_stops_at_the_loop_limit_with_one_event() -> None:
    desk = make_desk()
    echo = {
        "name": "echo",
        "kind": "event",
        "when": {"triggers": ["add_message"]},
        "actions": [{"do": "add_note", "text": "echo"}],
    }
    Automations(desk, {"loop_limit": 3, "rules": [echo]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Loop")
    desk.add_message(ticket.id, "hello", author_id="c1", author_role="customer")
    bodies = [m.body for m in desk.messages(ticket.id, include_internal=True)]
    assert bodies == ["hello", "echo", "echo", "echo"]
    stopped = [e.payload for e in desk.history(ticket.id) if e.trigger == "automation_stopped"]
    assert stopped == [{"rule": "echo", "limit": 3, "sequence": 5}]


def test_explain_tells_which_rules_would_fire_and_why_and_writes_nothing() -> None:
    desk = make_desk()
    automations = Automations(desk, {"rules": [urgent_rule()]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Fire!")
    before = (desk.history(ticket.id), desk.outbox(), desk.get(ticket.id))
    verdicts = automations.explain_trigger(
        ticket.id, "classify", payload={"category": "repair_warranty", "severity": "critical"}
    )
    assert [(v.rule, v.would_fire) for v in verdicts] == [("urgent-vip", True)]
    condition = verdicts[0].conditions[0]
    assert (
        condition.field,
        condition.actual,
        condition.passed,
    ) == ("subject.severity", "critical", True)
    low = automations.explain_trigger(
        ticket.id, "classify", payload={"category": "repair_warranty", "severity": "low"}
    )
    assert (
        low[0].would_fire,
        low[0].conditions[0].actual,
        low[0].conditions[0].passed,
    ) == (False, "low", False)
    assert before == (desk.history(ticket.id), desk.outbox(), desk.get(ticket.id))
    opened = automations.explain(desk.history(ticket.id)[0])
    assert (opened[0].would_fire, opened[0].reason) == (False, "does not hear created on a ticket")


def test_unknown_triggers_states_priorities_and_actions_name_their_path() -> None:
    desk = make_desk()
    bad = urgent_rule()
    bad["when"] = {"triggers": ["clasify"]}
    with pytest.raises(InvalidInput, match=r"0\.when\.triggers.*unknown trigger 'clasify'"):
        Automations(desk, {"rules": [bad]})
    bad = urgent_rule(conditions=[{"field": "subject.status", "op": "eq", "value": "opne"}])
    with pytest.raises(InvalidInput, match=r"0\.conditions\.0\.field.*unknown state 'opne'"):
        Automations(desk, {"rules": [bad]})
    bad = urgent_rule(actions=[{"do": "set_priority", "priority": "asap"}])
    with pytest.raises(InvalidInput, match=r"unknown priority 'asap'"):
        Automations(desk, {"rules": [bad]})
    bad = urgent_rule(actions=[{"do": "teleport"}])
    with pytest.raises(InvalidInput, match=r"0\.event\.actions\.0: Input tag 'teleport'"):
        Automations(desk, {"rules": [bad]})
    bad = urgent_rule(conditions=[{"field": "subject.colour", "op": "eq", "value": 1}])
    with pytest.raises(InvalidInput, match=r"unknown subject field 'colour'"):
        Automations(desk, {"rules": [bad]})
    with pytest.raises(InvalidInput, match=r"op 'in' takes a list"):
        parse_rules({"rules": [urgent_rule(conditions=[{"field": "subject.status", "op": "in"}])]})
    bad = urgent_rule(actions=[{"do": "call_webhook", "webhook": "crm"}])
    with pytest.raises(InvalidInput, match=r"unknown webhook 'crm'"):
        Automations(desk, {"rules": [bad]})
    assert desk._hooks._sources == []


def test_the_shipped_example_rules_validate_against_the_exported_schema() -> None:
    data = json.loads(EXAMPLE.read_text())
    schema = rules_schema()
    try:
        import jsonschema
    except ImportError:
        rules = parse_rules(data)
        assert rules == RuleSet.model_validate_json(rules.model_dump_json())
    else:  # pragma: no cover - when jsonschema is installed
        jsonschema.validate(data, schema)
    assert schema["title"] == "RuleSet"
    Automations(make_desk(), data, webhooks={"crm": lambda n: None})


def test_a_webhook_is_called_with_the_rules_notification_once_even_when_retried() -> None:
    desk = make_desk()
    calls: list[Notification] = []

    def crm(notification: Notification) -> None:
        calls.append(notification)
        if len(calls) == 1:
            raise ConnectionError("down")

    rule = {
        "name": "tell-crm",
        "kind": "event",
        "when": {"triggers": ["classify"]},
        "actions": [
            {"do": "add_note", "text": "told the CRM"},
            {"do": "call_webhook", "webhook": "crm"},
        ],
    }
    Automations(desk, {"rules": [rule]}, webhooks={"crm": crm})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    assert [
        n.status.value if n.last_error is None else "failed" for n in desk.outbox("pending")
    ] == ["failed"]
    desk.dispatch_outbox(START.replace(year=2026))
    assert len(calls) == 2
    assert calls[0].key == calls[1].key
    notes = [m.body for m in desk.messages(ticket.id, include_internal=True)]
    assert notes == ["told the CRM"]
