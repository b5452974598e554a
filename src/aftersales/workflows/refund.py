"""The refund workflow: pending → processing → succeeded, or failed and retried.

A refund's amount, method, split per payment method and due date come from the policy
decision behind it (see :class:`~aftersales.RefundDetails`). The desk never lets the
refunds of an order line add up to more than was paid for it. When the due date passes
before the refund succeeds, :meth:`~aftersales.Desk.run_due` fires ``mark_late``, which
flags the refund late and, where the preset names a day after which a regulator may
sanction the seller, sanctionable.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timezone
from typing import Any

from aftersales.models._base import ShortText, Text
from aftersales.models.case import Case
from aftersales.workflows._case_steps import Payload, ReasonInput, record_reason
from aftersales.workflows._engine import State, Transition, TransitionContext, Workflow


class SucceededInput(Payload):
    """The payment provider's reference for the refund."""

    reference: ShortText | None = None


class FailedInput(Payload):
    """Why the payment provider refused the refund."""

    error: Text


def _refund(context: TransitionContext) -> Any:
    case: Case = context.subject
    assert case.refund is not None
    return case.refund


def _after_day(day: Any, context: TransitionContext) -> bool:
    """Whether the day ended before ``now`` where the desk is (UTC without its settings)."""
    if day is None:
        return False
    settings = getattr(context.settings, "settings", None)
    zone = settings.zone if settings is not None else timezone.utc
    return context.now > datetime.combine(day, time.max, tzinfo=zone)


def _attempt(context: TransitionContext) -> Mapping[str, Any]:
    refund = _refund(context)
    return {"refund": refund.model_copy(update={"attempts": refund.attempts + 1})}


def _succeeded(context: TransitionContext) -> Mapping[str, Any]:
    refund = _refund(context)
    payload = context.payload
    reference = payload.reference if isinstance(payload, SucceededInput) else None
    late = refund.late or _after_day(refund.due_by, context)
    return {
        "refund": refund.model_copy(
            update={
                "succeeded_at": context.now,
                "reference": reference,
                "late": late,
                "sanctionable": refund.sanctionable
                or (late and _after_day(refund.sanctionable_after, context)),
            }
        )
    }


def _failed(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, FailedInput)
    return {"refund": _refund(context).model_copy(update={"last_error": payload.error})}


def _late(context: TransitionContext) -> Mapping[str, Any]:
    refund = _refund(context)
    return {
        "refund": refund.model_copy(
            update={
                "late": True,
                "sanctionable": _after_day(refund.sanctionable_after, context),
            }
        )
    }


REFUND_WORKFLOW = Workflow(
    "refund",
    initial="pending",
    states=[
        State("pending", "new", description="Decided; the money has not moved yet."),
        State("processing", "open", description="Sent to the payment provider."),
        State("failed", "waiting_on_third_party", description="The provider refused; retry."),
        State("succeeded", "closed", description="The money is back with the customer."),
        State("cancelled", "closed"),
    ],
    transitions=[
        Transition("process", "pending", "processing", effects=["attempt"]),
        Transition("succeed", "processing", "succeeded", effects=["succeeded"]),
        Transition("fail", "processing", "failed", effects=["failed"]),
        Transition("retry", "failed", "processing", effects=["attempt"]),
        Transition("cancel", ["pending", "failed"], "cancelled", effects=["record_reason"]),
        *(
            Transition(
                "mark_late",
                state,
                state,
                effects=["late"],
                description="Fired by run_due when the refund's due date passes.",
            )
            for state in ("pending", "processing", "failed")
        ),
    ],
    effects={
        "attempt": _attempt,
        "succeeded": _succeeded,
        "failed": _failed,
        "late": _late,
        "record_reason": record_reason,
    },
    payloads={"succeed": SucceededInput, "fail": FailedInput, "cancel": ReasonInput},
)
"""The shipped refund workflow."""

__all__ = ["REFUND_WORKFLOW", "FailedInput", "SucceededInput"]
