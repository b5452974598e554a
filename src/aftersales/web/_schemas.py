"""The bodies the web API reads and the JSON it answers with, as pydantic models with
examples for its OpenAPI document.

Request bodies check only their shape here; the desk validates their values (a channel it
knows, a trigger its workflow has...) and refuses with :class:`~aftersales.InvalidInput`,
so a rule lives in one place and the API answers as the library does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aftersales.models import Channel, Ticket

__all__ = [
    "AnswerBody",
    "CaseBody",
    "CaseView",
    "FireBody",
    "MessageBody",
    "MetricView",
    "ReportBody",
    "ReportView",
    "SLAView",
    "SurveyAnswered",
    "TicketBody",
    "TicketPage",
]

_TEXT = 100_000
"""The longest free text a body takes; the desk's own limits are tighter."""


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(examples)})


class TicketBody(BaseModel):
    """A new inquiry. A customer principal opens tickets for itself: ``customer`` may be
    left out, and naming another customer is refused."""

    model_config = _examples(
        {
            "customer": "cust-42",
            "channel": "wechat",
            "subject": "扫地机器人无法充电",
            "description": "The robot does not charge since yesterday.",
            "order_line": {"order_id": "o-1001", "line_id": "1", "sku": "ROBO-S7"},
        }
    )

    customer: str | None = Field(None, description="the customer's id")
    channel: Channel = Field(description="where the inquiry arrived")
    subject: str = Field(max_length=_TEXT)
    description: str = Field("", max_length=_TEXT)
    order_line: dict[str, Any] | None = Field(None, description="the order line it is about")
    priority: str | None = Field(None, description="one of the desk's priorities")
    tags: list[str] = Field(default_factory=list, max_length=100)
    parent_id: str | None = None
    follow_up_of: str | None = None


class TicketPage(BaseModel):
    """One page of tickets, oldest first. ``next_cursor`` is the ``after`` of the next
    page (``next_offset`` its ``offset``), None on the last one. Tickets the principal may
    not see are left out of a page, so a page may hold fewer than ``limit`` and still have
    a next one."""

    items: list[Ticket]
    next_cursor: str | None
    next_offset: int | None


class MessageBody(BaseModel):
    """A message on a ticket, written by the principal (its id is the author)."""

    model_config = _examples(
        {"body": "Please try the charging contacts first.", "kind": "public_reply"},
        {"body": "Customer called twice already.", "kind": "internal_note"},
    )

    body: str = Field(max_length=_TEXT)
    kind: Literal["public_reply", "internal_note"] = "public_reply"
    channel: Channel | None = Field(None, description="default: the ticket's channel")


class FireBody(BaseModel):
    """A trigger of the subject's workflow, with its payload. With ``expected_version``,
    a subject changed since that version is refused (409) and nothing is written."""

    model_config = _examples(
        {"trigger": "classify", "payload": {"category": "repair_warranty", "severity": "medium"}},
        {"trigger": "assign", "payload": {"assignee": "li.wei", "team": "repairs"}},
        {"trigger": "start", "expected_version": 3},
        {"trigger": "resolve", "payload": {"resolution": "Charging contacts cleaned"}},
    )

    trigger: str = Field(max_length=128)
    payload: dict[str, Any] | None = None
    expected_version: int | None = None


class CaseBody(BaseModel):
    """A new case on a ticket: ``fields`` are the keywords of the kind's opener (see
    ``desk.cases.open``); the principal is its actor."""

    model_config = _examples(
        {
            "ticket_id": "0f8e1c2d9a7b4e3f8c1d2e3f4a5b6c7d",
            "fields": {"summary": "The courier was rude", "severity": "high"},
        },
        {
            "ticket_id": "0f8e1c2d9a7b4e3f8c1d2e3f4a5b6c7d",
            "fields": {
                "address": "88 Nanjing Road, Shanghai",
                "window_start": "2026-03-03T09:00:00+08:00",
                "window_end": "2026-03-03T12:00:00+08:00",
                "purpose": "installation",
            },
        },
    )

    ticket_id: str = Field(description="the ticket's id or number")
    fields: dict[str, Any] = Field(default_factory=dict)


class CaseView(BaseModel):
    """An after-sales case as the library writes it (``Case.model_dump(mode="json")``);
    the fields of its kind (``refund``, ``repair``, ``logistics``...) come beside these."""

    model_config = ConfigDict(extra="allow")

    id: str
    kind: str
    workflow: str
    status: str
    status_category: str
    version: int
    ticket_id: str
    customer_id: str | None = None
    order_id: str | None = None
    lines: list[dict[str, Any]] = Field(default_factory=list)
    details: dict[str, Any] | None = None
    step_due_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None


class MetricView(BaseModel):
    """One SLA metric of a ticket: its state, times, and business seconds used and
    paused."""

    state: Literal["running", "paused", "warning", "breached", "met"]
    started_at: datetime
    due_at: datetime
    warning_at: datetime | None
    met_at: datetime | None
    used_seconds: float
    paused_seconds: float


class SLAView(BaseModel):
    """A ticket's SLA metrics now, and the rule that set their targets."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rule": "wechat",
                    "metrics": {
                        "first_response": {
                            "state": "running",
                            "started_at": "2024-03-04T01:00:00Z",
                            "due_at": "2024-03-04T02:00:00Z",
                            "warning_at": "2024-03-04T01:45:00Z",
                            "met_at": None,
                            "used_seconds": 0.0,
                            "paused_seconds": 0.0,
                        }
                    },
                }
            ]
        }
    )

    rule: str | None
    metrics: dict[str, MetricView]


class ReportBody(BaseModel):
    """A report: ``query`` holds the fields of :class:`aftersales.insights.ReportQuery`
    (``created_from``, ``created_to``, filters, ``group_by``...); each family beyond the
    ticket KPIs is opt-in as in :func:`aftersales.insights.build_report`."""

    model_config = _examples(
        {
            "query": {
                "created_from": "2026-03-01T00:00:00+08:00",
                "created_to": "2026-04-01T00:00:00+08:00",
                "channel": ["wechat", "email"],
                "group_by": "channel",
            },
            "trend_points": 4,
            "sla": True,
        }
    )

    query: dict[str, Any]
    trend_points: int = Field(12, ge=0, le=60)
    sla: bool = False
    cases: bool = False
    workload: bool = False
    surveys: bool = False


class ReportView(BaseModel):
    """A report as :meth:`aftersales.insights.Report.to_json` writes it: the query, and
    each table as a list of rows."""

    query: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]]


class AnswerBody(BaseModel):
    """A customer's answer to a survey link: the link's token is the proof of who
    answers, no login needed."""

    model_config = _examples(
        {"token": "eyJzIjoi...", "score": 9},
        {"token": "eyJzIjoi...", "score": 2, "reason": "it took a week", "comment": "but fixed"},
    )

    token: str = Field(max_length=4096)
    score: int
    reason: str | None = Field(None, max_length=_TEXT)
    comment: str | None = Field(None, max_length=_TEXT)


class SurveyAnswered(BaseModel):
    """The survey answered (only its id and state: the link's holder is not logged in)."""

    survey_id: str
    status: str
