"""A desk built with ``automations=`` runs the rule set, and an agent may apply macros."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from aftersales import Desk, FrozenClock, InvalidInput
from aftersales.automations import Automations, MacroBook
from aftersales.security import Principal, default_permissions

START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)

URGENT_WHEN_CRITICAL = {
    "rules": [
        {
            "name": "critical-first",
            "kind": "event",
            "when": {"subjects": ["ticket"], "triggers": ["classify"]},
            "conditions": [{"field": "subject.severity", "op": "eq", "value": "critical"}],
            "actions": [{"do": "set_priority", "priority": "urgent"}],
        }
    ]
}


def test_a_desk_built_with_a_rule_set_runs_it() -> None:
    desk = Desk(clock=FrozenClock(START), automations=URGENT_WHEN_CRITICAL)
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Smoke")
    desk.classify(ticket.id, category="repair_warranty", severity="critical")
    assert desk.get(ticket.id).priority == "urgent"
    assert isinstance(desk.automations, Automations)
    assert Desk().automations is None


def test_a_desk_refuses_a_rule_set_naming_a_trigger_its_workflow_lacks() -> None:
    broken = {"rules": [dict(URGENT_WHEN_CRITICAL["rules"][0], when={"triggers": ["clasify"]})]}
    with pytest.raises(InvalidInput, match="clasify"):
        Desk(automations=broken)


def test_an_agent_may_apply_a_macro_under_the_shipped_permissions() -> None:
    desk = Desk(clock=FrozenClock(START), permissions=default_permissions())
    macros = MacroBook(
        [
            {
                "name": "ask-for-photo",
                "version": 1,
                "title": "Ask for a photo",
                "actions": [
                    {"do": "add_tags", "tags": ["photo-asked"]},
                    {"do": "set_priority", "priority": "high"},
                ],
            }
        ]
    )
    automations = Automations(desk, {"rules": []}, macros=macros)
    agent = Principal(id="li", roles=("agent",), teams=("repairs",))
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Cracked lid")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="li", team="repairs")
    automations.apply_macro(ticket.id, "ask-for-photo", actor=agent)
    after = desk.get(ticket.id)
    assert (after.tags, after.priority) == (("photo-asked",), "high")
