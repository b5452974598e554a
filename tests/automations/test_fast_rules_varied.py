"""Varied rule sets (every kind of field a condition reads, every op, values of every
type) decide the same in a compiled bucket as in the rules' own condition closures."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from aftersales.automations._conditions import Facts, Lookups
from aftersales.automations._fast import compile_bucket
from aftersales.automations._install import compile_rule
from aftersales.automations._model import Condition
from aftersales.models import Customer, Ticket
from aftersales.models.events import build_event

PRIORITIES = ("urgent", "high", "normal", "low")
SCALARS = ["urgent", "high", "low", "gold", "de", "vip", "agent", "a", "", None, 0, 1, 3, 9, 2.5]
ORDERED = [value for value in SCALARS if value is not None]  # an order compares with a value
FIELDS = [
    "subject.priority",
    "subject.severity",
    "subject.status",
    "subject.tags",
    "subject.subject",
    "subject.assignee",
    "subject.satisfaction",
    "subject.escalation_level",
    "subject.reopen_count",
    "subject.created_at",
    "subject.sla_first_response",
    "event.trigger",
    "event.from_state",
    "event.sequence",
    "event.actor",
    "event.payload.reason",
    "event.payload.deep.key",
    "actor.id",
    "actor.role",
    "customer.tier",
    "customer.language",
    "customer.tags",
    "customer.opted_out_of_care",
    "time.hour",
    "time.weekday",
]
OPS = ["eq", "ne", "in", "not_in", "gt", "ge", "lt", "le", "contains", "not_contains"]


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    op = draw(st.sampled_from([*OPS, "exists", "missing"]))
    if op in ("exists", "missing"):
        value: Any = None
    elif op in ("in", "not_in"):
        value = draw(st.lists(st.sampled_from(SCALARS), max_size=3))
    elif op in ("gt", "ge", "lt", "le"):
        value = draw(st.sampled_from(ORDERED))
    else:
        value = draw(
            st.one_of(
                st.sampled_from(SCALARS),
                st.lists(st.sampled_from(SCALARS), max_size=2),
                st.just(True),
            )
        )
    return Condition(field=draw(st.sampled_from(FIELDS)), op=op, value=value)


tickets = st.builds(
    lambda priority, tags, subject, satisfaction, level: Ticket(
        number=1,
        channel="email",
        subject=subject,
        customer_id="c",
        priority=priority,
        tags=tags,
        satisfaction=satisfaction,
        escalation_level=level,
        reopen_count=level,
        status="open",
        status_category="open",
        created_at=datetime(2025, 3, 3, 9, tzinfo=timezone.utc),
        updated_at=datetime(2025, 3, 3, 9, tzinfo=timezone.utc),
    ),
    st.sampled_from(PRIORITIES),
    st.lists(st.sampled_from(["vip", "a", "urgent"]), unique=True, max_size=3).map(tuple),
    st.sampled_from(["a refund", "vip", "low", "x"]),
    st.sampled_from([None, 1, 3, 5]),
    st.integers(0, 3),
)
customers = st.one_of(
    st.none(),
    st.builds(
        lambda tier, language, tags, opted: Customer(
            id="c", name="C", tier=tier, language=language, tags=tags, opted_out_of_care=opted
        ),
        st.sampled_from([None, "gold", "silver"]),
        st.sampled_from([None, "de", "en"]),
        st.lists(st.sampled_from(["vip", "a"]), unique=True, max_size=2).map(tuple),
        st.booleans(),
    ),
)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "reason": st.one_of(st.sampled_from(SCALARS), st.lists(st.sampled_from(SCALARS))),
        "deep": st.one_of(
            st.just("flat"), st.fixed_dictionaries({"key": st.sampled_from(SCALARS)})
        ),
    },
)
rule_sets = st.lists(
    st.tuples(st.lists(conditions(), max_size=4), st.lists(conditions(), max_size=3)),
    min_size=1,
    max_size=8,
)


@settings(max_examples=400, deadline=None)
@given(
    rules=rule_sets,
    ticket=tickets,
    customer=customers,
    roles=st.lists(st.sampled_from(["agent", "supervisor", "vip"]), unique=True, max_size=2),
    payload=payloads,
    hour=st.sampled_from([0, 1, 3, 9, 23]),
    first=st.booleans(),
)
def test_varied_rules_decide_the_same_compiled_as_by_their_closures(
    rules: list[tuple[list[Condition], list[Condition]]],
    ticket: Ticket,
    customer: Customer | None,
    roles: list[str],
    payload: dict[str, Any],
    hour: int,
    first: bool,
) -> None:
    compiled = [
        compile_rule(f"r{n}", ["ticket"], every, some, (), priorities=PRIORITIES)
        for n, (every, some) in enumerate(rules)
    ]
    at = datetime(2025, 3, 3, hour, tzinfo=timezone.utc)
    lookups = Lookups(lambda _: customer, lambda _: tuple(roles), ZoneInfo("UTC"))
    event = build_event(ticket.id, "ticket", 2, "assign", "new", "open", "li", at, payload, {})
    expected = [rule for rule in compiled if rule.matches(Facts(event, ticket, lookups, at))]
    if first:
        expected = expected[:1]
    actual = compile_bucket("ticket", compiled, first)(Facts(event, ticket, lookups, at))
    assert [rule.name for rule in expected] == [rule.name for rule in actual]


def _every_condition() -> list[Condition]:
    made = []
    for field in FIELDS:
        for op in OPS:
            if op in ("in", "not_in"):
                values: list[Any] = [[v] for v in SCALARS] + [[], ["vip", 3]]
            elif op in ("gt", "ge", "lt", "le"):
                values = ORDERED
            else:
                values = [*SCALARS, ["vip", "a"], [3]]
            made += [Condition(field=field, op=op, value=value) for value in values]
        made += [Condition(field=field, op=op) for op in ("exists", "missing")]
    return made


EVERY_CONDITION = [
    compile_rule(f"c{n}", ["ticket"], [condition], [], (), priorities=PRIORITIES)
    for n, condition in enumerate(_every_condition())
]
EVERY_BUCKET = compile_bucket("ticket", EVERY_CONDITION, False)


@settings(max_examples=150, deadline=None)
@given(
    ticket=tickets,
    customer=customers,
    roles=st.lists(st.sampled_from(["agent", "supervisor", "vip"]), unique=True, max_size=2),
    payload=payloads,
    hour=st.sampled_from([0, 1, 3, 9, 23]),
)
def test_each_field_op_and_value_holds_compiled_exactly_when_its_closure_holds(
    ticket: Ticket,
    customer: Customer | None,
    roles: list[str],
    payload: dict[str, Any],
    hour: int,
) -> None:
    at = datetime(2025, 3, 3, hour, tzinfo=timezone.utc)
    lookups = Lookups(lambda _: customer, lambda _: tuple(roles), ZoneInfo("UTC"))
    event = build_event(ticket.id, "ticket", 2, "assign", "new", "open", "li", at, payload, {})
    facts = Facts(event, ticket, lookups, at)
    expected = [rule.every[0].condition for rule in EVERY_CONDITION if rule.matches(facts)]
    actual = [rule.every[0].condition for rule in EVERY_BUCKET(facts)]
    assert expected == actual


def test_a_rule_failing_on_a_subject_field_never_reads_the_customer_or_the_roles() -> None:
    read: list[str] = []

    def customer(customer_id: str) -> None:
        read.append("customer")

    def roles(actor: str) -> tuple[str, ...]:
        read.append("roles")
        return ()

    rule = compile_rule(
        "r",
        ["ticket"],
        [
            Condition(field="customer.tier", op="eq", value="gold"),
            Condition(field="actor.role", op="eq", value="supervisor"),
            Condition(field="subject.priority", op="eq", value="urgent"),
        ],
        [],
        (),
    )
    at = datetime(2025, 3, 3, 9, tzinfo=timezone.utc)
    ticket = Ticket(
        number=1, channel="email", subject="s", customer_id="c", priority="low",
        status="open", status_category="open", created_at=at, updated_at=at,
    )  # fmt: skip
    event = build_event(ticket.id, "ticket", 2, "assign", "new", "open", "li", at, {}, {})
    facts = Facts(event, ticket, Lookups(customer, roles, ZoneInfo("UTC")), at)
    assert compile_bucket("ticket", [rule], False)(facts) == []
    assert read == []
