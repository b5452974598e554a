"""Helpers for testing code that uses aftersales, and for testing new stores.

- :class:`FrozenClock`: a clock that moves only when told.
- :func:`capture_notifications`: record what a desk's hooks would receive.
- :class:`StoreContract`: the pytest test base every :class:`~aftersales.Store` passes;
  subclass it and implement ``make_store`` to test your own store. It lives in
  :mod:`aftersales.testing.contracts`, the one module here that needs pytest, and is
  imported from there on first use: ``import aftersales.testing`` works in a production
  install without pytest.
- :class:`RaceContract` and :class:`CrashContract`: writers at once, and writers killed
  inside transitions, for any store (in :mod:`aftersales.testing.contracts` too).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from aftersales.clock import FrozenClock

if TYPE_CHECKING:
    from aftersales.notify import Notification, Subscription
    from aftersales.service import Desk
    from aftersales.testing.contracts import CrashContract, RaceContract, StoreContract

__all__ = [
    "CrashContract",
    "FrozenClock",
    "RaceContract",
    "StoreContract",
    "capture_notifications",
]
_CONTRACTS = ("CrashContract", "RaceContract", "StoreContract")


@contextmanager
def capture_notifications(desk: Desk, *, deliver: bool = False) -> Iterator[list[Notification]]:
    """Record every notification the desk delivers inside the ``with`` block.

    By default the real handlers are not called (the notifications still count as
    delivered), so tests can assert on what *would* be sent without sending it. That
    includes the subscriptions with ``inline=False``, which a worker would deliver: their
    notifications are recorded when the change that writes them is committed, and count
    as delivered too (no worker sends them later).

    With ``deliver=True`` the handlers are called and what they are given is recorded:
    the notifications delivered inside the block, by the commits and by
    :meth:`~aftersales.Desk.dispatch_outbox` (an ``inline=False`` subscription's
    notification is left to it, as without the capture).

    >>> from aftersales import Desk
    >>> desk = Desk()
    >>> _ = desk.on_enter("cancelled", print, name="sms")
    >>> with capture_notifications(desk) as sent:
    ...     ticket = desk.open_ticket(customer="c1", channel="sms", subject="Hi")
    ...     _ = desk.cancel(ticket.id, reason="wrong number")
    >>> sorted((n.handler, n.event.trigger) for n in sent)
    [('sms', 'cancel')]
    """
    captured: list[Notification] = []
    original = desk._deliver
    outbox = desk.services.outbox
    queued = outbox.queued

    def record(subscription: Subscription, notification: Notification) -> None:
        captured.append(notification)
        if deliver:
            original(subscription, notification)

    def record_queued(notifications: Sequence[Notification]) -> None:
        captured.extend(notifications)
        # what would have been sent counts as sent, as for the inline deliveries
        desk.store.mark_delivered([n.key for n in notifications], outbox.now())

    desk._deliver = record
    if not deliver:
        outbox.queued = record_queued
    try:
        yield captured
    finally:
        desk._deliver = original
        outbox.queued = queued


def __getattr__(name: str) -> Any:
    """The contracts, imported (with pytest) on first use."""
    if name in _CONTRACTS:
        from aftersales.testing import contracts

        return getattr(contracts, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
