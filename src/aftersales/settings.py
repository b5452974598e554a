"""Desk-wide settings, validated."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from aftersales.exceptions import InvalidInput
from aftersales.models._base import Record
from aftersales.policies.dates import zone


class DeskSettings(Record):
    """How a desk behaves. Every value has a sensible default.

    - ``reopen_within_days``: a resolved or confirmed ticket may be reopened this long
      after it was resolved; later, :meth:`~aftersales.Desk.reopen` opens a follow-up.
    - ``auto_close_after_days``: a resolved ticket the customer never confirms is closed
      by :meth:`~aftersales.Desk.run_due` this long after it was resolved.
    - ``max_delivery_attempts``: a hook that fails this often goes to dead-letter.
    - ``retry_backoff_seconds``: the first retry waits this long, each next one twice as long.
    - ``delivery_lease_seconds``: how long a claimed notification is reserved for the
      worker delivering it before another worker may take it over.
    - ``number_block_size``: ticket numbers are reserved from the store this many at a
      time (fewer writes; numbers reserved by a process that exits are skipped).
    - ``time_zone``: the desk's own (IANA) time zone. A refund due on a date is late once
      that date has ended there, and refund deadlines count from the local date.
    """

    reopen_within_days: Annotated[int, Field(ge=0, le=3650)] = 7
    auto_close_after_days: Annotated[int, Field(ge=1, le=3650)] = 7
    max_delivery_attempts: Annotated[int, Field(ge=1, le=100)] = 5
    retry_backoff_seconds: Annotated[float, Field(gt=0, le=86_400)] = 30.0
    delivery_lease_seconds: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    number_block_size: Annotated[int, Field(ge=1, le=10_000)] = 20
    time_zone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            zone(name)
        except InvalidInput:
            raise ValueError(f"unknown time zone {name!r}") from None
        return name

    @property
    def zone(self) -> ZoneInfo:
        """``time_zone`` as a ``ZoneInfo``."""
        return zone(self.time_zone)

    @property
    def reopen_window(self) -> timedelta:
        """``reopen_within_days`` as a timedelta."""
        return timedelta(days=self.reopen_within_days)

    @property
    def auto_close_after(self) -> timedelta:
        """``auto_close_after_days`` as a timedelta."""
        return timedelta(days=self.auto_close_after_days)
