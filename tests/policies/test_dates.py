"""The date-counting kernel: month ends, leap days, year ends, roll-forward, time zones."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, timezone

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from aftersales import InvalidInput
from aftersales.policies import HolidayCalendar, Period, count_window, local_date
from aftersales.policies.dates import add_working_days, days_between, working_calendar, zone
from aftersales.policies.decision import RefundDeadline
from aftersales.policies.rules import RollForward

days = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))


def test_the_start_day_is_not_counted_unless_asked() -> None:
    monday = date(2024, 3, 4)
    assert count_window(monday, Period(days=7)).last_day == date(2024, 3, 11)
    assert count_window(monday, Period(days=7)).first_day == date(2024, 3, 5)
    assert count_window(monday, Period(days=7), count_start_day=True).last_day == date(2024, 3, 10)


@pytest.mark.parametrize(
    ("start", "period", "last_day"),
    [
        (date(2024, 1, 31), Period(months=1), date(2024, 2, 29)),
        (date(2023, 1, 31), Period(months=1), date(2023, 2, 28)),
        (date(2024, 2, 29), Period(years=1), date(2025, 2, 28)),
        (date(2024, 2, 29), Period(years=4), date(2028, 2, 29)),
        (date(2024, 12, 25), Period(days=7), date(2025, 1, 1)),
        (date(2024, 8, 31), Period(months=6), date(2025, 2, 28)),
        (date(2024, 3, 15), Period(years=1, months=1, days=1), date(2025, 4, 16)),
    ],
)
def test_month_ends_clamp_and_years_keep_the_day(
    start: date, period: Period, last_day: date
) -> None:
    assert count_window(start, period).last_day == last_day


def test_repair_days_and_pauses_extend_the_window() -> None:
    start = date(2024, 3, 1)
    assert count_window(start, Period(days=30), extend_days=10).last_day == date(2024, 4, 10)
    paused = count_window(start, Period(days=30), pauses=[(date(2024, 3, 20), date(2024, 3, 24))])
    assert paused.last_day == date(2024, 4, 5)
    ignored = count_window(start, Period(days=30), pauses=[(date(2024, 2, 1), date(2024, 2, 5))])
    assert ignored.last_day == date(2024, 3, 31)
    with pytest.raises(InvalidInput):
        count_window(start, Period(days=1), pauses=[(date(2024, 3, 5), date(2024, 3, 4))])
    with pytest.raises(InvalidInput):
        count_window(start, Period(days=1), extend_days=-1)


def test_a_last_day_on_a_closed_day_rolls_to_the_next_open_day() -> None:
    weekends = HolidayCalendar()
    assert count_window(date(2024, 3, 2), Period(days=14), closed=weekends).last_day == date(
        2024, 3, 18
    )
    may_day = HolidayCalendar(holidays=frozenset({date(2024, 5, 1), date(2024, 5, 2)}))
    assert count_window(date(2024, 4, 24), Period(days=7), closed=may_day).last_day == date(
        2024, 5, 3
    )
    make_up = HolidayCalendar(working_days=frozenset({date(2024, 2, 4)}))
    assert not make_up.is_closed(date(2024, 2, 4))


def test_public_holidays_come_from_the_holidays_package() -> None:
    china = HolidayCalendar.for_country("CN", [2024])
    assert china.is_closed(date(2024, 10, 1))
    assert not china.is_closed(date(2024, 9, 29))  # a Sunday worked in exchange for a holiday
    with pytest.raises(InvalidInput):
        HolidayCalendar.for_country("XX", [2024])


def test_periods_must_be_positive() -> None:
    with pytest.raises(InvalidInput):
        Period()
    with pytest.raises(InvalidInput):
        Period(days=-1)
    assert str(Period(years=1, days=3)) == "1 years 3 days"


def test_local_dates_cut_off_at_local_midnight() -> None:
    shanghai = zone("Asia/Shanghai")
    assert local_date(datetime(2024, 3, 10, 15, 59, tzinfo=timezone.utc), shanghai) == date(
        2024, 3, 10
    )
    assert local_date(datetime(2024, 3, 10, 16, 0, tzinfo=timezone.utc), shanghai) == date(
        2024, 3, 11
    )
    with pytest.raises(InvalidInput):
        zone("Mars/Olympus_Mons")


def test_days_between_counts_both_ends() -> None:
    assert days_between(date(2024, 3, 1), date(2024, 3, 1)) == 1
    assert days_between(date(2024, 3, 2), date(2024, 3, 1)) == 0


@given(start=days, n=st.integers(1, 2000))
def test_n_days_end_n_days_after_the_event(start: date, n: int) -> None:
    window = count_window(start, Period(days=n))
    assert window.last_day - start == timedelta(days=n)
    assert window.days_left(window.last_day) == 0
    assert count_window(start, Period(days=n), count_start_day=True).last_day - start == timedelta(
        days=n - 1
    )


@given(start=days, months=st.integers(1, 60))
def test_month_periods_end_on_the_same_day_or_the_months_last(start: date, months: int) -> None:
    last = count_window(start, Period(months=months)).last_day
    assert (last.year * 12 + last.month) - (start.year * 12 + start.month) == months
    assert last.day == min(start.day, calendar.monthrange(last.year, last.month)[1])


@given(start=days, n=st.integers(1, 400), holidays=st.sets(days, max_size=40))
def test_rolled_last_days_are_open_and_the_first_open_day(
    start: date, n: int, holidays: set[date]
) -> None:
    closed = HolidayCalendar(holidays=frozenset(holidays))
    plain = count_window(start, Period(days=n)).last_day
    rolled = count_window(start, Period(days=n), closed=closed).last_day
    assert not closed.is_closed(rolled)
    assert rolled >= plain
    day = plain
    while day < rolled:
        assert closed.is_closed(day)
        day += timedelta(days=1)


@given(
    instant=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2060, 1, 1),
        timezones=st.just(timezone.utc),
    ),
    name=st.sampled_from(
        ["Asia/Shanghai", "Europe/Berlin", "America/Los_Angeles", "Europe/London"]
    ),
)
def test_local_date_matches_the_wall_clock_in_every_zone(instant: datetime, name: str) -> None:
    assert local_date(instant, zone(name)) == instant.astimezone(zone(name)).date()


def test_working_days_skip_weekends_and_not_the_start_day() -> None:
    weekdays = HolidayCalendar()
    friday = date(2024, 3, 8)
    assert add_working_days(friday, 0, weekdays) == friday
    assert add_working_days(date(2024, 3, 9), 0, weekdays) == date(2024, 3, 9)
    assert add_working_days(friday, 1, weekdays) == date(2024, 3, 11)
    assert add_working_days(date(2024, 3, 4), 5, weekdays) == date(2024, 3, 11)
    assert add_working_days(date(2024, 3, 9), 1, weekdays) == date(2024, 3, 11)


def test_working_days_skip_chinas_national_day_and_count_its_make_up_days() -> None:
    china = working_calendar("CN")
    # 2024: 1-7 October closed; Sunday 29 September and Saturday 12 October worked.
    assert add_working_days(date(2024, 9, 27), 1, china) == date(2024, 9, 29)
    assert add_working_days(date(2024, 9, 27), 3, china) == date(2024, 10, 8)
    assert add_working_days(date(2024, 10, 10), 2, china) == date(2024, 10, 12)


def test_a_countrys_calendar_is_built_once_per_process() -> None:
    assert working_calendar("CN") is working_calendar("CN")
    assert RollForward(weekends=True, country="CN").calendar() is working_calendar("CN")
    first = HolidayCalendar.for_country("CN", [2024, 2025])
    assert HolidayCalendar.for_country("CN", (2025, 2024)) is first
    with pytest.raises(InvalidInput):
        working_calendar("XX")
    with pytest.raises(InvalidInput):
        working_calendar(0)  # type: ignore[arg-type]


def test_working_days_refuse_a_negative_count_and_a_calendar_never_open() -> None:
    with pytest.raises(InvalidInput):
        add_working_days(date(2024, 3, 8), -1, HolidayCalendar())
    with pytest.raises(InvalidInput):
        add_working_days(date(2024, 3, 8), 1, HolidayCalendar(weekend=frozenset(range(7))))


class _OddDaysClosed:
    def is_closed(self, day: date) -> bool:
        return day.day % 2 == 1


@given(start=days, n=st.integers(0, 60))
def test_working_days_counted_are_open_and_exactly_n(start: date, n: int) -> None:
    for closed in (HolidayCalendar(), working_calendar("CN"), _OddDaysClosed()):
        due = add_working_days(start, n, closed)
        opened = [
            start + timedelta(days=k)
            for k in range(1, (due - start).days + 1)
            if not closed.is_closed(start + timedelta(days=k))
        ]
        assert len(opened) == n
        assert n == 0 or not closed.is_closed(due)


def test_a_refund_deadline_counts_from_a_later_event_with_the_policys_calendar() -> None:
    car = RefundDeadline(days=20, counted_from="claim", working_days=True, holiday_country="CN")
    # 20 working days from Friday 2024-09-20 skip National Day and count two make-up days.
    assert car.due_from(date(2024, 9, 20)) == date(2024, 10, 23)
    seven = RefundDeadline(days=7, counted_from="goods_received", sanctionable_after_days=15)
    assert seven.due_from(date(2024, 9, 28)) == date(2024, 10, 5)
    assert seven.sanctionable_from(date(2024, 9, 28)) == date(2024, 10, 13)


@given(start=days, years=st.integers(0, 100), months=st.integers(0, 1_200), n=st.integers(0, 400))
def test_periods_of_months_and_years_agree_with_dateutil(
    start: date, years: int, months: int, n: int
) -> None:
    if not (years or months or n):
        return
    expected = start + relativedelta(years=years, months=months, days=n)
    assert count_window(start, Period(days=n, months=months, years=years)).last_day == expected


@pytest.mark.parametrize(
    ("country", "years"), [(["CN"], [2024]), ("CN", ["x"]), ("CN", None), ("XX", [2024])]
)
def test_a_country_calendar_refuses_bad_arguments_with_invalid_input(
    country: object, years: object
) -> None:
    with pytest.raises(InvalidInput):
        HolidayCalendar.for_country(country, years)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("start", "closed"),
    [
        ("2024-03-08", HolidayCalendar()),
        (datetime(2024, 3, 8, tzinfo=timezone.utc), HolidayCalendar()),
        (date(2024, 3, 8), object()),
    ],
)
def test_working_days_refuse_a_start_that_is_not_a_date_or_a_calendar_without_is_closed(
    start: object, closed: object
) -> None:
    with pytest.raises(InvalidInput):
        add_working_days(start, 2, closed)  # type: ignore[arg-type]
