"""Reading a desk's tickets: by id or number, by query, their history and messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aftersales._pipeline import fold
from aftersales._validation import check_text, parse
from aftersales.exceptions import FieldError, InvalidInput, TicketNotFound
from aftersales.models import Event, Message, MessageKind, Ticket
from aftersales.storage import Store, TicketQuery
from aftersales.tickets._vocabulary import Vocabulary

MAX_NUMBER = 2**63 - 1
"""The largest ticket number (and version) a desk takes."""


def fold_events(events: Sequence[Event]) -> Ticket:
    """Rebuild a ticket from its events by applying each event's ``changes`` in order."""
    return fold(events, Ticket)


class TicketReader:
    """The read side of a desk's tickets (also what its SLA tracker reads)."""

    __slots__ = ("store", "vocabulary")

    def __init__(self, store: Store, vocabulary: Vocabulary) -> None:
        self.store = store
        self.vocabulary = vocabulary

    def get(self, ticket: str | int) -> Ticket:
        """A ticket by id, or by its human number: an int, or text such as ``"#12"`` (as
        messages and errors show it)."""
        digits = ticket[1:] if type(ticket) is str and ticket[:1] == "#" else ""
        if digits.isascii() and digits.isdigit() and len(digits) <= 19:
            ticket = int(digits)
        if type(ticket) is int:
            if not 1 <= ticket <= MAX_NUMBER:
                raise InvalidInput(
                    "ticket", [FieldError(("number",), f"must be from 1 to {MAX_NUMBER}")]
                )
            return self.store.get_by_number(ticket)
        return self.store.get(check_text("ticket_id", ticket))

    def find(self, query: TicketQuery | None, filters: dict[str, Any]) -> list[Ticket]:
        """Tickets matching ``query`` or ``filters``, oldest first."""
        if query is None:
            query = parse(TicketQuery, filters, "ticket query")
        elif not isinstance(query, TicketQuery) or filters:
            raise InvalidInput(
                "ticket query",
                [FieldError(("query",), "pass a TicketQuery or filters, not both")],
            )
        self.vocabulary.check_status(query.status, "ticket query", "status")
        return self.store.find(query)

    def history(self, ticket_id: str) -> list[Event]:
        """The ticket's events, oldest first."""
        events = self.store.events(check_text("ticket_id", ticket_id))
        if not events:
            raise TicketNotFound(ticket_id)
        return events

    def messages(self, ticket_id: str | int, include_internal: bool) -> list[Message]:
        """The ticket's messages with those of the tickets merged into it, oldest first."""
        if not isinstance(include_internal, bool):
            raise InvalidInput(
                "messages", [FieldError(("include_internal",), "must be True or False")]
            )
        ticket = self.get(ticket_id)
        store = self.store
        found = list(store.messages(ticket.id))
        pending = [ticket.id]
        seen = {ticket.id}
        while pending:
            for duplicate in store.find(TicketQuery(merged_into=pending.pop(), limit=10_000)):
                if duplicate.id not in seen:
                    seen.add(duplicate.id)
                    pending.append(duplicate.id)
                    found.extend(store.messages(duplicate.id))
        if len(seen) > 1:
            found.sort(key=lambda message: message.at)
        if include_internal:
            return found
        return [m for m in found if m.kind is MessageKind.PUBLIC_REPLY]

    # What the dispatcher reads (aftersales.routing.dispatcher.TicketDesk).

    def count(self, **filters: Any) -> int:
        """How many tickets match ``filters`` (at most their ``limit``), counted by the
        store: no ticket is read or decoded (an agent's load, on every route)."""
        return self.store.count(TicketQuery(**filters))

    def queued(self) -> list[Ticket]:
        return self.store.find(TicketQuery(status="classified", limit=10_000))

    # What the SLA tracker reads (aftersales.sla.tracker.TicketLog).

    def events(self, ticket_id: str) -> list[Event]:
        return self.store.events(ticket_id)

    def tier(self, customer_id: str) -> str | None:
        """The customer's tier, None for a customer the desk does not know."""
        try:
            return self.store.get_customer(customer_id).tier
        except LookupError:
            return None

    def created_between(
        self, created_from: datetime, created_to: datetime, limit: int, offset: int
    ) -> list[Ticket]:
        return self.find(
            None,
            {
                "created_from": created_from,
                "created_to": created_to,
                "limit": limit,
                "offset": offset,
            },
        )
