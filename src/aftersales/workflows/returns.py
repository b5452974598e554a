"""The return (RMA) workflow: request, policy check, goods back, per-unit inspection, then a
refund, an exchange or sending the goods back.

The desk evaluates the policy for every line when the return is requested and keeps each
decision on its line; ``approve`` is guarded by those decisions, so a refused approval
carries the policy's reason codes and messages. ``refund`` makes the desk open a linked
refund case for the inspected units that are refunded, in the same transaction; the return
closes when that refund succeeds. ``exchange`` likewise opens a linked exchange case for the
units that passed inspection, already inspected, which reserves and ships the replacement;
the return closes when the replacement is delivered (or, out of stock, when the exchange's
refund succeeds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aftersales.models._base import Identifier
from aftersales.models.case import ExchangeDetails, RefundMethod
from aftersales.workflows._case_steps import (
    GOODS_EFFECTS,
    GOODS_GUARDS,
    GOODS_IN,
    GOODS_PAYLOADS,
    Payload,
    TrackingInput,
    goods_out,
    has_refundable_units,
)
from aftersales.workflows._engine import Refusal, State, Transition, TransitionContext, Workflow


class RefundInput(Payload):
    """How the refund of a return is paid."""

    method: RefundMethod = RefundMethod.ORIGINAL_PAYMENT


class ExchangeInput(Payload):
    """The product the customer takes instead."""

    replacement_sku: Identifier


def has_exchangeable_units(context: TransitionContext) -> Refusal | None:
    """At least one inspected unit passed, so there is something to replace."""
    if has_refundable_units(context) is None:
        return None
    return Refusal("nothing_exchangeable", "no inspected unit can be exchanged", "没有可换货的商品")


def record_replacement(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, ExchangeInput)
    return {"exchange": ExchangeDetails(replacement_sku=payload.replacement_sku)}


RETURN_WORKFLOW = Workflow(
    "return",
    initial="requested",
    states=[
        State("requested", "new", description="The customer asked; the policy has decided."),
        State("approved", "open", description="The return is accepted."),
        State("refused", "closed", description="The policy or an agent refused it."),
        State(
            "awaiting_goods",
            "waiting_on_customer",
            description="Label, address or pickup given; the goods are on their way.",
        ),
        State("received", "open", description="Some or all units arrived."),
        State("inspected", "open", description="Units inspected, one result each."),
        State("refunded", "resolved", description="A refund case pays the refunded units."),
        State("exchanged", "resolved", description="The customer takes another product."),
        State("sent_back", "resolved", description="Nothing refundable: goods sent back."),
        State("closed", "closed"),
        State("cancelled", "closed", description="Cancelled before the goods arrived."),
    ],
    transitions=[
        *GOODS_IN,
        Transition(
            "refund", "inspected", "refunded", guards=["all_inspected", "has_refundable_units"]
        ),
        Transition(
            "exchange",
            "inspected",
            "exchanged",
            guards=["all_inspected", "has_exchangeable_units"],
            effects=["record_replacement"],
            description="Opens the exchange case that ships the replacement.",
        ),
        Transition("send_back", "inspected", "sent_back", guards=["all_inspected"]),
        Transition("close", ["refunded", "exchanged", "sent_back"], "closed"),
        *goods_out("The goods never arrived within the step's time limit."),
    ],
    guards={**GOODS_GUARDS, "has_exchangeable_units": has_exchangeable_units},
    effects={**GOODS_EFFECTS, "record_replacement": record_replacement},
    payloads={
        **GOODS_PAYLOADS,
        "refund": RefundInput,
        "exchange": ExchangeInput,
        "send_back": TrackingInput,
    },
)
"""The shipped return (RMA) workflow."""

__all__ = ["RETURN_WORKFLOW", "ExchangeInput", "RefundInput"]
