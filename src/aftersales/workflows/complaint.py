"""The complaint workflow: received, acknowledged within its time limit, investigated, a
resolution proposed and accepted by the customer, or escalated to a supervisor who signs
it off. A complaint that was escalated cannot close without the sign-off, and the sign-off
(who, when, what) stays on the case and in its events.

The supervisor is the one configured for the team (``Team.supervisor`` in the desk's
routing: the ticket's team, else the default team), never the agent who escalates. A
resolution proposed after the escalation and accepted by the customer still needs that
sign-off, which may then be given from ``accepted``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aftersales.models._base import Identifier, Text
from aftersales.models.case import Case, ComplaintDetails
from aftersales.workflows._case_steps import CaseEnvironment, Payload
from aftersales.workflows._engine import Refusal, State, Transition, TransitionContext, Workflow


class ProposalInput(Payload):
    """The resolution offered to the customer."""

    proposal: Text


class EscalateInput(Payload):
    """Why the complaint is escalated and, optionally, the supervisor who takes it over
    (by default the supervisor configured for the team; naming another is refused)."""

    supervisor: Identifier | None = None
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


def _environment(context: TransitionContext) -> CaseEnvironment:
    environment = context.settings
    return environment if isinstance(environment, CaseEnvironment) else CaseEnvironment()


def _supervisor_for(context: TransitionContext) -> str | None:
    payload = context.payload
    named = payload.supervisor if isinstance(payload, EscalateInput) else None
    supervisors = _environment(context).supervisors
    return named or (supervisors[0] if supervisors else None)


def _configured_supervisor(context: TransitionContext) -> Refusal | None:
    """The complaint goes to the supervisor configured for the team, and never to the
    agent who escalates it (who could otherwise sign off their own complaint)."""
    environment = _environment(context)
    team = environment.team or "?"
    supervisor = _supervisor_for(context)
    if environment.team is None:
        return Refusal(
            "no_supervisor",
            "the desk has no routing teams, so no supervisor to escalate to: configure "
            "one with Desk(routing={..., 'teams': [{'id': ..., 'supervisor': ...}]})",
            "服务台未配置团队及主管，无法升级投诉",
            {},
        )
    if supervisor is None:
        return Refusal(
            "no_supervisor",
            f"team {team} has no supervisor configured (routing: teams[].supervisor)",
            f"团队 {team} 未配置主管",
            {"team": team},
        )
    if supervisor not in environment.supervisors:
        configured = ", ".join(environment.supervisors) or "none"
        return Refusal(
            "not_a_supervisor",
            f"{supervisor} is not the supervisor of team {team} (configured: {configured})",
            f"{supervisor} 不是团队 {team} 的主管（已配置：{configured}）",
            {"team": team, "supervisor": supervisor, "supervisors": list(environment.supervisors)},
        )
    if supervisor == context.actor:
        return Refusal(
            "own_escalation",
            f"{context.actor} cannot escalate a complaint to themself: the supervisor who "
            "signs it off must be someone else",
            f"{context.actor} 不能将投诉升级给自己：签批的主管须为他人",
            {"supervisor": supervisor, "actor": context.actor},
        )
    return None


def _escalated(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, EscalateInput)
    return _update(
        context,
        supervisor=_supervisor_for(context),
        escalated_by=context.actor,
        escalation_reason=payload.reason,
        signed_off_by=None,
        signed_off_at=None,
        sign_off_note=None,
    )


def _signed_off(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, SignOffInput)
    return _update(
        context, signed_off_by=context.actor, signed_off_at=context.now, sign_off_note=payload.note
    )


def _by_supervisor(context: TransitionContext) -> Refusal | None:
    complaint = _complaint(context)
    supervisor = complaint.supervisor
    if supervisor is None:
        return Refusal(
            "not_escalated",
            "the complaint was not escalated: there is nothing to sign off",
            "投诉未升级，无需签批",
        )
    if context.actor == complaint.escalated_by:
        return Refusal(
            "own_escalation",
            f"{context.actor} escalated this complaint and cannot sign it off",
            f"{context.actor} 升级了此投诉，不能签批",
            {"supervisor": supervisor, "actor": context.actor},
        )
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
            guards=["configured_supervisor"],
            effects=["escalated"],
        ),
        Transition(
            "sign_off",
            ["escalated", "accepted"],
            "signed_off",
            guards=["by_supervisor"],
            effects=["signed_off"],
            description="From accepted: the resolution the customer accepted after an "
            "escalation, signed off by the supervisor.",
        ),
        Transition(
            "close", ["accepted", "signed_off"], "closed", guards=["signed_off_if_escalated"]
        ),
    ],
    guards={
        "by_supervisor": _by_supervisor,
        "configured_supervisor": _configured_supervisor,
        "signed_off_if_escalated": _signed_off_if_escalated,
    },
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
