"""The return form: the customer picks one of the shop's order lines, says why, checks
what the desk's policy decides (explained in their language), then sends the request
and sees the return case it opened."""

from __future__ import annotations

from typing import Annotated

import attrs
from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import Response

from aftersales.exceptions import InvalidInput, NotFound, PermissionDenied
from aftersales.models import StatusCategory, Ticket
from aftersales.policies import Decision, decide
from aftersales.policies.facts import Condition, Facts
from aftersales.security import Principal
from aftersales.web.pages._core import Page, Pages, redirect
from aftersales.web.pages._orders import RETURN_CLAIMS, ReturnableLine
from aftersales.web.pages._ticket import linked_ticket, merged_ids

__all__ = ["add_return_routes"]

MAX_DETAILS = 200
MAX_QUANTITY_DIGITS = 12
"""The longest quantity read (leading zeros included): a longer one is refused unread."""
CONDITIONS = tuple(condition.value for condition in Condition)


@attrs.frozen
class ReturnForm:
    """What the customer entered, as sent (shown again as it was)."""

    line: str = ""
    kind: str = ""
    quantity: str = "1"
    condition: str = ""
    details: str = ""

    def claim_key(self, token: str) -> str:
        """The entries a check answered, bound to the link: a submit with other entries
        is checked again instead of sent."""
        fields = (token, self.line, self.kind, self.quantity.strip(), self.condition)
        return "checked\n" + "\n".join((*fields, self.details.strip()))


@attrs.frozen
class Checked:
    """A form that passed its checks: the line, the facts and the policy's decision."""

    line: ReturnableLine
    facts: Facts
    decision: Decision


def _whole_number(entered: str) -> int | None:
    """The whole number ``entered`` spells in ASCII digits, or None: "²" and "٣" pass
    ``str.isdigit`` but are no quantity a customer means, and ``int()`` refuses "²"."""
    digits = entered.strip()
    if not digits or len(digits) > MAX_QUANTITY_DIGITS:
        return None
    if not digits.isascii() or not digits.isdigit():
        return None
    return int(digits)


def _decide(pages: Pages, facts: Facts) -> Decision:
    """The decision of the desk's policy (the statutory presets when it has none)."""
    policy = pages.desk.cases.policy
    return decide(facts) if policy is None else policy.evaluate(facts)


def _check(
    pages: Pages, page: Page, form: ReturnForm, lines: list[ReturnableLine]
) -> tuple[Checked | None, dict[str, str]]:
    """The form's line, facts and decision, or what is wrong with it (field: message)."""
    errors: dict[str, str] = {}
    line = next((candidate for candidate in lines if candidate.key == form.line), None)
    if line is None:
        errors["line"] = page.t("pick_line")
    if form.kind not in RETURN_CLAIMS:
        errors["kind"] = page.t("pick_kind")
    if form.condition not in CONDITIONS:
        errors["condition"] = page.t("pick_condition")
    limit = line.quantity if line is not None else max((c.quantity for c in lines), default=1)
    quantity = _whole_number(form.quantity)
    if quantity is None or not 1 <= quantity <= limit:
        errors["quantity"] = page.t("bad_quantity", limit=limit)
    if len(form.details.strip()) > MAX_DETAILS:
        errors["details"] = page.t("long_text", limit=MAX_DETAILS)
    if errors or line is None or quantity is None:
        return None, errors
    try:
        facts = line.claim_facts(
            at=pages.now(),
            kind=form.kind,
            quantity=quantity,
            condition=form.condition,
            reason=form.details.strip() or None,
        )
        decision = _decide(pages, facts)
    except InvalidInput:  # the shop's facts, or a policy with no version in force
        return None, {"form": page.t("cannot_check")}
    return Checked(line, facts, decision), {}


def _open_lines(pages: Pages, ticket: Ticket) -> list[ReturnableLine] | None:
    """The lines the customer may return on this ticket; None when the pages take no
    returns (no order lines given) or the ticket is closed."""
    if pages.orders is None or ticket.status_category is StatusCategory.CLOSED:
        return None
    return list(pages.orders(ticket))


def _return_page(
    pages: Pages,
    page: Page,
    token: str,
    ticket: Ticket,
    lines: list[ReturnableLine],
    form: ReturnForm,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    checked: Checked | None = None,
    note: str | None = None,
) -> Response:
    decision = checked.decision if checked is not None else None
    return pages.render(
        page,
        "return.html",
        title=page.t("return_title"),
        status=status,
        switch_url=page.request.url_for("aftersales_return", token=token).path,
        token=token,
        ticket=ticket,
        lines=lines,
        kinds=RETURN_CLAIMS,
        conditions=CONDITIONS,
        max_quantity=max((line.quantity for line in lines), default=1),
        max_details=MAX_DETAILS,
        form=form,
        errors=errors or {},
        note=note,
        decision=decision,
        outcome=None if decision is None else page.t(f"outcome_{decision.outcome.value}"),
        explanation=[] if decision is None else decision.explain(page.language).splitlines(),
        refund=None if decision is None or decision.refund is None else decision.refund,
        form_token=pages.form_token(f"return\n{token}"),
        checked_token=(
            pages.form_token(form.claim_key(token))
            if decision is not None and decision.allowed
            else None
        ),
    )


def _send_return(pages: Pages, ticket: Ticket, checked: Checked, nonce: str) -> str | None:
    """Open the return the customer checked and remember its form was sent; the case's
    id, or None when the desk refuses it (units returned already...)."""
    line = checked.line
    try:
        case = pages.desk.cases.request_return(
            ticket.id,
            order_id=line.order_id,
            lines=[{"line_id": line.line_id, "facts": checked.facts, "sku": line.sku}],
            actor=Principal.customer(ticket.customer_id),
        )
    except (InvalidInput, PermissionDenied):
        return None
    pages.remember_sent("return", nonce, case.id)
    return case.id


def add_return_routes(router: APIRouter, pages: Pages) -> None:
    """The return form (GET), its check and submit (POST; a submit redirects to the
    case) and the case it opened (GET)."""

    @router.get("/t/{token}/return", name="aftersales_return", include_in_schema=False)
    def show_return_form(request: Request, token: str) -> Response:
        page = pages.page(request)
        ticket = linked_ticket(pages, page, token)
        if isinstance(ticket, Response):
            return ticket  # the invalid-link page
        lines = _open_lines(pages, ticket)
        if lines is None:
            return pages.refused(page, "not_found")
        return _return_page(pages, page, token, ticket, lines, ReturnForm())

    @router.post("/t/{token}/return", name="aftersales_return_post", include_in_schema=False)
    def check_or_send_return(
        request: Request,
        token: str,
        line: Annotated[str, Form()] = "",
        kind: Annotated[str, Form()] = "",
        quantity: Annotated[str, Form()] = "1",
        condition: Annotated[str, Form()] = "",
        details: Annotated[str, Form()] = "",
        action: Annotated[str, Form()] = "check",
        form_token: Annotated[str, Form()] = "",
        checked_token: Annotated[str, Form()] = "",
    ) -> Response:
        page = pages.page(request)
        ticket = linked_ticket(pages, page, token)
        if isinstance(ticket, Response):
            return ticket  # the invalid-link page
        lines = _open_lines(pages, ticket)
        if lines is None:
            return pages.refused(page, "not_found")
        form = ReturnForm(line, kind, quantity, condition, details)
        if not pages.form_ok(f"return\n{token}", form_token):
            errors = {"form": page.t("form_expired")}
            return _return_page(pages, page, token, ticket, lines, form, status=400, errors=errors)
        checked, errors = _check(pages, page, form, lines)
        if checked is None:
            return _return_page(pages, page, token, ticket, lines, form, status=400, errors=errors)
        note = None
        if action == "submit" and checked.decision.allowed:
            nonce = pages.form_nonce(form.claim_key(token), checked_token)
            if nonce is not None:
                with pages.sending:
                    case_id = pages.sent_with("return", nonce)
                    if case_id is None:  # not sent yet: send it (else Send was pressed twice)
                        case_id = _send_return(pages, ticket, checked, nonce)
                if case_id is None:
                    errors = {"form": page.t("cannot_request")}
                    return _return_page(
                        pages, page, token, ticket, lines, form, status=400, errors=errors
                    )
                return redirect(page.url("aftersales_return_case", token=token, case_id=case_id))
            note = page.t("changed")
        return _return_page(pages, page, token, ticket, lines, form, checked=checked, note=note)

    @router.get(
        "/t/{token}/return/{case_id}", name="aftersales_return_case", include_in_schema=False
    )
    def show_return_case(request: Request, token: str, case_id: str) -> Response:
        page = pages.page(request)
        ticket = linked_ticket(pages, page, token)
        if isinstance(ticket, Response):
            return ticket  # the invalid-link page
        try:
            case = pages.desk.cases.get(case_id)
        except (NotFound, InvalidInput):
            return pages.refused(page, "not_found")
        if case.ticket_id not in merged_ids(pages, ticket) or case.kind.value != "return":
            return pages.refused(page, "not_found")  # another ticket's case: not here
        known = pages.orders(ticket) if pages.orders is not None else ()
        titles = {(line.order_id, line.line_id): line.title for line in known}
        return pages.render(
            page,
            "return_case.html",
            title=page.t("return_case_title"),
            switch_url=request.url_for("aftersales_return_case", token=token, case_id=case_id).path,
            token=token,
            ticket=ticket,
            case=case,
            lines=[
                (
                    titles.get((case.order_id or "", line.line_id), line.sku or line.line_id),
                    line,
                    []
                    if line.decision is None
                    else line.decision.explain(page.language).split("\n"),
                )
                for line in case.lines
            ],
        )
