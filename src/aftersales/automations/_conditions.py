"""Conditions compiled to closures at install: what a field reads from the facts of one
event, and the test its op makes of it, each a plain function call on the commit path."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from enum import Enum
from typing import Any

import attrs

from aftersales.automations._model import Condition

__all__ = ["MISSING", "CompiledCondition", "ConditionVerdict", "Facts", "Lookups", "compile_all"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""What a field reads when the subject, the event or the customer has no such value."""


@attrs.define(slots=True)
class Lookups:
    """What conditions read beyond the event and the subject, from the desk: the
    customer (read once per commit, only when a condition asks), the actor's roles, the
    rule set's time zone and the business calendar."""

    customer: Callable[[str], Any]
    roles: Callable[[str], tuple[str, ...]]
    zone: tzinfo
    calendar: Callable[[Any], Any] | None = None


class Facts:
    """The facts of one event on one subject, as conditions read them."""

    __slots__ = ("_customer", "event", "lookups", "now", "subject")

    def __init__(self, event: Any, subject: Any, lookups: Lookups, now: datetime) -> None:
        self.event = event
        self.subject = subject
        self.lookups = lookups
        self.now = now
        self._customer: Any = MISSING

    def customer(self) -> Any:
        if self._customer is MISSING:
            customer_id = getattr(self.subject, "customer_id", None)
            self._customer = None if customer_id is None else self.lookups.customer(customer_id)
        return self._customer


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (tuple, list, frozenset, set)):
        return [_plain(item) for item in value]
    return value


def _attribute(name: str, source: Callable[[Facts], Any]) -> Callable[[Facts], Any]:
    def read(facts: Facts) -> Any:
        owner = source(facts)
        if owner is None or owner is MISSING:
            return MISSING
        return _plain(getattr(owner, name, MISSING))

    return read


def _payload(keys: Sequence[str]) -> Callable[[Facts], Any]:
    def read(facts: Facts) -> Any:
        value: Any = facts.event.payload
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return MISSING
            value = value[key]
        return value

    return read


def _local(facts: Facts) -> datetime:
    at: datetime = facts.event.at
    return at.astimezone(facts.lookups.zone)


def _business(facts: Facts) -> Any:
    calendar = facts.lookups.calendar
    if calendar is None:
        return MISSING
    return bool(calendar(facts.subject).is_open(facts.event.at))


def reader(field: str) -> Callable[[Facts], Any]:
    """What ``field`` (a condition's, already validated) reads from the facts."""
    root, _, rest = field.partition(".")
    if root == "subject":
        return _attribute(rest, lambda facts: facts.subject)
    if root == "customer":
        return _attribute(rest, Facts.customer)
    if root == "event":
        if rest.startswith("payload."):
            return _payload(rest.split(".")[1:])
        return _attribute(rest, lambda facts: facts.event)
    if root == "actor":
        if rest == "id":
            return lambda facts: facts.event.actor
        return lambda facts: list(facts.lookups.roles(facts.event.actor))
    if rest == "hour":
        return lambda facts: _local(facts).hour
    if rest == "weekday":
        return lambda facts: _local(facts).isoweekday()
    return _business


def _compare(op: str, value: Any) -> Callable[[Any], bool]:
    def test(actual: Any) -> bool:
        if actual is MISSING or actual is None or isinstance(actual, (list, dict)):
            return False
        numbers = isinstance(actual, (int, float)) and isinstance(value, (int, float))
        if not numbers and not (isinstance(actual, str) and isinstance(value, str)):
            return False
        if op == "gt":
            return bool(actual > value)
        if op == "ge":
            return bool(actual >= value)
        if op == "lt":
            return bool(actual < value)
        return bool(actual <= value)

    return test


def _tester(op: str, value: Any) -> Callable[[Any], bool]:
    """The test ``op`` makes of what the field read (see :class:`Condition`)."""
    if op in ("exists", "missing"):
        present = op == "exists"
        return lambda actual: (actual is not MISSING and actual is not None) is present
    if op in ("eq", "ne"):
        same = op == "eq"

        def equal(actual: Any) -> bool:
            if isinstance(actual, list):
                return (value in actual) is same
            return (actual is not MISSING and actual == value) is same

        return equal
    if op in ("in", "not_in"):
        inside = op == "in"
        values = list(value)

        def member(actual: Any) -> bool:
            if isinstance(actual, list):
                return any(item in values for item in actual) is inside
            return (actual is not MISSING and actual in values) is inside

        return member
    if op in ("contains", "not_contains"):
        holds = op == "contains"
        wanted = value if isinstance(value, list) else [value]

        def contains(actual: Any) -> bool:
            if isinstance(actual, str):
                return all(isinstance(w, str) and w in actual for w in wanted) is holds
            if isinstance(actual, list):
                return all(w in actual for w in wanted) is holds
            return not holds

        return contains
    return _compare(op, value)


@attrs.frozen
class CompiledCondition:
    """One condition as two closures: what it reads and whether that passes (and, for
    an urgency comparison, the desk's priorities, which a compiled bucket tests once)."""

    condition: Condition
    read: Callable[[Facts], Any]
    test: Callable[[Any], bool]
    levels: tuple[str, ...] = ()

    def __call__(self, facts: Facts) -> bool:
        return self.test(self.read(facts))

    def verdict(self, facts: Facts) -> ConditionVerdict:
        """What the condition read and whether it passed (for :meth:`explain`)."""
        actual = self.read(facts)
        condition = self.condition
        return ConditionVerdict(
            condition.field,
            condition.op,
            condition.value,
            None if actual is MISSING else actual,
            actual is not MISSING,
            self.test(actual),
        )


@attrs.frozen
class ConditionVerdict:
    """One condition of a rule as :meth:`~aftersales.automations.Automations.explain`
    found it: the value the field had (``found`` False when it had none) and whether
    the condition passed."""

    field: str
    op: str
    value: Any
    actual: Any
    found: bool
    passed: bool


def _ranked(op: str, value: Any, priorities: Sequence[str]) -> Callable[[Any], bool]:
    """``op`` on priorities by urgency: the desk's first level is the greatest."""
    rank = {level: len(priorities) - index for index, level in enumerate(priorities)}
    compare = _compare(op, rank.get(value, MISSING))
    return lambda actual: compare(rank.get(actual, MISSING))


def compile_all(
    conditions: Sequence[Condition], priorities: Sequence[str] = ()
) -> tuple[CompiledCondition, ...]:
    """Each condition compiled (see :class:`CompiledCondition`); with the desk's
    ``priorities``, ``gt``, ``ge``, ``lt`` and ``le`` on ``subject.priority`` compare
    urgency (``{"op": "ge", "value": "high"}`` holds for high and urgent)."""
    compiled = []
    for c in conditions:
        if c.field == "subject.priority" and c.op in ("gt", "ge", "lt", "le") and priorities:
            test = _ranked(c.op, c.value, priorities)
            levels = tuple(priorities)
        else:
            test, levels = _tester(c.op, c.value), ()
        compiled.append(CompiledCondition(c, reader(c.field), test, levels))
    return tuple(compiled)


def matcher(
    every: tuple[CompiledCondition, ...], some: tuple[CompiledCondition, ...]
) -> Callable[[Facts], bool]:
    """One closure: every condition of ``every`` holds, and one of ``some`` if any."""
    if not every and not some:
        return lambda facts: True
    if not some:
        if len(every) == 1:
            return every[0]
        return lambda facts: all(check(facts) for check in every)
    return lambda facts: (
        all(check(facts) for check in every) and any(check(facts) for check in some)
    )
