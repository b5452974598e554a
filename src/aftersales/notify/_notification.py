"""Notifications: one event on its way to one handler, kept in the outbox until delivered."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum

import attrs

from aftersales.models.events import Event


class DeliveryStatus(str, Enum):
    """Where a notification is in its life."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


# Not slotted: a slotted frozen class sets each of its ten fields through
# object.__setattr__, about 9k instructions per notification, while the write path builds
# one per subscription on every commit; a dict-based one is built in two calls (``leased``).
@attrs.frozen(slots=False)
class Notification:
    """One event for one handler. ``key`` is its idempotency key, stable across retries.

    Handlers may receive a notification more than once after a crash (at-least-once
    delivery); a handler that remembers the keys it has seen processes each exactly once.
    """

    key: str
    handler: str
    event: Event
    created_at: datetime
    next_attempt_at: datetime
    lease_until: datetime | None = None
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    delivered_at: datetime | None = None

    @staticmethod
    def key_for(event: Event, handler: str) -> str:
        """The idempotency key of ``event`` for ``handler``."""
        return f"{event.subject_id}:{event.sequence}:{handler}"


Handler = Callable[[Notification], object]
"""A hook: called once per notification, after the change it reports was committed."""


_new = object.__new__
_set_dict = Notification.__dict__["__dict__"].__set__
"""The instance dict's own setter: ``object.__setattr__`` looks the name up and walks the
type's bases on every call (about 1,150 instructions, the setter 700)."""
_PENDING = DeliveryStatus.PENDING
_FRESH: dict[str, object] = {
    "key": "",
    "handler": "",
    "event": None,
    "created_at": None,
    "next_attempt_at": None,
    "lease_until": None,
    "status": _PENDING,
    "attempts": 0,
    "last_error": None,
    "delivered_at": None,
}
"""A new notification's fields in the order of its attributes, the first five to be set."""


def leased(
    key: str, handler: str, event: Event, now: datetime, lease_until: datetime | None
) -> Notification:
    """``Notification(key, handler, event, now, now, lease_until)`` from values already valid
    (the write path's own), without attrs' frozen ``__init__``: its dict is a copy of
    :data:`_FRESH` (copied whole, its keys already hashed and placed) with five values set."""
    notification = _new(Notification)
    values = _FRESH.copy()
    values["key"] = key
    values["handler"] = handler
    values["event"] = event
    values["created_at"] = values["next_attempt_at"] = now
    values["lease_until"] = lease_until
    _set_dict(notification, values)
    return notification
