"""The ticket lifecycle (seeds S1) as a workflow definition.

new → classified → assigned → in progress ⇄ waiting on customer / third party → resolved
→ confirmed → followed up → closed; plus escalate, reopen, merge, cancel, auto-close, and
self-serve (solved by a knowledge-base article, without an agent).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from aftersales.models._base import Identifier, ShortText, Text
from aftersales.models.ticket import PriorityLevel, Severity, StatusCategory, priority_level
from aftersales.settings import DeskSettings
from aftersales.workflows._engine import Refusal, State, Transition, TransitionContext, Workflow

# The ticket's own field types: a payload the ticket would refuse must be refused before
# it is stored, or the stored ticket cannot be read back.
_Reason = Text
_Name = Identifier


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoteInput(_Payload):
    """Payload of triggers that need nothing: an optional note kept on the event."""

    note: _Reason | None = None


class ClassifyInput(_Payload):
    """``classify``: the problem's category and severity (priority follows severity)."""

    category: ShortText
    severity: Severity
    priority: PriorityLevel | None = None
    confidence: Annotated[float, Field(ge=0, le=1)] | None = None
    evidence: tuple[Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")], ...] = ()


class QueueInput(_Payload):
    """``queue``: the team a ticket waits for, why nobody took it yet and, when the
    router queued it, the routing rule that chose the team."""

    team: _Name
    rule: _Name | None = None
    reason: _Reason | None = None


class AssignInput(_Payload):
    """``assign``: who handles the ticket, and their team; when the router chose them,
    the routing rule that matched and its reason."""

    assignee: _Name
    team: _Name | None = None
    rule: _Name | None = None
    reason: _Reason | None = None


class ResolveInput(_Payload):
    """``resolve``: the resolution given to the customer."""

    resolution: _Reason


class SelfServeInput(_Payload):
    """``self_serve``: the customer's problem was solved by a knowledge-base article, with
    no agent: the answer given, the article (and its version) and how sure the search
    was that it fits."""

    resolution: _Reason
    article_id: _Name
    article_version: Annotated[int, Field(ge=1)] | None = None
    confidence: Annotated[float, Field(ge=0, le=1)] | None = None


class FollowUpInput(_Payload):
    """``follow_up``: the customer's satisfaction (1-5) and a note from the return visit."""

    satisfaction: Annotated[int, Field(ge=1, le=5)] | None = None
    note: _Reason | None = None


class ReasonInput(_Payload):
    """``reopen``, ``cancel``: why."""

    reason: _Reason


class EscalateInput(_Payload):
    """``escalate``: why, and optionally who takes over."""

    reason: _Reason
    assignee: _Name | None = None
    team: _Name | None = None


class MergeInput(_Payload):
    """``merge``: the id of the ticket this one duplicates."""

    into: _Name


def _settings(context: TransitionContext) -> DeskSettings:
    settings = context.settings
    return settings if isinstance(settings, DeskSettings) else DeskSettings()


def within_reopen_window(context: TransitionContext) -> Refusal | None:
    """A ticket may be reopened only within ``reopen_within_days`` of its resolution."""
    resolved_at = context.subject.resolved_at
    window = _settings(context).reopen_window
    if resolved_at is None or context.now - resolved_at <= window:
        return None
    days = window.days
    return Refusal(
        code="reopen_window_passed",
        message=f"the ticket was resolved more than {days} days ago; open a follow-up instead",
        message_zh=f"工单解决已超过 {days} 天，请新建跟进工单",
        params={"days": days, "resolved_at": resolved_at.isoformat()},
    )


def not_merged_into_itself(context: TransitionContext) -> Refusal | None:
    """A ticket cannot be merged into itself."""
    assert isinstance(context.payload, MergeInput)
    if context.payload.into != context.subject_id:
        return None
    return Refusal(
        code="merge_into_itself",
        message="a ticket cannot be merged into itself",
        message_zh="工单不能合并到自身",
    )


def record_classification(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, ClassifyInput)
    priority = payload.priority
    if priority is None:
        priority = priority_level(_settings(context).priority_for_severity[payload.severity])
    return {"category": payload.category, "severity": payload.severity, "priority": priority}


def record_assignment(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, AssignInput)
    return {"assignee": payload.assignee, "team": payload.team or context.subject.team}


def record_queue(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, QueueInput)
    return {"team": payload.team}


def record_escalation(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, EscalateInput)
    updates: dict[str, Any] = {"escalation_level": context.subject.escalation_level + 1}
    if payload.assignee is not None:
        updates["assignee"] = payload.assignee
    if payload.team is not None:
        updates["team"] = payload.team
    return updates


def record_resolution(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, ResolveInput)
    return {
        "resolution": payload.resolution,
        "resolved_at": context.now,
        "due_at": context.now + _settings(context).auto_close_after,
    }


def record_self_service(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, SelfServeInput)
    return {
        "resolution": payload.resolution,
        "self_served_by": payload.article_id,
        "resolved_at": context.now,
        "due_at": context.now + _settings(context).auto_close_after,
    }


def clear_due(context: TransitionContext) -> Mapping[str, Any]:
    return {"due_at": None}


def record_follow_up(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, FollowUpInput)
    if payload.satisfaction is None:
        return {}
    return {"satisfaction": payload.satisfaction}


def record_closing(context: TransitionContext) -> Mapping[str, Any]:
    return {"closed_at": context.now, "due_at": None}


def record_reopening(context: TransitionContext) -> Mapping[str, Any]:
    return {
        "reopen_count": context.subject.reopen_count + 1,
        "resolved_at": None,
        "resolution": None,
        "self_served_by": None,
        "due_at": None,
    }


def record_merge(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, MergeInput)
    return {"merged_into": payload.into, "closed_at": context.now, "due_at": None}


_WORKING = (
    "classified",
    "assigned",
    "in_progress",
    "waiting_on_customer",
    "waiting_on_third_party",
)
_OPEN = ("new", *_WORKING)

TICKET_WORKFLOW = Workflow(
    "ticket",
    initial="new",
    states=[
        State("new", StatusCategory.NEW, description="Inquiry received, not yet classified"),
        State("classified", StatusCategory.NEW, description="Category and severity known"),
        State("assigned", StatusCategory.OPEN, description="An agent owns it"),
        State("in_progress", StatusCategory.OPEN, description="Being handled"),
        State("waiting_on_customer", StatusCategory.WAITING_ON_CUSTOMER),
        State("waiting_on_third_party", StatusCategory.WAITING_ON_THIRD_PARTY),
        State("resolved", StatusCategory.RESOLVED, description="Resolution given"),
        State("confirmed", StatusCategory.RESOLVED, description="Customer confirmed"),
        State("followed_up", StatusCategory.RESOLVED, description="Return visit done"),
        State("closed", StatusCategory.CLOSED),
        State("merged", StatusCategory.CLOSED, description="Duplicate of another ticket"),
        State("cancelled", StatusCategory.CLOSED),
    ],
    transitions=[
        Transition(
            "classify", ("new", "classified"), "classified", effects=["record_classification"]
        ),
        Transition("assign", "classified", "assigned", effects=["record_assignment"]),
        Transition("queue", "classified", "classified", effects=["record_queue"]),
        *(
            Transition("assign", state, state, effects=["record_assignment"])
            for state in _WORKING[1:]
        ),
        Transition("start", "assigned", "in_progress"),
        Transition("wait_for_customer", "in_progress", "waiting_on_customer"),
        Transition("wait_for_third_party", "in_progress", "waiting_on_third_party"),
        Transition("resume", ("waiting_on_customer", "waiting_on_third_party"), "in_progress"),
        Transition(
            "resolve",
            ("in_progress", "waiting_on_customer", "waiting_on_third_party"),
            "resolved",
            effects=["record_resolution"],
        ),
        Transition(
            "self_serve",
            ("new", "classified", "assigned", "in_progress", "waiting_on_customer"),
            "resolved",
            effects=["record_self_service"],
            description="Solved by a knowledge-base article the customer was offered",
        ),
        Transition("confirm", "resolved", "confirmed", effects=["clear_due"]),
        Transition("follow_up", "confirmed", "followed_up", effects=["record_follow_up"]),
        Transition("close", ("confirmed", "followed_up"), "closed", effects=["record_closing"]),
        Transition(
            "auto_close",
            ("resolved", "waiting_on_customer"),
            "closed",
            effects=["record_closing"],
            description="Resolved and never confirmed, or no reply from the customer in time",
        ),
        *(
            Transition("escalate", state, state, effects=["record_escalation"])
            for state in _WORKING
        ),
        Transition(
            "reopen",
            ("resolved", "confirmed"),
            "in_progress",
            guards=["within_reopen_window"],
            effects=["record_reopening"],
        ),
        Transition(
            "merge", _OPEN, "merged", guards=["not_merged_into_itself"], effects=["record_merge"]
        ),
        Transition("cancel", _OPEN, "cancelled", effects=["record_closing"]),
    ],
    guards={
        "within_reopen_window": within_reopen_window,
        "not_merged_into_itself": not_merged_into_itself,
    },
    effects={
        "record_classification": record_classification,
        "record_assignment": record_assignment,
        "record_queue": record_queue,
        "record_escalation": record_escalation,
        "record_resolution": record_resolution,
        "record_self_service": record_self_service,
        "clear_due": clear_due,
        "record_follow_up": record_follow_up,
        "record_closing": record_closing,
        "record_reopening": record_reopening,
        "record_merge": record_merge,
    },
    payloads={
        "classify": ClassifyInput,
        "assign": AssignInput,
        "queue": QueueInput,
        "start": NoteInput,
        "wait_for_customer": NoteInput,
        "wait_for_third_party": NoteInput,
        "resume": NoteInput,
        "resolve": ResolveInput,
        "self_serve": SelfServeInput,
        "confirm": NoteInput,
        "follow_up": FollowUpInput,
        "close": NoteInput,
        "auto_close": NoteInput,
        "escalate": EscalateInput,
        "reopen": ReasonInput,
        "merge": MergeInput,
        "cancel": ReasonInput,
    },
)
"""The shipped ticket lifecycle."""
