"""Property: PermissionSet.check agrees with a straightforward reference evaluation.

Random permission sets (roles with inclusion, grants with wildcards, conditions, four-eyes
and row rules) against random principals and actions. The reference below reads the data
as a person would, rule by rule, with none of the precomputed tables ``check`` uses.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aftersales import PermissionDenied
from aftersales.security import Action, PermissionSet, Principal

ROLES = ["r0", "r1", "r2", "r3", "r4"]
KINDS = ["k0", "k1", "k2"]
TRIGGERS = ["t0", "t1", "t2", "t3"]
IDS = ["p0", "p1", "p2"]
TEAMS = ["red", "blue"]
CUSTOMERS = ["c0", "c1"]
OPS = ["gt", "ge", "lt", "le", "eq", "ne", "in", "is_null", "not_null"]


def subsets(names: list[str], min_size: int = 0) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(names), min_size=min_size, max_size=3, unique=True)


@st.composite
def role_specs(draw: st.DrawFn) -> dict[str, dict[str, list[str]]]:
    # A role includes only roles after it: no cycles.
    return {
        role: {"includes": draw(subsets(ROLES[index + 1 :])) if role != ROLES[-1] else []}
        for index, role in enumerate(ROLES)
    }


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(OPS))
    condition: dict[str, Any] = {
        "kinds": draw(subsets([*KINDS, "*"], 1)),
        "triggers": draw(subsets([*TRIGGERS, "*"], 1)),
        "field": "n",
        "op": op,
        "require_roles": draw(subsets(ROLES, 1)),
    }
    if op == "in":
        condition["value"] = draw(st.lists(st.integers(0, 3), max_size=3))
    elif op not in ("is_null", "not_null"):
        condition["value"] = draw(st.integers(0, 3))
    return condition


permission_data = st.fixed_dictionaries(
    {
        "roles": role_specs(),
        "default_principal": st.fixed_dictionaries({"roles": subsets(ROLES, 1)}),
        "grants": st.lists(
            st.fixed_dictionaries(
                {
                    "roles": subsets(ROLES, 1),
                    "kinds": subsets([*KINDS, "*"], 1),
                    "triggers": subsets([*TRIGGERS, "*"], 1),
                }
            ),
            max_size=6,
        ),
        "conditions": st.lists(conditions(), max_size=3),
        "four_eyes": st.lists(
            st.fixed_dictionaries(
                {
                    "kinds": subsets([*KINDS, "*"], 1),
                    "triggers": subsets([*TRIGGERS, "*"], 1),
                    "differs_from": subsets(TRIGGERS, 1),
                    "exempt_roles": subsets(ROLES),
                }
            ),
            max_size=2,
        ),
        "rows": st.lists(
            st.fixed_dictionaries(
                {
                    "roles": subsets(ROLES, 1),
                    "except_roles": subsets(ROLES),
                    "kinds": subsets([*KINDS, "*"], 1),
                    "field": st.sampled_from(["owner", "team"]),
                    "principal_field": st.sampled_from(["customer_id", "teams", "id"]),
                    "missing": st.sampled_from(["allow", "deny"]),
                }
            ),
            max_size=2,
        ),
    }
)

principals = st.builds(
    Principal,
    st.sampled_from(IDS),
    subsets([*ROLES, "stranger"]),
    subsets(TEAMS),
    st.sampled_from([None, *CUSTOMERS]),
)

subjects = st.fixed_dictionaries(
    {
        "n": st.none() | st.integers(0, 3),
        "owner": st.sampled_from([None, *IDS, *CUSTOMERS]),
        "team": st.sampled_from([None, *TEAMS]),
    }
)

histories = st.dictionaries(st.sampled_from(TRIGGERS), st.sets(st.sampled_from(IDS), max_size=2))


def reach(data: dict[str, Any], role: str) -> set[str]:
    """``role`` and every role it includes, transitively."""
    found = {role}
    for included in data["roles"].get(role, {}).get("includes", []):
        found |= reach(data, included)
    return found


def holds_one_of(data: dict[str, Any], principal: Principal, required: list[str]) -> bool:
    return any(wanted in reach(data, role) for role in principal.roles for wanted in required)


def covers(rule: dict[str, Any], kind: str, trigger: str | None = None) -> bool:
    kind_ok = "*" in rule["kinds"] or kind in rule["kinds"]
    return kind_ok and (trigger is None or "*" in rule["triggers"] or trigger in rule["triggers"])


def row_refusal(
    data: dict[str, Any], principal: Principal, kind: str, seen: dict[str, Any]
) -> str | None:
    for index, row in enumerate(data["rows"]):
        if not covers(row, kind) or not holds_one_of(data, principal, row["roles"]):
            continue
        if holds_one_of(data, principal, row["except_roles"]):
            continue
        value = seen[row["field"]]
        if value is None:
            if row["missing"] == "deny":
                return f"rows[{index}]"
            continue
        if row["principal_field"] == "teams":
            matched = value in principal.teams
        elif row["principal_field"] == "id":
            matched = value == principal.id
        else:
            matched = principal.customer_id is not None and value == principal.customer_id
        if not matched:
            return f"rows[{index}]"
    return None


def reference(data: dict[str, Any], action: Action, history: dict[str, set[str]]) -> str | None:
    """The rule that refuses ``action``, read off the data one rule at a time."""
    principal, kind, trigger = action.principal, action.subject_kind, action.trigger
    if not any(
        covers(grant, kind, trigger) and holds_one_of(data, principal, grant["roles"])
        for grant in data["grants"]
    ):
        return "grants"
    seen = action.before if action.before is not None else action.subject
    assert isinstance(seen, dict)
    row = row_refusal(data, principal, kind, seen)
    if row is not None:
        return row
    assert isinstance(action.subject, dict)
    n = action.subject["n"]
    for index, condition in enumerate(data["conditions"]):
        if not covers(condition, kind, trigger):
            continue
        if holds_one_of(data, principal, condition["require_roles"]):
            continue
        op, value = condition["op"], condition.get("value")
        if op in ("is_null", "not_null"):
            holds = (n is None) == (op == "is_null")
        elif op == "eq":
            holds = n == value
        elif op == "ne":
            holds = n != value
        elif op == "in":
            holds = n in value
        elif n is None:
            holds = False
        else:
            holds = {"gt": n > value, "ge": n >= value, "lt": n < value, "le": n <= value}[op]
        if holds:
            return f"conditions[{index}]"
    for index, pair in enumerate(data["four_eyes"]):
        if not covers(pair, kind, trigger):
            continue
        if holds_one_of(data, principal, pair["exempt_roles"]):
            continue
        earlier = set().union(*(history.get(t, set()) for t in pair["differs_from"]))
        if principal.id in earlier:
            return f"four_eyes[{index}]"
    return None


@settings(max_examples=400, deadline=None)
@given(
    data=permission_data,
    principal=principals,
    kind=st.sampled_from(KINDS),
    trigger=st.sampled_from(TRIGGERS),
    subject=subjects,
    before=st.none() | subjects,
    history=histories,
)
def test_check_agrees_with_the_reference_evaluation(
    data: dict[str, Any],
    principal: Principal,
    kind: str,
    trigger: str,
    subject: dict[str, Any],
    before: dict[str, Any] | None,
    history: dict[str, set[str]],
) -> None:
    permissions = PermissionSet.model_validate(data)

    def earlier_actors(triggers: frozenset[str]) -> frozenset[str]:
        return frozenset().union(*(history.get(t, set()) for t in triggers))

    action = Action(principal, kind, "s-1", trigger, subject, {}, earlier_actors, before)
    expected = reference(data, action, history)
    refusal = permissions.refusal(action)
    assert (refusal and refusal.rule) == expected
    if expected is None:
        permissions.check(action)
    else:
        with pytest.raises(PermissionDenied) as caught:
            permissions.check(action)
        assert (caught.value.principal, caught.value.rule) == (principal.id, expected)
        assert caught.value.action == f"fire {trigger} on {kind} s-1"
    # Checking again (the tables are now compiled and cached) gives the same answer.
    assert permissions.refusal(action) == refusal
    assert permissions.may_read(principal, kind, subject) == (
        row_refusal(data, principal, kind, subject) is None
    )
