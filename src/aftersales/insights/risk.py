"""Risk early warning: a complaint, return or repair series compared with its own baseline.

A :class:`Series` is one key (a product, SKU, category or channel) and one rate kind
(``complaints``, ``returns``, ``repairs``): a count per window (usually a day) and, when the
rate has a denominator, the exposure of each window (units sold, tickets, repairs done).
:func:`detect` runs a :class:`RiskRule` over it and returns an :class:`Alert` for each
window where the count rose above what its baseline predicts; :func:`detect_many` does the
same for many series at once (vectorised with numpy when it is installed).

Windows, for the window ending on day ``t`` (``w`` = ``test_windows``, ``b`` =
``baseline_windows``):

- test window: days ``t-w+1 .. t``; observed count ``x`` and exposure ``E``;
- baseline: the ``b`` days before the test window, ``t-w-b+1 .. t-w`` (the test window is
  excluded, so a rise does not raise its own yardstick); baseline rate
  ``r = (sum of counts) / (sum of exposure)`` over them, exposure 1 per window when the
  series has none (then ``r`` is the mean count per window);
- expected count ``mu = r * E``. A window is only judged when the baseline has exposure and
  ``mu >= min_expected`` (default 1): below that one event decides the outcome and every
  method's error rates stop meaning anything. An all-zero history, a zero-exposure stretch
  and the first ``w + b - 1`` windows are therefore never alerted on.

Methods:

- ``poisson`` (default): ``p = P(X >= x | X ~ Poisson(mu))``, computed exactly by summing
  the probability terms from ``x`` up (or ``1 -`` the terms below ``x`` when ``x <= mu``),
  each started from ``exp(k ln mu - mu - lgamma(k + 1))`` (``math.lgamma``). The window is
  in alarm when ``p <= significance``.
- ``binomial``: for rates whose exposure counts trials (returns out of units sold): ``p =
  P(X >= x | X ~ Binomial(n = E, r))`` summed the same way from ``lgamma(n + 1) -
  lgamma(k + 1) - lgamma(n - k + 1) + k ln r + (n - k) ln(1 - r)``. Needs whole-number
  exposure. A day may count more than its exposure (returns of units sold before it):
  the test reads the test window's totals, and a test window whose count exceeds its
  exposure, or whose baseline rate is 1 or more, is not judged.
- ``ewma``: each day's count ``c`` is standardised against its own expectation ``m = r * e``
  (Poisson variance): ``z = (c - m) / sqrt(m)``; ``Z = lambda z + (1 - lambda) Z_prev``
  from 0, in alarm while ``Z > L sqrt(lambda / (2 - lambda))`` (the steady-state limit).
  Defaults ``lambda = 0.2``, ``L = 3``: the textbook pair (Montgomery), an in-control run
  length of about 500 windows on normal data, and a quick response to shifts of about one
  standard deviation of a day's count.
- ``cusum``: one-sided upper CUSUM of the same ``z``: ``S = max(0, S_prev + z - k)``, in
  alarm while ``S > h``. Defaults ``k = 0.5`` (tuned to a shift of one standard deviation)
  and ``h = 5`` (in-control run length of about 465 windows on normal data).

  Neither chart is reset when it signals: the alarm lasts while the statistic stays above
  its limit, which is what the cool-down below needs. Days that cannot be judged (no
  exposure, too small an expectation) leave the chart where it was.

Defaults: ``significance = 0.001`` (about one false alarm per thousand judged windows: the
baseline's own noise adds some, the cool-down merges neighbouring ones); ``test_windows = 7`` and
``baseline_windows = 56``: whole weeks, so weekday patterns cancel, and eight of them so
the baseline's own noise adds little (the variance of ``mu`` is ``w/b = 1/8`` of the test
window's). A lasting shift becomes the new baseline after ``w + b`` windows: the methods
warn about changes, not about levels.

Cool-down: an alert is not repeated while its condition lasts. After an alert the series
is *in alert*; it re-arms once ``rearm_after`` judged windows (default 7, a week) have
passed without the condition, and the next alarm after that is a new alert. Windows that
cannot be judged (the warm-up, no exposure, days missing between runs) neither raise an
alert nor end one: nothing is known about them. An :class:`AlertState` remembers this per
series and method across runs, so running the same data twice emits nothing new, and a run
over a shorter or later stretch of history continues the cool-down where the last one
left it; store it with :meth:`AlertState.to_json`.

The state also keeps, per method, the last day judged over all series: a series it does
not know (a new SKU, or one it forgot) is judged only after that day, so its past is not
alerted on again. It forgets a series that is not in alert once the last day judged of
it lies more than ``baseline_windows + test_windows + rearm_after`` windows before that
day (a SKU no longer sold), so a watch's state holds the series it still watches.

Measured on generated histories (``tests/insights/test_risk.py``,
``benchmarks/bench_risk.py``: Poisson counts around 1% of 300-699 units sold a day, about 5
a day, two years), with the defaults: false alarms per 1,000 series-days 0.9-1.0 (poisson,
binomial) and 2.4-2.7 (ewma, cusum); median delay from a step shift to the end of the first
alert's window 7-8, 3-4 and 2 days for 1.5x, 2x and 3x (tests), 6, 2 and 1 day (charts),
with 90-100% of shifted series alerted. The charts react sooner and alarm more often. At 0.5
a day the tests still alarm under once per 1,000 series-days but find a 1.5x shift in only a
quarter of the series within the shift's first 200 days, while the charts' false alarms
rise to 5-6 per 1,000 (a count that small is skewed, and ``z`` assumes it is not).

Severity from the observed-to-expected ratio of the test window: ``critical`` at 3 times
or more, ``high`` at 2 times or more, ``warning`` below.

numpy: :func:`detect` is pure Python. :func:`detect_many` uses numpy (the ``ml`` or ``kb``
extra) when it can be imported and otherwise runs :func:`detect` on each series: the same
alerts (p-values equal to nine digits), about three times slower (10,000 SKUs x 730 days:
about 1 s with numpy, 4 s without, on one core).

This module owns the rule, the series, the alerts and their state, and the cool-down that
turns alarm windows into alerts. The exact tails live in ``_tails``, the judging of one
series in pure Python in ``_risk_one`` and the numpy path of :func:`detect_many` in
``_risk_many``.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from enum import Enum
from typing import Annotated, Any

import attrs
from pydantic import Field

from aftersales._validation import check_text
from aftersales.insights._risk_one import TESTS, judge, series_error
from aftersales.insights._risk_state import AlertState, Method, SeriesState, finish
from aftersales.insights._tails import binomial_upper_tail, poisson_upper_tail
from aftersales.models import Record

__all__ = [
    "Alert",
    "AlertState",
    "RiskRule",
    "Series",
    "SeriesState",
    "Severity",
    "binomial_upper_tail",
    "detect",
    "detect_many",
    "poisson_upper_tail",
]

_PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class RiskRule(Record):
    """How a series is judged; invalid settings raise InvalidInput naming the field.

    See the module documentation for each method's formula and why the defaults are what
    they are.
    """

    method: Method = "poisson"
    """``poisson`` or ``binomial`` test of the test window, ``ewma`` or ``cusum`` chart."""
    baseline_windows: int = Field(default=56, ge=2, le=3660)
    """Windows before the test window whose rate is the baseline."""
    test_windows: int = Field(default=7, ge=1, le=366)
    """Windows whose count is compared with the baseline (a guard band for the charts)."""
    significance: float = Field(default=0.001, gt=0, lt=0.5, allow_inf_nan=False)
    """The tests' alarm level: the window alarms when its p-value is at most this."""
    min_expected: _PositiveFloat = 1.0
    """The smallest expected count in the test window for the window to be judged."""
    ewma_lambda: float = Field(default=0.2, gt=0, le=1, allow_inf_nan=False)
    """EWMA weight of the newest window."""
    ewma_limit: _PositiveFloat = 3.0
    """EWMA control limit ``L``, in standard deviations of the smoothed statistic."""
    cusum_k: float = Field(default=0.5, ge=0, allow_inf_nan=False)
    """CUSUM reference value, in standard deviations of a window's count."""
    cusum_h: _PositiveFloat = 5.0
    """CUSUM decision limit, in standard deviations of a window's count."""
    rearm_after: int = Field(default=7, ge=1, le=3660)
    """Consecutive windows without the condition after which a series alerts again."""

    @property
    def limit(self) -> float:
        """What the statistic is compared with: the significance for the tests, the
        control limit for the charts."""
        if self.method == "ewma":
            lam = self.ewma_lambda
            return self.ewma_limit * math.sqrt(lam / (2 - lam))
        if self.method == "cusum":
            return self.cusum_h
        return self.significance


class Severity(str, Enum):
    """How far the observed count is above the expected one in the alert's window."""

    WARNING = "warning"
    """Less than twice the expected count."""
    HIGH = "high"
    """Twice the expected count or more."""
    CRITICAL = "critical"
    """Three times the expected count or more."""


def _severity(observed: float, expected: float) -> Severity:
    ratio = observed / expected
    if ratio >= 3:
        return Severity.CRITICAL
    return Severity.HIGH if ratio >= 2 else Severity.WARNING


def _to_counts(values: Any) -> tuple[int, ...]:
    if hasattr(values, "tolist"):  # a numpy array: plain ints in one call
        values = values.tolist()
    counts: tuple[Any, ...] = tuple(values)
    if all(type(count) is int for count in counts) and (not counts or min(counts) >= 0):
        return counts
    checked = []
    for index, count in enumerate(counts):
        try:
            if isinstance(count, bool):
                raise TypeError
            whole = operator.index(count)
        except TypeError:
            raise series_error(("counts", index), "must be a whole number") from None
        if whole < 0:
            raise series_error(("counts", index), "must not be negative")
        checked.append(whole)
    return tuple(checked)


def _to_exposure(values: Any) -> tuple[float, ...] | None:
    if values is None:
        return None
    if hasattr(values, "tolist"):
        values = values.tolist()
    given: tuple[Any, ...] = tuple(values)
    if all(type(v) is float or type(v) is int for v in given):
        exposure = tuple(map(float, given))
        if not exposure or (min(exposure) >= 0 and math.isfinite(sum(exposure))):
            return exposure
    checked = []
    for index, value in enumerate(given):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise series_error(("exposure", index), "must be a number")
        number = float(value)  # e.g. a numpy float32, a Fraction
        if not (math.isfinite(number) and number >= 0):
            raise series_error(("exposure", index), "must be finite and not negative")
        checked.append(number)
    return tuple(checked)


def _to_key(value: Any) -> str:
    return check_text("key", value)


def _to_kind(value: Any) -> str:
    return check_text("kind", value)


@attrs.frozen
class Series:
    """Counts per window for one key and rate kind, with their exposure.

    ``counts[i]`` (a whole number) and ``exposure[i]`` (units sold, tickets: a finite
    number, not negative) belong to the window starting ``start + i * period_days``.
    Without exposure every window weighs 1 and the baseline is a mean count per window.
    Bad values raise InvalidInput naming the field and index.
    """

    key: str = attrs.field(converter=_to_key)
    kind: str = attrs.field(converter=_to_kind)
    start: date
    counts: tuple[int, ...] = attrs.field(converter=_to_counts)
    exposure: tuple[float, ...] | None = attrs.field(default=None, converter=_to_exposure)
    period_days: int = 1

    def __attrs_post_init__(self) -> None:
        if type(self.start) is not date:
            raise series_error(("start",), "must be a date (not a datetime)")
        if self.exposure is not None and len(self.exposure) != len(self.counts):
            raise series_error(
                ("exposure",),
                f"has {len(self.exposure)} values for {len(self.counts)} counts",
            )
        days = self.period_days
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 366:
            raise series_error(("period_days",), "must be an int from 1 to 366")

    def window_dates(self, first: int, last: int) -> tuple[date, date]:
        """The first and last day covered by windows ``first`` to ``last`` (inclusive)."""
        step = self.period_days
        return (
            self.start + timedelta(days=first * step),
            self.start + timedelta(days=(last + 1) * step - 1),
        )

    def _index_of_day(self, day: date) -> int:
        """The index of the window that covers ``day`` (negative before the start)."""
        return (day - self.start).days // self.period_days


@attrs.frozen
class Alert:
    """A window whose count rose above its baseline.

    ``baseline`` is the rate per unit of exposure (or the mean per window without
    exposure), ``expected`` that rate times the window's ``exposure``, ``observed`` the
    window's count. ``statistic`` is the evidence: the p-value for the tests (alarm when at
    most ``limit``, the significance) or the chart's value (alarm when above ``limit``).
    """

    key: str
    kind: str
    method: Method
    window_start: date
    window_end: date
    baseline: float
    expected: float
    observed: int
    exposure: float
    statistic: float
    limit: float
    severity: Severity

    @property
    def p_value(self) -> float | None:
        """The test's p-value; None for the charts."""
        return self.statistic if self.method in TESTS else None

    @property
    def ratio(self) -> float:
        """Observed count over expected count."""
        return self.observed / self.expected

    @property
    def evidence(self) -> str:
        """The evidence in words, e.g. ``P(X >= 58 | Poisson(35.0)) = 2.1e-05 <= 0.001``."""
        if self.method == "poisson":
            law = f"Poisson({self.expected:.4g})"
        elif self.method == "binomial":
            law = f"Binomial({self.exposure:.0f}, {self.baseline:.4g})"
        else:
            return f"{self.method} {self.statistic:.4g} > limit {self.limit:.4g}"
        return f"P(X >= {self.observed} | {law}) = {self.statistic:.3g} <= {self.limit:.3g}"

    def to_dict(self) -> dict[str, Any]:
        """The alert as JSON-ready data (dates as ISO strings), e.g. for an event."""
        data = attrs.asdict(self)
        data["window_start"] = self.window_start.isoformat()
        data["window_end"] = self.window_end.isoformat()
        data["severity"] = self.severity.value
        data["evidence"] = self.evidence
        return data


def _cool_down(
    alarms: Iterable[int],
    first: int,
    last: int,
    prior: SeriesState | None,
    rearm: int,
    judged_before: Callable[[int], int],
) -> tuple[list[int], bool, int]:
    """The alarm windows that become alerts, and the state after window ``last``.

    Only windows from ``first`` on are new. Judged windows between alarms count as
    normal; windows that could not be judged (too little baseline, no exposure, missing
    between runs) neither raise an alert nor end one.
    """
    in_alert, normal = (prior.in_alert, prior.normal_windows) if prior else (False, rearm)
    previous = first - 1

    def normal_between(after: int, before: int) -> int:
        return judged_before(max(before, 0)) - judged_before(max(after + 1, 0))

    emitted = []
    for day in alarms:
        if day < first:
            continue
        normal += normal_between(previous, day)
        if in_alert and normal >= rearm:
            in_alert = False
        if not in_alert:
            emitted.append(day)
            in_alert = True
        normal = 0
        previous = day
    normal += normal_between(previous, last + 1)
    if in_alert and normal >= rearm:
        in_alert = False
    return emitted, in_alert, normal


def _first_new(series: Series, prior: SeriesState | None, floor: date | None) -> int:
    """The first window not judged yet: after the series' own last day judged, or for a
    series without one, after the last day the state judged of any (``floor``)."""
    if prior is not None:
        return series._index_of_day(prior.through) + 1
    return 0 if floor is None else max(0, series._index_of_day(floor) + 1)


def _alerts(
    series: Series,
    rule: RiskRule,
    state: AlertState | None,
    alarms: Iterable[int],
    judged_before: Callable[[int], int],
    details: Any,
    floor: date | None,
) -> list[Alert]:
    """Apply the cool-down to ``alarms`` and build the alerts; ``details(day)`` gives
    (observed, exposure, baseline, expected, statistic) of an alarm window. ``floor``: the
    state's last day judged by the method when the run began."""
    state_key = (series.key, series.kind, rule.method)
    prior = state.series.get(state_key) if state is not None else None
    first, last = _first_new(series, prior, floor), len(series.counts) - 1
    if first > last:
        return []
    emitted, in_alert, normal = _cool_down(
        alarms, first, last, prior, rule.rearm_after, judged_before
    )
    if state is not None:
        through = series.window_dates(last, last)[1]
        state.series[state_key] = SeriesState(in_alert, normal, through)
    alerts = []
    limit = rule.limit
    for day in emitted:
        observed, exposure, baseline, expected, statistic = details(day)
        window_start, window_end = series.window_dates(day - rule.test_windows + 1, day)
        alerts.append(
            Alert(
                key=series.key,
                kind=series.kind,
                method=rule.method,
                window_start=window_start,
                window_end=window_end,
                baseline=baseline,
                expected=expected,
                observed=observed,
                exposure=exposure,
                statistic=statistic,
                limit=limit,
                severity=_severity(observed, expected),
            )
        )
    return alerts


def detect(
    series: Series, rule: RiskRule | None = None, state: AlertState | None = None
) -> list[Alert]:
    """The alerts ``rule`` (default :class:`RiskRule()`) raises on ``series``, oldest first.

    With ``state``, windows up to the series' last judged day in it (or, for a series it
    does not know, its last day judged by the method) are not alerted on again, the
    cool-down continues from where it stood, and ``state`` is updated.
    Pure Python: about 0.4 ms for two years of daily values.
    """
    rule = rule or RiskRule()
    floor = state.judged_through.get(rule.method) if state is not None else None
    alerts = _detect(series, rule, state, floor)
    if state is not None:
        finish(state, rule, [series])
    return alerts


def _detect(
    series: Series, rule: RiskRule, state: AlertState | None, floor: date | None
) -> list[Alert]:
    judged = judge(series, rule)

    def details(day: int) -> tuple[int, float, float, float, float]:
        return (
            judged.observed[day],
            judged.exposure[day],
            judged.rate[day],
            judged.expected[day],
            judged.statistic[day],
        )

    return _alerts(
        series, rule, state, judged.alarms, judged.judged_before.__getitem__, details, floor
    )


# ---------------------------------------------------------------------------------------
# Many series, numpy


_CHUNK_VALUES = 1 << 21
"""Values judged per numpy pass: a few dozen arrays of this many floats stay in the
caches' reach and memory stays bounded whatever the number of series."""

_TABLE_LIMIT = 1 << 22
"""Below this, log-factorials are looked up in a table computed once per pass: the counts
repeat, and a lookup costs a tenth of Stirling's series."""


def detect_many(
    series_list: Sequence[Series], rule: RiskRule | None = None, state: AlertState | None = None
) -> list[Alert]:
    """:func:`detect` over many series: the same alerts, in the order of ``series_list``
    (each series' oldest first), vectorised with numpy when it is installed.

    Series of equal length are judged together, a few million values at a time. Without
    numpy each series goes through :func:`detect`.
    """
    rule = rule or RiskRule()
    # the state changes only once every series has been judged: bad input changes nothing
    scratch = None
    floor = None
    if state is not None:
        scratch = AlertState(dict(state.series), dict(state.judged_through))
        floor = state.judged_through.get(rule.method)
    try:
        import numpy as np
    except ImportError:
        found_each = [_detect(series, rule, scratch, floor) for series in series_list]
        found = [alert for alerts in found_each for alert in alerts]
    else:
        # imported here: the numpy path builds on this module's series, alerts and cool-down
        from aftersales.insights._risk_many import detect_with_numpy

        found = detect_with_numpy(
            np,
            series_list,
            rule,
            scratch,
            floor,
            chunk_values=_CHUNK_VALUES,
            table_limit=_TABLE_LIMIT,
        )
    if state is not None and scratch is not None:
        finish(scratch, rule, series_list)
        state.series, state.judged_through = scratch.series, scratch.judged_through
    return found
