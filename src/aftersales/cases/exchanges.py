"""The exchange kind: the old item comes back and is inspected, a replacement is reserved
from the desk's inventory, shipped and delivered; out of stock, the exchange falls back to
a refund. Delivering the replacement closes the return that opened the exchange, if one
did. The workflow is :data:`~aftersales.workflows.EXCHANGE_WORKFLOW`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from aftersales._validation import parse
from aftersales.cases._goods import ClaimLine, request_goods
from aftersales.cases._orders import bad
from aftersales.cases._records import check_text
from aftersales.cases._spec import CLOSES_PARENT, CaseKindSpec, Opens, StepLimit
from aftersales.cases.refunds import refund_for
from aftersales.models._base import new_id
from aftersales.models.case import Case, CaseKind, ExchangeDetails
from aftersales.models.events import build_event
from aftersales.policies.facts import ClaimKind
from aftersales.storage import CaseChange
from aftersales.workflows.exchange import EXCHANGE_WORKFLOW

if TYPE_CHECKING:
    from aftersales.cases._writer import CaseWriter

__all__ = ["EXCHANGE", "Inventory", "MemoryInventory", "request_exchange"]

CLAIM_KINDS = (ClaimKind.EXCHANGE, ClaimKind.QUALITY_RETURN, ClaimKind.NO_REASON_RETURN)
"""The claims an exchange may be opened for."""


@runtime_checkable
class Inventory(Protocol):
    """Stock for exchanges: reserve units of a SKU, or say there are none."""

    def reserve(self, sku: str, quantity: int) -> bool:
        """Reserve ``quantity`` units of ``sku``; False when there are not enough."""
        ...


class MemoryInventory:
    """Stock counts in a dict; the default inventory (everything out of stock)."""

    def __init__(self, stock: Mapping[str, int] | None = None) -> None:
        self.stock: dict[str, int] = dict(stock or {})

    def reserve(self, sku: str, quantity: int) -> bool:
        if self.stock.get(sku, 0) < quantity:
            return False
        self.stock[sku] -= quantity
        return True


def request_exchange(
    cases: CaseWriter,
    ticket_id: str,
    *,
    order_id: str,
    line: ClaimLine | Mapping[str, Any],
    replacement_sku: str,
    actor: str = "system",
    decide_now: bool = True,
    instructions: Mapping[str, Any] | None = None,
) -> Case:
    """Open an exchange (see :meth:`aftersales.CaseDesk.request_exchange`)."""
    exchange = parse(ExchangeDetails, {"replacement_sku": replacement_sku}, "exchange")
    return request_goods(
        cases,
        CaseKind.EXCHANGE,
        CLAIM_KINDS,
        ticket_id,
        order_id,
        [line],
        actor,
        decide_now,
        instructions,
        exchange=exchange,
    )


def reserve_replacement(
    cases: CaseWriter, inventory: Inventory, case_id: str, *, actor: str = "system"
) -> Case:
    """Reserve an exchange's replacement from ``inventory``, else fall back to a refund."""
    actor = check_text("actor", actor)
    case = cases.services.store.get_case(check_text("case_id", case_id))
    if case.kind is not CaseKind.EXCHANGE or case.exchange is None:
        raise bad("exchange", ("case_id",), "is not an exchange")
    units = sum(line.refundable_units for line in case.lines)
    guard = cases.services.pipeline.guard
    if guard is not None:
        # asked before the stock is taken: a refused reservation must not empty the shelf
        asked = build_event(
            case.id,
            case.kind.value,
            case.version + 1,
            "reserve",
            case.status,
            case.status,
            actor,
            cases.services.now(),
            {},
            {},
        )
        guard(case, (asked,))
    trigger = "out_of_stock"
    if (
        case.status == "inspected"
        and units
        and inventory.reserve(case.exchange.replacement_sku, units)
    ):
        trigger = "reserve"
    return cases._transition(case, trigger, actor, None)


def exchange_for(
    cases: CaseWriter, case: Case, actor: str, now: datetime, change: CaseChange
) -> CaseChange:
    """The exchange case that ships a return's replacement for the units that passed
    inspection. It starts inspected, as those units are: each line keeps the units
    claimed, with its facts and decision (out of stock, its refund is the decision's
    share for the units replaced), but only the passed units received."""
    lines = [
        line.model_copy(
            update={
                "received": line.refundable_units,
                "inspections": tuple(r for r in line.inspections if r.refundable),
            }
        )
        for line in case.lines
        if line.refundable_units
    ]
    _, opened = cases._new(
        CaseKind.EXCHANGE,
        cases._ticket(case.ticket_id),
        actor,
        id=case.exchange_case_id or new_id(),
        status="inspected",
        status_category=EXCHANGE_WORKFLOW.category_of("inspected"),
        order_id=case.order_id,
        parent_id=case.id,
        lines=tuple(lines),
        exchange=case.exchange,
    )
    return opened


EXCHANGE = CaseKindSpec(
    "exchange",
    EXCHANGE_WORKFLOW,
    step_limits={
        "requested": StepLimit(hours=48),
        "awaiting_goods": StepLimit(hours=14 * 24, action="expire"),
        "replacement_reserved": StepLimit(hours=72),
    },
    restarts=frozenset({"receive", "inspect"}),
    cascades={
        "out_of_stock": Opens("refund", refund_for, link="refund_case_id"),
        "deliver": CLOSES_PARENT,
    },
    waiting=frozenset({"refunded"}),
    opener=request_exchange,
)
"""The exchange kind."""

KIND = EXCHANGE
"""What :data:`aftersales.cases.KINDS` registers from this module."""
