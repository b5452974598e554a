"""The order lines a customer may ask to return, as the shop knows them, and the claim
the return form adds to their facts."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.policies import Facts

__all__ = ["RETURN_CLAIMS", "ReturnableLine"]

RETURN_CLAIMS = ("no_reason_return", "quality_return")
"""The claims the return form offers: a change of mind, or a fault."""


def _plain_facts(value: object) -> dict[str, Any]:
    """The facts of a line without a claim, as plain data."""
    if isinstance(value, Facts):
        return value.model_dump(exclude={"claim"})
    if isinstance(value, Mapping):
        return {key: item for key, item in value.items() if key != "claim"}
    raise InvalidInput(
        "returnable line", [FieldError(("facts",), "must be Facts or a mapping of facts")]
    )


@attrs.frozen
class ReturnableLine:
    """One order line a ticket's customer may ask to return, from the shop's records.

    ``facts`` are the policy facts of the line without the claim (``jurisdiction``,
    ``product``, ``order`` and any other field of :class:`~aftersales.policies.Facts`);
    the form adds the claim: now, the kind, the quantity, the condition, the reason.
    ``title`` is what the customer sees (``"White mug"``).
    """

    order_id: str
    line_id: str
    title: str
    facts: Mapping[str, Any] = attrs.field(converter=_plain_facts)
    sku: str | None = None

    @property
    def key(self) -> str:
        """The value the form sends for this line: stable, whatever the ids hold."""
        digest = hashlib.sha256(f"{self.order_id}\n{self.line_id}".encode()).hexdigest()
        return digest[:20]

    @property
    def quantity(self) -> int:
        """The units bought on this line (1 when the facts do not say)."""
        order = self.facts.get("order")
        bought = order.get("quantity", 1) if isinstance(order, Mapping) else 1
        return bought if isinstance(bought, int) and bought > 0 else 1

    def claim_facts(
        self, *, at: datetime, kind: str, quantity: int, condition: str, reason: str | None
    ) -> Facts:
        """The line's facts with the customer's claim; InvalidInput when they do not
        validate (the shop's facts, or a claim they refuse)."""
        claim: dict[str, Any] = {
            "at": at,
            "kind": kind,
            "quantity": quantity,
            "condition": condition,
        }
        if reason:
            claim["reason"] = reason
            if kind == "quality_return":
                claim["defect"] = reason
        try:
            return Facts.model_validate({**self.facts, "claim": claim})
        except ValueError as error:  # pydantic's ValidationError is a ValueError
            raise InvalidInput(
                "return", [FieldError(("facts",), str(error).splitlines()[0])]
            ) from None
