"""Customers: their records with contact points, and their tickets on every channel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from aftersales._validation import check_text, parse
from aftersales.exceptions import CustomerNotFound, FieldError, InvalidInput
from aftersales.models import Channel, Customer, Ticket
from aftersales.settings import DeskSettings
from aftersales.storage import Store, TicketQuery

__all__ = ["CustomerHistory"]

_MERGE_HOPS = 100


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
        stored = self._stored(record.id)
        if stored is not None and stored.merged_into not in (None, record.merged_into):
            # Saved over, the merged record would be a second person again, holding none
            # of the tickets and cases that moved to the kept record.
            raise InvalidInput(
                "customer",
                [
                    FieldError(
                        ("id",),
                        f"{record.id!r} was merged into {stored.merged_into!r}: save that one",
                    )
                ],
            )
        # The store refuses a taken address inside its transaction, without naming whose.
        self.store.save_customer(record)
        return record

    def final_id(self, customer_id: str) -> str:
        """The id of the record ``customer_id`` was merged into, following merges of
        merges; ``customer_id`` itself when it was not merged or is unknown (a ticket may
        name a customer the desk has no record of)."""
        for _ in range(_MERGE_HOPS):
            stored = self._stored(customer_id)
            if stored is None or stored.merged_into is None:
                return customer_id
            customer_id = stored.merged_into
        return customer_id

    def _stored(self, customer_id: str) -> Customer | None:
        try:
            return self.store.get_customer(customer_id)
        except CustomerNotFound:
            return None

    def get(self, customer_id: str) -> Customer:
        return self.store.get_customer(check_text("customer_id", customer_id))

    def find(self, channel: Channel | str, address: str) -> Customer | None:
        try:
            channel = Channel(channel)
        except ValueError:
            raise InvalidInput(
                "channel", [FieldError(("channel",), f"unknown channel {channel!r}")]
            ) from None
        address = check_text("address", address, 200)
        if channel is Channel.EMAIL and not address.islower():
            # e-mail addresses are saved in lower case (ContactPoint); one saved before
            # that was kept as written
            found = self.store.find_customer(channel, address.lower())
            if found is not None:
                return found
        return self.store.find_customer(channel, address)

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
