"""Open a ticket and show one, as JSON."""

from __future__ import annotations

from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from aftersales import InvalidInput, NotFound
from helpdesk.desk import get_desk


@require_POST
def open_ticket(request: HttpRequest) -> JsonResponse:
    """Open a ticket from a form post (``customer``, ``subject``, ``description``):
    201 with its id and address, 422 with one error per field."""
    try:
        ticket = get_desk().open_ticket(
            customer=request.POST.get("customer"),
            channel="web_chat",
            subject=request.POST.get("subject"),
            description=request.POST.get("description", ""),
        )
    except InvalidInput as error:
        errors = [{"field": e.location, "message": e.message} for e in error.errors]
        return JsonResponse({"errors": errors}, status=422)
    address = reverse("show-ticket", args=[ticket.id])
    return JsonResponse({"id": ticket.id, "number": ticket.number, "url": address}, status=201)


@require_GET
def show_ticket(request: HttpRequest, ticket_id: str) -> JsonResponse:
    """The ticket's subject, status and SLA state; 404 for an unknown id."""
    try:
        ticket = get_desk().get(ticket_id)
    except NotFound:
        raise Http404("no such ticket") from None
    return JsonResponse(
        ticket.model_dump(
            mode="json",
            include={"id", "number", "subject", "status", "sla_first_response", "sla_due_at"},
        )
    )
