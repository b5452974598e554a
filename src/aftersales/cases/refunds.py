"""The refund kind: money back for order lines, pending → processing → succeeded (or
failed and retried). A refund is opened on its own (a goodwill or price refund) or by the
return or exchange it pays, with its amount from the policy decisions of that case, split
as the order was paid; its success closes that case. Its step limit is its due date when
there is one. The workflow is :data:`~aftersales.workflows.REFUND_WORKFLOW`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from aftersales._validation import parse
from aftersales.cases._orders import CENT, bad, order_lines, paid_for, refundable, split
from aftersales.cases._records import check_text, end_of
from aftersales.cases._spec import CLOSES_PARENT, CaseKindSpec, StepLimit
from aftersales.models._base import new_id
from aftersales.models.case import Case, CaseKind, CaseLine, RefundDetails, RefundMethod
from aftersales.models.order import Money
from aftersales.policies.dates import local_date
from aftersales.policies.decision import RefundDeadline
from aftersales.storage import CaseChange
from aftersales.workflows.refund import REFUND_WORKFLOW

if TYPE_CHECKING:
    from aftersales.cases._writer import CaseWriter

__all__ = ["REFUND", "open_refund"]


def open_refund(
    cases: CaseWriter,
    ticket_id: str,
    *,
    order_id: str,
    lines: Iterable[CaseLine | Mapping[str, Any]],
    amount: Money | Mapping[str, Any] | None = None,
    method: RefundMethod | str = RefundMethod.ORIGINAL_PAYMENT,
    due_by: date | None = None,
    actor: str = "system",
) -> Case:
    """Open a refund of its own (see :meth:`aftersales.CaseDesk.open_refund`)."""
    ticket = cases._ticket(ticket_id)
    check_text("order_id", order_id)
    actor = check_text("actor", actor)
    case_lines = [
        parse(CaseLine, line, "refund line")
        for line in order_lines(lines, "refund", cases.max_lines)
    ]
    if not case_lines:
        raise bad("refund", ("lines",), "at least one order line is needed")
    currency = case_lines[0].unit_price.currency
    if any(line.unit_price.currency != currency for line in case_lines):
        raise bad("refund", ("lines",), "lines in more than one currency")
    if amount is None:
        total = sum((line.unit_price.amount * line.quantity for line in case_lines), Decimal(0))
        money = Money(amount=total, currency=currency)
    else:
        money = parse(Money, amount, "refund amount")
    if money.currency != currency:
        raise bad("refund", ("amount", "currency"), f"must be {currency}, as the lines")
    if money.amount <= 0:
        raise bad("refund", ("amount", "amount"), "must be more than zero")
    allocation: dict[str, Decimal] = {}
    left = money.amount
    for line in case_lines:
        share = min(left, line.unit_price.amount * line.quantity)
        allocation[line.line_id] = share
        left -= share
    if left > 0:
        raise bad(
            "refund",
            ("amount", "amount"),
            f"{money.amount} is more than the {money.amount - left} the lines' units cost",
        )
    details = parse(
        RefundDetails,
        {"amount": money, "method": method, "allocation": allocation, "due_by": due_by},
        "refund",
    )
    case, change = cases._new(
        CaseKind.REFUND,
        ticket,
        actor,
        order_id=order_id,
        lines=tuple(case_lines),
        refund=details,
    )
    change.order_check = refundable(case_lines, allocation)
    change.order_check_kinds = ()  # the order facts may be on any case of the order
    cases._commit([change])
    return case


def refund_for(
    cases: CaseWriter, case: Case, actor: str, now: datetime, change: CaseChange
) -> CaseChange:
    """The refund case that pays a return's (or a failed exchange's) refunded units, per
    each line's policy decision: its net refund scaled to the units refunded, paid by the
    method the step asked for (the original payment by default, split as the order was
    paid)."""
    asked = change.events[-1].payload.get("method")
    method = RefundMethod.ORIGINAL_PAYMENT if asked is None else RefundMethod(asked)
    by_original = method is RefundMethod.ORIGINAL_PAYMENT
    lines: list[CaseLine] = []
    allocation: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    per_method: dict[str, Decimal] = {}
    due: date | None = None
    sanction: date | None = None
    currency = case.lines[0].unit_price.currency
    for line in case.lines:
        units = line.refundable_units
        if not units:
            continue
        decision = line.decision
        breakdown = decision.refund if decision is not None else None
        if breakdown is not None and breakdown.currency == currency:
            share = Decimal(units) / Decimal(line.quantity)
            amount = (breakdown.net * share).quantize(CENT, ROUND_HALF_UP)
            if by_original:
                for name, paid in split(amount, breakdown.per_method).items():
                    per_method[name] = per_method.get(name, Decimal(0)) + paid
        else:
            amount = line.unit_price.amount * units
        allocation[line.line_id] = amount
        limits[line.line_id] = paid_for(line)
        # The facts and the decision stay on the case the refund pays (parent_id):
        # copying them would write every policy reason again with each refund step.
        lines.append(
            line.model_copy(
                update={
                    "quantity": units,
                    "received": 0,
                    "received_at": None,
                    "inspections": (),
                    "facts": None,
                    "decision": None,
                }
            )
        )
        deadline = decision.refund_deadline if decision is not None else None
        if deadline is not None:
            line_due, line_sanction = _refund_due(cases, case, line, deadline, now)
            due = line_due if due is None else min(due, line_due)
            if line_sanction is not None:
                sanction = line_sanction if sanction is None else min(sanction, line_sanction)
    total = sum(allocation.values(), Decimal(0))
    details = RefundDetails(
        amount=Money(amount=total, currency=currency),
        method=method,
        allocation=allocation,
        per_method=per_method,
        due_by=due,
        sanctionable_after=sanction,
    )
    ticket = cases._ticket(case.ticket_id)
    _, opened = cases._new(
        CaseKind.REFUND,
        ticket,
        actor,
        valid=True,  # ids of a stored case, its lines and details built by their models
        id=case.refund_case_id or new_id(),
        order_id=case.order_id,
        parent_id=case.id,
        lines=tuple(lines),
        refund=details,
    )
    opened.order_check = refundable(lines, allocation, limits)
    opened.order_check_kinds = (CaseKind.REFUND,)
    return opened


def _refund_due(
    cases: CaseWriter, case: Case, line: CaseLine, deadline: RefundDeadline, now: datetime
) -> tuple[date, date | None]:
    """A line's refund due date and the day after which a regulator may sanction a late
    refund, counted from the claim or from the day its goods were received (China
    办法 arts. 13 and 31), however long the inspection took."""
    if deadline.counted_from == "claim":
        counted_from = case.created_at
    elif deadline.counted_from == "goods_received":
        counted_from = line.received_at or now
    else:
        counted_from = now
    start = local_date(counted_from, cases.services.settings.zone)
    # One counter, one calendar: the policy's (working days skip the public holidays
    # of the deadline's holiday_country, with its make-up working days).
    due = deadline.due_by or deadline.due_from(start)
    return due, deadline.sanctionable_from(start)


def _due_step(cases: CaseWriter, case: Case, now: datetime) -> dict[str, Any] | None:
    """A refund is due on its due date (then ``mark_late``); a late one has no limit."""
    refund = case.refund
    if refund is None:
        return None
    if refund.late:
        return {"step_due_at": None, "step_action": None}
    if refund.due_by is not None:
        return {
            "step_due_at": end_of(refund.due_by, cases.services.settings.zone),
            "step_action": "mark_late",
        }
    return None


REFUND = CaseKindSpec(
    "refund",
    REFUND_WORKFLOW,
    step_limits={"pending": StepLimit(hours=7 * 24, action="mark_late")},
    restarts=frozenset({"mark_late"}),
    cascades={"succeed": CLOSES_PARENT},
    opener=open_refund,
    step=_due_step,
)
"""The refund kind."""

KIND = REFUND
"""What :data:`aftersales.cases.KINDS` registers from this module."""
