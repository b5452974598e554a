"""Business calendars compiled into interval tables (design decision 8).

A calendar has a time zone (DST-correct), working intervals per weekday (lunch breaks are
two intervals), holidays (a list, and/or the ``holidays`` package by country and
subdivision), extra working days that override weekends (Chinese make-up workdays), or is
open 24/7. It compiles into sorted tables of open intervals in UTC seconds with cumulative
business seconds, so adding business time and measuring it take a bisect each, whatever
the distance. An interval's end is inclusive for results (a target landing exactly on
18:00 stays at 18:00) and exclusive for :meth:`BusinessCalendar.is_open`.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from itertools import pairwise
from typing import Any

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.policies.dates import zone

__all__ = ["BusinessCalendar"]

_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_FIRST_YEAR, _LAST_YEAR = 1971, 2199


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput("business calendar", [FieldError((field,), message)])


def _minutes(text: str, field: str) -> int:
    try:
        hours, minutes = text.strip().split(":")
        value = int(hours) * 60 + int(minutes)
    except ValueError:
        raise _bad(field, f"{text!r} is not HH:MM") from None
    if not 0 <= value <= 24 * 60 or not 0 <= int(minutes) < 60:
        raise _bad(field, f"{text!r} is not a time of day")
    return value


def _parse_hours(hours: Mapping[Any, Sequence[str]]) -> dict[int, tuple[tuple[int, int], ...]]:
    week: dict[int, tuple[tuple[int, int], ...]] = {}
    for key, intervals in hours.items():
        if isinstance(key, int):
            day: int | None = key
        elif isinstance(key, str) and key.strip().isdigit():
            day = int(key)  # JSON keys are strings
        else:
            day = _DAYS.get(str(key).lower()[:3])
        if day is None or not 0 <= day <= 6:
            raise _bad("hours", f"unknown weekday {key!r}")
        field = f"hours.{key}"
        parsed = []
        for text in intervals:
            if not isinstance(text, str) or text.count("-") != 1:
                raise _bad(field, f"{text!r} is not an interval like '09:00-18:00'")
            start_text, end_text = text.split("-")
            start, end = _minutes(start_text, field), _minutes(end_text, field)
            if start >= end:
                raise _bad(field, f"{text!r} ends before it starts")
            parsed.append((start, end))
        parsed.sort()
        for (_, first_end), (second_start, _) in pairwise(parsed):
            if second_start < first_end:
                raise _bad(field, f"intervals overlap: {intervals!r}")
        week[day] = tuple(parsed)
    return week


class BusinessCalendar:
    """Working time in a time zone.

    >>> from datetime import datetime, timedelta, timezone
    >>> calendar = BusinessCalendar(hours={d: ["10:00-18:00"] for d in range(5)})
    >>> friday_5pm = datetime(2024, 3, 8, 17, 0, tzinfo=timezone.utc)
    >>> calendar.add(friday_5pm, timedelta(hours=2)).isoformat()
    '2024-03-11T11:00:00+00:00'
    """

    def __init__(
        self,
        *,
        time_zone: str = "UTC",
        hours: Mapping[Any, Sequence[str]] | None = None,
        holidays: Iterable[date] = (),
        working_days: Iterable[date] = (),
        country: str | None = None,
        subdivision: str | None = None,
        always_open: bool = False,
        make_up_hours_from: int = 0,
    ) -> None:
        self.time_zone = time_zone
        self._zone = zone(time_zone)
        self.always_open = always_open
        default = {day: ["09:00-18:00"] for day in range(5)}
        self._week = _parse_hours(default if hours is None else hours)
        if not always_open and not any(self._week.values()):
            raise _bad("hours", "a calendar must be open at some time (or always_open)")
        self._holidays = set(holidays)
        self._working_days = set(working_days)
        self._country = country
        self._subdivision = subdivision
        self._make_up: tuple[tuple[int, int], ...] = ()
        if not always_open:  # a make-up working day keeps the hours of an ordinary one
            self._make_up = self._week.get(make_up_hours_from) or next(
                hours for hours in self._week.values() if hours
            )
        self._lock = threading.Lock()
        self._years: tuple[int, int] | None = None
        self._low = self._high = 0.0
        self._starts: list[float] = []
        self._ends: list[float] = []
        self._cum: list[float] = []  # business seconds before each interval's start
        self._cum_end: list[float] = []  # ... and at its end
        if country is not None:
            self._load_country(range(2024, 2025))

    # ------------------------------------------------------------------ building

    def _load_country(self, years: Iterable[int]) -> None:
        assert self._country is not None
        try:
            import holidays
        except ImportError:  # pragma: no cover - the extra is installed with the tests
            raise _bad(
                "country", 'needs the holidays package: pip install "aftersales[calendars]"'
            ) from None
        try:
            table = holidays.country_holidays(
                self._country, subdiv=self._subdivision, years=list(years)
            )
        except NotImplementedError as error:
            raise _bad("country", str(error)) from None
        self._holidays.update(table)
        self._working_days.update(getattr(table, "weekend_workdays", ()) or ())

    def _day_intervals(self, day: date) -> tuple[tuple[int, int], ...]:
        if day in self._working_days and day not in self._holidays:
            return self._week.get(day.weekday()) or self._make_up
        if day in self._holidays:
            return ()
        return self._week.get(day.weekday(), ())

    def _build(self, first: int, last: int) -> None:
        if self._country is not None:
            self._load_country(range(first, last + 1))
        tz = self._zone
        starts: list[float] = []
        ends: list[float] = []
        day = date(first, 1, 1)
        stop = date(last, 12, 31)
        one = timedelta(days=1)
        while day <= stop:
            for start_minute, end_minute in self._day_intervals(day):
                start_at = datetime.combine(day, time()) + timedelta(minutes=start_minute)
                end_at = datetime.combine(day, time()) + timedelta(minutes=end_minute)
                start_ts = start_at.replace(tzinfo=tz).timestamp()
                end_ts = end_at.replace(tzinfo=tz).timestamp()
                if starts and start_ts <= ends[-1]:  # touching intervals (…-24:00, 00:00-…)
                    ends[-1] = max(ends[-1], end_ts)
                elif end_ts > start_ts:
                    starts.append(start_ts)
                    ends.append(end_ts)
            day += one
        cum: list[float] = []
        cum_end: list[float] = []
        total = 0.0
        for start_ts, end_ts in zip(starts, ends, strict=True):
            cum.append(total)
            total += end_ts - start_ts
            cum_end.append(total)
        self._starts, self._ends, self._cum, self._cum_end = starts, ends, cum, cum_end
        self._years = (first, last)
        # Timestamps safely inside the built years: one comparison answers most lookups.
        self._low = datetime(first + 1, 1, 1, tzinfo=timezone.utc).timestamp()
        self._high = datetime(last, 1, 1, tzinfo=timezone.utc).timestamp()

    def _cover(self, ts: float) -> None:
        if self._low < ts < self._high:
            return
        year = datetime.fromtimestamp(ts, timezone.utc).year
        years = self._years
        if years is not None and years[0] < year < years[1]:
            return
        if not _FIRST_YEAR <= year <= _LAST_YEAR:
            raise _bad("at", f"year {year} is outside {_FIRST_YEAR}-{_LAST_YEAR}")
        with self._lock:
            first, last = years or (year, year)
            self._build(
                max(min(first, year - 1), _FIRST_YEAR - 1), min(max(last, year + 1), _LAST_YEAR + 1)
            )

    # ------------------------------------------------------------------ seconds

    def _position(self, ts: float) -> float:
        """Business seconds from the table's start up to ``ts``."""
        index = bisect_right(self._starts, ts) - 1
        if index < 0:
            return 0.0
        end = self._ends[index]
        return self._cum_end[index] if ts >= end else self._cum[index] + ts - self._starts[index]

    def position(self, ts: float) -> float:
        """Business seconds up to ``ts`` from a fixed origin: differences of positions are
        elapsed business time (for measuring many spans of one timeline)."""
        if self.always_open:
            return ts
        self._cover(ts)
        return self._position(ts)

    def elapsed_seconds(self, start: float, end: float) -> float:
        """Business seconds between two UTC timestamps (0 when ``end`` is earlier)."""
        if end <= start:
            return 0.0
        if self.always_open:
            return end - start
        self._cover(start)
        self._cover(end)
        return self._position(end) - self._position(start)

    def add_seconds(self, start: float, seconds: float) -> float:
        """The UTC timestamp ``seconds`` business seconds after ``start``."""
        if seconds <= 0 or self.always_open:
            return start + max(seconds, 0.0)
        self._cover(start)
        target = self._position(start) + seconds
        while target > self._cum_end[-1]:
            self._cover(self._ends[-1] + 366 * 86400)
        index = bisect_left(self._cum_end, target)
        return self._starts[index] + (target - self._cum[index])

    # ------------------------------------------------------------------ datetimes

    @staticmethod
    def _ts(at: datetime, field: str) -> float:
        if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
            raise _bad(field, "must be a timezone-aware datetime")
        return at.timestamp()

    def add(self, start: datetime, business: timedelta) -> datetime:
        """The instant ``business`` working time after ``start`` (UTC). Out of hours, the
        clock starts at the next opening."""
        if not isinstance(business, timedelta) or business <= timedelta(0):
            raise _bad("business", "must be a positive timedelta")
        result = self.add_seconds(self._ts(start, "start"), business.total_seconds())
        return datetime.fromtimestamp(result, timezone.utc)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Working time between ``start`` and ``end`` (zero when ``end`` is earlier)."""
        seconds = self.elapsed_seconds(self._ts(start, "start"), self._ts(end, "end"))
        return timedelta(seconds=round(seconds, 6))

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` falls in working time (an interval's end is already closed)."""
        ts = self._ts(at, "at")
        if self.always_open:
            return True
        self._cover(ts)
        index = bisect_right(self._starts, ts) - 1
        return index >= 0 and ts < self._ends[index]

    def next_opening(self, at: datetime) -> datetime:
        """``at`` when open, else the next moment working time starts."""
        if self.is_open(at):
            return at
        ts = self._ts(at, "at")
        index = bisect_right(self._starts, ts)
        while index >= len(self._starts):
            self._cover(self._ends[-1] + 366 * 86400)
            index = bisect_right(self._starts, ts)
        return datetime.fromtimestamp(self._starts[index], timezone.utc)

    def __repr__(self) -> str:
        kind = (
            "24/7" if self.always_open else f"{sum(map(len, self._week.values()))} weekly intervals"
        )
        return f"<BusinessCalendar {self.time_zone} {kind}>"
