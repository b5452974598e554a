"""What the automations do since their review: who writes rule and macro messages (and
whether they are the first response), marks committed with the actions, macros checked
before they write, strict rule data matching the schema, windows on updated_at, the
desk's automations attribute, and a Templates type-checking as the renderer."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import jsonschema
import pytest

from aftersales import Desk, FrozenClock, InvalidInput, MemoryStore, PermissionDenied
from aftersales.automations import Automations, Macro, MacroBook, parse_rules, rules_schema
from aftersales.notify import Notification
from aftersales.notify.templates import Templates
from aftersales.security import Principal, default_permissions

START = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
TEMPLATES = Templates({"got-it": "Hello, we are on {{ about }}."})


def rule(*actions: dict[str, Any], triggers: tuple[str, ...] = ("created",)) -> dict[str, Any]:
    return {
        "name": "r",
        "kind": "event",
        "when": {"triggers": list(triggers)},
        "actions": list(actions),
    }


def working(desk: Desk) -> str:
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="li", team="repairs")
    return ticket.id


# ---------------------------------------------------------------------- authors


def test_a_rules_acknowledgement_is_the_systems_and_not_the_first_response() -> None:
    desk = Desk(clock=FrozenClock(START))
    Automations(
        desk,
        {"rules": [rule({"do": "send_message", "template": "got-it"})]},
        templates=TEMPLATES,
    )
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    replies = desk.messages(ticket.id)
    assert [(m.author_id, m.author_role.value) for m in replies] == [("automation", "system")]
    assert desk.get(ticket.id).first_response_at is None


def test_a_macros_reply_is_the_agents_who_applied_it_and_the_first_response() -> None:
    clock = FrozenClock(START)
    desk = Desk(clock=clock)
    automations = Automations(
        desk,
        {"rules": []},
        templates=TEMPLATES,
        macros=[
            {
                "name": "ack",
                "title": "Acknowledge",
                "actions": [
                    {"do": "add_note", "text": "told them"},
                    {"do": "send_message", "template": "got-it"},
                ],
            }
        ],
    )
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    automations.apply_macro(ticket.id, "ack", actor="li")
    written = desk.messages(ticket.id, include_internal=True)
    assert [(m.author_id, m.author_role.value) for m in written] == [
        ("li", "agent"),
        ("li", "agent"),
    ]
    assert desk.get(ticket.id).first_response_at == START


# ---------------------------------------------------------------------- marks


class _CrashOnFirstMark(MemoryStore):
    """Dies on the first automations mark, after the action's commit."""

    def __init__(self) -> None:
        super().__init__()
        self.crashed = False

    def set_state(self, key: str, value: str) -> None:
        if key.startswith("automations:") and not self.crashed:
            self.crashed = True
            raise RuntimeError("process died here")
        super().set_state(key, value)


def test_a_retried_delivery_after_a_crash_does_not_add_back_a_tag_removed_meanwhile() -> None:
    clock = FrozenClock(START)
    store = _CrashOnFirstMark()
    desk = Desk(store=store, clock=clock)
    automations = Automations(
        desk,
        {
            "rules": [
                {
                    **rule({"do": "add_tags", "tags": ["triage"]}),
                    "name": "tag-new",
                }
            ]
        },
    )
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    assert (store.crashed, desk.get(ticket.id).tags) == (True, ("triage",))
    tagged = next(e for e in desk.history(ticket.id) if e.trigger == "fields_set")
    assert tagged.payload == {"rule": "tag-new", "event": 1, "action": 0, "fields": ["tags"]}
    automations.runner.set_fields(
        ticket.id, lambda t: {"tags": ()}, {"by": "hand"}, "li"
    )  # an agent removes it
    clock.advance(hours=1)
    desk.dispatch_outbox()
    assert desk.get(ticket.id).tags == ()
    assert [o.reason for o in automations.runs[-1].outcomes] == ["done before"]


def test_a_retried_delivery_after_a_crash_sends_the_message_once() -> None:
    clock = FrozenClock(START)
    store = _CrashOnFirstMark()
    desk = Desk(store=store, clock=clock)
    Automations(
        desk,
        {"rules": [rule({"do": "send_message", "template": "got-it"})]},
        templates=TEMPLATES,
    )
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    assert store.crashed
    for _ in range(3):
        clock.advance(hours=1)
        desk.dispatch_outbox()
    assert [m.body for m in desk.messages(ticket.id)] == ["Hello, we are on Ticket #1."]


# ---------------------------------------------------------------------- macros


def _permitted_desk() -> tuple[Desk, Automations]:
    desk = Desk(clock=FrozenClock(START), permissions=default_permissions())
    macros = [
        {"name": "tag", "title": "Tag", "actions": [{"do": "add_tags", "tags": ["x"]}]},
        {"name": "note", "title": "Note", "actions": [{"do": "add_note", "text": "x"}]},
        {
            "name": "hand-over",
            "title": "Hand over",
            "actions": [
                {"do": "add_tags", "tags": ["handed"]},
                {"do": "assign", "assignee": "mo", "team": "repairs"},
                {"do": "fire", "trigger": "reopen", "payload": {"reason": "x"}},
                {"do": "call_webhook", "webhook": "log"},
            ],
        },
    ]
    automations = Automations(desk, {"rules": []}, macros=macros, webhooks={"log": lambda n: None})
    return desk, automations


@pytest.mark.parametrize("macro", ["tag", "note"])
def test_a_customer_applying_a_macro_is_refused_before_anything_is_written(macro: str) -> None:
    desk, automations = _permitted_desk()
    ticket_id = working(desk)
    before = desk.history(ticket_id)
    customer = Principal(id="c1", roles=("customer",), customer_id="c1")
    with pytest.raises(PermissionDenied):
        automations.apply_macro(ticket_id, macro, actor=customer)
    assert desk.history(ticket_id) == before


def test_an_agent_applies_a_macro_whose_actions_the_agent_may_do() -> None:
    desk, automations = _permitted_desk()
    ticket_id = working(desk)
    agent = Principal(id="li", roles=("agent",), teams=("repairs",))
    outcomes = automations.apply_macro(ticket_id, "hand-over", actor=agent)
    assert [(o.do, o.status) for o in outcomes] == [
        ("add_tags", "done"),
        ("assign", "done"),
        ("fire", "skipped"),  # reopen is not allowed while assigned: not checked either
        ("call_webhook", "done"),
    ]
    assert (desk.get(ticket_id).assignee, desk.get(ticket_id).tags) == ("mo", ("handed",))


def test_a_macro_webhook_hears_the_macros_name_and_a_bool_version_is_refused() -> None:
    desk = Desk(clock=FrozenClock(START))
    heard: list[str] = []
    automations = Automations(
        desk,
        {"rules": []},
        macros=[
            {"name": "ping", "title": "Ping", "actions": [{"do": "call_webhook", "webhook": "h"}]}
        ],
        webhooks={"h": lambda n: heard.append(n.handler)},
    )
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    automations.apply_macro(ticket.id, "ping", actor="li")
    assert heard == ["macro:ping"]
    with pytest.raises(InvalidInput, match="int from 1"):
        automations.apply_macro(ticket.id, "ping", actor="li", version=True)


# ---------------------------------------------------------------------- strict data


@pytest.mark.parametrize(
    "document",
    [
        {"rules": [{"name": "x", "kind": "time", "hours": True, "actions": [{"do": "route"}]}]},
        {
            "rules": [
                {
                    "name": "x",
                    "kind": "event",
                    "when": {},
                    "conditions": [{"field": "subject.status", "op": "exists", "value": 1}],
                    "actions": [{"do": "route"}],
                }
            ]
        },
        {
            "rules": [
                {
                    "name": "x",
                    "kind": "event",
                    "when": {},
                    "conditions": [{"field": "subject.status", "op": "in", "value": "new"}],
                    "actions": [{"do": "route"}],
                }
            ]
        },
        {"rules": [], "loop_limit": "3"},
    ],
)
def test_the_schema_and_parse_rules_refuse_the_same_rule_data(document: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, rules_schema())
    with pytest.raises(InvalidInput):
        parse_rules(document)


def test_rule_data_that_is_not_json_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="not JSON"):
        parse_rules({"rules": [], "when": datetime(2025, 1, 1)})
    with pytest.raises(InvalidInput, match="mapping or JSON"):
        parse_rules("[1, 2]")
    with pytest.raises(InvalidInput, match="mapping or JSON"):
        parse_rules(["rules"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="macro"):
        MacroBook(["refund"])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="not JSON"):
        MacroBook([{"name": "m", "title": datetime(2025, 1, 1), "actions": []}])
    with pytest.raises(InvalidInput, match="version"):
        MacroBook([{"name": "m", "version": "2", "title": "M", "actions": [{"do": "route"}]}])


def test_a_rule_set_given_as_json_text_with_enums_and_lists_parses() -> None:
    text = (
        '{"rules": [{"name": "t", "kind": "time", "categories": ["new"], "hours": 2,'
        ' "actions": [{"do": "add_tags", "tags": ["a"]}]}]}'
    )
    parsed = parse_rules(text)
    assert (parsed.rules[0].categories[0].value, parsed.rules[0].hours) == ("new", 2.0)


# ---------------------------------------------------------------------- windows


def test_a_time_rule_on_updated_at_fires_again_after_a_real_change() -> None:
    clock = FrozenClock(START)
    desk = Desk(clock=clock)
    stale = {
        "name": "stale",
        "kind": "time",
        "since": "updated_at",
        "hours": 24,
        "actions": [{"do": "call_webhook", "webhook": "chat"}],
    }
    calls: list[Notification] = []
    Automations(desk, {"rules": [stale]}, webhooks={"chat": calls.append})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    clock.advance(hours=25)
    assert len(desk.run_due().automations) == 1
    desk.add_message(ticket.id, "still there?", author_id="c1", author_role="customer")
    clock.advance(hours=25)
    assert desk.run_due().automations == ((ticket.id, "stale"),)
    assert len(calls) == 2


def test_a_chains_later_level_keeps_the_higher_level_a_person_set() -> None:
    clock = FrozenClock(START)
    desk = Desk(clock=clock)
    chain = {
        "name": "breach",
        "kind": "escalation",
        "start": "assign",
        "levels": [
            {"after_hours": 0, "actions": [{"do": "add_tags", "tags": ["lead"]}]},
            {"after_hours": 4, "actions": [{"do": "add_tags", "tags": ["supervisor"]}]},
        ],
    }
    Automations(desk, {"rules": [chain]})
    ticket_id = working(desk)
    desk.run_due()
    for _ in range(3):
        desk.escalate(ticket_id, reason="angry")
    level = desk.get(ticket_id).escalation_level
    clock.advance(hours=5)
    assert [name for _, name in desk.run_due().automations] == ["breach.level2"]
    assert desk.get(ticket_id).escalation_level == max(level, 2)


# ---------------------------------------------------------------------- the desk


def test_installing_sets_the_desks_automations_and_uninstalling_clears_them() -> None:
    desk = Desk(clock=FrozenClock(START))
    first = Automations(desk, {"rules": [rule({"do": "add_tags", "tags": ["a"]})]})
    second = Automations(
        desk, {"rules": [{**rule({"do": "add_tags", "tags": ["b"]}), "name": "other"}]}
    )
    assert desk.automations is first
    first.uninstall()
    assert desk.automations is None
    second.uninstall()
    built = Desk(clock=FrozenClock(START), automations={"rules": []})
    assert isinstance(built.automations, Automations)


# ---------------------------------------------------------------------- fresh decisions


def test_explain_reads_a_reply_as_it_left_the_ticket_and_an_old_event_as_stored() -> None:
    desk = Desk(clock=FrozenClock(START))
    waiting_rule = {
        **rule({"do": "add_tags", "tags": ["answered"]}, triggers=("add_message", "created")),
        "conditions": [{"field": "subject.status", "op": "eq", "value": "waiting_on_customer"}],
    }
    automations = Automations(desk, {"rules": [waiting_rule]})
    ticket_id = working(desk)
    desk.fire(ticket_id, "start")
    desk.fire(ticket_id, "wait_for_customer")
    desk.add_message(ticket_id, "photo", author_id="c1", author_role="customer")
    history = desk.history(ticket_id)
    reply = next(e for e in history if e.trigger == "add_message")
    assert [v.would_fire for v in automations.explain(reply)] == [True]
    assert desk.get(ticket_id).tags == ("answered",)
    created = Desk(clock=FrozenClock(START))
    quiet = Automations(created, {"rules": [waiting_rule]})
    opened = created.open_ticket(customer="c1", channel="email", subject="Hi", tags=["a"])
    created.add_message(opened.id, "n", author_id="li", kind="internal_note")  # status stays
    first = created.history(opened.id)[0]
    assert [v.would_fire for v in quiet.explain(first)] == [False]


@pytest.mark.parametrize("meanwhile", ["quiet", "reply"])
def test_a_time_rule_does_not_fire_when_its_subject_changed_while_run_due_looked(
    meanwhile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aftersales.automations import _due

    clock = FrozenClock(START)
    desk = Desk(clock=clock)
    nudge = {
        "name": "nudge",
        "kind": "time",
        "since": "created_at" if meanwhile == "quiet" else "updated_at",
        "hours": 10,
        "conditions": [{"field": "subject.tags", "op": "not_contains", "value": "quiet"}],
        "actions": [{"do": "add_note", "text": "anyone?"}],
    }
    automations = Automations(desk, {"rules": [nudge]})
    ticket_id = working(desk)
    clock.advance(hours=11)
    record = _due.record_on_subject

    def changed_meanwhile(*args: Any, **kwargs: Any) -> Any:
        if meanwhile == "quiet":  # the conditions no longer hold
            automations.runner.set_fields(ticket_id, lambda t: {"tags": ("quiet",)}, {}, "li")
        else:  # a new window: the reply moved updated_at
            desk.add_message(ticket_id, "news?", author_id="c1", author_role="customer")
        return record(*args, **kwargs)

    monkeypatch.setattr(_due, "record_on_subject", changed_meanwhile)
    assert desk.run_due().automations == ()
    assert "anyone?" not in [m.body for m in desk.messages(ticket_id, include_internal=True)]


def test_a_macro_whose_trigger_the_workflow_refuses_skips_it_after_the_check() -> None:
    clock = FrozenClock(START)
    desk = Desk(clock=clock, permissions=default_permissions())
    automations = Automations(
        desk,
        {"rules": []},
        macros=MacroBook(
            [
                Macro.model_validate(
                    {
                        "name": "reopen",
                        "title": "Reopen",
                        "actions": [
                            {"do": "fire", "trigger": "reopen", "payload": {"reason": "x"}}
                        ],
                    }
                )
            ]
        ),
    )
    ticket_id = working(desk)
    desk.fire(ticket_id, "start")
    desk.resolve(ticket_id, resolution="fixed")
    clock.advance(days=400)  # long past the reopen window
    agent = Principal(id="li", roles=("agent",), teams=("repairs",))
    outcomes = automations.apply_macro(ticket_id, "reopen", actor=agent)
    assert [(o.do, o.status) for o in outcomes] == [("fire", "skipped")]


@pytest.mark.parametrize("value", [["high"], {"p": "high"}, None, True])
def test_an_order_compared_with_anything_but_one_text_or_number_is_refused(value: Any) -> None:
    data = {
        "rules": [
            {
                "name": "above-high",
                "kind": "event",
                "when": {"triggers": ["classify"]},
                "conditions": [{"field": "subject.priority", "op": "gt", "value": value}],
                "actions": [{"do": "add_tags", "tags": ["hot"]}],
            }
        ]
    }
    with pytest.raises(InvalidInput, match="one text or number"):
        Automations(Desk(), data)
    assert not jsonschema.Draft202012Validator(rules_schema()).is_valid(data)
