"""The adapter from templates to a sender: what an event's message says, rendered from
the desk's records in the recipient's language."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from aftersales.exceptions import FieldError, InvalidInput, NotFound, TemplateError
from aftersales.models import Case, Customer, Event, Message, Ticket
from aftersales.models.case import case_kind
from aftersales.models.events import MESSAGE_ADDED, TICKET_KIND
from aftersales.policies.decision import Decision

if TYPE_CHECKING:
    from aftersales.notify.senders import Recipient
    from aftersales.notify.templates import RenderedMessage, Templates

Extra = Callable[[Event, "Recipient"], Mapping[str, Any]]
"""More of a message's context (``link``, or a name the templates declare)."""

FALLBACK = "*"
"""The key of a ``name_for`` mapping that names the template of any other event."""


class _Records(Protocol):
    """What :class:`TemplateRender` reads of a desk."""

    def get(self, ticket: str | int) -> Ticket: ...

    def get_customer(self, customer_id: str) -> Customer: ...

    def messages(self, ticket_id: str | int, *, include_internal: bool = ...) -> list[Message]: ...

    @property
    def cases(self) -> Any: ...


class TemplateRender:
    """Render an event's message from ``templates``: the ``render`` of a
    :class:`~aftersales.notify.senders.SenderHandler`, called with the event and its
    recipient, returning a :class:`~aftersales.notify.templates.RenderedMessage`.

    ``name_for`` is the template's name for every event, or a mapping to it from the
    state an event enters or its trigger, each optionally prefixed by the subject's kind
    (``"return:approved"`` before ``"approved"``), and ``"*"`` for any other event; an
    event it names no template for raises TemplateError. Every name must be a template
    of the set (checked here).

    The context, read from ``desk`` when the message is rendered: ``event``; ``ticket``
    (the event's ticket, or the ticket of the event's case); ``case`` and its
    ``decision`` (of its first line that has one) for a case's event; ``customer`` (the
    recipient's, else the ticket's); ``message`` for a message's event
    (``add_message``); ``about`` (the recipient's, else ``"Ticket #12"``); the rest None
    unless ``extra(event, recipient)`` gives them. The language is the recipient's, else
    the customer's, else the templates' default.
    """

    __slots__ = ("_desk", "_extra", "_names", "templates")

    def __init__(
        self,
        templates: Templates,
        name_for: str | Mapping[str, str],
        desk: _Records,
        *,
        extra: Extra | None = None,
    ) -> None:
        names = {FALLBACK: name_for} if isinstance(name_for, str) else name_for
        if not isinstance(names, Mapping) or not names:
            raise InvalidInput(
                "template render",
                [FieldError(("name_for",), "must be a template name or a non-empty mapping")],
            )
        for key, name in names.items():
            if not isinstance(key, str) or not key:
                raise InvalidInput(
                    "template render", [FieldError(("name_for",), f"bad key {key!r}")]
                )
            if name not in templates:
                raise TemplateError(
                    str(name),
                    f"no such template for {key!r} (known: {', '.join(templates.names)})",
                )
        if extra is not None and not callable(extra):
            raise InvalidInput("template render", [FieldError(("extra",), "must be callable")])
        self.templates = templates
        self._names = dict(names)
        self._desk = desk
        self._extra = extra

    def name_for(self, event: Event) -> str | None:
        """The template for ``event``'s message, or None when ``name_for`` names none."""
        names = self._names
        kind = event.subject_kind
        keys = [event.trigger]
        if event.from_state != event.to_state:
            keys.insert(0, event.to_state)
        for key in keys:
            found = names.get(f"{kind}:{key}") or names.get(key)
            if found is not None:
                return found
        return names.get(FALLBACK)

    def __call__(self, event: Event, recipient: Recipient) -> RenderedMessage:
        name = self.name_for(event)
        if name is None:
            what = event.to_state if event.from_state != event.to_state else event.trigger
            raise TemplateError(
                f"{event.subject_kind}:{what}",
                f"no template for {event.subject_kind} event {what!r} (name_for has "
                f"{', '.join(sorted(self._names))})",
            )
        context = self.context(event, recipient)
        customer = context["customer"]
        language = recipient.language or (customer.language if customer is not None else None)
        return self.templates.render(name, language=language, **context)

    def context(self, event: Event, recipient: Recipient) -> dict[str, Any]:
        """The names the message of ``event`` to ``recipient`` is rendered with."""
        desk = self._desk
        ticket: Ticket | None = None
        case: Case | None = None
        decision: Decision | None = None
        message: Message | None = None
        subject = subject_ticket(desk, event)
        if subject is not None:
            ticket, case = subject
            if case is not None:
                decision = next((line.decision for line in case.lines if line.decision), None)
        customer_id = recipient.customer_id or (ticket.customer_id if ticket else None)
        customer = None if customer_id is None else _customer(desk, customer_id)
        if ticket is not None and event.trigger == MESSAGE_ADDED:
            wanted = event.payload.get("message_id")
            # a customer is never shown an internal note, whatever the recipient lookup
            # let through: their message is then None, and printing it fails the render
            internal = recipient.customer_id is None
            message = next(
                (m for m in desk.messages(ticket.id, include_internal=internal) if m.id == wanted),
                None,
            )
        about = recipient.about or (f"Ticket {ticket.display_number}" if ticket else "")
        context: dict[str, Any] = {
            "about": about,
            "case": case,
            "customer": customer,
            "decision": decision,
            "event": event,
            "message": message,
            "ticket": ticket,
        }
        if self._extra is not None:
            more = self._extra(event, recipient)
            if not isinstance(more, Mapping):
                raise InvalidInput(
                    "template render",
                    [FieldError(("extra",), f"returned {type(more).__name__}, not a mapping")],
                )
            context.update(more)
        return context


def _customer(desk: _Records, customer_id: str) -> Customer | None:
    try:
        return desk.get_customer(customer_id)
    except NotFound:
        return None


class _Subjects(Protocol):
    """What :func:`subject_ticket` reads of a desk."""

    def get(self, ticket: str | int) -> Any: ...

    @property
    def cases(self) -> Any: ...


def subject_ticket(desk: _Subjects, event: Event) -> tuple[Any, Any] | None:
    """The ticket ``event`` is about and, for a case's event, the case (``None`` for a
    ticket's); ``None`` when the subject is neither (a risk alert's series)."""
    if event.subject_kind == TICKET_KIND:
        return desk.get(event.subject_id), None
    try:
        case_kind(event.subject_kind)
    except ValueError:
        return None
    case = desk.cases.get(event.subject_id)
    return desk.get(case.ticket_id), case
