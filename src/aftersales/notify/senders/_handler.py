"""The sender interface and the handler that adapts a sender to a desk's hooks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from aftersales.exceptions import (
    DeliveryFailed,
    FieldError,
    InvalidInput,
    NotFound,
    TemplateError,
)
from aftersales.models import Channel, Event
from aftersales.models.events import MESSAGE_ADDED
from aftersales.models.ticket import MessageKind
from aftersales.notify._notification import Notification
from aftersales.notify._template_render import subject_ticket


@attrs.frozen
class Recipient:
    """Who a message goes to, on which channel, and how to name its subject to them."""

    channel: Channel
    address: str
    customer_id: str | None = None
    language: str | None = None
    """The customer's language, when known, for a renderer that speaks several."""
    about: str = ""
    """The subject as the recipient knows it, e.g. ``"Ticket #12"``."""
    ticket_number: int | None = None
    """The number of the ticket the message is about (a case's ticket, for a case), when
    there is one: the SMTP sender puts its token (``[#12]``) in the subject, so a reply
    finds the ticket."""


@attrs.frozen
class OutgoingMessage:
    """One rendered message for one recipient. ``key`` is the notification's idempotency
    key: a provider that accepts one (most do) can drop a message sent twice after a
    crash (delivery is at least once)."""

    key: str
    recipient: Recipient
    body: str
    event: Event
    subject: str = ""
    """A one-line title, for a channel that has one (an email's subject)."""
    html: str | None = None
    """The body as HTML, for a channel that can show it (an email's alternative part)."""
    language: str | None = None
    """The language the text is written in, when the renderer said (it may have fallen
    back from the recipient's)."""


@runtime_checkable
class Sender(Protocol):
    """A channel: sends one message or raises (the outbox retries it later)."""

    def send(self, message: OutgoingMessage) -> None: ...


FindRecipient = Callable[[Event], "Recipient | None"]
"""The recipient of an event's message, or None when there is nobody to tell."""


class Rendered(Protocol):
    """A rendered message with a title: what a renderer may return instead of a string
    (e.g. :class:`aftersales.notify.templates.RenderedMessage`). Optional ``html`` and
    ``language`` attributes are passed on too."""

    @property
    def subject(self) -> str: ...

    @property
    def body(self) -> str: ...


Render = Callable[[Event, Recipient], "str | Rendered"]
"""The message of an event for a recipient: its text, or an object with a ``subject``
and a ``body`` (see :class:`Rendered`)."""


def render_plain(event: Event, recipient: Recipient) -> str:
    """``"Ticket #12: resolved"``: the subject and the state it entered (or the trigger,
    for an event that changes no state). A handler that renders a bare string uses this
    as the message's subject too."""
    what = event.to_state if event.from_state != event.to_state else event.trigger
    return f"{recipient.about or event.subject_id}: {what}"


def _message(
    key: str, event: Event, recipient: Recipient, rendered: str | Rendered
) -> OutgoingMessage:
    if isinstance(rendered, str):
        return OutgoingMessage(key, recipient, rendered, event, render_plain(event, recipient))
    html = getattr(rendered, "html", None)
    language = getattr(rendered, "language", None)
    return OutgoingMessage(
        key,
        recipient,
        rendered.body,
        event,
        rendered.subject or render_plain(event, recipient),
        html if isinstance(html, str) and html else None,
        language if isinstance(language, str) and language else None,
    )


class SenderHandler:
    """A hook (subscribe it like any handler) that sends each notification's event
    through ``sender``.

    ``recipient`` finds who to tell: one callable for every kind, or a mapping from
    ``Event.subject_kind`` (``"ticket"``, ``"return"``...) to a callable; a kind the
    mapping lacks, or a callable that answers None, sends nothing (the notification
    counts as delivered). ``render`` makes the message: a string (the body; the subject
    is then :func:`render_plain`'s text, as it is for an empty subject) or an object
    with ``subject`` and ``body`` (and
    optionally ``html`` and ``language``), such as a template's
    :class:`~aftersales.notify.templates.RenderedMessage`; :func:`render_plain` by default.
    """

    __slots__ = ("_find", "_render", "sender")

    def __init__(
        self,
        sender: Sender,
        *,
        recipient: FindRecipient | Mapping[str, FindRecipient],
        render: Render = render_plain,
    ) -> None:
        if not callable(getattr(sender, "send", None)):
            raise InvalidInput("sender", [FieldError(("sender",), "must have a send method")])
        if not callable(recipient) and not isinstance(recipient, Mapping):
            raise InvalidInput(
                "sender", [FieldError(("recipient",), "must be callable or a mapping")]
            )
        self.sender = sender
        self._find = recipient
        self._render = render

    def __call__(self, notification: Notification) -> None:
        event = notification.event
        find = self._find
        if isinstance(find, Mapping):
            chosen = find.get(event.subject_kind)
            if chosen is None:
                return
            find = chosen
        recipient = find(event)
        if recipient is None:
            return
        try:
            rendered = self._render(event, recipient)
        except TemplateError as error:
            # a template bug fails the same way on every attempt: do not burn the retries
            raise DeliveryFailed(f"cannot render the message: {error}", permanent=True) from error
        self.sender.send(_message(notification.key, event, recipient, rendered))


class _Subjects(Protocol):
    """What :func:`customer_recipients` reads of a desk."""

    def get(self, ticket: str | int) -> Any: ...

    def get_customer(self, customer_id: str) -> Any: ...

    @property
    def cases(self) -> Any: ...


def customer_recipients(desk: _Subjects, channel: Channel | str) -> FindRecipient:
    """Find the customer behind an event on ``channel``, whatever the subject's kind: a
    ticket's customer, or for a case (any kind) the customer of its ticket. No address
    on that channel, no such customer, a subject that is neither a ticket nor a case
    (a risk alert's series), or an internal note (``add_message`` of kind
    ``internal_note``: the customer never sees one) means nobody to tell."""
    try:
        wanted = Channel(channel)
    except ValueError:
        raise InvalidInput(
            "channel", [FieldError(("channel",), f"unknown channel {channel!r}")]
        ) from None

    def find(event: Event) -> Recipient | None:
        if event.trigger == MESSAGE_ADDED and _is_note(event):
            return None
        subject = subject_ticket(desk, event)
        if subject is None:
            # a risk alert's series, or another subject without a customer: a sender on
            # every event would otherwise fail, be retried and dead-letter each of them
            return None
        ticket, case = subject
        if case is None:
            about = f"Ticket {ticket.display_number}"
        else:
            about = f"{event.subject_kind.capitalize()} {case.id} (ticket {ticket.display_number})"
        try:
            customer = desk.get_customer(ticket.customer_id)
        except NotFound:
            return None
        address = customer.address_on(wanted)
        if address is None:
            return None
        return Recipient(wanted, address, customer.id, customer.language, about, ticket.number)

    return find


def _is_note(event: Event) -> bool:
    """Whether a message's event added an internal note. An event that does not say
    which kind its message is counts as one: mailing a note to the customer cannot be
    undone, missing a reply can be."""
    kind = event.payload.get("kind", MessageKind.INTERNAL_NOTE.value)
    return bool(kind != MessageKind.PUBLIC_REPLY.value)
