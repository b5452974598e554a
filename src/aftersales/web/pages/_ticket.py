"""The ticket page: its status, public messages and cases for its customer, reached by a
signed link, and the customer's reply."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import Response

from aftersales.exceptions import InvalidInput, NotFound, PermissionDenied
from aftersales.models import AuthorRole, StatusCategory, Ticket
from aftersales.privacy.audit import ERASED
from aftersales.security import Principal
from aftersales.web.pages._core import Page, Pages, redirect
from aftersales.web.pages._signing import LinkRefused

__all__ = ["add_ticket_routes", "customer_ticket", "linked_ticket", "merged_ids"]

SHOWN_CASES = frozenset({"return", "exchange", "refund", "repair", "visit"})
"""The case kinds a customer sees on their ticket (not surveys, complaints, care)."""


MAX_MERGES = 20
"""How many merges a link follows to the ticket they kept: more is a loop or damage."""


def customer_ticket(pages: Pages, token: str) -> Ticket:
    """The ticket a link shows: the one it names, or the one that ticket was merged into
    when that is the same customer's (followed through further merges). LinkRefused for
    a bad link or an erased customer's ticket, NotFound for a ticket gone; all are shown
    as an invalid link."""
    ticket = pages.desk.get(pages.ticket_id(token))
    for _ in range(MAX_MERGES):
        if _erased(ticket):
            # the link must neither show what is left nor take new personal data
            raise LinkRefused("invalid", "this link's ticket was erased")
        if ticket.merged_into is None:
            return ticket
        kept = pages.desk.get(ticket.merged_into)
        if kept.customer_id != ticket.customer_id:
            return ticket  # another customer's ticket is never shown through this link
        ticket = kept
    raise LinkRefused("invalid", "this link's ticket was merged too many times")


def linked_ticket(pages: Pages, page: Page, token: str) -> Ticket | Response:
    """The ticket a link shows (see :func:`customer_ticket`), or the page saying the link
    is invalid or expired, which every route answers instead."""
    try:
        return customer_ticket(pages, token)
    except LinkRefused as refused:
        return pages.link_refused(page, refused)
    except NotFound:
        return pages.refused(page, "invalid")


def _erased(ticket: Ticket) -> bool:
    """Whether the ticket was erased: erasing a customer rewrites each of their tickets
    so, and retention erases a ticket alone. (A ticket the customer opens after their
    erasure is a new one, and its link works.)"""
    return ticket.subject == ERASED


def merged_ids(pages: Pages, ticket: Ticket) -> list[str]:
    """The shown ticket and the same customer's tickets merged into it (through further
    merges too): the cases of them all are the customer's on this page."""
    found = [ticket.id]
    for ticket_id in found:  # grows as merged tickets are found
        if len(found) > MAX_MERGES:
            break
        merged = pages.desk.find(merged_into=ticket_id, customer_id=ticket.customer_id)
        found.extend(duplicate.id for duplicate in merged if duplicate.id not in found)
    return found


def _reply_target(ticket: Ticket) -> Ticket | None:
    """The ticket a reply goes to: the one shown; None when the customer may not reply
    there (closed, or merged into another customer's ticket)."""
    if ticket.merged_into is not None or ticket.status_category is StatusCategory.CLOSED:
        return None
    return ticket


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


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
    cases = [
        case
        for ticket_id in merged_ids(pages, ticket)
        for case in desk.cases.for_ticket(ticket_id)
        if case.kind.value in SHOWN_CASES
    ]
    target = _reply_target(ticket)
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
        ticket = linked_ticket(pages, page, token)
        if isinstance(ticket, Response):
            return ticket  # the invalid-link page
        return _ticket_page(pages, page, token, ticket)

    @router.post("/t/{token}/reply", name="aftersales_ticket_reply", include_in_schema=False)
    def reply(
        request: Request,
        token: str,
        body: Annotated[str, Form()] = "",
        form_token: Annotated[str, Form()] = "",
    ) -> Response:
        page = pages.page(request)
        ticket = linked_ticket(pages, page, token)
        if isinstance(ticket, Response):
            return ticket  # the invalid-link page
        target = _reply_target(ticket)
        text = body.strip()
        problem = None
        nonce = pages.form_nonce(f"reply\n{token}", form_token)
        if nonce is None:
            problem = "form_expired"
        elif target is None:
            problem = "closed_no_reply"
        elif not text:
            problem = "empty_reply"
        elif len(text) > pages.max_reply:
            problem = "long_reply"
        if problem is None and target is not None and nonce is not None:
            with pages.sending:
                sent = pages.sent_with("reply", nonce)
                if sent is None:
                    problem = _send_reply(pages, ticket, target, text, nonce)
                elif sent != _digest(text):
                    problem = "form_expired"  # another text on a form sent already
            if problem is None:  # sent now, or the same text sent before (Send pressed twice)
                return redirect(page.url("aftersales_ticket", token=token) + _sent(page))
        message = page.t(problem, limit=pages.max_reply) if problem else None
        return _ticket_page(pages, page, token, ticket, status=400, error=message, body=body)


def _send_reply(pages: Pages, ticket: Ticket, target: Ticket, text: str, nonce: str) -> str | None:
    """Add the customer's reply to ``target`` and remember its form was sent; the
    problem's text key when the desk refuses it."""
    desk = pages.desk
    try:
        # the signed link is the proof of who writes, as a survey's token is for its answer
        with desk.acting_as(Principal.customer(ticket.customer_id)) as customer:
            desk.add_message(
                target.id, text, author_id=customer.id, author_role=AuthorRole.CUSTOMER
            )
    except (InvalidInput, PermissionDenied):
        return "cannot_send"
    pages.remember_sent("reply", nonce, _digest(text))
    return None


def _sent(page: Page) -> str:
    """The query that says the reply went out, after whatever the URL has."""
    return "&sent=1" if page.request.query_params.get("lang") else "?sent=1"
