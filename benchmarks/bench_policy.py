"""A preset decision for a return claim (China 7-day no-reason return): median at most
10 µs, and at most 20x a hand-written inline check of the same window rule measured in the
same run; then 1,000,000 decisions in one process without growth in memory.

Run: python benchmarks/bench_policy.py [decisions]
"""

from __future__ import annotations

import sys
import tracemalloc
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from _timing import median_seconds, report
from aftersales.policies import Facts
from aftersales.policies.presets import cn_online_no_reason_return

DECISIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
BATCH = 2_000
SHANGHAI = ZoneInfo("Asia/Shanghai")

FACTS = Facts.model_validate(
    {
        "jurisdiction": "cn",
        "product": {"category": "apparel"},
        "order": {
            "purchased_at": "2024-03-01T10:00:00+08:00",
            "delivered_at": "2024-03-03T15:00:00+08:00",
            "unit_price": {"amount": "199.00", "currency": "CNY"},
        },
        "claim": {"at": "2024-03-09T20:00:00+08:00", "kind": "no_reason_return"},
    }
)
POLICY = cn_online_no_reason_return()


def inline_check(signed_off: datetime, claimed: datetime, flags: frozenset[str]) -> bool:
    """What a shop would write by hand: excluded categories, then 7 days after sign-off."""
    if flags & {"made_to_order", "perishable", "digital_download", "periodical"}:
        return False
    last_day: date = signed_off.astimezone(SHANGHAI).date() + timedelta(days=7)
    return claimed.astimezone(SHANGHAI).date() <= last_day


def main() -> int:
    evaluate = POLICY.evaluate
    signed_off, claimed = FACTS.order.delivered_at, FACTS.claim.at
    assert signed_off is not None
    flags = frozenset(flag.value for flag in FACTS.product.flags)
    assert evaluate(FACTS).allowed == inline_check(signed_off, claimed, flags)

    def policy_batch() -> None:
        for _ in range(BATCH):
            evaluate(FACTS)

    def inline_batch() -> None:
        for _ in range(BATCH):
            inline_check(signed_off, claimed, flags)

    figure = median_seconds(policy_batch, BATCH) * 1e6
    floor = median_seconds(inline_batch, BATCH) * 1e6
    ok = report(
        "7-day return decision",
        figure,
        floor,
        "µs/decision",
        "<= 20x and <= 10 µs",
        figure <= 20 * floor and figure <= 10,
    )

    tracemalloc.start()
    for _ in range(10_000):
        evaluate(FACTS)
    before, _ = tracemalloc.get_traced_memory()
    for _ in range(DECISIONS):
        evaluate(FACTS)
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    growth = after - before
    print(
        f"{'OK  ' if growth < 64 * 1024 else 'MISS'} {DECISIONS:,} decisions: memory grew by "
        f"{growth:,} bytes (target: no growth, under 64 KiB of noise)"
    )
    return 0 if ok and growth < 64 * 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
