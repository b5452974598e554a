"""Automation rules as validated data: conditions, actions, event rules, time rules,
escalation chains, rule sets and macros, and their JSON Schema."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator
from typing_extensions import Self

from aftersales._validation import invalid_input
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models._base import Identifier, ShortText, Text
from aftersales.models.ticket import StatusCategory, Tag

__all__ = [
    "FIELD_PATTERN",
    "ROOTS",
    "Action",
    "AddNote",
    "Assign",
    "CallWebhook",
    "Condition",
    "EscalationLevel",
    "EscalationRule",
    "EventRule",
    "Fire",
    "Macro",
    "OpenCase",
    "Remind",
    "Route",
    "Rule",
    "RuleSet",
    "SendMessage",
    "SetFields",
    "SetPriority",
    "Tags",
    "TimeRule",
    "When",
    "parse_json",
    "parse_rules",
    "rules_schema",
]

ModelT = TypeVar("ModelT", bound=BaseModel)

RuleName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]
"""A rule's or a macro's name: letters, digits, ``_``, ``.`` and ``-``, 1 to 100 of them
(it names the rule's outbox handler, ``rule:<name>``)."""

ROOTS = {
    "subject": None,
    "event": frozenset(
        {"trigger", "from_state", "to_state", "actor", "subject_kind", "sequence", "payload"}
    ),
    "actor": frozenset({"id", "role"}),
    "customer": None,
    "time": frozenset({"hour", "weekday", "business_hours"}),
}
"""What a condition's ``field`` may start with, and the names under it (None: the
subject's or the customer's own fields, checked when the rules are installed)."""

FIELD_PATTERN = (
    r"^(subject\.[A-Za-z_][A-Za-z0-9_]*|customer\.[A-Za-z_][A-Za-z0-9_]*"
    r"|event\.(trigger|from_state|to_state|actor|subject_kind|sequence)"
    r"|event\.payload(\.[^.]+)+|actor\.(id|role)|time\.(hour|weekday|business_hours))$"
)
"""The JSON Schema's pattern of a condition's ``field`` (the same rules as :data:`ROOTS`)."""

Op = Literal[
    "eq",
    "ne",
    "in",
    "not_in",
    "gt",
    "ge",
    "lt",
    "le",
    "contains",
    "not_contains",
    "exists",
    "missing",
]

_OPEN = (
    StatusCategory.NEW,
    StatusCategory.OPEN,
    StatusCategory.WAITING_ON_CUSTOMER,
    StatusCategory.WAITING_ON_THIRD_PARTY,
)


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


ORDER_OPS: list[JsonValue] = ["gt", "ge", "lt", "le"]
"""The ops that compare in an order: their value is one text or number."""


class Condition(_Data):
    """``field`` ``op`` ``value``: e.g. ``{"field": "subject.priority", "op": "in",
    "value": ["urgent", "high"]}``.

    ``field`` is ``subject.<field>`` (the ticket or case after the change),
    ``event.<trigger|from_state|to_state|actor|subject_kind|sequence>``,
    ``event.payload.<key>`` (deeper keys with more dots), ``actor.id``, ``actor.role``
    (the roles of the event's actor), ``customer.<field>`` (the subject's customer,
    read only when a rule asks), ``time.hour``, ``time.weekday`` (1 Monday to 7 Sunday,
    in the rule set's ``time_zone``) or ``time.business_hours`` (the SLA calendar).
    On a list (tags, roles), ``eq`` and ``in`` hold when one element matches;
    ``contains`` holds when the text or list holds the value (every value of a list).
    ``exists`` and ``missing`` take no value; ``in`` and ``not_in`` take a list.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        # the value rules of _fits, for validators of the JSON Schema elsewhere
        json_schema_extra={
            "allOf": [
                {
                    "if": {
                        "properties": {"op": {"enum": ["exists", "missing"]}},
                        "required": ["op"],
                    },
                    "then": {"properties": {"value": {"type": "null"}}},
                },
                {
                    "if": {"properties": {"op": {"enum": ["in", "not_in"]}}, "required": ["op"]},
                    "then": {"properties": {"value": {"type": "array"}}, "required": ["value"]},
                },
                {
                    "if": {"properties": {"op": {"enum": ORDER_OPS}}, "required": ["op"]},
                    "then": {
                        "properties": {"value": {"type": ["string", "number"]}},
                        "required": ["value"],
                    },
                },
            ]
        },
    )

    field: Annotated[
        str,
        Field(min_length=3, max_length=200, json_schema_extra={"pattern": FIELD_PATTERN}),
    ]
    op: Op = "eq"
    value: JsonValue = None

    @model_validator(mode="after")
    def _fits(self) -> Self:
        root, _, rest = self.field.partition(".")
        if root not in ROOTS or not rest:
            raise ValueError(f"field must start with one of {', '.join(ROOTS)} and a dot")
        names = ROOTS[root]
        head = rest.split(".")[0]
        if names is not None and head not in names:
            raise ValueError(f"unknown field {self.field!r}; {root}. takes {sorted(names)}")
        payload = root == "event" and head == "payload"
        if "." in rest and not payload:
            raise ValueError(f"field {self.field!r}: only event.payload takes deeper keys")
        if payload and "." not in rest:
            raise ValueError("event.payload takes a key: event.payload.<key>")
        if self.op in ("exists", "missing") and self.value is not None:
            raise ValueError(f"op {self.op!r} takes no value")
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} takes a list value")
        if self.op in ORDER_OPS and (
            isinstance(self.value, bool) or not isinstance(self.value, (str, int, float))
        ):
            raise ValueError(f"op {self.op!r} takes one text or number to compare with")
        return self


class Fire(_Data):
    """Fire a trigger of the subject's workflow (skipped when the state no longer allows it)."""

    do: Literal["fire"]
    trigger: Identifier
    payload: dict[str, JsonValue] | None = None


class Assign(_Data):
    """Assign the ticket to ``assignee`` (and ``team``)."""

    do: Literal["assign"]
    assignee: Identifier
    team: Identifier | None = None


class Route(_Data):
    """Classify and assign a new ticket with the desk's classifier and router."""

    do: Literal["route"]


class SetPriority(_Data):
    """Set the ticket's priority (a level the desk declares)."""

    do: Literal["set_priority"]
    priority: Identifier


class Tags(_Data):
    """Add or remove tags of the ticket."""

    do: Literal["add_tags", "remove_tags"]
    tags: Annotated[tuple[Tag, ...], Field(min_length=1, max_length=100)]


class SetFields(_Data):
    """Set the ticket's ``priority``, ``team``, ``category`` or ``severity``."""

    do: Literal["set_fields"]
    fields: Annotated[
        dict[Literal["priority", "team", "category", "severity"], ShortText],
        Field(min_length=1),
    ]


class AddNote(_Data):
    """Add an internal note (the customer never sees it)."""

    do: Literal["add_note"]
    text: Text


class SendMessage(_Data):
    """Post a public reply rendered from the named template (in the customer's language)."""

    do: Literal["send_message"]
    template: Identifier
    context: dict[str, JsonValue] = Field(default_factory=dict)


class CallWebhook(_Data):
    """Call the named webhook (given at install) with the rule's notification."""

    do: Literal["call_webhook"]
    webhook: Identifier


class OpenCase(_Data):
    """Open a case of ``kind`` on the ticket, with the kind's opener and ``fields``."""

    do: Literal["open_case"]
    kind: Identifier
    fields: dict[str, JsonValue] = Field(default_factory=dict)


class Remind(_Data):
    """Add ``note`` as an internal note ``after_hours`` from now (through the outbox)."""

    do: Literal["remind"]
    after_hours: Annotated[float, Field(gt=0, le=24 * 366)]
    note: Text


Action = Annotated[
    Union[  # noqa: UP007 - a discriminated union reads better spelled out
        Fire,
        Assign,
        Route,
        SetPriority,
        Tags,
        SetFields,
        AddNote,
        SendMessage,
        CallWebhook,
        OpenCase,
        Remind,
    ],
    Field(discriminator="do"),
]
"""One thing a rule or a macro does, told apart by ``do``."""

Conditions = Annotated[tuple[Condition, ...], Field(max_length=100)]
Actions = Annotated[tuple[Action, ...], Field(min_length=1, max_length=50)]


class When(_Data):
    """Which events an event rule hears: of ``subjects`` (``"ticket"`` or case kinds),
    of ``triggers`` (None: every trigger)."""

    subjects: Annotated[tuple[Identifier, ...], Field(min_length=1, max_length=100)] = ("ticket",)
    triggers: Annotated[tuple[Identifier, ...], Field(min_length=1, max_length=200)] | None = None


class EventRule(_Data):
    """When an event ``when`` names is committed and every condition holds (and one of
    ``any``, when given), do the ``actions`` after the commit (through the outbox)."""

    name: RuleName
    kind: Literal["event"]
    description: ShortText | None = None
    when: When
    conditions: Conditions = ()
    any: Conditions = ()
    actions: Actions


class TimeRule(_Data):
    """When ``hours`` (business hours with ``business_hours``, on the desk's SLA
    calendar) have passed since the subject's ``since`` timestamp and the conditions
    hold, :meth:`~aftersales.Desk.run_due` records a ``rule_due`` event whose delivery
    does the ``actions``: once per subject and value of ``since`` (its window). Subjects
    in ``categories`` (by default new, open and waiting) are looked at."""

    name: RuleName
    kind: Literal["time"]
    description: ShortText | None = None
    subjects: Annotated[tuple[Identifier, ...], Field(min_length=1, max_length=100)] = ("ticket",)
    categories: Annotated[tuple[StatusCategory, ...], Field(min_length=1)] = _OPEN
    since: Identifier = "updated_at"
    hours: Annotated[float, Field(ge=0, le=24 * 366)]
    business_hours: bool = False
    conditions: Conditions = ()
    any: Conditions = ()
    actions: Actions


class EscalationLevel(_Data):
    """One level of an escalation chain: ``after_hours`` since the chain started."""

    after_hours: Annotated[float, Field(ge=0, le=24 * 366)] = 0
    business_hours: bool = False
    actions: Annotated[tuple[Action, ...], Field(max_length=50)] = ()


class EscalationRule(_Data):
    """A multi-level escalation of tickets: an event of trigger ``start`` (e.g.
    ``sla_breached``) starts the chain; each level fires once per start, when its
    hours have passed and the ticket is still unresolved, setting the ticket's
    ``escalation_level`` to the level's number (1 for the first) and doing its
    actions."""

    name: RuleName
    kind: Literal["escalation"]
    description: ShortText | None = None
    start: Identifier
    conditions: Conditions = ()
    levels: Annotated[tuple[EscalationLevel, ...], Field(min_length=1, max_length=20)]

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        hours = [level.after_hours for level in self.levels]
        if hours != sorted(hours):
            raise ValueError("levels must come in the order of their after_hours")
        return self


Rule = Annotated[Union[EventRule, TimeRule, EscalationRule], Field(discriminator="kind")]  # noqa: UP007
"""An event rule, a time rule or an escalation chain, told apart by ``kind``."""


class RuleSet(_Data):
    """A desk's automation rules, in order: with ``mode`` ``"all"`` every event rule
    that matches an event acts, with ``"first"`` only the first. ``loop_limit``: how
    often one rule may act in one chain of actions (its actions' events making it act
    again) before it is stopped with an ``automation_stopped`` event.
    ``time_zone``: the zone of ``time.hour`` and ``time.weekday``."""

    mode: Literal["all", "first"] = "all"
    loop_limit: Annotated[int, Field(ge=1, le=100)] = 3
    time_zone: ShortText = "UTC"
    rules: Annotated[tuple[Rule, ...], Field(max_length=1000)] = ()

    @model_validator(mode="after")
    def _unique(self) -> Self:
        seen: set[str] = set()
        for rule in self.rules:
            names = [rule.name]
            if isinstance(rule, EscalationRule):
                names += [f"{rule.name}.level{i}" for i in range(1, len(rule.levels) + 1)]
            for name in names:
                if name in seen:
                    raise ValueError(f"two rules are named {name!r}")
                seen.add(name)
        return self


class Macro(_Data):
    """A named, versioned canned response: ``actions`` applied at once by an agent
    (typically ``set_fields`` or ``add_tags`` and a ``send_message`` or ``add_note``)."""

    name: RuleName
    version: Annotated[int, Field(ge=1)] = 1
    title: ShortText
    actions: Actions


def parse_rules(rules: RuleSet | Mapping[str, Any] | str | bytes) -> RuleSet:
    """``rules`` as a :class:`RuleSet`: itself, a mapping, or JSON text; bad data raises
    :class:`~aftersales.InvalidInput` naming the path."""
    if isinstance(rules, RuleSet):
        return rules
    text: str | bytes
    if isinstance(rules, (str, bytes)):
        text = rules
    else:
        if not isinstance(rules, Mapping):
            raise InvalidInput("rules", [FieldError(("rules",), "must be a mapping or JSON text")])
        try:
            text = json.dumps(rules)
        except (TypeError, ValueError, RecursionError) as error:
            raise InvalidInput("rules", [FieldError(("rules",), f"not JSON: {error}")]) from None
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise InvalidInput("rules", [FieldError(("rules",), f"not JSON: {error}")]) from None
    if not isinstance(parsed, Mapping):
        raise InvalidInput("rules", [FieldError(("rules",), "must be a mapping or JSON text")])
    return parse_json(RuleSet, text, "rules")


def parse_json(model: type[ModelT], text: str | bytes, subject: str) -> ModelT:
    """``text`` (JSON) as ``model``, validated strictly as the JSON Schema says (no
    string of digits for a number), or :class:`~aftersales.InvalidInput`."""
    try:
        return model.model_validate_json(text, strict=True)
    except ValidationError as error:
        raise invalid_input(subject, error) from None


def rules_schema() -> dict[str, Any]:
    """The JSON Schema of a rule set (:class:`RuleSet`), for editors and validation
    elsewhere.

    >>> rules_schema()["title"]
    'RuleSet'
    """
    return RuleSet.model_json_schema()
