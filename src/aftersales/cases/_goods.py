"""What returns and exchanges share on the desk: claim lines decided by the policy, and
opening a case for goods that come back (decided, approved and instructed at once when
asked)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aftersales._validation import parse
from aftersales.cases._orders import GOODS_KINDS, bad, order_lines, returnable
from aftersales.cases._records import check_text
from aftersales.models._base import Identifier, Record
from aftersales.models.case import AnyKind, Case, CaseLine
from aftersales.policies.decision import Decision
from aftersales.policies.facts import ClaimKind, Facts

if TYPE_CHECKING:
    from aftersales.cases._writer import CaseWriter

__all__ = ["ClaimLine"]


class ClaimLine(Record):
    """One order line of a claim: the facts the policy decides on (the claim's quantity is
    the number of units claimed, the order's quantity the number bought)."""

    line_id: Identifier
    facts: Facts
    sku: Identifier | None = None


def claim_lines(
    cases: CaseWriter,
    lines: Iterable[ClaimLine | Mapping[str, Any]],
    kinds: Sequence[ClaimKind],
) -> list[tuple[ClaimLine, Decision]]:
    """The claim's lines, checked (no line twice, a claim kind of ``kinds``) and each
    decided by the desk's policy."""
    parsed = [
        parse(ClaimLine, line, "claim line")
        for line in order_lines(lines, "claim", cases.max_lines)
    ]
    if not parsed:
        raise bad("claim", ("lines",), "at least one order line is needed")
    seen: set[str] = set()
    for index, line in enumerate(parsed):
        if line.line_id in seen:
            raise bad("claim", ("lines", index, "line_id"), "appears twice")
        seen.add(line.line_id)
        if line.facts.claim.kind not in kinds:
            raise bad(
                "claim",
                ("lines", index, "facts", "claim", "kind"),
                f"must be one of {[k.value for k in kinds]}",
            )
    return [(line, cases._decide(line.facts)) for line in parsed]


def case_line(line: ClaimLine, decision: Decision | None = None) -> CaseLine:
    """The case's record of a claimed order line, with its decision."""
    return CaseLine(
        line_id=line.line_id,
        sku=line.sku or line.facts.product.sku,
        quantity=line.facts.claim.quantity,
        bought=line.facts.order.quantity,
        unit_price=line.facts.order.unit_price,
        facts=line.facts,
        decision=decision,
    )


def request_goods(
    cases: CaseWriter,
    kind: AnyKind,
    claim_kinds: Sequence[ClaimKind],
    ticket_id: str,
    order_id: str,
    lines: Iterable[ClaimLine | Mapping[str, Any]],
    actor: str,
    decide_now: bool,
    instructions: Mapping[str, Any] | None,
    **fields: Any,
) -> Case:
    """Open a return or exchange: decide its lines, and with ``decide_now`` approve (with
    ``instructions``, instruct) or refuse it in the transaction that stores it."""
    if instructions is not None and not decide_now:
        raise bad("return", ("instructions",), "go out with a decision: needs decide_now")
    check_text("order_id", order_id)
    ticket = cases._ticket(ticket_id)
    decided = claim_lines(cases, lines, claim_kinds)
    case, change = cases._new(
        kind,
        ticket,
        actor,
        # valid: an order id checked above and lines built by their model; other fields
        # (an exchange's details) are validated with the case
        valid=not fields,
        order_id=order_id,
        lines=tuple(case_line(line, decision) for line, decision in decided),
        **fields,
    )
    # checked by the store inside the transaction: no other writer gets in between
    change.order_check = returnable(case.lines)
    change.order_check_kinds = GOODS_KINDS
    if not decide_now:
        cases._commit([change])
        return case
    # The decision is made now: creation and approval (or refusal) commit together.
    if not all(d.allowed for _, d in decided):
        return cases._transition(case, "refuse", actor, None, created=change)
    now = change.case.updated_at
    approved = cases._decided(case, "approve", actor, None, now, created=change)
    if instructions is None:
        cases._commit([approved])
        return approved.case
    instructed = cases._decided(
        approved.case, "send_instructions", actor, instructions, now, created=approved
    )
    cases._commit([instructed])
    return instructed.case
