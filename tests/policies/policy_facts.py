"""Build Facts for tests from short, readable arguments."""

from __future__ import annotations

from typing import Any

from aftersales.policies import Facts

ZONES = {"cn": "+08:00", "eu": "+01:00", "uk": "+00:00", "us-ca": "-08:00", "shop": "+00:00"}


def at(day: str | None, zone: str) -> str | None:
    """'2024-03-10' → noon that day; '2024-03-10T23:59' → that minute; in ``zone``."""
    if day is None:
        return None
    return f"{day}:00{zone}" if "T" in day else f"{day}T12:00:00{zone}"


def make_facts(
    *,
    jurisdiction: str = "cn",
    category: str = "apparel",
    flags: tuple[str, ...] = (),
    purchased: str = "2024-03-01",
    delivered: str | None = "2024-03-03",
    claim: str = "2024-03-05",
    kind: str = "no_reason_return",
    condition: str = "unopened",
    price: str = "199.00",
    currency: str = "CNY",
    quantity: int = 1,
    claim_quantity: int = 1,
    repairs: tuple[dict[str, Any], ...] = (),
    order: dict[str, Any] | None = None,
    claim_fields: dict[str, Any] | None = None,
    **extra: Any,
) -> Facts:
    zone = ZONES.get(jurisdiction, "+00:00")
    order_data: dict[str, Any] = {
        "purchased_at": at(purchased, zone),
        "delivered_at": at(delivered, zone),
        "unit_price": {"amount": price, "currency": currency},
        "quantity": quantity,
    }
    order_data.update(order or {})
    claim_data: dict[str, Any] = {
        "at": at(claim, zone),
        "kind": kind,
        "condition": condition,
        "quantity": claim_quantity,
    }
    claim_data.update(claim_fields or {})
    data: dict[str, Any] = {
        "jurisdiction": jurisdiction,
        "product": {"category": category, "flags": list(flags)},
        "order": order_data,
        "claim": claim_data,
        "repairs": [
            {key: at(value, zone) if key.endswith("_at") else value for key, value in r.items()}
            for r in repairs
        ],
    }
    data.update(extra)
    return Facts.model_validate(data)
