"""The return (RMA) workflow: request, policy check, goods back, per-unit inspection, then a
refund, an exchange or sending the goods back.

The desk evaluates the policy for every line when the return is requested and keeps each
decision on its line; ``approve`` is guarded by those decisions, so a refused approval
carries the policy's reason codes and messages. ``refund`` makes the desk open a linked
refund case for the inspected units that are refunded, in the same transaction; the return
closes when that refund succeeds.
"""

from __future__ import annotations

from aftersales.models._base import Identifier
from aftersales.models.case import RefundMethod
from aftersales.workflows._case_steps import (
    InspectInput,
    LogisticsInput,
    Payload,
    ReasonInput,
    ReceiveInput,
    TrackingInput,
    all_inspected,
    goods_not_received,
    has_refundable_units,
    inspect_units,
    policy_allows,
    receive_units,
    record_logistics,
    record_reason,
)
from aftersales.workflows._engine import State, Transition, Workflow


class RefundInput(Payload):
    """How the refund of a return is paid."""

    method: RefundMethod = RefundMethod.ORIGINAL_PAYMENT


class ExchangeInput(Payload):
    """The product the customer takes instead."""

    replacement_sku: Identifier


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
        Transition("approve", "requested", "approved", guards=["policy_allows"]),
        Transition("refuse", "requested", "refused", effects=["record_reason"]),
        Transition("send_instructions", "approved", "awaiting_goods", effects=["record_logistics"]),
        Transition("receive", ["awaiting_goods", "received"], "received", effects=["receive"]),
        Transition("inspect", ["received", "inspected"], "inspected", effects=["inspect"]),
        Transition(
            "refund", "inspected", "refunded", guards=["all_inspected", "has_refundable_units"]
        ),
        Transition("exchange", "inspected", "exchanged", guards=["all_inspected"]),
        Transition("send_back", "inspected", "sent_back", guards=["all_inspected"]),
        Transition("close", ["refunded", "exchanged", "sent_back"], "closed"),
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
            description="The goods never arrived within the step's time limit.",
        ),
    ],
    guards={
        "policy_allows": policy_allows,
        "goods_not_received": goods_not_received,
        "has_refundable_units": has_refundable_units,
        "all_inspected": all_inspected,
    },
    effects={
        "record_reason": record_reason,
        "record_logistics": record_logistics,
        "receive": receive_units,
        "inspect": inspect_units,
    },
    payloads={
        "refuse": ReasonInput,
        "cancel": ReasonInput,
        "send_instructions": LogisticsInput,
        "receive": ReceiveInput,
        "inspect": InspectInput,
        "refund": RefundInput,
        "exchange": ExchangeInput,
        "send_back": TrackingInput,
    },
)
"""The shipped return (RMA) workflow."""

__all__ = ["RETURN_WORKFLOW", "ExchangeInput", "RefundInput"]
