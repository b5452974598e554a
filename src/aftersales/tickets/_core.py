"""The write core of tickets: decide a transition, build its event, commit it through the
write pipeline (:mod:`aftersales._pipeline`), and record non-workflow changes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from aftersales._pipeline import Pipeline, Recent
from aftersales._utc_text import iso_text
from aftersales._validation import check_text, json_changes
from aftersales.exceptions import FieldError, InvalidInput, TransitionRefused
from aftersales.models import Customer, Event, Message, StatusCategory, Ticket
from aftersales.models._base import trusted
from aftersales.models.events import TICKET_KIND, build_event
from aftersales.settings import DeskSettings
from aftersales.sla.policy import FIRST_RESPONSE_MET_BY, meets_first_response
from aftersales.sla.tracker import SLATracker
from aftersales.storage import Change, Store, TicketQuery
from aftersales.tickets._vocabulary import Vocabulary
from aftersales.workflows import Refusal, TransitionContext, Workflow

if TYPE_CHECKING:
    from pydantic import BaseModel

_CATEGORY_TEXT = {category: category.value for category in StatusCategory}
"""Each category's JSON text: ``.value`` on an enum member runs a Python descriptor (3.11),
a dict lookup does not."""
_WAITING_ON_CUSTOMER = StatusCategory.WAITING_ON_CUSTOMER
_CLOSED = StatusCategory.CLOSED
"""Members read once: an attribute of an enum class is looked up through its metaclass
on every read (3.11), several times a module global's cost."""

RECENT_TICKETS = 256
"""How many tickets a desk remembers as it last wrote them, to skip a read before the next
transition. A stale copy is harmless: the store's version check refuses the write and the
transition is decided again on a fresh read."""


class TicketWriter:
    """How the write pipeline commits tickets: one change alone, several together."""

    __slots__ = ("commit_many", "commit_one", "recent")

    subject: Callable[[Change], Ticket] = staticmethod(attrgetter("ticket"))

    def __init__(self, store: Store) -> None:
        self.commit_one = store.commit
        self.commit_many = store.commit_many
        self.recent: Recent[Ticket] = Recent(RECENT_TICKETS)

    def commit(self, changes: Sequence[Change]) -> None:
        if len(changes) == 1:
            self.commit_one(changes[0])
        else:
            self.commit_many(list(changes))


class TicketCore:
    """Decides and commits the changes of one desk's tickets."""

    def __init__(
        self,
        store: Store,
        settings: DeskSettings,
        workflow: Workflow,
        vocabulary: Vocabulary,
        pipeline: Pipeline,
        met_by: frozenset[StatusCategory] = FIRST_RESPONSE_MET_BY,
    ) -> None:
        self.store = store
        self.settings = settings
        self.workflow = workflow
        self.vocabulary = vocabulary
        self.pipeline = pipeline
        self.now = pipeline.now
        self.writer = TicketWriter(store)
        self.recent = self.writer.recent
        self.sla: SLATracker | None = None
        """The SLA tracker, when the desk has an SLA policy (set by the desk)."""
        self.first_response_met_by = met_by
        self._customer_wait = settings.customer_wait
        self._triggers = vocabulary.triggers
        self._no_payload: dict[str, tuple[BaseModel | None, dict[str, Any]]] = {}
        """Per trigger, the parsed and the recorded payload of a fire given none."""
        self._lock = threading.Lock()
        self._next_free = self._block_end = 0

    def next_number(self) -> int:
        """The next human ticket number, from a block reserved in the store."""
        with self._lock:
            if self._next_free >= self._block_end:
                size = self.settings.number_block_size
                self._next_free = self.store.reserve_numbers(size)
                self._block_end = self._next_free + size
            number = self._next_free
            self._next_free += 1
            return number

    # ------------------------------------------------------------------ committing

    def commit(
        self,
        ticket: Ticket,
        expected_version: int,
        events: Sequence[Event],
        messages: Sequence[Message] = (),
        customer: Customer | None = None,
    ) -> None:
        """Commit one ticket's change through the pipeline."""
        self.pipeline.commit(
            self.writer, (Change(ticket, expected_version, events, messages, (), (), customer),)
        )

    def commit_many(self, changes: Sequence[tuple[Ticket, int, Sequence[Event]]]) -> None:
        """Commit changes of several tickets in one transaction, then run their hooks."""
        self.pipeline.commit(
            self.writer, [Change(ticket, version, events) for ticket, version, events in changes]
        )

    def transition(
        self,
        ticket: Ticket,
        trigger: str,
        actor: str,
        payload: Mapping[str, Any] | None,
        now: datetime | None = None,
    ) -> Ticket:
        """Decide ``trigger`` on ``ticket`` and commit it; returns the ticket after it."""
        if now is None:
            now = self.now()
        changed, event = self.decide(ticket, trigger, actor, payload, now)
        if self.sla is not None:
            changed = self.sla.with_sla(changed, event, now)
        self.commit(changed, ticket.version, (event,))
        return changed

    def record(
        self,
        ticket: Ticket,
        trigger: str,
        payload: dict[str, Any],
        fields: dict[str, Any],
        now: datetime,
    ) -> None:
        """Commit an event that changes ``fields`` of ``ticket`` but not its state."""
        changed, event = self.recorded(ticket, trigger, payload, fields, now)
        self.commit(changed, ticket.version, (event,))

    def recorded(
        self,
        ticket: Ticket,
        trigger: str,
        payload: dict[str, Any],
        fields: dict[str, Any],
        now: datetime,
        actor: str = "system",
    ) -> tuple[Ticket, Event]:
        """``ticket`` with ``fields`` changed (its state does not move) and the event
        saying so, by ``actor``; nothing is committed."""
        version = ticket.version + 1
        updates: dict[str, Any] = {"updated_at": now, "version": version, **fields}
        event = build_event(
            ticket.id,
            TICKET_KIND,
            version,
            trigger,
            ticket.status,
            ticket.status,
            actor,
            now,
            payload,
            json_changes(updates),
        )
        return trusted(Ticket, {**ticket.__dict__, **updates}), event

    # ------------------------------------------------------------------ deciding

    def decide(
        self,
        ticket: Ticket,
        trigger: str,
        actor: str,
        payload: Mapping[str, Any] | None,
        now: datetime,
    ) -> tuple[Ticket, Event]:
        """The ticket after ``trigger`` and the event that records it, not yet committed."""
        actor = check_text("actor", actor)
        known = type(trigger) is str and trigger in self._triggers
        if not known:
            check_text("trigger", trigger)
        if payload is not None and not isinstance(payload, Mapping):
            raise InvalidInput("payload", [FieldError(("payload",), "must be a mapping")])
        workflow = self.workflow
        if payload or not known:
            parsed = workflow.parse_payload(trigger, payload) if known else None
            if parsed is None:
                recorded = dict(payload or {})
            else:
                recorded = parsed.model_dump(mode="json", exclude_none=True)
        else:
            # no payload (most fires): what the two branches above make of it depends on
            # the trigger only, kept per trigger; the recorded payload is a fresh copy
            empty = self._no_payload.get(trigger)
            if empty is None:
                parsed = workflow.parse_payload(trigger, payload)
                recorded = (
                    {} if parsed is None else parsed.model_dump(mode="json", exclude_none=True)
                )
                empty = self._no_payload[trigger] = (parsed, recorded)
            parsed = empty[0]
            recorded = dict(empty[1])
        if payload:
            self._check_payload_size(recorded)
        # the ticket's fields read from its __dict__ once: each attribute read on a
        # pydantic model goes through its __getattr__ hook
        values = ticket.__dict__
        ticket_id = values["id"]
        status = values["status"]
        old_category = values["status_category"]
        move = workflow.decide(
            TransitionContext(ticket, ticket_id, status, trigger, parsed, actor, now, self.settings)
        )
        version = values["version"] + 1
        updates = move.updates
        category = move.category
        if category is not old_category:
            self._on_new_category(ticket, trigger, category, updates, now)
        if "category" in updates or "priority" in updates:
            self.vocabulary.check_updates(updates)
        changes = json_changes(updates) if updates else {}
        dest = updates["status"] = changes["status"] = move.dest
        updates["status_category"] = category
        changes["status_category"] = _CATEGORY_TEXT[category]
        updates["updated_at"] = now
        changes["updated_at"] = at_text = iso_text(now)
        updates["version"] = changes["version"] = version
        changed = trusted(Ticket, {**values, **updates})
        event = build_event(
            ticket_id,
            TICKET_KIND,
            version,
            trigger,
            status,
            dest,
            actor,
            now,
            recorded,
            changes,
        )
        if (
            values["first_response_at"] is None
            and category is not old_category
            and self.meets_first_response(event)
        ):
            changes["first_response_at"] = at_text
            changed.__dict__["first_response_at"] = now  # not shared yet: no second copy
        return changed, event

    def meets_first_response(self, event: Event) -> bool:
        """Whether ``event`` is the ticket's first response, by the rule the SLA
        first-response metric follows (the policy's ``first_response_met_by``)."""
        return meets_first_response(
            event, category_of=self.workflow.category_of, met_by=self.first_response_met_by
        )

    def _on_new_category(
        self,
        ticket: Ticket,
        trigger: str,
        category: StatusCategory,
        updates: dict[str, Any],
        now: datetime,
    ) -> None:
        """What entering another status category implies, whatever the workflow: the
        waiting-on-customer timer, and no closing a parent whose children are open."""
        if category is _WAITING_ON_CUSTOMER:
            if self._customer_wait is not None and "due_at" not in updates:
                updates["due_at"] = now + self._customer_wait
        elif (
            ticket.__dict__["status_category"] is _WAITING_ON_CUSTOMER
            and ticket.__dict__["due_at"] is not None
            and "due_at" not in updates
        ):
            updates["due_at"] = None
        if category is _CLOSED and not self.settings.close_parent_with_open_children:
            self._refuse_open_children(ticket, trigger)

    def _refuse_open_children(self, ticket: Ticket, trigger: str) -> None:
        children = self.store.find(TicketQuery(parent_id=ticket.id, limit=10_000))
        open_children = [child for child in children if not child.is_closed]
        if not open_children:
            return
        numbers = ", ".join(child.display_number for child in open_children[:10])
        raise TransitionRefused(
            subject_id=ticket.id,
            label=f"ticket {ticket.display_number}",
            trigger=trigger,
            state=ticket.status,
            allowed=self.workflow.allowed_triggers(ticket.status),
            refusal=Refusal(
                code="children_open",
                message=f"its child tickets {numbers} are still open; close them first",
                message_zh=f"子工单 {numbers} 尚未关闭，请先关闭子工单",
                params={"children": [child.id for child in open_children]},
            ),
        )

    def _check_payload_size(self, recorded: Mapping[str, Any]) -> None:
        limit = self.settings.max_payload_bytes
        # A flat payload of short values is under any limit a desk sets without encoding it
        # (each character takes at most 6 bytes of JSON, escaped; each key and its quotes,
        # colon and comma fewer than 8 more): the common case costs no json.dumps.
        bound = 2
        for key, value in recorded.items():
            if type(value) is str:
                bound += 6 * (len(key) + len(value)) + 8
            elif value is None or type(value) in (int, bool, float):
                bound += 6 * len(key) + 32
            elif type(value) in (list, tuple) and all(type(item) is str for item in value):
                bound += 6 * (len(key) + sum(map(len, value))) + 8 * len(value) + 8
            else:
                bound = limit + 1  # nested or other values: measure them
                break
        if bound <= limit:
            return
        size = len(json.dumps(recorded, default=str, ensure_ascii=False).encode())
        if size > limit:
            raise InvalidInput(
                "payload",
                [FieldError(("payload",), f"{size} bytes of JSON; at most {limit} allowed")],
            )
