"""Where the desk gets the time: the system clock, or a frozen one for tests and simulations."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

from aftersales.exceptions import FieldError, InvalidInput


@runtime_checkable
class Clock(Protocol):
    """Anything with a ``now()`` returning a timezone-aware datetime."""

    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        """The current instant in UTC."""
        return datetime.now(timezone.utc)


class FrozenClock:
    """A clock that stands still until moved with :meth:`advance` or :meth:`set`.

    >>> from datetime import datetime, timezone
    >>> clock = FrozenClock(datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc))
    >>> clock.advance(hours=2).hour
    11
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = datetime(2024, 1, 1, tzinfo=timezone.utc) if start is None else start
        self._check(self._now)

    @staticmethod
    def _check(value: datetime) -> None:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise InvalidInput("clock", [FieldError(("now",), "must be timezone-aware")])

    def now(self) -> datetime:
        """The frozen instant."""
        return self._now

    def set(self, value: datetime) -> datetime:
        """Jump to ``value`` (timezone-aware)."""
        self._check(value)
        self._now = value
        return value

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move forward by ``delta`` or by ``timedelta(**kwargs)``; returns the new now."""
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now
