"""What rules and macros do, through the desk's own commands (so permissions, the audit
chain and hooks apply), each action safe to run again when a delivery is retried."""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from aftersales.automations._model import (
    Action,
    AddNote,
    Assign,
    CallWebhook,
    Fire,
    OpenCase,
    Remind,
    Route,
    SendMessage,
    SetFields,
    SetPriority,
    Tags,
)
from aftersales.automations._records import record_on_ticket
from aftersales.exceptions import (
    CustomerNotFound,
    DeliveryFailed,
    FieldError,
    InvalidInput,
    TransitionError,
)
from aftersales.models import Event, Ticket
from aftersales.models.events import FIELDS_SET, TICKET_KIND
from aftersales.models.ticket import AuthorRole, MessageKind, Severity
from aftersales.notify._notification import Notification

if TYPE_CHECKING:
    from aftersales.desk import Desk
    from aftersales.security import Actor

__all__ = ["REMINDER_AUTHOR", "ActionRunner", "Outcome", "Renderer"]

REMINDER_AUTHOR = "reminder"
"""The author id of the internal notes ``remind`` adds."""

log = logging.getLogger("aftersales.automations")


class Renderer(Protocol):
    """What ``send_message`` renders with: :class:`aftersales.notify.templates.Templates`
    or anything with its ``render``."""

    def render(self, name: str, /, *, language: str | None = None, **context: Any) -> Any: ...


if TYPE_CHECKING:
    from aftersales.notify.templates import Templates

    def _templates_render(templates: Templates) -> Renderer:
        """Never called: ``mypy --strict src`` checks here that users can pass a
        :class:`~aftersales.notify.templates.Templates` as the renderer."""
        return templates


@attrs.frozen
class Outcome:
    """What one action did: ``done``, or ``skipped`` with the reason (a trigger the
    state no longer allows, a value already set, a retried delivery that did it before)."""

    index: int
    do: str
    status: str
    reason: str | None = None


class ActionRunner:
    """Runs actions on a subject of one desk, as one actor."""

    def __init__(
        self,
        desk: Desk,
        *,
        templates: Renderer | None,
        webhooks: Mapping[str, Callable[[Notification], object]],
    ) -> None:
        self.desk = desk
        self.templates = templates
        self.webhooks = dict(webhooks)

    # ------------------------------------------------------------------ running

    def run(
        self,
        actions: Sequence[Action],
        event: Event,
        *,
        actor: Actor,
        source: dict[str, Any],
        notification: Notification | None = None,
    ) -> list[Outcome]:
        """Do ``actions`` on the subject of ``event`` in order.

        With ``notification`` (a rule's delivery), each action is marked done in the
        store once done, so a retried delivery does not do it twice; a note or message
        also carries its mark (its ``external_id``) and a ``fields_set`` event its
        (``event``, the sequence of the event delivered, and ``action``, the action's
        index, in its payload), committed with it, so a delivery that died
        between the action's commit and its mark finds the action done all the same."""
        outcomes: list[Outcome] = []
        for index, action in enumerate(actions):
            marker = None
            if notification is not None:
                marker = _marker(notification.key, index)
                if self._done_before(action, index, marker, event, source, notification):
                    outcomes.append(Outcome(index, action.do, "skipped", "done before"))
                    continue
            reason = self._one(action, index, event, actor, source, notification, marker)
            if reason is None and marker is not None:
                self.desk.store.set_state(marker, "done")
            status = "done" if reason is None else "skipped"
            if reason is not None:
                log.info("%s: %s skipped on %s: %s", source, action.do, event.subject_id, reason)
            outcomes.append(Outcome(index, action.do, status, reason))
        return outcomes

    def _done_before(
        self,
        action: Action,
        index: int,
        marker: str,
        event: Event,
        source: dict[str, Any],
        notification: Notification,
    ) -> bool:
        """Whether an earlier attempt of this delivery did the action: its mark in the
        store, else (a retry only) the mark committed with the action itself."""
        store = self.desk.store
        if store.get_state(marker) is not None:
            return True
        if notification.attempts == 0:
            return False  # the first attempt: nothing done yet (saves the reads below)
        if isinstance(action, (AddNote, SendMessage, Remind)):
            mark = _message_mark(marker)
            ticket_id = self._ticket_id(event)
            return any(m.external_id == mark for m in store.messages(ticket_id))
        if isinstance(action, (SetPriority, Tags, SetFields)):
            ticket_id = self._ticket_id(event)
            done = {"event": event.sequence, "action": index, "rule": source.get("rule")}
            return any(
                e.trigger == FIELDS_SET and {k: e.payload.get(k) for k in done} == done
                for e in store.events(ticket_id)
            )
        return False

    def _ticket_id(self, event: Event) -> str:
        if event.subject_kind == TICKET_KIND:
            return event.subject_id
        return str(self.desk.cases.get(event.subject_id).ticket_id)

    def _one(
        self,
        action: Action,
        index: int,
        event: Event,
        actor: Actor,
        source: dict[str, Any],
        notification: Notification | None,
        marker: str | None,
    ) -> str | None:
        desk = self.desk
        if isinstance(action, Fire):
            return self._fire(action, event, actor)
        ticket_id = self._ticket_id(event)
        if isinstance(action, Assign):
            ticket = desk.get(ticket_id)
            if ticket.assignee == action.assignee and (action.team in (None, ticket.team)):
                return "assigned already"
            if "assign" not in desk.workflow.allowed_triggers(ticket.status):
                return f"assign is not allowed in {ticket.status}"
            desk.assign(ticket_id, assignee=action.assignee, team=action.team, actor=actor)
            return None
        if isinstance(action, Route):
            ticket = desk.get(ticket_id)
            if ticket.status != desk.workflow.initial:
                return f"routed already ({ticket.status})"
            desk.route(ticket_id)
            return None
        if isinstance(action, (SetPriority, Tags, SetFields)):
            given = source
            if notification is not None:  # which delivery's action: its done-mark
                given = {**source, "event": event.sequence, "action": index}
            changed = self.set_fields(ticket_id, _updates_of(action), given, actor)
            return None if changed else "set already"
        mark = None if marker is None else _message_mark(marker)
        if isinstance(action, AddNote):
            desk.add_message(
                ticket_id,
                action.text,
                author_id=_actor_id(actor),
                author_role=_role(notification),
                kind=MessageKind.INTERNAL_NOTE,
                external_id=mark,
            )
            return None
        if isinstance(action, SendMessage):
            self._send(action, ticket_id, event, actor, notification, mark)
            return None
        if isinstance(action, CallWebhook):
            webhook = self.webhooks[action.webhook]
            webhook(notification or _notification(event, f"macro:{source.get('macro')}"))
            return None
        if isinstance(action, OpenCase):
            self._open_case(action, ticket_id, actor)
            return None
        self._remind(action, ticket_id, notification, mark)
        return None

    def _fire(self, action: Fire, event: Event, actor: Actor) -> str | None:
        desk = self.desk
        kind = event.subject_kind
        if kind == TICKET_KIND:
            subject: Any = desk.get(event.subject_id)
            allowed = desk.workflow.allowed_triggers(subject.status)
        else:
            subject = desk.cases.get(event.subject_id)
            allowed = desk.cases.spec(kind).workflow.allowed_triggers(subject.status)
        if action.trigger not in allowed:
            return f"{action.trigger} is not allowed in {subject.status}"
        payload = action.payload
        try:
            if kind == TICKET_KIND:
                desk.fire(event.subject_id, action.trigger, actor=actor, payload=payload)
            else:
                desk.cases.fire(event.subject_id, action.trigger, actor=actor, payload=payload)
        except TransitionError as error:
            return f"{action.trigger} refused: {error}"
        return None

    def _send(
        self,
        action: SendMessage,
        ticket_id: str,
        event: Event,
        actor: Actor,
        notification: Notification | None,
        mark: str | None,
    ) -> None:
        desk = self.desk
        if self.templates is None:
            raise InvalidInput("send_message", [FieldError(("template",), "no templates")])
        ticket = desk.get(ticket_id)
        try:
            customer: Any = desk.get_customer(ticket.customer_id)
        except CustomerNotFound:
            customer = None
        context: dict[str, Any] = {
            "ticket": ticket,
            "customer": customer,
            "event": event,
            "about": f"Ticket {ticket.display_number}",
        }
        if event.subject_kind != TICKET_KIND:
            context["case"] = desk.cases.get(event.subject_id)
        rendered = self.templates.render(
            action.template,
            language=None if customer is None else customer.language,
            **{**context, **action.context},
        )
        desk.add_message(
            ticket_id,
            str(rendered.body),
            author_id=_actor_id(actor),
            author_role=_role(notification),
            kind=MessageKind.PUBLIC_REPLY,
            external_id=mark,
        )

    def _open_case(self, action: OpenCase, ticket_id: str, actor: Actor) -> None:
        cases = self.desk.cases
        fields: dict[str, Any] = dict(action.fields)
        opener = cases.spec(action.kind).opener
        if opener is not None and "actor" in inspect.signature(opener).parameters:
            fields.setdefault("actor", _actor_id(actor))
        cases.open(action.kind, ticket_id, **fields)

    def _remind(
        self,
        action: Remind,
        ticket_id: str,
        notification: Notification | None,
        mark: str | None,
    ) -> None:
        # A reminder waits on its own outbox row: until its time, the delivery asks to
        # be retried then (the actions before it are marked done and not done again).
        if notification is None:
            raise InvalidInput("remind", [FieldError(("do",), "remind is for rules, not macros")])
        due = notification.created_at + timedelta(hours=action.after_hours)
        wait = (due - self.desk.pipeline.now()).total_seconds()
        if wait > 0:
            raise DeliveryFailed(f"reminder due at {due.isoformat()}", retry_after=wait)
        self.desk.add_message(
            ticket_id,
            action.note,
            author_id=REMINDER_AUTHOR,
            author_role=AuthorRole.SYSTEM,
            kind=MessageKind.INTERNAL_NOTE,
            external_id=mark,
        )

    # ------------------------------------------------------------------ fields

    def set_fields(
        self,
        ticket_id: str,
        updates_of: Callable[[Ticket], dict[str, Any]],
        source: dict[str, Any],
        actor: Actor,
    ) -> bool:
        """Record a ``fields_set`` event with what ``updates_of`` changes on the ticket
        (nothing when it changes nothing); True when it recorded one."""

        def decide(ticket: Ticket) -> dict[str, Any] | None:
            return updates_of(ticket) or None

        event = record_on_ticket(self.desk, ticket_id, FIELDS_SET, source, decide, _actor_id(actor))
        return event is not None


def _updates_of(action: SetPriority | Tags | SetFields) -> Callable[[Ticket], dict[str, Any]]:
    """What the action changes on a ticket (only what differs)."""

    def updates(ticket: Ticket) -> dict[str, Any]:
        wanted: dict[str, Any]
        if isinstance(action, SetPriority):
            wanted = {"priority": action.priority}
        elif isinstance(action, SetFields):
            wanted = {str(key): value for key, value in action.fields.items()}
        elif action.do == "add_tags":
            tags = ticket.tags + tuple(
                t for t in dict.fromkeys(action.tags) if t not in ticket.tags
            )
            wanted = {"tags": tags}
        else:
            wanted = {"tags": tuple(t for t in ticket.tags if t not in action.tags)}
        if "severity" in wanted:
            wanted["severity"] = Severity(wanted["severity"])
        current = ticket.__dict__
        return {
            key: value
            for key, value in wanted.items()
            if getattr(current.get(key), "value", current.get(key))
            != getattr(value, "value", value)
        }

    return updates


def _marker(key: str, index: int) -> str:
    """The store's state key marking action ``index`` of the delivery ``key`` done (a
    digest when the key would pass the 255 characters a state key may have)."""
    marker = f"automations:{key}:{index}"
    if len(marker) <= 255:
        return marker
    return f"automations:{hashlib.sha256(marker.encode()).hexdigest()}"


def _message_mark(marker: str) -> str:
    """The ``external_id`` of a message an action posts: its done-mark, committed with
    the message (at most 200 characters, as an external id may have)."""
    return f"automation:{hashlib.sha256(marker.encode()).hexdigest()[:48]}"


def _role(notification: Notification | None) -> AuthorRole:
    """Who wrote an action's message: a rule's is the system's (an automatic reply is
    not the ticket's first response, as the SLA counts it), a macro's is the agent's
    who applied it."""
    return AuthorRole.AGENT if notification is None else AuthorRole.SYSTEM


def _actor_id(actor: Actor) -> str:
    return actor if isinstance(actor, str) else str(actor.id)


def _notification(event: Event, handler: str) -> Notification:
    return Notification(Notification.key_for(event, handler), handler, event, event.at, event.at)
