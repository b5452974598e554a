"""An electronics repair shop: a phone under 三包 warranty fails twice and is replaced;
an old phone gets a paid quote the customer declines.

Copy it as a template: the policy decides each repair with every earlier repair of the
same serial number (repair days extend the warranty; after the second failed repair it
offers a replacement), quality check failures send the phone back to the bench, and
run_due reminds customers about quotes they have not answered.

Run: python examples/repair_shop.py [database.db]
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aftersales import Desk, FrozenClock, SQLiteStore


def phone(purchased: str) -> dict[str, Any]:
    return {
        "line_id": "line-1",
        "facts": {
            "jurisdiction": "cn",
            "product": {"category": "mobile_phone", "sku": "PHONE-X"},
            "order": {
                "purchased_at": purchased,
                "unit_price": {"amount": "2999.00", "currency": "CNY"},
            },
            "claim": {"at": "2024-03-04T10:00:00+08:00", "kind": "warranty_repair"},
        },
    }


def bench(desk: Desk, case_id: str, *, qc_failures: int = 0) -> None:
    cases = desk.cases
    cases.fire(case_id, "hand_in", payload={"site": "depot"})
    cases.fire(case_id, "diagnose", payload={"diagnosis": "no charge: port corroded"})
    cases.fire(case_id, "start_repair")
    for _ in range(qc_failures):
        cases.fire(case_id, "finish_repair")
        cases.fire(case_id, "fail_qc", payload={"reason": "charges at 5W only"})
    cases.fire(case_id, "finish_repair")
    cases.fire(case_id, "pass_qc")
    cases.fire(case_id, "hand_back")


def main(path: Path) -> None:
    clock = FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc))
    with Desk(SQLiteStore(path), clock=clock) as desk:
        cases = desk.cases
        ticket = desk.open_ticket(customer="c-7", channel="phone", subject="手机充不进电")
        repair = cases.open_repair(
            ticket.id, serial="IMEI-86001", line=phone("2024-01-10T10:00:00+08:00")
        )
        print(f"in warranty: {repair.status}")
        bench(desk, repair.id, qc_failures=1)
        for _ in range(2):
            clock.advance(days=12)
            cases.fire(repair.id, "report_failure", payload={"reason": "stopped charging"})
            repair = cases.assess_repair(repair.id)
            print(f"after a failed repair: {repair.status}")
            if repair.status == "awaiting_device":
                bench(desk, repair.id)
        decision = repair.lines[0].decision
        assert decision is not None
        print(decision.explain("zh"))
        cases.fire(repair.id, "accept_replacement")
        for record in cases.repair_history("IMEI-86001"):
            print(f"  IMEI-86001 repair {record.handed_in_at:%Y-%m-%d}: {record.outcome.value}")

        old = cases.open_repair(
            ticket.id, serial="IMEI-11111", line=phone("2021-05-01T10:00:00+08:00")
        )
        old_decision = old.lines[0].decision
        assert old_decision is not None
        print(f"old phone: {old.status} ({old_decision.explain()})")
        cases.fire(old.id, "quote", payload={"amount": {"amount": "420.00", "currency": "CNY"}})
        clock.advance(days=8)
        print(f"run_due: {[d.action for d in desk.run_due().cases]}")
        declined = cases.fire(old.id, "decline_quote")
        assert declined.repair is not None
        print(f"quote declined after {declined.repair.reminders} reminder(s): {declined.status}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder) / "repairs.db")
