"""The ``transitions`` machine a workflow compiles into, trimmed to what it is used for.

The engine's machine only *decides* (design decision 2): it has no callbacks on its
machine, states or transitions, no queue, and moves a short-lived cursor whose state the
engine reads back. A stock ``Event.trigger`` still walks every callback list (prepare,
before, after, finalize, enter, exit, on_final), each empty here, and logs at debug level
at each step: about nine tenths of a trigger's instructions for a machine like ours. The
classes below keep what such a machine does (the source state's transitions in the order
added, their conditions in order, the first that passes moves the cursor) through the
extension points ``transitions`` offers (``event_cls``, ``transition_cls``), and
:class:`DecidingMachine` refuses any callback, so nothing a stock machine would run is
skipped. ``tests/test_workflow_engine.py`` checks it decides as a stock machine does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from transitions import Event, EventData, Machine, Transition

__all__ = ["DecidingMachine"]


class _DecidingTransition(Transition):
    """A transition whose conditions are callables taking the event data (the machine
    sends events) and that has no callbacks: checking them in order and moving the
    model is all that executing it does."""

    def execute(self, event_data: EventData) -> bool:
        for condition in self.conditions:
            check = cast(Callable[[EventData], object], condition.func)
            if check(event_data) != condition.target:
                return False
        if self.dest:  # None: an internal transition, which moves nothing
            machine = event_data.machine
            # what set_state does for one model, without making a list of the models; the
            # destination is a registered state's name (get_state's lookup, without its
            # Enum check and call)
            setattr(event_data.model, machine.model_attribute, _value_of(machine, self.dest))
        return True


def _value_of(machine: Machine, name: str) -> Any:
    """What a model moved to the state ``name`` holds: the state's ``value`` (its name,
    or its Enum member), kept by name in the machine (``State.value`` is a property)."""
    values: dict[str, Any] = machine.state_values
    value = values.get(name, values)
    if value is values:
        value = values[name] = machine.states[name].value
    return value


class _DecidingEvent(Event):
    """An event of a machine without a queue, callbacks or exception handler: the first
    transition out of the model's state whose conditions pass is taken. No ``EventData``
    is made unless a transition has conditions to pass it to (most have none)."""

    def trigger(self, model: Any, *args: Any, **kwargs: Any) -> bool:
        machine = self.machine
        # get_model_state's lookup inlined for a model holding a registered state's name
        # (every cursor of the engine); anything else goes through it (and its errors)
        name = getattr(model, machine.model_attribute)
        state = machine.states.get(name) if type(name) is str else None
        if state is None:
            state = machine.get_model_state(model)
            name = state.name
        # (a state found under ``name`` is named so: no call of the State.name property)
        # the common case, a valid source, costs one lookup; _is_valid_source raises (or
        # ignores) for the others as a stock event does
        transitions = self.transitions.get(name)
        if transitions is None and not self._is_valid_source(state):
            return False
        event_data: EventData | None = None
        for transition in transitions or ():
            if not transition.conditions:
                # nothing to ask, so no event data to ask with: taken, as execute takes it
                dest = transition.dest
                if dest:
                    value = machine.state_values.get(dest, _value_of)
                    if value is _value_of:
                        value = _value_of(machine, dest)
                    setattr(model, machine.model_attribute, value)
                return True
            if event_data is None:  # made once, for the first transition with conditions
                event_data = EventData(state, self, machine, model, args, kwargs)
            event_data.transition = transition
            if transition.execute(event_data):
                return True
        return False


_MACHINE_CALLBACKS = (
    "prepare_event",
    "before_state_change",
    "after_state_change",
    "finalize_event",
    "on_exception",
    "on_final",
)
_STATE_CALLBACKS = ("on_enter", "on_exit", "on_final")
_TRANSITION_CALLBACKS = ("prepare", "before", "after")


class DecidingMachine(Machine):
    """A ``transitions.Machine`` that decides moves and runs nothing else: built like a
    stock one (``model=None``, ``send_event=True``, callable conditions), it raises
    ``ValueError`` if given anything its trimmed trigger would not run."""

    event_cls = _DecidingEvent
    transition_cls = _DecidingTransition

    def __init__(self, **kwargs: Any) -> None:
        if not kwargs.get("send_event") or kwargs.get("queued"):
            raise ValueError("a deciding machine sends events and has no queue")
        super().__init__(**kwargs)
        self.state_values: dict[str, Any] = {}
        problems = [name for name in _MACHINE_CALLBACKS if getattr(self, name)]
        for state in self.states.values():
            problems += [
                f"state {state.name} {name}"
                for name in _STATE_CALLBACKS
                if getattr(state, name, None)
            ]
        for event in self.events.values():
            for transitions in event.transitions.values():
                for transition in transitions:
                    problems += [
                        f"{event.name} {name}"
                        for name in _TRANSITION_CALLBACKS
                        if getattr(transition, name)
                    ]
                    problems += [
                        f"{event.name} condition {condition.func!r}"
                        for condition in transition.conditions
                        if not callable(condition.func)
                    ]
        if problems:
            raise ValueError(f"a deciding machine runs no callbacks: {', '.join(problems)}")

    def add_states(self, *args: Any, **kwargs: Any) -> None:
        """Add states as a stock machine does, and forget the values kept by name (a state
        added again under a name may hold another)."""
        super().add_states(*args, **kwargs)
        self.state_values = {}
