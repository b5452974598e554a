"""Memory of 100,000 open tickets in MemoryStore: bytes per ticket (target at most 6 KB),
next to the floor of a bare dict holding the same fields, and a count of state-machine
objects (target: none per ticket, one shared machine per workflow).

Run: python benchmarks/bench_memory.py [count]
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from datetime import datetime, timezone

import transitions

from _timing import report
from aftersales import Desk, FrozenClock, MemoryStore

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000


def machine_objects() -> int:
    gc.collect()
    kinds = (transitions.Machine, transitions.core.State, transitions.core.Event)
    return sum(isinstance(obj, kinds) for obj in gc.get_objects())


def desk_bytes_per_ticket() -> tuple[float, int, int]:
    clock = FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc))
    desk = Desk(MemoryStore(), clock=clock)
    desk.open_ticket(customer="warm-up", channel="email", subject="warm up")
    machines_before = machine_objects()
    gc.collect()
    tracemalloc.start()
    start, _ = tracemalloc.get_traced_memory()
    for index in range(COUNT):
        ticket = desk.open_ticket(
            customer=f"customer-{index % 5000}",
            channel="wechat",
            subject=f"订单 {index} 的商品有划痕 / item {index} arrived scratched",
        )
        desk.classify(ticket.id, category="return_refund", severity="medium")
        desk.assign(ticket.id, assignee=f"agent-{index % 40}", team="returns")
    gc.collect()
    end, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    machines_after = machine_objects()
    open_tickets = len(desk.find(status="assigned", limit=10_000))
    assert open_tickets == min(COUNT, 10_000)
    return (end - start) / COUNT, machines_before, machines_after


def dict_bytes_per_ticket() -> float:
    """The floor: each ticket as a plain dict of the same field values, and nothing else."""
    created = datetime(2024, 3, 4, 9, tzinfo=timezone.utc)
    gc.collect()
    tracemalloc.start()
    start, _ = tracemalloc.get_traced_memory()
    rows = {}
    for index in range(COUNT):
        ticket_id = f"{index:032x}"
        rows[ticket_id] = {
            "id": ticket_id, "number": index + 1, "channel": "wechat",
            "subject": f"订单 {index} 的商品有划痕 / item {index} arrived scratched",
            "customer_id": f"customer-{index % 5000}", "status": "assigned",
            "status_category": "open", "category": "return_refund", "severity": "medium",
            "priority": "normal", "assignee": f"agent-{index % 40}", "team": "returns",
            "created_at": created, "updated_at": created, "version": 4,
        }  # fmt: skip
    gc.collect()
    end, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (end - start) / COUNT


def main() -> int:
    per_ticket, before, after = desk_bytes_per_ticket()
    floor = dict_bytes_per_ticket()
    ok = report(f"MemoryStore, {COUNT:,} open tickets with 4 events each", per_ticket / 1024,
                floor / 1024, "KB/ticket", "<= 6 KB/ticket", per_ticket <= 6 * 1024)  # fmt: skip
    print(f"     state-machine objects (Machine/State/Event): {before} before, {after} after")
    ok = ok and before == after
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
