"""Which ticket an inbound mail belongs to: the desk's own Message-IDs it answers, the
customer's earlier mail it answers, or the ``[#N]`` token of one of the sender's tickets."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import attrs

from aftersales.exceptions import AftersalesError, InvalidInput, NotFound
from aftersales.inbound._parse import InboundMail
from aftersales.models import Ticket
from aftersales.notify.mail_ids import subject_id_from_message_id, ticket_number_in
from aftersales.storage import TicketQuery

if TYPE_CHECKING:
    from aftersales.desk import Desk

_KNOWN_PREFIX = "inbound:message:"
_MERGE_HOPS = 100
SCAN_TICKETS = 100
"""The most of a customer's recent tickets searched for a mail the index lost."""
SCAN_DAYS = 7
"""How far back a customer's tickets are searched for a mail the index lost: longer
than a mail server retries a delivery (Postfix: 5 days)."""


@attrs.frozen
class Found:
    """The ticket a mail threads onto (the one a merge kept) and how it was found."""

    ticket: Ticket
    reason: str


@attrs.frozen
class Known:
    """A mail the desk stored before: its ticket and message."""

    ticket_id: str
    message_id: str | None


def known_key(message_id: str) -> str:
    """The state key remembering where the mail ``message_id`` was stored (a digest: the
    key stays short whatever the id, and holds nothing personal)."""
    return _KNOWN_PREFIX + hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:40]


def remember(desk: Desk, message_id: str, ticket_id: str, stored_id: str | None) -> None:
    """Remember that the mail ``message_id`` was stored as ``stored_id`` on ``ticket_id``."""
    desk.store.set_state(
        known_key(message_id), json.dumps({"ticket": ticket_id, "message": stored_id})
    )


class StoredMail:
    """Where the desk stored a mail, by its Message-ID: the index :func:`remember` keeps,
    else (a process stopped between storing the message and indexing it) the
    ``external_id`` of the messages on ``customer_id``'s tickets opened since ``since``,
    read once per mail however many Message-IDs it names."""

    __slots__ = ("customer_id", "desk", "scanned", "since")

    def __init__(self, desk: Desk, customer_id: str | None, since: datetime) -> None:
        self.desk = desk
        self.customer_id = customer_id
        self.since = since
        self.scanned: dict[str, Known] | None = None

    def find(self, message_id: str) -> Known | None:
        """Where the mail ``message_id`` was stored, if the desk stored it."""
        text = self.desk.store.get_state(known_key(message_id))
        if text is not None:
            try:
                value = json.loads(text)
                return Known(str(value["ticket"]), value["message"])
            except (TypeError, ValueError, KeyError):
                pass  # not ours: look at the messages themselves
        if self.customer_id is None:
            return None
        if self.scanned is None:
            self.scanned = {}
            query = TicketQuery(
                customer_id=self.customer_id, created_from=self.since, limit=SCAN_TICKETS
            )
            for ticket in self.desk.store.find(query):
                for message in self.desk.store.messages(ticket.id):
                    if message.external_id is not None:
                        self.scanned[message.external_id] = Known(message.ticket_id, message.id)
        return self.scanned.get(message_id)


def ticket_by_id(desk: Desk, ticket_id: str) -> Ticket | None:
    """The ticket with this id (never a number), following merges to the ticket kept,
    or None when there is none."""
    hops = 0
    try:
        ticket = desk.store.get(ticket_id)
        while ticket.merged_into is not None and hops < _MERGE_HOPS:
            ticket = desk.store.get(ticket.merged_into)
            hops += 1
    except (NotFound, InvalidInput):
        return None
    return ticket


def desk_ticket(desk: Desk, message_id: str) -> Ticket | None:
    """The ticket a Message-ID the desk made names: the ticket itself, or the ticket of
    the after-sales case it names; None for anyone else's Message-ID."""
    subject_id = subject_id_from_message_id(message_id)
    if subject_id is None:
        return None
    ticket = ticket_by_id(desk, subject_id)
    if ticket is not None:
        return ticket
    try:
        case = desk.cases.get(subject_id)
    except (AftersalesError, LookupError):
        return None
    return ticket_by_id(desk, case.ticket_id)


def find_thread(
    desk: Desk, mail: InboundMail, customer_id: str | None, stored: StoredMail | None = None
) -> Found | None:
    """The ticket ``mail`` continues, or None when it starts a new one.

    In order: each Message-ID of ``In-Reply-To`` then ``References`` (nearest first)
    that the desk made (its ticket, whoever writes: the id is unguessable and only its
    recipients have it) or that is a mail stored on one of ``customer_id``'s tickets;
    then the subject's ``[#N]`` token, only when ticket N is ``customer_id``'s (anyone
    can type a number). ``customer_id`` is the sender's customer, None for a sender
    the desk does not know yet.
    """
    if stored is None:
        stored = StoredMail(desk, customer_id, desk.pipeline.now() - timedelta(days=SCAN_DAYS))
    replied = set(mail.in_reply_to)
    for message_id in mail.thread_ids:
        ticket = desk_ticket(desk, message_id)
        if ticket is not None:
            return Found(ticket, "in_reply_to" if message_id in replied else "references")
        earlier = stored.find(message_id)
        if earlier is not None and customer_id is not None:
            ticket = ticket_by_id(desk, earlier.ticket_id)
            if ticket is not None and ticket.customer_id == customer_id:
                return Found(ticket, "known_message")
    number = ticket_number_in(mail.subject)
    if number is not None and customer_id is not None and 1 <= number < 2**63:
        try:
            ticket = desk.store.get_by_number(number)
        except NotFound:
            return None
        ticket = ticket_by_id(desk, ticket.id)
        if ticket is not None and ticket.customer_id == customer_id:
            return Found(ticket, "token")
    return None
