"""The automations' own events (``fields_set``, ``rule_due``, ``automation_stopped``,
``macro_applied``), committed through the ticket's and the case's write path with the
version check: decided on what is stored, decided again after a lost race."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aftersales._pipeline import fire_with_retries
from aftersales._validation import json_changes
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models import Case, Event, Ticket
from aftersales.models._base import trusted
from aftersales.models.events import FIELDS_SET, TICKET_KIND, build_event

if TYPE_CHECKING:
    from aftersales.desk import Desk

__all__ = ["record_on_case", "record_on_subject", "record_on_ticket"]

Decide = Callable[[Any], "dict[str, Any] | None"]
"""Given the subject as read, the fields the event changes ({} for none), or None to
record nothing."""


def record_on_ticket(
    desk: Desk,
    ticket_id: str,
    trigger: str,
    payload: dict[str, Any],
    decide: Decide,
    actor: str,
) -> Event | None:
    """Record a ``trigger`` event on the ticket with the fields ``decide`` answers
    (the state does not move); the event recorded, if one was."""
    core = desk._core
    recorded: list[Event] = []

    def record(ticket: Ticket) -> Ticket:
        updates = decide(ticket)
        if updates is None:
            return ticket
        if "priority" in updates or "category" in updates:
            core.vocabulary.check_updates(updates)
        if len(updates.get("tags", ())) > core.settings.max_tags:
            raise InvalidInput(
                "tags", [FieldError(("tags",), f"at most {core.settings.max_tags} tags")]
            )
        now = core.now()
        version = ticket.version + 1
        changes = {"updated_at": now, "version": version, **updates}
        given = {**payload, "fields": sorted(updates)} if trigger == FIELDS_SET else payload
        event = build_event(
            ticket.id,
            TICKET_KIND,
            version,
            trigger,
            ticket.status,
            ticket.status,
            actor,
            now,
            given,
            json_changes(changes),
        )
        changed = trusted(Ticket, {**ticket.__dict__, **changes})
        if core.sla is not None and updates:
            changed = core.sla.with_sla(changed, event, now)
        core.commit(changed, ticket.version, (event,))
        recorded.append(event)
        return changed

    fire_with_retries(
        ticket_id, recent=desk._recent, read=desk.get, transition=record, expected_version=None
    )
    return recorded[-1] if recorded else None


def record_on_case(
    desk: Desk, case_id: str, trigger: str, payload: dict[str, Any], decide: Decide, actor: str
) -> Event | None:
    """Record a ``trigger`` event on the case (see :func:`record_on_ticket`)."""
    cases = desk.cases
    recorded: list[Event] = []

    def record(case: Case) -> Case:
        updates = decide(case)
        if updates is None:
            return case
        change = cases._change(case, trigger, actor, desk.pipeline.now(), dict(updates), payload)
        cases._commit([change])
        recorded.append(change.events[-1])
        return change.case

    fire_with_retries(
        case_id, recent=cases._recent, read=cases.get, transition=record, expected_version=None
    )
    return recorded[-1] if recorded else None


def record_on_subject(
    desk: Desk,
    kind: str,
    subject_id: str,
    trigger: str,
    payload: dict[str, Any],
    decide: Decide,
    actor: str = "system",
) -> Event | None:
    """Record on a ticket or a case of any kind (see :func:`record_on_ticket`)."""
    if kind == TICKET_KIND:
        return record_on_ticket(desk, subject_id, trigger, payload, decide, actor)
    return record_on_case(desk, subject_id, trigger, payload, decide, actor)
