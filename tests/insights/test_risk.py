"""Risk early warning (issue 20): exact tails, the four methods on generated histories, the
cool-down and its state, and bad input.

Generated histories: 730 days of complaints, Poisson around 1 complaint per 100 units sold,
300 to 700 units a day (about 5 complaints a day), seeded. Bounds asserted with the default
settings of each method (measured figures in brackets, seeds fixed):

- false alarms per 1,000 series-days on series without a shift: poisson and binomial at
  most 1.5 [0.95, 1.0], ewma and cusum at most 4 [2.5, 2.7];
- a step shift of 1.5x, 2x, 3x at day 300: detected in at least 85%, 95%, 95% of the series
  [90-99%, 96-100%, 99-100%], median delay (days from the shift to the last day of the
  first alert's window) at most 10, 5, 3 days [tests 8, 4, 2; charts 6, 2, 1].
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal, getcontext
from fractions import Fraction

import attrs
import numpy as np
import pytest

from aftersales.exceptions import InvalidInput
from aftersales.insights import (
    Alert,
    AlertState,
    RiskRule,
    Series,
    SeriesState,
    Severity,
    binomial_upper_tail,
    detect,
    detect_many,
    poisson_upper_tail,
    risk,
)

START = date(2024, 1, 1)
METHODS = ["poisson", "binomial", "ewma", "cusum"]
SHIFT_DAY = 300


def history(
    count: int,
    days: int,
    *,
    shift_day: int | None = None,
    factor: float = 1.0,
    seed: int = 0,
    per_unit: float = 0.01,
) -> list[Series]:
    """``count`` SKUs' daily complaints, Poisson around ``per_unit`` of 300-699 units sold,
    multiplied by ``factor`` from ``shift_day`` on."""
    rng = np.random.default_rng(seed)
    made = []
    for index in range(count):
        units = rng.integers(300, 700, size=days)
        mean = units * per_unit
        if shift_day is not None:
            mean[shift_day:] *= factor
        counts = rng.poisson(mean)
        made.append(Series(f"SKU-{index}", "complaints", START, counts, units))
    return made


def day_of(alert: Alert) -> int:
    return (alert.window_end - START).days


def first_alert_delays(alerts: list[Alert], shift_day: int) -> list[int]:
    first: dict[str, int] = {}
    for alert in alerts:
        day = day_of(alert)
        if day >= shift_day and alert.key not in first:
            first[alert.key] = day - shift_day
    return list(first.values())


# --- exact tails ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "mean", "expected"),
    [
        (0, 3.0, 1.0),
        (1, 2.0, 1 - math.exp(-2)),
        (2, 0.5, 1 - math.exp(-0.5) * 1.5),
        (5, 1.0, 1 - math.exp(-1) * (1 + 1 + 1 / 2 + 1 / 6 + 1 / 24)),
        (3, 10.0, 1 - math.exp(-10) * (1 + 10 + 50)),  # below the mean: 1 - lower sum
        (4, 0.0, 0.0),
    ],
)
def test_poisson_upper_tail_matches_hand_computed_values(
    observed: int, mean: float, expected: float
) -> None:
    assert poisson_upper_tail(observed, mean) == pytest.approx(expected, rel=1e-13, abs=1e-300)


def decimal_poisson_tail(observed: int, mean: str) -> float:
    """An independent oracle: the tail summed in 60-digit decimals for 2,000 terms."""
    getcontext().prec = 60
    lam = Decimal(mean)
    term = (-lam).exp()
    for k in range(1, observed + 1):
        term = term * lam / k
    total = Decimal(0)
    for k in range(observed + 1, observed + 2001):
        total += term
        term = term * lam / k
    return float(total)


@pytest.mark.parametrize(
    ("observed", "mean"), [(60, "35"), (200, "100"), (1000, "900.5"), (9, "0.25")]
)
def test_poisson_upper_tail_far_out_matches_a_decimal_sum(observed: int, mean: str) -> None:
    assert poisson_upper_tail(observed, float(mean)) == pytest.approx(
        decimal_poisson_tail(observed, mean), rel=1e-11
    )


def fraction_binomial_tail(observed: int, trials: int, probability: Fraction) -> float:
    return float(
        sum(
            math.comb(trials, k) * probability**k * (1 - probability) ** (trials - k)
            for k in range(observed, trials + 1)
        )
    )


@pytest.mark.parametrize(
    ("observed", "trials", "probability", "expected"),
    [
        (3, 10, 0.1, 0.0701908264),  # 1 - (0.9**10 + 10*0.1*0.9**9 + 45*0.01*0.9**8)
        (10, 10, 0.3, 0.3**10),
        (1, 25, 0.02, 1 - 0.98**25),
        (0, 5, 0.5, 1.0),
        (6, 5, 0.5, 0.0),
        (2, 5, 0.0, 0.0),
        (2, 5, 1.0, 1.0),
    ],
)
def test_binomial_upper_tail_matches_hand_computed_values(
    observed: int, trials: int, probability: float, expected: float
) -> None:
    assert binomial_upper_tail(observed, trials, probability) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("observed", "trials", "probability"),
    [(60, 500, Fraction(1, 20)), (12, 500, Fraction(1, 20)), (420, 3500, Fraction(1, 10))],
)
def test_binomial_upper_tail_matches_an_exact_rational_sum(
    observed: int, trials: int, probability: Fraction
) -> None:
    assert binomial_upper_tail(observed, trials, float(probability)) == pytest.approx(
        fraction_binomial_tail(observed, trials, probability), rel=1e-11
    )


# --- what an alert says ---------------------------------------------------------------


def flat_then_spike(spike: int, *, days: int = 70, at: int = 63) -> Series:
    counts = [10] * days
    counts[at] = spike
    return Series("SKU-1", "returns", START, counts)


def test_a_poisson_alert_names_its_window_baseline_observation_and_p_value() -> None:
    (alert,) = detect(flat_then_spike(60), RiskRule())
    assert (alert.key, alert.kind, alert.method) == ("SKU-1", "returns", "poisson")
    assert (alert.window_start, alert.window_end) == (START + timedelta(57), START + timedelta(63))
    assert (alert.baseline, alert.expected, alert.observed, alert.exposure) == (10, 70, 120, 7)
    assert alert.p_value == pytest.approx(poisson_upper_tail(120, 70.0), rel=1e-15)
    assert alert.p_value is not None
    assert alert.p_value <= alert.limit == 0.001
    assert alert.ratio == 120 / 70
    assert alert.severity is Severity.WARNING  # less than twice the expected count
    assert alert.evidence.startswith("P(X >= 120 | Poisson(70)) = ")
    data = alert.to_dict()
    assert json.loads(json.dumps(data))["window_end"] == "2024-03-04"
    assert data["severity"] == "warning"


@pytest.mark.parametrize(
    ("method", "statistic", "limit"),
    [
        # z = (40 - 10) / sqrt(10); EWMA 0.2 z, limit 3 sqrt(0.2 / 1.8) = 1
        ("ewma", 0.2 * 30 / math.sqrt(10), 1.0),
        ("cusum", 30 / math.sqrt(10) - 0.5, 5.0),
    ],
)
def test_a_chart_alert_carries_its_statistic_and_limit(
    method: str, statistic: float, limit: float
) -> None:
    (alert,) = detect(flat_then_spike(40), RiskRule(method=method))  # type: ignore[arg-type]
    assert day_of(alert) == 63
    assert alert.statistic == pytest.approx(statistic, rel=1e-12)
    assert alert.limit == pytest.approx(limit, rel=1e-12)
    assert alert.p_value is None
    assert alert.evidence == f"{method} {alert.statistic:.4g} > limit {alert.limit:.4g}"


@pytest.mark.parametrize(
    ("spike", "severity"),
    # the window holds six days of 10 and the spike; 70 expected
    [(79, Severity.WARNING), (80, Severity.HIGH), (149, Severity.HIGH), (150, Severity.CRITICAL)],
)
def test_severity_follows_the_ratio_of_observed_to_expected(spike: int, severity: Severity) -> None:
    (alert,) = detect(flat_then_spike(spike))
    assert alert.severity is severity


def test_a_binomial_alert_judges_a_rate_against_its_exposure() -> None:
    units = [200] * 70
    counts = [4] * 70  # 2% of units returned
    counts[63] = 30
    series = Series("SKU-2", "returns", START, counts, units)
    (alert,) = detect(series, RiskRule(method="binomial"))
    assert (alert.baseline, alert.exposure, alert.observed) == (0.02, 1400, 54)
    assert alert.expected == pytest.approx(28)
    assert alert.p_value == pytest.approx(binomial_upper_tail(54, 1400, 0.02), rel=1e-15)
    assert alert.evidence.startswith("P(X >= 54 | Binomial(1400, 0.02)) = ")


def test_a_rate_with_exposure_is_judged_per_unit_not_per_day() -> None:
    # Sales double on day 63 and complaints with them: the rate is unchanged.
    units = [100] * 70
    counts = [5] * 70
    units[63], counts[63] = 1000, 50
    with_exposure = Series("SKU-3", "complaints", START, counts, units)
    assert detect(with_exposure) == []
    assert len(detect(Series("SKU-3", "complaints", START, counts))) == 1


def test_weekly_windows_name_whole_weeks() -> None:
    counts = [10] * 70
    counts[65] = 70
    series = Series("SKU-1", "returns", START, counts, period_days=7)
    (alert,) = detect(series, RiskRule(baseline_windows=8, test_windows=1))
    assert alert.window_start == START + timedelta(weeks=65)
    assert alert.window_end == START + timedelta(weeks=66, days=-1)


# --- the methods on generated histories -------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_false_alarms_per_thousand_series_days_stay_within_bounds(method: str) -> None:
    series = history(150, 730, seed=11)
    rule = RiskRule(method=method)  # type: ignore[arg-type]
    alerts = detect_many(series, rule)
    judged_days = len(series) * (730 - rule.baseline_windows - rule.test_windows + 1)
    per_thousand = len(alerts) / judged_days * 1000
    bound = 1.5 if method in ("poisson", "binomial") else 4.0
    assert 0 < per_thousand <= bound, per_thousand


BOUNDS = {1.5: (0.85, 10), 2.0: (0.95, 5), 3.0: (0.95, 3)}


@pytest.mark.parametrize("factor", sorted(BOUNDS))
@pytest.mark.parametrize("method", METHODS)
def test_step_shifts_are_detected_within_bounded_delays(method: str, factor: float) -> None:
    series = history(150, 420, shift_day=SHIFT_DAY, factor=factor, seed=int(factor * 10))
    alerts = detect_many(series, RiskRule(method=method))  # type: ignore[arg-type]
    delays = first_alert_delays(alerts, SHIFT_DAY)
    least_share, most_delay = BOUNDS[factor]
    assert len(delays) >= least_share * len(series), len(delays)
    assert statistics.median(delays) <= most_delay, statistics.median(delays)


def test_a_larger_shift_is_detected_sooner() -> None:
    medians = []
    for factor in (1.5, 2.0, 3.0):
        series = history(100, 420, shift_day=SHIFT_DAY, factor=factor, seed=5)
        medians.append(statistics.median(first_alert_delays(detect_many(series), SHIFT_DAY)))
    assert medians == sorted(medians, reverse=True)
    assert medians[0] > medians[2]


@pytest.mark.parametrize("method", METHODS)
def test_detect_many_finds_what_detect_finds_on_each_series(method: str) -> None:
    rule = RiskRule(method=method)  # type: ignore[arg-type]
    series = history(40, 400, shift_day=250, factor=2.0, seed=3)
    series += history(3, 200, seed=4)  # another length, judged in its own block
    series.append(Series("empty", "complaints", START, [], []))
    one_by_one = [alert for each in series for alert in detect(each, rule)]
    together = detect_many(series, rule)
    assert len(together) > 40
    assert_same_alerts(together, one_by_one)


def assert_same_alerts(found: list[Alert], expected: list[Alert]) -> None:
    """Equal but for the last digits of the statistic (numpy's log-factorials are
    Stirling's series where math.lgamma is used one by one)."""
    assert len(found) == len(expected)
    for mine, theirs in zip(found, expected, strict=True):
        assert attrs.evolve(mine, statistic=0.0) == attrs.evolve(theirs, statistic=0.0)
        assert mine.statistic == pytest.approx(theirs.statistic, rel=1e-9)


@pytest.mark.parametrize("method", ["poisson", "binomial"])
def test_detect_many_agrees_in_small_passes_and_without_its_log_factorial_table(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = RiskRule(method=method)  # type: ignore[arg-type]
    series = history(12, 400, shift_day=250, factor=2.0, seed=8)
    expected = [alert for each in series for alert in detect(each, rule)]
    monkeypatch.setattr(risk, "_CHUNK_VALUES", 1000)  # two series per pass
    monkeypatch.setattr(risk, "_TABLE_LIMIT", 0)  # Stirling's series for every value
    assert_same_alerts(detect_many(series, rule), expected)


def test_bad_input_to_detect_many_leaves_the_state_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = AlertState()
    detect_many(history(3, 200, seed=1), RiskRule(method="binomial"), state)
    before = state.to_json()
    monkeypatch.setattr(risk, "_CHUNK_VALUES", 1000)  # ten series per pass
    fine = history(30, 100, seed=2)  # judged in three passes before the bad one
    bad = Series("SKU-X", "returns", START, [5] * 100, [4.5] * 100)
    with pytest.raises(InvalidInput):
        detect_many([*fine, bad], RiskRule(method="binomial"), state)
    assert state.to_json() == before


def test_detect_many_works_without_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    series = history(5, 400, shift_day=250, factor=2.0, seed=3)
    state_with, state_without = AlertState(), AlertState()
    expected = detect_many(series, state=state_with)
    monkeypatch.setitem(sys.modules, "numpy", None)  # import numpy now raises ImportError
    assert_same_alerts(detect_many(series, state=state_without), expected)
    assert_same_alerts(detect_many(series), expected)
    assert state_without == state_with


# --- cool-down and state ------------------------------------------------------------------


def two_episodes() -> Series:
    """Flat at 10 a day; 30 a day on days 100-119 and again on days 200-219."""
    counts = [10] * 260
    for day in (*range(100, 120), *range(200, 220)):
        counts[day] = 30
    return Series("SKU-9", "repairs", START, counts)


@pytest.mark.parametrize("method", METHODS[:1] + METHODS[2:])
def test_an_alert_is_not_repeated_while_the_condition_lasts_and_rearms_after(
    method: str,
) -> None:
    rule = RiskRule(method=method)  # type: ignore[arg-type]
    alerts = detect(two_episodes(), rule)
    assert [100 <= day_of(a) < 110 or 200 <= day_of(a) < 210 for a in alerts] == [True, True]
    # with a re-arm longer than the quiet spell between the episodes, the second is the
    # same condition still lasting
    (only,) = detect(two_episodes(), rule.model_copy(update={"rearm_after": 90}))
    assert only == alerts[0]


def test_a_second_run_over_the_same_data_emits_nothing_and_state_round_trips() -> None:
    state = AlertState()
    first = detect(two_episodes(), state=state)
    assert len(first) == 2
    stored = AlertState.from_json(state.to_json())
    assert stored == state
    assert detect(two_episodes(), state=stored) == []
    assert detect_many([two_episodes()], state=stored) == []
    (kept,) = stored.series.values()
    assert kept.through == START + timedelta(days=259)
    assert not kept.in_alert
    assert kept.normal_windows > 7  # the second episode ended weeks before day 259


def test_a_run_that_continues_a_lasting_condition_does_not_repeat_its_alert() -> None:
    series = two_episodes()
    full = detect(series)
    state = AlertState()
    cut = Series(series.key, series.kind, START, series.counts[:105])
    assert detect(cut, state=state) == full[:1]
    assert state.in_alert() == [("SKU-9", "repairs", "poisson")]
    assert detect(series, state=state) == full[1:]


def test_a_shorter_history_in_the_next_run_does_not_repeat_an_alert_that_lasts() -> None:
    series = two_episodes()
    recent = Series(series.key, series.kind, START + timedelta(60), series.counts[60:])
    # On its own, days 60-259 alarm again as soon as they can be judged (day 122: days
    # 116-119 of the first episode are in the window)...
    alone = detect(recent)
    assert [day_of(alert) for alert in alone][:1] == [122]
    # ...but the state knows that alert was raised and nothing judged since ended it.
    state = AlertState()
    detect(Series(series.key, series.kind, START, series.counts[:105]), state=state)
    assert detect(recent, state=state) == alone[1:]


def test_windows_missing_between_runs_neither_raise_nor_end_an_alert() -> None:
    state = AlertState(
        {("SKU-9", "repairs", "poisson"): SeriesState(True, 0, START - timedelta(days=30))}
    )
    # 30 missing days and 62 of warm-up before the series is judged: had they counted as
    # normal, the 38 judged days before the first episode would have re-armed it
    rule = RiskRule(rearm_after=40)
    assert [day_of(alert) >= 200 for alert in detect(two_episodes(), rule, state)] == [True]
    assert len(detect(two_episodes(), rule)) == 2


def test_a_state_still_in_alert_suppresses_the_next_alarm() -> None:
    state = AlertState(
        {("SKU-9", "repairs", "poisson"): SeriesState(True, 0, START + timedelta(days=99))}
    )
    alerts = detect(two_episodes(), state=state)
    assert [day_of(alert) >= 200 for alert in alerts] == [True]


def flat(key: str, days: int) -> Series:
    return Series(key, "repairs", START, [10] * days)


@pytest.mark.parametrize("run", [detect, lambda s, r, st: detect_many([s], r, st)])
def test_the_state_forgets_a_series_gone_past_every_window_unless_it_is_in_alert(
    run: object,
) -> None:
    day_104 = START + timedelta(days=104)
    state = AlertState(
        {
            ("SKU-9", "repairs", "poisson"): SeriesState(True, 0, day_104),
            ("GONE", "repairs", "poisson"): SeriesState(False, 30, day_104),
        },
        {"poisson": day_104},
    )
    run(flat("KEPT", 105 + 70), RiskRule(), state)  # 70 days later: every window reaches
    assert sorted(state.series) == [(k, "repairs", "poisson") for k in ("GONE", "KEPT", "SKU-9")]
    run(flat("KEPT", 105 + 71), RiskRule(), state)  # one more: baseline + test + rearm
    assert sorted(state.series) == [(k, "repairs", "poisson") for k in ("KEPT", "SKU-9")]
    assert state.judged_through == {"poisson": START + timedelta(days=175)}
    # a series the state does not know is judged after the method's last day judged
    assert run(two_episodes(), RiskRule(), AlertState(judged_through={"poisson": START})) != []
    later = AlertState(judged_through={"poisson": START + timedelta(days=259)})
    assert run(two_episodes(), RiskRule(), later) == []  # type: ignore[operator]


def test_a_state_stored_without_the_last_day_judged_reads_as_none_judged() -> None:
    text = (
        '{"version": 1, "series": [{"key": "a", "kind": "b", "method": "ewma", "in_alert": '
        'true, "normal_windows": 0, "through": "2024-01-01"}]}'
    )
    state = AlertState.from_json(text)
    assert (state.in_alert(), state.judged_through) == ([("a", "b", "ewma")], {})
    state.judged_through["ewma"] = date(2024, 1, 1)
    assert AlertState.from_json(state.to_json()) == state


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"version": 2, "series": []}',
        '{"version": 1, "series": [{"key": "a", "kind": "b", "method": "t", "in_alert": true,'
        ' "normal_windows": 0, "through": "2024-01-01"}]}',
        '{"version": 1, "series": [{"key": "a", "kind": "b", "method": "ewma", "in_alert": '
        'true, "normal_windows": -1, "through": "2024-01-01"}]}',
    ],
)
def test_a_state_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        AlertState.from_json(text)
    assert raised.value.subject == "AlertState"


# --- bad input and degenerate series ------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", "t-test"),
        ("baseline_windows", 1),
        ("test_windows", 0),
        ("significance", 0),
        ("significance", 0.5),
        ("significance", float("nan")),
        ("min_expected", 0),
        ("min_expected", float("inf")),
        ("ewma_lambda", 0),
        ("ewma_lambda", 1.5),
        ("ewma_limit", -3),
        ("cusum_k", -0.1),
        ("cusum_h", 0),
        ("rearm_after", 0),
    ],
)
def test_bad_settings_raise_invalid_input_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidInput) as raised:
        RiskRule.model_validate({field: value})
    assert [error.location for error in raised.value.errors] == [(field,)]


@pytest.mark.parametrize(
    ("changes", "location"),
    [
        ({"counts": [1, -1]}, ("counts", 1)),
        ({"counts": [1, 2.5]}, ("counts", 1)),
        ({"counts": [True]}, ("counts", 0)),
        ({"exposure": [1.0]}, ("exposure",)),
        ({"exposure": [1.0, -2.0]}, ("exposure", 1)),
        ({"exposure": [1.0, float("nan")]}, ("exposure", 1)),
        ({"exposure": [1.0, "2"]}, ("exposure", 1)),
        ({"start": datetime(2024, 1, 1)}, ("start",)),
        ({"period_days": 0}, ("period_days",)),
        ({"key": ""}, ("key",)),
        ({"kind": "a\x00"}, ("kind",)),
    ],
)
def test_bad_series_raise_invalid_input_naming_the_field(
    changes: dict[str, object], location: tuple[object, ...]
) -> None:
    given: dict[str, object] = {
        "key": "SKU-1",
        "kind": "complaints",
        "start": START,
        "counts": [1, 2],
        "exposure": None,
    }
    with pytest.raises(InvalidInput) as raised:
        Series(**{**given, **changes})  # type: ignore[arg-type]
    assert raised.value.errors[0].location == location


def test_counts_may_be_a_numpy_array_or_any_whole_numbers() -> None:
    series = Series("SKU-1", "complaints", START, np.array([1, 2]), np.array([3, 4]))
    assert series.counts == (1, 2)
    assert series.exposure == (3.0, 4.0)
    assert type(series.counts[0]) is int
    assert Series("SKU-1", "complaints", START, [np.int16(3)]).counts == (3,)
    assert Series("SKU-1", "complaints", START, [1], [np.float32(1.5)]).exposure == (1.5,)


@pytest.mark.parametrize(
    ("counts", "exposure", "location"),
    [
        ([1, 2], None, ("exposure",)),
        ([1, 2], [1.5, 2.0], ("exposure", 0)),
    ],
)
@pytest.mark.parametrize("run", [detect, lambda s, r: detect_many([s], r)])
def test_the_binomial_method_needs_whole_trials(
    counts: list[int], exposure: list[float] | None, location: tuple[object, ...], run: object
) -> None:
    series = Series("SKU-1", "returns", START, counts, exposure)
    with pytest.raises(InvalidInput) as raised:
        run(series, RiskRule(method="binomial"))  # type: ignore[operator]
    assert raised.value.errors[0].location == location


@pytest.mark.parametrize("method", METHODS)
def test_all_zero_and_zero_exposure_series_raise_no_alert(method: str) -> None:
    rule = RiskRule(method=method)  # type: ignore[arg-type]
    days = 200
    spiky = [0] * days
    spiky[150] = 9  # a first complaint ever: no baseline to judge it by
    stretch = [5] * days
    units = [500] * days
    for day in range(80, 170):  # nothing sold, nothing counted, for three months
        stretch[day], units[day] = 0, 0
    series = [
        Series("zeros", "complaints", START, [0] * days, [100] * days),
        Series("no exposure", "complaints", START, [0] * days, [0] * days),
        Series("first ever", "complaints", START, spiky, [100] * days),
        Series("stretch", "complaints", START, stretch, units),
        Series("short", "complaints", START, [1, 50], [100, 100]),
    ]
    assert detect_many(series, rule) == []
    assert [alert for each in series for alert in detect(each, rule)] == []


def test_rules_default_to_a_poisson_test_of_a_week_against_eight_weeks() -> None:
    rule = RiskRule()
    assert (rule.method, rule.test_windows, rule.baseline_windows) == ("poisson", 7, 56)
    assert (rule.significance, rule.min_expected, rule.rearm_after) == (0.001, 1.0, 7)
    assert (rule.ewma_lambda, rule.ewma_limit, rule.cusum_k, rule.cusum_h) == (0.2, 3, 0.5, 5)


@pytest.mark.parametrize("run", [detect, lambda s, r: detect_many([s], r)])
def test_a_binomial_window_with_more_cases_than_trials_is_not_judged(run: object) -> None:
    """Returns come back on days without sales: the test reads the window's totals, and
    a window counting more returns than units sold is no binomial draw."""
    exposure = [100.0] * 100
    exposure[80:87] = [10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]  # the window of days 80-86
    rule = RiskRule(method="binomial")

    def alerted_windows(returned: list[int]) -> list[date]:
        counts = [20] * 100  # a rate of 0.2
        counts[80:87] = returned
        alerts = run(Series("SKU-1", "returns", START, counts, exposure), rule)  # type: ignore[operator]
        return [alert.window_end for alert in alerts]

    last = START + timedelta(days=86)
    assert last in alerted_windows([4, 1, 1, 1, 1, 1, 1])  # 10 of 10 sold: P = 0.2**10
    assert last not in alerted_windows([5, 2, 2, 2, 2, 2, 2])  # 17 of 10: not judged
