"""The case routes: open a case of a kind on a ticket, read it, fire its triggers, its
history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from aftersales.desk import Desk
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models import Case, Event
from aftersales.security import Principal
from aftersales.web._access import (
    Wiring,
    is_customer,
    principal_dependency,
    visible_case,
    visible_ticket,
)
from aftersales.web._claims import customer_fields
from aftersales.web._problems import problem_responses
from aftersales.web._schemas import CaseBody, CaseView, FireBody
from aftersales.web._views import customer_case, customer_events

__all__ = ["OPENED_KINDS", "add_case_routes"]

OPENED_KINDS: tuple[str, ...] = ("return", "exchange", "refund", "repair", "complaint", "visit")
"""The case kinds the API opens by default. Surveys, return visits, coupons and care
actions are opened by the desk's own rules, not by a client."""

_CASE_EXAMPLE: dict[str, Any] = {
    "id": "7c1d2e3f4a5b6c7d0f8e1c2d9a7b4e3f",
    "kind": "complaint",
    "workflow": "complaint",
    "status": "open",
    "status_category": "open",
    "version": 1,
    "ticket_id": "0f8e1c2d9a7b4e3f8c1d2e3f4a5b6c7d",
    "customer_id": "cust-42",
    "lines": [],
    "complaint": {"summary": "The courier was rude", "severity": "high"},
    "created_at": "2026-03-02T09:20:00+08:00",
    "updated_at": "2026-03-02T09:20:00+08:00",
}


def _case_json(case: Case, principal: Principal, status: int = 200) -> JSONResponse:
    """The case as the principal is shown it (a customer without staff-only fields)."""
    shown = case.model_dump(mode="json")
    return JSONResponse(
        customer_case(shown) if is_customer(principal) else shown, status_code=status
    )


def add_case_routes(router: APIRouter, wiring: Wiring) -> None:
    """Add the case routes to ``router``."""
    the_desk = Depends(wiring.desk)
    the_principal = Depends(principal_dependency(wiring.principal))
    kinds = wiring.case_kinds
    orders = wiring.orders

    @router.post(
        "/cases/{kind}",
        status_code=201,
        response_model=CaseView,
        summary="Open a case",
        responses={
            201: {"content": {"application/json": {"example": _CASE_EXAMPLE}}},
            **problem_responses(400, 401, 403, 404, 409, 422),
        },
    )
    def open_case(
        kind: str, body: CaseBody, desk: Desk = the_desk, principal: Principal = the_principal
    ) -> JSONResponse:
        """Open a case of ``kind`` (return, exchange, refund, repair, complaint, visit)
        on a ticket with the kind's opener; ``fields`` are its keywords, the principal
        its actor.

        A customer gives only what is its to say: for a return, exchange or repair the
        ``order_id`` and, per line claimed, ``line_id``, ``kind``, ``quantity``,
        ``condition`` and ``reason``; the line's facts (price, dates) are the shop's
        order records (the router's ``orders``). Facts, instructions or other fields
        from a customer are refused (422 naming them)."""
        if kind not in kinds:
            raise InvalidInput(
                "case", [FieldError(("kind",), f"must be one of {', '.join(kinds)}")]
            )
        if "actor" in body.fields:
            raise InvalidInput(
                "case", [FieldError(("fields", "actor"), "the principal is the actor")]
            )
        ticket = visible_ticket(desk, principal, body.ticket_id)
        fields = body.fields
        if is_customer(principal):
            fields = customer_fields(
                kind,
                fields,
                principal=principal,
                ticket=ticket,
                orders=orders,
                now=desk.clock.now(),
            )
        with desk.acting_as(principal):
            case = desk.cases.open(kind, ticket.id, actor=principal.id, **fields)
        return _case_json(case, principal, 201)

    @router.get(
        "/cases/{case_id}",
        response_model=CaseView,
        summary="Read a case",
        responses={
            200: {"content": {"application/json": {"example": _CASE_EXAMPLE}}},
            **problem_responses(401, 404, 422),
        },
    )
    def read_case(
        case_id: str, desk: Desk = the_desk, principal: Principal = the_principal
    ) -> JSONResponse:
        """A case by id (a customer's without its staff-only fields)."""
        return _case_json(visible_case(desk, principal, case_id), principal)

    @router.post(
        "/cases/{case_id}/fire",
        response_model=CaseView,
        summary="Fire a case trigger",
        responses=problem_responses(400, 401, 403, 404, 409, 422),
    )
    def fire_case(
        case_id: str,
        body: FireBody,
        desk: Desk = the_desk,
        principal: Principal = the_principal,
    ) -> JSONResponse:
        """Fire a trigger of the case's workflow as the principal (a policy refusal
        carries its reason codes in ``refusal``)."""
        case = visible_case(desk, principal, case_id)
        fired = desk.cases.fire(
            case.id,
            body.trigger,
            actor=principal,
            payload=body.payload,
            expected_version=body.expected_version,
        )
        return _case_json(fired, principal)

    @router.get(
        "/cases/{case_id}/history",
        response_model=list[Event],
        summary="A case's history",
        responses=problem_responses(401, 404, 422),
    )
    def case_history(
        case_id: str, desk: Desk = the_desk, principal: Principal = the_principal
    ) -> JSONResponse:
        """The case's events, oldest first (a customer's with the fields meant for
        it only)."""
        case = visible_case(desk, principal, case_id)
        events = desk.cases.history(case.id)
        if is_customer(principal):
            return JSONResponse(customer_events(events, ticket=False))
        return JSONResponse([e.model_dump(mode="json") for e in events])
