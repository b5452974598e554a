"""Checking a rule set against the desk it is installed on (kinds, triggers, states,
fields, priorities, templates, webhooks, calendars) and compiling its rules."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from aftersales.automations._conditions import CompiledCondition, Facts, compile_all, matcher
from aftersales.automations._model import (
    Action,
    CallWebhook,
    Condition,
    EscalationRule,
    EventRule,
    Fire,
    OpenCase,
    Remind,
    Route,
    RuleSet,
    SendMessage,
    SetFields,
    SetPriority,
    TimeRule,
)
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models import Case, Customer, Ticket
from aftersales.models.events import RESERVED_TRIGGERS, TICKET_KIND
from aftersales.models.ticket import Severity

if TYPE_CHECKING:
    from aftersales.desk import Desk
    from aftersales.workflows import Workflow

__all__ = ["Compiled", "check_actions", "check_rules", "compile_rule"]

Path = tuple[str | int, ...]


@attrs.frozen
class Compiled:
    """One rule (or one escalation level) ready to run: its handler name, its
    conditions as closures, its actions; for time rules what they count from."""

    name: str
    handler: str
    every: tuple[CompiledCondition, ...]
    some: tuple[CompiledCondition, ...]
    matches: Callable[[Facts], bool]
    actions: tuple[Action, ...]
    kinds: tuple[str, ...] = ()
    since: str | None = None
    hours: float = 0.0
    business_hours: bool = False
    categories: frozenset[str] = frozenset()
    start: str | None = None
    level: int | None = None


def compile_rule(
    name: str,
    kinds: Sequence[str],
    every: Sequence[Condition],
    some: Sequence[Condition],
    actions: tuple[Action, ...],
    priorities: Sequence[str] = (),
    **timing: Any,
) -> Compiled:
    """The rule with its conditions compiled to closures (see :func:`compile_all` for
    ``priorities``)."""
    every_c, some_c = compile_all(every, priorities), compile_all(some, priorities)
    return Compiled(
        name,
        f"rule:{name}",
        every_c,
        some_c,
        matcher(every_c, some_c),
        actions,
        tuple(kinds),
        **timing,
    )


_TIMESTAMPS = {
    kind: frozenset(name for name in model.model_fields if name.endswith("_at"))
    for kind, model in (("ticket", Ticket), ("case", Case))
}


def _kind_fields(kind: str) -> frozenset[str]:
    model = Ticket if kind == TICKET_KIND else Case
    return frozenset(model.model_fields)


def check_rules(
    desk: Desk,
    rules: RuleSet,
    *,
    templates: object,
    webhooks: Mapping[str, object],
) -> list[FieldError]:
    """What in ``rules`` the desk does not have (each problem with its path)."""
    workflows = desk._subject_workflows()
    problems: list[FieldError] = []
    for index, rule in enumerate(rules.rules):
        where: Path = ("rules", index)
        if isinstance(rule, EventRule):
            kinds = _kinds(rule.when.subjects, workflows, (*where, "when", "subjects"), problems)
            if rule.when.triggers is not None:
                known = set(RESERVED_TRIGGERS).union(*(workflows[k].triggers for k in kinds))
                _names(rule.when.triggers, known, (*where, "when", "triggers"), "trigger", problems)
        elif isinstance(rule, TimeRule):
            kinds = _kinds(rule.subjects, workflows, (*where, "subjects"), problems)
            for kind in kinds:
                stamps = _TIMESTAMPS[TICKET_KIND if kind == TICKET_KIND else "case"]
                if rule.since not in stamps:
                    problems.append(
                        FieldError(
                            (*where, "since"),
                            f"{kind} has no timestamp {rule.since!r}; "
                            f"known: {', '.join(sorted(stamps))}",
                        )
                    )
            if rule.business_hours and desk.sla is None:
                problems.append(_no_calendar((*where, "business_hours")))
        else:
            kinds = [TICKET_KIND]
            known = set(RESERVED_TRIGGERS) | set(desk.workflow.triggers)
            _names([rule.start], known, (*where, "start"), "trigger", problems)
            for number, level in enumerate(rule.levels):
                if level.business_hours and desk.sla is None:
                    problems.append(_no_calendar((*where, "levels", number, "business_hours")))
                check_actions(
                    desk,
                    level.actions,
                    kinds,
                    (*where, "levels", number, "actions"),
                    templates,
                    webhooks,
                    problems,
                )
        for group in ("conditions", "any"):
            for number, condition in enumerate(getattr(rule, group, ())):
                _check_condition(
                    desk, condition, kinds, workflows, (*where, group, number), problems
                )
        if not isinstance(rule, EscalationRule):
            check_actions(
                desk, rule.actions, kinds, (*where, "actions"), templates, webhooks, problems
            )
    return problems


def _no_calendar(where: Path) -> FieldError:
    return FieldError(where, "business hours need a desk with an SLA policy (its calendar)")


def _kinds(
    kinds: Sequence[str], workflows: Mapping[str, Workflow], where: Path, problems: list[FieldError]
) -> list[str]:
    _names(kinds, set(workflows), where, "kind", problems)
    return [kind for kind in kinds if kind in workflows]


def _names(
    names: Sequence[str], known: set[str], where: Path, what: str, problems: list[FieldError]
) -> None:
    missing = sorted(set(names) - known)
    if missing:
        shown = ", ".join(sorted(known)[:60])
        problems.append(
            FieldError(where, f"unknown {what} {', '.join(map(repr, missing))}; known: {shown}")
        )


def _values(condition: Condition) -> list[Any]:
    value = condition.value
    return list(value) if isinstance(value, list) else [value]


def _check_condition(
    desk: Desk,
    condition: Condition,
    kinds: Sequence[str],
    workflows: Mapping[str, Workflow],
    where: Path,
    problems: list[FieldError],
) -> None:
    root, _, rest = condition.field.partition(".")
    where = (*where, "field")
    if root == "subject":
        fields = (
            frozenset().union(*(_kind_fields(kind) for kind in kinds)) if kinds else frozenset()
        )
        if rest not in fields:
            problems.append(FieldError(where, f"unknown subject field {rest!r}"))
            return
        if rest == "status" and condition.op in ("eq", "ne", "in", "not_in"):
            states = {s.name for kind in kinds for s in workflows[kind].states}
            _names(
                [v for v in _values(condition) if isinstance(v, str)],
                states,
                where,
                "state",
                problems,
            )
        if rest == "priority" and condition.op not in ("exists", "missing", "contains"):
            _names(_values(condition), set(desk.settings.priorities), where, "priority", problems)
    elif root == "customer" and rest not in Customer.model_fields:
        problems.append(FieldError(where, f"unknown customer field {rest!r}"))
    elif root == "event" and rest == "trigger" and condition.op in ("eq", "ne", "in", "not_in"):
        known = set(RESERVED_TRIGGERS).union(*(workflows[k].triggers for k in kinds))
        _names(_values(condition), known, where, "trigger", problems)
    elif condition.field == "time.business_hours" and desk.sla is None:
        problems.append(_no_calendar(where))


def check_actions(
    desk: Desk,
    actions: Sequence[Action],
    kinds: Sequence[str],
    where: Path,
    templates: object,
    webhooks: Mapping[str, object],
    problems: list[FieldError],
) -> None:
    """What in ``actions`` (on subjects of ``kinds``) the desk cannot do."""
    workflows = desk._subject_workflows()
    for number, action in enumerate(actions):
        at = (*where, number)
        if isinstance(action, Fire):
            for kind in kinds:
                workflow = workflows[kind]
                if action.trigger not in workflow.triggers:
                    _names(
                        [action.trigger],
                        set(workflow.triggers),
                        (*at, "trigger"),
                        "trigger",
                        problems,
                    )
                    continue
                try:
                    # a payload the trigger refuses would fail every delivery of the rule
                    workflow.parse_payload(action.trigger, action.payload)
                except InvalidInput as error:
                    problems.append(FieldError((*at, "payload"), _first_message(error)))
        elif isinstance(action, Route) and desk.classifier is None:
            problems.append(FieldError(at, "route needs a desk with a classifier"))
        elif isinstance(action, (SetPriority, SetFields)):
            fields = (
                {"priority": action.priority} if isinstance(action, SetPriority) else action.fields
            )
            if "priority" in fields:
                _names(
                    [fields["priority"]],
                    set(desk.settings.priorities),
                    (*at, "priority"),
                    "priority",
                    problems,
                )
            if "category" in fields:
                _names(
                    [fields["category"]],
                    set(desk.categories),
                    (*at, "category"),
                    "category",
                    problems,
                )
            if "severity" in fields:
                _names(
                    [fields["severity"]],
                    {s.value for s in Severity},
                    (*at, "severity"),
                    "severity",
                    problems,
                )
        elif isinstance(action, SendMessage):
            _check_template(action, templates, at, problems)
        elif isinstance(action, CallWebhook) and action.webhook not in webhooks:
            _names([action.webhook], set(webhooks), (*at, "webhook"), "webhook", problems)
        elif isinstance(action, OpenCase):
            spec = desk.cases.kinds.get(action.kind)
            if spec is None or spec.opener is None:
                openable = {k for k, s in desk.cases.kinds.items() if s.opener is not None}
                _names([action.kind], openable, (*at, "kind"), "case kind", problems)
        elif isinstance(action, Remind):
            needed = math.ceil(action.after_hours / 24) + 1
            if needed > desk.settings.max_delivery_attempts:
                problems.append(
                    FieldError(
                        (*at, "after_hours"),
                        f"a reminder {action.after_hours} hours "
                        f"away needs max_delivery_attempts of {needed} or more",
                    )
                )


def _check_template(
    action: SendMessage, templates: object, at: Path, problems: list[FieldError]
) -> None:
    if templates is None:
        problems.append(FieldError((*at, "template"), "send_message needs templates= at install"))
        return
    names = getattr(templates, "names", None)
    if isinstance(names, tuple):
        _names([action.template], set(names), (*at, "template"), "template", problems)
    context = getattr(templates, "context", None)
    if isinstance(context, frozenset):
        _names(sorted(action.context), set(context), (*at, "context"), "context name", problems)


def _first_message(error: InvalidInput) -> str:
    """What a refused payload lacks, as one message (the first field and why)."""
    first = error.errors[0]
    where = ".".join(map(str, first.location))
    return f"{where}: {first.message}" if where else first.message
