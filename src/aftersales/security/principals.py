"""Who acts: principals (an id, roles, teams, a customer id) and the directory that knows them.

An event's ``actor`` stays a string, the principal's id. A desk turns that string back into
a :class:`Principal` through a :class:`Directory`; an actor no directory knows becomes the
permission set's default principal (see
:meth:`aftersales.security.PermissionSet.principal_for`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Final, Protocol, runtime_checkable

import attrs

from aftersales.exceptions import FieldError, InvalidInput, NotFound

__all__ = [
    "CUSTOMER_PREFIX",
    "Actor",
    "Directory",
    "MemoryDirectory",
    "Principal",
    "Role",
]

CUSTOMER_PREFIX: Final = "customer:"
"""How :meth:`Principal.customer` names a customer's principal: ``customer:<customer id>``,
so a customer's id never collides with a staff member's login of the same text."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_NAME = 128


class Role:
    """The shipped roles, after the organisation of an after-sales department.

    Plain strings: a desk declares its own roles beside these in its permission set.
    Inclusion (a director may do all a supervisor may...) is data of the permission set,
    not of this class.
    """

    DIRECTOR: Final = "director"
    SUPERVISOR: Final = "supervisor"
    SENIOR_AGENT: Final = "senior_agent"
    AGENT: Final = "agent"
    TECHNICIAN: Final = "technician"
    CUSTOMER: Final = "customer"
    BOT: Final = "bot"
    SYSTEM: Final = "system"

    ALL: Final = (
        "director",
        "supervisor",
        "senior_agent",
        "agent",
        "technician",
        "customer",
        "bot",
        "system",
    )
    """Every shipped role, most senior staff first."""


def name_problem(value: object) -> str | None:
    """Why ``value`` is not a valid name (an id, a role or a team), or None if it is:
    a str of 1 to 128 characters, valid Unicode, no control characters."""
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if not 0 < len(value) <= _MAX_NAME:
        return f"must be 1 to {_MAX_NAME} characters long"
    if _CONTROL.search(value):
        return "must not contain control characters (such as NUL, tab or newline)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    return None


def _names(value: Iterable[str] | str) -> frozenset[str]:
    # One string is one name: roles="agent" means {"agent"}, never {"a", "g", ...}.
    if isinstance(value, str):
        return frozenset((value,))
    if type(value) is frozenset:
        return value
    try:
        return frozenset(value)
    except TypeError:
        # Not iterable (or holding unhashable things): let the validator name it.
        return frozenset({_Unusable(value)})  # type: ignore[arg-type]


@attrs.frozen
class _Unusable:
    """Stands in for a roles or teams value that is not an iterable of names."""

    given: object = attrs.field(eq=False, hash=False)


def _validate(principal: Principal) -> None:
    problems: list[FieldError] = []
    problem = name_problem(principal.id)
    if problem:
        problems.append(FieldError(("id",), problem))
    for field in ("roles", "teams"):
        names = getattr(principal, field)
        for name in sorted(names, key=repr):
            if isinstance(name, _Unusable):
                problems.append(
                    FieldError(
                        (field,),
                        f"must be an iterable of names, not {type(name.given).__name__}",
                    )
                )
                continue
            problem = name_problem(name)
            if problem:
                problems.append(FieldError((field, repr(name)), problem))
    if principal.customer_id is not None:
        problem = name_problem(principal.customer_id)
        if problem:
            problems.append(FieldError(("customer_id",), problem))
    elif Role.CUSTOMER in principal.roles:
        problems.append(
            FieldError(("customer_id",), "a principal with the customer role needs a customer_id")
        )
    if problems:
        raise InvalidInput("principal", problems)


@attrs.frozen
class Principal:
    """Who acts: an id (what events record as ``actor``), roles, teams and, for a
    customer, the customer id it speaks for.

    ``roles`` and ``teams`` take any iterable of names (a single str is one name). A
    principal holding the ``customer`` role needs a ``customer_id``. Invalid values raise
    :class:`~aftersales.InvalidInput` naming the field.

    >>> Principal.customer("c-42").id
    'customer:c-42'
    >>> Principal.agent("zhang.wei", "repairs").teams
    frozenset({'repairs'})
    """

    id: str
    roles: frozenset[str] = attrs.field(converter=_names)
    teams: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    customer_id: str | None = None

    def __attrs_post_init__(self) -> None:
        _validate(self)

    @classmethod
    def customer(cls, customer_id: str, *, id: str | None = None) -> Principal:
        """The principal of customer ``customer_id``; its id is ``customer:<customer_id>``
        unless ``id`` says otherwise (a portal login, say)."""
        if id is None:
            id = CUSTOMER_PREFIX + customer_id if isinstance(customer_id, str) else ""
        return cls(id, (Role.CUSTOMER,), customer_id=customer_id)

    @classmethod
    def agent(cls, id: str, *teams: str) -> Principal:
        """An agent working the queues of ``teams``."""
        return cls(id, (Role.AGENT,), teams)

    @classmethod
    def senior_agent(cls, id: str, *teams: str) -> Principal:
        """A senior agent working the queues of ``teams``."""
        return cls(id, (Role.SENIOR_AGENT,), teams)

    @classmethod
    def technician(cls, id: str, *teams: str) -> Principal:
        """A technician of ``teams`` (repairs, field service...)."""
        return cls(id, (Role.TECHNICIAN,), teams)

    @classmethod
    def supervisor(cls, id: str, *teams: str) -> Principal:
        """A supervisor; ``teams`` are the teams they lead."""
        return cls(id, (Role.SUPERVISOR,), teams)

    @classmethod
    def director(cls, id: str) -> Principal:
        """A director of after-sales."""
        return cls(id, (Role.DIRECTOR,))

    @classmethod
    def bot(cls, id: str = "bot") -> Principal:
        """A chat or e-mail bot talking to customers."""
        return cls(id, (Role.BOT,))

    @classmethod
    def system(cls, id: str = "system") -> Principal:
        """The library's own scheduled work, or a trusted script."""
        return cls(id, (Role.SYSTEM,))

    def has_any(self, roles: Iterable[str]) -> bool:
        """Whether this principal holds one of ``roles`` itself (role inclusion, which is
        data of a permission set, is not applied here)."""
        return not self.roles.isdisjoint(roles)


@runtime_checkable
class Directory(Protocol):
    """Knows principals by id. A desk asks it for the principal behind an event's actor."""

    def principal(self, actor: str) -> Principal | None:
        """The principal whose id is ``actor``, or None if this directory does not know it."""
        ...


class MemoryDirectory:
    """A :class:`Directory` held in a dict: add principals, look them up, remove them.

    Adding a principal whose id is known replaces it (roles change; the id stays).
    """

    def __init__(self, principals: Iterable[Principal] = ()) -> None:
        self._by_id: dict[str, Principal] = {}
        for principal in principals:
            self.add(principal)

    def add(self, principal: Principal) -> None:
        """Know ``principal`` by its id, replacing any principal of that id."""
        if not isinstance(principal, Principal):
            raise InvalidInput(
                "principal",
                [
                    FieldError(
                        ("principal",), f"must be a Principal, not {type(principal).__name__}"
                    )
                ],
            )
        self._by_id[principal.id] = principal

    def remove(self, actor: str) -> Principal:
        """Forget the principal of id ``actor`` and return it; NotFound if unknown."""
        try:
            return self._by_id.pop(actor)
        except KeyError:
            raise NotFound(f"no principal {actor!r}") from None

    def principal(self, actor: str) -> Principal | None:
        """The principal of id ``actor``, or None."""
        return self._by_id.get(actor)

    def __contains__(self, actor: object) -> bool:
        return actor in self._by_id

    def __iter__(self) -> Iterator[Principal]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def __repr__(self) -> str:
        return f"MemoryDirectory({sorted(self._by_id)!r})"


Actor = str | Principal
"""Who acts, as the desk's methods take it: a :class:`Principal`, or the id of one (a
directory entry, else the permission set's default principal)."""
