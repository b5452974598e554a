"""Facts and claim lines for after-sales case tests, from short arguments."""

from __future__ import annotations

from typing import Any


def claim_line(
    line_id: str = "l1",
    *,
    kind: str = "no_reason_return",
    bought: int = 3,
    claimed: int = 2,
    price: str = "100.00",
    category: str = "apparel",
    purchased: str = "2024-02-26T10:00:00+08:00",
    delivered: str | None = "2024-02-28T15:00:00+08:00",
    claim_at: str = "2024-03-04T17:00:00+08:00",
    payments: tuple[tuple[str, str], ...] = (),
    jurisdiction: str = "cn",
    **claim: Any,
) -> dict[str, Any]:
    """A claim line as plain data: the policy facts of ``claimed`` of ``bought`` units."""
    order: dict[str, Any] = {
        "purchased_at": purchased,
        "delivered_at": delivered,
        "unit_price": {"amount": price, "currency": "CNY"},
        "quantity": bought,
    }
    if payments:
        order["payments"] = [
            {"method": method, "amount": {"amount": amount, "currency": "CNY"}}
            for method, amount in payments
        ]
    return {
        "line_id": line_id,
        "sku": f"SKU-{line_id}",
        "facts": {
            "jurisdiction": jurisdiction,
            "product": {"category": category, "sku": f"SKU-{line_id}"},
            "order": order,
            "claim": {"at": claim_at, "kind": kind, "quantity": claimed, **claim},
        },
    }


CARE_ROUTING: dict[str, Any] = {
    "agents": [
        {"id": "agent-1", "teams": ["care"]},
        {"id": "agent-2", "teams": ["care"]},
        {"id": "li.wei", "teams": ["repairs"]},
    ],
    "teams": [{"id": "care", "supervisor": "sup-wang"}, {"id": "repairs", "supervisor": "sup-li"}],
    "default_team": "care",
}
"""Routing with two teams and their supervisors, who take escalated complaints."""


def phone(**overrides: Any) -> dict[str, Any]:
    """A mobile phone bought in January: past the 三包 15-day tier, inside its 1-year
    warranty on the test clock's day."""
    values: dict[str, Any] = {
        "kind": "warranty_repair",
        "bought": 1,
        "claimed": 1,
        "price": "2999.00",
        "category": "mobile_phone",
        "purchased": "2024-01-10T10:00:00+08:00",
        "delivered": "2024-01-11T10:00:00+08:00",
    }
    values.update(overrides)
    return claim_line("phone", **values)
