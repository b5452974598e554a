"""The rules that hear one (subject kind, trigger) compiled into ONE function, so that a
commit pays one call for all of them: conditions on the subject's plain fields become
inline expressions, the others call their compiled closure.

The generated source holds only the subject's field names (checked against its model)
and the names of values kept in the function's namespace: no rule text is pasted into
it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from aftersales.automations._conditions import MISSING, CompiledCondition, Facts
from aftersales.automations._install import Compiled
from aftersales.models import Case, Ticket
from aftersales.models.events import TICKET_KIND

__all__ = ["compile_bucket"]

_COLLECTIONS = frozenset({"tags"})
"""Fields holding a tuple of strings."""
_SCALARS = (str, int, float, bool, type(None))


def _plain_fields(kind: str) -> frozenset[str]:
    """The subject's fields an inline expression may read as they are (not times, not
    records, not lists of records)."""
    model = Ticket if kind == TICKET_KIND else Case
    skipped = {"order_line", "lines", "logistics", "refund", "repair", "complaint"}
    skipped |= {"exchange", "details", "kind"}
    return frozenset(
        name for name in model.model_fields if not name.endswith("_at") and name not in skipped
    )


def _expression(
    check: CompiledCondition, kind: str, fields: frozenset[str], names: dict[str, Any]
) -> str:
    """A Python expression for ``check`` on ``s`` (the subject) and ``f`` (the facts)."""
    number = len(names)
    condition = check.condition
    root, _, field = condition.field.partition(".")
    value = condition.value
    values = value if isinstance(value, list) else [value]
    fallback = f"C{number}(f)"
    if root != "subject" or not all(isinstance(v, _SCALARS) for v in values):
        names[f"C{number}"] = check
        return fallback
    model = Ticket if kind == TICKET_KIND else Case
    if field not in model.model_fields:
        return repr(bool(check.test(MISSING)))  # the kind has no such field: a constant
    if field not in fields:
        names[f"C{number}"] = check
        return fallback
    subject = f"x_{field}"
    names.setdefault("fields read", set()).add(field)
    op = condition.op
    names[f"V{number}"] = value
    if op in ("exists", "missing"):
        return f"({subject} is {'not ' if op == 'exists' else ''}None)"
    many = field in _COLLECTIONS
    if op in ("eq", "ne"):
        test = f"(V{number} in {subject})" if many else f"({subject} == V{number})"
    elif op in ("in", "not_in"):
        if many:
            names[f"V{number}"] = frozenset(values)
            test = f"(not V{number}.isdisjoint({subject}))"
        else:
            names[f"V{number}"] = tuple(values)  # by ==: a str enum member equals its value
            test = f"({subject} in V{number})"
    elif op in ("contains", "not_contains") and many:
        names[f"V{number}"] = frozenset(values)
        test = f"V{number}.issubset({subject})"
    else:
        names[f"C{number}"] = check
        return fallback
    return test if op in ("eq", "in", "contains") else f"(not {test})"


def compile_bucket(
    kind: str, rules: Sequence[Compiled], first: bool
) -> Callable[[Facts], list[Compiled]]:
    """One function answering the rules of ``rules`` that match the facts (only the
    first with ``first``), evaluating them as the rules' own closures would."""
    fields = _plain_fields(kind)
    names: dict[str, Any] = {}
    known: dict[str, str] = {}
    uses: dict[str, int] = {}

    def expression(check: CompiledCondition) -> str:
        # the same test in several rules is one expression, computed once if shared
        condition = check.condition
        key = json.dumps([condition.field, condition.op, condition.value], sort_keys=True)
        if key not in known:
            known[key] = _expression(check, kind, fields, names)
        found = known[key]
        uses[found] = uses.get(found, 0) + 1
        return found

    tests: list[tuple[list[str], list[str]]] = [
        ([expression(c) for c in rule.every], [expression(c) for c in rule.some]) for rule in rules
    ]
    shared = {
        found: f"t{number}"
        for number, found in enumerate(sorted(uses))
        if uses[found] > 1 and not found.startswith("C") and found not in ("True", "False")
    }
    lines = ["def bucket(f):", "    s = f.subject", "    out = []"]
    for number, (every, some) in enumerate(tests):
        names[f"R{number}"] = rules[number]
        test = " and ".join(shared.get(e, e) for e in every) or "True"
        if some:
            test += " and (" + " or ".join(shared.get(e, e) for e in some) + ")"
        action = f"return [R{number}]" if first else f"out.append(R{number})"
        lines += [f"    if {test}:", f"        {action}"]
    lines.append("    return out")
    # each field the expressions read, read once into a local, then the shared tests
    read = sorted(names.pop("fields read", ()))
    lines[2:2] = [f"    x_{field} = s.{field}" for field in read] + [
        f"    {local} = {found}" for found, local in shared.items()
    ]
    scope: dict[str, Any] = dict(names)
    exec(compile("\n".join(lines), f"<automations {kind}>", "exec"), scope)
    bucket: Callable[[Facts], list[Compiled]] = scope["bucket"]
    return bucket
