"""What rules and macros do: messages from templates, cases, triggers skipped when the
state no longer allows them, reminders, macros by version, and who they act as."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from aftersales import Desk, FrozenClock, InvalidInput, PermissionDenied
from aftersales.automations import Automations, MacroBook
from aftersales.notify.templates import Templates
from aftersales.security import Principal, default_permissions

START = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
TEMPLATES = Templates(
    {
        "got-it": {
            "en": {"body": "Hello {{ customer.name }}, we are on {{ about }}."},
            "zh": {"body": "{{ customer.name }}，您好，我们正在处理 {{ about }}。"},
        }
    }
)


def on_classify(*actions: dict[str, Any], name: str = "r", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "event",
        "when": {"triggers": ["classify"]},
        "actions": list(actions),
        **extra,
    }


def classified(desk: Desk, customer: str = "c1") -> str:
    ticket = desk.open_ticket(customer=customer, channel="email", subject="Broken")
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    return ticket.id


def test_send_message_posts_a_system_reply_in_the_customers_language_once() -> None:
    desk = Desk(clock=FrozenClock(START))
    desk.save_customer({"id": "c1", "name": "Li Wei", "language": "zh-CN"})
    rule = on_classify(
        {"do": "send_message", "template": "got-it"}, {"do": "call_webhook", "webhook": "fail-once"}
    )
    failures = [ConnectionError("down")]

    def fail_once(notification: Any) -> None:
        if failures:
            raise failures.pop()

    Automations(desk, {"rules": [rule]}, templates=TEMPLATES, webhooks={"fail-once": fail_once})
    ticket_id = classified(desk)
    desk.dispatch_outbox(START + timedelta(days=1))
    replies = desk.messages(ticket_id)
    assert [(m.author_role.value, m.body) for m in replies] == [
        ("system", "Li Wei，您好，我们正在处理 Ticket #1。")
    ]


def test_a_template_the_set_lacks_is_refused_at_install() -> None:
    rule = on_classify({"do": "send_message", "template": "gone"})
    with pytest.raises(InvalidInput, match=r"unknown template 'gone'"):
        Automations(Desk(), {"rules": [rule]}, templates=TEMPLATES)
    with pytest.raises(InvalidInput, match=r"needs templates="):
        Automations(Desk(), {"rules": [rule]})


def test_open_case_opens_a_linked_case_of_the_kind() -> None:
    desk = Desk(clock=FrozenClock(START))
    rule = on_classify({"do": "open_case", "kind": "complaint", "fields": {"summary": "Late"}})
    Automations(desk, {"rules": [rule]})
    ticket_id = classified(desk)
    cases = desk.cases.for_ticket(ticket_id)
    assert [(c.kind.value, c.complaint.summary) for c in cases] == [("complaint", "Late")]  # type: ignore[union-attr]


def test_a_trigger_the_state_no_longer_allows_is_skipped_not_failed() -> None:
    desk = Desk(clock=FrozenClock(START))
    rule = on_classify(
        {"do": "fire", "trigger": "resolve", "payload": {"resolution": "x"}},
        {"do": "assign", "assignee": "li"},
    )
    automations = Automations(desk, {"rules": [rule]})
    ticket_id = classified(desk)
    desk.flush()
    assert desk.outbox("dead") == []
    run = automations.runs[-1]
    assert [(o.do, o.status) for o in run.outcomes] == [("fire", "skipped"), ("assign", "done")]
    assert desk.get(ticket_id).assignee == "li"


def test_a_reminder_waits_on_the_outbox_and_notes_once_when_due() -> None:
    clock = FrozenClock(START)
    desk = Desk(clock=clock)
    rule = on_classify(
        {"do": "add_tags", "tags": ["watch"]},
        {"do": "remind", "after_hours": 2, "note": "Check it"},
    )
    Automations(desk, {"rules": [rule]})
    ticket_id = classified(desk)
    assert desk.messages(ticket_id, include_internal=True) == []
    clock.advance(hours=1)
    desk.dispatch_outbox()
    assert desk.messages(ticket_id, include_internal=True) == []
    clock.advance(hours=1, seconds=1)
    desk.dispatch_outbox()
    notes = [(m.author_id, m.body) for m in desk.messages(ticket_id, include_internal=True)]
    assert notes == [("reminder", "Check it")]
    assert desk.get(ticket_id).tags == ("watch",)


def test_a_reminder_longer_than_the_retries_allow_is_refused() -> None:
    rule = on_classify({"do": "remind", "after_hours": 200, "note": "x"})
    with pytest.raises(InvalidInput, match=r"needs max_delivery_attempts of 10"):
        Automations(Desk(), {"rules": [rule]})


MACROS = [
    {
        "name": "refund-ok",
        "version": 1,
        "title": "Refund OK",
        "actions": [{"do": "add_tags", "tags": ["refund"]}],
    },
    {
        "name": "refund-ok",
        "version": 2,
        "title": "Refund approved",
        "actions": [
            {"do": "set_fields", "fields": {"priority": "high", "team": "billing"}},
            {"do": "send_message", "template": "got-it"},
        ],
    },
]


def test_a_macro_sets_fields_and_replies_as_the_agent_and_records_its_version() -> None:
    desk = Desk(clock=FrozenClock(START))
    desk.save_customer({"id": "c1", "name": "Ann"})
    automations = Automations(desk, {"rules": []}, templates=TEMPLATES, macros=MACROS)
    ticket_id = classified(desk)
    outcomes = automations.apply_macro(ticket_id, "refund-ok", actor="li")
    assert [o.status for o in outcomes] == ["done", "done"]
    ticket = desk.get(ticket_id)
    assert (ticket.priority.value, ticket.team) == ("high", "billing")
    events = [e for e in desk.history(ticket_id) if e.trigger in ("macro_applied", "fields_set")]
    assert [(e.trigger, e.actor, e.payload["macro"], e.payload["version"]) for e in events] == [
        ("macro_applied", "li", "refund-ok", 2),
        ("fields_set", "li", "refund-ok", 2),
    ]
    assert [m.body for m in desk.messages(ticket_id)] == ["Hello Ann, we are on Ticket #1."]
    automations.apply_macro(ticket_id, "refund-ok", actor="li", version=1)
    assert desk.get(ticket_id).tags == ("refund",)


def test_an_unknown_macro_or_version_is_bad_input() -> None:
    desk = Desk()
    automations = Automations(desk, {"rules": []}, templates=TEMPLATES, macros=MACROS)
    ticket_id = classified(desk)
    with pytest.raises(InvalidInput, match=r"no macro 'refund'; known: refund-ok"):
        automations.apply_macro(ticket_id, "refund", actor="li")
    with pytest.raises(InvalidInput, match=r"refund-ok has no version 3; known: 1, 2"):
        automations.apply_macro(ticket_id, "refund-ok", actor="li", version=3)
    with pytest.raises(InvalidInput, match=r"refund-ok v1 is kept"):
        MacroBook(MACROS).add(MACROS[0])
    with pytest.raises(InvalidInput, match=r"remind is for rules"):
        MacroBook([{**MACROS[0], "actions": [{"do": "remind", "after_hours": 1, "note": "x"}]}])
    with pytest.raises(InvalidInput, match=r"unknown priority 'asap'"):
        Automations(
            desk,
            {"rules": []},
            macros=[{**MACROS[0], "actions": [{"do": "set_priority", "priority": "asap"}]}],
        )


def test_on_a_desk_with_permissions_rules_and_macros_act_under_their_actor() -> None:
    desk = Desk(clock=FrozenClock(START), permissions=default_permissions())
    bot = Principal.bot("bot-1")
    rule = on_classify({"do": "set_priority", "priority": "urgent"})
    Automations(desk, {"rules": [rule]}, actor=bot)
    ticket_id = classified(desk)
    failed = [n for n in desk.outbox("pending") if n.handler == "rule:r"]
    assert [n.last_error.split(":")[0] for n in failed if n.last_error] == ["PermissionDenied"]
    assert desk.get(ticket_id).priority.value == "high"
    other = Desk(clock=FrozenClock(START), permissions=default_permissions())
    automations = Automations(other, {"rules": [rule]}, templates=TEMPLATES, macros=MACROS)
    ticket_id = classified(other)
    assert other.get(ticket_id).priority.value == "urgent"  # the system's default principal
    with pytest.raises(PermissionDenied):
        automations.apply_macro(ticket_id, "refund-ok", actor=Principal.customer("c1"), version=1)
    automations.apply_macro(ticket_id, "refund-ok", actor=Principal.supervisor("sue"), version=1)
    assert other.get(ticket_id).tags == ("refund",)
