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
from aftersales.models import Channel, Ticket
from aftersales.notify.mail_ids import subject_id_from_message_id, thread_key, ticket_number_in
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


@attrs.frozen
class Pending:
    """A mail the desk began to store and may not have finished (the process stopped):
    the ticket it was going to (None: the ticket was being opened, at ``since``, as a
    follow-up of ``follow_up_of``), and what the result was going to say."""

    ticket_id: str | None
    outcome: str
    reason: str
    since: datetime | None = None
    follow_up_of: str | None = None


def known_key(message_id: str) -> str:
    """The state key remembering where the mail ``message_id`` was stored (a digest: the
    key stays short whatever the id, and holds nothing personal)."""
    return _KNOWN_PREFIX + hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:40]


def remember(desk: Desk, message_id: str, ticket_id: str, stored_id: str | None) -> None:
    """Remember that the mail ``message_id`` was stored as ``stored_id`` on ``ticket_id``."""
    desk.store.set_state(
        known_key(message_id), json.dumps({"ticket": ticket_id, "message": stored_id})
    )


def mark_opening(
    desk: Desk, message_id: str, since: datetime, follow_up_of: str | None, reason: str
) -> None:
    """Note, before its ticket is opened, that the mail ``message_id`` is opening one at
    ``since``: a delivery of the mail again after a crash looks for that ticket
    (:func:`opened_meanwhile`) instead of opening a second."""
    record = {"ticket": None, "message": None, "outcome": "opened", "reason": reason}
    record |= {"since": since.isoformat(), "follow_up_of": follow_up_of}
    desk.store.set_state(known_key(message_id), json.dumps(record))


def mark_pending(desk: Desk, message_id: str, ticket_id: str, outcome: str, reason: str) -> None:
    """Note, before the mail ``message_id`` is added to ``ticket_id``, where it goes: a
    delivery of the mail again after a crash finds it there, or adds it there."""
    record = {"ticket": ticket_id, "message": None, "outcome": outcome, "reason": reason}
    desk.store.set_state(known_key(message_id), json.dumps(record))


def opened_meanwhile(desk: Desk, customer_id: str, subject: str, pending: Pending) -> Ticket | None:
    """The ticket a mail marked as :func:`mark_opening` opened before the process
    stopped: ``customer_id``'s email ticket with ``subject``, opened since the mark,
    as the same follow-up, holding no inbound mail yet; None when it was never opened."""
    if pending.since is None:
        return None
    query = TicketQuery(customer_id=customer_id, created_from=pending.since, limit=SCAN_TICKETS)
    for ticket in desk.store.find(query):
        if (
            ticket.channel is Channel.EMAIL
            and ticket.subject == subject
            and ticket.follow_up_of == pending.follow_up_of
            # an automation's note carries a mark of its own, not a mail's Message-ID
            and not any(
                m.external_id and not m.external_id.startswith("automation:")
                for m in desk.store.messages(ticket.id)
            )
        ):
            return ticket
    return None


def _record(desk: Desk, message_id: str) -> dict[str, object] | None:
    text = desk.store.get_state(known_key(message_id))
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None  # not ours: look at the messages themselves
    return (
        value
        if isinstance(value, dict) and isinstance(value.get("ticket"), (str, type(None)))
        else None
    )


class StoredMail:
    """Where the desk stored a mail, by its Message-ID: the index :func:`remember` keeps;
    for a mail only marked as going to a ticket (:func:`mark_pending`: the process
    stopped before indexing it), the ``external_id`` of that ticket's messages, however
    old the ticket; else (mail stored before such marks) the ``external_id`` of the
    messages on ``customer_id``'s tickets opened since ``since``, read once per mail
    however many Message-IDs it names."""

    __slots__ = ("customer_id", "desk", "scanned", "since")

    def __init__(self, desk: Desk, customer_id: str | None, since: datetime) -> None:
        self.desk = desk
        self.customer_id = customer_id
        self.since = since
        self.scanned: dict[str, Known] | None = None

    def find(self, message_id: str) -> Known | None:
        """Where the mail ``message_id`` was stored, if the desk stored it."""
        record = _record(self.desk, message_id)
        if record is not None:
            ticket_id, stored = record["ticket"], record.get("message")
            if ticket_id is None:
                return None  # its ticket was being opened: the mail was not stored
            assert isinstance(ticket_id, str)
            if stored is not None:
                return Known(ticket_id, str(stored))
            for message in self.desk.store.messages(ticket_id):
                if message.external_id == message_id:
                    remember(self.desk, message_id, ticket_id, message.id)
                    return Known(ticket_id, message.id)
            return None
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

    def pending(self, message_id: str) -> Pending | None:
        """Where the mail ``message_id`` was going when the desk began to store it, if it
        did and never noted it stored (call :meth:`find` first)."""
        record = _record(self.desk, message_id)
        if record is None or record.get("message") is not None:
            return None
        outcome, reason = record.get("outcome"), record.get("reason")
        if not isinstance(outcome, str) or not isinstance(reason, str):
            return None
        since, follow_up_of = record.get("since"), record.get("follow_up_of")
        try:
            when = datetime.fromisoformat(since) if isinstance(since, str) else None
        except ValueError:
            when = None
        return Pending(
            record["ticket"],  # type: ignore[arg-type] # checked by _record
            outcome,
            reason,
            when,
            follow_up_of if isinstance(follow_up_of, str) else None,
        )


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


@attrs.frozen
class Claimed:
    """The ticket a Message-ID of the desk's shape names (the one a merge kept), whose
    customers it was about (the named ticket's and the kept one's), and whether the desk
    provably made the id (its code checks out under the secret)."""

    ticket: Ticket
    customers: frozenset[str]
    proven: bool


def desk_ticket(desk: Desk, message_id: str, secret: bytes | None = None) -> Claimed | None:
    """What a Message-ID of the desk's shape names: a ticket, or an after-sales case
    whose ticket it takes; None for anyone else's Message-ID or one naming nothing."""
    subject_id = subject_id_from_message_id(message_id)
    if subject_id is None:
        return None
    proven = secret is not None and (
        subject_id_from_message_id(message_id, secret=secret) == subject_id
    )
    named = _ticket_or_none(desk, subject_id) or _case_ticket(desk, subject_id)
    if named is None:
        return None
    kept = ticket_by_id(desk, named.id) or named  # merged into a ticket gone: the one named
    return Claimed(kept, frozenset((named.customer_id, kept.customer_id)), proven)


def _ticket_or_none(desk: Desk, ticket_id: str) -> Ticket | None:
    try:
        return desk.store.get(ticket_id)
    except (NotFound, InvalidInput):
        return None


def _case_ticket(desk: Desk, case_id: str) -> Ticket | None:
    try:
        case = desk.cases.get(case_id)
    except (AftersalesError, LookupError):
        return None
    return _ticket_or_none(desk, case.ticket_id)


def find_thread(
    desk: Desk,
    mail: InboundMail,
    customer_id: str | None,
    stored: StoredMail | None = None,
    *,
    thread_secret: bytes | str | None = None,
) -> Found | None:
    """The ticket ``mail`` continues, or None when it starts a new one.

    In order: each Message-ID of ``In-Reply-To`` then ``References`` (nearest first)
    that the desk made, signed under ``thread_secret`` (its ticket, whoever writes: only
    its recipients have it), or of the desk's shape but unsigned (its ticket only when
    that is ``customer_id``'s: anyone can write such an id), or that is a mail stored on
    one of ``customer_id``'s tickets; then the subject's ``[#N]`` token, only when
    ticket N is ``customer_id``'s (anyone can type a number). ``customer_id`` is the
    sender's customer, None for a sender the desk does not know yet. A bad
    ``thread_secret`` (empty, not text) raises :class:`~aftersales.InvalidInput`.
    """
    secret = thread_key(thread_secret, "thread_secret")
    if stored is None:
        stored = StoredMail(desk, customer_id, desk.pipeline.now() - timedelta(days=SCAN_DAYS))
    replied = set(mail.in_reply_to)
    for message_id in mail.thread_ids:
        claimed = desk_ticket(desk, message_id, secret)
        if claimed is not None:
            if claimed.proven or customer_id in claimed.customers:
                reason = "in_reply_to" if message_id in replied else "references"
                return Found(claimed.ticket, reason)
            continue  # a forged (or unsigned) id naming someone else's ticket
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
