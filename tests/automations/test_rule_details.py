"""Details users rely on: roles and business hours in conditions, skipped actions, rules
on cases, routing, bad rule data and uninstalling."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from aftersales import Desk, FrozenClock, InvalidInput, MemoryStore
from aftersales.automations import Automations, RuleSet, parse_rules
from aftersales.notify.templates import Templates
from aftersales.routing.classify import RuleClassifier
from aftersales.security import MemoryDirectory, Principal

MONDAY = datetime(2025, 3, 3, 10, 0, tzinfo=timezone.utc)
POLICY: dict[str, Any] = {
    "name": "office",
    "calendar": {"hours": {str(d): ["09:00-17:00"] for d in range(5)}},
    "team_calendars": {"night": {"always_open": True}},
    "rules": [{"name": "all", "targets": {"resolution": {"minutes": 600}}}],
}


def rule(when: list[str], *actions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": extra.pop("name", "r"),
        "kind": "event",
        "when": {"subjects": extra.pop("subjects", ["ticket"]), "triggers": when},
        "actions": list(actions),
        **extra,
    }


def test_conditions_read_the_actors_roles_and_the_calendars_business_hours() -> None:
    desk = Desk(
        clock=FrozenClock(MONDAY),
        sla=POLICY,
        principals=MemoryDirectory([Principal.agent("li", "repairs")]),
    )
    conditions = [
        {"field": "actor.role", "op": "eq", "value": "agent"},
        {"field": "time.business_hours", "op": "eq", "value": True},
    ]
    Automations(
        desk,
        {
            "rules": [
                rule(["classify"], {"do": "add_tags", "tags": ["office"]}, conditions=conditions)
            ]
        },
    )
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    desk.classify(ticket.id, category="repair_warranty", severity="low", actor="li")
    other = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    desk.classify(other.id, category="repair_warranty", severity="low", actor="bob")
    assert (desk.get(ticket.id).tags, desk.get(other.id).tags) == (("office",), ())


def test_an_assignment_already_made_or_not_allowed_is_skipped() -> None:
    desk = Desk(clock=FrozenClock(MONDAY))
    automations = Automations(
        desk,
        {
            "rules": [
                rule(["start"], {"do": "assign", "assignee": "li"}, name="same"),
                rule(["resolve"], {"do": "assign", "assignee": "bo"}, name="late"),
            ]
        },
    )
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="li")
    desk.fire(ticket.id, "start")
    desk.resolve(ticket.id, resolution="fixed")
    reasons = [(run.rule, run.outcomes[0].reason) for run in automations.runs]
    assert reasons == [("same", "assigned already"), ("late", "assign is not allowed in resolved")]
    assert desk.get(ticket.id).assignee == "li"


def test_tags_removed_and_severity_set_are_recorded_once() -> None:
    desk = Desk(clock=FrozenClock(MONDAY))
    actions = (
        {"do": "remove_tags", "tags": ["new"]},
        {"do": "set_fields", "fields": {"severity": "critical", "category": "return_refund"}},
    )
    Automations(desk, {"rules": [rule(["classify"], *actions)]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken", tags=["new", "vip"])
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    after = desk.get(ticket.id)
    assert (after.tags, after.severity.value, after.category) == (
        ("vip",),
        "critical",
        "return_refund",
    )  # type: ignore[union-attr]
    fields = [e.payload["fields"] for e in desk.history(ticket.id) if e.trigger == "fields_set"]
    assert fields == [["tags"], ["category", "severity"]]


def test_rules_on_a_case_act_on_the_case_and_reply_on_its_ticket() -> None:
    desk = Desk(clock=FrozenClock(MONDAY))
    templates = Templates({"ack": "We are looking into {{ case.kind.value }} {{ about }}."})
    actions = (
        {"do": "fire", "trigger": "investigate"},
        {"do": "send_message", "template": "ack"},
        {"do": "fire", "trigger": "accept"},
    )
    automations = Automations(
        desk,
        {"rules": [rule(["acknowledge"], *actions, subjects=["complaint"])]},
        templates=templates,
    )
    ticket = desk.open_ticket(customer="gone", channel="email", subject="Rude")
    complaint = desk.cases.open_complaint(ticket.id, summary="Rude courier")
    desk.cases.fire(complaint.id, "acknowledge")
    assert desk.cases.get(complaint.id).status == "investigating"
    assert [m.body for m in desk.messages(ticket.id)] == [
        "We are looking into complaint Ticket #1."
    ]
    assert [o.status for o in automations.runs[-1].outcomes] == ["done", "done", "skipped"]


def test_a_loop_on_a_case_is_stopped_on_the_case() -> None:
    desk = Desk(clock=FrozenClock(MONDAY))
    back = rule(["propose"], {"do": "fire", "trigger": "reject"}, subjects=["complaint"], name="b")
    propose = {"do": "fire", "trigger": "propose", "payload": {"proposal": "a refund"}}
    forth = rule(["reject"], propose, subjects=["complaint"], name="f")
    Automations(desk, {"loop_limit": 1, "rules": [back, forth]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Rude")
    complaint = desk.cases.open_complaint(ticket.id, summary="Rude courier")
    for trigger in ("acknowledge", "investigate"):
        desk.cases.fire(complaint.id, trigger)
    desk.cases.fire(complaint.id, "propose", payload={"proposal": "apology"})
    history = desk.cases.history(complaint.id)
    stops = [e.payload["rule"] for e in history if e.trigger == "automation_stopped"]
    assert stops == ["b"]
    assert [e.trigger for e in history][-4:] == [
        "propose",
        "reject",
        "propose",
        "automation_stopped",
    ]


def test_route_classifies_and_assigns_a_new_ticket_once() -> None:
    routing = {
        "agents": [{"id": "ann", "teams": ["returns"], "capacity": 5}],
        "teams": [{"id": "returns"}],
        "default_team": "returns",
    }
    desk = Desk(
        MemoryStore(), clock=FrozenClock(MONDAY), classifier=RuleClassifier(), routing=routing
    )
    automations = Automations(
        desk, {"rules": [rule(["created"], {"do": "route"}, {"do": "route"})]}
    )
    ticket = desk.open_ticket(
        customer="c1", channel="email", subject="Refund please", description="money back"
    )
    assert desk.get(ticket.id).assignee == "ann"
    assert [o.status for o in automations.runs[-1].outcomes] == ["done", "skipped"]
    with pytest.raises(InvalidInput, match=r"route needs a desk with a classifier"):
        Automations(Desk(), {"rules": [rule(["created"], {"do": "route"})]})


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (
            {
                "rules": [
                    rule(
                        ["classify"],
                        {"do": "add_note", "text": "x"},
                        conditions=[{"field": "colour.x"}],
                    )
                ]
            },
            "field must start with one of",
        ),
        (
            {
                "rules": [
                    rule(
                        ["classify"],
                        {"do": "add_note", "text": "x"},
                        conditions=[{"field": "time.minute"}],
                    )
                ]
            },
            r"unknown field 'time.minute'",
        ),
        (
            {
                "rules": [
                    rule(
                        ["classify"],
                        {"do": "add_note", "text": "x"},
                        conditions=[{"field": "subject.a.b"}],
                    )
                ]
            },
            "only event.payload takes deeper keys",
        ),
        (
            {
                "rules": [
                    rule(
                        ["classify"],
                        {"do": "add_note", "text": "x"},
                        conditions=[{"field": "event.payload"}],
                    )
                ]
            },
            r"event.payload takes a key",
        ),
        (
            {
                "rules": [
                    rule(
                        ["classify"],
                        {"do": "add_note", "text": "x"},
                        conditions=[{"field": "subject.team", "op": "exists", "value": 1}],
                    )
                ]
            },
            "takes no value",
        ),
        (
            {"rules": [rule(["classify"], {"do": "add_note", "text": "x"})] * 2},
            "two rules are named 'r'",
        ),
        (
            {
                "rules": [
                    {
                        "name": "e",
                        "kind": "escalation",
                        "start": "escalate",
                        "levels": [{"after_hours": 4}, {"after_hours": 1}],
                    }
                ]
            },
            "in the order of their after_hours",
        ),
        ("{not json", "not JSON"),
        ([1], "must be a mapping or JSON text"),
    ],
)
def test_bad_rule_data_is_refused_naming_what_is_wrong(data: Any, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        parse_rules(data)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (
            {
                "rules": [
                    rule(
                        ["classify"],
                        {"do": "add_note", "text": "x"},
                        conditions=[{"field": "customer.shoe_size", "op": "exists"}],
                    )
                ]
            },
            "unknown customer field 'shoe_size'",
        ),
        (
            {
                "rules": [
                    rule(
                        ["classify"],
                        {"do": "add_note", "text": "x"},
                        conditions=[{"field": "subject.priority", "op": "in", "value": ["asap"]}],
                    )
                ]
            },
            "unknown priority 'asap'",
        ),
        (
            {
                "rules": [
                    rule(
                        ["classify"],
                        {"do": "add_note", "text": "x"},
                        conditions=[{"field": "event.trigger", "op": "eq", "value": "explode"}],
                    )
                ]
            },
            "unknown trigger 'explode'",
        ),
        (
            {
                "rules": [
                    rule(
                        ["classify"],
                        {"do": "add_note", "text": "x"},
                        conditions=[{"field": "time.business_hours", "op": "eq", "value": True}],
                    )
                ]
            },
            "business hours need",
        ),
        (
            {"rules": [rule(["classify"], {"do": "add_note", "text": "x"}, subjects=["parcel"])]},
            "unknown kind 'parcel'",
        ),
        (
            {
                "rules": [
                    rule(
                        ["classify"],
                        {"do": "set_fields", "fields": {"severity": "dire", "category": "x"}},
                    )
                ]
            },
            r"unknown category 'x'.*unknown severity 'dire'",
        ),
        (
            {"rules": [rule(["classify"], {"do": "open_case", "kind": "parcel"})]},
            "unknown case kind 'parcel'",
        ),
        (
            {"rules": [rule(["classify"], {"do": "fire", "trigger": "explode"})]},
            "unknown trigger 'explode'",
        ),
        (
            {
                "rules": [
                    {
                        "name": "e",
                        "kind": "escalation",
                        "start": "explode",
                        "levels": [{"business_hours": True}],
                    }
                ]
            },
            r"unknown trigger 'explode'.*business hours need",
        ),
        ({"time_zone": "Mars/Olympus", "rules": []}, "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_rules_the_desk_cannot_run_are_refused_at_install(data: Any, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        Automations(Desk(), data)


def test_a_bad_loop_limit_is_refused_and_uninstalled_rules_stop() -> None:
    desk = Desk(clock=FrozenClock(MONDAY))
    with pytest.raises(InvalidInput, match="loop_limit"):
        Automations(desk, {"rules": []}, loop_limit=0)
    nudge = {"name": "n", "kind": "time", "hours": 1, "actions": [{"do": "add_note", "text": "x"}]}
    automations = Automations(
        desk,
        RuleSet.model_validate(
            {"rules": [rule(["classify"], {"do": "add_tags", "tags": ["x"]}), nudge]}
        ),
        loop_limit=5,
    )
    assert (automations.loop_limit, automations.rules_schema()["title"]) == (5, "RuleSet")
    with pytest.raises(InvalidInput, match="installed on this desk already: rule:r"):
        Automations(desk, {"rules": [rule(["classify"], {"do": "add_tags", "tags": ["y"]})]})
    automations.uninstall()
    Automations(desk, {"rules": [rule(["resolve"], {"do": "add_tags", "tags": ["y"]})]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    assert desk.get(ticket.id).tags == ()
    assert desk._due_work == []
    with pytest.raises(InvalidInput, match="must be an Event"):
        automations.explain("created")  # type: ignore[arg-type]


def test_explain_on_a_case_reads_the_stored_case_and_mode_first_names_the_earlier_rule() -> None:
    desk = Desk(clock=FrozenClock(MONDAY))
    one = rule(["acknowledge"], {"do": "add_note", "text": "x"}, subjects=["complaint"], name="one")
    two = rule(["acknowledge"], {"do": "add_note", "text": "y"}, subjects=["complaint"], name="two")
    automations = Automations(desk, {"mode": "first", "rules": [one, two]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Rude")
    complaint = desk.cases.open_complaint(ticket.id, summary="Rude courier")
    acknowledged = desk.cases.fire(complaint.id, "acknowledge")
    event = desk.cases.history(acknowledged.id)[-1]
    verdicts = automations.explain(event)
    assert [(v.rule, v.would_fire, v.reason) for v in verdicts] == [
        ("one", True, None),
        ("two", False, "an earlier rule fires (mode first)"),
    ]


def test_a_delivery_with_a_long_key_marks_its_notes_done_all_the_same() -> None:
    desk = Desk(clock=FrozenClock(MONDAY))
    name = "n" * 100
    note = rule(
        ["assign"],
        {"do": "add_note", "text": "seen"},
        {"do": "call_webhook", "webhook": "w"},
        name=name,
    )
    calls: list[str] = []

    def webhook(notification: Any) -> None:
        calls.append(notification.key)
        if len(calls) == 1:
            raise ConnectionError("down")

    Automations(desk, {"rules": [note]}, webhooks={"w": webhook})
    record = {
        "id": "t" * 128,
        "channel": "email",
        "subject": "Imported",
        "customer_id": "c1",
        "status": "classified",
        "created_at": MONDAY,
        "updated_at": MONDAY,
    }
    desk.import_tickets([record])
    desk.assign("t" * 128, assignee="li")
    desk.dispatch_outbox(MONDAY.replace(year=2026))
    assert len(calls) == 2
    assert [m.body for m in desk.messages("t" * 128, include_internal=True)] == ["seen"]


def test_rows_asked_without_the_subject_match_only_rules_that_read_none() -> None:
    desk = Desk(clock=FrozenClock(MONDAY))
    plain = rule(["created"], {"do": "add_note", "text": "x"}, name="plain")
    needy = rule(
        ["created"],
        {"do": "add_note", "text": "y"},
        name="needy",
        conditions=[{"field": "subject.team", "op": "exists"}],
    )
    Automations(desk, {"mode": "first", "rules": [needy, plain]})
    ticket = desk.open_ticket(customer="c1", channel="email", subject="Broken", route=False)
    created = desk.history(ticket.id)[0]
    rows = desk._outbox.rows_for([created], MONDAY)
    assert [row.handler for row in rows] == ["rule:plain"]


def test_priorities_compare_by_urgency_in_the_desks_order() -> None:
    desk = Desk(clock=FrozenClock(MONDAY))
    pressing = [{"field": "subject.priority", "op": "ge", "value": "high"}]
    Automations(
        desk,
        {"rules": [rule(["classify"], {"do": "add_tags", "tags": ["hot"]}, conditions=pressing)]},
    )
    tags = {}
    for priority in ("urgent", "high", "normal", "low"):
        ticket = desk.open_ticket(customer="c1", channel="email", subject=priority)
        desk.classify(ticket.id, category="repair_warranty", severity="low", priority=priority)
        tags[priority] = desk.get(ticket.id).tags
    assert tags == {"urgent": ("hot",), "high": ("hot",), "normal": (), "low": ()}
    bad = [{"field": "subject.priority", "op": "gt", "value": "asap"}]
    with pytest.raises(InvalidInput, match="unknown priority 'asap'"):
        Automations(
            desk,
            {
                "rules": [
                    rule(["classify"], {"do": "add_note", "text": "x"}, conditions=bad, name="b")
                ]
            },
        )
