"""The return kind (RMA): a request decided by the policy line by line, goods back,
per-unit inspection, then a refund, an exchange or the goods sent back.

``refund`` opens the linked refund case and ``exchange`` the linked exchange case, each in
the transaction of the step; the return waits in ``refunded`` or ``exchanged`` until that
case finishes, then closes. The workflow is :data:`~aftersales.workflows.RETURN_WORKFLOW`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aftersales.cases._goods import ClaimLine, request_goods
from aftersales.cases._orders import GOODS_KINDS, returnable
from aftersales.cases._spec import CaseKindSpec, Opens, StepLimit
from aftersales.cases.exchanges import exchange_for
from aftersales.cases.refunds import refund_for
from aftersales.models._base import new_id
from aftersales.models.case import Case, CaseKind
from aftersales.policies.facts import ClaimKind
from aftersales.storage import CaseChange
from aftersales.workflows.returns import RETURN_WORKFLOW

if TYPE_CHECKING:
    from aftersales.cases._writer import CaseWriter

__all__ = ["RETURN", "request_return"]

CLAIM_KINDS = (
    ClaimKind.NO_REASON_RETURN,
    ClaimKind.QUALITY_RETURN,
    ClaimKind.LEGAL_GUARANTEE,
    ClaimKind.FINAL_REJECTION,
)
"""The claims a return may be opened for."""


def request_return(
    cases: CaseWriter,
    ticket_id: str,
    *,
    order_id: str,
    lines: Iterable[ClaimLine | Mapping[str, Any]],
    actor: str = "system",
    decide_now: bool = True,
    instructions: Mapping[str, Any] | None = None,
) -> Case:
    """Open a return (see :meth:`aftersales.CaseDesk.request_return`)."""
    return request_goods(
        cases,
        CaseKind.RETURN,
        CLAIM_KINDS,
        ticket_id,
        order_id,
        lines,
        actor,
        decide_now,
        instructions,
    )


def return_for(
    cases: CaseWriter, case: Case, actor: str, now: datetime, change: CaseChange
) -> CaseChange:
    """The return that takes a repaired product back for the refund its decision
    offers: approved already (the repair's decision, kept on the line, allows it), with
    the repair's facts and decision, so its refund pays what that decision grants."""
    lines = tuple(
        line.model_copy(update={"received": 0, "received_at": None, "inspections": ()})
        for line in case.lines
    )
    _, opened = cases._new(
        CaseKind.RETURN,
        cases._ticket(case.ticket_id),
        actor,
        id=case.return_case_id or new_id(),
        status="approved",
        status_category=RETURN_WORKFLOW.category_of("approved"),
        order_id=case.order_id,
        parent_id=case.id,
        lines=lines,
    )
    opened.order_check = returnable(lines)
    opened.order_check_kinds = GOODS_KINDS
    return opened


RETURN = CaseKindSpec(
    "return",
    RETURN_WORKFLOW,
    step_limits={
        "requested": StepLimit(hours=48),
        "awaiting_goods": StepLimit(hours=14 * 24, action="expire"),
        "received": StepLimit(hours=72),
    },
    restarts=frozenset({"receive", "inspect"}),
    cascades={
        "refund": Opens("refund", refund_for, link="refund_case_id"),
        "exchange": Opens("exchange", exchange_for, link="exchange_case_id"),
    },
    waiting=frozenset({"refunded", "exchanged"}),
    opener=request_return,
)
"""The return kind."""

KIND = RETURN
"""What :data:`aftersales.cases.KINDS` registers from this module."""
