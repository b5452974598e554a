"""Every reachable state of every shipped workflow can reach a final state through
triggers whose guards can pass.

A workflow's states alone do not show a dead end: the complaint workflow once let an
escalated complaint reach ``accepted``, where only ``close`` leaves and its guard wants a
sign-off that only ``escalated`` could give. So each workflow is explored over its states
*and the facts its guards read*: below, every guard declares the facts that make it pass,
every transition what it does to those facts (with the choices its payload or the world
gives), and the facts the world fixes (the policy's decision, a team's supervisor) are
enumerated. Each combination of state and facts reachable from the start must have a path
to a final state.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from itertools import product
from typing import Any

import attrs
import pytest

from aftersales.cases import KINDS
from aftersales.workflows import SHIPPED, Workflow

WORKFLOWS: dict[str, Workflow] = {
    **SHIPPED,
    **{spec.workflow.name: spec.workflow for spec in KINDS},
}
"""The shipped workflows and those of every shipped case kind (on-site visits included)."""

Facts = Mapping[str, Any]
Choices = Callable[[Facts], Iterable[Mapping[str, Any]]]


@attrs.frozen
class FactModel:
    """What a workflow's guards read, as facts: ``world`` facts take every listed value
    (each combination is a start), ``start`` facts begin with one value; ``guards`` say
    when each guard passes; ``effects`` give, per trigger, the alternative fact changes
    its payload or the world may bring (a trigger not listed changes no fact)."""

    world: Mapping[str, tuple[Any, ...]]
    start: Mapping[str, Any]
    guards: Mapping[str, Callable[[Facts], bool]]
    effects: Mapping[str, Choices] = attrs.field(factory=dict)


def _one(**changes: Any) -> Choices:
    return lambda facts: [changes]


_INSPECTIONS: Choices = lambda facts: [  # noqa: E731 - a table of choices reads best inline
    {"all_inspected": True, "refundable": True},  # some unit passed
    {"all_inspected": True},  # every unit failed (keeps what passed before)
    {"all_inspected": False},  # more arrived than were inspected so far
]

_GOODS = FactModel(
    world={"policy_allows": (True, False)},
    start={"received": False, "all_inspected": True, "refundable": False},
    guards={
        "policy_allows": lambda f: f["policy_allows"],
        "goods_not_received": lambda f: not f["received"],
        "all_inspected": lambda f: f["all_inspected"],
        "has_refundable_units": lambda f: f["refundable"],
        "has_exchangeable_units": lambda f: f["refundable"],
    },
    effects={
        "receive": _one(received=True, all_inspected=False),
        "inspect": _INSPECTIONS,
    },
)

_DECISIONS = ("repair", "refused", "replacement", "refund", "replacement_or_refund")
"""What an assessment may decide: a covered repair, not covered (a paid quote), or a
replacement, a refund or either instead of another repair."""

MODELS: dict[str, FactModel] = {
    "ticket": FactModel(
        world={},
        start={},
        guards={
            # both read the payload and the clock: the right input lets them pass
            "within_reopen_window": lambda f: True,
            "not_merged_into_itself": lambda f: True,
        },
    ),
    "return": _GOODS,
    "exchange": _GOODS,
    "refund": FactModel(world={}, start={}, guards={}),
    "repair": FactModel(
        world={"decision": (None, *_DECISIONS)},  # None: opened with assess=False
        start={"parts_wait": False},
        guards={
            "covered": lambda f: f["decision"] == "repair",
            "not_covered": lambda f: f["decision"] == "refused",
            "replacement_due": lambda f: f["decision"] in _DECISIONS[2:],
            "replacement_offered": lambda f: (
                f["parts_wait"] or f["decision"] in ("replacement", "replacement_or_refund")
            ),
            "refund_offered": lambda f: f["decision"] in ("refund", "replacement_or_refund"),
        },
        effects={
            "parts_wait_exceeded": _one(parts_wait=True),
            # a failure reported is assessed again: any decision may come of it
            "report_failure": lambda f: [{"decision": d} for d in _DECISIONS],
        },
    ),
    "complaint": FactModel(
        world={"team_has_supervisor": (True, False)},
        start={"escalated": False, "signed_off": False},
        guards={
            "configured_supervisor": lambda f: f["team_has_supervisor"],
            "by_supervisor": lambda f: f["escalated"],  # fired by that supervisor
            "signed_off_if_escalated": lambda f: not f["escalated"] or f["signed_off"],
        },
        effects={
            "escalate": _one(escalated=True, signed_off=False),
            "sign_off": _one(signed_off=True),
        },
    ),
    "visit": FactModel(
        world={},
        start={},
        guards={
            # the clock and the payload: the right time and input let them pass
            "window_started": lambda f: True,
            "serial_known": lambda f: True,
        },
    ),
    "survey": FactModel(
        # a customer erased or opted out gets no survey: the desk cancels it
        world={"reachable": (True, False)},
        start={},
        # the score decides: any answer fits, a low one may be negative
        guards={
            "answer_fits": lambda f: True,
            "negative": lambda f: True,
            "reachable": lambda f: f["reachable"],
        },
    ),
    "coupon": FactModel(
        world={},
        start={},
        # the right code before the expiry redeems; run_due expires it otherwise
        guards={"code_matches": lambda f: True, "valid": lambda f: True},
    ),
    "care": FactModel(
        world={},
        start={},
        # a customer erased or opted out is not reached: the desk cancels the action
        guards={"reachable": lambda f: True},
    ),
    "return_visit": FactModel(
        world={"on_problem": ("reopen_ticket", "open_case")},
        start={"attempts_left": True},
        guards={
            "attempts_left": lambda f: f["attempts_left"],
            # unreachable is the other side of no_answer: the last attempt only
            "attempts_used": lambda f: not f["attempts_left"],
            "follows_by_reopening": lambda f: f["on_problem"] == "reopen_ticket",
            "follows_by_case": lambda f: f["on_problem"] == "open_case",
        },
        effects={
            "no_answer": lambda f: [{"attempts_left": True}, {"attempts_left": False}],
            "problem_persists": lambda f: [
                {"on_problem": "reopen_ticket"},
                {"on_problem": "open_case"},
            ],
        },
    ),
}

Node = tuple[str, tuple[tuple[str, Any], ...]]


def _moves(workflow: Workflow, model: FactModel, node: Node) -> list[Node]:
    """The nodes one passable transition away from ``node``."""
    state, frozen = node
    facts = dict(frozen)
    found: list[Node] = []
    for transition in workflow.transitions:
        if state not in transition.source:
            continue
        if not all(model.guards[guard](facts) for guard in transition.guards):
            continue
        choices = model.effects.get(transition.trigger, _one())(facts)
        for changes in choices:
            after = {**facts, **changes}
            found.append((transition.dest, tuple(sorted(after.items()))))
    return found


def _starts(workflow: Workflow, model: FactModel) -> list[Node]:
    names = sorted(model.world)
    starts: list[Node] = []
    for values in product(*(model.world[name] for name in names)):
        facts = {**model.start, **dict(zip(names, values, strict=True))}
        starts.append((workflow.initial, tuple(sorted(facts.items()))))
    return starts


def dead_ends(workflow: Workflow, model: FactModel) -> list[Node]:
    """Reachable (state, facts) from which no final state can be reached."""
    final = {state.name for state in workflow.states if state.is_final}
    edges: dict[Node, list[Node]] = {}
    queue = deque(_starts(workflow, model))
    while queue:
        node = queue.popleft()
        if node in edges:
            continue
        edges[node] = _moves(workflow, model, node)
        queue.extend(n for n in edges[node] if n not in edges)
    # walk back from the final nodes: what can reach one
    reverse: dict[Node, list[Node]] = {}
    for node, targets in edges.items():
        for target in targets:
            reverse.setdefault(target, []).append(node)
    finishing = {node for node in edges if node[0] in final}
    queue = deque(finishing)
    while queue:
        for earlier in reverse.get(queue.popleft(), ()):
            if earlier not in finishing:
                finishing.add(earlier)
                queue.append(earlier)
    return sorted(node for node in edges if node not in finishing)


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_every_reachable_state_of_a_shipped_workflow_can_reach_a_final_state(name: str) -> None:
    workflow = WORKFLOWS[name]
    model = MODELS[name]
    undeclared = sorted(
        {guard for t in workflow.transitions for guard in t.guards} - set(model.guards)
    )
    assert undeclared == [], f"declare the facts that let these guards pass: {undeclared}"
    assert dead_ends(workflow, model) == []


def test_every_shipped_workflow_has_a_fact_model() -> None:
    assert sorted(MODELS) == sorted(WORKFLOWS)


def test_the_check_finds_the_complaint_that_could_not_close_after_an_escalation() -> None:
    from aftersales.workflows import State, Transition

    old = Workflow(
        "complaint",
        initial="received",
        states=[
            State("received", "new"),
            State("proposed", "waiting_on_customer"),
            State("escalated", "open"),
            State("accepted", "resolved"),
            State("signed_off", "resolved"),
            State("closed", "closed"),
        ],
        transitions=[
            Transition("propose", ["received", "escalated"], "proposed"),
            Transition("accept", "proposed", "accepted"),
            Transition("escalate", ["received", "proposed"], "escalated"),
            Transition("sign_off", "escalated", "signed_off", guards=["by_supervisor"]),
            Transition(
                "close", ["accepted", "signed_off"], "closed", guards=["signed_off_if_escalated"]
            ),
        ],
        guards={"by_supervisor": lambda c: None, "signed_off_if_escalated": lambda c: None},
    )
    assert {state for state, _ in dead_ends(old, MODELS["complaint"])} == {"accepted"}
