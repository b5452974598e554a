"""Customers: their records with contact points, and their tickets on every channel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from aftersales._validation import check_text, parse
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models import Channel, Customer, Ticket
from aftersales.settings import DeskSettings
from aftersales.storage import Store, TicketQuery

__all__ = ["CustomerHistory"]


@attrs.frozen
class CustomerHistory:
    """One customer's tickets across every channel, oldest first (seeds S2 omnichannel)."""

    customer_id: str
    customer: Customer | None
    tickets: tuple[Ticket, ...]

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels the customer has used, in order of first use."""
        return tuple(dict.fromkeys(ticket.channel for ticket in self.tickets))


class Customers:
    """A desk's customers (see :meth:`aftersales.Desk.save_customer` and the others)."""

    __slots__ = ("settings", "store")

    def __init__(self, store: Store, settings: DeskSettings) -> None:
        self.store = store
        self.settings = settings

    def checked(self, customer: Customer | Mapping[str, Any]) -> Customer:
        """``customer`` validated, with at most ``max_contacts`` contact points."""
        record = parse(Customer, customer, "customer")
        limit = self.settings.max_contacts
        if len(record.contacts) > limit:
            raise InvalidInput(
                "customer",
                [FieldError(("contacts",), f"at most {limit} contact points (max_contacts)")],
            )
        return record

    def save(self, customer: Customer | Mapping[str, Any]) -> Customer:
        record = self.checked(customer)
        # The store refuses a taken address inside its transaction, without naming whose.
        self.store.save_customer(record)
        return record

    def get(self, customer_id: str) -> Customer:
        return self.store.get_customer(check_text("customer_id", customer_id))

    def find(self, channel: Channel | str, address: str) -> Customer | None:
        try:
            channel = Channel(channel)
        except ValueError:
            raise InvalidInput(
                "channel", [FieldError(("channel",), f"unknown channel {channel!r}")]
            ) from None
        return self.store.find_customer(channel, check_text("address", address, 200))

    def history(self, customer_id: str) -> CustomerHistory:
        check_text("customer_id", customer_id)
        tickets: list[Ticket] = []
        while True:
            page = self.store.find(
                TicketQuery(customer_id=customer_id, limit=1000, offset=len(tickets))
            )
            tickets.extend(page)
            if len(page) < 1000:
                break
        try:
            customer: Customer | None = self.store.get_customer(customer_id)
        except LookupError:
            customer = None
        return CustomerHistory(customer_id, customer, tuple(tickets))
