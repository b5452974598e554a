"""The ticket page: its status, public messages and cases for its customer, reached by a
signed link, and the customer's reply."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import Response

from aftersales.exceptions import InvalidInput, NotFound, PermissionDenied
from aftersales.models import AuthorRole, StatusCategory, Ticket
from aftersales.security import Principal
from aftersales.web.pages._acting import as_customer
from aftersales.web.pages._core import Page, Pages, redirect
from aftersales.web.pages._signing import LinkRefused

__all__ = ["add_ticket_routes", "customer_ticket"]

SHOWN_CASES = frozenset({"return", "exchange", "refund", "repair", "visit"})
"""The case kinds a customer sees on their ticket (not surveys, complaints, care)."""


def customer_ticket(pages: Pages, token: str) -> Ticket:
    """The ticket a link names; LinkRefused for a bad link, NotFound for a ticket gone
    (erased, or never there), both shown as an invalid link."""
    return pages.desk.get(pages.ticket_id(token))


def _reply_target(pages: Pages, ticket: Ticket) -> Ticket | None:
    """The ticket a reply goes to: this one, or the one it was merged into when that is
    the same customer's; None when the customer may not reply here (closed, or merged
    into another customer's ticket)."""
    if ticket.merged_into is not None:
        target = pages.desk.get(ticket.merged_into)
        if target.customer_id != ticket.customer_id:
            return None
        ticket = target
    if ticket.status_category is StatusCategory.CLOSED:
        return None
    return ticket


def _ticket_page(
    pages: Pages,
    page: Page,
    token: str,
    ticket: Ticket,
    *,
    status: int = 200,
    error: str | None = None,
    body: str = "",
) -> Response:
    desk = pages.desk
    messages = desk.messages(ticket.id)  # public replies only: notes stay internal
    cases = [c for c in desk.cases.for_ticket(ticket.id) if c.kind.value in SHOWN_CASES]
    target = _reply_target(pages, ticket)
    returns = pages.orders is not None and ticket.status_category is not StatusCategory.CLOSED
    return pages.render(
        page,
        "ticket.html",
        title=page.t("ticket_title", number=ticket.display_number),
        status=status,
        switch_url=page.request.url_for("aftersales_ticket", token=token).path,
        ticket=ticket,
        messages=[(message, message.author_role is AuthorRole.CUSTOMER) for message in messages],
        cases=cases,
        token=token,
        can_reply=target is not None,
        can_return=returns,
        form_token=pages.form_token(f"reply\n{token}"),
        sent=page.request.query_params.get("sent") == "1",
        error=error,
        body=body,
    )


def add_ticket_routes(router: APIRouter, pages: Pages) -> None:
    """The ticket page (GET) and its reply form (POST, then a redirect to the page)."""

    @router.get("/t/{token}", name="aftersales_ticket", include_in_schema=False)
    def show_ticket(request: Request, token: str) -> Response:
        page = pages.page(request)
        try:
            ticket = customer_ticket(pages, token)
        except LinkRefused as refused:
            return pages.link_refused(page, refused)
        except NotFound:
            return pages.refused(page, "invalid")
        return _ticket_page(pages, page, token, ticket)

    @router.post("/t/{token}/reply", name="aftersales_ticket_reply", include_in_schema=False)
    def reply(
        request: Request,
        token: str,
        body: Annotated[str, Form()] = "",
        form_token: Annotated[str, Form()] = "",
    ) -> Response:
        page = pages.page(request)
        try:
            ticket = customer_ticket(pages, token)
        except LinkRefused as refused:
            return pages.link_refused(page, refused)
        except NotFound:
            return pages.refused(page, "invalid")
        target = _reply_target(pages, ticket)
        text = body.strip()
        problem = None
        if not pages.form_ok(f"reply\n{token}", form_token):
            problem = "form_expired"
        elif target is None:
            problem = "closed_no_reply"
        elif not text:
            problem = "empty_reply"
        elif len(text) > pages.max_reply:
            problem = "long_reply"
        if problem is None and target is not None:
            customer = Principal.customer(ticket.customer_id)
            try:
                with as_customer(customer):
                    pages.desk.add_message(
                        target.id, text, author_id=customer.id, author_role=AuthorRole.CUSTOMER
                    )
            except (InvalidInput, PermissionDenied):
                problem = "cannot_send"
            else:
                return redirect(page.url("aftersales_ticket", token=token) + _sent(page))
        message = page.t(problem, limit=pages.max_reply) if problem else None
        return _ticket_page(pages, page, token, ticket, status=400, error=message, body=body)


def _sent(page: Page) -> str:
    """The query that says the reply went out, after whatever the URL has."""
    return "&sent=1" if page.request.query_params.get("lang") else "?sent=1"
