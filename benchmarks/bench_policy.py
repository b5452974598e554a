"""Policy decisions: the plain 7-day decision against a hand-written check, every preset
against the plain 7-day decision, and memory over many decisions.

1. A preset decision for a return claim (China 7-day no-reason return): median at most
   10 µs, and at most 20x a hand-written inline check of the same window rule measured in
   the same run.
2. Every preset (and each one's most expensive ordinary path: holiday calendars, working
   days, repair pauses, versions by date) decides within 2x of that plain 7-day decision,
   measured side by side in the same rounds (the ratio is the median over rounds).
   Country calendars are built once per process, so the first decision pays for them and
   the rest do not; the figures are for the rest.
3. 1,000,000 decisions in one process without growth in memory.

Run: python benchmarks/bench_policy.py [decisions]
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from _timing import interleaved_samples, median_ratio, median_seconds, report
from aftersales.policies import Decision, Facts, presets
from aftersales.policies.dates import _country_year

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
POLICY = presets.cn_online_no_reason_return()


def _facts(
    jurisdiction: str,
    kind: str,
    *,
    zone: str = "+08:00",
    currency: str = "CNY",
    category: str = "apparel",
    purchased: str = "2024-03-01",
    claim: str = "2024-03-09",
    **extra: Any,
) -> Facts:
    data: dict[str, Any] = {
        "jurisdiction": jurisdiction,
        "product": {"category": category},
        "order": {
            "purchased_at": f"{purchased}T10:00:00{zone}",
            "delivered_at": f"{purchased}T15:00:00{zone}",
            "unit_price": {"amount": "1999.00", "currency": currency},
            "shipping_paid": {"amount": "9.90", "currency": currency},
        },
        "claim": {"at": f"{claim}T20:00:00{zone}", "kind": kind},
    }
    data.update(extra)
    return Facts.model_validate(data)


def _repairs(zone: str, *spans: tuple[str, str, str]) -> list[dict[str, str]]:
    return [
        {"handed_in_at": f"{a}T12:00:00{zone}", "handed_back_at": f"{b}T12:00:00{zone}",
         "outcome": outcome}
        for a, b, outcome in spans
    ]  # fmt: skip


PRESETS: dict[str, tuple[Callable[[Facts], Decision], Facts]] = {
    "cn 7-day return, holidays rolled forward": (
        presets.cn_online_no_reason_return(roll_forward_holidays=True).evaluate,
        _facts("cn", "no_reason_return", purchased="2024-09-24", claim="2024-10-05"),
    ),
    "cn quality return (consumer law art. 24)": (
        presets.cn_quality_return().evaluate,
        _facts("cn", "quality_return", claim="2024-05-20"),
    ),
    "cn 三包, in warranty, extended by a repair": (
        presets.cn_sanbao_general().evaluate,
        _facts(
            "cn",
            "warranty_repair",
            category="washing_machine",
            claim="2024-07-10",
            repairs=_repairs("+08:00", ("2024-05-01", "2024-05-11", "fixed")),
        ),
    ),
    "cn household car, refund in working days": (
        presets.cn_household_car().evaluate,
        _facts(
            "cn",
            "quality_return",
            category="car",
            purchased="2024-09-20",
            claim="2024-09-25",
            vehicle={"odometer_km": 120, "failed_system": "engine"},
        ),
    ),
    "eu withdrawal, not informed": (
        presets.eu_withdrawal().evaluate,
        _facts("eu", "no_reason_return", zone="+01:00", currency="EUR"),
    ),
    "eu withdrawal, German holidays": (
        presets.eu_withdrawal(holiday_country="DE").evaluate,
        _facts(
            "eu",
            "no_reason_return",
            zone="+01:00",
            currency="EUR",
            withdrawal_information_given_at="2024-03-01T10:00:00+01:00",
        ),
    ),
    "eu legal guarantee": (
        presets.eu_legal_guarantee().evaluate,
        _facts("eu", "legal_guarantee", zone="+01:00", currency="EUR", claim="2024-11-02"),
    ),
    "uk short-term reject after a repair": (
        presets.uk_consumer_rights().evaluate,
        _facts(
            "uk",
            "quality_return",
            zone="+00:00",
            currency="GBP",
            claim="2024-04-10",
            repairs=_repairs("+00:00", ("2024-03-20", "2024-04-05", "fixed")),
        ),
    ),
    "us-ca §1723": (
        presets.us_ca_1723().evaluate,
        _facts(
            "us-ca", "no_reason_return", zone="-08:00", currency="USD", retailer_policy_posted=False
        ),
    ),
    "retailer example (versions)": (
        presets.retailer_example().evaluate,
        _facts("shop", "no_reason_return", zone="+00:00", currency="USD",
               purchased="2025-03-01", claim="2025-03-09"),
    ),
    "decide() dispatch, cn 7-day": (presets.decide, FACTS),
}  # fmt: skip


HEAVIEST: dict[str, tuple[Callable[[Facts], Decision], Facts]] = {
    "cn 三包, two failed repairs, refund less depreciation": (
        presets.cn_sanbao_general().evaluate,
        _facts(
            "cn",
            "quality_return",
            category="washing_machine",
            claim="2024-07-10",
            repairs=_repairs(
                "+08:00",
                ("2024-05-01", "2024-05-11", "failed"),
                ("2024-06-01", "2024-06-11", "failed"),
            ),
        ),
    ),
}
"""Paths that do several times the plain decision's work (two repairs, depreciation, a
refund with deductions): shown beside it, with a looser target."""


def inline_check(signed_off: datetime, claimed: datetime, flags: frozenset[str]) -> bool:
    """What a shop would write by hand: excluded categories, then 7 days after sign-off."""
    if flags & {"made_to_order", "perishable", "digital_download", "periodical"}:
        return False
    last_day: date = signed_off.astimezone(SHANGHAI).date() + timedelta(days=7)
    return claimed.astimezone(SHANGHAI).date() <= last_day


def _batch(evaluate: Callable[[Facts], Decision], facts: Facts, n: int) -> Callable[[], None]:
    def batch() -> None:
        for _ in range(n):
            evaluate(facts)

    return batch


def main() -> int:
    car, car_facts = PRESETS["cn household car, refund in working days"]
    started = time.perf_counter()
    car(car_facts)  # the first in the process: reads China's holidays for 2024
    first = time.perf_counter() - started
    later = median_seconds(_batch(car, car_facts, 200), 200)
    rebuild = median_seconds(lambda: _country_year.__wrapped__("CN", None, 2024), 1, 5)
    print(
        f"INFO first car decision in the process {first * 1e3:,.2f} ms (builds China's "
        f"calendar once), later ones {later * 1e6:,.2f} µs; rebuilding one year of China's "
        f"holidays, as every decision did before the cache, {rebuild * 1e3:,.2f} ms"
    )
    evaluate = POLICY.evaluate
    signed_off, claimed = FACTS.order.delivered_at, FACTS.claim.at
    assert signed_off is not None
    flags = frozenset(flag.value for flag in FACTS.product.flags)
    assert evaluate(FACTS).allowed == inline_check(signed_off, claimed, flags)

    def inline_batch() -> None:
        for _ in range(BATCH):
            inline_check(signed_off, claimed, flags)

    figure = median_seconds(_batch(evaluate, FACTS, BATCH), BATCH) * 1e6
    floor = median_seconds(inline_batch, BATCH) * 1e6
    ok = report(
        "7-day return decision",
        figure,
        floor,
        "µs/decision",
        "<= 20x and <= 10 µs",
        figure <= 20 * floor and figure <= 10,
    )

    per_batch = BATCH // 4
    batches = {"plain": _batch(evaluate, FACTS, per_batch)}
    for name, (decide, facts) in (PRESETS | HEAVIEST).items():
        assert decide(facts).reasons, name
        batches[name] = _batch(decide, facts, per_batch)
    samples = interleaved_samples(batches, per_batch, repeats=15)
    plain = samples.pop("plain")
    for name, times in samples.items():
        ratio = median_ratio(times, plain)
        limit = 2.5 if name in HEAVIEST else 2
        ok &= report(
            name,
            statistics.median(times) * 1e6,
            statistics.median(plain) * 1e6,
            "µs/decision",
            f"<= {limit}x the plain 7-day decision",
            ratio <= limit,
            ratio,
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
