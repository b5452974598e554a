"""The automations' own events (``fields_set``, ``rule_due``, ``automation_stopped``,
``macro_applied``), committed through the ticket's and the case's write path with the
version check: decided on what is stored, decided again after a lost race."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aftersales._pipeline import fire_with_retries
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models import Case, Event, Ticket
from aftersales.models.events import FIELDS_SET, TICKET_KIND

if TYPE_CHECKING:
    from aftersales.desk import Desk

__all__ = ["record_on_case", "record_on_subject", "record_on_ticket"]

Decide = Callable[[Any], "dict[str, Any] | None"]
"""Given the subject as read, the fields the event changes ({} for none), or None to
record nothing."""


def _record_with_retries(
    subject_id: str,
    recent: dict[str, Any],
    read: Callable[[str], Any],
    decide: Decide,
    commit: Callable[[Any, dict[str, Any]], tuple[Any, Event]],
) -> Event | None:
    """Decide on the subject as read and ``commit`` the fields, decided again after a
    lost race; the event recorded, if one was."""
    recorded: list[Event] = []

    def record(subject: Any) -> Any:
        updates = decide(subject)
        if updates is None:
            return subject
        changed, event = commit(subject, updates)
        recorded.append(event)
        return changed

    fire_with_retries(
        subject_id, recent=recent, read=read, transition=record, expected_version=None
    )
    return recorded[-1] if recorded else None


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

    def commit(ticket: Ticket, updates: dict[str, Any]) -> tuple[Ticket, Event]:
        if "priority" in updates or "category" in updates:
            core.vocabulary.check_updates(updates)
        if len(updates.get("tags", ())) > core.settings.max_tags:
            raise InvalidInput(
                "tags", [FieldError(("tags",), f"at most {core.settings.max_tags} tags")]
            )
        now = core.now()
        given = {**payload, "fields": sorted(updates)} if trigger == FIELDS_SET else payload
        changed, event = core.recorded(ticket, trigger, given, updates, now, actor)
        if core.sla is not None and updates:
            changed = core.sla.with_sla(changed, event, now)
        core.commit(changed, ticket.version, (event,))
        return changed, event

    return _record_with_retries(ticket_id, desk._recent, desk.get, decide, commit)


def record_on_case(
    desk: Desk, case_id: str, trigger: str, payload: dict[str, Any], decide: Decide, actor: str
) -> Event | None:
    """Record a ``trigger`` event on the case (see :func:`record_on_ticket`)."""
    cases = desk.cases

    def commit(case: Case, updates: dict[str, Any]) -> tuple[Case, Event]:
        change = cases._change(case, trigger, actor, desk.pipeline.now(), dict(updates), payload)
        cases._commit([change])
        return change.case, change.events[-1]

    return _record_with_retries(case_id, cases._recent, cases.get, decide, commit)


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
