"""The records :func:`aftersales.demo.run_demo` answers with, one per section of
``aftersales demo``: plain values, so the command (or a test) can show them as it likes."""

from __future__ import annotations

from datetime import datetime

import attrs

from aftersales.models import Channel, Ticket

__all__ = [
    "DemoResult",
    "Kpis",
    "Numbering",
    "PolicyStory",
    "Routed",
    "SlaStory",
    "Surveyed",
    "TimelineEntry",
]


@attrs.frozen
class TimelineEntry:
    """One event of the run, for ``aftersales demo --timeline``."""

    at: datetime
    ticket: str
    what: str
    detail: str = ""


@attrs.frozen
class Numbering:
    """Why this run's ticket numbers are what they are."""

    round: int
    tickets_before: int
    """Tickets the store held before this run."""
    first: int
    last: int
    expected_first: int
    """The number after the store's highest one: ``first`` when no number was skipped."""


@attrs.frozen
class Routed:
    """One inquiry: what the customer wrote, how it was classified and where it went."""

    ticket: str
    channel: Channel
    customer: str
    text: str
    at: datetime
    category: str
    severity: str
    confidence: float
    evidence: tuple[str, ...]
    team: str
    agent: str | None
    rule: str
    reason: str


@attrs.frozen
class SlaStory:
    """A ticket's first-response target and how it went."""

    ticket: str
    rule: str
    target_minutes: int
    due_at: datetime
    met_at: datetime | None
    warned_at: datetime | None
    breached_at: datetime | None
    escalated_to: str | None


@attrs.frozen
class PolicyStory:
    """The return: the policy's decision, explained, and the refund it led to; and the
    same claim a day after the window, refused."""

    ticket: str
    outcome: str
    policy: str
    explain_en: str
    explain_zh: str
    window_last_day: str
    return_shipping_paid_by: str
    refund_amount: str
    refund_due_by: str
    refund_status: str
    refund_reference: str
    late_outcome: str
    late_explain_en: str
    late_explain_zh: str


@attrs.frozen
class Surveyed:
    """A survey sent after a resolution and its answer."""

    ticket: str
    survey: str
    language: str
    question: str
    score: int
    scale: int


@attrs.frozen
class Kpis:
    """The round's key figures, from :func:`aftersales.insights.build_report`."""

    created: int
    resolved: int
    first_response_median_seconds: float | None
    resolution_median_seconds: float | None
    first_response_met: int
    first_response_breached: int
    first_response_compliance: float | None
    csat: float | None
    survey_answers: int
    survey_mean: float | None


@attrs.frozen
class DemoResult:
    """What one run of the demo did, section by section."""

    numbering: Numbering
    started: datetime
    routed: tuple[Routed, ...]
    sla: tuple[SlaStory, ...]
    sla_events: tuple[tuple[datetime, str, str, str], ...]
    """(when, ticket, ``sla_warning`` or ``sla_breached``, metric) as ``run_due`` recorded."""
    policy: PolicyStory
    surveys: tuple[Surveyed, ...]
    kpis: Kpis
    timeline: tuple[TimelineEntry, ...]
    tickets: tuple[Ticket, ...]
    total_tickets: int
