"""What a time entry is (``desk.log_time``, ``desk.cases.log_time``): the trigger of its
event, its bounds, and the payload it records.

An entry is an event on the ticket or case worked on, by the agent whose time it is (the
event's actor), at the desk clock's time like every event: the audit chain never holds an
event dated earlier than it was written, so work done yesterday and logged today counts
today. The state does not change; the subject's version moves on as for a message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aftersales._validation import check_text
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models.events import LOG_TIME

__all__ = ["LOG_TIME", "MAX_ENTRY", "MAX_NOTE", "time_entry"]

MAX_ENTRY = timedelta(hours=24)
"""The most one entry may log: more is a typo (minutes taken for seconds), not a day."""

MAX_NOTE = 1000
"""The longest note an entry keeps, in characters."""


def _seconds(minutes: object) -> int:
    limit = int(MAX_ENTRY.total_seconds())
    if isinstance(minutes, timedelta):
        if minutes % timedelta(seconds=1):
            raise _bad("must be whole seconds")
        seconds = minutes // timedelta(seconds=1)
        if not 1 <= seconds <= limit:
            raise _bad(f"must be from 1 second to {MAX_ENTRY} (one entry per day of work)")
        return seconds
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise _bad("must be an int of minutes or a timedelta")
    if not 1 <= minutes <= limit // 60:
        raise _bad(f"must be from 1 to {limit // 60} minutes (one entry per day of work)")
    return minutes * 60


def _bad(message: str) -> InvalidInput:
    return InvalidInput("log_time", [FieldError(("minutes",), message)])


def time_entry(
    minutes: object, note: object, redact: Callable[[str], str] | None = None
) -> dict[str, Any]:
    """The payload of an entry of ``minutes`` (an int of minutes, or a timedelta of whole
    seconds, at most :data:`MAX_ENTRY`) with ``note`` (None, or text of at most
    :data:`MAX_NOTE` characters, redacted as the desk redacts free text); InvalidInput
    otherwise."""
    seconds = _seconds(minutes)
    if note is not None:
        note = check_text("note", note, MAX_NOTE)
        if redact is not None:
            note = redact(note)
    return {"logged_seconds": seconds, "note": note}
