"""The complaint workflow: received, acknowledged within its time limit, investigated, a
resolution proposed and accepted by the customer, or escalated to a supervisor who signs
it off. A complaint that was escalated cannot close without the sign-off, and the sign-off
(who, when, what) stays on the case and in its events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aftersales.models._base import Identifier, Text
from aftersales.models.case import Case, ComplaintDetails
from aftersales.workflows._case_steps import Payload
from aftersales.workflows._engine import Refusal, State, Transition, TransitionContext, Workflow


class ProposalInput(Payload):
    """The resolution offered to the customer."""

    proposal: Text


class EscalateInput(Payload):
    """Who takes the complaint over, and why."""

    supervisor: Identifier
    reason: Text


class SignOffInput(Payload):
    """The supervisor's decision."""

    note: Text


def _complaint(context: TransitionContext) -> ComplaintDetails:
    case: Case = context.subject
    assert case.complaint is not None
    return case.complaint


def _update(context: TransitionContext, **update: Any) -> Mapping[str, Any]:
    return {"complaint": _complaint(context).model_copy(update=update)}


def _acknowledged(context: TransitionContext) -> Mapping[str, Any]:
    return _update(context, acknowledged_at=context.now)


def _proposed(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, ProposalInput)
    return _update(context, proposal=payload.proposal)


def _escalated(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, EscalateInput)
    return _update(context, supervisor=payload.supervisor, escalation_reason=payload.reason)


def _signed_off(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, SignOffInput)
    return _update(
        context, signed_off_by=context.actor, signed_off_at=context.now, sign_off_note=payload.note
    )


def _by_supervisor(context: TransitionContext) -> Refusal | None:
    supervisor = _complaint(context).supervisor
    if context.actor != supervisor:
        return Refusal(
            "not_the_supervisor",
            f"only the supervisor {supervisor} can sign off this complaint",
            f"只有主管 {supervisor} 可以签批此投诉",
            {"supervisor": supervisor, "actor": context.actor},
        )
    return None


def _signed_off_if_escalated(context: TransitionContext) -> Refusal | None:
    complaint = _complaint(context)
    if complaint.supervisor is not None and complaint.signed_off_at is None:
        return Refusal(
            "sign_off_missing",
            f"the complaint was escalated to {complaint.supervisor}, who has not signed it off",
            f"投诉已升级至 {complaint.supervisor}，尚未签批",
            {"supervisor": complaint.supervisor},
        )
    return None


COMPLAINT_WORKFLOW = Workflow(
    "complaint",
    initial="received",
    states=[
        State("received", "new", description="Recorded; the acknowledgement clock runs."),
        State("acknowledged", "open"),
        State("investigating", "open"),
        State("proposed", "waiting_on_customer", description="A resolution awaits the customer."),
        State("escalated", "open", description="A supervisor handles it."),
        State("accepted", "resolved", description="The customer accepted the resolution."),
        State("signed_off", "resolved", description="The supervisor signed it off."),
        State("closed", "closed"),
    ],
    transitions=[
        Transition("acknowledge", "received", "acknowledged", effects=["acknowledged"]),
        Transition("investigate", "acknowledged", "investigating"),
        Transition("propose", ["investigating", "escalated"], "proposed", effects=["proposed"]),
        Transition("accept", "proposed", "accepted"),
        Transition("reject", "proposed", "investigating"),
        Transition(
            "escalate",
            ["received", "acknowledged", "investigating", "proposed"],
            "escalated",
            effects=["escalated"],
        ),
        Transition(
            "sign_off", "escalated", "signed_off", guards=["by_supervisor"], effects=["signed_off"]
        ),
        Transition(
            "close", ["accepted", "signed_off"], "closed", guards=["signed_off_if_escalated"]
        ),
    ],
    guards={"by_supervisor": _by_supervisor, "signed_off_if_escalated": _signed_off_if_escalated},
    effects={
        "acknowledged": _acknowledged,
        "proposed": _proposed,
        "escalated": _escalated,
        "signed_off": _signed_off,
    },
    payloads={"propose": ProposalInput, "escalate": EscalateInput, "sign_off": SignOffInput},
)
"""The shipped complaint workflow."""

__all__ = ["COMPLAINT_WORKFLOW", "EscalateInput", "ProposalInput", "SignOffInput"]
