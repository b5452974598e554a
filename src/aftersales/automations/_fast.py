"""The rules that hear one (subject kind, trigger) compiled into ONE function, so that a
commit pays one call for all of them, each condition an inline expression.

Each fact is read once per call: the subject's plain fields into locals at the start,
the event's fields where used, and the costly ones (the actor's roles, the customer,
the local time, a payload key) only when a rule still deciding needs them, then kept
in a local. Within a rule the cheap conditions come first, so a rule that fails on
one never reads the costly facts. A test the expression cannot state exactly as the
condition's own closure does (an unexpected type) calls that closure.

The generated source holds only the subject's field names (checked against its model)
and the names of values kept in the function's namespace: no rule text is pasted into
it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from aftersales.automations._conditions import MISSING, CompiledCondition, Facts, _plain
from aftersales.automations._install import Compiled
from aftersales.models import Case, Ticket
from aftersales.models.events import TICKET_KIND

__all__ = ["compile_bucket"]

_COLLECTIONS = frozenset({"tags"})
"""Fields holding a tuple of strings."""
_SCALARS = (str, int, float, bool, type(None))
_EVENT = frozenset({"trigger", "from_state", "to_state", "actor", "subject_kind", "sequence"})
"""The event's fields (plain strings, ints or None), read from it as they are."""
_CUSTOMER = frozenset({"id", "name", "tier", "language", "opted_out_of_care", "merged_into"})
"""The customer's fields holding a plain value (or None)."""
_UNSET = object()
"""A costly fact's local before it is read."""


def _plain_fields(kind: str) -> frozenset[str]:
    """The subject's fields an inline expression may read as they are (not times, not
    records, not lists of records)."""
    model = Ticket if kind == TICKET_KIND else Case
    skipped = {"order_line", "lines", "logistics", "refund", "repair", "complaint"}
    skipped |= {"exchange", "details", "kind"}
    return frozenset(
        name for name in model.model_fields if not name.endswith("_at") and name not in skipped
    )


class _Source:
    """The generated function's locals and namespace, built as conditions ask."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.model = Ticket if kind == TICKET_KIND else Case
        self.fields = _plain_fields(kind)
        self.names: dict[str, Any] = {"M": MISSING, "U": _UNSET, "P": _plain}
        self.hoisted: dict[str, str] = {}  # subject field -> local
        self.lazy: dict[str, str] = {}  # condition field -> local
        self.reads: dict[str, str] = {}  # local -> how it is read the first time

    def bind(self, value: Any) -> str:
        name = f"K{len(self.names)}"
        self.names[name] = value
        return name

    def _read(self, root: str, rest: str, local: str) -> str:
        """How a costly fact is read the first time: the customer and the local time
        once for all their fields, else the condition's own reader."""
        if root == "customer" and rest in _CUSTOMER:
            self.lazy.setdefault("customer", "cu")
            self.reads["cu"] = "f.customer()"
            customer = "(cu if cu is not U else (cu := f.customer()))"
            return f"(M if {customer} is None or cu is M else cu.{rest})"
        if root == "time" and rest in ("hour", "weekday"):
            self.lazy.setdefault("time", "lt")
            self.reads["lt"] = "e.at.astimezone(f.lookups.zone)"
            local_time = "(lt if lt is not U else (lt := e.at.astimezone(f.lookups.zone)))"
            return f"{local_time}.{'hour' if rest == 'hour' else 'isoweekday()'}"
        keys = rest.split(".")
        if root == "event" and len(keys) == 2 and keys[0] == "payload":
            key = self.bind(keys[1])
            return f"(e.payload.get({key}, M) if e.payload.__class__ is dict else R_{local}(f))"
        return f"R_{local}(f)"

    def fact(self, check: CompiledCondition) -> tuple[str, str, str, int] | None:
        """How the test reads the field: the first use, later uses, its shape (scalar,
        many, any, int) and its cost; None for a subject field that is a constant."""
        field = check.condition.field
        root, _, rest = field.partition(".")
        if root == "subject" and rest in self.fields:
            local = self.hoisted.setdefault(rest, f"x_{rest}")
            return local, local, "many" if rest in _COLLECTIONS else "subject", 0
        if root == "subject" and rest not in self.model.model_fields:
            return None
        if root == "event" and rest in _EVENT:
            return f"e.{rest}", f"e.{rest}", "scalar", 0
        if root == "actor" and rest == "id":
            return "e.actor", "e.actor", "scalar", 0
        if field not in self.lazy:
            self.lazy[field] = local = f"v{len(self.lazy)}"
            self.names[f"R_{local}"] = check.read
            self.reads[local] = self._read(root, rest, local)
        local = self.lazy[field]
        first = f"({local} if {local} is not U else ({local} := {self.reads[local]}))"
        if root == "actor":
            shape = "many"  # the roles, a list of strings
        elif root == "time":
            shape = "int" if rest != "business_hours" else "any"
        elif root == "customer" and rest in _CUSTOMER:
            shape = "scalar"
        else:
            shape = "any"
        return first, local, shape, 1


def _hashable(values: list[Any]) -> bool:
    return all(isinstance(v, _SCALARS) for v in values)


def _test(check: CompiledCondition, source: _Source) -> tuple[str, int]:
    """An expression for ``check`` (on ``s`` the subject, ``e`` the event and ``f`` the
    facts) and its cost."""
    condition = check.condition
    found = source.fact(check)
    if found is None:  # the kind has no such field: a constant
        return repr(bool(check.test(MISSING))), 0
    first, later, shape, cost = found
    op, value = condition.op, condition.value
    values = value if isinstance(value, list) else [value]
    test = source.bind(check.test)
    # what the condition's own closure decides, on the value as the reader gives it
    slow = f"{test}(P({later}))" if shape in ("subject", "many") else f"{test}({later})"
    negate = op in ("ne", "not_in", "not_contains", "missing")
    if op in ("exists", "missing"):
        held = f"({first} is not M and {later} is not None)"
        return (f"(not {held})" if negate else held), cost
    if check.levels and shape == "subject":  # urgency: the levels that pass
        passing = tuple(level for level in check.levels if check.test(level))
        return f"({first} in {source.bind(passing)})", cost
    if shape == "many" and _hashable(values):
        wanted = source.bind(frozenset(values))
        if op in ("eq", "ne"):
            held = f"({source.bind(value)} in {first})"
        elif op in ("in", "not_in") and len(values) == 1:
            held = f"({source.bind(values[0])} in {first})"
        elif op in ("in", "not_in"):
            held = f"(not {wanted}.isdisjoint({first}))"
        elif op in ("contains", "not_contains") and len(values) == 1:
            held = f"({source.bind(values[0])} in {first})"
        elif op in ("contains", "not_contains"):
            held = f"{wanted}.issubset({first})"
        else:
            return "False", cost  # an order on a list never holds
        return (f"(not {held})" if negate else held), cost
    if shape in ("subject", "scalar", "int") and _hashable(values):
        if op in ("eq", "ne"):
            held = f"({first} == {source.bind(value)})"
            return (f"(not {held})" if negate else held), cost
        if op in ("in", "not_in") and isinstance(value, list):
            # by ==: a str enum member equals its value (a set would hash its name)
            held = f"({first} in {source.bind(tuple(values))})"
            return (f"(not {held})" if negate else held), cost
        kinds, compare = None, {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}.get(op)
        if compare is not None and isinstance(value, (int, float)):
            kinds = source.bind(frozenset({int, float, bool}))
            own = f"({later} {compare} {source.bind(value)})"
        elif compare is not None and isinstance(value, str):
            kinds = source.bind(frozenset({str}))
            own = f"({later} {compare} {source.bind(value)})"
        elif op in ("contains", "not_contains") and all(isinstance(v, str) for v in values):
            kinds = source.bind(frozenset({str}))
            parts = [f"{source.bind(v)} in {later}" for v in values] or ["True"]
            own = "(" + " and ".join(parts) + ")"
            own = f"(not {own})" if negate else own
        if kinds is not None and shape == "int":  # an hour or a weekday: always an int
            if compare is not None and isinstance(value, (int, float)):
                return f"({first} {compare} {source.bind(value)})", cost
        elif kinds is not None:
            # None (an unset field) never compares and contains nothing
            none = "False" if compare is not None or not negate else "True"
            other = f"({none} if {later} is None else {slow})"
            return f"({own} if {first}.__class__ in {kinds} else {other})", cost
    if shape == "any" and _hashable(values) and op in ("eq", "ne", "in", "not_in"):
        # a list (a payload's, the customer's tags) as the closure tests it
        if op in ("eq", "ne"):
            held = f"({later} == {source.bind(value)})"
        else:  # the model holds in and not_in to a list
            held = f"({later} in {source.bind(tuple(values))})"
        own = f"(not {held})" if negate else held
        return f"({own} if {first}.__class__ is not list else {test}({later}))", cost
    if first != later:
        return f"{test}({first})", cost
    return slow, cost


def compile_bucket(
    kind: str, rules: Sequence[Compiled], first: bool
) -> Callable[[Facts], list[Compiled]]:
    """One function answering the rules of ``rules`` that match the facts (only the
    first with ``first``), evaluating them as the rules' own closures would."""
    source = _Source(kind)
    known: dict[str, tuple[str, int]] = {}
    uses: dict[str, int] = {}

    def expression(check: CompiledCondition) -> tuple[str, int]:
        # the same test in several rules is one expression, computed once if shared
        condition = check.condition
        key = json.dumps([condition.field, condition.op, condition.value], sort_keys=True)
        if key not in known:
            known[key] = _test(check, source)
        found = known[key]
        uses[found[0]] = uses.get(found[0], 0) + 1
        return found

    def ordered(checks: Sequence[CompiledCondition]) -> list[str]:
        # the costly facts last: a rule that fails on a cheap one never reads them
        tests = [expression(check) for check in checks]
        return [test for test, _ in sorted(tests, key=lambda found: found[1])]

    tests = [(ordered(rule.every), ordered(rule.some)) for rule in rules]
    shared = {
        found: f"t{number}"
        for number, (found, cost) in enumerate(sorted(known.values()))
        if uses[found] > 1 and cost == 0 and found not in ("True", "False")
    }
    body = []
    for number, (every, some) in enumerate(tests):
        source.names[f"R{number}"] = rules[number]
        test = " and ".join(shared.get(e, e) for e in every) or "True"
        if some:
            test += " and (" + " or ".join(shared.get(e, e) for e in some) + ")"
        action = f"return [R{number}]" if first else f"out.append(R{number})"
        body += [f"    if {test}:", f"        {action}"]
    lines = ["def bucket(f):", "    s = f.subject", "    e = f.event", "    out = []"]
    lines += [f"    {local} = s.{field}" for field, local in sorted(source.hoisted.items())]
    lines += [f"    {local} = U" for local in source.lazy.values()]
    lines += [f"    {local} = {found}" for found, local in shared.items()]
    lines += [*body, "    return out"]
    scope: dict[str, Any] = dict(source.names)
    exec(compile("\n".join(lines), f"<automations {kind}>", "exec"), scope)
    bucket: Callable[[Facts], list[Compiled]] = scope["bucket"]
    return bucket
