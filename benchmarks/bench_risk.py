"""Risk early warning (issue 20). Target: detection over 2 years of daily series for 10,000
SKUs in at most 5 s, with each method (the alert state kept, as a scheduled run keeps it).

The floor is a bare Python loop over the same 7,300,000 daily values (the least any pure
Python pass over them costs); numpy summing the array is printed too, and the pure Python
path (what detect_many falls back to without numpy) once. Building the Series
(validating every value) is printed apart: a caller that keeps its series pays it once.

Also printed, as the issue asks: each method's false alarms per 1,000 series-days on
histories without a shift, and its detection delay (days from the shift to the last day
of the first alert's window) for step shifts of 1.5x, 2x and 3x.

Run: python benchmarks/bench_risk.py [SKUs]
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import date

import numpy as np

from _timing import median_seconds, report
from aftersales.insights import AlertState, RiskRule, Series, detect, detect_many

SKUS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
DAYS = 730
START = date(2024, 1, 1)
METHODS = ("poisson", "binomial", "ewma", "cusum")
SHIFT_DAY = 400


def histories(
    count: int, *, seed: int, shift_day: int | None = None, factor: float = 1.0
) -> list[Series]:
    """``count`` SKUs' daily complaints: Poisson around 1% of 300-699 units sold a day
    (about 5 a day), multiplied by ``factor`` from ``shift_day`` on."""
    rng = np.random.default_rng(seed)
    units = rng.integers(300, 700, size=(count, DAYS))
    mean = units * 0.01
    if shift_day is not None:
        mean[:, shift_day:] *= factor
    counts = rng.poisson(mean)
    return [
        Series(f"SKU-{index}", "complaints", START, counts[index], units[index])
        for index in range(count)
    ]


def bench_detection() -> bool:
    started = time.perf_counter()
    series = histories(SKUS, seed=1)
    # a tenth of the catalogue doubles its complaint rate in the second year
    series[: SKUS // 10] = histories(SKUS // 10, seed=2, shift_day=SHIFT_DAY, factor=2.0)
    print(f"     built {SKUS:,} series x {DAYS} days in {time.perf_counter() - started:.2f} s")
    matrix = np.array([s.counts for s in series], dtype=np.float64)

    def python_loop() -> None:
        total = 0
        for each in series:
            for value in each.counts:
                total += value

    floor = median_seconds(python_loop, 1, repeats=3)
    numpy_sum = median_seconds(lambda: matrix.sum(), 1, repeats=5)
    print(f"     numpy sum of the same {matrix.size:,} values: {numpy_sum * 1e3:.1f} ms")
    ok = True
    for method in METHODS:
        rule = RiskRule(method=method)  # type: ignore[arg-type]
        found: list[int] = []

        def run(rule: RiskRule = rule, found: list[int] = found) -> None:
            found.append(len(detect_many(series, rule, AlertState())))

        figure = median_seconds(run, 1, repeats=3)
        ok &= report(
            f"{method}: {SKUS:,} SKUs x {DAYS} days ({found[-1]:,} alerts)",
            figure,
            floor,
            "s",
            "<= 5 s (floor: a Python loop over the values)",
            figure <= 5,
        )
    started = time.perf_counter()
    for each in series:
        detect(each, RiskRule(), AlertState())
    print(f"     poisson without numpy (detect per series): {time.perf_counter() - started:.2f} s")
    return ok


def detection_quality() -> None:
    count = max(200, SKUS // 10)
    steady = histories(count, seed=11)
    shifted = {
        factor: histories(count, seed=12 + index, shift_day=SHIFT_DAY, factor=factor)
        for index, factor in enumerate((1.5, 2.0, 3.0))
    }
    print(f"     detection on {count:,} SKUs per history, shift at day {SHIFT_DAY}:")
    for method in METHODS:
        rule = RiskRule(method=method)  # type: ignore[arg-type]
        judged_days = count * (DAYS - rule.baseline_windows - rule.test_windows + 1)
        false_alarms = len(detect_many(steady, rule)) / judged_days * 1000
        parts = [f"{false_alarms:.2f} false alarms per 1,000 series-days"]
        for factor, series in shifted.items():
            first: dict[str, int] = {}
            for alert in detect_many(series, rule):
                day = (alert.window_end - START).days
                if day >= SHIFT_DAY and alert.key not in first:
                    first[alert.key] = day - SHIFT_DAY
            delays = sorted(first.values())
            p90 = delays[int(0.9 * (len(delays) - 1))]
            parts.append(
                f"{factor}x: {len(delays) / count:.0%} found, delay median "
                f"{statistics.median(delays):g} p90 {p90} d"
            )
        print(f"     {method:>8}: " + "; ".join(parts))


def main() -> int:
    ok = bench_detection()
    detection_quality()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
