"""Business calendars compiled into interval tables (design decision 8).

A calendar has a time zone (DST-correct), working intervals per weekday (lunch breaks are
two intervals), holidays (a list, and/or the ``holidays`` package by country and
subdivision), extra working days that override weekends (Chinese make-up workdays, worked
with the hours of a standard weekday), or is open 24/7. It compiles into sorted tables of
open intervals in UTC seconds with cumulative business seconds, so adding business time and
measuring it take a bisect each, whatever the distance. An interval's end is inclusive for
results (a target landing exactly on 18:00 stays at 18:00) and exclusive for
:meth:`BusinessCalendar.is_open`.

Supported range: instants and results in the years 1900-2200 (UTC), the range of
:data:`~aftersales.models.Instant`. Anything outside it, and any argument of the wrong
type, raises :class:`~aftersales.InvalidInput`.
"""

from __future__ import annotations

import math
import re
import threading
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from itertools import pairwise
from typing import Any

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models._base import MAX_YEAR, MIN_YEAR
from aftersales.policies.dates import zone

__all__ = ["BusinessCalendar"]

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAYS = {  # a weekday by its name or a prefix of it of three letters or more ("tue", "tues")
    full[:length]: day for day, full in enumerate(_WEEKDAYS) for length in range(3, len(full) + 1)
}
_FIRST_YEAR, _LAST_YEAR = MIN_YEAR, MAX_YEAR
_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_MIN_TS = datetime(_FIRST_YEAR, 1, 1, tzinfo=_UTC).timestamp()
_MAX_TS = datetime(_LAST_YEAR + 1, 1, 1, tzinfo=_UTC).timestamp()  # exclusive
_SPAN = _MAX_TS - _MIN_TS
_RANGE = f"the supported range (years {_FIRST_YEAR}-{_LAST_YEAR} UTC)"
_TIME = re.compile(r"([01]?[0-9]|2[0-4]):([0-5][0-9])", re.ASCII)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*", re.ASCII)
_NAME = re.compile(r"[A-Za-z0-9_\-]{1,16}", re.ASCII)


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput("business calendar", [FieldError((field,), message)])


def _kind(value: object) -> str:
    return type(value).__name__


def _seconds(value: object, field: str) -> float:
    """``value`` as a finite number of seconds, or InvalidInput."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(field, f"must be a number of seconds, not {_kind(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise _bad(field, f"must be a finite number of seconds, not {value!r}")
    return number


def _timestamp(value: object, field: str) -> float:
    """``value`` as a UTC timestamp in the supported range, or InvalidInput."""
    number = _seconds(value, field)
    if not _MIN_TS <= number < _MAX_TS:
        raise _bad(field, f"timestamp {number!r} is outside {_RANGE}")
    return number


def _dt(ts: float) -> datetime:
    """The UTC datetime of a timestamp (without the platform's gmtime for years before 1970)."""
    return datetime.fromtimestamp(ts, _UTC) if ts >= 0 else _EPOCH + timedelta(seconds=ts)


def _minutes(text: str, field: str) -> int:
    found = _TIME.fullmatch(text.strip())
    if found is None:
        raise _bad(field, f"{text!r} is not a time of day as HH:MM")
    value = int(found[1]) * 60 + int(found[2])
    if value > 24 * 60:
        raise _bad(field, f"{text!r} is not a time of day")
    return value


def _weekday(key: object, field: str) -> int:
    """A weekday given as 0-6 (Monday is 0; JSON keys may be "0"-"6") or by name."""
    day: int | None = None
    if isinstance(key, int) and not isinstance(key, bool):
        day = key
    elif isinstance(key, str):
        text = key.strip().lower()
        day = int(text) if _DIGITS.fullmatch(text) and len(text) < 3 else _DAYS.get(text)
    else:
        raise _bad(field, f"a weekday is 0-6 or a name like 'mon', not {_kind(key)}")
    if day is None or not 0 <= day <= 6:
        raise _bad(
            field,
            f"unknown weekday {key!r} (0-6, Monday is 0, or a name: 'mon', 'tues', 'sunday'...)",
        )
    return day


def _parse_hours(hours: object) -> dict[int, tuple[tuple[int, int], ...]]:
    if not isinstance(hours, Mapping):
        raise _bad("hours", f"must map weekdays to intervals, not {_kind(hours)}")
    week: dict[int, tuple[tuple[int, int], ...]] = {}
    for key, intervals in hours.items():
        day = _weekday(key, "hours")
        if day in week:
            raise _bad("hours", f"{_WEEKDAYS[day].capitalize()} is given twice")
        field = f"hours.{key}"
        if isinstance(intervals, str) or not isinstance(intervals, Iterable):
            raise _bad(
                field, f"must be a list of intervals like ['09:00-18:00'], not {_kind(intervals)}"
            )
        parsed = []
        for text in intervals:
            if not isinstance(text, str) or text.count("-") != 1:
                shown = repr(text) if isinstance(text, str) else _kind(text)
                raise _bad(field, f"{shown} is not an interval like '09:00-18:00'")
            start_text, end_text = text.split("-")
            start, end = _minutes(start_text, field), _minutes(end_text, field)
            if start >= end:
                raise _bad(field, f"{text!r} ends before it starts")
            parsed.append((start, end))
        parsed.sort()
        for (_, first_end), (second_start, _) in pairwise(parsed):
            if second_start < first_end:
                raise _bad(field, f"intervals overlap: {list(intervals)!r}")
        week[day] = tuple(parsed)
    return week


def _dates(values: object, field: str) -> set[date]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise _bad(field, f"must be a collection of dates, not {_kind(values)}")
    found = set()
    for value in values:
        if not isinstance(value, date) or isinstance(value, datetime):
            raise _bad(field, f"must hold dates (datetime.date), not {_kind(value)}")
        found.add(value)
    return found


def _text(value: object, field: str, pattern: re.Pattern[str], example: str) -> str:
    if not isinstance(value, str):
        raise _bad(field, f"must be a string like {example!r}, not {_kind(value)}")
    if len(value) > 64 or not pattern.fullmatch(value):
        raise _bad(field, f"{value[:64]!r} is not a name like {example!r}")
    return value


def _local_ts(day: date, minute: int, tz: tzinfo) -> float:
    """The UTC timestamp of ``minute`` past midnight of ``day`` in ``tz``. A wall time that
    does not exist (in a DST gap) is the first instant after the gap; an ambiguous one (in a
    fold) the earlier instant."""
    aware = (datetime.combine(day, time()) + timedelta(minutes=minute)).replace(tzinfo=tz)
    ts = aware.timestamp()
    before, after = aware.utcoffset(), aware.replace(fold=1).utcoffset()
    if before is None or after is None or after <= before:
        return ts
    # In a gap, fold=0 reads the wall time with the offset from before the gap, which lands
    # as far past the gap's end as the wall time is past its start. The transition lies in
    # (ts - gap, ts]: find it to the second (zones change offset on whole seconds).
    low, high = math.floor(ts - (after - before).total_seconds()), math.ceil(ts)
    while high - low > 1:
        middle = (low + high) // 2
        if _dt(middle).astimezone(tz).utcoffset() == after:
            high = middle
        else:
            low = middle
    return float(high)


_Table = tuple[list[float], list[float], list[float], list[float]]
"""Interval starts, ends, and business seconds at each start and end."""


def _sums(starts: list[float], ends: list[float], total: float) -> tuple[list[float], list[float]]:
    """Business seconds at each interval's start and end, counting from ``total``."""
    cum: list[float] = []
    cum_end: list[float] = []
    for start_ts, end_ts in zip(starts, ends, strict=True):
        cum.append(total)
        total += end_ts - start_ts
        cum_end.append(total)
    return cum, cum_end


def _position_in(table: _Table, ts: float) -> float:
    starts, ends, cum, cum_end = table
    index = bisect_right(starts, ts) - 1
    if index < 0:
        return cum[0] if cum else 0.0
    return cum_end[index] if ts >= ends[index] else cum[index] + ts - starts[index]


def _offsets(day: date, tz: tzinfo) -> tuple[timedelta | None, timedelta | None]:
    """The two readings (fold 0 and 1) of the UTC offset at midnight starting ``day``."""
    midnight = datetime.combine(day, time(), tzinfo=tz)
    return midnight.utcoffset(), midnight.replace(fold=1).utcoffset()


def _too_far(start: float, seconds: float) -> InvalidInput:
    return _bad(
        "seconds",
        f"{seconds:g} business seconds after {_dt(start).isoformat()} fall after {_RANGE}",
    )


def instant_seconds(at: object, field: str) -> float:
    """``at``, a timezone-aware datetime in the calendar's range, as a POSIX timestamp;
    InvalidInput naming ``field`` otherwise."""
    if not isinstance(at, datetime):
        raise _bad(field, f"must be a timezone-aware datetime, not {_kind(at)}")
    try:
        offset = at.utcoffset()
        ts = at.timestamp() if offset is not None else None
    except (OverflowError, ValueError, TypeError):  # near year 1 or 9999; odd tzinfo
        raise _bad(field, f"{at!r} is outside {_RANGE}") from None
    if ts is None:
        raise _bad(field, "must be a timezone-aware datetime")
    if not _MIN_TS <= ts < _MAX_TS:
        raise _bad(field, f"{at.isoformat()} is outside {_RANGE}")
    return ts


class BusinessCalendar:
    """Working time in a time zone.

    ``hours`` maps weekdays (0-6 with Monday 0, "0"-"6", or names like "mon"/"monday") to
    intervals like ``"09:00-18:00"`` (default: Monday-Friday 09:00-18:00). ``holidays`` are
    closed dates; ``working_days`` are dates worked whatever their weekday (make-up working
    days such as China's 调休 Saturdays), with the hours of the weekday
    ``make_up_hours_from`` names, by default the standard weekday (the hours most of
    Monday-Friday share, the earliest on a tie). ``country`` and ``subdivision`` add the
    ``holidays`` package's public holidays and make-up days. A holiday wins over a working
    day.

    Instants and results must fall in the years 1900-2200 (UTC); outside that, and for
    arguments of the wrong type, methods raise :class:`~aftersales.InvalidInput`.

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
        make_up_hours_from: int | str | None = None,
    ) -> None:
        self.time_zone = _text(time_zone, "time_zone", _ZONE_NAME, "Europe/Berlin")
        try:
            self._zone = zone(time_zone)
        except OSError:  # a name that is a folder of the time zone database, and the like
            raise _bad("time_zone", f"unknown time zone {time_zone!r}") from None
        if not isinstance(always_open, bool):
            raise _bad("always_open", f"must be True or False, not {_kind(always_open)}")
        self.always_open = always_open
        default = {day: ["09:00-18:00"] for day in range(5)}
        self._week = _parse_hours(default if hours is None else hours)
        if not always_open and not any(self._week.values()):
            raise _bad("hours", "a calendar must be open at some time (or always_open)")
        self._holidays = _dates(holidays, "holidays")
        self._working_days = _dates(working_days, "working_days")
        if country is not None:
            country = _text(country, "country", _NAME, "CN")
        if subdivision is not None:
            subdivision = _text(subdivision, "subdivision", _NAME, "BY")
            if country is None:
                raise _bad("subdivision", "needs a country")
        self._country = country
        self._subdivision = subdivision
        self._make_up: tuple[tuple[int, int], ...] = ()
        if not always_open:
            self._make_up = self._make_up_hours(make_up_hours_from)
        elif make_up_hours_from is not None:
            _weekday(make_up_hours_from, "make_up_hours_from")
        self._lock = threading.Lock()
        self._years: tuple[int, int] | None = None
        # Timestamps safely inside the built years: one comparison answers most lookups.
        self._low, self._high = (_MIN_TS, _MAX_TS) if always_open else (0.0, 0.0)
        # Interval starts and ends, and the business seconds at each (from a fixed origin
        # that rebuilds keep), as one attribute: a thread reading while another extends the
        # table sees the old table or the new one, never a mix.
        self._table: _Table = ([], [], [], [])
        if country is not None:
            self._load_country(range(2024, 2025))

    def _make_up_hours(self, weekday: object) -> tuple[tuple[int, int], ...]:
        """The hours a make-up working day is worked with."""
        if weekday is not None:
            day = _weekday(weekday, "make_up_hours_from")
            if not self._week.get(day):
                raise _bad(
                    "make_up_hours_from",
                    f"{_WEEKDAYS[day].capitalize()} has no hours to lend to make-up working days",
                )
            return self._week[day]
        weekdays = [self._week[day] for day in range(5) if self._week.get(day)]
        if weekdays:
            return Counter(weekdays).most_common(1)[0][0]
        return next(hours for hours in self._week.values() if hours)

    # ------------------------------------------------------------------ building

    def _load_country(self, years: Iterable[int]) -> None:
        assert self._country is not None
        try:
            import holidays
        except ImportError:  # pragma: no cover - the extra is installed with the tests
            raise _bad(
                "country", 'needs the holidays package: pip install "aftersales[calendars]"'
            ) from None
        if self._country not in _supported_countries(holidays):
            raise _bad("country", f"no public holidays are known for country {self._country!r}")
        try:
            table = holidays.country_holidays(
                self._country, subdiv=self._subdivision, years=list(years)
            )
        except (NotImplementedError, LookupError, ValueError, TypeError) as error:
            field = "country" if self._subdivision is None else "subdivision"
            raise _bad(field, str(error)) from None
        self._holidays.update(table)
        self._working_days.update(getattr(table, "weekend_workdays", ()) or ())

    def _day_intervals(self, day: date) -> tuple[tuple[int, int], ...]:
        if day in self._holidays:
            return ()
        if day in self._working_days:
            return self._make_up
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
        offsets = _offsets(day, tz)
        while day <= stop:
            following = day + one
            next_offsets = _offsets(following, tz)
            intervals = self._day_intervals(day)
            # No offset change from this midnight to the next: wall minutes are plain seconds.
            steady = offsets[0] == offsets[1] == next_offsets[0] == next_offsets[1]
            base = _local_ts(day, 0, tz) if intervals and steady else 0.0
            for start_minute, end_minute in intervals:
                if steady:
                    start_ts, end_ts = base + start_minute * 60, base + end_minute * 60
                else:
                    start_ts = _local_ts(day, start_minute, tz)
                    end_ts = _local_ts(day, end_minute, tz)
                if starts and start_ts <= ends[-1]:  # touching intervals (…-24:00, 00:00-…)
                    ends[-1] = max(ends[-1], end_ts)
                elif end_ts > start_ts:
                    starts.append(start_ts)
                    ends.append(end_ts)
            day, offsets = following, next_offsets
        old = self._table
        total = 0.0
        if old[0]:  # keep the origin: positions already handed out stay right
            anchor = old[0][0]
            total = _position_in(old, anchor) - _position_in(
                (starts, ends, *_sums(starts, ends, 0.0)), anchor
            )
        cum, cum_end = _sums(starts, ends, total)
        self._table = (starts, ends, cum, cum_end)
        self._years = (first, last)
        self._low = datetime(first + 1, 1, 1, tzinfo=_UTC).timestamp()
        self._high = datetime(last, 1, 1, tzinfo=_UTC).timestamp()

    def _extend(self, year: int) -> None:
        """Build the table so that it covers ``year`` and the years either side."""
        with self._lock:
            years = self._years
            if years is not None and years[0] < year < years[1]:
                return
            first, last = years or (year, year)
            self._build(
                max(min(first, year - 1), _FIRST_YEAR - 1), min(max(last, year + 1), _LAST_YEAR + 1)
            )

    def _checked(self, ts: object, field: str) -> float:
        """``ts`` validated, with the table built around it (the slow path of lookups)."""
        number = _timestamp(ts, field)
        if not self.always_open and not self._low < number < self._high:
            self._extend(_dt(number).year)
        return number

    # ------------------------------------------------------------------ seconds

    def _position(self, ts: float) -> float:
        """Business seconds from the table's origin up to ``ts``."""
        starts, ends, cum, cum_end = self._table
        index = bisect_right(starts, ts) - 1
        if index < 0:
            return cum[0] if cum else 0.0
        return cum_end[index] if ts >= ends[index] else cum[index] + ts - starts[index]

    def position(self, ts: float) -> float:
        """Business seconds up to ``ts`` from a fixed origin: differences of positions are
        elapsed business time (for measuring many spans of one timeline)."""
        if ts.__class__ is not float or not self._low < ts < self._high:
            ts = self._checked(ts, "ts")
        if self.always_open:
            return ts
        return self._position(ts)

    def elapsed_seconds(self, start: float, end: float) -> float:
        """Business seconds between two UTC timestamps (0 when ``end`` is earlier)."""
        if start.__class__ is not float or not self._low < start < self._high:
            start = self._checked(start, "start")
        if end.__class__ is not float or not self._low < end < self._high:
            end = self._checked(end, "end")
        if end <= start:
            return 0.0
        if self.always_open:
            return end - start
        return self._position(end) - self._position(start)

    def add_seconds(self, start: float, seconds: float) -> float:
        """The UTC timestamp ``seconds`` business seconds after ``start`` (``start`` itself
        when ``seconds`` is not positive). A result after the year 2200 raises
        :class:`~aftersales.InvalidInput`."""
        if start.__class__ is not float or not self._low < start < self._high:
            start = self._checked(start, "start")
        if seconds.__class__ is not float or not -_SPAN < seconds < _SPAN:
            seconds = _seconds(seconds, "seconds")
            if seconds >= _SPAN:
                raise _too_far(start, seconds)
        if seconds <= 0:
            return start
        if self.always_open:
            result = start + seconds
            if result >= _MAX_TS:
                raise _too_far(start, seconds)
            return result
        target = self._position(start) + seconds
        starts, _, cum, cum_end = self._table
        while not cum_end or target > cum_end[-1]:
            years = self._years
            assert years is not None
            if years[1] > _LAST_YEAR:
                raise _too_far(start, seconds)
            self._extend(years[1] + 1)
            starts, _, cum, cum_end = self._table
        index = bisect_left(cum_end, target)
        result = starts[index] + (target - cum[index])
        if result >= _MAX_TS:
            raise _too_far(start, seconds)
        return result

    # ------------------------------------------------------------------ datetimes

    def add(self, start: datetime, business: timedelta) -> datetime:
        """The instant ``business`` working time after ``start`` (UTC). Out of hours, the
        clock starts at the next opening."""
        if not isinstance(business, timedelta) or business <= timedelta(0):
            raise _bad("business", "must be a positive timedelta")
        return _dt(self.add_seconds(instant_seconds(start, "start"), business.total_seconds()))

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Working time between ``start`` and ``end`` (zero when ``end`` is earlier)."""
        seconds = self.elapsed_seconds(instant_seconds(start, "start"), instant_seconds(end, "end"))
        return timedelta(seconds=round(seconds, 6))

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` falls in working time (an interval's end is already closed)."""
        ts = self._checked(instant_seconds(at, "at"), "at")
        if self.always_open:
            return True
        starts, ends, _, _ = self._table
        index = bisect_right(starts, ts) - 1
        return index >= 0 and ts < ends[index]

    def next_opening(self, at: datetime) -> datetime:
        """``at`` when open, else the next moment working time starts."""
        if self.is_open(at):
            return at
        ts = instant_seconds(at, "at")
        starts = self._table[0]
        index = bisect_right(starts, ts)
        while index >= len(starts):
            years = self._years
            assert years is not None
            if years[1] > _LAST_YEAR:
                raise _bad("at", f"no working time follows {at.isoformat()} within {_RANGE}")
            self._extend(years[1] + 1)
            starts = self._table[0]
            index = bisect_right(starts, ts)
        if starts[index] >= _MAX_TS:
            raise _bad("at", f"no working time follows {at.isoformat()} within {_RANGE}")
        return _dt(starts[index])

    def __repr__(self) -> str:
        kind = (
            "24/7" if self.always_open else f"{sum(map(len, self._week.values()))} weekly intervals"
        )
        return f"<BusinessCalendar {self.time_zone} {kind}>"


_COUNTRIES: frozenset[str] | None = None


def _supported_countries(holidays: Any) -> frozenset[str]:
    """The country codes the ``holidays`` package knows (read once)."""
    global _COUNTRIES
    if _COUNTRIES is None:
        _COUNTRIES = frozenset(holidays.list_supported_countries())
    return _COUNTRIES
