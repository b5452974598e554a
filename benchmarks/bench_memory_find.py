"""The queries a desk makes of MemoryStore as it grows from 1,000 to 1,000,000 tickets:
each query's median time at each size and its ratio to the 1k time (issue 23's target: at
most 5x at 1M), next to a floor measured in the same run, a bisect and a slice of
a plain sorted list of the same size. Every query answers a full page of 20.

Run: python benchmarks/bench_memory_find.py [largest size, default 1000000]
"""

from __future__ import annotations

import gc
import sys
from bisect import bisect_left
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from _timing import back_to_back_median
from aftersales import MemoryStore
from aftersales.models import Channel, Ticket
from aftersales.models.ticket import Priority, StatusCategory
from aftersales.storage import Change, TicketQuery

LARGEST = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
SIZES = [size for size in (1_000, 10_000, 100_000, 1_000_000) if size <= LARGEST]
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
STATUSES = [
    ("new", StatusCategory.NEW),
    ("assigned", StatusCategory.OPEN),
    ("assigned", StatusCategory.OPEN),
    ("waiting", StatusCategory.WAITING_ON_CUSTOMER),
    ("solved", StatusCategory.RESOLVED),
    ("closed", StatusCategory.CLOSED),
    ("closed", StatusCategory.CLOSED),
]
CHANNELS = [Channel.EMAIL, Channel.WECHAT, Channel.EMAIL, Channel.EMAIL]
PRIORITIES = [Priority.NORMAL] * 6 + [Priority.HIGH] * 3 + [Priority.URGENT]
CATEGORIES = ["return_refund", "repair", "billing", "shipping", "warranty", "other"]
TAGS = [f"tag-{index}" for index in range(20)]
PAGE = 20
"""Every query asks for a page of 20, and the data is spread so that each fills it at
every size: the sizes compare the same work."""


def ticket(number: int) -> Ticket:
    """Ticket ``number``, one minute after the one before it (new tickets are newest)."""
    status, category = STATUSES[number % len(STATUSES)]
    created = T0 + timedelta(minutes=number)
    open_ = category is StatusCategory.OPEN
    return Ticket.model_construct(
        id=f"t{number:08d}",
        number=number,
        workflow="ticket",
        channel=CHANNELS[number % len(CHANNELS)],
        subject=f"Ticket {number}",
        description="",
        customer_id=f"customer-{number // 20}",  # 20 tickets a customer
        category=CATEGORIES[number % len(CATEGORIES)],
        priority=PRIORITIES[number % len(PRIORITIES)],
        status=status,
        status_category=category,
        assignee=f"agent-{number % 10}" if open_ else None,
        team=f"team-{number % 11}",
        tags=tuple(TAGS[(number * (k + 3)) % len(TAGS)] for k in range(number % 4)),
        created_at=created,
        updated_at=created,
        due_at=created + timedelta(hours=1) if open_ else None,
        sla_due_at=created + timedelta(minutes=30)
        if category is not StatusCategory.CLOSED
        else None,
    )


def grow(store: MemoryStore, first: int, last: int) -> None:
    """Commit tickets ``first``..``last`` in batches, as an import does."""
    for start in range(first, last + 1, 10_000):
        end = min(start + 10_000, last + 1)
        store.commit_many([Change(ticket(n), 0) for n in range(start, end)])
    store.reserve_numbers(1)


CALLS = 20
"""Calls per timed batch: one query takes microseconds."""
REPEATS = 15
"""Batches timed back to back, the collector off: a full collection among a million
tickets would take longer than every query measured."""


def queries(store: MemoryStore, size: int) -> dict[str, Callable[[], list[Ticket]]]:
    """What a desk asks at ``size`` tickets; due work is asked as of the newest ticket."""
    middle = T0 + timedelta(minutes=size // 2)
    now = T0 + timedelta(minutes=size)
    finds = {
        "open queue": TicketQuery(status_category="open", limit=PAGE),
        "my tickets": TicketQuery(assignee="agent-7", status_category="open", limit=PAGE),
        "team queue": TicketQuery(team="team-3", status_category="open", limit=PAGE),
        "status": TicketQuery(status="waiting", limit=PAGE),
        "channel": TicketQuery(channel="wechat", limit=PAGE),
        "category": TicketQuery(category="repair", limit=PAGE),
        "priority": TicketQuery(priority="urgent", limit=PAGE),
        "customer": TicketQuery(customer_id=f"customer-{size // 40}", limit=PAGE),
        "created range": TicketQuery(
            created_from=middle, created_to=middle + timedelta(days=1), limit=PAGE
        ),
        "tag": TicketQuery(tags=("tag-9",), limit=PAGE),
    }
    answers: dict[str, Callable[[], list[Ticket]]] = {
        name: (lambda query=query: store.find(query)) for name, query in finds.items()
    }
    answers["due"] = lambda: store.due(now, PAGE)
    answers["sla_due"] = lambda: store.sla_due(now, PAGE)
    return answers


def timed(answer: Callable[[], list[Ticket]]) -> float:
    assert len(answer()) == PAGE, "each size must compare the same work: a full page"

    def batch() -> None:
        for _ in range(CALLS):
            answer()

    return back_to_back_median(batch, REPEATS) / CALLS


def floor(size: int) -> float:
    """A bisect into a sorted list of ``size`` keys and the page of items after it."""
    keys = list(range(size))
    probe = size // 2

    def batch() -> None:
        for _ in range(CALLS):
            start = bisect_left(keys, probe)
            keys[start : start + PAGE]

    return back_to_back_median(batch, REPEATS) / CALLS


def main() -> int:
    store = MemoryStore()
    times: dict[str, list[float]] = {name: [] for name in [*queries(store, 1), "floor"]}
    loaded = 0
    for size in SIZES:
        grow(store, loaded + 1, size)
        loaded = size
        gc.collect()
        gc.freeze()  # the tickets live to the end: no collection need walk them again
        for name, answer in queries(store, size).items():
            times[name].append(timed(answer))
        times["floor"].append(floor(size))
    header = "".join(f"{size:>18,}" for size in SIZES)
    print(f"MemoryStore query medians (µs), and the ratio to the 1k time\n{'':14}{header}")
    worst = 0.0
    for name, values in times.items():
        cells = "".join(f"{v * 1e6:>10,.1f} {v / values[0]:>5.2f}x " for v in values)
        print(f"{name:<14}{cells}")
        if name != "floor":
            worst = max(worst, values[-1] / values[0])
    ok = worst <= 5
    print(f"{'OK  ' if ok else 'MISS'} worst ratio at {SIZES[-1]:,}: {worst:.2f}x (target <= 5x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
