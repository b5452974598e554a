"""The one date-counting kernel behind every window: return, exchange, warranty, legal
guarantee and refund deadlines (design decision 7).

A window starts from an event (purchase, invoice, delivery, sign-off, the last item of an
order, installation), counts days, months or years with or without the start day, clamps
month ends, may be extended by repair days and pauses, and may roll forward past days on
which nothing can be done (weekends, public holidays). Everything works on local calendar
dates: convert instants with :func:`local_date` in the jurisdiction's time zone first.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from enum import Enum
from typing import NamedTuple, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from aftersales.exceptions import FieldError, InvalidInput

__all__ = [
    "ClosedDays",
    "CountryCalendar",
    "HolidayCalendar",
    "Period",
    "StartEvent",
    "Window",
    "add_months",
    "add_working_days",
    "count_window",
    "days_between",
    "local_date",
    "working_calendar",
    "zone",
]

_WEEKEND = frozenset({5, 6})
_ONE_DAY = timedelta(days=1)


class StartEvent(str, Enum):
    """What a window counts from."""

    PURCHASE = "purchase"
    INVOICE = "invoice"
    DELIVERY = "delivery"
    SIGN_OFF = "sign_off"
    LAST_ITEM = "last_item"
    INSTALLATION = "installation"


@runtime_checkable
class ClosedDays(Protocol):
    """Tells whether a day is one on which a period cannot end (weekend, holiday)."""

    def is_closed(self, day: date) -> bool:
        """True when a period ending on ``day`` moves to the next open day."""
        ...


@attrs.frozen
class HolidayCalendar:
    """Weekends and public holidays, with working days that override them (make-up days).

    >>> from datetime import date
    >>> calendar = HolidayCalendar(holidays=frozenset({date(2024, 5, 1)}))
    >>> calendar.is_closed(date(2024, 5, 1)), calendar.is_closed(date(2024, 5, 2))
    (True, False)
    """

    holidays: frozenset[date] = frozenset()
    weekend: frozenset[int] = frozenset({5, 6})
    working_days: frozenset[date] = frozenset()

    def is_closed(self, day: date) -> bool:
        if day in self.working_days:
            return False
        return day.weekday() in self.weekend or day in self.holidays

    @classmethod
    def for_country(
        cls, country: str, years: Iterable[int], *, subdivision: str | None = None
    ) -> HolidayCalendar:
        """Public holidays from the ``holidays`` package (extra ``aftersales[calendars]``),
        including the weekend working days some countries (China) declare.

        Each country's year is read from the ``holidays`` package once per process, and
        the calendar for the same ``years`` is built once (both caches are bounded). For
        a calendar that covers every year, see :func:`working_calendar`.
        """
        try:
            wanted = tuple(sorted({int(year) for year in years}))
            found = _country_calendar(country, wanted, subdivision)
        except InvalidInput:
            raise
        except (TypeError, ValueError, OverflowError):
            raise InvalidInput(
                "calendar",
                [FieldError(("country",), "country and subdivision must be text, years whole")],
            ) from None
        if cls is not HolidayCalendar:  # a subclass gets its own instance
            return cls(found.holidays, found.weekend, found.working_days)
        return found


def _missing_package() -> InvalidInput:  # pragma: no cover - the extra is installed
    return InvalidInput(
        "calendar",
        [
            FieldError(
                ("country",),
                'needs the holidays package: pip install "aftersales[calendars]"',
            )
        ],
    )


@functools.lru_cache(maxsize=2048)
def _country_year(
    country: str, subdivision: str | None, year: int | None
) -> tuple[frozenset[date], frozenset[date]]:
    """One year of a country's public holidays and its make-up working days (all years'
    make-up days the package knows, which it does not split by year). ``year`` None only
    checks that the country (and subdivision) exist."""
    try:
        import holidays
    except ImportError:  # pragma: no cover - the extra is installed with the tests
        raise _missing_package() from None
    if not isinstance(country, str) or not (subdivision is None or isinstance(subdivision, str)):
        raise InvalidInput(
            "calendar", [FieldError(("country",), "country and subdivision must be text")]
        )
    try:
        table = holidays.country_holidays(
            country, subdiv=subdivision, years=[] if year is None else [year]
        )
    except NotImplementedError as error:
        raise InvalidInput("calendar", [FieldError(("country",), str(error))]) from None
    workdays = frozenset(getattr(table, "weekend_workdays", ()) or ())
    return frozenset(table), workdays


@functools.lru_cache(maxsize=256)
def _country_calendar(
    country: str, years: tuple[int, ...], subdivision: str | None
) -> HolidayCalendar:
    _country_year(country, subdivision, None)  # an unknown country fails with no years too
    holidays: set[date] = set()
    working: set[date] = set()
    for year in years:
        days, workdays = _country_year(country, subdivision, year)
        holidays |= days
        working |= workdays
    return HolidayCalendar(holidays=frozenset(holidays), working_days=frozenset(working))


class CountryCalendar:
    """A country's weekends, public holidays and make-up working days for every year.

    Each year is read from the ``holidays`` package the first time a day of it is asked
    about, then kept for the life of the process. Get one with :func:`working_calendar`,
    which builds it once per country. ``extra_holidays`` are closed days of your own
    (a shop's closing days); ``weekend`` are the weekday numbers (Monday 0) that are
    closed unless declared working days.
    """

    __slots__ = ("_lock", "_years", "country", "extra_holidays", "subdivision", "weekend")

    def __init__(
        self,
        country: str,
        *,
        subdivision: str | None = None,
        weekend: frozenset[int] = _WEEKEND,
        extra_holidays: frozenset[date] = frozenset(),
    ) -> None:
        _country_year(country, subdivision, None)  # refuse an unknown country now
        self.country = country
        self.subdivision = subdivision
        self.weekend = frozenset(weekend)
        self.extra_holidays = frozenset(extra_holidays)
        self._years: dict[int, tuple[frozenset[date], frozenset[date]]] = {}
        self._lock = threading.Lock()

    def _year(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        found = self._years.get(year)
        if found is None:
            with self._lock:
                found = self._years.get(year)
                if found is None:
                    holidays, working = _country_year(self.country, self.subdivision, year)
                    found = self._years[year] = (holidays | self.extra_holidays, working)
        return found

    def is_closed(self, day: date) -> bool:
        """True on a weekend day or a public holiday, unless it is a make-up working day."""
        holidays, working = self._years.get(day.year) or self._year(day.year)
        if day in working:
            return False
        return day.weekday() in self.weekend or day in holidays

    def __repr__(self) -> str:
        return (
            f"CountryCalendar({self.country!r}, subdivision={self.subdivision!r}, "
            f"weekend={sorted(self.weekend)!r})"
        )


def working_calendar(
    country: str,
    *,
    subdivision: str | None = None,
    weekend: Iterable[int] = _WEEKEND,
    extra_holidays: Iterable[date] = frozenset(),
) -> CountryCalendar:
    """The calendar of ``country`` (an ISO 3166 code the ``holidays`` package knows, such
    as ``"CN"``), built once per process for the same arguments (a bounded cache): every
    year, loaded as it is first used. An unknown country raises InvalidInput.

    >>> from datetime import date
    >>> china = working_calendar("CN")
    >>> china is working_calendar("CN")
    True
    >>> china.is_closed(date(2024, 10, 1)), china.is_closed(date(2024, 9, 29))
    (True, False)
    """
    try:
        return _working_calendar(
            country, subdivision, frozenset(weekend), frozenset(extra_holidays)
        )
    except TypeError:
        raise InvalidInput(
            "calendar",
            [
                FieldError(
                    ("country",),
                    "country, subdivision, weekend and holidays must be "
                    "text, text, weekday numbers and dates",
                )
            ],
        ) from None


@functools.lru_cache(maxsize=128)
def _working_calendar(
    country: str, subdivision: str | None, weekend: frozenset[int], extra: frozenset[date]
) -> CountryCalendar:
    return CountryCalendar(country, subdivision=subdivision, weekend=weekend, extra_holidays=extra)


_NO_OPEN_DAY_LIMIT = 366
"""Consecutive closed days after which a calendar is taken to have no open day at all."""


def add_working_days(start: date, days: int, closed: ClosedDays) -> date:
    """The day on which ``days`` working days after ``start`` have passed.

    ``start`` itself is not counted (a request made on Monday with 1 working day to
    answer is due on Tuesday, or on the next day that is open), days on which
    ``closed.is_closed`` is true are skipped, and ``days=0`` returns ``start`` unchanged,
    even when ``start`` is closed. This is the one working-day counter of the library:
    refund deadlines in working days (China's household-car rules), case deadlines and
    anything else that counts working days use it with the policy's calendar (see
    :func:`working_calendar`; :class:`HolidayCalendar` with no holidays counts Monday to
    Friday).

    A negative ``days``, or a calendar with no open day in a year, raises InvalidInput.

    >>> from datetime import date
    >>> weekdays = HolidayCalendar()
    >>> add_working_days(date(2024, 3, 8), 1, weekdays)  # Friday -> Monday
    datetime.date(2024, 3, 11)
    >>> add_working_days(date(2024, 9, 27), 3, working_calendar("CN"))  # National Day
    datetime.date(2024, 10, 8)
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise InvalidInput(
            "working days", [FieldError(("days",), "must be a whole number, 0 or more")]
        )
    if not isinstance(start, date) or isinstance(start, datetime):
        raise InvalidInput(
            "working days",
            [FieldError(("start",), "must be a date (a local date: see local_date)")],
        )
    if not days:
        return start
    if isinstance(closed, _CACHEABLE) and type(closed) in _CACHEABLE:
        return _add_working_days_cached(start, days, closed)
    if not callable(getattr(closed, "is_closed", None)):
        raise InvalidInput(
            "working days", [FieldError(("closed",), "must have an is_closed(day) method")]
        )
    return _add_working_days(start, days, closed)


def _add_working_days(start: date, days: int, closed: ClosedDays) -> date:
    day = start
    remaining = days
    closed_run = 0
    one = timedelta(days=1)
    try:
        while remaining:
            day += one
            if closed.is_closed(day):
                closed_run += 1
                if closed_run > _NO_OPEN_DAY_LIMIT:
                    raise InvalidInput(
                        "working days",
                        [FieldError(("closed",), "the calendar has no open day in a year")],
                    )
            else:
                closed_run = 0
                remaining -= 1
    except OverflowError:
        raise InvalidInput(
            "working days", [FieldError(("days",), "counts past the end of the calendar")]
        ) from None
    return day


# Our own calendars are immutable (or, for CountryCalendar, only ever learn years that
# do not change), so a result counted once can be kept; a caller's ClosedDays may change.
_add_working_days_cached = functools.lru_cache(maxsize=4096)(_add_working_days)


NO_CLOSED_DAYS = HolidayCalendar(weekend=frozenset())
"""A calendar on which every day is open: periods never roll forward."""

_CACHEABLE = (HolidayCalendar, CountryCalendar)


@attrs.frozen
class Period:
    """A length of time in whole days, months or years (one of them, or a sum)."""

    days: int = 0
    months: int = 0
    years: int = 0

    def __attrs_post_init__(self) -> None:
        if min(self.days, self.months, self.years) < 0 or not (
            self.days or self.months or self.years
        ):
            raise InvalidInput("period", [FieldError(("period",), "must be positive")])

    def __str__(self) -> str:
        parts = [
            f"{n} {unit}"
            for n, unit in ((self.years, "years"), (self.months, "months"), (self.days, "days"))
            if n
        ]
        return " ".join(parts)


class Window(NamedTuple):
    """A counted period: its first counted day and its last day, both inclusive."""

    first_day: date
    last_day: date

    def contains(self, day: date) -> bool:
        """Whether ``day`` falls inside the window (the start day itself counts as inside)."""
        return day <= self.last_day

    def days_left(self, day: date) -> int:
        """Whole days from ``day`` to the last day (0 on the last day, negative after)."""
        return (self.last_day - day).days


def count_window(
    start: date,
    period: Period,
    *,
    count_start_day: bool = False,
    extend_days: int = 0,
    pauses: Sequence[tuple[date, date]] = (),
    closed: ClosedDays | None = None,
) -> Window:
    """Count ``period`` from the ``start`` event day.

    - ``count_start_day`` False (the rule in Chinese and EU law): day 1 is the day after
      the event, so 7 days from Monday end on Monday next week. True: the event day is
      day 1, so they end on Sunday.
    - Months and years end on the corresponding day; when that month has no such day, on
      its last day (31 January + 1 month = 29 February in a leap year).
    - ``extend_days`` adds days (e.g. repair time), ``pauses`` adds the days of each
      inclusive (first, last) pause that overlaps the window.
    - ``closed`` rolls a last day that falls on a closed day forward to the next open day.
    """
    if extend_days < 0:
        raise InvalidInput("window", [FieldError(("extend_days",), "must not be negative")])
    first_day = start if count_start_day else start + _ONE_DAY
    if period.months or period.years:
        last = add_months(start, period.years * 12 + period.months)
        if period.days:
            last += timedelta(days=period.days)
    else:
        last = start + timedelta(days=period.days)
    if count_start_day:
        last -= _ONE_DAY
    if extend_days:
        last += timedelta(days=extend_days)
    for pause_start, pause_end in sorted(pauses) if pauses else ():
        if pause_end < pause_start:
            raise InvalidInput("window", [FieldError(("pauses",), "a pause ends before it starts")])
        overlap = (pause_end - max(pause_start, first_day)).days + 1
        if pause_start <= last and overlap > 0:
            last += timedelta(days=overlap)
    if closed is not None:
        for _ in range(366):
            if not closed.is_closed(last):
                break
            last += _ONE_DAY
    return Window(first_day, last)


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole ``months``, on the same day of the month or, when that
    month is shorter, on its last day (31 January + 1 month = 29 February in a leap year).
    What ``dateutil.relativedelta(months=...)`` does, several times faster."""
    years, month = divmod(day.month - 1 + months, 12)
    year = day.year + years
    month += 1
    last = _MONTH_DAYS[month - 1]
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        last = 29
    return date(year, month, min(day.day, last))


def days_between(first: date, last: date) -> int:
    """Days from ``first`` to ``last`` counting both (0 when ``last`` is before ``first``)."""
    return max((last - first).days + 1, 0)


_ZONES: dict[str, ZoneInfo] = {}


def zone(name: str) -> ZoneInfo:
    """The IANA time zone called ``name``; an unknown name raises InvalidInput."""
    found = _ZONES.get(name)
    if found is None:
        try:
            found = _ZONES[name] = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(
                "time zone", [FieldError(("time_zone",), f"unknown time zone {name!r}")]
            ) from None
    return found


def local_date(instant: datetime, time_zone: ZoneInfo) -> date:
    """The calendar date of ``instant`` in ``time_zone`` (cut-off at local midnight)."""
    return instant.astimezone(time_zone).date()
