"""Guards, effects and payloads that several after-sales workflows share.

Guards are pure: they read the case (``context.subject``), the validated payload and the
decision the desk obtained from the policy for this step (``context.settings``, a
:class:`CaseEnvironment`). Effects return the fields a transition sets; an effect that
finds the input impossible (inspecting a unit that never arrived) raises
:class:`~aftersales.InvalidInput`, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import attrs
from pydantic import BaseModel, ConfigDict, Field

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models._base import Identifier, ShortText, Text
from aftersales.models.case import Case, CaseLine, ReturnLogistics, ReturnMethod, UnitResult
from aftersales.policies.decision import Decision, Outcome
from aftersales.workflows._engine import Effect, Guard, Refusal, Transition, TransitionContext


@attrs.frozen
class CaseEnvironment:
    """What the desk hands a case transition besides the payload: its settings and, for
    steps that consult the policy, the decision it obtained for this very step."""

    settings: Any = None
    decision: Decision | None = None
    supervisors: tuple[str, ...] = ()
    """Who may take an escalated complaint: the supervisor configured for the case's team
    (``aftersales.routing.Team.supervisor``); empty without one."""
    team: str | None = None
    """The team whose supervisor that is (the ticket's team, else the routing default)."""


class Payload(BaseModel):
    """Base of trigger payloads: frozen, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ReasonInput(Payload):
    """A free-text reason, e.g. for a refusal or a cancellation."""

    reason: Text | None = None


class LogisticsInput(Payload):
    """How the goods come back to the seller."""

    method: ReturnMethod
    address: ShortText | None = None
    carrier: ShortText | None = None
    tracking: ShortText | None = None


class ReceiveInput(Payload):
    """Units that arrived, per order line (``line_id`` → count)."""

    units: dict[Identifier, Annotated[int, Field(gt=0)]] = Field(min_length=1)


class InspectInput(Payload):
    """Inspection results per order line, one entry per unit inspected."""

    results: dict[Identifier, list[UnitResult]] = Field(min_length=1)


class TrackingInput(Payload):
    """A shipment's carrier and tracking number."""

    carrier: ShortText | None = None
    tracking: ShortText | None = None


def _case(context: TransitionContext) -> Case:
    case: Case = context.subject
    return case


def policy_refusal(decision: Decision, line_id: str | None = None) -> Refusal:
    """A refusal carrying the policy's refusing reasons, codes and messages in both
    languages (all reasons when none refuses, e.g. a claim kind the policy ignores)."""
    refusing = [r for r in decision.reasons if not r.permits] or list(decision.reasons)
    where = "" if line_id is None else f"line {line_id}: "
    where_zh = "" if line_id is None else f"订单行 {line_id}："
    return Refusal(
        refusing[0].code if refusing else "policy_refused",
        where + ("; ".join(r.message for r in refusing) or "the policy refuses the claim"),
        where_zh + ("；".join(r.message_zh for r in refusing) or "政策不支持该申请"),
        {
            "codes": [r.code for r in refusing],
            "policy": decision.policy,
            **({} if line_id is None else {"line_id": line_id}),
        },
    )


def policy_allows(context: TransitionContext) -> Refusal | None:
    """Every line's kept policy decision allows the claim (possibly after inspection)."""
    for line in _case(context).lines:
        if line.decision is None:
            return Refusal(
                "no_decision",
                f"line {line.line_id} has no policy decision",
                f"订单行 {line.line_id} 没有政策判定",
                {"line_id": line.line_id},
            )
        if line.decision.outcome is Outcome.REFUSED:
            return policy_refusal(line.decision, line.line_id)
    return None


def goods_not_received(context: TransitionContext) -> Refusal | None:
    """Nothing has arrived yet (a customer may cancel only before receipt)."""
    if any(line.received for line in _case(context).lines):
        return Refusal(
            "goods_received",
            "the goods have arrived; the case can no longer be cancelled",
            "商品已签收，不能再取消",
        )
    return None


def has_refundable_units(context: TransitionContext) -> Refusal | None:
    """At least one inspected unit is refunded."""
    if not any(line.refundable_units for line in _case(context).lines):
        return Refusal(
            "nothing_refundable",
            "no inspected unit can be refunded",
            "没有可退款的商品",
        )
    return None


def all_inspected(context: TransitionContext) -> Refusal | None:
    """Every unit that arrived has been inspected."""
    for line in _case(context).lines:
        if len(line.inspections) < line.received:
            return Refusal(
                "inspection_incomplete",
                f"line {line.line_id}: {line.received - len(line.inspections)} units "
                "received but not inspected",
                f"订单行 {line.line_id}：有 {line.received - len(line.inspections)} 件未检验",
                {"line_id": line.line_id},
            )
    return None


def record_reason(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    reason = payload.reason if isinstance(payload, ReasonInput) else None
    if reason is None:
        refused = [line.decision for line in _case(context).lines if line.decision is not None]
        codes = [r.code for d in refused for r in d.reasons if not r.permits]
        reason = ", ".join(codes) or None
    return {"reason": reason}


def record_logistics(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, LogisticsInput)
    return {"logistics": ReturnLogistics.model_validate(payload.model_dump())}


def _bad(subject: str, location: tuple[str | int, ...], message: str) -> InvalidInput:
    return InvalidInput(subject, [FieldError(location, message)])


def _line_index(case: Case, line_id: str, field: str) -> int:
    for index, line in enumerate(case.lines):
        if line.line_id == line_id:
            return index
    raise _bad(f"{field} payload", (field, line_id), f"the case has no order line {line_id!r}")


def receive_units(context: TransitionContext) -> Mapping[str, Any]:
    """Count arrived units; more than the case claims is bad input."""
    case = _case(context)
    payload = context.payload
    assert isinstance(payload, ReceiveInput)
    lines = list(case.lines)
    for line_id, count in payload.units.items():
        index = _line_index(case, line_id, "units")
        line = lines[index]
        if line.received + count > line.quantity:
            raise _bad(
                "receive payload",
                ("units", line_id),
                f"{line.received + count} units received but only {line.quantity} are "
                "being returned",
            )
        lines[index] = line.model_copy(
            update={"received": line.received + count, "received_at": context.now}
        )
    return {"lines": tuple(lines)}


def inspect_units(context: TransitionContext) -> Mapping[str, Any]:
    """Record one result per inspected unit; a unit that never arrived cannot be inspected."""
    case = _case(context)
    payload = context.payload
    assert isinstance(payload, InspectInput)
    lines: list[CaseLine] = list(case.lines)
    for line_id, results in payload.results.items():
        index = _line_index(case, line_id, "results")
        line = lines[index]
        if len(line.inspections) + len(results) > line.received:
            raise _bad(
                "inspect payload",
                ("results", line_id),
                f"{len(line.inspections) + len(results)} units inspected but only "
                f"{line.received} were received",
            )
        lines[index] = line.model_copy(update={"inspections": (*line.inspections, *results)})
    return {"lines": tuple(lines)}


GOODS_IN = (
    Transition("approve", "requested", "approved", guards=["policy_allows"]),
    Transition("refuse", "requested", "refused", effects=["record_reason"]),
    Transition("send_instructions", "approved", "awaiting_goods", effects=["record_logistics"]),
    Transition("receive", ["awaiting_goods", "received"], "received", effects=["receive"]),
    Transition("inspect", ["received", "inspected"], "inspected", effects=["inspect"]),
)
"""The steps of goods coming back that returns and exchanges share: the policy's
approval (or a refusal), the instructions, receipt and inspection unit by unit."""


def goods_out(expire: str = "") -> tuple[Transition, ...]:
    """How returns and exchanges end before the goods arrive: cancelled by the customer,
    or expired by run_due (``expire`` describes it)."""
    return (
        Transition(
            "cancel",
            ["requested", "approved", "awaiting_goods"],
            "cancelled",
            guards=["goods_not_received"],
            effects=["record_reason"],
        ),
        Transition(
            "expire",
            "awaiting_goods",
            "cancelled",
            guards=["goods_not_received"],
            description=expire,
        ),
    )


GOODS_GUARDS: dict[str, Guard] = {
    "policy_allows": policy_allows,
    "goods_not_received": goods_not_received,
    "has_refundable_units": has_refundable_units,
    "all_inspected": all_inspected,
}
GOODS_EFFECTS: dict[str, Effect] = {
    "record_reason": record_reason,
    "record_logistics": record_logistics,
    "receive": receive_units,
    "inspect": inspect_units,
}
GOODS_PAYLOADS: dict[str, type[Payload]] = {
    "refuse": ReasonInput,
    "cancel": ReasonInput,
    "send_instructions": LogisticsInput,
    "receive": ReceiveInput,
    "inspect": InspectInput,
}


__all__ = [
    "GOODS_EFFECTS",
    "GOODS_GUARDS",
    "GOODS_IN",
    "GOODS_PAYLOADS",
    "CaseEnvironment",
    "InspectInput",
    "LogisticsInput",
    "Payload",
    "ReasonInput",
    "ReceiveInput",
    "TrackingInput",
    "all_inspected",
    "goods_not_received",
    "goods_out",
    "has_refundable_units",
    "inspect_units",
    "policy_allows",
    "policy_refusal",
    "receive_units",
    "record_logistics",
    "record_reason",
]
