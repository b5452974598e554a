"""Workflow definitions as data, compiled once into a shared ``transitions.Machine``.

A :class:`Workflow` is immutable. Building one validates it; firing a trigger asks the
compiled machine to decide the move on a short-lived cursor object, so no state machine or
registered model exists per subject (design decision 1). The engine only *decides*: the
caller persists the new state and the event together and runs side effects after commit
(decision 2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from difflib import get_close_matches
from types import MappingProxyType
from typing import Any, cast

import attrs
from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter, ValidationError
from transitions import EventData
from transitions import State as MachineState

from aftersales._validation import invalid_input
from aftersales.exceptions import (
    InvalidWorkflow,
    TransitionRefused,
    TriggerNotAllowed,
)
from aftersales.models.ticket import StatusCategory
from aftersales.workflows._checks import definition_problems, mermaid
from aftersales.workflows._machine import DecidingMachine


@attrs.frozen
class Refusal:
    """Why a guard said no: a stable ``code``, its ``params`` and messages for people."""

    code: str
    message: str
    message_zh: str | None = None
    params: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.define(slots=True)
class TransitionContext:
    """What guards and effects see: the subject before the move and the validated input."""

    subject: Any
    subject_id: str
    state: str
    trigger: str
    payload: BaseModel | None
    actor: str
    now: datetime
    settings: Any = None
    label: str | None = None
    """How errors name the subject to people; by default ``<workflow> #<number>`` when the
    subject has a ``display_number`` (``ticket #42``), else its id."""


Guard = Callable[[TransitionContext], "Refusal | None"]
"""A pure check: return None to allow the transition, a :class:`Refusal` to refuse it."""

Effect = Callable[[TransitionContext], Mapping[str, Any]]
"""A pure function returning the fields a transition sets on the subject."""


def _states_tuple(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _names_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class State:
    """A workflow state. ``final`` states have no way out; closed ones are final by default."""

    name: str
    category: StatusCategory = attrs.field(converter=StatusCategory)
    final: bool | None = None
    description: str = ""

    @property
    def is_final(self) -> bool:
        """Whether the state ends the workflow."""
        if self.final is None:
            return self.category is StatusCategory.CLOSED
        return self.final


@attrs.frozen
class Transition:
    """A move from one or more ``source`` states to ``dest`` when ``trigger`` fires.

    ``guards`` and ``effects`` are names resolved against the workflow's registries when
    the workflow is built, so a definition stays plain data.
    """

    trigger: str
    source: tuple[str, ...] = attrs.field(converter=_states_tuple)
    dest: str
    guards: tuple[str, ...] = attrs.field(default=(), converter=_names_tuple)
    effects: tuple[str, ...] = attrs.field(default=(), converter=_names_tuple)
    description: str = ""


@attrs.define(slots=True)
class Move:
    """The engine's decision: which transition fired and the fields it sets."""

    transition: Transition
    dest: str
    category: StatusCategory
    updates: dict[str, Any]


class _Cursor:
    """The object the shared machine moves: it exists for one trigger only."""

    __slots__ = ("context", "refusal", "state")

    def __init__(self, state: str, context: TransitionContext) -> None:
        self.state = state
        self.context = context
        self.refusal: Refusal | None = None


class _GuardCondition:
    """Adapts one of our named guards to a ``transitions`` condition."""

    __slots__ = ("guard", "name")

    def __init__(self, name: str, guard: Guard) -> None:
        self.name = name
        self.guard = guard

    def __call__(self, event_data: EventData) -> bool:
        cursor = cast(_Cursor, event_data.model)
        refusal = self.guard(cursor.context)
        if refusal is None:
            return True
        cursor.refusal = refusal
        return False


class _StateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    category: StatusCategory
    final: bool | None = None
    description: str = ""


class _TransitionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trigger: str = Field(min_length=1, max_length=128)
    source: str | list[str]
    dest: str = Field(min_length=1, max_length=128)
    guards: list[str] = []
    effects: list[str] = []
    description: str = ""


class _WorkflowSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    initial: str
    version: int = Field(default=1, ge=1)
    states: list[_StateSpec] = Field(min_length=1)
    transitions: list[_TransitionSpec]


"""Colours per status category in generated diagrams."""

_FREE_PAYLOAD: TypeAdapter[dict[str, JsonValue]] = TypeAdapter(dict[str, JsonValue])


class Workflow:
    """An immutable, validated workflow definition compiled into one shared machine.

    >>> from aftersales.workflows import State, Transition, Workflow
    >>> wf = Workflow(
    ...     "door",
    ...     states=[State("open", "open"), State("shut", "closed")],
    ...     transitions=[Transition("close", "open", "shut")],
    ...     initial="open",
    ... )
    >>> wf.allowed_triggers("open")
    ('close',)
    """

    __slots__ = (
        "_allowed",
        "_effect_fns",
        "_effect_registry",
        "_empty_payloads",
        "_guard_fns",
        "_machine",
        "_payloads",
        "_states",
        "_table",
        "_triggers",
        "initial",
        "name",
        "states",
        "transitions",
        "version",
    )

    def __init__(
        self,
        name: str,
        *,
        states: Sequence[State],
        transitions: Sequence[Transition],
        initial: str,
        guards: Mapping[str, Guard] | None = None,
        effects: Mapping[str, Effect] | None = None,
        payloads: Mapping[str, type[BaseModel]] | None = None,
        version: int = 1,
    ) -> None:
        self.name = name
        self.states: tuple[State, ...] = tuple(states)
        self.transitions: tuple[Transition, ...] = tuple(transitions)
        self.initial = initial
        self.version = version
        guard_registry = dict(guards or {})
        effect_registry = dict(effects or {})
        self._payloads: dict[str, type[BaseModel]] = dict(payloads or {})
        problems = definition_problems(
            self.states, self.transitions, initial, self._payloads, guard_registry, effect_registry
        )
        if problems:
            raise InvalidWorkflow(name, problems)
        self._states = {state.name: state for state in self.states}
        self._empty_payloads: dict[str, BaseModel] = {}
        for trigger, schema in self._payloads.items():
            try:  # payloads are frozen, so the empty one can be shared
                self._empty_payloads[trigger] = schema.model_validate({})
            except ValidationError:
                continue
        self._table = {
            (source, transition.trigger): transition
            for transition in self.transitions
            for source in transition.source
        }
        self._triggers = frozenset(t.trigger for t in self.transitions)
        self._guard_fns = guard_registry
        self._effect_registry = effect_registry
        # Beside each transition in the table: looking its effects up by the transition
        # would hash the frozen Transition (all of its fields) on every decision.
        self._effect_fns = {
            key: tuple(effect_registry[n] for n in transition.effects)
            for key, transition in self._table.items()
        }
        allowed: dict[str, list[str]] = {state.name: [] for state in self.states}
        for source, trigger in self._table:
            if trigger not in allowed[source]:
                allowed[source].append(trigger)
        self._allowed = {name: tuple(sorted(triggers)) for name, triggers in allowed.items()}
        self._machine = DecidingMachine(
            model=None,
            states=[MachineState(s.name, final=s.is_final) for s in self.states],
            initial=initial,
            transitions=[
                {
                    "trigger": t.trigger,
                    "source": list(t.source),
                    "dest": t.dest,
                    "conditions": [_GuardCondition(g, guard_registry[g]) for g in t.guards],
                }
                for t in self.transitions
            ],
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
            name=name,
        )

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        guards: Mapping[str, Guard] | None = None,
        effects: Mapping[str, Effect] | None = None,
        payloads: Mapping[str, type[BaseModel]] | None = None,
    ) -> Workflow:
        """Build a workflow from plain data (e.g. parsed JSON) and named callables."""
        try:
            spec = _WorkflowSpec.model_validate(data)
        except ValidationError as error:
            name = data.get("name") if isinstance(data, Mapping) else None
            raise InvalidWorkflow(
                str(name or "?"), [str(e) for e in invalid_input("workflow", error).errors]
            ) from None
        return cls(
            spec.name,
            states=[State(s.name, s.category, s.final, s.description) for s in spec.states],
            transitions=[
                Transition(t.trigger, t.source, t.dest, t.guards, t.effects, t.description)
                for t in spec.transitions
            ],
            initial=spec.initial,
            guards=guards,
            effects=effects,
            payloads=payloads,
            version=spec.version,
        )

    def to_dict(self) -> dict[str, Any]:
        """The definition as plain data; ``from_dict`` accepts it back."""
        return {
            "name": self.name,
            "initial": self.initial,
            "version": self.version,
            "states": [
                {
                    "name": s.name,
                    "category": s.category.value,
                    "final": s.is_final,
                    "description": s.description,
                }
                for s in self.states
            ],
            "transitions": [
                {
                    "trigger": t.trigger,
                    "source": list(t.source),
                    "dest": t.dest,
                    "guards": list(t.guards),
                    "effects": list(t.effects),
                    "description": t.description,
                }
                for t in self.transitions
            ],
        }

    @property
    def guards(self) -> Mapping[str, Guard]:
        """The named guards the definition may use (read-only)."""
        return MappingProxyType(self._guard_fns)

    @property
    def effects(self) -> Mapping[str, Effect]:
        """The named effects the definition may use (read-only)."""
        return MappingProxyType(self._effect_registry)

    @property
    def payloads(self) -> Mapping[str, type[BaseModel]]:
        """The payload schema of each trigger that has one (read-only)."""
        return MappingProxyType(self._payloads)

    def state(self, name: str) -> State:
        """The state called ``name``; raises ``InvalidWorkflow`` for an unknown name."""
        try:
            return self._states[name]
        except KeyError:
            raise InvalidWorkflow(self.name, [f"unknown state {name!r}"]) from None

    def category_of(self, state: str) -> StatusCategory:
        """The status category of ``state``."""
        return self.state(state).category

    @property
    def triggers(self) -> tuple[str, ...]:
        """Every trigger name the workflow defines, sorted."""
        return tuple(sorted({t.trigger for t in self.transitions}))

    def allowed_triggers(self, state: str) -> tuple[str, ...]:
        """The triggers that leave ``state`` (guards not evaluated), sorted."""
        return self._allowed.get(state, ())

    def payload_schema(self, trigger: str) -> type[BaseModel] | None:
        """The pydantic model that validates ``trigger``'s payload, if any."""
        return self._payloads.get(trigger)

    def parse_payload(self, trigger: str, payload: Mapping[str, Any] | None) -> BaseModel | None:
        """Validate a trigger's payload; raise InvalidInput naming the bad fields."""
        schema = self._payloads.get(trigger)
        if not payload and trigger in self._empty_payloads:
            return self._empty_payloads[trigger]
        if schema is None:
            if payload:
                try:
                    _FREE_PAYLOAD.validate_python(payload)
                except ValidationError as error:
                    raise invalid_input(f"{trigger} payload", error) from None
            return None
        try:
            return schema.model_validate(payload or {})
        except ValidationError as error:
            raise invalid_input(f"{trigger} payload", error) from None

    def decide_for(
        self,
        subject: Any,
        trigger: str,
        *,
        payload: BaseModel | None,
        actor: str,
        now: datetime,
        settings: Any = None,
        label: str | None = None,
    ) -> Move:
        """:meth:`decide` for a subject record with an ``id`` and a ``status`` (a ticket or
        a case): the context is built from it."""
        return self.decide(
            TransitionContext(
                subject, subject.id, subject.status, trigger, payload, actor, now, settings, label
            )
        )

    def decide(self, context: TransitionContext) -> Move:
        """Decide where ``context.trigger`` takes the subject, or raise.

        Raises :class:`TriggerNotAllowed` when the trigger does not leave the state and
        :class:`TransitionRefused` when a guard says no. Nothing is changed either way.
        """
        state = context.state
        key = (state, context.trigger)
        transition = self._table.get(key)
        if transition is None:
            if context.trigger not in self._triggers:
                raise self._unknown_trigger(context)
            raise TriggerNotAllowed(
                subject_id=context.subject_id,
                label=self._label(context),
                trigger=context.trigger,
                state=state,
                allowed=self.allowed_triggers(state),
            )
        cursor = _Cursor(state, context)
        if not self._machine.events[context.trigger].trigger(cursor):
            refusal = cursor.refusal or Refusal("refused", "the transition was refused")
            raise TransitionRefused(
                subject_id=context.subject_id,
                label=self._label(context),
                trigger=context.trigger,
                state=state,
                allowed=self.allowed_triggers(state),
                refusal=refusal,
            )
        dest: str = cursor.state
        updates: dict[str, Any] = {}
        for effect in self._effect_fns[key]:
            updates.update(effect(context))
        return Move(transition, dest, self._states[dest].category, updates)

    def _unknown_trigger(self, context: TransitionContext) -> TriggerNotAllowed:
        """A trigger the workflow does not define at all: its own message, naming the
        workflow's triggers (a typo reads differently from a step out of order)."""
        close = get_close_matches(context.trigger, self.triggers, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return TriggerNotAllowed(
            subject_id=context.subject_id,
            trigger=context.trigger,
            state=context.state,
            allowed=self.allowed_triggers(context.state),
            message=f"{self._label(context) or context.subject_id}: workflow {self.name!r} has "
            f"no trigger {context.trigger!r} (triggers: {', '.join(self.triggers)}){hint}",
        )

    def _label(self, context: TransitionContext) -> str | None:
        if context.label is not None:
            return context.label
        number = getattr(context.subject, "display_number", None)
        return None if number is None else f"{self.name} {number}"

    def to_mermaid(self) -> str:
        """The workflow as a mermaid ``stateDiagram-v2``, generated from the definition."""
        return mermaid(self)

    def __repr__(self) -> str:
        return f"<Workflow {self.name!r} v{self.version}: {len(self.states)} states>"
