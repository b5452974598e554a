"""The ticket side of :class:`aftersales.Desk`: its ticket commands and reads, delegated
to the ticket core, commands, reader and customers of :mod:`aftersales.tickets`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from aftersales._pipeline import build_event, fire_with_retries
from aftersales._time_log import LOG_TIME, time_entry
from aftersales._validation import acting, check_text, json_changes
from aftersales.attachments import BlobStore, Upload
from aftersales.attachments._protocol import check_sha256, unknown_blob
from aftersales.exceptions import FieldError, InvalidInput, PermissionDenied
from aftersales.models import (
    AuthorRole,
    Case,
    Channel,
    Customer,
    Event,
    Message,
    MessageKind,
    OrderLineRef,
    Priority,
    Ticket,
)
from aftersales.models._base import trusted
from aftersales.models.events import TICKET_KIND
from aftersales.routing.classify import MAX_TEXT, Classifier
from aftersales.routing.dispatcher import Dispatcher
from aftersales.security import Actor, PermissionSet, Principal, Role
from aftersales.storage import TicketQuery
from aftersales.tickets._commands import TicketCommands
from aftersales.tickets._core import TicketCore
from aftersales.tickets._importing import import_tickets
from aftersales.tickets._reading import MAX_NUMBER, TicketReader, fold_events
from aftersales.tickets._shortcuts import TicketShortcuts
from aftersales.tickets.customers import CustomerHistory, Customers


class TicketReads:
    """Reading tickets and customers (a base of the desk)."""

    _reader: TicketReader
    _customers: Customers

    def save_customer(self, customer: Customer | Mapping[str, Any]) -> Customer:
        """Insert or update a customer. A contact point may belong to one customer only;
        a customer has at most ``DeskSettings.max_contacts`` of them."""
        return self._customers.save(customer)

    def get_customer(self, customer_id: str) -> Customer:
        """The customer with this id; raises :class:`~aftersales.CustomerNotFound`."""
        return self._customers.get(customer_id)

    def find_customer(self, channel: Channel | str, address: str) -> Customer | None:
        """The customer known by ``address`` on ``channel`` (e.g. a WeChat OpenID), if any."""
        return self._customers.find(channel, address)

    def customer_history(self, customer_id: str) -> CustomerHistory:
        """All of a customer's tickets on every channel, oldest first."""
        return self._customers.history(customer_id)

    def get(self, ticket: str | int) -> Ticket:
        """A ticket by id, or by its human number: an int, or text such as ``"#12"`` (as
        messages and errors show it)."""
        return self._reader.get(ticket)

    def find(self, query: TicketQuery | None = None, /, **filters: Any) -> list[Ticket]:
        """Tickets matching the filters of :class:`~aftersales.TicketQuery`, oldest first.

        A ``status`` the desk's workflow does not have raises
        :class:`~aftersales.InvalidInput` naming the known states.

        >>> from aftersales import Desk
        >>> Desk().find(status_category="open", assignee="li.wei")
        []
        """
        return self._reader.find(query, filters)

    def history(self, ticket_id: str) -> list[Event]:
        """The ticket's events, oldest first."""
        return self._reader.history(ticket_id)

    def messages(self, ticket_id: str | int, *, include_internal: bool = False) -> list[Message]:
        """The ticket's public replies, oldest first, with those of the tickets merged
        into it (each message keeps the ``ticket_id`` it was written on).

        Internal notes are left out unless ``include_internal=True``: a customer-facing
        view cannot show them by accident; an agent's view asks for them.
        """
        return self._reader.messages(ticket_id, include_internal)

    def replay(self, ticket_id: str) -> Ticket:
        """Rebuild a ticket from its event history alone; equals :meth:`get` for a sound store."""
        return fold_events(self.history(ticket_id))


class TicketFace(TicketShortcuts, TicketReads):
    """Opening, routing, firing, reopening and merging tickets, and their messages (a base
    of the desk)."""

    classifier: Classifier | None
    route_on_open: bool
    _redact_text: Callable[[str], str] | None = None
    """Redacts personal data from incoming free text (``DeskSettings.redaction``)."""
    _core: TicketCore
    _tickets: TicketCommands
    _dispatcher: Dispatcher
    _recent: dict[str, Ticket]
    blobs: BlobStore | None
    permissions: PermissionSet | None
    principal: Callable[[Actor | Principal], Principal]
    may_read: Callable[[Actor | Principal, Ticket | Case], bool]

    @acting
    def open_ticket(
        self,
        *,
        customer: Customer | str,
        channel: Channel | str,
        subject: str,
        description: str = "",
        order_line: OrderLineRef | Mapping[str, Any] | None = None,
        priority: Priority | str | None = None,
        tags: Sequence[str] = (),
        parent_id: str | None = None,
        follow_up_of: str | None = None,
        actor: Actor = "system",
        route: bool | None = None,
    ) -> Ticket:
        """Record a new inquiry arriving on ``channel`` and return the new ticket.

        With ``route`` (default: the desk's ``route_on_open``) the desk classifies and
        assigns it too (see :meth:`route`); a desk without a classifier refuses that
        before it stores anything.

        ``customer`` is a :class:`Customer` (saved with the ticket, in the same
        transaction, with its contact points) or the id of one. ``parent_id`` and
        ``follow_up_of`` must name existing tickets. ``priority`` defaults to the desk's
        ``default_priority`` and must be one of its ``priorities``.
        """
        routing = self.route_on_open if route is None else route
        redact = self._redact_text
        if redact is not None:
            subject = redact(subject) if isinstance(subject, str) else subject
            description = redact(description) if isinstance(description, str) else description
        ticket = self._tickets.open(
            customer=customer,
            channel=channel,
            subject=subject,
            description=description,
            order_line=order_line,
            priority=priority,
            tags=tags,
            parent_id=parent_id,
            follow_up_of=follow_up_of,
            actor=check_text("actor", actor),
            refuse_route=bool(routing) and self.classifier is None,
        )
        return self.route(ticket.id) if routing else ticket

    def route(
        self,
        ticket_id: str,
        *,
        previous_contacts: int | None = None,
        more_text: str | None = None,
    ) -> Ticket:
        """Classify a new ticket (with the desk's classifier) and assign it (with its
        router), each as a transition with its event; a ticket nobody can take now is
        queued on its team and assigned by :meth:`drain_queue` when capacity frees.
        ``more_text``, what the customer said since they opened it (e.g. on turning down a
        self-service answer), is classified with its subject and description."""
        more = "" if more_text is None else check_text("more_text", more_text, MAX_TEXT)
        return self._dispatcher.route(ticket_id, previous_contacts, more)

    def drain_queue(self) -> tuple[str, ...]:
        """Assign queued tickets, oldest first, while agents have room; returns their ids."""
        return self._dispatcher.drain_queue()

    @acting
    def import_tickets(
        self,
        records: Iterable[Ticket | Mapping[str, Any]],
        *,
        batch_size: int = 1000,
        actor: Actor = "import",
    ) -> int:
        """Import tickets from another system in batches (one transaction each).

        ``records`` is an iterable of :class:`~aftersales.Ticket` or mappings with its
        fields; ``number`` is assigned when missing, times are kept as given. ``status``
        must be a state of the desk's workflow, and ``status_category`` is always the one
        the workflow gives that state (a category given in the record is ignored);
        ``workflow`` is the desk's. Categories, priorities and tags must fit the desk
        (see :meth:`open_ticket`); a missing priority is the desk's ``default_priority``.
        Every ticket gets its creation event; hooks are not called (an import is history,
        not news). A mapping may carry the ticket's ``messages`` (a list of
        :class:`~aftersales.Message` or mappings of its fields, ``ticket_id`` the ticket's
        own or left out), stored with the ticket as they were written: times, authors and
        ids kept, no events of their own. Attachments are described, not copied: their
        files go to the target's blob store by other means. A record that does not
        validate raises :class:`~aftersales.InvalidInput` naming its position, and its
        whole batch is not written. Returns the count imported.
        """
        return import_tickets(self._core, records, batch_size, check_text("actor", actor))

    @acting
    def fire(
        self,
        ticket_id: str | int,
        trigger: str,
        *,
        actor: Actor = "system",
        payload: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> Ticket:
        """Fire ``trigger`` on a ticket (by id or number) and return the ticket after the
        transition.

        Raises :class:`~aftersales.TriggerNotAllowed` (naming the allowed triggers) or
        :class:`~aftersales.TransitionRefused` (with the guard's reason) and changes
        nothing. With ``expected_version`` (an int from 1), a ticket changed since then
        raises :class:`~aftersales.ConcurrencyError`. ``payload`` holds at most
        ``DeskSettings.max_payload_bytes`` of JSON.
        """
        if expected_version is not None and (
            type(expected_version) is not int or not 1 <= expected_version <= MAX_NUMBER
        ):
            raise InvalidInput(
                "fire", [FieldError(("expected_version",), "must be an int from 1 (or None)")]
            )
        core = self._core
        return fire_with_retries(
            ticket_id,  # type: ignore[arg-type]
            recent=self._recent,
            read=self.get,
            # the actor is checked (a principal read as its id) where the transition is
            # decided (TicketCore.decide), once
            transition=core.transition,
            args=(trigger, actor, payload),
            expected_version=expected_version,
            guarded=core.pipeline.guard is not None,
        )

    def _transition(
        self,
        ticket: Ticket,
        trigger: str,
        actor: Actor,
        payload: Mapping[str, Any] | None,
        now: datetime | None = None,
    ) -> Ticket:
        return self._core.transition(ticket, trigger, check_text("actor", actor), payload, now)

    @acting
    def reopen(self, ticket_id: str, *, reason: str, actor: Actor = "system") -> Ticket:
        """Reopen a resolved or confirmed ticket, or open a follow-up when that is too late.

        Within ``settings.reopen_within_days`` of the resolution the ticket goes back to
        ``in_progress`` and is returned. Later, or once followed up or closed, a new ticket
        linked by ``follow_up_of`` is opened and returned instead.
        """
        reopened, ticket = self._tickets.reopen(ticket_id, reason, check_text("actor", actor))
        if reopened:
            return ticket
        return self.open_ticket(
            customer=ticket.customer_id,
            channel=ticket.channel,
            subject=f"Follow-up: {ticket.subject}"[:200],
            description=reason,
            order_line=ticket.order_line,
            follow_up_of=ticket.id,
            actor=actor,
        )

    @acting
    def merge(self, ticket_id: str, *, into: str, actor: Actor = "system") -> Ticket:
        """Close ``ticket_id`` as a duplicate of ``into`` and return the duplicate.

        In one transaction: the duplicate moves to ``merged`` (``merged_into`` names the
        target) and the target records a ``merged_from`` event naming the duplicate.
        The duplicate's messages are linked to the target: :meth:`messages` of the target
        lists them too (each keeps the ``ticket_id`` it was written on), and a message
        added to the duplicate later goes to the target. Find duplicates by
        ``merged_into``.
        """
        return self._tickets.merge(ticket_id, into, check_text("actor", actor))

    @acting
    def log_time(
        self,
        ticket_id: str | int,
        *,
        minutes: int | timedelta,
        actor: Actor,
        note: str | None = None,
    ) -> Ticket:
        """Log ``minutes`` of ``actor``'s work on a ticket (by id or number) and return the
        ticket after it.

        ``minutes`` is an int of minutes or a timedelta of whole seconds, from one minute
        (one second) to 24 hours per entry; ``note`` says what the time went on (at most
        1,000 characters, redacted as messages are). The entry is a ``log_time`` event
        whose payload holds ``logged_seconds`` and ``note``, by ``actor`` (whose time it
        is: there is no default) at the desk clock's time; the state does not change,
        the version moves on. Workload reports sum the entries
        (:func:`aftersales.insights.workload.workload`). Bad input raises
        :class:`~aftersales.InvalidInput` and stores nothing; on a desk with permissions
        the actor needs the ``log_time`` grant (agents have it).
        """
        payload = time_entry(minutes, note, self._redact_text)
        actor_id = check_text("actor", actor)
        core = self._core

        def record(ticket: Ticket) -> Ticket:
            now = core.now()
            version = ticket.version + 1
            updates: dict[str, Any] = {"updated_at": now, "version": version}
            event = build_event(
                ticket.id,
                TICKET_KIND,
                version,
                LOG_TIME,
                ticket.status,
                ticket.status,
                actor_id,
                now,
                payload,
                json_changes(updates),
            )
            changed = trusted(Ticket, {**ticket.__dict__, **updates})
            core.commit(changed, ticket.version, (event,))
            return changed

        return fire_with_retries(
            ticket_id,  # type: ignore[arg-type]
            recent=self._recent,
            read=self.get,
            transition=record,
            expected_version=None,
        )

    def add_message(
        self,
        ticket_id: str,
        body: str,
        *,
        author_id: str,
        author_role: AuthorRole | str = AuthorRole.AGENT,
        kind: MessageKind | str = MessageKind.PUBLIC_REPLY,
        channel: Channel | str | None = None,
        attachments: Sequence[Upload] = (),
        external_id: str | None = None,
    ) -> Message:
        """Add a public reply or internal note and return it.

        - ``attachments`` are :class:`~aftersales.attachments.Upload` files (at most
          :data:`~aftersales.attachments.MAX_ATTACHMENTS`), kept in the desk's blob store
          (``Desk(blobs=...)``) and described on the message (name without directories,
          the content type sniffed from the bytes, size, SHA-256). An empty file, one
          over the store's ``max_bytes``, a bad name or a desk without a blob store
          raise :class:`~aftersales.AttachmentRefused` and nothing is stored.
        - ``external_id`` is the message's id where it came from (an inbound e-mail's
          ``Message-ID``), kept for threading.

        - The first response (``first_response_at``) is what the SLA first-response
          metric counts (:func:`aftersales.sla.meets_first_response`): an agent's or
          bot's first public reply, or entering a status of the SLA policy's
          ``first_response_met_by`` (by default waiting on the customer).
          ``author_role`` is taken as given on a desk without permissions, so a
          customer's message sent with ``author_role="agent"`` counts as the first
          response there; on a desk with permissions a customer principal may write
          only as ``"customer"`` (:class:`~aftersales.PermissionDenied` otherwise).
        - A customer's public reply on a ticket waiting on the customer resumes it (the
          ``resume`` trigger, in the same transaction as the message), so the
          resolution clock runs again; ``DeskSettings.resume_on_customer_reply=False``
          turns this off.
        - A message to a ticket merged into another goes to that other ticket (the one
          :meth:`merge` kept).
        """
        redact = self._redact_text
        if redact is not None:
            body = redact(body) if isinstance(body, str) else body
            attachments = _redacted_names(attachments, redact)
        return self._tickets.add_message(
            ticket_id,
            body,
            author_id=author_id,
            author_role=author_role,
            kind=kind,
            channel=channel,
            attachments=attachments,
            external_id=external_id,
        )

    def read_attachment(
        self, ticket_id: str | int, sha256: str, *, actor: Actor | Principal = "system"
    ) -> bytes:
        """The bytes of a file a message of the ticket (or of a ticket merged into it)
        carries, by its :attr:`~aftersales.models.Attachment.sha256`.

        :class:`~aftersales.AttachmentRefused` (``unknown_blob``) when no message there
        carries it, or the copy of every message carrying it was erased (each message
        keeps its copy with its own ticket's files: one erased copy leaves the others);
        :class:`~aftersales.TicketNotFound` for an unknown ticket. On a desk with
        permissions, ``actor`` must be allowed to read the ticket (:meth:`may_read`, else
        :class:`~aftersales.PermissionDenied`), and a customer reads only the files of
        public replies, as :meth:`messages` shows them.
        """
        sha256 = check_sha256(sha256)
        ticket = self.get(ticket_id)
        internal = True
        if self.permissions is not None:
            principal = self.principal(actor)
            if not self.may_read(principal, ticket):
                raise PermissionDenied(
                    principal.id,
                    f"read attachments of ticket {ticket.display_number}",
                    "rows",
                    "the permission set's row rules hide this ticket",
                )
            internal = Role.CUSTOMER not in principal.roles
        if self.blobs is None:
            raise unknown_blob(sha256)
        # Each message carrying the file kept it in its own ticket's namespace (a merged
        # ticket's messages are read here too): one erased copy leaves the others.
        namespaces = dict.fromkeys(
            message.ticket_id
            for message in self._reader.messages(ticket.id, internal)
            if any(attachment.sha256 == sha256 for attachment in message.attachments)
        )
        for namespace in namespaces:
            if self.blobs.exists(namespace, sha256):
                return self.blobs.get(namespace, sha256)
        raise unknown_blob(sha256)


def _redacted_names(attachments: Sequence[Upload], redact: Callable[[str], str]) -> Any:
    """The uploads with personal data redacted from their names, as from a body."""
    if not isinstance(attachments, Sequence) or isinstance(attachments, str):
        return attachments  # refused as a whole by the checks that follow
    return [
        attrs.evolve(upload, name=redact(upload.name))
        if isinstance(upload, Upload) and isinstance(upload.name, str)
        else upload
        for upload in attachments
    ]
