"""Many series judged at once with numpy: :func:`~aftersales.insights.detect_many`'s
vectorised path, giving the same alerts as :func:`~aftersales.insights.detect` on each.

Series of equal length are stacked into blocks of a bounded number of values and judged
together; :mod:`aftersales.insights.risk` imports this only when numpy can be imported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from aftersales.insights._risk_one import TESTS, check_binomial
from aftersales.insights._tails import log_factorials, tail_sum
from aftersales.insights.risk import Alert, AlertState, RiskRule, Series, _alerts

if TYPE_CHECKING:
    from numpy.typing import NDArray


def _judge_block(
    np: Any, counts: NDArray[Any], exposure: NDArray[Any], rule: RiskRule, table_limit: int
) -> tuple[NDArray[Any], dict[str, NDArray[Any]]]:
    """Alarm flags (rows x windows) of a block of equally long series, and the arrays an
    alert reads (observed, exposure, baseline, expected, statistic)."""
    rows, size = counts.shape
    width, base = rule.test_windows, rule.baseline_windows
    zeros = np.zeros((rows, 1))
    count_sums = np.concatenate([zeros, np.cumsum(counts, axis=1)], axis=1)
    exposure_sums = np.concatenate([zeros, np.cumsum(exposure, axis=1)], axis=1)
    observed = np.zeros((rows, size))
    window_exposure = np.zeros((rows, size))
    rates = np.zeros((rows, size))
    expected = np.zeros((rows, size))
    judged = np.zeros((rows, size), dtype=bool)
    statistic = np.zeros((rows, size))
    alarms = np.zeros((rows, size), dtype=bool)
    first = width + base - 1
    arrays = {
        "observed": observed,
        "exposure": window_exposure,
        "baseline": rates,
        "expected": expected,
        "statistic": statistic,
    }
    if size <= first:
        arrays["judged_before"] = _prefix_counts(np, judged)
        return alarms, arrays
    end = slice(first + 1, size + 1)
    cut = slice(first + 1 - width, size + 1 - width)
    begin = slice(0, size - first)
    base_exposure = exposure_sums[:, cut] - exposure_sums[:, begin]
    observed[:, first:] = count_sums[:, end] - count_sums[:, cut]
    window_exposure[:, first:] = exposure_sums[:, end] - exposure_sums[:, cut]
    has_base = base_exposure > 0
    rate = np.divide(
        count_sums[:, cut] - count_sums[:, begin],
        base_exposure,
        out=np.zeros_like(base_exposure),
        where=has_base,
    )
    rates[:, first:] = rate
    expected[:, first:] = rate * window_exposure[:, first:]
    judged[:, first:] = has_base & (expected[:, first:] >= rule.min_expected)
    if rule.method == "binomial":
        # more cases than trials in a window (returns of units sold before it) is no
        # binomial draw: that window is not judged
        judged &= (rates < 1) & (observed <= window_exposure)
    limit = rule.limit
    if rule.method in TESTS:
        rows_at, days_at = np.nonzero(judged & (observed > expected))
        x = observed[rows_at, days_at]
        mean = expected[rows_at, days_at]
        if rule.method == "poisson":
            (log_x_factorial,) = log_factorials(np, x, table_limit=table_limit)
            log_pmf = x * np.log(mean) - mean - log_x_factorial
        else:
            trials = window_exposure[rows_at, days_at]
            rate_at = rates[rows_at, days_at]
            log_trials, log_x, log_rest = log_factorials(
                np, trials, x, trials - x, table_limit=table_limit
            )
            log_pmf = (
                log_trials
                - log_x
                - log_rest
                + x * np.log(rate_at)
                + (trials - x) * np.log1p(-rate_at)
            )
        keep = log_pmf <= math.log(limit)  # the tail is at least its first term
        rows_at, days_at, x, log_pmf = rows_at[keep], days_at[keep], x[keep], log_pmf[keep]
        if rule.method == "poisson":
            mean = mean[keep]
            p_values = tail_sum(
                np, np.exp(log_pmf), lambda active, j: mean[active] / (x[active] + 1 + j)
            )
        else:
            trials, rate_at = trials[keep], rate_at[keep]
            odds = rate_at / (1 - rate_at)
            p_values = tail_sum(
                np,
                np.exp(log_pmf),
                lambda active, j: (
                    np.maximum(trials[active] - x[active] - j, 0)
                    / (x[active] + 1 + j)
                    * odds[active]
                ),
            )
        p_values = np.minimum(p_values, 1.0)
        hit = p_values <= limit
        alarms[rows_at[hit], days_at[hit]] = True
        statistic[rows_at[hit], days_at[hit]] = p_values[hit]
        arrays["judged_before"] = _prefix_counts(np, judged)
        return alarms, arrays
    day_mean = rates * exposure
    moves = judged & (day_mean > 0)
    safe_mean = np.where(moves, day_mean, 1.0)
    z = ((counts - safe_mean) / np.sqrt(safe_mean)).T.copy()
    moves_by_day = moves.T.copy()
    chart = np.zeros(rows)
    values = np.zeros((size, rows))
    lam, keep_weight, slack = rule.ewma_lambda, 1 - rule.ewma_lambda, rule.cusum_k
    ewma = rule.method == "ewma"
    for day in range(first, size):
        if ewma:
            updated = lam * z[day] + keep_weight * chart
        else:
            updated = np.maximum(0.0, chart + z[day] - slack)
        chart = np.where(moves_by_day[day], updated, chart)
        values[day] = chart
    values = values.T
    alarms[:] = moves & (values > limit)
    statistic[:] = values
    arrays["judged_before"] = _prefix_counts(np, moves)
    return alarms, arrays


def _prefix_counts(np: Any, flags: NDArray[Any]) -> NDArray[Any]:
    """Per row, how many flags are set before each position (one more column)."""
    counts = np.zeros((flags.shape[0], flags.shape[1] + 1), dtype=np.int64)
    np.cumsum(flags, axis=1, out=counts[:, 1:])
    return counts  # type: ignore[no-any-return]


def detect_with_numpy(
    np: Any,
    series_list: Sequence[Series],
    rule: RiskRule,
    scratch: AlertState | None,
    floor: date | None,
    *,
    chunk_values: int,
    table_limit: int,
) -> list[Alert]:
    """The alerts of :func:`~aftersales.insights.detect_many` on ``series_list``, in its
    order, updating ``scratch`` (a copy of the caller's state; ``floor`` its last day
    judged by the method when the run began); ``chunk_values`` bounds the values judged
    per pass, ``table_limit`` the log-factorial table."""
    if rule.method == "binomial":
        for series in series_list:
            if series.exposure is None:
                check_binomial(series)
    by_length: dict[int, list[int]] = {}
    for position, series in enumerate(series_list):
        by_length.setdefault(len(series.counts), []).append(position)
    found: dict[int, list[Alert]] = {}
    for size, positions in by_length.items():
        if size == 0:
            found.update((position, []) for position in positions)
            continue
        step = max(1, chunk_values // max(size, 1))
        for chunk_start in range(0, len(positions), step):
            chunk = [series_list[p] for p in positions[chunk_start : chunk_start + step]]
            counts = np.array([s.counts for s in chunk], dtype=np.float64).reshape(-1, size)
            exposure = np.array(
                [s.exposure if s.exposure is not None else (1.0,) * size for s in chunk],
                dtype=np.float64,
            ).reshape(-1, size)
            if rule.method == "binomial":
                bad_rows = np.nonzero((exposure != np.floor(exposure)).any(axis=1))[0]
                if bad_rows.size:
                    check_binomial(chunk[int(bad_rows[0])])
            alarms, arrays = _judge_block(np, counts, exposure, rule, table_limit)
            rows_at, days_at = np.nonzero(alarms)
            split = np.searchsorted(rows_at, np.arange(len(chunk) + 1))
            for row, series in enumerate(chunk):
                days = days_at[split[row] : split[row + 1]].tolist()

                def details(
                    day: int, row: int = row, arrays: dict[str, Any] = arrays
                ) -> tuple[int, float, float, float, float]:
                    return (
                        int(arrays["observed"][row, day]),
                        float(arrays["exposure"][row, day]),
                        float(arrays["baseline"][row, day]),
                        float(arrays["expected"][row, day]),
                        float(arrays["statistic"][row, day]),
                    )

                def judged_before(
                    index: int, row: int = row, before: Any = arrays["judged_before"]
                ) -> int:
                    return int(before[row, index])

                found[positions[chunk_start + row]] = _alerts(
                    series, rule, scratch, days, judged_before, details, floor
                )
    return [alert for position in range(len(series_list)) for alert in found[position]]
