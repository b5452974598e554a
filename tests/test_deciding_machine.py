"""The engine's trimmed ``transitions`` machine decides every move as a stock machine does,
and refuses to be built with anything its trimmed trigger would not run."""

from __future__ import annotations

import enum
from typing import Any

import pytest
from transitions import EventData, Machine, MachineError
from transitions import State as MachineState

from aftersales.workflows import SHIPPED, Workflow
from aftersales.workflows._machine import DecidingMachine


class _Model:
    def __init__(self, state: str) -> None:
        self.state = state


def _machines(workflow: Workflow, allowed: set[str]) -> tuple[Machine, Machine]:
    """A stock and a deciding machine of ``workflow`` whose guard conditions pass only
    for the guard names in ``allowed`` (each guard also records that it was asked)."""

    def condition(name: str) -> Any:
        def check(event_data: EventData) -> bool:
            event_data.model.asked.append(name)
            return name in allowed

        return check

    def build(kind: type[Machine]) -> Machine:
        return kind(
            model=None,
            states=[MachineState(s.name, final=s.is_final) for s in workflow.states],
            initial=workflow.initial,
            transitions=[
                {
                    "trigger": t.trigger,
                    "source": list(t.source),
                    "dest": t.dest,
                    "conditions": [condition(g) for g in t.guards],
                }
                for t in workflow.transitions
            ],
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
            name=workflow.name,
        )

    return build(Machine), build(DecidingMachine)


def _outcome(machine: Machine, state: str, trigger: str) -> tuple[Any, ...]:
    model = _Model(state)
    model.asked = []  # type: ignore[attr-defined]
    try:
        moved = machine.events[trigger].trigger(model)
    except MachineError as error:
        return ("refused by the machine", str(error), model.state)
    return (moved, model.state, model.asked)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(SHIPPED))
@pytest.mark.parametrize("guards", ["all pass", "all refuse"])
def test_the_deciding_machine_moves_as_a_stock_machine_from_every_state(
    name: str, guards: str
) -> None:
    workflow = SHIPPED[name]
    names = {g for t in workflow.transitions for g in t.guards}
    stock, deciding = _machines(workflow, names if guards == "all pass" else set())
    compared = 0
    for state in workflow.states:
        for trigger in workflow.triggers:
            expected = _outcome(stock, state.name, trigger)
            assert _outcome(deciding, state.name, trigger) == expected, (state.name, trigger)
            compared += 1
    assert compared == len(workflow.states) * len(workflow.triggers)


def test_a_guard_refusal_is_told_apart_from_a_move() -> None:
    workflow = SHIPPED["ticket"]
    guarded = next(t for t in workflow.transitions if t.guards)
    for allowed, moved in ((set(guarded.guards), True), (set(), False)):
        stock, deciding = _machines(workflow, allowed)
        outcome = _outcome(deciding, guarded.source[0], guarded.trigger)
        assert outcome == _outcome(stock, guarded.source[0], guarded.trigger)
        assert outcome[0] is moved
        assert outcome[1] == (guarded.dest if moved else guarded.source[0])


def _door(**extra: Any) -> dict[str, Any]:
    transition: dict[str, Any] = {"trigger": "close", "source": "open", "dest": "shut"}
    transition.update(extra.pop("transition", {}))
    return {
        "model": None,
        "states": [MachineState("open"), MachineState("shut", **extra.pop("state", {}))],
        "transitions": [transition],
        "initial": "open",
        "auto_transitions": False,
        "send_event": True,
        **extra,
    }


def _noop(event_data: EventData) -> None:
    return None


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"prepare_event": [_noop]}, "prepare_event"),
        ({"before_state_change": [_noop]}, "before_state_change"),
        ({"after_state_change": [_noop]}, "after_state_change"),
        ({"finalize_event": [_noop]}, "finalize_event"),
        ({"on_exception": [_noop]}, "on_exception"),
        ({"on_final": [_noop]}, "on_final"),
        ({"state": {"on_enter": [_noop]}}, "state shut on_enter"),
        ({"state": {"on_exit": [_noop]}}, "state shut on_exit"),
        ({"transition": {"before": [_noop]}}, "close before"),
        ({"transition": {"after": [_noop]}}, "close after"),
        ({"transition": {"prepare": [_noop]}}, "close prepare"),
        ({"transition": {"conditions": ["is_ready"]}}, "close condition 'is_ready'"),
    ],
)
def test_a_deciding_machine_refuses_what_its_trigger_would_not_run(
    options: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        DecidingMachine(**_door(**options))
    Machine(**_door(**options))  # a stock machine takes it


@pytest.mark.parametrize("options", [{"send_event": False}, {"queued": True}])
def test_a_deciding_machine_sends_events_and_has_no_queue(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="sends events and has no queue"):
        DecidingMachine(**_door(**options))


def test_an_internal_transition_moves_nothing_as_in_a_stock_machine() -> None:
    options = _door(transition={"dest": None})
    for kind in (Machine, DecidingMachine):
        model = _Model("open")
        assert kind(**options).events["close"].trigger(model) is True
        assert model.state == "open"


def _asking(name: str, passes: bool) -> Any:
    def check(event_data: EventData) -> bool:
        event_data.model.asked.append(name)
        return passes

    return check


@pytest.mark.parametrize(
    "transitions",
    [
        # the first of two transitions without conditions is taken
        [{"dest": "b"}, {"dest": "c"}],
        # one without conditions after a refusing one: asked, then taken
        [{"dest": "b", "conditions": [_asking("no", False)]}, {"dest": "c"}],
        # after a passing one: not reached
        [{"dest": "b", "conditions": [_asking("yes", True)]}, {"dest": "c"}],
        # one without conditions before one with: taken without asking
        [{"dest": "b"}, {"dest": "c", "conditions": [_asking("yes", True)]}],
        # refused, then an internal transition without conditions: taken, nothing moves
        [{"dest": "b", "conditions": [_asking("no", False)]}, {"dest": None}],
        # all refuse
        [
            {"dest": "b", "conditions": [_asking("no", False)]},
            {"dest": "c", "conditions": [_asking("yes", True), _asking("no", False)]},
        ],
    ],
    ids=[
        "two-plain",
        "refused-then-plain",
        "passed-then-plain",
        "plain-then-guarded",
        "refused-then-internal",
        "all-refuse",
    ],
)
def test_transitions_without_conditions_are_taken_in_order_as_in_a_stock_machine(
    transitions: list[dict[str, Any]],
) -> None:
    options = _door(
        states=[MachineState("a"), MachineState("b"), MachineState("c")],
        transitions=[{"trigger": "go", "source": "a", **t} for t in transitions],
        initial="a",
    )
    outcomes = []
    for kind in (Machine, DecidingMachine):
        model = _Model("a")
        model.asked = []  # type: ignore[attr-defined]
        outcomes.append((kind(**options).events["go"].trigger(model), model.state, model.asked))  # type: ignore[attr-defined]
    assert outcomes[1] == outcomes[0]


class _Door(enum.Enum):
    OPEN = 1
    SHUT = 2


@pytest.mark.parametrize("held", [_Door.OPEN, "OPEN", _Door.SHUT, "SHUT"])
def test_a_machine_of_enum_states_moves_as_a_stock_one_whatever_the_model_holds(
    held: Any,
) -> None:
    # the model may hold the member or its name; the state it moves to is the member
    options = _door(
        states=_Door,
        transitions=[{"trigger": "close", "source": _Door.OPEN, "dest": _Door.SHUT}],
        initial=_Door.OPEN,
        ignore_invalid_triggers=True,
    )
    outcomes = []
    for kind in (Machine, DecidingMachine):
        model = _Model(held)
        outcomes.append((kind(**options).events["close"].trigger(model), model.state))
    assert outcomes[1] == outcomes[0]
    assert outcomes[0][1] is (_Door.SHUT if held in (_Door.OPEN, "OPEN") else held)


def test_states_and_transitions_added_after_a_move_are_moved_to_as_in_a_stock_machine() -> None:
    outcomes = []
    for kind in (Machine, DecidingMachine):
        machine = kind(**_door())
        model = _Model("open")
        moved = [machine.events["close"].trigger(model), model.state]
        machine.add_states([MachineState("locked")])
        machine.add_transition("lock", "shut", "locked")
        moved += [machine.events["lock"].trigger(model), model.state]
        outcomes.append(moved)
    assert outcomes[1] == outcomes[0] == [True, "shut", True, "locked"]
