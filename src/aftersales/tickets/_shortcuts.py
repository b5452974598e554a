"""Typed wrappers over :meth:`aftersales.Desk.fire` for the shipped ticket triggers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aftersales._validation import acting
from aftersales.models import Priority, Severity, Ticket
from aftersales.security import Actor


class TicketShortcuts:
    """``desk.classify(...)``, ``desk.assign(...)``... as ``desk.fire`` with a payload."""

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
        raise NotImplementedError  # pragma: no cover - Desk.fire

    @acting
    def classify(
        self,
        ticket_id: str,
        *,
        category: str,
        severity: Severity | str,
        priority: Priority | str | None = None,
        actor: Actor = "system",
    ) -> Ticket:
        """Record the problem's category and severity (and priority, else implied)."""
        payload = {"category": category, "severity": severity, "priority": priority}
        return self.fire(ticket_id, "classify", actor=actor, payload=payload)

    @acting
    def assign(
        self, ticket_id: str, *, assignee: str, team: str | None = None, actor: Actor = "system"
    ) -> Ticket:
        """Give the ticket to ``assignee`` (and ``team``)."""
        payload = {"assignee": assignee, "team": team}
        return self.fire(ticket_id, "assign", actor=actor, payload=payload)

    @acting
    def resolve(self, ticket_id: str, *, resolution: str, actor: Actor = "system") -> Ticket:
        """Record the resolution; the customer confirms it or it auto-closes later."""
        return self.fire(ticket_id, "resolve", actor=actor, payload={"resolution": resolution})

    @acting
    def escalate(
        self,
        ticket_id: str,
        *,
        reason: str,
        assignee: str | None = None,
        team: str | None = None,
        actor: Actor = "system",
    ) -> Ticket:
        """Raise the escalation level, record why, optionally hand the ticket over."""
        payload = {"reason": reason, "assignee": assignee, "team": team}
        return self.fire(ticket_id, "escalate", actor=actor, payload=payload)

    @acting
    def cancel(self, ticket_id: str, *, reason: str, actor: Actor = "system") -> Ticket:
        """Cancel an open ticket."""
        return self.fire(ticket_id, "cancel", actor=actor, payload={"reason": reason})
