"""Ticket commands beyond a plain transition: opening, reopening, merging, messages, and
the ticket work that comes due (auto-close, reminders)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from aftersales._pipeline import ATTEMPTS
from aftersales._validation import check_text, json_changes, parse
from aftersales.attachments import BlobStore, Upload
from aftersales.attachments._uploads import keep_uploads, prepare_uploads
from aftersales.exceptions import (
    ConcurrencyError,
    FieldError,
    InvalidInput,
    TransitionError,
    TransitionRefused,
)
from aftersales.models import (
    MESSAGE_ADDED,
    OPENED,
    Attachment,
    AuthorRole,
    Channel,
    Customer,
    Event,
    Message,
    MessageKind,
    OrderLineRef,
    Priority,
    StatusCategory,
    Ticket,
)
from aftersales.models.events import (
    CUSTOMER_REMINDER,
    DUE_RESCHEDULED,
    MERGED_FROM,
    TICKET_KIND,
    build_event,
)
from aftersales.settings import WaitingAction
from aftersales.tickets._core import TicketCore
from aftersales.tickets._reading import TicketReader
from aftersales.tickets.customers import Customers
from aftersales.workflows import Refusal

# The serializer itself, without model_dump's checks of its many arguments.
_ticket_json_values = Ticket.__pydantic_serializer__.to_python


def creation_event(ticket: Ticket, actor: str, *, exclude_none: bool = False) -> Event:
    """The first event of a ticket: its whole initial record, so replay can rebuild it
    (without the fields that are None when ``exclude_none``: each defaults to None)."""
    return build_event(
        ticket.id,
        TICKET_KIND,
        1,
        OPENED,
        None,
        ticket.status,
        actor,
        ticket.created_at,
        {},
        _ticket_json_values(ticket, mode="json", exclude_none=exclude_none),
    )


class TicketCommands:
    """Opening, reopening and merging tickets, adding messages, and ticket due work."""

    __slots__ = ("blobs", "core", "customers", "reader")

    def __init__(
        self,
        core: TicketCore,
        reader: TicketReader,
        customers: Customers,
        blobs: BlobStore | None = None,
    ) -> None:
        self.core = core
        self.reader = reader
        self.customers = customers
        self.blobs = blobs

    def open(
        self,
        *,
        customer: Customer | str,
        channel: Channel | str,
        subject: str,
        description: str,
        order_line: OrderLineRef | Mapping[str, Any] | None,
        priority: Priority | str | None,
        tags: Sequence[str],
        parent_id: str | None,
        follow_up_of: str | None,
        actor: str,
        refuse_route: bool,
    ) -> Ticket:
        """Validate, number and commit a new ticket (``refuse_route``: the caller asked to
        route it and has no classifier, refused before anything is stored)."""
        core = self.core
        actor = check_text("actor", actor)
        record: Customer | None = None
        if isinstance(customer, Customer):
            record = self.customers.checked(customer)
            customer_id: object = record.id
        else:
            customer_id = customer
        if refuse_route:
            raise InvalidInput(
                "route", [FieldError(("classifier",), "this desk has no classifier to route with")]
            )
        now = core.now()
        workflow = core.workflow
        fields: dict[str, Any] = {
            "workflow": workflow.name,
            "channel": channel,
            "subject": subject,
            "description": description,
            "customer_id": customer_id,
            "order_line": order_line,
            "priority": core.settings.default_priority if priority is None else priority,
            "tags": tuple(tags) if isinstance(tags, (list, tuple)) else tags,
            "parent_id": parent_id,
            "follow_up_of": follow_up_of,
            "status": workflow.initial,
            "status_category": workflow.category_of(workflow.initial),
            "created_at": now,
            "updated_at": now,
            "number": 1,
        }
        if fields["status_category"] in core.first_response_met_by:
            fields["first_response_at"] = now  # created waiting: the metric counts it met
        ticket = parse(Ticket, fields, "ticket")
        core.vocabulary.check_ticket(ticket)
        # A caller may still hold a merged customer's id: the ticket goes to the record
        # kept, whose profile shows it and which erasure and later merges find.
        final = self.customers.final_id(ticket.customer_id)
        if final != ticket.customer_id:
            ticket = ticket.model_copy(update={"customer_id": final})
            record = None  # the merged record is not saved back over its merge
        for linked in (parent_id, follow_up_of):
            if linked is not None:
                self.reader.get(linked)
        ticket = ticket.model_copy(update={"number": core.next_number()})
        event = creation_event(ticket, actor)
        if core.sla is not None:
            ticket = core.sla.with_sla(ticket, event, now)
        core.commit(ticket, 0, (event,), customer=record)
        return ticket

    def reopen(self, ticket_id: str, reason: str, actor: str) -> tuple[bool, Ticket]:
        """(True, the ticket reopened), or (False, the ticket as read) when it is too late
        and a follow-up ticket must be opened instead."""
        ticket = self.reader.get(ticket_id)
        if ticket.status not in ("followed_up", "closed"):
            try:
                return True, self.core.transition(ticket, "reopen", actor, {"reason": reason})
            except TransitionRefused as refused:
                if refused.refusal.code != "reopen_window_passed":
                    raise
        return False, ticket

    def merge(self, ticket_id: str, into: str, actor: str) -> Ticket:
        """Close ``ticket_id`` as a duplicate of ``into`` (see :meth:`aftersales.Desk.merge`)."""
        core = self.core
        ticket = self.reader.get(ticket_id)
        target = self.reader.get(into)
        if target.is_closed:
            raise TransitionRefused(
                subject_id=ticket.id,
                label=f"ticket {ticket.display_number}",
                trigger="merge",
                state=ticket.status,
                allowed=core.workflow.allowed_triggers(ticket.status),
                refusal=Refusal(
                    code="merge_target_closed",
                    message=f"ticket {target.display_number} is closed; merge into an open ticket",
                    message_zh=f"工单 {target.display_number} 已关闭，请合并到未关闭的工单",
                    params={"into": target.id},
                ),
            )
        now = core.now()
        merged, event = core.decide(ticket, "merge", actor, {"into": target.id}, now)
        if core.sla is not None:
            merged = core.sla.with_sla(merged, event, now)
        version = target.version + 1
        updates: dict[str, Any] = {"updated_at": now, "version": version}
        linked = build_event(
            target.id,
            TICKET_KIND,
            version,
            MERGED_FROM,
            target.status,
            target.status,
            actor,
            now,
            {
                "ticket_id": ticket.id,
                "number": ticket.number,
                "messages": len(core.store.messages(ticket.id)),
            },
            json_changes(updates),
        )
        receiving = target.model_copy(update=updates)
        core.commit_many(
            [
                (merged, ticket.version, (event,)),
                (receiving, target.version, (linked,)),
            ]
        )
        return merged

    def add_message(
        self,
        ticket_id: str,
        body: str,
        *,
        author_id: str,
        author_role: AuthorRole | str,
        kind: MessageKind | str,
        channel: Channel | str | None,
        attachments: Sequence[Upload] = (),
        external_id: str | None = None,
    ) -> Message:
        """Add a message (see :meth:`aftersales.Desk.add_message`). A message that loses
        a race to another writer of the ticket is written again on what is stored now,
        as :meth:`aftersales.Desk.fire` does: two customers' messages at once both stand."""
        uploads = prepare_uploads(attachments, self.blobs)
        for attempt in range(ATTEMPTS):
            ticket = self.reader.get(ticket_id)
            for _ in range(100):
                if ticket.merged_into is None:
                    break
                ticket = self.reader.get(ticket.merged_into)
            try:
                return self._write_message(
                    ticket,
                    body,
                    author_id=author_id,
                    author_role=author_role,
                    kind=kind,
                    channel=channel,
                    uploads=uploads,
                    external_id=external_id,
                )
            except ConcurrencyError:
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _write_message(
        self,
        ticket: Ticket,
        body: str,
        *,
        author_id: str,
        author_role: AuthorRole | str,
        kind: MessageKind | str,
        channel: Channel | str | None,
        uploads: Sequence[tuple[Attachment, bytes]],
        external_id: str | None,
    ) -> Message:
        core = self.core
        now = core.now()
        message = parse(
            Message,
            {
                "ticket_id": ticket.id,
                "kind": kind,
                "author_id": author_id,
                "author_role": author_role,
                "body": body,
                "channel": ticket.channel if channel is None else channel,
                "at": now,
                "attachments": tuple(attachment for attachment, _ in uploads),
                "external_id": external_id,
            },
            "message",
        )
        version = ticket.version + 1
        updates: dict[str, Any] = {"updated_at": now, "version": version}
        public = message.kind is MessageKind.PUBLIC_REPLY
        event = build_event(
            ticket.id,
            TICKET_KIND,
            version,
            MESSAGE_ADDED,
            ticket.status,
            ticket.status,
            message.author_id,
            now,
            {
                "message_id": message.id,
                "kind": message.kind.value,
                "author_role": message.author_role.value,
                "channel": message.channel.value,
            },
            json_changes(updates),
        )
        if ticket.first_response_at is None and core.meets_first_response(event):
            updates["first_response_at"] = now
            event.changes["first_response_at"] = now.isoformat()
        changed = ticket.model_copy(update=updates)
        events: tuple[Event, ...] = (event,)
        if (
            public
            and message.author_role is AuthorRole.CUSTOMER
            and ticket.status_category is StatusCategory.WAITING_ON_CUSTOMER
            and core.settings.resume_on_customer_reply
            and "resume" in core.workflow.allowed_triggers(ticket.status)
        ):
            try:
                changed, resumed = core.decide(changed, "resume", message.author_id, None, now)
            except TransitionError:
                pass  # a custom workflow's guard keeps it waiting: the message stands alone
            else:
                events = (event, resumed)
        if core.sla is not None:
            changed = core.sla.with_sla(changed, events[-1], now, events[:-1])
        # under the ticket the message is written on: erasing it removes them
        keep_uploads(uploads, self.blobs, ticket.id)
        core.commit(changed, ticket.version, events, (message,))
        return message

    def run_due(self, now: datetime, limit: int) -> tuple[list[str], list[str]]:
        """Auto-close resolved tickets never confirmed, remind or close tickets left
        waiting on the customer; returns the ids closed and the ids reminded."""
        core = self.core
        closed: list[str] = []
        reminded: list[str] = []
        wait = core.settings.customer_wait
        for ticket in core.store.due(now, limit):
            waiting = ticket.status_category is StatusCategory.WAITING_ON_CUSTOMER
            try:
                if not waiting and ticket.status == "resolved":
                    core.transition(ticket, "auto_close", "system", None, now)
                    closed.append(ticket.id)
                elif not waiting or wait is None:
                    # Nothing is due any more (the wait was switched off, the state moved on).
                    self._reschedule(ticket, None, now)
                elif core.settings.customer_wait_action is WaitingAction.CLOSE:
                    note = f"no reply from the customer in {wait.days} days"
                    core.transition(ticket, "auto_close", "system", {"note": note}, now)
                    closed.append(ticket.id)
                else:
                    payload = {"days": wait.days}
                    core.record(ticket, CUSTOMER_REMINDER, payload, {"due_at": now + wait}, now)
                    reminded.append(ticket.id)
            except ConcurrencyError:
                continue  # someone else changed it in the meantime; their change stands
            except TransitionError:
                # Refused (e.g. child tickets still open): look again in a day, so that it
                # does not come back first on every run and crowd out what can be done.
                with suppress(ConcurrencyError):  # changed meanwhile: it set its own due time
                    self._reschedule(ticket, now + timedelta(days=1), now)
        return closed, reminded

    def _reschedule(self, ticket: Ticket, due_at: datetime | None, now: datetime) -> None:
        self.core.record(ticket, DUE_RESCHEDULED, {}, {"due_at": due_at}, now)
