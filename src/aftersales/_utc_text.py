"""Instants as the fixed-width UTC text the stores and the audit chain write."""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["iso_text", "utc_text"]

_UTC = timezone.utc
_TWO_DIGITS = tuple(f"{n:02d}" for n in range(100))

_last: tuple[datetime | None, str] = (None, "")
"""The instant :func:`iso_text` formatted last and its text: a transition records its time
in its ``changes`` (``iso_text``) and then seals the same datetime object (``utc_text``);
the seal reads the text back instead of formatting it again (about 6,500 instructions).
Matched by identity (a datetime is immutable), one tuple replaced whole: a thread that
finds another's instant there formats its own."""


def utc_text(at: datetime) -> str:
    """``at.astimezone(timezone.utc).isoformat(timespec="microseconds")``.

    Put together here for a plain datetime from year 1000 on (every instant the library
    makes): ``isoformat`` builds its text through printf and formats the offset apart,
    about 12,800 instructions a call, six times this; the write path formats several
    instants per commit (the event's time in its row and in its audit seal, the outbox
    rows' times)."""
    last = _last
    if last[0] is at:
        text = last[1]
        return text if len(text) == 32 else text[:19] + ".000000+00:00"
    if type(at) is datetime:
        utc = at if at.tzinfo is _UTC else at.astimezone(_UTC)
        year = utc.year
        if year >= 1000:
            micro, two = utc.microsecond, _TWO_DIGITS
            return (
                f"{year}-{two[utc.month]}-{two[utc.day]}T{two[utc.hour]}:{two[utc.minute]}:"
                f"{two[utc.second]}.{two[micro // 10000]}{two[micro // 100 % 100]}"
                f"{two[micro % 100]}+00:00"
            )
    return at.astimezone(_UTC).isoformat(timespec="microseconds")


def iso_text(at: datetime) -> str:
    """``at.isoformat()``, exactly (microseconds left out when zero), put together here for
    a plain datetime in UTC from year 1000 on (what a desk's clock gives): the event's
    ``changes`` record times this way, one or more per transition, and ``isoformat``
    costs about 12,800 instructions a call. Any other datetime is formatted by
    ``isoformat`` itself."""
    if type(at) is datetime and at.tzinfo is _UTC:
        year = at.year
        if year >= 1000:
            two = _TWO_DIGITS
            micro = at.microsecond
            text = (
                f"{year}-{two[at.month]}-{two[at.day]}T{two[at.hour]}:{two[at.minute]}:"
                f"{two[at.second]}"
            )
            if micro:
                text = f"{text}.{two[micro // 10000]}{two[micro // 100 % 100]}{two[micro % 100]}"
            text += "+00:00"
            global _last
            _last = (at, text)
            return text
    return at.isoformat()
