"""Outbox delivery: the rows a commit writes for the hooks, their delivery after the commit
with retries, backoff (or the wait a receiver asked for) and dead-lettering, and the
acknowledgements of what was delivered.

An :class:`Outbox` belongs to one desk. The write pipeline (:mod:`aftersales._pipeline`)
asks it for the rows of the events it commits (:meth:`Outbox.rows_for`), hands it the
acknowledgements it writes with the same commit (:meth:`Outbox.take_acks`), and has it
deliver the rows once the commit stands (:meth:`Outbox.dispatch`). A handler that raises
never undoes the committed change: its row is retried later and, after
``DeskSettings.max_delivery_attempts``, dead-lettered.

A pass over claimed rows can be stopped between two deliveries (a worker shutting down):
the delivery under way finishes, what was delivered is acknowledged and the rows not
attempted are released (:meth:`~aftersales.Store.release_outbox`) for any worker to claim
at once. A pass also starts no delivery once half of its claim's lease has gone by and
releases the rest: a row is never delivered near the end of its lease, when another
worker may claim it. A claimed row whose handler this desk lacks (a worker deployed
before a subscription was added, or one that runs only some senders) is released too,
at the end of the pass (a worker's whole pass: see :attr:`Outbox.held`), for the worker
that has the handler.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

import attrs

from aftersales.exceptions import DeliveryFailed
from aftersales.models.events import Event
from aftersales.notify._hooks import HookRegistry, Subscription
from aftersales.notify._notification import Notification

if TYPE_CHECKING:
    from aftersales.settings import DeskSettings
    from aftersales.storage import Store

ACK_BATCH = 100
"""Deliveries acknowledged in the next commit; at this many pending, they are flushed."""
ERROR_TEXT = 500
"""Characters of a failed hook's exception text kept in ``last_error`` (after its type)."""
MAX_BACKOFF_SECONDS = 86_400.0
"""The longest wait before a retry, however many attempts failed."""


class NotAttempted(DeliveryFailed):
    """Raised by a handler that did not attempt the delivery and must be called again at
    a later pass (e.g. the relay, for a notification waiting behind an earlier one of its
    subject): the row is given back like a row of an unknown handler, with no attempt
    counted, so it is never dead-lettered for waiting."""

    code: ClassVar[str] = "delivery_not_attempted"


def takes_lease(mark_failed: Callable[..., None]) -> bool:
    """Whether a store's ``mark_failed`` takes ``lease_until`` (every shipped store's
    does; one written before it did not)."""
    try:
        return "lease_until" in inspect.signature(mark_failed).parameters
    except (TypeError, ValueError):  # pragma: no cover - a callable without a signature
        return False


@attrs.frozen
class DispatchReport:
    """What one pass over the outbox did."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0
    released: int = 0
    """Claimed rows given back undelivered, for any worker to claim at once: the pass was
    asked to stop, or half of its lease had gone by."""


def error_text(error: BaseException) -> str:
    """What ``last_error`` keeps of a hook's exception: its type and at most
    :data:`ERROR_TEXT` characters of its text (which may hold personal data)."""
    try:
        text = str(error)
    except Exception:  # noqa: BLE001 - a broken __str__ must not stop the dispatch
        text = "<unprintable>"
    if len(text) > ERROR_TEXT:
        text = text[: ERROR_TEXT - 1] + "…"
    return f"{type(error).__qualname__}: {text}"


def retry_delay(error: BaseException, attempts: int, settings: DeskSettings) -> float:
    """Seconds before the next attempt after ``attempts`` failed: what the receiver asked
    for (:attr:`~aftersales.DeliveryFailed.retry_after`, e.g. HTTP ``Retry-After``), else
    ``retry_backoff_seconds`` doubling with each failure; never more than
    :data:`MAX_BACKOFF_SECONDS`."""
    asked = error.retry_after if isinstance(error, DeliveryFailed) else None
    if asked is not None and asked >= 0:
        return float(min(asked, MAX_BACKOFF_SECONDS))
    return float(min(settings.retry_backoff_seconds * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS))


def call_handler(subscription: Subscription, notification: Notification) -> None:
    """Deliver ``notification`` by calling the subscribed handler (the default delivery)."""
    subscription.handler(notification)


ShouldStop = Callable[[], bool]
"""Asked between two deliveries: True ends the pass (see :class:`Outbox`)."""

Deliver = Callable[[Subscription, Notification], None]
"""How a notification reaches its subscription; :func:`call_handler` unless a test
captures deliveries (:func:`aftersales.testing.capture_notifications`)."""


def _no_clock() -> datetime:
    raise RuntimeError("this outbox has no clock; give it to a Pipeline")  # pragma: no cover


class Outbox:
    """The outbox of one desk: rows for committed events, their delivery, and the
    acknowledgements of delivered rows, batched into the next commit."""

    __slots__ = (
        "ack_every",
        "acks",
        "claim_lease",
        "deliver",
        "delivery_window",
        "held",
        "hooks",
        "lease",
        "monotonic",
        "now",
        "queued",
        "settings",
        "should_stop",
        "store",
    )

    def __init__(
        self,
        store: Store,
        hooks: HookRegistry,
        settings: DeskSettings,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.hooks = hooks
        self.settings = settings
        self.now: Callable[[], datetime] = _no_clock if now is None else now
        """The desk's checked clock, for the time of an acknowledgement (the pipeline
        that takes this outbox sets it)."""
        self.acks: list[str] = []
        """Keys delivered and not acknowledged in the store yet."""
        self.lease = timedelta(seconds=settings.inline_lease_seconds)
        """Rows written with a change are leased to this process this long."""
        self.delivery_window = settings.inline_lease_seconds / 2
        """Seconds (on :attr:`monotonic`) a commit may go on delivering its rows before it
        releases those left: half their lease, so the lease never ends mid-delivery."""
        self.claim_lease = timedelta(seconds=settings.delivery_lease_seconds)
        self.deliver: Deliver = call_handler
        self.ack_every = ACK_BATCH
        """Deliveries acknowledged together (a worker sets 1: a crash then redelivers
        at most the notification it was delivering)."""
        self.should_stop: ShouldStop | None = None
        """Asked between deliveries when a pass is given none (a worker sets it while it
        runs, so that the dispatch inside ``run_due`` stops too)."""
        self.monotonic: Callable[[], float] = time.monotonic
        """Measures how long a pass has held its claim (see :meth:`dispatch_due`)."""
        self.held: list[Notification] | None = None
        """While a list, the claimed rows whose handler this desk lacks are kept here
        instead of being released at the end of each dispatch (a worker sets it for its
        whole pass, so its next batches claim past them, then releases them with
        :meth:`release_held`)."""
        self.queued: Callable[[Sequence[Notification]], None] | None = None
        """Called after a commit with the rows it wrote leased to nobody (the
        subscriptions with ``inline=False``, for a worker to deliver); a test capturing
        the notifications sets it (:func:`aftersales.testing.capture_notifications`)."""

    def rows_for(self, events: Sequence[Event], now: datetime) -> list[Notification]:
        """One outbox row per event and subscription that wants it, leased to this desk."""
        if not self.hooks:
            return []
        return self.hooks.notifications_for(events, now, now + self.lease)

    def take_acks(self) -> list[str]:
        """The pending acknowledgements, for a commit to write; :meth:`give_back` them if
        the commit fails."""
        acks, self.acks = self.acks, []
        return acks

    def give_back(self, acks: list[str]) -> None:
        """Keep ``acks`` pending again (the commit that was to write them failed)."""
        if acks:
            self.acks = acks + self.acks

    def dispatch(
        self,
        notifications: Sequence[Notification],
        now: datetime,
        *,
        report: bool = True,
        should_stop: ShouldStop | None = None,
        deadline: float | None = None,
    ) -> DispatchReport | None:
        """Deliver ``notifications``; a failure is recorded with its retry time (doubling
        from ``retry_backoff_seconds``) or, at ``max_delivery_attempts``, dead-lettered.

        Before each delivery, ``should_stop`` (else :attr:`should_stop`) is asked and
        ``deadline`` (on :attr:`monotonic`) checked: a stop or a deadline passed releases
        the rows not attempted and acknowledges the deliveries made."""
        delivered = failed = dead = released = 0
        settings = self.settings
        stop = self.should_stop if should_stop is None else should_stop
        skipped: list[Notification] = []
        subscribed = self.hooks.get
        for index, notification in enumerate(notifications):
            if (stop is not None and stop()) or (
                deadline is not None and self.monotonic() >= deadline
            ):
                released = self.release(notifications[index:], now)
                self.flush()
                break
            subscription = subscribed(notification.handler)
            if subscription is None:
                # the worker that has the handler must not wait out this claim's lease
                skipped.append(notification)
                continue
            try:
                self.deliver(subscription, notification)
            except NotAttempted:
                skipped.append(notification)  # given back below, no attempt counted
            except Exception as error:  # noqa: BLE001 - a hook must never undo committed work
                attempts = notification.attempts + 1
                retry_at = None
                permanent = isinstance(error, DeliveryFailed) and error.permanent
                if attempts < settings.max_delivery_attempts and not permanent:
                    retry_at = now + timedelta(seconds=retry_delay(error, attempts, settings))
                    failed += 1
                else:
                    dead += 1
                self.mark_failed(notification, error_text(error), retry_at, now)
            else:
                delivered += 1
                self.acks.append(notification.key)
                if len(self.acks) >= self.ack_every:
                    self.flush()
        if skipped:
            if self.held is None:
                released += self.release(skipped, now)
            else:
                self.held.extend(skipped)
        return DispatchReport(delivered, failed, dead, released) if report else None

    def release_held(self, now: datetime) -> int:
        """Release the rows :attr:`held` (claimed, their handler unknown here) and stop
        holding; how many were given back."""
        held, self.held = self.held, None
        return self.release(held, now) if held else 0

    def mark_failed(
        self, notification: Notification, error: str, retry_at: datetime | None, now: datetime
    ) -> None:
        """Record a failed attempt of a claimed row, under its claim's lease only: a
        delivery that outlived the lease must not mark a row another worker claimed since
        (or one requeued meanwhile). A store written before the lease was passed is
        called as it was."""
        mark = self.store.mark_failed
        if notification.lease_until is not None and takes_lease(mark):
            mark(notification.key, error, retry_at, now, lease_until=notification.lease_until)
        else:
            mark(notification.key, error, retry_at, now)

    def release(self, notifications: Sequence[Notification], now: datetime) -> int:
        """Give ``notifications`` (claimed, not attempted) back for any worker to claim
        now; how many were given. A store without ``release_outbox`` (one written before
        it) keeps them until their lease ends."""
        release = getattr(self.store, "release_outbox", None)
        if release is None:
            return 0
        by_lease: dict[datetime | None, list[str]] = {}
        for notification in notifications:
            by_lease.setdefault(notification.lease_until, []).append(notification.key)
        for lease_until, keys in by_lease.items():
            release(keys, now, lease_until=lease_until)
        return len(notifications)

    def flush(self) -> None:
        """Record the deliveries not yet acknowledged in the store now."""
        if self.acks:
            keys = self.take_acks()
            try:
                self.store.mark_delivered(keys, self.now())
            except BaseException:
                self.give_back(keys)
                raise

    def dispatch_due(
        self, now: datetime, limit: int, *, should_stop: ShouldStop | None = None
    ) -> DispatchReport:
        """Claim up to ``limit`` rows due by ``now`` (leased for ``delivery_lease_seconds``)
        and deliver them, acknowledging before and after; nothing is claimed by a desk
        without subscriptions or when ``should_stop`` (else :attr:`should_stop`) already
        says stop.

        Deliveries start only in the first half of the lease (measured on
        :attr:`monotonic`, not the desk's clock, which may be frozen or ``now`` given):
        the rows left then are released, so that no other worker can claim a row while
        it is delivered, as long as one delivery takes less than half the lease.

        The lease runs from the clock's time at the claim, not from ``now``: ``now`` may
        be the start of a long pass (``run_due`` takes it once), and a lease counted from
        it would end before the half-lease deadline counted from the claim."""
        self.flush()
        stop = self.should_stop if should_stop is None else should_stop
        # a desk without subscriptions could deliver nothing it claims, and its lease
        # would keep the rows from the workers that can
        if not self.hooks or (stop is not None and stop()):
            return DispatchReport()
        start = max(now, self.now())
        deadline = self.monotonic() + self.claim_lease.total_seconds() / 2
        claimed = self.store.claim_outbox(now, start + self.claim_lease, limit)
        report = self.dispatch(claimed, now, should_stop=stop, deadline=deadline)
        self.flush()
        assert report is not None
        return report
