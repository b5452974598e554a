"""A customer's case as the API opens it: the fields a customer may give for each kind,
and claim lines whose facts come from the shop's order lines, never from the request.

What a claim is decided on (the price paid, the purchase and delivery dates, the
quantity bought, the product) is the shop's record: a customer that sent them could have
any return approved. A customer names an order line it was sold and says what it claims
(the kind, how many, their condition, why); the router's ``orders(ticket)`` gives the
line's facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aftersales.exceptions import FieldError, InvalidInput, PermissionDenied
from aftersales.models import Ticket
from aftersales.security import Principal

if TYPE_CHECKING:
    from aftersales.web._access import OrderLines

__all__ = ["CLAIM_FIELDS", "CUSTOMER_FIELDS", "customer_fields"]

CUSTOMER_FIELDS: Mapping[str, frozenset[str]] = {
    "return": frozenset({"order_id", "lines"}),
    "exchange": frozenset({"order_id", "line", "replacement_sku"}),
    "repair": frozenset({"order_id", "line", "serial", "site"}),
    "complaint": frozenset({"summary", "severity", "order_id"}),
    "visit": frozenset(
        {"address", "window_start", "window_end", "purpose", "serial", "order_id", "line"}
    ),
}
"""The opener's keywords a customer may give, per kind. Other kinds (a refund, whose
amounts are the shop's) are opened by staff."""

CLAIM_FIELDS = frozenset({"line_id", "kind", "quantity", "condition", "reason"})
"""What a customer says of each order line it claims; the facts are the shop's."""

_LINE_LISTS = frozenset({"lines"})
"""Fields holding a list of claim lines (the others, ``line``, hold one)."""


def _refused(location: tuple[str | int, ...], message: str) -> InvalidInput:
    return InvalidInput("case", [FieldError(("fields", *location), message)])


def _claim_line(
    claim: object,
    location: tuple[str | int, ...],
    order_id: object,
    known: Mapping[tuple[str, str], Any],
    now: datetime,
) -> dict[str, Any]:
    """The core's claim line for a customer's claim of one order line: the shop's facts
    of the line with the customer's claim."""
    if not isinstance(claim, Mapping):
        raise _refused(location, f"must be an object of {', '.join(sorted(CLAIM_FIELDS))}")
    given = sorted(str(key) for key in claim if key not in CLAIM_FIELDS)
    if given:
        raise _refused(
            (*location, given[0]),
            "comes from the shop's order records, not from a customer "
            f"(a customer gives {', '.join(sorted(CLAIM_FIELDS))})",
        )
    line_id = claim.get("line_id")
    line = known.get((str(order_id), str(line_id)))
    if line is None:
        raise _refused((*location, "line_id"), "not an order line the shop lists for this ticket")
    quantity = claim.get("quantity", 1)
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise _refused((*location, "quantity"), "must be a whole number")
    reason = claim.get("reason")
    facts = line.claim_facts(
        at=now,
        kind=str(claim.get("kind", "")),
        quantity=quantity,
        condition=str(claim.get("condition", "unopened")),
        reason=None if reason is None else str(reason),
    )
    return {"line_id": line.line_id, "facts": facts, "sku": line.sku}


def customer_fields(
    kind: str,
    fields: Mapping[str, Any],
    *,
    principal: Principal,
    ticket: Ticket,
    orders: OrderLines | None,
    now: datetime,
) -> dict[str, Any]:
    """The opener's keywords for a customer's case of ``kind``: only the fields a
    customer may give (422 naming any other), and each claimed line with the facts of
    the shop's order line it names (``orders(ticket)``; none without it)."""
    allowed = CUSTOMER_FIELDS.get(kind)
    if allowed is None:
        raise PermissionDenied(principal.id, f"open a {kind} case", "web", "staff open these")
    extra = sorted(key for key in fields if key not in allowed)
    if extra:
        raise _refused(
            (extra[0],),
            f"not for a customer to give (a customer's {kind} takes {', '.join(sorted(allowed))})",
        )
    opened = dict(fields)
    claimed = [key for key in ("lines", "line") if key in fields]
    if not claimed:
        return opened
    order_id = fields.get("order_id")
    if not isinstance(order_id, str):
        raise _refused(("order_id",), "required: the order of the line claimed")
    known = {
        (line.order_id, line.line_id): line for line in (() if orders is None else orders(ticket))
    }
    for key in claimed:
        value = fields[key]
        if key in _LINE_LISTS:
            if not isinstance(value, list):
                raise _refused((key,), "must be a list of claimed order lines")
            opened[key] = [
                _claim_line(each, (key, index), order_id, known, now)
                for index, each in enumerate(value)
            ]
        else:
            opened[key] = _claim_line(value, (key,), order_id, known, now)
    return opened
