from __future__ import annotations

import gc
import json
import subprocess
import sys
from datetime import datetime, timezone
from typing import Any

import pytest
import transitions
from pydantic import BaseModel

from aftersales import (
    TICKET_WORKFLOW,
    Desk,
    InvalidInput,
    InvalidWorkflow,
    Refusal,
    State,
    Transition,
    TransitionContext,
    TransitionRefused,
    TriggerNotAllowed,
    Workflow,
)
from aftersales.workflows import SHIPPED, to_mermaid
from aftersales.workflows.__main__ import main as workflows_main

NOW = datetime(2024, 3, 4, 9, tzinfo=timezone.utc)


def _door(**overrides: Any) -> Workflow:
    spec: dict[str, Any] = {
        "states": [State("open", "open"), State("shut", "open"), State("gone", "closed")],
        "transitions": [
            Transition("close", "open", "shut"),
            Transition("open", "shut", "open"),
            Transition("remove", ("open", "shut"), "gone"),
        ],
        "initial": "open",
    }
    spec.update(overrides)
    return Workflow("door", **spec)


def _problems(**overrides: Any) -> tuple[str, ...]:
    with pytest.raises(InvalidWorkflow) as raised:
        _door(**overrides)
    return raised.value.problems


def _context(state: str, trigger: str, payload: BaseModel | None = None) -> TransitionContext:
    return TransitionContext(
        subject=None,
        subject_id="s1",
        state=state,
        trigger=trigger,
        payload=payload,
        actor="me",
        now=NOW,
    )


def test_a_sound_definition_builds_and_lists_triggers_per_state() -> None:
    door = _door()
    assert door.allowed_triggers("open") == ("close", "remove")
    assert door.allowed_triggers("gone") == ()
    assert door.triggers == ("close", "open", "remove")
    assert door.category_of("gone").value == "closed"
    assert repr(door) == "<Workflow 'door' v1: 3 states>"


def test_an_unreachable_state_is_named() -> None:
    states = [*_door().states, State("attic", "open")]
    transitions_ = [*_door().transitions, Transition("leave", "attic", "gone")]
    assert "state 'attic' is unreachable from 'open'" in _problems(
        states=states, transitions=transitions_
    )


def test_a_dead_end_is_named() -> None:
    problems = _problems(transitions=[Transition("close", "open", "shut")])
    assert "state 'shut' is a dead end (not final, no way out)" in problems


def test_unknown_guards_effects_and_states_are_named() -> None:
    problems = _problems(
        transitions=[
            Transition("close", "open", "shut", guards=["is_allowed"], effects=["stamp"]),
            Transition("open", "shut", "open"),
            Transition("remove", ("open", "cellar"), "gone"),
            Transition("vanish", "shut", "nowhere"),
        ]
    )
    assert "transition 'close': unknown guard 'is_allowed'" in problems
    assert "transition 'close': unknown effect 'stamp'" in problems
    assert "transition 'remove': unknown source state 'cellar'" in problems
    assert "transition 'vanish': unknown destination state 'nowhere'" in problems


def test_a_duplicate_trigger_from_one_state_is_named() -> None:
    transitions_ = [*_door().transitions, Transition("close", "open", "gone")]
    assert "transition 'close': duplicate trigger from state 'open'" in _problems(
        transitions=transitions_
    )


def test_reserved_names_duplicate_states_and_bad_initial_are_named() -> None:
    problems = _problems(
        states=[*_door().states, State("gone", "closed")],
        transitions=[*_door().transitions, Transition("created", "open", "open")],
        initial="cellar",
    )
    assert "state 'gone' is defined more than once" in problems
    assert "initial state 'cellar' is not a state" in problems
    assert "transition 'created': trigger name is reserved" in problems


def test_final_states_have_no_way_out_and_payload_schemas_need_triggers() -> None:
    transitions_ = [*_door().transitions, Transition("restore", "gone", "open")]
    problems = _problems(transitions=transitions_, payloads={"paint": BaseModel})
    assert "final state 'gone' has outgoing transitions" in problems
    assert "payload schema for unknown trigger 'paint'" in problems


def test_an_explicitly_final_state_of_any_category_ends_the_workflow() -> None:
    door = _door(states=[State("open", "open"), State("shut", "resolved", final=True),
                         State("gone", "closed")],
                 transitions=[Transition("close", "open", "shut"),
                              Transition("remove", "open", "gone")])  # fmt: skip
    assert door.state("shut").is_final


def test_a_definition_round_trips_through_plain_data_and_json() -> None:
    data = json.loads(json.dumps(TICKET_WORKFLOW.to_dict()))
    rebuilt = Workflow.from_dict(
        data,
        guards=TICKET_WORKFLOW.guards,
        effects=TICKET_WORKFLOW.effects,
        payloads=TICKET_WORKFLOW.payloads,
    )
    assert rebuilt.to_dict() == TICKET_WORKFLOW.to_dict()
    assert rebuilt.to_mermaid() == TICKET_WORKFLOW.to_mermaid()
    assert rebuilt.payload_schema("resolve") is TICKET_WORKFLOW.payload_schema("resolve")


def test_malformed_plain_data_names_the_bad_field() -> None:
    with pytest.raises(InvalidWorkflow) as raised:
        Workflow.from_dict(
            {"name": "x", "initial": "a", "states": [{"name": "a"}], "transitions": []}
        )
    assert raised.value.workflow == "x"
    assert any("states.0.category" in problem for problem in raised.value.problems)
    with pytest.raises(InvalidWorkflow):
        Workflow.from_dict([])  # type: ignore[arg-type]


def test_a_trigger_not_leaving_the_state_names_the_allowed_ones() -> None:
    with pytest.raises(TriggerNotAllowed) as raised:
        _door().decide(_context("gone", "close"))
    assert (raised.value.trigger, raised.value.state, raised.value.allowed) == ("close", "gone", ())
    with pytest.raises(TriggerNotAllowed) as raised:
        _door().decide(_context("shut", "close"))
    assert raised.value.allowed == ("open", "remove")
    assert "not allowed in state 'shut' (allowed: open, remove)" in str(raised.value)


def test_a_trigger_the_workflow_does_not_have_gets_its_own_message() -> None:
    with pytest.raises(TriggerNotAllowed) as raised:
        _door().decide(_context("open", "fly"))
    assert (raised.value.trigger, raised.value.allowed) == ("fly", ("close", "remove"))
    assert str(raised.value) == (
        "s1: workflow 'door' has no trigger 'fly' (triggers: close, open, remove)"
    )
    with pytest.raises(TriggerNotAllowed) as raised:
        TICKET_WORKFLOW.decide(_context("new", "resolv"))
    assert "workflow 'ticket' has no trigger 'resolv' (triggers: " in str(raised.value)
    assert str(raised.value).endswith("did you mean 'resolve'?")
    assert "not allowed" not in str(raised.value)


def test_a_guard_that_says_no_gives_its_reason_and_one_that_says_yes_lets_it_pass() -> None:
    def locked(context: TransitionContext) -> Refusal | None:
        return Refusal("locked", "the door is locked", "门锁着") if context.actor != "key" else None

    door = _door(
        transitions=[
            Transition("close", "open", "shut"),
            Transition("open", "shut", "open", guards=["locked"]),
            Transition("remove", ("open", "shut"), "gone"),
        ],
        guards={"locked": locked},
    )
    with pytest.raises(TransitionRefused) as raised:
        door.decide(_context("shut", "open"))
    assert raised.value.refusal.code == "locked"
    assert raised.value.refusal.message_zh == "门锁着"
    assert "the door is locked [locked]" in str(raised.value)
    keyed = TransitionContext(None, "s1", "shut", "open", None, "key", NOW)
    assert door.decide(keyed).dest == "open"


def test_effects_return_the_fields_a_move_sets() -> None:
    door = _door(
        transitions=[
            Transition("close", "open", "shut", effects=["stamp"]),
            Transition("open", "shut", "open"),
            Transition("remove", ("open", "shut"), "gone"),
        ],
        effects={"stamp": lambda context: {"closed_by": context.actor}},
    )
    move = door.decide(_context("open", "close"))
    assert (move.dest, move.category.value, dict(move.updates)) == (
        "shut",
        "open",
        {"closed_by": "me"},
    )


def test_payloads_are_validated_against_the_trigger_schema() -> None:
    with pytest.raises(InvalidInput) as raised:
        TICKET_WORKFLOW.parse_payload("resolve", {"resolution": ""})
    assert raised.value.errors[0].location == ("resolution",)
    assert TICKET_WORKFLOW.parse_payload("resolve", {"resolution": "fixed"}) is not None
    assert _door().parse_payload("close", {"why": ["draught", 1]}) is None
    with pytest.raises(InvalidInput):
        _door().parse_payload("close", {"why": object()})


def test_an_unknown_state_name_is_our_error() -> None:
    with pytest.raises(InvalidWorkflow):
        _door().state("cellar")


def test_one_shared_machine_per_workflow_however_many_tickets(clock: Any) -> None:
    def machines() -> int:
        gc.collect()
        return sum(isinstance(obj, transitions.Machine) for obj in gc.get_objects())

    desk = Desk(clock=clock)
    before = machines()
    for _ in range(300):
        ticket = desk.open_ticket(customer="c", channel="email", subject="s")
        desk.classify(ticket.id, category="other", severity="low")
    assert machines() == before
    assert TICKET_WORKFLOW._machine.models == []


def test_the_mermaid_diagram_is_generated_from_every_transition() -> None:
    diagram = to_mermaid("ticket")
    assert diagram.startswith("stateDiagram-v2\n    [*] --> new\n")
    for transition in TICKET_WORKFLOW.transitions:
        for source in transition.source:
            assert f"    {source} --> {transition.dest}: {transition.trigger}" in diagram
    assert "reopen [within_reopen_window]" in diagram
    assert "    closed --> [*]" in diagram
    assert to_mermaid(TICKET_WORKFLOW) == diagram


def test_to_mermaid_of_an_unknown_name_is_invalid_input() -> None:
    with pytest.raises(
        InvalidInput, match="shipped: complaint, exchange, refund, repair, return, ticket"
    ):
        to_mermaid("nope")


def test_python_dash_m_prints_shipped_workflows(capsys: pytest.CaptureFixture[str]) -> None:
    assert workflows_main([]) == 0
    assert capsys.readouterr().out == "".join(
        SHIPPED[name].to_mermaid() for name in sorted(SHIPPED)
    )
    assert workflows_main(["nope"]) == 2
    assert "no shipped workflow 'nope'" in capsys.readouterr().err


def test_python_dash_m_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aftersales.workflows", "ticket"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == TICKET_WORKFLOW.to_mermaid()


def test_a_custom_workflow_may_set_any_ticket_field_and_still_replay(clock: Any) -> None:
    from decimal import Decimal

    from aftersales import OrderLineRef

    def tag_and_link(context: TransitionContext) -> dict[str, Any]:
        return {
            "tags": ("warranty", "上门"),
            "order_line": OrderLineRef(order_id="SO-1", line_id="2", sku="WM-8KG"),
            "resolution": str(Decimal("12.50")),
        }

    triage = Workflow(
        "triage",
        states=[State("new", "new"), State("tagged", "open"), State("done", "closed")],
        transitions=[
            Transition("tag", "new", "tagged", effects=["tag_and_link"]),
            Transition("finish", "tagged", "done"),
        ],
        initial="new",
        effects={"tag_and_link": tag_and_link},
    )
    desk = Desk(clock=clock, workflow=triage)
    ticket = desk.open_ticket(customer="c", channel="on_site", subject="install")
    tagged = desk.fire(ticket.id, "tag", payload={"by": ["bot", 1]})
    assert (tagged.tags, tagged.order_line.sku if tagged.order_line else None) == (
        ("warranty", "上门"),
        "WM-8KG",
    )
    assert desk.history(ticket.id)[-1].payload == {"by": ["bot", 1]}
    assert desk.history(ticket.id)[-1].changes["order_line"] == {
        "order_id": "SO-1",
        "line_id": "2",
        "sku": "WM-8KG",
    }
    assert desk.replay(ticket.id) == desk.get(ticket.id)
    with pytest.raises(TriggerNotAllowed) as raised:
        desk.fire(ticket.id, "tag")
    assert str(raised.value).startswith("triage #1: ")
