"""Permissions as validated data: who may fire which trigger of which subject.

A :class:`PermissionSet` is plain data (JSON, or a mapping), validated like a policy set,
with a JSON Schema (:func:`permission_schema`). It says:

- ``roles``: the roles a desk knows and what each includes (a director may do all a
  supervisor may...);
- ``default_principal``: the roles and teams of an actor no directory knows;
- ``grants``: which roles may fire which triggers of which subject kinds; anything not
  granted is refused;
- ``conditions``: field conditions that raise the bar (a refund above 1000 needs a
  supervisor);
- ``four_eyes``: who must not be the same person (the approver is not the requester);
- ``rows``: which subjects a principal may act on and see at all (a customer their own).

:meth:`PermissionSet.check` raises :class:`~aftersales.PermissionDenied` naming the
principal, the action, the rule that refused it (``grants``, ``conditions[0]``,
``four_eyes[1]``, ``rows[0]``) and a reason for people. It is pure: no store, no desk.

This module owns the set (validating, compiling and checking it), the action checked
and the refusal; the rules' data models live in ``_rules`` and their compiled plans,
with the reading of subjects they need, in ``_plans``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import attrs
from pydantic import Field, PrivateAttr, ValidationError
from typing_extensions import Self

from aftersales._validation import invalid_input
from aftersales.exceptions import FieldError, InvalidInput, PermissionDenied
from aftersales.security._plans import (
    Bar,
    Pair,
    Plan,
    Row,
    expected_value,
    holds,
    matches,
    resolve,
    row_refusing,
)
from aftersales.security._rules import (
    ANY,
    Condition,
    DefaultPrincipal,
    FourEyes,
    FrozenData,
    Grant,
    RoleName,
    RoleSpec,
    RowRule,
    role_closure,
    role_cycles,
    shipped_roles,
    value_problem,
)
from aftersales.security.principals import Directory, Principal, Role

__all__ = [
    "ANY",
    "Action",
    "Condition",
    "DefaultPrincipal",
    "FourEyes",
    "Grant",
    "PermissionRefusal",
    "PermissionSet",
    "RoleSpec",
    "RowRule",
    "as_permission_set",
    "default_permissions",
    "permission_schema",
]

_SUBJECT = "permissions"
_CACHE_LIMIT = 4096


@attrs.frozen
class PermissionRefusal:
    """Why a permission set refuses an action: the principal's id, the action in words
    (``fire approve on return r-1``), the rule (``grants``, ``conditions[0]``...) and a
    reason for people. :meth:`error` is the :class:`~aftersales.PermissionDenied` to raise."""

    principal: str
    action: str
    rule: str
    reason: str

    def error(self) -> PermissionDenied:
        """This refusal as the exception :meth:`PermissionSet.check` raises."""
        return PermissionDenied(self.principal, self.action, self.rule, self.reason)


def _no_earlier_actors(triggers: frozenset[str]) -> frozenset[str] | None:
    return None


@attrs.frozen
class Action:
    """One write to check: ``principal`` fires ``trigger`` on subject ``subject_id`` of
    ``subject_kind``.

    ``subject`` is the subject after the change (a pydantic model, read by attribute, or a
    mapping, read by key); ``before`` the subject before it (None when opening one): row
    rules read ``before`` when given, as that is the subject acted on. ``earlier_actors``
    is called only when a four-eyes rule applies, with the triggers it names, and returns
    the actors of the subject's earlier events with those triggers; left out, such a rule
    refuses (it cannot tell who acted before).
    """

    principal: Principal
    subject_kind: str
    subject_id: str
    trigger: str
    subject: object
    payload: Mapping[str, Any] = attrs.field(factory=dict)
    earlier_actors: Callable[[frozenset[str]], frozenset[str] | None] = _no_earlier_actors
    before: object = None

    def describe(self) -> str:
        """The action in words: ``fire approve on return r-1``, ``open ticket t-1``."""
        return _describe(self.trigger, self.subject_kind, self.subject_id)


def _describe(trigger: str, kind: str, subject_id: str) -> str:
    """An action in words, as :class:`~aftersales.PermissionDenied` shows it."""
    if isinstance(kind, Enum):  # CaseKind.REFUND reads "refund", as events record it
        kind = kind.value
    if trigger == "created":
        return f"open {kind} {subject_id}"
    if trigger == "add_message":
        return f"add a message to {kind} {subject_id}"
    return f"fire {trigger} on {kind} {subject_id}"


class _Problems(Exception):
    """Cross-field problems found after pydantic validation; not a ValueError, so pydantic
    lets it through and :class:`PermissionSet` turns it into InvalidInput."""

    def __init__(self, problems: list[FieldError]) -> None:
        super().__init__(problems)
        self.problems = problems


class PermissionSet(FrozenData):
    """Who may do what on a desk: roles, grants, conditions, four-eyes and row rules.

    Build with :meth:`model_validate` (a mapping), :meth:`from_json`, :meth:`load` (a
    file) or :func:`default_permissions`; bad data raises :class:`~aftersales.InvalidInput`
    naming the path (``grants.0.roles.1: unknown role 'agnet'...``). Unknown roles, role
    cycles and bad operators are refused when loading, not when checking.
    """

    name: Annotated[str, Field(min_length=1, max_length=128)] = "permissions"
    version: Annotated[str, Field(min_length=1, max_length=64)] = "1"
    roles: dict[RoleName, RoleSpec] = Field(default_factory=shipped_roles)
    default_principal: DefaultPrincipal = DefaultPrincipal(roles=("system",))
    grants: tuple[Grant, ...] = ()
    conditions: tuple[Condition, ...] = ()
    four_eyes: tuple[FourEyes, ...] = ()
    rows: tuple[RowRule, ...] = ()

    _holders: dict[str, frozenset[str]] = PrivateAttr(default_factory=dict)
    _plans: dict[tuple[str, str], Plan] = PrivateAttr(default_factory=dict)
    _defaults: dict[str, Principal] = PrivateAttr(default_factory=dict)

    # -- construction -------------------------------------------------------------------

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise invalid_input(_SUBJECT, error) from None
        except _Problems as problems:
            raise InvalidInput(_SUBJECT, problems.problems) from None

    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        """Validate ``obj`` (a mapping, or a PermissionSet) or raise InvalidInput."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as error:
            raise invalid_input(_SUBJECT, error) from None
        except _Problems as problems:
            raise InvalidInput(_SUBJECT, problems.problems) from None

    @classmethod
    def model_validate_json(
        cls, json_data: str | bytes | bytearray, *args: Any, **kwargs: Any
    ) -> Self:
        """Validate JSON text or raise InvalidInput."""
        try:
            return super().model_validate_json(json_data, *args, **kwargs)
        except ValidationError as error:
            raise invalid_input(_SUBJECT, error) from None
        except _Problems as problems:
            raise InvalidInput(_SUBJECT, problems.problems) from None

    @classmethod
    def from_json(cls, text: str | bytes) -> PermissionSet:
        """A permission set written as JSON text."""
        return cls.model_validate_json(text)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PermissionSet:
        """A permission set from a JSON file; a file that cannot be read is InvalidInput
        on ``path``."""
        try:
            text = Path(path).read_bytes()
        except OSError as error:
            raise InvalidInput(
                _SUBJECT, [FieldError(("path",), f"cannot read {str(path)!r}: {error.strerror}")]
            ) from None
        return cls.model_validate_json(text)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with ``update`` applied, validated again (a plain pydantic copy would
        keep the rule tables compiled for the original)."""
        data = self.model_dump()
        data.update(update or {})
        return type(self).model_validate(data)

    def __eq__(self, other: object) -> bool:
        # The compiled tables (private attributes) are caches, not part of the value.
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def model_post_init(self, context: Any, /) -> None:
        problems = self._problems()
        if problems:
            raise _Problems(problems)
        self._holders = self._role_holders()

    def _problems(self) -> list[FieldError]:
        known = self.roles
        problems: list[FieldError] = []

        def check(location: tuple[str | int, ...], names: Iterable[str]) -> None:
            for index, name in enumerate(names):
                if name not in known:
                    problems.append(
                        FieldError(
                            (*location, index),
                            f"unknown role {name!r}; declared: {', '.join(sorted(known))}",
                            "unknown_role",
                        )
                    )

        for role, spec in known.items():
            check(("roles", role, "includes"), spec.includes)
        problems.extend(role_cycles(known))
        check(("default_principal", "roles"), self.default_principal.roles)
        if Role.CUSTOMER in self.default_principal.roles:
            # a customer principal needs the customer id, which an unknown actor lacks
            problems.append(
                FieldError(
                    ("default_principal", "roles"),
                    "an actor no directory knows cannot be a customer (it has no customer id)",
                    "customer_default",
                )
            )
        for index, grant in enumerate(self.grants):
            check(("grants", index, "roles"), grant.roles)
        for index, condition in enumerate(self.conditions):
            check(("conditions", index, "require_roles"), condition.require_roles)
            problem = value_problem(condition)
            if problem:
                problems.append(FieldError(("conditions", index, "value"), problem))
        for index, pair in enumerate(self.four_eyes):
            check(("four_eyes", index, "exempt_roles"), pair.exempt_roles)
        for index, row in enumerate(self.rows):
            check(("rows", index, "roles"), row.roles)
            check(("rows", index, "except_roles"), row.except_roles)
        return problems

    def _role_holders(self) -> dict[str, frozenset[str]]:
        """For each role, the roles whose holders may do what it may (itself included)."""
        expanded = {role: role_closure(role, self.roles) for role in self.roles}
        return {
            role: frozenset(holder for holder, reach in expanded.items() if role in reach)
            for role in self.roles
        }

    def _qualified(self, roles: Iterable[str]) -> frozenset[str]:
        holders: dict[str, frozenset[str]] = self.__pydantic_private__["_holders"]  # type: ignore[index]
        return frozenset().union(*(holders[role] for role in roles))

    def _plan(self, kind: str, trigger: str) -> Plan:
        plans: dict[tuple[str, str], Plan] = self.__pydantic_private__["_plans"]  # type: ignore[index]
        plan = plans.get((kind, trigger))
        if plan is not None:
            return plan
        allowed: set[str] = set()
        for grant in self.grants:
            if matches(grant.kinds, kind) and matches(grant.triggers, trigger):
                allowed |= self._qualified(grant.roles)
        bars = tuple(
            Bar(
                index,
                tuple(condition.field.split(".")),
                condition.op,
                expected_value(condition),
                condition.source == "payload",
                self._qualified(condition.require_roles),
                condition.reason
                or f"{condition.field} {condition.op} {condition.value!r}: needs "
                + " or ".join(condition.require_roles),
            )
            for index, condition in enumerate(self.conditions)
            if matches(condition.kinds, kind) and matches(condition.triggers, trigger)
        )
        pairs = tuple(
            Pair(
                index,
                frozenset(pair.differs_from),
                self._qualified(pair.exempt_roles),
                pair.reason
                or "the same person may not also fire " + " or ".join(pair.differs_from),
            )
            for index, pair in enumerate(self.four_eyes)
            if matches(pair.kinds, kind) and matches(pair.triggers, trigger)
        )
        plan = Plan(frozenset(allowed), bars, pairs, self._rows_for(kind))
        if len(plans) < _CACHE_LIMIT:
            plans[(kind, trigger)] = plan
        return plan

    def _rows_for(self, kind: str) -> tuple[Row, ...]:
        return tuple(
            Row(
                index,
                self._qualified(row.roles),
                self._qualified(row.except_roles),
                tuple(row.field.split(".")),
                row.principal_field,
                row.missing == "allow",
                row.reason
                or f"only subjects whose {row.field} is the principal's "
                f"{row.principal_field.replace('_', ' ')}",
            )
            for index, row in enumerate(self.rows)
            if matches(row.kinds, kind)
        )

    # -- checking -----------------------------------------------------------------------

    def check(self, action: Action) -> None:
        """Raise :class:`~aftersales.PermissionDenied` if ``action`` is not allowed.

        Deny by default: a trigger no grant gives the principal's roles is refused
        (rule ``grants``); then row rules, conditions and four-eyes rules, in that order."""
        # Private attributes through pydantic's __getattr__ cost over a microsecond; the
        # slot that holds them costs nothing.
        plans: dict[tuple[str, str], Plan] = self.__pydantic_private__["_plans"]  # type: ignore[index]
        plan = plans.get((action.subject_kind, action.trigger))
        if plan is None:
            plan = self._plan(action.subject_kind, action.trigger)
        roles = action.principal.roles
        if roles.isdisjoint(plan.allowed):
            raise self._ungranted(action).error()
        if plan.rows or plan.bars or plan.pairs:
            refusal = self._beyond_grant(plan, action)
            if refusal is not None:
                raise refusal.error()

    def refusal(self, action: Action) -> PermissionRefusal | None:
        """Why ``action`` is refused, or None if it is allowed (:meth:`check` without
        raising)."""
        plans: dict[tuple[str, str], Plan] = self.__pydantic_private__["_plans"]  # type: ignore[index]
        plan = plans.get((action.subject_kind, action.trigger))
        if plan is None:
            plan = self._plan(action.subject_kind, action.trigger)
        if action.principal.roles.isdisjoint(plan.allowed):
            return self._ungranted(action)
        if plan.rows or plan.bars or plan.pairs:
            return self._beyond_grant(plan, action)
        return None

    def refusal_of(
        self,
        principal: Principal,
        subject_kind: str,
        subject_id: str,
        trigger: str,
        subject: object,
        make_action: Callable[[], Action],
    ) -> PermissionRefusal | None:
        """:meth:`refusal` for the write path: the common answers (no grant; a grant and
        at most row rules that hold) without building the :class:`Action`, which
        ``make_action`` builds when a rule needs it."""
        plans: dict[tuple[str, str], Plan] = self.__pydantic_private__["_plans"]  # type: ignore[index]
        plan = plans.get((subject_kind, trigger))
        if plan is None:
            plan = self._plan(subject_kind, trigger)
        if principal.roles.isdisjoint(plan.allowed):
            return self._ungranted(make_action())
        if not (plan.rows or plan.bars or plan.pairs):
            return None
        if not (plan.bars or plan.pairs) and row_refusing(plan.rows, principal, subject) is None:
            return None
        return self._beyond_grant(plan, make_action())

    def allows(self, action: Action) -> bool:
        """Whether ``action`` is allowed."""
        return self.refusal(action) is None

    def _ungranted(self, action: Action) -> PermissionRefusal:
        roles = ", ".join(sorted(action.principal.roles)) or "no role"
        return PermissionRefusal(
            action.principal.id,
            action.describe(),
            "grants",
            f"no grant lets {roles} fire {action.trigger!r} on a {action.subject_kind}",
        )

    def _beyond_grant(self, plan: Plan, action: Action) -> PermissionRefusal | None:
        principal = action.principal
        roles = principal.roles
        if plan.rows:
            row = row_refusing(
                plan.rows, principal, action.before if action.before is not None else action.subject
            )
            if row is not None:
                return PermissionRefusal(
                    principal.id, action.describe(), f"rows[{row.index}]", row.reason
                )
        for bar in plan.bars:
            if not roles.isdisjoint(bar.qualified):
                continue
            source = action.payload if bar.from_payload else action.subject
            if holds(bar.op, resolve(source, bar.path), bar.value):
                return PermissionRefusal(
                    principal.id, action.describe(), f"conditions[{bar.index}]", bar.reason
                )
        for pair in plan.pairs:
            if not roles.isdisjoint(pair.exempt):
                continue
            earlier = action.earlier_actors(pair.differs_from)
            if earlier is None:
                return PermissionRefusal(
                    principal.id,
                    action.describe(),
                    f"four_eyes[{pair.index}]",
                    "who fired " + " or ".join(sorted(pair.differs_from)) + " is not known",
                )
            if principal.id in earlier:
                return PermissionRefusal(
                    principal.id, action.describe(), f"four_eyes[{pair.index}]", pair.reason
                )
        return None

    def may_read(self, principal: Principal, subject_kind: str, subject: object) -> bool:
        """Whether the row rules let ``principal`` see ``subject`` (grants do not apply to
        reads: anyone may read what the row rules show them)."""
        rows = self._plan(subject_kind, "").rows
        return not rows or row_refusing(rows, principal, subject) is None

    def may_fire(self, principal: Principal, subject_kind: str, trigger: str) -> bool:
        """Whether a grant lets ``principal`` fire ``trigger`` on a ``subject_kind`` at all
        (before row rules, conditions and four-eyes rules, which need the subject): for
        showing only the buttons a user may press."""
        return not principal.roles.isdisjoint(self._plan(subject_kind, trigger).allowed)

    def principal_for(
        self, actor: str | Principal, directory: Directory | None = None
    ) -> Principal:
        """The principal behind ``actor``: itself if a Principal, else the directory's
        principal of that id, else the :attr:`default_principal` with id ``actor``."""
        if isinstance(actor, Principal):
            return actor
        if directory is not None:
            known = directory.principal(actor)
            if known is not None:
                return known
        defaults: dict[str, Principal] = self.__pydantic_private__["_defaults"]  # type: ignore[index]
        made = defaults.get(actor)
        if made is None:
            made = Principal(actor, self.default_principal.roles, self.default_principal.teams)
            if len(defaults) < _CACHE_LIMIT:
                defaults[actor] = made
        return made

    def expanded_roles(self, roles: Iterable[str]) -> frozenset[str]:
        """``roles`` with every role they include, transitively (unknown roles kept)."""
        result: set[str] = set()
        for role in roles:
            result |= role_closure(role, self.roles) if role in self.roles else {role}
        return frozenset(result)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of a permission set, for editors and validation elsewhere."""
        return cls.model_json_schema()


def permission_schema() -> dict[str, Any]:
    """The JSON Schema of a permission set (as :func:`aftersales.policies` has for policies)."""
    return PermissionSet.model_json_schema()


_DEFAULT: list[PermissionSet] = []


def default_permissions() -> PermissionSet:
    """The shipped permission set (``security/data/default_permissions.json``): an
    after-sales department of directors, supervisors, senior agents, agents and
    technicians serving customers, with a bot and the system's scheduled work.

    Loaded once; the set is immutable, so every caller shares it."""
    if not _DEFAULT:
        text = (
            resources.files("aftersales.security")
            .joinpath("data")
            .joinpath("default_permissions.json")
        )
        _DEFAULT.append(PermissionSet.from_json(text.read_bytes()))
    return _DEFAULT[0]


def as_permission_set(
    value: PermissionSet | Mapping[str, Any] | str | bytes | os.PathLike[str],
) -> PermissionSet:
    """``value`` as a permission set: itself, a mapping validated, JSON text (a str that
    starts with ``{``) or the path of a JSON file."""
    if isinstance(value, PermissionSet):
        return value
    if isinstance(value, Mapping):
        return PermissionSet.model_validate(value)
    if isinstance(value, bytes) or (isinstance(value, str) and value.lstrip().startswith("{")):
        return PermissionSet.from_json(value)
    if isinstance(value, (str, os.PathLike)):
        return PermissionSet.load(value)
    raise InvalidInput(
        _SUBJECT,
        [
            FieldError(
                ("permissions",),
                "must be a PermissionSet, a mapping, JSON text or a path, "
                f"not {type(value).__name__}",
            )
        ],
    )
