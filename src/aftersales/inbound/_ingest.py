"""Taking one inbound mail into a desk: ignore what must not be answered, find or create
the customer, thread the mail onto its ticket or open one, keep its files."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING

import attrs

from aftersales.attachments import MAX_ATTACHMENTS, Upload, clean_name
from aftersales.exceptions import AttachmentRefused, FieldError, InvalidInput
from aftersales.inbound._loops import count_arrival
from aftersales.inbound._parse import InboundMail, parse_email
from aftersales.inbound._thread import (
    SCAN_DAYS,
    StoredMail,
    find_thread,
    mark_opening,
    mark_pending,
    opened_meanwhile,
    remember,
    ticket_by_id,
)
from aftersales.models import (
    AuthorRole,
    Channel,
    ContactPoint,
    Customer,
    MessageKind,
    StatusCategory,
    Ticket,
)
from aftersales.notify.mail_ids import subject_id_from_message_id, thread_key

if TYPE_CHECKING:
    from aftersales.desk import Desk

__all__ = ["DEFAULT_MAX_BYTES", "IngestResult", "Outcome", "ingest_email"]

DEFAULT_LOOP_WINDOW = timedelta(minutes=10)
"""How far back :func:`ingest_email` counts a sender's mail by default."""
DEFAULT_LOOP_LIMIT = 10
"""How many mails from one address :func:`ingest_email` takes within the window by default."""
DEFAULT_MAX_BYTES = 30 * 1024 * 1024
"""The largest mail :func:`ingest_email` reads by default (30 MiB): above the limits of
common mail services (25 MB of files, a third more as base64), below what reading a
mail's parts costs in memory for a mail built to exhaust it."""

_MAX_SUBJECT = 200
_MAX_BODY = 100_000
_MAX_EXTERNAL_ID = 200


class Outcome(str, Enum):
    """What :func:`ingest_email` did with a mail."""

    OPENED = "opened"
    """A new ticket was opened with the mail as its first message."""
    THREADED = "threaded"
    """The mail was added to an existing ticket as the customer's reply."""
    IGNORED = "ignored"
    """Nothing was stored: ``reason`` says why."""


@attrs.frozen
class IngestResult:
    """What :func:`ingest_email` did with one mail.

    ``reason`` says why: for ``opened``, ``new`` or ``follow_up`` (a reply to a closed
    ticket, opened as its follow-up); for ``threaded``, ``in_reply_to``, ``references``
    (a Message-ID the desk sent), ``known_message`` (the customer's own earlier mail) or
    ``token`` (the subject's ``[#N]``); for ``ignored``, ``no_sender``, ``bounce``,
    ``auto_submitted``, ``auto_reply``, ``precedence``, ``mailing_list``, ``own_mail``,
    ``duplicate``, ``repeated_sender``, ``too_large`` (over ``max_bytes``, not read) or
    ``too_deep`` (more nested parts than a person's mail has). ``ticket_id`` and
    ``message_id`` name the ticket and the stored message (for a duplicate, where the
    first copy went); ``customer_id`` the sender's customer when known. ``dropped``
    names the files not kept, with why (``empty``, ``too_large``, ``too_many``, ``no_blob_store``).
    """

    outcome: Outcome
    reason: str
    ticket_id: str | None = None
    message_id: str | None = None
    customer_id: str | None = None
    dropped: tuple[tuple[str, str], ...] = ()


def ingest_email(
    desk: Desk,
    raw: bytes,
    *,
    now: datetime | None = None,
    loop_window: timedelta = DEFAULT_LOOP_WINDOW,
    loop_limit: int = DEFAULT_LOOP_LIMIT,
    own_domains: Iterable[str] = (),
    thread_secret: bytes | str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> IngestResult:
    """Take the RFC 5322 mail ``raw`` into ``desk`` and say what became of it.

    1. Mail that must not be answered is ignored and nothing is stored: a mail over
       ``max_bytes`` (``too_large``, not even read) or nested deeper than a person's
       mail (``too_deep``: only its headers are read); no usable
       ``From``; machine-sent mail (see :func:`~aftersales.inbound.parse_email`'s
       ``automatic``: bounces, ``Auto-Submitted``, auto-reply headers, bulk
       ``Precedence``, list mail); the desk's own mail coming back (its Message-ID made
       by the desk, or a sender in ``own_domains``); a mail already stored (the same
       Message-ID: ``duplicate``); and a sender's mail beyond ``loop_limit`` within
       ``loop_window`` up to ``now`` (``repeated_sender``: counted in the store's state,
       so across processes on one database).
    2. The sender's customer is found by e-mail address (as written, then with the
       domain in lower case, then all in lower case) or created: named by the display
       name (else the address), with the address (its domain in lower case) as its
       e-mail contact and a language from ``Content-Language`` or a Chinese charset.
    3. The mail is threaded (see :func:`~aftersales.inbound.find_thread`; a Message-ID
       of the desk's threads whoever replies only when signed under ``thread_secret``,
       the secret given to the :class:`~aftersales.notify.senders.SmtpSender`) and added to
       that ticket as the customer's public reply; a ticket whose thread ended
       (closed, cancelled) gets a follow-up ticket (``follow_up_of``) instead, as
       :meth:`~aftersales.Desk.reopen` does when it is too late. Unthreaded mail opens a
       new ticket on the email channel: the subject as its subject, the body as its
       description, and the mail as its first message.

    Every stored mail is a message carrying the mail's ``Message-ID`` as
    ``external_id`` and its files as attachments (on a desk with a blob store;
    files that cannot be kept are listed in ``dropped`` and named at the end of the
    body). ``now`` (default: the desk's clock) only dates the sender count; messages
    are dated by the desk's clock. Bad arguments (``raw`` not bytes or empty, a bad
    ``now``, window, limit, ``max_bytes`` or ``thread_secret``) raise
    :class:`~aftersales.InvalidInput` and store nothing.

    Storing a mail takes more than one commit (the ticket, then the message); before
    each, the mail's Message-ID is noted with where it is going, so that the same mail
    delivered again after a crash completes what was begun (the ticket it opened gets
    its message; a message already stored is a ``duplicate``) instead of storing twice.
    """
    when = desk.pipeline.checked_now(now)
    limit, window, domains = _checked(loop_limit, loop_window, own_domains, max_bytes)
    secret = thread_key(thread_secret, "thread_secret")
    if isinstance(raw, (bytes, bytearray)) and len(raw) > max_bytes:
        return IngestResult(Outcome.IGNORED, "too_large")
    mail = parse_email(raw)
    address = mail.address
    if address is None:
        return IngestResult(Outcome.IGNORED, "no_sender")
    customer = _find_customer(desk, mail)
    customer_id = None if customer is None else customer.id
    stored = StoredMail(desk, customer_id, when - timedelta(days=SCAN_DAYS))
    ignored = _ignored_before_threading(mail, domains, customer_id, stored)
    if ignored is not None:
        return ignored
    if count_arrival(desk.store, address, when, window, limit) > limit:
        return IngestResult(Outcome.IGNORED, "repeated_sender", customer_id=customer_id)
    uploads, dropped = _uploads(desk, mail)
    body = _body(mail, dropped)
    resumed = None if customer is None else _resumed(desk, mail, customer, stored)
    if resumed is not None:
        ticket, outcome, reason = resumed
    else:
        found = find_thread(desk, mail, customer_id, stored, thread_secret=secret)
        if found is not None and found.ticket.status_category is not StatusCategory.CLOSED:
            if customer is None:
                customer = _save_new_customer(desk, mail, address)
            ticket = found.ticket
            outcome, reason = Outcome.THREADED, found.reason
        else:
            follow_up = None if found is None else found.ticket
            customer = customer or _new_customer(mail, address)
            outcome, reason = Outcome.OPENED, "new" if follow_up is None else "follow_up"
            if mail.message_id is not None:
                since = desk.pipeline.now()
                mark_opening(desk, mail.message_id, since, _id_of(follow_up), reason)
            ticket = _open(desk, mail, customer, follow_up)
        if mail.message_id is not None:
            mark_pending(desk, mail.message_id, ticket.id, outcome.value, reason)
    assert customer is not None
    message = desk.add_message(
        ticket.id,
        body,
        author_id=customer.id,
        author_role=AuthorRole.CUSTOMER,
        kind=MessageKind.PUBLIC_REPLY,
        channel=Channel.EMAIL,
        attachments=uploads,
        external_id=_external_id(mail.message_id),
    )
    if mail.message_id is not None:
        remember(desk, mail.message_id, message.ticket_id, message.id)
    return IngestResult(outcome, reason, message.ticket_id, message.id, customer.id, dropped)


def _resumed(
    desk: Desk, mail: InboundMail, customer: Customer, stored: StoredMail
) -> tuple[Ticket, Outcome, str] | None:
    """Where a mail delivered again goes when storing it was begun and not finished
    (the process stopped in between): the ticket it was going to, or the ticket it
    opened; None when nothing was begun, or that ticket is gone or closed."""
    pending = None if mail.message_id is None else stored.pending(mail.message_id)
    if pending is None:
        return None
    if pending.ticket_id is not None:
        ticket = ticket_by_id(desk, pending.ticket_id)
    else:
        ticket = opened_meanwhile(desk, customer.id, _subject(mail), pending)
    if ticket is None or ticket.status_category is StatusCategory.CLOSED:
        return None
    return ticket, Outcome(pending.outcome), pending.reason


def _id_of(ticket: Ticket | None) -> str | None:
    return None if ticket is None else ticket.id


def _checked(
    loop_limit: object, loop_window: object, own_domains: object, max_bytes: object
) -> tuple[int, timedelta, frozenset[str]]:
    errors: list[FieldError] = []
    if type(max_bytes) is not int or max_bytes < 1:
        errors.append(FieldError(("max_bytes",), "must be an int from 1"))
    if type(loop_limit) is not int or loop_limit < 1:
        errors.append(FieldError(("loop_limit",), "must be an int from 1"))
    if not isinstance(loop_window, timedelta) or loop_window <= timedelta(0):
        errors.append(FieldError(("loop_window",), "must be a positive timedelta"))
    domains: list[str] = []
    if isinstance(own_domains, str) or not isinstance(own_domains, Iterable):
        errors.append(FieldError(("own_domains",), "must be a list of domains"))
    else:
        for domain in own_domains:
            if not isinstance(domain, str) or not domain.strip(". "):
                errors.append(FieldError(("own_domains",), "each domain must be text"))
                break
            domains.append(domain.strip(". ").lower())
    if errors:
        raise InvalidInput("ingest_email", errors)
    assert isinstance(loop_limit, int)
    assert isinstance(loop_window, timedelta)
    return loop_limit, loop_window, frozenset(domains)


def _ignored_before_threading(
    mail: InboundMail, own_domains: frozenset[str], customer_id: str | None, stored: StoredMail
) -> IngestResult | None:
    if mail.unreadable is not None:
        return IngestResult(Outcome.IGNORED, mail.unreadable, customer_id=customer_id)
    if mail.automatic is not None:
        return IngestResult(Outcome.IGNORED, mail.automatic, customer_id=customer_id)
    domain = (mail.address or "").rpartition("@")[2]
    own = mail.message_id is not None and subject_id_from_message_id(mail.message_id) is not None
    if own or any(domain == d or domain.endswith("." + d) for d in own_domains):
        return IngestResult(Outcome.IGNORED, "own_mail", customer_id=customer_id)
    earlier = None if mail.message_id is None else stored.find(mail.message_id)
    if earlier is not None:
        return IngestResult(
            Outcome.IGNORED, "duplicate", earlier.ticket_id, earlier.message_id, customer_id
        )
    return None


def _find_customer(desk: Desk, mail: InboundMail) -> Customer | None:
    """The sender's customer: by their address as the mail writes it, then with the
    domain in lower case (how this module saves new ones), then all in lower case (how
    many save addresses). A merge of customers moves the contact points to the record
    kept, so that is the one found."""
    address = mail.address or ""
    written = mail.address_as_written or address
    for candidate in dict.fromkeys((written, address, address.lower())):
        customer = desk.find_customer(Channel.EMAIL, candidate)
        if customer is not None:
            return customer
    return None


def _new_customer(mail: InboundMail, address: str) -> Customer:
    return Customer(
        name=mail.display_name or address,
        contacts=(ContactPoint(channel=Channel.EMAIL, address=address),),
        language=mail.language,
    )


def _save_new_customer(desk: Desk, mail: InboundMail, address: str) -> Customer:
    try:
        return desk.save_customer(_new_customer(mail, address))
    except InvalidInput:
        # Another process saved this sender since we looked: theirs is the record.
        found = _find_customer(desk, mail)
        if found is None:
            raise
        return found


def _subject(mail: InboundMail) -> str:
    return mail.subject.strip()[:_MAX_SUBJECT] or "(no subject)"


def _open(desk: Desk, mail: InboundMail, customer: Customer, follow_up: Ticket | None) -> Ticket:
    return desk.open_ticket(
        customer=customer,
        channel=Channel.EMAIL,
        subject=_subject(mail),
        description=mail.body[:_MAX_BODY],
        follow_up_of=None if follow_up is None else follow_up.id,
    )


def _external_id(message_id: str | None) -> str | None:
    if message_id is None or len(message_id) > _MAX_EXTERNAL_ID:
        return None  # the index still knows it by its digest
    return message_id


def _uploads(desk: Desk, mail: InboundMail) -> tuple[list[Upload], tuple[tuple[str, str], ...]]:
    """The mail's files the desk can keep, and (name, why) for each it cannot: refused
    one by one here, so one bad file does not cost the customer's whole mail."""
    kept: list[Upload] = []
    dropped: list[tuple[str, str]] = []
    blobs = desk.blobs
    for number, upload in enumerate(mail.attachments, start=1):
        try:
            name = clean_name(upload.name)
        except AttachmentRefused:
            name = f"attachment-{number}{_extension(upload.content_type)}"
        if blobs is None:
            dropped.append((name, "no_blob_store"))
        elif not upload.data:
            dropped.append((name, "empty"))
        elif len(upload.data) > blobs.max_bytes:
            dropped.append((name, "too_large"))
        elif len(kept) >= MAX_ATTACHMENTS:
            dropped.append((name, "too_many"))
        else:
            kept.append(Upload(name, upload.data, upload.content_type))
    return kept, tuple(dropped)


def _extension(content_type: str | None) -> str:
    return (mimetypes.guess_extension(content_type or "") or ".bin") if content_type else ".bin"


def _body(mail: InboundMail, dropped: tuple[tuple[str, str], ...]) -> str:
    text = mail.body or mail.subject.strip() or "(empty mail)"
    notes = "".join(f"\n[attachment not kept: {name} ({why})]" for name, why in dropped[:20])
    if len(dropped) > 20:
        notes += f"\n[and {len(dropped) - 20} more attachments not kept]"
    return text[: _MAX_BODY - len(notes)] + notes if notes else text[:_MAX_BODY]
