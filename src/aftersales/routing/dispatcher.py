"""Routing orchestration of a desk: classify a new ticket, assign it (or queue it on its
team), and drain the queues as agents free up.

The dispatcher decides with the desk's classifier and router and records each step as a
ticket transition through a ``transition`` callable the desk gives it, so this module
depends on no store and no write pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models import Severity, StatusCategory, Ticket
from aftersales.routing._text import has_cjk
from aftersales.routing.assign import Assignment, Router, RouteRequest
from aftersales.routing.classify import Classifier, InquiryContext

__all__ = ["Dispatcher"]

_MAX_CONTACTS = 1_000_000
_QUEUE_STATE = "classified"
"""The state of the shipped workflow where a classified ticket waits for an agent."""


class TicketDesk(Protocol):
    """What the dispatcher needs of the desk's tickets."""

    def get(self, ticket: str | int) -> Ticket: ...

    def tier(self, customer_id: str) -> str | None: ...

    def count(self, **filters: Any) -> int:
        """How many tickets match ``filters`` (TicketQuery fields, ``limit`` included)."""
        ...

    def queued(self) -> list[Ticket]:
        """Tickets in the queue state, oldest first (at most 10,000)."""
        ...


Transition = Callable[[Ticket, str, str, Mapping[str, Any]], Ticket]
"""Fire a trigger on a ticket as an actor with a payload and commit it."""


class Dispatcher:
    """Classifies and assigns a desk's tickets."""

    __slots__ = ("_now", "_transition", "classifier", "initial", "router", "states", "tickets")

    def __init__(
        self,
        *,
        classifier: Classifier | None,
        router: Router | None,
        initial: str,
        states: frozenset[str],
        tickets: TicketDesk,
        transition: Transition,
        now: Callable[[], datetime],
    ) -> None:
        self.classifier = classifier
        self.router = router
        self.initial = initial
        self.states = states
        self.tickets = tickets
        self._transition = transition
        self._now = now

    def route(
        self, ticket_id: str, previous_contacts: int | None = None, more_text: str = ""
    ) -> Ticket:
        """Classify a new ticket and assign it, each as a transition with its event; a
        ticket nobody can take now is queued on its team. ``more_text`` is read with the
        subject and description (what the customer said since)."""
        if previous_contacts is not None and (
            type(previous_contacts) is not int or not 0 <= previous_contacts <= _MAX_CONTACTS
        ):
            raise InvalidInput(
                "route",
                [FieldError(("previous_contacts",), f"must be an int from 0 to {_MAX_CONTACTS:,}")],
            )
        ticket = self.tickets.get(ticket_id)
        tier = self.tickets.tier(ticket.customer_id)
        if ticket.status == self.initial:
            if self.classifier is None:
                raise InvalidInput(
                    "route", [FieldError(("classifier",), "this desk has no classifier")]
                )
            contacts = previous_contacts
            if contacts is None:
                contacts = max(self.tickets.count(customer_id=ticket.customer_id, limit=100) - 1, 0)
            result = self.classifier.classify(
                # what was said since goes before the description: a classifier reads
                # a bounded opening, and a long description would push it out
                "\n".join(part for part in (ticket.subject, more_text, ticket.description) if part),
                InquiryContext(
                    channel=ticket.channel, customer_tier=tier, previous_contacts=contacts
                ),
            )
            ticket = self._transition(
                ticket,
                "classify",
                "classifier",
                {
                    "category": result.category,
                    "severity": result.severity,
                    "confidence": result.confidence,
                    "evidence": result.evidence[:50],
                },
            )
        if self.router is None:
            return ticket
        assignment = self.assignment(ticket, tier)
        if assignment.agent is None:
            if ticket.team == assignment.team and ticket.status == _QUEUE_STATE:
                return ticket  # already waiting in that queue: nothing new to record
            return self._transition(
                ticket,
                "queue",
                "router",
                {"team": assignment.team, "rule": assignment.rule, "reason": assignment.reason},
            )
        # the rule and the reason say why this agent: a report or a timeline can show it
        return self._transition(
            ticket,
            "assign",
            "router",
            {
                "assignee": assignment.agent,
                "team": assignment.team,
                "rule": assignment.rule,
                "reason": assignment.reason,
            },
        )

    def assignment(self, ticket: Ticket, tier: str | None) -> Assignment:
        """Who should take ``ticket`` now, given every agent's load."""
        assert self.router is not None
        request = RouteRequest(
            category=ticket.category or "other",
            severity=ticket.severity or Severity.MEDIUM,
            channel=ticket.channel,
            language="zh" if has_cjk(ticket.subject + ticket.description) else "en",
            tier=tier,
            escalated=ticket.escalation_level > 0,
        )
        loads = {agent.id: self.load(agent.id) for agent in self.router.config.agents}
        return self.router.route(request, loads, self._now())

    def load(self, agent_id: str) -> int:
        """Open tickets an agent holds, counted only where the SLA runs (not waiting)."""
        return self.tickets.count(
            assignee=agent_id, status_category=StatusCategory.OPEN, limit=10_000
        )

    def drain_queue(self) -> tuple[str, ...]:
        """Assign queued tickets, oldest first, while agents have room; returns their ids."""
        if self.router is None or _QUEUE_STATE not in self.states:
            return ()  # a custom workflow without the shipped queue state queues nothing
        assigned = []
        full: set[str] = set()
        for ticket in self.tickets.queued():
            if ticket.team is None or ticket.assignee is not None or ticket.team in full:
                continue
            routed = self.route(ticket.id)
            if routed.assignee is None:
                full.add(ticket.team)  # nobody free there: later tickets of the team wait too
                continue
            assigned.append(routed.id)
        return tuple(assigned)
