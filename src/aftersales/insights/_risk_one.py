"""One series judged in pure Python: which windows alarm under a rule, and what an alert of
each window reports.

The methods' formulas are in :mod:`aftersales.insights.risk`, which turns these alarms
into alerts (the cool-down) for :func:`~aftersales.insights.detect`.
"""

from __future__ import annotations

import math
from itertools import accumulate
from typing import TYPE_CHECKING

import attrs

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.insights._tails import binomial_upper_tail, poisson_upper_tail

if TYPE_CHECKING:
    from aftersales.insights.risk import RiskRule, Series

TESTS = ("poisson", "binomial")
"""The methods that are tests (a p-value) rather than charts."""


def series_error(location: tuple[str | int, ...], message: str) -> InvalidInput:
    return InvalidInput("Series", [FieldError(location, message)])


@attrs.frozen
class Judged:
    """Per-window results of one series: alarm flags and what an alert reports."""

    alarms: list[int]
    observed: list[int]
    exposure: list[float]
    rate: list[float]
    expected: list[float]
    statistic: dict[int, float]
    judged_before: list[int]
    """``judged_before[i]``: how many windows before window ``i`` were judged."""


def check_binomial(series: Series) -> tuple[float, ...]:
    """The series' exposure, whole numbers of trials; InvalidInput otherwise. A day's
    count may exceed its exposure (returns of units sold before): the test judges the
    window's totals, and a window whose count exceeds its trials is not judged."""
    exposure = series.exposure
    if exposure is None:
        raise series_error(("exposure",), "is required by the binomial method")
    for index, trials in enumerate(exposure):
        if trials != int(trials):
            raise series_error(("exposure", index), "must be a whole number for binomial")
    return exposure


def judge(series: Series, rule: RiskRule) -> Judged:
    counts = series.counts
    size = len(counts)
    if rule.method == "binomial":
        exposure = check_binomial(series)
    else:
        exposure = series.exposure if series.exposure is not None else (1.0,) * size
    width, base = rule.test_windows, rule.baseline_windows
    count_sums = [0] * (size + 1)
    exposure_sums = [0.0] * (size + 1)
    running_count, running_exposure = 0, 0.0
    for index in range(size):
        running_count += counts[index]
        running_exposure += exposure[index]
        count_sums[index + 1] = running_count
        exposure_sums[index + 1] = running_exposure
    observed = [0] * size
    window_exposure = [0.0] * size
    rates = [0.0] * size
    expected = [0.0] * size
    judged = [False] * size
    for day in range(width + base - 1, size):
        end, cut, begin = day + 1, day + 1 - width, day + 1 - width - base
        base_exposure = exposure_sums[cut] - exposure_sums[begin]
        observed[day] = count_sums[end] - count_sums[cut]
        window_exposure[day] = exposure_sums[end] - exposure_sums[cut]
        if base_exposure <= 0:
            continue
        rate = (count_sums[cut] - count_sums[begin]) / base_exposure
        mean = rate * window_exposure[day]
        rates[day], expected[day] = rate, mean
        judged[day] = mean >= rule.min_expected and (
            rule.method != "binomial" or (rate < 1 and observed[day] <= window_exposure[day])
        )
    statistic: dict[int, float] = {}
    alarms: list[int] = []
    limit = rule.limit
    if rule.method in TESTS:
        log_limit = math.log(limit)
        counted = judged
        for day in range(size):
            x, mean = observed[day], expected[day]
            if not judged[day] or x <= mean:
                continue
            if rule.method == "poisson":
                log_pmf = x * math.log(mean) - mean - math.lgamma(x + 1)
                if log_pmf > log_limit:  # the tail is at least this one term
                    continue
                p_value = poisson_upper_tail(x, mean)
            else:
                trials, rate = int(window_exposure[day]), rates[day]
                log_pmf = (
                    math.lgamma(trials + 1)
                    - math.lgamma(x + 1)
                    - math.lgamma(trials - x + 1)
                    + x * math.log(rate)
                    + (trials - x) * math.log1p(-rate)
                )
                if log_pmf > log_limit:
                    continue
                p_value = binomial_upper_tail(x, trials, rate)
            if p_value <= limit:
                statistic[day] = p_value
                alarms.append(day)
    else:
        lam, slack = rule.ewma_lambda, rule.cusum_k
        keep = 1 - lam
        chart = 0.0
        ewma = rule.method == "ewma"
        counted = [False] * size
        for day in range(size):
            day_mean = rates[day] * exposure[day]
            if judged[day] and day_mean > 0:
                counted[day] = True
                z = (counts[day] - day_mean) / math.sqrt(day_mean)
                chart = lam * z + keep * chart if ewma else max(0.0, chart + z - slack)
                if chart > limit:
                    statistic[day] = chart
                    alarms.append(day)
    judged_before = [0, *accumulate(counted)]
    return Judged(alarms, observed, window_exposure, rates, expected, statistic, judged_before)
