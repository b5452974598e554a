"""Order checks of new cases and the cent-exact split of money.

A new return or exchange may not take back more units than were bought, minus what the
order's earlier cases took; a new refund may not pay a line more than was paid for it. The
store runs these checks inside its transaction, over the order's stored cases, so no other
writer gets in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from itertools import islice
from typing import Any

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models.case import Case, CaseKind, CaseLine

__all__: list[str] = []

CENT = Decimal("0.01")
GOODS_KINDS = (CaseKind.RETURN, CaseKind.EXCHANGE)
"""The kinds whose cases take goods back (what a return's order check counts)."""
_NOT_RETURNED = frozenset({"refused", "cancelled"})


def returnable(claimed: Sequence[CaseLine]) -> Callable[[Sequence[Case]], None]:
    """The order check of a new return or exchange: no line is returned beyond what was
    bought minus what the order's earlier cases already took back."""

    def check(stored: Sequence[Case]) -> None:
        # An exchange opened by a return ships the replacement of units that return took.
        earlier = [
            c
            for c in stored
            if c.kind in GOODS_KINDS
            and c.status not in _NOT_RETURNED
            and not (c.kind is CaseKind.EXCHANGE and c.parent_id is not None)
        ]
        for index, line in enumerate(claimed):
            bought = line.bought
            taken = sum(
                case_line.quantity
                for case in earlier
                for case_line in case.lines
                if case_line.line_id == line.line_id
            )
            wanted = line.quantity
            if taken + wanted > bought:
                raise bad(
                    "return",
                    ("lines", index, "facts", "claim", "quantity"),
                    f"{wanted} units claimed but only {bought - taken} of the {bought} bought "
                    f"on line {line.line_id} are left to return",
                )

    return check


def paid_for(line: CaseLine) -> Decimal:
    """What the customer paid for an order line, by the order facts kept with it: every
    unit bought and, where the facts say so, its delivery; never less than the refund its
    policy decision grants (an EU withdrawal refunds the standard delivery too)."""
    facts = line.facts
    if facts is None:
        paid = line.paid
    else:
        order = facts.order
        paid = order.unit_price.amount * order.quantity
        if order.shipping_paid is not None:
            paid += order.shipping_paid.amount
    decision = line.decision
    if decision is not None and decision.refund is not None and decision.refund.net > paid:
        paid = decision.refund.net
    return paid


def refundable(
    lines: Sequence[CaseLine],
    allocation: Mapping[str, Decimal],
    limits: Mapping[str, Decimal] | None = None,
) -> Callable[[Sequence[Case]], None]:
    """The order check of a new refund: no line is refunded beyond what was paid for it,
    counting the order's earlier refunds that were not cancelled.

    What was paid comes from ``limits`` (the order facts and decisions of the case the
    refund pays) or, for a refund of its own, from the order facts stored with the
    order's cases, never from the refund's request: a request whose price or quantity
    disagrees with them is refused. Only a line the store knows nothing about yet is
    limited by the request's own figures, which then stay with it."""

    def check(stored: Sequence[Case]) -> None:
        refunded: dict[str, Decimal] = {}
        for case in stored:
            if case.kind is CaseKind.REFUND and case.status != "cancelled" and case.refund:
                for line_id, amount in case.refund.allocation.items():
                    refunded[line_id] = refunded.get(line_id, Decimal(0)) + amount
        known = _stored_lines(stored) if limits is None else {}
        for index, line in enumerate(lines):
            if limits is not None:
                paid = limits.get(line.line_id, line.paid)
            else:
                on_record = known.get(line.line_id)
                paid = line.paid if on_record is None else _agrees(line, on_record, index)
            already = refunded.get(line.line_id, Decimal(0))
            wanted = allocation.get(line.line_id, Decimal(0))
            if already + wanted > paid:
                raise bad(
                    "refund",
                    ("lines", index, "line_id"),
                    f"refunding {wanted} on line {line.line_id} would make "
                    f"{already + wanted}, more than the {paid} paid "
                    f"({already} refunded before)",
                )

    return check


def _stored_lines(stored: Sequence[Case]) -> dict[str, CaseLine]:
    """Per order line, the stored line that says best what was paid: the first one with
    order facts, else the first one stored."""
    found: dict[str, CaseLine] = {}
    for case in stored:
        for line in case.lines:
            earlier = found.get(line.line_id)
            if earlier is None or (earlier.facts is None and line.facts is not None):
                found[line.line_id] = line
    return found


def _agrees(line: CaseLine, on_record: CaseLine, index: int) -> Decimal:
    """What was paid for ``line`` by the stored record of its order line; a request that
    says otherwise about the price or the units bought is refused."""
    facts = on_record.facts
    price = facts.order.unit_price if facts is not None else on_record.unit_price
    bought = facts.order.quantity if facts is not None else on_record.bought
    if line.unit_price != price:
        raise bad(
            "refund",
            ("lines", index, "unit_price"),
            f"line {line.line_id} was sold at {price.amount} {price.currency} a unit, "
            f"not {line.unit_price.amount} {line.unit_price.currency}",
        )
    if line.bought != bought:
        raise bad(
            "refund",
            ("lines", index, "bought"),
            f"{bought} units were bought on line {line.line_id}, not {line.bought}",
        )
    return paid_for(on_record)


def bad(subject: str, location: tuple[str | int, ...], message: str) -> InvalidInput:
    """Bad input about ``subject`` at ``location``."""
    return InvalidInput(subject, [FieldError(location, message)])


def split(amount: Decimal, weights: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """``amount`` split in proportion to ``weights``, in cents that add up to it exactly
    (the largest share absorbs the rounding)."""
    total = sum(weights.values(), Decimal(0))
    if not weights or total <= 0:
        return {}
    shares = {
        name: (amount * weight / total).quantize(CENT, ROUND_HALF_UP)
        for name, weight in weights.items()
    }
    largest = max(shares, key=lambda name: shares[name])
    shares[largest] += amount - sum(shares.values(), Decimal(0))
    return shares


def order_lines(lines: object, subject: str, most: int) -> list[Any]:
    """The order lines of a new case, as a list of at most ``most``
    (``DeskSettings.max_case_lines``); anything that is not a sequence (or iterator) of lines
    is bad input."""
    if (
        lines is None
        or isinstance(lines, (str, bytes, bytearray, Mapping))
        or not (isinstance(lines, Iterable))
    ):
        raise bad(subject, ("lines",), "must be a list of order lines")
    bounded = list(islice(lines, most + 1))
    if len(bounded) > most:
        raise bad(
            subject,
            ("lines",),
            f"a case holds at most {most} order lines (DeskSettings.max_case_lines)",
        )
    return bounded
