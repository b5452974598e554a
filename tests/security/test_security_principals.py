"""Principals, shipped roles and the in-memory directory."""

from __future__ import annotations

import pytest

from aftersales import InvalidInput, NotFound
from aftersales.security import (
    CUSTOMER_PREFIX,
    Directory,
    MemoryDirectory,
    Principal,
    Role,
)


def test_roles_and_teams_take_any_iterable_and_a_single_string_is_one_name() -> None:
    principal = Principal("zhang.wei", ["agent", "agent"], iter(["repairs"]))
    assert principal.roles == frozenset({"agent"})
    assert principal.teams == frozenset({"repairs"})
    assert Principal("li.na", "supervisor").roles == frozenset({"supervisor"})


def test_a_customer_principal_is_named_after_the_customer_and_carries_its_id() -> None:
    customer = Principal.customer("c-42")
    assert customer.id == CUSTOMER_PREFIX + "c-42" == "customer:c-42"
    assert customer.roles == {Role.CUSTOMER}
    assert customer.customer_id == "c-42"
    assert Principal.customer("c-42", id="portal-login-9").id == "portal-login-9"


def test_the_helpers_give_each_shipped_role_its_teams() -> None:
    assert Principal.agent("a", "repairs", "returns").teams == {"repairs", "returns"}
    assert Principal.senior_agent("s").roles == {Role.SENIOR_AGENT}
    assert Principal.technician("t", "field").roles == {Role.TECHNICIAN}
    assert Principal.supervisor("v", "repairs").roles == {Role.SUPERVISOR}
    assert Principal.director("d").roles == {Role.DIRECTOR}
    assert Principal.bot() == Principal("bot", ["bot"])
    assert Principal.system().id == "system"
    assert Principal.agent("a").has_any(["agent", "bot"])
    assert not Principal.agent("a").has_any(["supervisor"])


def test_shipped_roles_are_the_departments_levels() -> None:
    assert Role.ALL == (
        "director",
        "supervisor",
        "senior_agent",
        "agent",
        "technician",
        "customer",
        "bot",
        "system",
    )


@pytest.mark.parametrize(
    ("arguments", "location"),
    [
        ({"id": "", "roles": ["agent"]}, "id"),
        ({"id": "a\x00b", "roles": ["agent"]}, "id"),
        ({"id": 7, "roles": ["agent"]}, "id"),
        ({"id": "a", "roles": ["agent", "bad\nrole"]}, "roles"),
        ({"id": "a", "roles": ["agent"], "teams": [""]}, "teams"),
        ({"id": "a", "roles": 5}, "roles"),
        ({"id": "a", "roles": ["customer"]}, "customer_id"),
        ({"id": "a", "roles": ["customer"], "customer_id": "x" * 129}, "customer_id"),
        ({"id": "a\ud800", "roles": ["agent"]}, "id"),
    ],
)
def test_an_invalid_principal_is_refused_naming_the_field(
    arguments: dict[str, object], location: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        Principal(**arguments)  # type: ignore[arg-type]
    assert caught.value.subject == "principal"
    assert [error.location[0] for error in caught.value.errors] == [location]


def test_a_principal_is_immutable_and_compares_by_value() -> None:
    principal = Principal.agent("a", "repairs")
    with pytest.raises(AttributeError):
        principal.id = "b"  # type: ignore[misc]
    assert principal == Principal("a", {"agent"}, {"repairs"})
    assert len({principal, Principal("a", ["agent"], ["repairs"])}) == 1


def test_the_memory_directory_adds_replaces_finds_and_removes_principals() -> None:
    directory = MemoryDirectory([Principal.agent("a", "repairs")])
    assert isinstance(directory, Directory)
    assert "a" in directory
    assert "b" not in directory
    directory.add(Principal.supervisor("a"))
    assert directory.principal("a") == Principal.supervisor("a")
    directory.add(Principal.customer("c-1"))
    assert [p.id for p in directory] == ["a", "customer:c-1"]
    assert len(directory) == 2
    assert "customer:c-1" in repr(directory)
    assert directory.remove("a") == Principal.supervisor("a")
    assert directory.principal("a") is None
    with pytest.raises(NotFound, match="no principal 'a'"):
        directory.remove("a")


def test_the_directory_refuses_what_is_not_a_principal() -> None:
    with pytest.raises(InvalidInput, match="must be a Principal"):
        MemoryDirectory().add("agent-7")  # type: ignore[arg-type]
