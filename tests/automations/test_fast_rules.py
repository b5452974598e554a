"""The rules of one (kind, trigger) compiled into one function decide exactly as the
rules' own condition closures do, for any conditions and any subject."""

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
from aftersales.models import Case, Ticket
from aftersales.models.events import build_event

AT = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
LOOKUPS = Lookups(lambda customer_id: None, lambda actor: ("agent",), ZoneInfo("UTC"))
WORDS = ["urgent", "high", "normal", "low", "a", "b", "new", "open", "critical", None, 0, 1, 2]

fields = st.sampled_from(
    [
        "subject.priority",
        "subject.status",
        "subject.status_category",
        "subject.severity",
        "subject.tags",
        "subject.assignee",
        "subject.team",
        "subject.escalation_level",
        "subject.channel",
        "subject.created_at",
        "subject.order_line",
        "event.trigger",
        "actor.role",
    ]
)
ops = st.sampled_from(
    [
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
)


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    op = draw(ops)
    if op in ("exists", "missing"):
        value: Any = None
    elif op in ("in", "not_in"):
        value = draw(st.lists(st.sampled_from(WORDS), max_size=3))
    elif op in ("gt", "ge", "lt", "le"):
        value = draw(st.sampled_from([w for w in WORDS if w is not None]))  # one value
    else:
        value = draw(
            st.one_of(st.sampled_from(WORDS), st.lists(st.sampled_from(WORDS), max_size=2))
        )
    return Condition(field=draw(fields), op=op, value=value)


tickets = st.builds(
    lambda priority, severity, tags, assignee, level, status: Ticket(
        number=1,
        channel="email",
        subject="s",
        customer_id="c",
        priority=priority,
        severity=severity,
        tags=tags,
        assignee=assignee,
        escalation_level=level,
        status=status,
        status_category="open" if status == "open" else "new",
        created_at=AT,
        updated_at=AT,
    ),
    st.sampled_from(["urgent", "high", "normal", "low"]),
    st.sampled_from([None, "critical", "high", "low"]),
    st.lists(st.sampled_from(["a", "b", "urgent"]), unique=True, max_size=3).map(tuple),
    st.sampled_from([None, "a", "b"]),
    st.integers(0, 2),
    st.sampled_from(["new", "open"]),
)


@settings(max_examples=300, deadline=None)
@given(
    rules=st.lists(
        st.tuples(st.lists(conditions(), max_size=3), st.lists(conditions(), max_size=2)),
        min_size=1,
        max_size=5,
    ),
    ticket=tickets,
    first=st.booleans(),
)
def test_a_compiled_bucket_matches_what_the_rules_closures_match(
    rules: list[tuple[list[Condition], list[Condition]]], ticket: Ticket, first: bool
) -> None:
    compiled = [
        compile_rule(f"r{n}", ["ticket"], every, some, ()) for n, (every, some) in enumerate(rules)
    ]
    event = build_event(ticket.id, "ticket", 2, "assign", "new", "new", "li", AT, {}, {})
    facts = Facts(event, ticket, LOOKUPS, AT)
    expected = [rule for rule in compiled if rule.matches(facts)]
    if first:
        expected = expected[:1]
    assert compile_bucket("ticket", compiled, first)(facts) == expected


def test_a_field_a_case_does_not_have_is_a_constant_in_its_bucket() -> None:
    case = Case(
        kind="complaint",
        workflow="complaint",
        status="open",
        status_category="open",
        ticket_id="t",
        created_at=AT,
        updated_at=AT,
    )
    missing = compile_rule(
        "m", ["complaint"], [Condition(field="subject.tags", op="missing")], [], ()
    )
    has = compile_rule("h", ["complaint"], [Condition(field="subject.tags", op="exists")], [], ())
    event = build_event(case.id, "complaint", 2, "acknowledge", "open", "open", "li", AT, {}, {})
    facts = Facts(event, case, LOOKUPS, AT)
    assert compile_bucket("complaint", [missing, has], False)(facts) == [missing]
