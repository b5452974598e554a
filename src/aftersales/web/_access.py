"""Who asks and what they may see: the desk and principal dependencies of the router, and
reads filtered by the principal.

The desk's permission set (``Desk(permissions=...)``) decides every write and its row
rules every read (:meth:`aftersales.Desk.may_read`). On top of that, and on a desk
without permissions too, a customer principal sees only its own tickets and cases: a
customer-facing API never shows one customer another's data by a misconfiguration.
A subject the principal may not see answers as one that does not exist (404), so its
existence is not disclosed.
"""

# no ``from __future__ import annotations``: FastAPI reads the principal dependency's
# annotation at run time, and it names a local (the app's dependency)
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import attrs
from fastapi import Depends

from aftersales.cases import Policy
from aftersales.desk import Desk
from aftersales.exceptions import CaseNotFound, PermissionDenied, TicketNotFound
from aftersales.models import Case, Ticket
from aftersales.security import Principal, Role

if TYPE_CHECKING:
    from aftersales.web.pages import ReturnableLine

__all__ = [
    "OrderLines",
    "Wiring",
    "is_customer",
    "may_see",
    "refuse_customers",
    "system_principal",
    "ticket_ref",
    "visible_case",
    "visible_ticket",
]

DeskDependency = Callable[..., Desk]
OrderLines = Callable[[Ticket], Sequence["ReturnableLine"]]
"""The shop's order lines a ticket's customer may claim (return, exchange, repair), from
the shop's own records: the type of the customer pages' ``orders=``."""
PrincipalDependency = Callable[..., Any]


def system_principal() -> Principal:
    """A principal dependency that acts as the ``system`` principal for every request:
    pass it as ``principal=`` only when the app authenticates and authorises requests
    itself before they reach the router (an internal service behind its own gateway)."""
    return Principal.system()


@attrs.frozen
class Wiring:
    """What the routes share: the desk and principal dependencies, the policy of the
    policy check, the case kinds the API opens, and the shop's order lines (what a
    customer's return, exchange or repair is decided on)."""

    desk: DeskDependency
    principal: PrincipalDependency
    policy: Policy | None
    case_kinds: tuple[str, ...]
    orders: OrderLines | None = None


def desk_dependency(desk: Desk | DeskDependency) -> DeskDependency:
    """``desk`` as a FastAPI dependency: a desk is answered as is; a callable is a
    dependency already (it may take the ``Request``, as ``request.app.state.desk``)."""
    if isinstance(desk, Desk):

        def the_desk() -> Desk:
            return desk

        return the_desk
    if not callable(desk):
        raise TypeError(f"desk must be a Desk or a callable returning one, not {desk!r:.80}")
    return desk


def principal_dependency(given: PrincipalDependency) -> Callable[..., Principal]:
    """The app's principal dependency, checked: an app whose dependency answers anything
    but a :class:`~aftersales.security.Principal` is misconfigured, and fails loudly."""
    if not callable(given):
        raise TypeError(f"principal must be a FastAPI dependency, not {given!r:.80}")

    def principal(found: Annotated[Any, Depends(given)]) -> Principal:
        if not isinstance(found, Principal):
            raise TypeError(
                f"the principal dependency answered {type(found).__name__}, not a Principal"
            )
        return found

    return principal


def is_customer(principal: Principal) -> bool:
    """Whether ``principal`` speaks for a customer."""
    return Role.CUSTOMER in principal.roles


def may_see(desk: Desk, principal: Principal, subject: Ticket | Case) -> bool:
    """Whether ``principal`` may read ``subject``: the desk's row rules, and a customer
    only its own."""
    if is_customer(principal) and subject.customer_id != principal.customer_id:
        return False
    return desk.may_read(principal, subject)


def ticket_ref(ticket: str) -> str | int:
    """A path's ticket: its number when all digits (``12``), else an id (or ``#12``)."""
    if ticket.isascii() and ticket.isdigit() and len(ticket) <= 19:
        return int(ticket)
    return ticket


def visible_ticket(desk: Desk, principal: Principal, ticket: str) -> Ticket:
    """The ticket by id or number, if ``principal`` may see it; else the very
    TicketNotFound the desk raises for one that does not exist (``no ticket #12`` for a
    number), so the answer tells nothing of which tickets exist."""
    asked = ticket_ref(ticket)
    found = desk.get(asked)
    if not may_see(desk, principal, found):
        raise TicketNotFound(asked)
    return found


def visible_case(desk: Desk, principal: Principal, case_id: str) -> Case:
    """The case, if ``principal`` may see it; else CaseNotFound."""
    found = desk.cases.get(case_id)
    if not may_see(desk, principal, found):
        raise CaseNotFound(case_id)
    return found


def refuse_customers(principal: Principal, action: str) -> None:
    """PermissionDenied for a customer principal: ``action`` is for staff."""
    if is_customer(principal):
        raise PermissionDenied(principal.id, action, "web", "this is for staff, not customers")
