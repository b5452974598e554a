"""desk.acting_as: a block of desk calls checked with a principal's roles, which end with
the block. Web requests and customer pages rely on it instead of registering every
principal in the directory."""

from __future__ import annotations

import threading

import pytest

from aftersales import Desk, InvalidInput, PermissionDenied
from aftersales.security import MemoryDirectory, Principal, default_permissions


@pytest.fixture
def desk() -> Desk:
    """A desk whose unknown actors have no grants (the shipped default gives them the
    system role), with system registered so tickets can be opened."""
    shipped = default_permissions()
    strict = shipped.model_copy(
        update={
            "roles": {**shipped.model_dump()["roles"], "unknown": {"description": "nobody"}},
            "default_principal": {"roles": ["unknown"]},
        }
    )
    desk = Desk(permissions=strict)
    assert isinstance(desk.principals, MemoryDirectory)
    desk.principals.add(Principal("system", ("system",)))
    return desk


def test_calls_naming_the_principal_by_id_get_its_roles_inside_the_block(desk: Desk) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="Late parcel", actor="system")
    with pytest.raises(PermissionDenied):  # li.wei is nobody the desk knows
        desk.classify(ticket.id, category="delivery", severity="low", actor="li.wei")

    with desk.acting_as(Principal.agent("li.wei")) as agent:
        classified = desk.classify(ticket.id, category="delivery", severity="low", actor="li.wei")
    assert agent.id == "li.wei"
    assert classified.status == "classified"
    assert desk.history(ticket.id)[-1].actor == "li.wei"


def test_the_roles_end_with_the_block_even_when_it_raises(desk: Desk) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="Late parcel", actor="system")
    with pytest.raises(RuntimeError), desk.acting_as(Principal.agent("li.wei")):
        raise RuntimeError("the request failed")
    with pytest.raises(PermissionDenied):
        desk.classify(ticket.id, category="delivery", severity="low", actor="li.wei")
    assert desk.get(ticket.id).status == "new"


def test_another_id_in_the_block_does_not_borrow_the_principals_roles(desk: Desk) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="Late parcel", actor="system")
    with desk.acting_as(Principal.agent("li.wei")), pytest.raises(PermissionDenied):
        desk.classify(ticket.id, category="delivery", severity="low", actor="someone.else")
    assert desk.get(ticket.id).status == "new"


def test_each_thread_acts_as_its_own_principal(desk: Desk) -> None:
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="Late parcel", actor="system")
    entered = threading.Event()
    leave = threading.Event()

    def hold_the_agent() -> None:
        with desk.acting_as(Principal.agent("li.wei")):
            entered.set()
            leave.wait(timeout=60)

    holder = threading.Thread(target=hold_the_agent)
    holder.start()
    try:
        assert entered.wait(timeout=60)
        with pytest.raises(PermissionDenied):  # not this thread's principal
            desk.classify(ticket.id, category="delivery", severity="low", actor="li.wei")
    finally:
        leave.set()
        holder.join(timeout=60)


def test_only_a_principal_can_be_acted_as(desk: Desk) -> None:
    not_a_principal: object = "li.wei"
    with (
        pytest.raises(InvalidInput, match="principal: must be a Principal"),
        desk.acting_as(not_a_principal),  # type: ignore[arg-type]
    ):
        pass
