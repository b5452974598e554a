"""An e-commerce return desk: a customer returns 2 of 3 mugs, one arrives broken.

Copy it as a template: open a ticket, request the return (the policy decides every line
and the decision stays on the case), send a label, receive and inspect per unit, refund
what passed inspection (split over the payment methods in proportion), and let the refund
close the return. Hooks tell the customer; run_due cancels returns whose goods never came.

Run: python examples/return_desk.py [database.db]
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from aftersales import Desk, FrozenClock, Notification, SQLiteStore


def notify_customer(notification: Notification) -> None:
    event = notification.event
    print(f"  [to customer] {event.trigger}: case {event.subject_id[:8]} is now {event.to_state}")


def main(path: Path) -> None:
    clock = FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc))
    with Desk(SQLiteStore(path), clock=clock) as desk:
        desk.subscribe(notify_customer, entered=["approved", "refunded", "succeeded"], name="sms")
        ticket = desk.open_ticket(customer="c-88", channel="app", subject="退两个杯子")
        mugs = {
            "line_id": "line-1",
            "facts": {
                "jurisdiction": "cn",
                "product": {"category": "tableware", "sku": "MUG-WHITE"},
                "order": {
                    "purchased_at": "2024-02-26T10:00:00+08:00",
                    "delivered_at": "2024-02-28T15:00:00+08:00",
                    "unit_price": {"amount": "59.00", "currency": "CNY"},
                    "quantity": 3,
                    "payments": [
                        {"method": "alipay", "amount": {"amount": "150.00", "currency": "CNY"}},
                        {"method": "coupon", "amount": {"amount": "27.00", "currency": "CNY"}},
                    ],
                },
                "claim": {"at": "2024-03-04T17:00:00+08:00", "kind": "no_reason_return",
                          "quantity": 2},
            },
        }  # fmt: skip
        cases = desk.cases
        rma = cases.request_return(ticket.id, order_id="SO-1001", lines=[mugs])
        decision = rma.lines[0].decision
        assert decision is not None
        print(f"return {rma.status}: {decision.explain('zh')}")
        cases.fire(rma.id, "send_instructions", payload={"method": "label", "carrier": "SF"})
        clock.advance(days=2)
        cases.fire(rma.id, "receive", payload={"units": {"line-1": 2}})
        cases.fire(rma.id, "inspect", payload={"results": {"line-1": ["restock", "damaged"]}})
        refunded = cases.fire(rma.id, "refund")  # opens the linked refund case
        assert refunded.refund_case_id is not None
        refund = cases.get(refunded.refund_case_id)
        assert refund.refund is not None
        print(f"refund of {refund.refund.amount} due by {refund.refund.due_by}: "
              f"{ {k: str(v) for k, v in refund.refund.per_method.items()} }")  # fmt: skip
        cases.fire(refund.id, "process")
        cases.fire(refund.id, "succeed", payload={"reference": "ALI-7781"})
        for case in cases.for_ticket(ticket.id):
            print(f"ticket #{ticket.number} carries a {case.kind.value} case: {case.status}")
        assert cases.get(rma.id).status == "closed"
        assert cases.replay(rma.id) == cases.get(rma.id)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder) / "returns.db")
