"""Facts and claim lines for after-sales case tests, from short arguments."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any

from aftersales import Desk, FrozenClock, InvalidInput, Store


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


def race_for_the_last_units(first: Store, second: Store, orders: int = 10) -> list[list[str]]:
    """Two desks, each on its own connection, ask at the same moment to return 2 of the 3
    units bought on one line of the same order. Per order, what each got: ``"returned"``
    or ``"refused"`` (anything else is the unexpected error's repr). Closes both stores."""
    try:
        return _race(first, second, orders)
    finally:
        first.close()
        second.close()


def _race(first: Store, second: Store, orders: int) -> list[list[str]]:
    clock = FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc))
    desks = [Desk(first, clock=clock), Desk(second, clock=clock)]
    ticket_id = desks[0].open_ticket(customer="c-1", channel="app", subject="退货").id

    def ask(desk: Desk, order_id: str, barrier: threading.Barrier, outcome: list[str]) -> None:
        barrier.wait()
        try:
            desk.cases.request_return(
                ticket_id, order_id=order_id, lines=[claim_line(bought=3, claimed=2)]
            )
            outcome.append("returned")
        except InvalidInput:
            outcome.append("refused")
        except Exception as error:  # noqa: BLE001 - the test shows what went wrong
            outcome.append(repr(error))

    outcomes: list[list[str]] = []
    for number in range(orders):
        barrier = threading.Barrier(len(desks))
        outcome: list[str] = []
        threads = [
            threading.Thread(target=ask, args=(desk, f"race-{number}", barrier, outcome))
            for desk in desks
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        outcomes.append(sorted(outcome))
    return outcomes
