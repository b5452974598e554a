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
  exposure of at least the count in every window.
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
"""

from __future__ import annotations

import json
import math
import numbers
import operator
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from enum import Enum
from itertools import accumulate
from typing import TYPE_CHECKING, Annotated, Any, Literal

import attrs
from pydantic import BaseModel, ConfigDict, Field

from aftersales._validation import check_text, parse
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models import Record

if TYPE_CHECKING:
    from numpy.typing import NDArray

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

Method = Literal["poisson", "binomial", "ewma", "cusum"]
_TESTS = ("poisson", "binomial")

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


def _series_error(location: tuple[str | int, ...], message: str) -> InvalidInput:
    return InvalidInput("Series", [FieldError(location, message)])


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
            raise _series_error(("counts", index), "must be a whole number") from None
        if whole < 0:
            raise _series_error(("counts", index), "must not be negative")
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
            raise _series_error(("exposure", index), "must be a number")
        number = float(value)  # e.g. a numpy float32, a Fraction
        if not (math.isfinite(number) and number >= 0):
            raise _series_error(("exposure", index), "must be finite and not negative")
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
            raise _series_error(("start",), "must be a date (not a datetime)")
        if self.exposure is not None and len(self.exposure) != len(self.counts):
            raise _series_error(
                ("exposure",),
                f"has {len(self.exposure)} values for {len(self.counts)} counts",
            )
        days = self.period_days
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 366:
            raise _series_error(("period_days",), "must be an int from 1 to 366")

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
        return self.statistic if self.method in _TESTS else None

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


@attrs.frozen
class SeriesState:
    """Where one series stood after the last run: in alert or not, how many windows in a
    row it has been normal, and the last day that run judged."""

    in_alert: bool
    normal_windows: int
    through: date


StateKey = tuple[str, str, str]
"""``(key, kind, method)``: one state per series and method."""


class _StateRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    kind: str
    method: Method
    in_alert: bool
    normal_windows: int = Field(ge=0)
    through: date


class _StateDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    series: list[_StateRow]


@attrs.define
class AlertState:
    """Which series are in alert, kept between runs so that an alert is not repeated while
    its condition lasts. :func:`detect` and :func:`detect_many` read and update it."""

    series: dict[StateKey, SeriesState] = attrs.field(factory=dict)

    def in_alert(self) -> list[StateKey]:
        """The series (and methods) in alert now, sorted."""
        return sorted(key for key, state in self.series.items() if state.in_alert)

    def to_json(self) -> str:
        """The state as JSON text (sorted, so equal states give equal text)."""
        rows = [
            {
                "key": key,
                "kind": kind,
                "method": method,
                "in_alert": state.in_alert,
                "normal_windows": state.normal_windows,
                "through": state.through.isoformat(),
            }
            for (key, kind, method), state in sorted(self.series.items())
        ]
        return json.dumps({"version": 1, "series": rows}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> AlertState:
        """The state :meth:`to_json` wrote; InvalidInput if ``text`` is not one."""
        try:
            data = json.loads(text)
        except ValueError as error:
            raise InvalidInput("AlertState", [FieldError((), f"not JSON: {error}")]) from None
        document = parse(_StateDocument, data, "AlertState")
        return cls(
            {
                (row.key, row.kind, row.method): SeriesState(
                    row.in_alert, row.normal_windows, row.through
                )
                for row in document.series
            }
        )


# ---------------------------------------------------------------------------------------
# Exact tails


_TAIL_EPSILON = 1e-17


def _sum_terms(first: float, ratio_of: Any, stop: int) -> float:
    """``first + first*ratio_of(0) + first*ratio_of(0)*ratio_of(1) + ...`` for at most
    ``stop`` further terms, until a term no longer changes the total."""
    total = term = first
    for step in range(stop):
        term *= ratio_of(step)
        total += term
        if term <= total * _TAIL_EPSILON:
            break
    return total


def poisson_upper_tail(observed: int, mean: float) -> float:
    """``P(X >= observed)`` for ``X ~ Poisson(mean)``, exact to about 1e-15 relative.

    >>> round(poisson_upper_tail(5, 1.0), 10)  # 1 - e**-1 * (1 + 1 + 1/2 + 1/6 + 1/24)
    0.0036598468
    """
    if observed <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    log_mean = math.log(mean)
    if observed > mean:  # terms fall from the first: sum the tail itself
        first = math.exp(observed * log_mean - mean - math.lgamma(observed + 1))
        return min(1.0, _sum_terms(first, lambda j: mean / (observed + 1 + j), 1 << 30))
    # the tail holds most of the mass: sum the terms below it, falling from observed - 1
    top = observed - 1
    first = math.exp(top * log_mean - mean - math.lgamma(top + 1))
    below = _sum_terms(first, lambda j: (top - j) / mean, top)
    return max(0.0, 1.0 - below)


def binomial_upper_tail(observed: int, trials: int, probability: float) -> float:
    """``P(X >= observed)`` for ``X ~ Binomial(trials, probability)``, exact to about
    1e-15 relative.

    >>> round(binomial_upper_tail(3, 10, 0.1), 10)
    0.0701908264
    """
    if observed <= 0:
        return 1.0
    if observed > trials or probability <= 0:
        return 0.0
    if probability >= 1:
        return 1.0
    log_p, log_q = math.log(probability), math.log1p(-probability)
    odds = probability / (1 - probability)
    log_choose = math.lgamma(trials + 1)

    def log_term(k: int) -> float:
        return (
            log_choose
            - math.lgamma(k + 1)
            - math.lgamma(trials - k + 1)
            + k * log_p
            + (trials - k) * log_q
        )

    if observed > trials * probability:
        first = math.exp(log_term(observed))
        ratio = lambda j: (trials - observed - j) / (observed + 1 + j) * odds  # noqa: E731
        return min(1.0, _sum_terms(first, ratio, trials - observed))
    top = observed - 1
    first = math.exp(log_term(top))
    below = _sum_terms(first, lambda j: (top - j) / (trials - top + 1 + j) / odds, top)
    return max(0.0, 1.0 - below)


# ---------------------------------------------------------------------------------------
# One series, pure Python


@attrs.frozen
class _Judged:
    """Per-window results of one series: alarm flags and what an alert reports."""

    alarms: list[int]
    observed: list[int]
    exposure: list[float]
    rate: list[float]
    expected: list[float]
    statistic: dict[int, float]
    judged_before: list[int]
    """``judged_before[i]``: how many windows before window ``i`` were judged."""


def _check_binomial(series: Series) -> tuple[float, ...]:
    exposure = series.exposure
    if exposure is None:
        raise _series_error(("exposure",), "is required by the binomial method")
    for index, (count, trials) in enumerate(zip(series.counts, exposure, strict=True)):
        if trials != int(trials):
            raise _series_error(("exposure", index), "must be a whole number for binomial")
        if count > trials:
            raise _series_error(
                ("counts", index), "must not exceed the exposure for the binomial method"
            )
    return exposure


def _judge(series: Series, rule: RiskRule) -> _Judged:
    counts = series.counts
    size = len(counts)
    if rule.method == "binomial":
        exposure = _check_binomial(series)
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
        judged[day] = mean >= rule.min_expected and (rule.method != "binomial" or rate < 1)
    statistic: dict[int, float] = {}
    alarms: list[int] = []
    limit = rule.limit
    if rule.method in _TESTS:
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
    return _Judged(alarms, observed, window_exposure, rates, expected, statistic, judged_before)


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


def _first_new(series: Series, prior: SeriesState | None) -> int:
    return 0 if prior is None else series._index_of_day(prior.through) + 1


def _alerts(
    series: Series,
    rule: RiskRule,
    state: AlertState | None,
    alarms: Iterable[int],
    judged_before: Callable[[int], int],
    details: Any,
) -> list[Alert]:
    """Apply the cool-down to ``alarms`` and build the alerts; ``details(day)`` gives
    (observed, exposure, baseline, expected, statistic) of an alarm window."""
    state_key = (series.key, series.kind, rule.method)
    prior = state.series.get(state_key) if state is not None else None
    first, last = _first_new(series, prior), len(series.counts) - 1
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

    With ``state``, windows up to the series' last judged day in it are not alerted on
    again, the cool-down continues from where it stood, and ``state`` is updated.
    Pure Python: about 0.4 ms for two years of daily values.
    """
    rule = rule or RiskRule()
    judged = _judge(series, rule)

    def details(day: int) -> tuple[int, float, float, float, float]:
        return (
            judged.observed[day],
            judged.exposure[day],
            judged.rate[day],
            judged.expected[day],
            judged.statistic[day],
        )

    return _alerts(series, rule, state, judged.alarms, judged.judged_before.__getitem__, details)


# ---------------------------------------------------------------------------------------
# Many series, numpy


_CHUNK_VALUES = 1 << 21
"""Values judged per numpy pass: a few dozen arrays of this many floats stay in the
caches' reach and memory stays bounded whatever the number of series."""

_SMALL_LOG_FACTORIALS = [math.lgamma(k + 1) for k in range(32)]
_HALF_LOG_TAU = 0.5 * math.log(2 * math.pi)


def _log_factorial(np: Any, n: NDArray[Any]) -> NDArray[Any]:
    """``lgamma(n + 1)`` of whole numbers: a table below 32, Stirling's series above
    (error below 1e-15 there)."""
    small = n < 32
    big = np.where(small, 32.0, n)
    inverse = 1.0 / big
    inverse2 = inverse * inverse
    series = inverse * (
        1 / 12 - inverse2 * (1 / 360 - inverse2 * (1 / 1260 - inverse2 * (1 / 1680)))
    )
    log_big = np.log(big)
    stirling = (big + 0.5) * log_big - big + _HALF_LOG_TAU + series
    table = np.asarray(_SMALL_LOG_FACTORIALS)
    return np.where(small, table[np.where(small, n, 0).astype(np.int64)], stirling)  # type: ignore[no-any-return]


_TABLE_LIMIT = 1 << 22
"""Below this, log-factorials are looked up in a table computed once per pass: the counts
repeat, and a lookup costs a tenth of Stirling's series."""


def _log_factorials(np: Any, *values: NDArray[Any]) -> list[NDArray[Any]]:
    """:func:`_log_factorial` of each array."""
    largest = max((int(each.max()) for each in values if each.size), default=0)
    if largest >= _TABLE_LIMIT:
        return [_log_factorial(np, each) for each in values]
    table = _log_factorial(np, np.arange(largest + 1, dtype=np.float64))
    return [table[each.astype(np.intp)] for each in values]


def _tail_sum(np: Any, first: NDArray[Any], ratio_of: Any) -> NDArray[Any]:
    """Vectorised :func:`_sum_terms`: sums until every entry has converged."""
    total: NDArray[Any] = first.copy()
    term = first.copy()
    active = np.arange(first.size)
    step = 0
    while active.size:
        term[active] *= ratio_of(active, step)
        total[active] += term[active]
        active = active[term[active] > total[active] * _TAIL_EPSILON]
        step += 1
    return total


def _judge_block(
    np: Any, counts: NDArray[Any], exposure: NDArray[Any], rule: RiskRule
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
        judged &= rates < 1
    limit = rule.limit
    if rule.method in _TESTS:
        rows_at, days_at = np.nonzero(judged & (observed > expected))
        x = observed[rows_at, days_at]
        mean = expected[rows_at, days_at]
        if rule.method == "poisson":
            (log_x_factorial,) = _log_factorials(np, x)
            log_pmf = x * np.log(mean) - mean - log_x_factorial
        else:
            trials = window_exposure[rows_at, days_at]
            rate_at = rates[rows_at, days_at]
            log_trials, log_x, log_rest = _log_factorials(np, trials, x, trials - x)
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
            p_values = _tail_sum(
                np, np.exp(log_pmf), lambda active, j: mean[active] / (x[active] + 1 + j)
            )
        else:
            trials, rate_at = trials[keep], rate_at[keep]
            odds = rate_at / (1 - rate_at)
            p_values = _tail_sum(
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
    scratch = AlertState(dict(state.series)) if state is not None else None
    try:
        import numpy as np
    except ImportError:
        found_each = [detect(series, rule, scratch) for series in series_list]
        if state is not None and scratch is not None:
            state.series = scratch.series
        return [alert for alerts in found_each for alert in alerts]
    if rule.method == "binomial":
        for series in series_list:
            if series.exposure is None:
                _check_binomial(series)
    by_length: dict[int, list[int]] = {}
    for position, series in enumerate(series_list):
        by_length.setdefault(len(series.counts), []).append(position)
    found: dict[int, list[Alert]] = {}
    for size, positions in by_length.items():
        if size == 0:
            found.update((position, []) for position in positions)
            continue
        step = max(1, _CHUNK_VALUES // max(size, 1))
        for chunk_start in range(0, len(positions), step):
            chunk = [series_list[p] for p in positions[chunk_start : chunk_start + step]]
            counts = np.array([s.counts for s in chunk], dtype=np.float64).reshape(-1, size)
            exposure = np.array(
                [s.exposure if s.exposure is not None else (1.0,) * size for s in chunk],
                dtype=np.float64,
            ).reshape(-1, size)
            if rule.method == "binomial":
                bad_rows = np.nonzero(
                    ((exposure != np.floor(exposure)) | (counts > exposure)).any(axis=1)
                )[0]
                if bad_rows.size:
                    _check_binomial(chunk[int(bad_rows[0])])
            alarms, arrays = _judge_block(np, counts, exposure, rule)
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
                    series, rule, scratch, days, judged_before, details
                )
    if state is not None and scratch is not None:
        state.series = scratch.series
    return [alert for position in range(len(series_list)) for alert in found[position]]
