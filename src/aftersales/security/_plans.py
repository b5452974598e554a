"""A permission set's rules compiled for one (kind, trigger), and the pure evaluation
they need: reading a dotted path of a subject, comparing a field with a condition's
value, finding the row rule that refuses a principal.

:class:`~aftersales.security.PermissionSet` builds these plans and caches them; nothing
here knows the set itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

import attrs
from pydantic import BaseModel

from aftersales.security._rules import ANY, Condition
from aftersales.security.principals import Principal

_CLASS_HAS: dict[tuple[type, str], bool] = {}


def _class_has(cls: type, name: str) -> bool:
    """Whether ``cls`` has attribute ``name`` (a property, say); remembered, as asking a
    pydantic model class for a name it lacks is slow. Bounded: names come from permission
    sets, classes from the subjects checked."""
    known = _CLASS_HAS.get((cls, name))
    if known is None:
        known = _CLASS_HAS[(cls, name)] = hasattr(cls, name)
    return known


def resolve(root: object, path: tuple[str, ...]) -> Any:
    value = root
    for part in path:
        if value is None:
            return None
        # A model's fields sit in its __dict__ and its properties on its class: reading
        # them there spares, for a field the model lacks (a case has no team), pydantic's
        # __getattr__, which costs microseconds to say so.
        fields = getattr(value, "__dict__", None)
        if fields is not None and part in fields:
            value = fields[part]  # a model's field (or a plain object's attribute)
        elif isinstance(value, BaseModel):
            if _class_has(type(value), part):
                value = getattr(value, part)
            else:
                extra = value.__pydantic_extra__
                value = None if extra is None else extra.get(part)
        elif isinstance(value, Mapping):
            value = value.get(part)
        else:
            value = getattr(value, part, None)
    if isinstance(value, Enum):
        return value.value
    return value


def _comparable(value: Any) -> Any:
    # Numbers from JSON become Decimals so they compare exactly with money amounts.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value))
    return value


def holds(op: str, actual: Any, expected: Any) -> bool:
    """Whether ``actual op expected`` holds; True when the values cannot be ordered."""
    if op == "is_null":
        return actual is None
    if op == "not_null":
        return actual is not None
    if isinstance(actual, float):
        actual = Decimal(str(actual))
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if op == "in":
        try:
            return actual in expected
        except TypeError:  # an unhashable value (a list) is none of the listed values
            return False
    if actual is None:
        return False
    try:
        if op == "gt":
            return bool(actual > expected)
        if op == "ge":
            return bool(actual >= expected)
        if op == "lt":
            return bool(actual < expected)
        return bool(actual <= expected)
    except (TypeError, ArithmeticError):  # ArithmeticError: a Decimal NaN
        return True


@attrs.frozen
class Bar:
    """A condition, compiled: index, path, operator, comparable value, qualifying roles."""

    index: int
    path: tuple[str, ...]
    op: str
    value: Any
    from_payload: bool
    qualified: frozenset[str]
    reason: str


@attrs.frozen
class Pair:
    index: int
    differs_from: frozenset[str]
    exempt: frozenset[str]
    reason: str


@attrs.frozen
class Row:
    index: int
    bound: frozenset[str]
    exempt: frozenset[str]
    path: tuple[str, ...]
    principal_field: str
    allow_missing: bool
    reason: str


@attrs.frozen
class Plan:
    """What a check of one (kind, trigger) does: the roles that may fire it (inclusion
    expanded) and the rules that apply beyond the grant."""

    allowed: frozenset[str]
    bars: tuple[Bar, ...]
    pairs: tuple[Pair, ...]
    rows: tuple[Row, ...]


def matches(names: tuple[str, ...], name: str) -> bool:
    return ANY in names or name in names


def row_refusing(rows: tuple[Row, ...], principal: Principal, subject: object) -> Row | None:
    roles = principal.roles
    for row in rows:
        if roles.isdisjoint(row.bound) or not roles.isdisjoint(row.exempt):
            continue
        value = resolve(subject, row.path)
        if value is None:
            if row.allow_missing:
                continue
            return row
        if row.principal_field == "teams":
            if value not in principal.teams:
                return row
        else:
            own = principal.customer_id if row.principal_field == "customer_id" else principal.id
            if own is None or value != own:
                return row
    return None


def expected_value(condition: Condition) -> Any:
    if isinstance(condition.value, tuple):
        return frozenset(_comparable(item) for item in condition.value)
    return _comparable(condition.value)
