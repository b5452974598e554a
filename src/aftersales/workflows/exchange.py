"""The exchange workflow: the old item comes back and is inspected, a replacement is
reserved, shipped and delivered; when the replacement is out of stock the exchange falls
back to a refund.

:meth:`aftersales.Desk.reserve_replacement` asks the desk's inventory; it fires
``reserve`` when the replacement is reserved and ``out_of_stock`` when it is not, which
opens a linked refund case in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aftersales.models.case import Case
from aftersales.workflows._case_steps import (
    GOODS_EFFECTS,
    GOODS_GUARDS,
    GOODS_IN,
    GOODS_PAYLOADS,
    TrackingInput,
    goods_out,
)
from aftersales.workflows._engine import State, Transition, TransitionContext, Workflow


def _exchange(context: TransitionContext, **update: Any) -> Mapping[str, Any]:
    case: Case = context.subject
    assert case.exchange is not None
    return {"exchange": case.exchange.model_copy(update=update)}


def _reserved(context: TransitionContext) -> Mapping[str, Any]:
    return _exchange(context, reserved=True)


def _out_of_stock(context: TransitionContext) -> Mapping[str, Any]:
    return _exchange(context, out_of_stock=True)


def _shipped(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, TrackingInput)
    return _exchange(
        context, carrier=payload.carrier, tracking=payload.tracking, shipped_at=context.now
    )


def _delivered(context: TransitionContext) -> Mapping[str, Any]:
    return _exchange(context, delivered_at=context.now)


EXCHANGE_WORKFLOW = Workflow(
    "exchange",
    initial="requested",
    states=[
        State("requested", "new"),
        State("approved", "open"),
        State("refused", "closed"),
        State("awaiting_goods", "waiting_on_customer"),
        State("received", "open"),
        State("inspected", "open"),
        State("replacement_reserved", "open"),
        State("shipped", "waiting_on_third_party"),
        State("delivered", "resolved"),
        State("refunded", "resolved", description="Out of stock: a refund case pays instead."),
        State("closed", "closed"),
        State("cancelled", "closed"),
    ],
    transitions=[
        *GOODS_IN,
        Transition(
            "reserve",
            "inspected",
            "replacement_reserved",
            guards=["all_inspected", "has_refundable_units"],
            effects=["reserved"],
        ),
        Transition(
            "out_of_stock",
            "inspected",
            "refunded",
            guards=["all_inspected", "has_refundable_units"],
            effects=["out_of_stock"],
        ),
        Transition("ship", "replacement_reserved", "shipped", effects=["shipped"]),
        Transition("deliver", "shipped", "delivered", effects=["delivered"]),
        Transition("close", ["delivered", "refunded"], "closed"),
        *goods_out(),
    ],
    guards=GOODS_GUARDS,
    effects={
        **GOODS_EFFECTS,
        "reserved": _reserved,
        "out_of_stock": _out_of_stock,
        "shipped": _shipped,
        "delivered": _delivered,
    },
    payloads={**GOODS_PAYLOADS, "ship": TrackingInput},
)
"""The shipped exchange workflow."""

__all__ = ["EXCHANGE_WORKFLOW"]
