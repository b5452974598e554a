"""The rules of a permission set as validated data: roles, grants, conditions, four-eyes
and row rules, with the checks that need more than one field (a role cycle, a value that
does not suit its operator).

:class:`~aftersales.security.PermissionSet` holds these; compiling and evaluating them is
:mod:`aftersales.security.permissions`' work. Re-exported from there and from
:mod:`aftersales.security`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from aftersales.exceptions import FieldError

ANY = "*"
"""In ``kinds`` or ``triggers``: every kind, every trigger."""

Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
RoleName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")]
FieldPath = Annotated[
    str,
    Field(
        min_length=1,
        max_length=256,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
        description="A dotted path into the subject: attributes of models, keys of mappings.",
    ),
]
Scalar = None | bool | int | Annotated[float, Field(allow_inf_nan=False)] | str
Operator = Literal["gt", "ge", "lt", "le", "eq", "ne", "in", "is_null", "not_null"]


class FrozenData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RoleSpec(FrozenData):
    """One declared role: what it includes (it may do all they may) and a description."""

    includes: tuple[RoleName, ...] = ()
    description: str = ""


class DefaultPrincipal(FrozenData):
    """The roles and teams of an actor that no directory knows (``"system"`` in a script)."""

    roles: tuple[RoleName, ...] = Field(min_length=1)
    teams: tuple[Name, ...] = ()


class Grant(FrozenData):
    """``roles`` may fire ``triggers`` on subjects of ``kinds`` (``"*"``: any)."""

    roles: tuple[RoleName, ...] = Field(min_length=1)
    kinds: tuple[Name, ...] = Field(min_length=1)
    triggers: tuple[Name, ...] = Field(min_length=1)
    description: str = ""


class Condition(FrozenData):
    """On ``kinds`` and ``triggers``, when ``field`` of the subject after the change (or of
    the payload, with ``source`` ``"payload"``) compares with ``op`` to ``value``, the
    principal needs one of ``require_roles``.

    A path that does not resolve reads as null. ``gt``/``ge``/``lt``/``le`` on a null
    field do not hold; a comparison between values that cannot be ordered (text against a
    number) holds, so a condition fails closed.
    """

    kinds: tuple[Name, ...] = Field(min_length=1)
    triggers: tuple[Name, ...] = Field(min_length=1)
    field: FieldPath
    op: Operator
    value: Scalar | tuple[Scalar, ...] = None
    source: Literal["subject", "payload"] = "subject"
    require_roles: tuple[RoleName, ...] = Field(min_length=1)
    reason: str = Field(default="", max_length=500)


class FourEyes(FrozenData):
    """On ``kinds`` and ``triggers``, the actor must not be an actor of an earlier event of
    the same subject with one of the ``differs_from`` triggers. Principals holding one of
    ``exempt_roles`` (the system's own scheduled work) are not bound."""

    kinds: tuple[Name, ...] = Field(min_length=1)
    triggers: tuple[Name, ...] = Field(min_length=1)
    differs_from: tuple[Name, ...] = Field(min_length=1)
    exempt_roles: tuple[RoleName, ...] = ()
    reason: str = Field(default="", max_length=500)


class RowRule(FrozenData):
    """A principal holding one of ``roles`` (and none of ``except_roles``) acts on, and
    sees, only subjects of ``kinds`` whose ``field`` matches its ``principal_field``:
    equals its ``customer_id`` or ``id``, or is one of its ``teams``. A subject whose
    field is null is allowed when ``missing`` is ``"allow"``."""

    roles: tuple[RoleName, ...] = Field(min_length=1)
    except_roles: tuple[RoleName, ...] = ()
    kinds: tuple[Name, ...] = (ANY,)
    field: FieldPath
    principal_field: Literal["customer_id", "teams", "id"]
    missing: Literal["allow", "deny"] = "deny"
    reason: str = Field(default="", max_length=500)


def shipped_roles() -> dict[str, RoleSpec]:
    return {
        "system": RoleSpec(includes=("director",), description="scheduled work and scripts"),
        "director": RoleSpec(includes=("supervisor",)),
        "supervisor": RoleSpec(includes=("senior_agent",)),
        "senior_agent": RoleSpec(includes=("agent",)),
        "agent": RoleSpec(),
        "technician": RoleSpec(),
        "customer": RoleSpec(),
        "bot": RoleSpec(),
    }


def value_problem(condition: Condition) -> str | None:
    op, value = condition.op, condition.value
    if op in ("is_null", "not_null"):
        return None if value is None else f"{op} takes no value"
    if op == "in":
        return None if isinstance(value, tuple) else "'in' takes a list of values"
    if isinstance(value, tuple):
        return f"{op} takes one value, not a list"
    if value is None and op not in ("eq", "ne"):
        return f"{op} needs a value (use is_null / not_null for null)"
    return None


def role_closure(role: str, roles: Mapping[str, RoleSpec]) -> frozenset[str]:
    seen = {role}
    stack = [role]
    while stack:
        spec = roles.get(stack.pop())
        for included in spec.includes if spec else ():
            if included not in seen:
                seen.add(included)
                stack.append(included)
    return frozenset(seen)


def role_cycles(roles: Mapping[str, RoleSpec]) -> list[FieldError]:
    problems = []
    for role, spec in roles.items():
        for index, included in enumerate(spec.includes):
            if role in role_closure(included, roles):
                problems.append(
                    FieldError(
                        ("roles", role, "includes", index),
                        f"{role!r} includes {included!r}, which includes {role!r} again: "
                        "role inclusion must not go round in a cycle",
                        "role_cycle",
                    )
                )
    return problems
