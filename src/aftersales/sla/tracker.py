"""SLA tracking of a desk's tickets: the rule in force and the next checkpoint recorded
with each change, the warning and breach events (with escalation) when a checkpoint
comes due, a ticket's status now, and compliance reports.

The tracker computes; the desk's write path commits what it returns (it receives a
``commit`` callable), so this module depends on no store and no pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import attrs

from aftersales._validation import json_changes, json_value
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models import Event, Priority, Ticket
from aftersales.models._base import trusted
from aftersales.models.events import (
    SLA_BREACHED,
    SLA_RESCHEDULED,
    SLA_WARNING,
    TICKET_KIND,
    build_event,
)
from aftersales.models.ticket import SLAOutcome, StatusCategory
from aftersales.sla.policy import Metric, MetricState, SLAPolicy, SLAStatus

__all__ = ["SLAReportRow", "SLATracker", "sla_marks"]

_REPORT_PAGE = 1000
_GROUPS = ("priority", "channel", "team", "metric")

_MARKED = (
    (Metric.FIRST_RESPONSE, "sla_first_response", "first_response_business_seconds"),
    (Metric.RESOLUTION, "sla_resolution", "resolution_business_seconds"),
)
_OUTCOMES = {
    MetricState.MET: SLAOutcome.MET,
    MetricState.BREACHED: SLAOutcome.BREACHED,
    MetricState.RUNNING: SLAOutcome.PENDING,
    MetricState.PAUSED: SLAOutcome.PENDING,
    MetricState.WARNING: SLAOutcome.PENDING,
}


def sla_marks(ticket: Ticket, status: SLAStatus) -> dict[str, Any]:
    """The ticket's SLA outcome fields (``sla_first_response``,
    ``first_response_business_seconds``, ``sla_resolution``,
    ``resolution_business_seconds``) that ``status`` changes: what reports count
    compliance and business-hours durations by, kept on the ticket as each change
    computes them anyway."""
    marks: dict[str, Any] = {}
    for metric, outcome_field, seconds_field in _MARKED:
        measured = status.metrics.get(metric)
        outcome = None if measured is None else _OUTCOMES[measured.state]
        seconds = (
            None
            if measured is None or measured.met_ts is None
            else int(max(measured.used_seconds, 0.0))
        )
        if getattr(ticket, outcome_field) != outcome:
            marks[outcome_field] = outcome
        if getattr(ticket, seconds_field) != seconds:
            marks[seconds_field] = seconds
    return marks


@attrs.frozen
class SLAReportRow:
    """SLA compliance of one group for one metric over a period."""

    group: str
    metric: Metric
    met: int
    breached: int
    running: int

    @property
    def compliance(self) -> float | None:
        """Met on time / (met on time + breached); None when nothing was decided."""
        decided = self.met + self.breached
        return None if decided == 0 else self.met / decided


class TicketLog(Protocol):
    """What the tracker reads: a ticket's events, a customer's tier, pages of tickets."""

    def events(self, ticket_id: str) -> list[Event]: ...

    def tier(self, customer_id: str) -> str | None: ...

    def created_between(
        self, created_from: datetime, created_to: datetime, limit: int, offset: int
    ) -> Sequence[Ticket]: ...


Commit = Callable[[Ticket, int, Sequence[Event]], None]
"""Commit a ticket after a change, with the version read and its events."""


class SLATracker:
    """The SLA side of a desk with an SLA policy."""

    __slots__ = ("_category_of", "_commit", "_log", "_uses_tier", "policy")

    def __init__(
        self,
        policy: SLAPolicy,
        *,
        category_of: Callable[[str], StatusCategory],
        log: TicketLog,
        commit: Commit,
    ) -> None:
        self.policy = policy
        self._category_of = category_of
        self._log = log
        self._commit = commit
        self._uses_tier = any(rule.match.tier is not None for rule in policy.rules)

    def track(self, ticket: Ticket, events: Sequence[Event], now: datetime) -> SLAStatus:
        """Every metric of ``ticket`` at ``now`` from ``events`` (its history)."""
        tier = self._log.tier(ticket.customer_id) if self._uses_tier else None
        return self.policy.track(ticket, events, now, category_of=self._category_of, tier=tier)

    def status(self, ticket: Ticket, now: datetime) -> SLAStatus:
        """Every metric of a stored ticket at ``now``, computed from its stored history."""
        return self.track(ticket, self._log.events(ticket.id), now)

    def with_sla(
        self, changed: Ticket, event: Event, now: datetime, earlier: Sequence[Event] = ()
    ) -> Ticket:
        """Record the SLA rule in force and the next checkpoint with the change itself.
        ``earlier``: events of the same commit before ``event``, not stored yet."""
        first = earlier[0] if earlier else event
        history = [] if first.sequence == 1 else self._log.events(changed.id)
        status = self.track(changed, [*history, *earlier, event], now)
        extra: dict[str, Any] = {}
        checkpoint = status.next_checkpoint()
        if status.rule != changed.sla_rule:
            extra["sla_rule"] = status.rule
        if checkpoint != changed.sla_due_at:
            extra["sla_due_at"] = checkpoint
        extra.update(sla_marks(changed, status))
        if not extra:
            return changed
        event.changes.update(json_changes(extra))
        return trusted(Ticket, {**changed.__dict__, **extra})

    def step(self, ticket: Ticket, now: datetime) -> list[tuple[str, str, str]]:
        """Emit the warnings and breaches due on ``ticket`` by ``now`` (escalating as the
        policy says) and move its checkpoint; returns (ticket id, trigger, metric) of each
        warning or breach emitted."""
        events = self._log.events(ticket.id)
        status = self.track(ticket, events, now)
        emitted = {
            (e.trigger, e.payload.get("metric"), e.payload.get("started_at"))
            for e in events
            if e.trigger in (SLA_WARNING, SLA_BREACHED)
        }
        escalation = self.policy.escalation
        new_events: list[Event] = []
        fields: dict[str, Any] = {}
        version = ticket.version
        for metric, metric_status in status.metrics.items():
            if metric_status.state is MetricState.WARNING:
                trigger = SLA_WARNING
            elif metric_status.state is MetricState.BREACHED:
                trigger = SLA_BREACHED
            else:
                continue
            started = metric_status.started_at.isoformat()
            if (trigger, metric.value, started) in emitted:
                continue
            changes: dict[str, Any] = {}
            if trigger == SLA_BREACHED and escalation is not None and metric in escalation.on:
                changes["escalation_level"] = (
                    fields.get("escalation_level", ticket.escalation_level) + 1
                )
                if escalation.assignee is not None:
                    changes["assignee"] = escalation.assignee
                if escalation.team is not None:
                    changes["team"] = escalation.team
            version += 1
            changes.update(updated_at=now, version=version)
            fields.update(changes)
            payload = {
                "metric": metric.value,
                "started_at": started,
                "rule": status.rule,
                "due_at": metric_status.due_at.isoformat(),
                "used_seconds": metric_status.used_seconds,
            }
            new_events.append(_sla_event(ticket, trigger, version, now, payload, changes))
        checkpoint = status.next_checkpoint()
        marks = sla_marks(ticket, status)
        if checkpoint == ticket.sla_due_at and not new_events and not marks:
            return []
        if not new_events:
            version += 1
            fields.update(updated_at=now, version=version)
            changes = {"updated_at": now, "version": version}
            new_events.append(_sla_event(ticket, SLA_RESCHEDULED, version, now, {}, changes))
        fields["sla_due_at"] = checkpoint
        new_events[-1].changes["sla_due_at"] = json_value(checkpoint)
        fields.update(marks)
        new_events[-1].changes.update(json_changes(marks))
        changed = trusted(Ticket, {**ticket.__dict__, **fields})
        self._commit(changed, ticket.version, new_events)
        return [
            (ticket.id, e.trigger, e.payload.get("metric", ""))
            for e in new_events
            if e.trigger != SLA_RESCHEDULED
        ]

    @staticmethod
    def check_group(by: object) -> None:
        """InvalidInput unless ``by`` names a way to group a report."""
        if by not in _GROUPS:
            raise InvalidInput(
                "sla report", [FieldError(("by",), "must be priority, channel, team or metric")]
            )

    def report(
        self, *, created_from: datetime, created_to: datetime, by: str, now: datetime
    ) -> list[SLAReportRow]:
        """SLA compliance of the tickets created in [``created_from``, ``created_to``),
        per metric and per ``priority``, ``channel``, ``team`` or ``metric`` alone."""
        self.check_group(by)
        counts: dict[tuple[str, Metric], list[int]] = {}
        offset = 0
        while True:
            page = self._log.created_between(created_from, created_to, _REPORT_PAGE, offset)
            for ticket in page:
                status = self.status(ticket, now)
                priority = ticket.priority
                value = {
                    "priority": priority.value if isinstance(priority, Priority) else priority,
                    "channel": ticket.channel.value,
                    "team": ticket.team or "-",
                    "metric": "all",
                }[by]
                for metric, metric_status in status.metrics.items():
                    row = counts.setdefault((value, metric), [0, 0, 0])
                    if metric_status.state is MetricState.MET:
                        row[0] += 1
                    elif metric_status.state is MetricState.BREACHED:
                        row[1] += 1
                    else:
                        row[2] += 1
            if len(page) < _REPORT_PAGE:
                break
            offset += _REPORT_PAGE
        return [
            SLAReportRow(group, metric, *row)
            for (group, metric), row in sorted(
                counts.items(), key=lambda item: (item[0][0], list(Metric).index(item[0][1]))
            )
        ]


def _sla_event(
    ticket: Ticket,
    trigger: str,
    sequence: int,
    now: datetime,
    payload: dict[str, Any],
    changes: Mapping[str, Any],
) -> Event:
    return build_event(
        ticket.id,
        TICKET_KIND,
        sequence,
        trigger,
        ticket.status,
        ticket.status,
        "sla",
        now,
        payload,
        json_changes(changes),
    )
