"""What a :class:`~aftersales.workflows.Workflow` checks of its definition before it compiles
it, and its mermaid diagram: both read the definition only, never the compiled machine."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from aftersales.models.events import RESERVED_TRIGGERS
from aftersales.models.ticket import StatusCategory

if TYPE_CHECKING:
    from aftersales.workflows._engine import State, Transition, Workflow

_CATEGORY_STYLE = {
    StatusCategory.NEW: "fill:#e3f2fd,stroke:#1e88e5",
    StatusCategory.OPEN: "fill:#fff8e1,stroke:#f9a825",
    StatusCategory.WAITING_ON_CUSTOMER: "fill:#f3e5f5,stroke:#8e24aa",
    StatusCategory.WAITING_ON_THIRD_PARTY: "fill:#ede7f6,stroke:#5e35b1",
    StatusCategory.RESOLVED: "fill:#e8f5e9,stroke:#43a047",
    StatusCategory.CLOSED: "fill:#eceff1,stroke:#546e7a",
}


def definition_problems(
    states: Sequence[State],
    transitions: Sequence[Transition],
    initial: str,
    payloads: Mapping[str, object],
    guards: Mapping[str, object],
    effects: Mapping[str, object],
) -> list[str]:
    """Everything wrong with a workflow definition, each in a sentence (empty: it is
    sound): unknown or duplicate states, triggers, guards and effects, reserved trigger
    names, dead ends, outgoing moves from final states, unreachable states."""
    problems: list[str] = []
    names = [state.name for state in states]
    known = set(names)
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"state {duplicate!r} is defined more than once")
    if initial not in known:
        problems.append(f"initial state {initial!r} is not a state")
    seen: set[tuple[str, str]] = set()
    outgoing: dict[str, int] = dict.fromkeys(known, 0)
    for transition in transitions:
        label = f"transition {transition.trigger!r}"
        if transition.trigger in RESERVED_TRIGGERS:
            problems.append(f"{label}: trigger name is reserved")
        if not transition.source:
            problems.append(f"{label}: has no source state")
        for source in transition.source:
            if source not in known:
                problems.append(f"{label}: unknown source state {source!r}")
                continue
            outgoing[source] += 1
            if (source, transition.trigger) in seen:
                problems.append(f"{label}: duplicate trigger from state {source!r}")
            seen.add((source, transition.trigger))
        if transition.dest not in known:
            problems.append(f"{label}: unknown destination state {transition.dest!r}")
        problems.extend(
            f"{label}: unknown guard {guard!r}"
            for guard in transition.guards
            if guard not in guards
        )
        problems.extend(
            f"{label}: unknown effect {effect!r}"
            for effect in transition.effects
            if effect not in effects
        )
    triggers = {t.trigger for t in transitions}
    problems.extend(
        f"payload schema for unknown trigger {trigger!r}"
        for trigger in sorted(payloads)
        if trigger not in triggers
    )
    for state in states:
        if state.name not in known or state.name not in outgoing:
            continue
        if state.is_final and outgoing[state.name]:
            problems.append(f"final state {state.name!r} has outgoing transitions")
        if not state.is_final and not outgoing[state.name]:
            problems.append(f"state {state.name!r} is a dead end (not final, no way out)")
    if initial in known:
        reachable = _reachable(transitions, initial)
        problems.extend(
            f"state {name!r} is unreachable from {initial!r}"
            for name in names
            if name not in reachable
        )
    return problems


def _reachable(transitions: Sequence[Transition], initial: str) -> set[str]:
    edges: dict[str, set[str]] = {}
    for transition in transitions:
        for source in transition.source:
            edges.setdefault(source, set()).add(transition.dest)
    reached = {initial}
    queue = deque([initial])
    while queue:
        for dest in edges.get(queue.popleft(), ()):
            if dest not in reached:
                reached.add(dest)
                queue.append(dest)
    return reached


def mermaid(workflow: Workflow) -> str:
    """The workflow as a mermaid ``stateDiagram-v2``, generated from the definition."""
    lines = ["stateDiagram-v2", f"    [*] --> {workflow.initial}"]
    for transition in workflow.transitions:
        label = transition.trigger
        if transition.guards:
            label += " [" + ", ".join(transition.guards) + "]"
        lines.extend(f"    {source} --> {transition.dest}: {label}" for source in transition.source)
    lines.extend(f"    {s.name} --> [*]" for s in workflow.states if s.is_final)
    for category in StatusCategory:
        members = [s.name for s in workflow.states if s.category is category]
        if members:
            lines.append(f"    classDef {category.value} {_CATEGORY_STYLE[category]}")
            lines.append(f"    class {','.join(members)} {category.value}")
    return "\n".join(lines) + "\n"
