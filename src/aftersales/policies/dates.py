"""The one date-counting kernel behind every window: return, exchange, warranty, legal
guarantee and refund deadlines (design decision 7).

A window starts from an event (purchase, invoice, delivery, sign-off, the last item of an
order, installation), counts days, months or years with or without the start day, clamps
month ends, may be extended by repair days and pauses, and may roll forward past days on
which nothing can be done (weekends, public holidays). Everything works on local calendar
dates: convert instants with :func:`local_date` in the jurisdiction's time zone first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from enum import Enum
from typing import NamedTuple, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from dateutil.relativedelta import relativedelta

from aftersales.exceptions import FieldError, InvalidInput

__all__ = [
    "ClosedDays",
    "HolidayCalendar",
    "Period",
    "StartEvent",
    "Window",
    "count_window",
    "days_between",
    "local_date",
    "zone",
]


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
        including the weekend working days some countries (China) declare."""
        try:
            import holidays
        except ImportError:  # pragma: no cover - the extra is installed with the tests
            raise InvalidInput(
                "calendar",
                [
                    FieldError(
                        ("country",),
                        'needs the holidays package: pip install "aftersales[calendars]"',
                    )
                ],
            ) from None
        try:
            table = holidays.country_holidays(country, subdiv=subdivision, years=list(years))
        except NotImplementedError as error:
            raise InvalidInput("calendar", [FieldError(("country",), str(error))]) from None
        workdays = frozenset(getattr(table, "weekend_workdays", ()) or ())
        return cls(holidays=frozenset(table), working_days=workdays)


NO_CLOSED_DAYS = HolidayCalendar(weekend=frozenset())
"""A calendar on which every day is open: periods never roll forward."""


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
    first_day = start if count_start_day else start + timedelta(days=1)
    if period.months or period.years:
        last = start + relativedelta(days=period.days, months=period.months, years=period.years)
    else:
        last = start + timedelta(days=period.days)
    if count_start_day:
        last -= timedelta(days=1)
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
            last += timedelta(days=1)
    return Window(first_day, last)


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
