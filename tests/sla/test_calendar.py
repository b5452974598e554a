"""Business calendars: the Frappe cases, lunch breaks, DST, Chinese make-up days, holidays."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aftersales import InvalidInput
from aftersales.sla import BusinessCalendar, CalendarSpec

UTC = timezone.utc
FRAPPE = BusinessCalendar(hours={day: ["10:00-18:00"] for day in range(5)})
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*parts: int, tz: timezone | ZoneInfo = UTC) -> datetime:
    return datetime(*parts, tzinfo=tz)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("created", "response", "resolution", "response_due", "resolution_due"),
    [
        (at(2024, 3, 4, 11), 60, 240, at(2024, 3, 4, 12), at(2024, 3, 4, 15)),
        (at(2024, 3, 4, 8), 60, 240, at(2024, 3, 4, 11), at(2024, 3, 4, 14)),
        (at(2024, 3, 4, 20), 30, 120, at(2024, 3, 5, 10, 30), at(2024, 3, 5, 12)),
        (at(2024, 3, 9, 15), 24 * 60, 72 * 60, at(2024, 3, 13, 18), at(2024, 3, 21, 18)),
        (at(2024, 3, 8, 17), 30, 120, at(2024, 3, 8, 17, 30), at(2024, 3, 11, 11)),
        (at(2024, 3, 8, 19), 60, 240, at(2024, 3, 11, 11), at(2024, 3, 11, 14)),
    ],
)
def test_the_frappe_cases(
    created: datetime,
    response: int,
    resolution: int,
    response_due: datetime,
    resolution_due: datetime,
) -> None:
    assert FRAPPE.add(created, timedelta(minutes=response)) == response_due
    assert FRAPPE.add(created, timedelta(minutes=resolution)) == resolution_due


def test_friday_four_pm_plus_four_hours_is_monday_eleven() -> None:
    calendar = BusinessCalendar(hours={day: ["08:00-17:00"] for day in range(5)})
    assert calendar.add(at(2024, 3, 8, 16), timedelta(hours=4)) == at(2024, 3, 11, 11)


def test_a_target_exactly_at_closing_stays_that_day() -> None:
    assert FRAPPE.add(at(2024, 3, 4, 17), timedelta(hours=1)) == at(2024, 3, 4, 18)
    assert FRAPPE.add(at(2024, 3, 4, 17), timedelta(hours=1, seconds=1)) == at(2024, 3, 5, 10, 0, 1)
    assert not FRAPPE.is_open(at(2024, 3, 4, 18))


def test_lunch_breaks_are_not_working_time() -> None:
    calendar = BusinessCalendar(hours={day: ["09:00-12:00", "13:00-18:00"] for day in range(5)})
    assert calendar.add(at(2024, 3, 4, 11, 30), timedelta(hours=1)) == at(2024, 3, 4, 13, 30)
    assert calendar.elapsed(at(2024, 3, 4, 9), at(2024, 3, 4, 18)) == timedelta(hours=8)
    assert not calendar.is_open(at(2024, 3, 4, 12, 30))
    assert calendar.next_opening(at(2024, 3, 4, 12, 30)) == at(2024, 3, 4, 13)


def test_dst_in_berlin_and_new_york() -> None:
    around_the_clock = {day: ["00:00-24:00"] for day in range(7)}
    berlin = BusinessCalendar(time_zone="Europe/Berlin", hours=around_the_clock)
    spring = berlin.add(at(2024, 3, 30, 12, tz=BERLIN), timedelta(hours=24))
    assert spring.astimezone(BERLIN) == at(2024, 3, 31, 13, tz=BERLIN)
    assert berlin.elapsed(at(2024, 3, 30, tz=BERLIN), at(2024, 4, 1, tz=BERLIN)) == timedelta(
        hours=47
    )
    new_york = BusinessCalendar(time_zone="America/New_York", hours=around_the_clock)
    autumn = new_york.add(at(2024, 11, 2, 12, tz=NEW_YORK), timedelta(hours=24))
    assert autumn.astimezone(NEW_YORK) == at(2024, 11, 3, 11, tz=NEW_YORK)
    assert new_york.elapsed(
        at(2024, 11, 3, tz=NEW_YORK), at(2024, 11, 4, tz=NEW_YORK)
    ) == timedelta(hours=25)
    office = BusinessCalendar(
        time_zone="Europe/Berlin", hours={d: ["09:00-17:00"] for d in range(5)}
    )
    assert office.add(at(2024, 3, 29, 16, tz=BERLIN), timedelta(hours=2)).astimezone(BERLIN) == at(
        2024, 4, 1, 10, tz=BERLIN
    )


def test_chinese_make_up_workdays_and_the_spring_festival() -> None:
    china = BusinessCalendar(time_zone="Asia/Shanghai", country="CN")
    assert china.add(at(2024, 2, 2, 17, tz=SHANGHAI), timedelta(hours=2)).astimezone(
        SHANGHAI
    ) == at(2024, 2, 4, 10, tz=SHANGHAI)
    assert china.add(at(2024, 2, 9, 17, tz=SHANGHAI), timedelta(hours=2)).astimezone(
        SHANGHAI
    ) == at(2024, 2, 18, 10, tz=SHANGHAI)


def test_a_holiday_week() -> None:
    china = BusinessCalendar(time_zone="Asia/Shanghai", country="CN")
    due = china.add(at(2024, 9, 30, 17, tz=SHANGHAI), timedelta(hours=2))
    assert due.astimezone(SHANGHAI) == at(2024, 10, 8, 10, tz=SHANGHAI)
    listed = BusinessCalendar(
        holidays=[date(2024, 3, 5)], hours={d: ["09:00-17:00"] for d in range(5)}
    )
    assert listed.add(at(2024, 3, 4, 16), timedelta(hours=2)) == at(2024, 3, 6, 10)


def test_a_calendar_open_around_the_clock() -> None:
    always = BusinessCalendar(always_open=True)
    assert always.add(at(2024, 3, 9, 23), timedelta(hours=2)) == at(2024, 3, 10, 1)
    assert always.is_open(at(2024, 3, 10, 3))
    assert always.elapsed(at(2024, 3, 10), at(2024, 3, 9)) == timedelta(0)
    assert "24/7" in repr(always)


def test_an_interval_starting_inside_a_dst_gap_opens_when_the_gap_ends() -> None:
    # Berlin springs forward on Sunday 2024-03-31: 02:00-03:00 does not exist.
    sunday = BusinessCalendar(time_zone="Europe/Berlin", hours={"sun": ["02:30-06:00"]})
    saturday_noon = at(2024, 3, 30, 12, tz=BERLIN)
    opening = sunday.next_opening(saturday_noon)
    assert opening.astimezone(BERLIN) == at(2024, 3, 31, 3, tz=BERLIN)  # not 03:30
    assert opening == at(2024, 3, 31, 1)
    assert sunday.is_open(at(2024, 3, 31, 3, 10, tz=BERLIN))
    assert sunday.elapsed(saturday_noon, at(2024, 4, 1, tz=BERLIN)) == timedelta(hours=3)
    assert sunday.add(saturday_noon, timedelta(minutes=30)).astimezone(BERLIN) == at(
        2024, 3, 31, 3, 30, tz=BERLIN
    )
    # New York's gap is 02:00-03:00 too (2024-03-10); an interval ending in it ends at 03:00.
    night = BusinessCalendar(time_zone="America/New_York", hours={"sun": ["01:00-02:30"]})
    assert night.elapsed(at(2024, 3, 9, tz=NEW_YORK), at(2024, 3, 11, tz=NEW_YORK)) == timedelta(
        hours=1
    )


def test_make_up_working_days_take_a_normal_weekdays_hours() -> None:
    # China 2024: Sunday 4 February is worked for the Spring Festival. Saturdays are half
    # days at this desk; a make-up day is a full one, with Monday-Friday's hours.
    hours = {d: ["09:00-12:00", "13:00-18:00"] for d in range(5)} | {"sat": ["10:00-12:00"]}
    china = BusinessCalendar(time_zone="Asia/Shanghai", country="CN", hours=hours)
    make_up = BusinessCalendar(
        time_zone="Asia/Shanghai", hours=hours, working_days=[date(2024, 9, 14)]
    )
    for calendar, day in ((china, date(2024, 2, 4)), (make_up, date(2024, 9, 14))):
        start = at(day.year, day.month, day.day, tz=SHANGHAI)
        worked = calendar.elapsed(start, start + timedelta(days=1))
        assert worked == timedelta(hours=8), (day, worked)
    # Saturday 14 September 2024 is a make-up day in China; an ordinary Saturday is not.
    assert make_up.elapsed(at(2024, 9, 21, tz=SHANGHAI), at(2024, 9, 22, tz=SHANGHAI)) == timedelta(
        hours=2
    )


def test_make_up_working_days_can_take_a_named_weekdays_hours() -> None:
    hours = {"mon": ["09:00-18:00"], "tue": ["09:00-12:00"], "wed": ["09:00-12:00"]}
    saturday = date(2024, 9, 14)
    start = at(2024, 9, 14, tz=SHANGHAI)

    def worked(**kwargs: object) -> timedelta:
        calendar = BusinessCalendar(
            time_zone="Asia/Shanghai", hours=hours, working_days=[saturday], **kwargs
        )
        return calendar.elapsed(start, start + timedelta(days=1))

    assert worked() == timedelta(hours=3)  # the hours most weekdays share
    assert worked(make_up_hours_from="monday") == timedelta(hours=9)
    assert worked(make_up_hours_from=0) == timedelta(hours=9)
    with pytest.raises(InvalidInput) as raised:
        worked(make_up_hours_from="sun")
    assert raised.value.errors[0].location == ("make_up_hours_from",)
    spec = CalendarSpec.model_validate(
        {
            "time_zone": "Asia/Shanghai",
            "hours": hours,
            "working_days": ["2024-09-14"],
            "make_up_hours_from": "mon",
        }
    )
    assert spec.calendar.elapsed(start, start + timedelta(days=1)) == timedelta(hours=9)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"hours": {"²": ["09:00-12:00"]}}, "hours"),
        ({"hours": {"mon": ["٠٩:00-12:00"]}}, "hours.mon"),
        ({"hours": {"mon": "09:00-12:00"}}, "hours.mon"),
        ({"hours": {"mon": [9]}}, "hours.mon"),
        ({"hours": {"mon": 9}}, "hours.mon"),
        ({"hours": {0: ["09:00-12:00"], "mon": ["13:00-14:00"]}}, "hours"),
        ({"hours": {None: ["09:00-12:00"]}}, "hours"),
        ({"hours": {"monkey": ["09:00-12:00"]}}, "hours"),
        ({"hours": {"mo": ["09:00-12:00"]}}, "hours"),
        ({"hours": {True: ["09:00-12:00"]}}, "hours"),
        ({"hours": 5}, "hours"),
        ({"hours": ["09:00-12:00"]}, "hours"),
        ({"time_zone": 5}, "time_zone"),
        ({"time_zone": None}, "time_zone"),
        ({"time_zone": "America"}, "time_zone"),
        ({"time_zone": "\ud800"}, "time_zone"),
        ({"time_zone": "/etc/passwd"}, "time_zone"),
        ({"country": 0}, "country"),
        ({"country": "utils"}, "country"),
        ({"country": "Germany\x00"}, "country"),
        ({"country": "DE", "subdivision": 0}, "subdivision"),
        ({"country": "DE", "subdivision": "XX"}, "subdivision"),
        ({"subdivision": "BY"}, "subdivision"),
        ({"holidays": 5}, "holidays"),
        ({"holidays": "2024-03-05"}, "holidays"),
        ({"holidays": [datetime(2024, 3, 5, tzinfo=UTC)]}, "holidays"),
        ({"working_days": [None]}, "working_days"),
        ({"always_open": "yes"}, "always_open"),
        ({"make_up_hours_from": "someday"}, "make_up_hours_from"),
        ({"make_up_hours_from": 1.5}, "make_up_hours_from"),
    ],
)
def test_wrong_types_and_values_for_a_calendar_are_invalid_input(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        BusinessCalendar(**kwargs)  # type: ignore[arg-type]
    assert raised.value.errors[0].location == (field,)
    assert raised.value.errors[0].message


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.elapsed_seconds(1.7e9, 1e12), "end"),
        (lambda c: c.elapsed_seconds(-1e12, 1.7e9), "start"),
        (lambda c: c.elapsed_seconds("1.7e9", 1.8e9), "start"),
        (lambda c: c.elapsed_seconds(1.7e9, float("nan")), "end"),
        (lambda c: c.elapsed_seconds(1.7e9, 10**400), "end"),
        (lambda c: c.position(None), "ts"),
        (lambda c: c.position(float("inf")), "ts"),
        (lambda c: c.add_seconds(1.7e9, float("nan")), "seconds"),
        (lambda c: c.add_seconds(1.7e9, "60"), "seconds"),
        (lambda c: c.add_seconds(1.7e9, 1e300), "seconds"),
        (lambda c: c.add_seconds(7289654399.0, 60.0), "seconds"),  # 2200-12-31T23:59:59Z
        (lambda c: c.add(at(2200, 12, 31, 17), timedelta(minutes=10**7)), "seconds"),
        (lambda c: c.add(at(2024, 3, 4), timedelta(days=10**6)), "seconds"),
        (lambda c: c.add(datetime.max.replace(tzinfo=UTC), timedelta(hours=1)), "start"),
        (
            lambda c: c.add(
                datetime.min.replace(tzinfo=timezone(timedelta(hours=14))), timedelta(hours=1)
            ),
            "start",
        ),
        (lambda c: c.add(1.7e9, timedelta(hours=1)), "start"),
        (lambda c: c.add(at(2024, 3, 4), 3600), "business"),
        (lambda c: c.elapsed(at(2024, 3, 4), "tomorrow"), "end"),
        (lambda c: c.next_opening(date(2024, 3, 4)), "at"),
    ],
)
@pytest.mark.parametrize("calendar", [FRAPPE, BusinessCalendar(always_open=True)], ids=repr)
def test_numbers_out_of_range_or_of_the_wrong_type_are_invalid_input(
    call: Callable[[BusinessCalendar], object], field: str, calendar: BusinessCalendar
) -> None:
    with pytest.raises(InvalidInput) as raised:
        call(calendar)
    assert raised.value.errors[0].location == (field,)


def test_the_supported_range_is_the_years_1900_to_2200() -> None:
    first, last = at(1900, 1, 1), at(2200, 12, 31, 17)
    assert FRAPPE.next_opening(first) == at(1900, 1, 1, 10)  # a Monday
    assert FRAPPE.add(first, timedelta(hours=1)) == at(1900, 1, 1, 11)
    assert FRAPPE.add(last, timedelta(hours=1)) == at(2200, 12, 31, 18)
    assert FRAPPE.elapsed(first, at(1900, 1, 8)) == timedelta(hours=40)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"hours": {"mon": ["18:00-09:00"]}}, "hours.mon"),
        ({"hours": {"mon": ["9-5"]}}, "hours.mon"),
        ({"hours": {"mon": ["09:00-25:00"]}}, "hours.mon"),
        ({"hours": {"funday": ["09:00-17:00"]}}, "hours"),
        ({"hours": {}}, "hours"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"country": "XX"}, "country"),
    ],
)
def test_bad_calendars_are_invalid_input_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        BusinessCalendar(**kwargs)  # type: ignore[arg-type]
    assert raised.value.errors[0].location == (field,)


def test_bad_arguments_are_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        FRAPPE.add(at(2024, 3, 4, 11), timedelta(0))
    with pytest.raises(InvalidInput):
        FRAPPE.add(datetime(2024, 3, 4, 11), timedelta(hours=1))
    with pytest.raises(InvalidInput):
        FRAPPE.elapsed(at(2024, 3, 4), datetime(2024, 3, 5))
    with pytest.raises(InvalidInput):
        FRAPPE.is_open(at(1899, 12, 31, 23))


CALENDAR = BusinessCalendar(
    time_zone="Europe/Berlin",
    hours={day: ["08:30-12:00", "13:00-17:30"] for day in range(5)} | {5: ["10:00-14:00"]},
    holidays=[date(2024, 12, 25), date(2024, 12, 26), date(2025, 1, 1)],
)
starts = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
amounts = st.integers(1, 2000 * 3600)


@settings(max_examples=300)
@given(start=starts, seconds=amounts)
def test_adding_then_measuring_gives_back_the_amount(start: datetime, seconds: int) -> None:
    result = CALENDAR.add(start, timedelta(seconds=seconds))
    assert abs(CALENDAR.elapsed(start, result).total_seconds() - seconds) < 1e-3


@settings(max_examples=300)
@given(first=starts, second=starts, third=starts)
def test_elapsed_time_adds_up_over_split_points(
    first: datetime, second: datetime, third: datetime
) -> None:
    a, b, c = sorted([first, second, third])
    total = CALENDAR.elapsed(a, c).total_seconds()
    assert (
        abs(total - CALENDAR.elapsed(a, b).total_seconds() - CALENDAR.elapsed(b, c).total_seconds())
        < 1e-3
    )


@settings(max_examples=300)
@given(start=starts, seconds=amounts)
def test_results_never_fall_in_closed_time(start: datetime, seconds: int) -> None:
    result = CALENDAR.add(start, timedelta(seconds=seconds))
    just_before = result - timedelta(microseconds=1)
    assert CALENDAR.is_open(just_before)


def test_positions_keep_their_origin_when_the_table_grows_either_way() -> None:
    calendar = BusinessCalendar(
        time_zone="Europe/Berlin", hours={d: ["09:00-17:00"] for d in range(5)}
    )
    monday, tuesday = at(2024, 3, 4, 12).timestamp(), at(2024, 3, 5, 12).timestamp()
    before = calendar.position(monday), calendar.position(tuesday)
    far_past, far_future = at(1980, 6, 1).timestamp(), at(2150, 6, 1).timestamp()
    calendar.position(far_past)  # rebuilds the table from 1979
    calendar.position(far_future)  # ... and up to 2151
    assert (calendar.position(monday), calendar.position(tuesday)) == before
    assert calendar.position(tuesday) - calendar.position(monday) == 8 * 3600
    assert calendar.add_seconds(monday, 8 * 3600.0) == tuesday


def test_weekdays_are_numbers_or_names() -> None:
    names = {"Monday": ["09:00-10:00"], "tues": ["09:00-10:00"], "WED": ["09:00-10:00"]}
    numbers = {0: ["09:00-10:00"], "1": ["09:00-10:00"], 2: ["09:00-10:00"]}
    monday = at(2024, 3, 4)
    for hours in (names, numbers):
        calendar = BusinessCalendar(hours=hours)
        assert calendar.elapsed(monday, monday + timedelta(days=7)) == timedelta(hours=3)
