"""The ticket routes: open, read, list, messages, triggers, history, SLA status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from aftersales.desk import Desk
from aftersales.exceptions import FieldError, InvalidInput, PermissionDenied
from aftersales.models import AuthorRole, Channel, Event, Message, MessageKind, Ticket
from aftersales.models.ticket import StatusCategory
from aftersales.security import Principal, Role
from aftersales.storage import TicketCursor
from aftersales.web._access import (
    Wiring,
    is_customer,
    may_see,
    principal_dependency,
    visible_ticket,
)
from aftersales.web._problems import problem_responses
from aftersales.web._schemas import (
    CaseView,
    FireBody,
    MessageBody,
    SLAView,
    TicketBody,
    TicketPage,
)
from aftersales.web._views import customer_case, customer_events, customer_ticket

__all__ = ["add_ticket_routes"]

MAX_PAGE = 500
"""The most tickets one page holds."""

MAX_OFFSET = 1_000_000_000
"""The largest offset a page takes (a store's integer limits lie far beyond it)."""

_TICKET_EXAMPLE: dict[str, Any] = {
    "id": "0f8e1c2d9a7b4e3f8c1d2e3f4a5b6c7d",
    "number": 1,
    "workflow": "ticket",
    "channel": "wechat",
    "subject": "扫地机器人无法充电",
    "customer_id": "cust-42",
    "status": "new",
    "status_category": "open",
    "priority": "normal",
    "created_at": "2026-03-02T09:15:00+08:00",
    "updated_at": "2026-03-02T09:15:00+08:00",
    "version": 1,
}


def _json(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(value, status_code=status)


def _shown(ticket: Ticket, principal: Principal) -> dict[str, Any]:
    """The ticket's JSON as the principal is shown it (a customer's without the
    staff's fields: tags, team, escalation, SLA targets...)."""
    data = ticket.model_dump(mode="json")
    return customer_ticket(data) if is_customer(principal) else data


def _author_role(principal: Principal) -> AuthorRole:
    """How a message by ``principal`` is signed: as a customer, the bot, the system, or
    (every staff role) an agent."""
    if Role.CUSTOMER in principal.roles:
        return AuthorRole.CUSTOMER
    if Role.BOT in principal.roles:
        return AuthorRole.BOT
    if principal.roles == {Role.SYSTEM}:
        return AuthorRole.SYSTEM
    return AuthorRole.AGENT


def _linked(desk: Desk, principal: Principal, ticket: str | None) -> str | None:
    """The id of the ticket a new one hangs under or follows up, if ``principal`` may
    see it: another customer's answers 404 exactly as one that does not exist."""
    return None if ticket is None else visible_ticket(desk, principal, ticket).id


def add_ticket_routes(router: APIRouter, wiring: Wiring) -> None:
    """Add the ticket routes to ``router``."""
    the_desk = Depends(wiring.desk)
    the_principal = Depends(principal_dependency(wiring.principal))

    @router.post(
        "/tickets",
        status_code=201,
        response_model=Ticket,
        summary="Open a ticket",
        responses={
            201: {"content": {"application/json": {"example": _TICKET_EXAMPLE}}},
            **problem_responses(400, 401, 403, 404, 409, 422),
        },
    )
    def open_ticket(
        body: TicketBody, desk: Desk = the_desk, principal: Principal = the_principal
    ) -> JSONResponse:
        """Record a new inquiry, opened by the principal (a customer's for itself);
        ``parent_id`` and ``follow_up_of`` name tickets the principal may read (404
        otherwise, as for one that does not exist)."""
        customer = body.customer
        if is_customer(principal):
            if customer is not None and customer != principal.customer_id:
                raise PermissionDenied(
                    principal.id,
                    f"open a ticket for customer {customer}",
                    "web",
                    "a customer opens tickets for itself",
                )
            customer = principal.customer_id
        if customer is None:
            raise InvalidInput(
                "ticket", [FieldError(("customer",), "required: the id of the customer asking")]
            )
        parent_id = _linked(desk, principal, body.parent_id)
        follow_up_of = _linked(desk, principal, body.follow_up_of)
        with desk.acting_as(principal):
            ticket = desk.open_ticket(
                customer=customer,
                channel=body.channel,
                subject=body.subject,
                description=body.description,
                order_line=body.order_line,
                priority=body.priority,
                tags=body.tags,
                parent_id=parent_id,
                follow_up_of=follow_up_of,
                actor=principal,
            )
        return _json(_shown(ticket, principal), 201)

    @router.get(
        "/tickets",
        response_model=TicketPage,
        summary="List tickets",
        responses={
            200: {
                "content": {
                    "application/json": {
                        "example": {
                            "items": [_TICKET_EXAMPLE],
                            "next_cursor": "MjAyNi0wMy0wMlQwOToxNTowMCswMDowMHw0Mg",
                            "next_offset": 50,
                        }
                    }
                }
            },
            **problem_responses(401, 422),
        },
    )
    def list_tickets(
        status: Annotated[str | None, Query(description="a state of the desk's workflow")] = None,
        status_category: StatusCategory | None = None,
        channel: Channel | None = None,
        assignee: str | None = None,
        team: str | None = None,
        customer: Annotated[str | None, Query(description="the customer's id")] = None,
        category: str | None = None,
        priority: Annotated[str | None, Query(description="one of the desk's priorities")] = None,
        tag: Annotated[
            list[str] | None, Query(description="tickets carrying every tag given (repeatable)")
        ] = None,
        created_from: Annotated[
            datetime | None, Query(description="inclusive, with a UTC offset")
        ] = None,
        created_to: Annotated[
            datetime | None, Query(description="exclusive, with a UTC offset")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        after: Annotated[
            str | None, Query(description="the `next_cursor` of the page before", max_length=200)
        ] = None,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
        desk: Desk = the_desk,
        principal: Principal = the_principal,
    ) -> JSONResponse:
        """Tickets passing every filter given, oldest first, a page at a time: follow
        ``next_cursor`` (pass it as ``after``). A customer lists only its own.

        ``offset`` still skips rows, but a ticket that leaves the filter between two pages
        shifts the later ones, so an offset page can miss a ticket that stayed; the
        cursor cannot."""
        filters: dict[str, Any] = {
            "status": status,
            "status_category": status_category,
            "channel": channel,
            "assignee": assignee,
            "team": team,
            "customer_id": customer,
            "category": category,
            "priority": priority,
            "tags": tuple(tag) if tag else None,
            "after": None if after is None else TicketCursor.parse(after),
            "created_from": created_from,
            "created_to": created_to,
        }
        if is_customer(principal):
            if customer is not None and customer != principal.customer_id:
                return _json({"items": [], "next_cursor": None, "next_offset": None})
            filters["customer_id"] = principal.customer_id
        given = {name: value for name, value in filters.items() if value is not None}
        page = desk.find(limit=limit, offset=offset, **given)
        items = [_shown(t, principal) for t in page if may_see(desk, principal, t)]
        more = len(page) == limit
        return _json(
            {
                "items": items,
                "next_cursor": TicketCursor.of(page[-1]).token() if more else None,
                "next_offset": offset + len(page) if more else None,
            }
        )

    @router.get(
        "/tickets/{ticket}",
        response_model=Ticket,
        summary="Read a ticket",
        responses={
            200: {"content": {"application/json": {"example": _TICKET_EXAMPLE}}},
            **problem_responses(401, 404, 422),
        },
    )
    def read_ticket(
        ticket: str, desk: Desk = the_desk, principal: Principal = the_principal
    ) -> JSONResponse:
        """A ticket by id, or by number (``12``); a customer is shown the fields meant
        for it (not the tags, team, escalation or SLA targets)."""
        return _json(_shown(visible_ticket(desk, principal, ticket), principal))

    @router.post(
        "/tickets/{ticket}/messages",
        status_code=201,
        response_model=Message,
        summary="Add a message",
        responses=problem_responses(400, 401, 403, 404, 409, 422),
    )
    def add_message(
        ticket: str,
        body: MessageBody,
        desk: Desk = the_desk,
        principal: Principal = the_principal,
    ) -> JSONResponse:
        """A public reply or internal note by the principal (its id is the author)."""
        found = visible_ticket(desk, principal, ticket)
        if is_customer(principal) and body.kind != MessageKind.PUBLIC_REPLY.value:
            raise PermissionDenied(
                principal.id,
                f"write an internal note on ticket {found.display_number}",
                "web",
                "customers write public replies only",
            )
        with desk.acting_as(principal):
            message = desk.add_message(
                found.id,
                body.body,
                author_id=principal.id,
                author_role=_author_role(principal),
                kind=body.kind,
                channel=body.channel,
            )
        return _json(message.model_dump(mode="json"), 201)

    @router.get(
        "/tickets/{ticket}/messages",
        response_model=list[Message],
        summary="List a ticket's messages",
        responses=problem_responses(401, 404, 422),
    )
    def list_messages(
        ticket: str,
        include_internal: Annotated[
            bool, Query(description="staff only: internal notes too")
        ] = False,
        desk: Desk = the_desk,
        principal: Principal = the_principal,
    ) -> JSONResponse:
        """The ticket's messages, oldest first; a customer never sees internal notes."""
        found = visible_ticket(desk, principal, ticket)
        internal = include_internal and not is_customer(principal)
        messages = desk.messages(found.id, include_internal=internal)
        return _json([m.model_dump(mode="json") for m in messages])

    @router.post(
        "/tickets/{ticket}/fire",
        response_model=Ticket,
        summary="Fire a trigger",
        responses={
            200: {"content": {"application/json": {"example": _TICKET_EXAMPLE}}},
            **problem_responses(400, 401, 403, 404, 409, 422),
        },
    )
    def fire_ticket(
        ticket: str,
        body: FireBody,
        desk: Desk = the_desk,
        principal: Principal = the_principal,
    ) -> JSONResponse:
        """Fire a trigger of the ticket's workflow as the principal; 409 names the
        triggers its state allows."""
        found = visible_ticket(desk, principal, ticket)
        fired = desk.fire(
            found.id,
            body.trigger,
            actor=principal,
            payload=body.payload,
            expected_version=body.expected_version,
        )
        return _json(_shown(fired, principal))

    @router.get(
        "/tickets/{ticket}/history",
        response_model=list[Event],
        summary="A ticket's history",
        responses=problem_responses(401, 404, 422),
    )
    def ticket_history(
        ticket: str, desk: Desk = the_desk, principal: Principal = the_principal
    ) -> JSONResponse:
        """The ticket's events, oldest first. A customer is shown the steps of its
        ticket and its public messages, each with the fields meant for it: no internal
        note, time logged, escalation or other staff-only field."""
        found = visible_ticket(desk, principal, ticket)
        events = desk.history(found.id)
        if is_customer(principal):
            return _json(customer_events(events, ticket=True))
        return _json([e.model_dump(mode="json") for e in events])

    @router.get(
        "/tickets/{ticket}/sla",
        response_model=SLAView,
        summary="A ticket's SLA status",
        responses=problem_responses(401, 404, 422),
    )
    def ticket_sla(
        ticket: str, desk: Desk = the_desk, principal: Principal = the_principal
    ) -> JSONResponse:
        """Every SLA metric of the ticket now (422 on a desk without an SLA policy)."""
        found = visible_ticket(desk, principal, ticket)
        status = desk.sla_status(found.id)
        metrics = {
            metric.value: {
                "state": each.state.value,
                "started_at": each.started_at.isoformat(),
                "due_at": each.due_at.isoformat(),
                "warning_at": None if each.warning_at is None else each.warning_at.isoformat(),
                "met_at": None if each.met_at is None else each.met_at.isoformat(),
                "used_seconds": each.used_seconds,
                "paused_seconds": each.paused_seconds,
            }
            for metric, each in status.metrics.items()
        }
        return _json({"rule": status.rule, "metrics": metrics})

    @router.get(
        "/tickets/{ticket}/cases",
        response_model=list[CaseView],
        summary="A ticket's cases",
        responses=problem_responses(401, 404, 422),
    )
    def ticket_cases(
        ticket: str, desk: Desk = the_desk, principal: Principal = the_principal
    ) -> JSONResponse:
        """The after-sales cases the ticket carries, oldest first (a customer's
        without their staff-only fields)."""
        found = visible_ticket(desk, principal, ticket)
        cases = [
            c.model_dump(mode="json")
            for c in desk.cases.for_ticket(found.id)
            if may_see(desk, principal, c)
        ]
        if is_customer(principal):
            cases = [customer_case(c) for c in cases]
        return _json(cases)
