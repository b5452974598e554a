"""The relay loop: claim the relay's outbox rows in batches, keep each subject's order,
publish, acknowledge."""

from __future__ import annotations

import logging
import math
import signal
import time
from collections.abc import Callable, Iterable, Sequence, Set
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import attrs

from aftersales._validation import check_count
from aftersales.exceptions import DeliveryFailed, FieldError, InvalidInput
from aftersales.models.events import TICKET_KIND
from aftersales.notify import DeliveryStatus, Notification
from aftersales.notify._outbox import NotAttempted, error_text, retry_delay, takes_lease
from aftersales.relay._message import (
    BrokerMessage,
    HeldBack,
    Publisher,
    PublishResult,
    message_body,
    subject_of,
)
from aftersales.worker import StopRequest, install_stop_signals

if TYPE_CHECKING:
    from aftersales.desk import Desk

logger = logging.getLogger("aftersales.relay")

MAX_INTERVAL = 86_400.0
"""The longest wait between two passes, in seconds."""

Routing = Callable[[Notification], tuple[str, str]]
"""A publisher's routing: the (exchange, destination) of a notification."""


@attrs.frozen
class RelayPass:
    """What one :meth:`Relay.run_once` did."""

    published: int = 0
    """Notifications the broker confirmed (and the outbox acknowledged)."""
    failed: int = 0
    """Publishes that failed and will be retried with backoff."""
    dead: int = 0
    """Publishes that failed for good (permanent, or ``max_delivery_attempts``)."""
    waiting: int = 0
    """Notifications given back unpublished because an earlier one of their subject is
    still pending (they are tried again at the next pass; no attempt is counted)."""
    batches: int = 0
    stopped: bool = False


class Relay:
    """Moves a desk's notifications to a broker, at least once and in order per subject.

    Constructing it subscribes the relay to ``desk`` under ``name`` (``inline=False``:
    the change's commit writes the outbox row, and the relay publishes it), for the events
    of ``kinds`` (``triggers``, ``entered`` and ``messages`` as for
    :meth:`~aftersales.Desk.subscribe`). Build the desk and the relay the same way in
    the processes that write (so their commits write the rows) and in the one that runs
    :meth:`run_forever`.

    Each pass claims up to ``batch`` rows at a time, publishes the relay's rows through
    ``publisher`` and acknowledges them in one commit; it gives back the rows of other
    handlers at its end (run the relay beside ``aftersales worker``, which delivers
    those). See the module :mod:`aftersales.relay` for the guarantees.
    """

    def __init__(
        self,
        desk: Desk,
        publisher: Publisher,
        *,
        name: str = "broker",
        kinds: Iterable[str] | str = "all",
        triggers: Iterable[str] | str | None = None,
        entered: Iterable[str] | str | None = None,
        messages: bool = False,
        batch: int = 500,
        interval: float = 0.5,
    ) -> None:
        if not callable(getattr(publisher, "publish", None)):
            raise InvalidInput("relay", [FieldError(("publisher",), "must have a publish method")])
        if (
            isinstance(interval, bool)
            or not isinstance(interval, (int, float))
            or math.isnan(interval)
            or not (0 < interval <= MAX_INTERVAL)
        ):
            raise InvalidInput(
                "relay",
                [FieldError(("interval",), f"must be seconds above 0, at most {MAX_INTERVAL:g}")],
            )
        self.batch = check_count("batch", batch, 100_000)
        self.interval = float(interval)
        self.desk = desk
        self.publisher = publisher
        self.name = name
        self.monotonic: Callable[[], float] = time.monotonic
        self._stop = StopRequest()
        self._signalled: int | None = None
        subscription = desk.subscribe(
            self.deliver,
            kinds=kinds,
            triggers=triggers,
            entered=entered,
            messages=messages,
            name=name,
            inline=False,
        )
        served = (
            (TICKET_KIND, *desk.cases.kinds) if subscription.kinds is None else subscription.kinds
        )
        unrouted = _unrouted(publisher, served)
        if unrouted is not None:
            # every row the relay wrote would be dead-lettered at once
            desk.unsubscribe(subscription.name)
            raise InvalidInput("relay", [FieldError(("kinds",), unrouted)])

    # ------------------------------------------------------------------ one at a time

    def deliver(self, notification: Notification) -> None:
        """Publish one notification: the handler a desk's own dispatch calls
        (``aftersales worker``, ``dispatch_outbox``, ``run_due`` on a desk with this
        relay), slower than :meth:`run_once`. A notification whose subject has an earlier
        one pending raises ``NotAttempted`` (a DeliveryFailed): the dispatch gives
        it back for a later pass without counting an attempt. The deliveries of the same
        pass not acknowledged yet count as done."""
        delivered = set(self.desk.services.outbox.acks)
        waiting_for = self._blockers([notification], delivered).get(notification.key)
        if waiting_for is not None:
            raise NotAttempted(f"waiting for {waiting_for}, earlier in its subject")
        [result] = self.publisher.publish([self.message(notification)])
        if result is not None:
            raise result

    def message(self, notification: Notification) -> BrokerMessage:
        """``notification`` as the publisher's message (its routing asked of the
        publisher's ``route``, when it has one)."""
        route: Routing | None = getattr(self.publisher, "route", None)
        exchange, destination = ("", "") if route is None else route(notification)
        return BrokerMessage(
            notification.key,
            subject_of(notification),
            destination,
            message_body(notification),
            exchange,
        )

    # ------------------------------------------------------------------ the loop

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested."""
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Ask the relay to stop after the batch under way (safe from any thread and a
        signal handler)."""
        self._stop.set()

    def run_once(self) -> RelayPass:
        """Batches until one claims none of the relay's rows, or a stop is requested."""
        store = self.desk.store
        now = self.desk.services.now
        lease = timedelta(seconds=self.desk.settings.delivery_lease_seconds)
        totals = [0, 0, 0, 0]
        batches = 0
        # rows claimed and given back at the pass's end, so that its next claims reach
        # past them: other handlers' rows, and the relay's rows that must wait
        held: list[tuple[datetime, list[str]]] = []
        started = self.monotonic()
        try:
            while not self.stopping and self.monotonic() < started + lease.total_seconds() / 4:
                claimed_at = now()
                lease_until = claimed_at + lease
                # the rows of a claim are published in its first half only: past it,
                # another relay may claim them (as a worker's Outbox does)
                deadline = self.monotonic() + lease.total_seconds() / 2
                claimed = store.claim_outbox(claimed_at, lease_until, self.batch)
                if not claimed:
                    break
                batches += 1
                mine = [n for n in claimed if n.handler == self.name]
                kept = [n.key for n in claimed if n.handler != self.name]
                if mine:
                    outcome, waiting = self._relay_batch(mine, claimed_at, deadline)
                    totals = [a + b for a, b in zip(totals, outcome, strict=True)]
                    kept.extend(waiting)
                if kept:
                    held.append((lease_until, kept))
                if len(claimed) < self.batch:
                    break
        finally:
            at = now()
            for lease_until, keys in held:
                store.release_outbox(keys, at, lease_until=lease_until)
        published, failed, dead, waiting_count = totals
        return RelayPass(published, failed, dead, waiting_count, batches, self.stopping)

    def _relay_batch(
        self,
        claimed: list[Notification],
        at: datetime,
        deadline: float,
    ) -> tuple[tuple[int, int, int, int], list[str]]:
        """Publish ``claimed`` (the relay's rows of one claim) in order per subject; the
        counts (published, failed, dead, waiting) and the keys to give back unsent."""
        store = self.desk.store
        blocked = self._blockers(claimed)
        ready = sorted(
            (n for n in claimed if n.key not in blocked),
            key=lambda n: (subject_of(n), n.event.sequence),
        )
        give_back = [n.key for n in claimed if n.key in blocked]
        if self.monotonic() >= deadline:
            give_back.extend(n.key for n in ready)
            ready = []
        published: list[str] = []
        failures: list[tuple[Notification, Exception]] = []
        if ready:
            messages: list[BrokerMessage] = []
            results: list[PublishResult] = []
            for notification in ready:
                try:
                    messages.append(self.message(notification))
                except DeliveryFailed as error:  # no route for its kind
                    # the subject's later messages wait behind it: send none of them
                    messages.append(
                        BrokerMessage(notification.key, subject_of(notification), "", b"")
                    )
                    results.append(error)
                else:
                    results.append(None)
            results = self._publish(messages, results)
            stuck: set[str] = set()
            for notification, message, result in zip(ready, messages, results, strict=True):
                if message.subject in stuck or isinstance(result, HeldBack):
                    stuck.add(message.subject)
                    give_back.append(notification.key)
                elif result is None:
                    published.append(notification.key)
                else:
                    stuck.add(message.subject)
                    failures.append((notification, result))
        store.mark_delivered(published, self.desk.services.now())
        failed = dead = 0
        settings = self.desk.settings
        for notification, failure in failures:
            attempts = notification.attempts + 1
            retry_at = None
            if attempts < settings.max_delivery_attempts and not (
                isinstance(failure, DeliveryFailed) and failure.permanent
            ):
                retry_at = at + timedelta(seconds=retry_delay(failure, attempts, settings))
                failed += 1
            else:
                dead += 1
            if notification.lease_until is not None and takes_lease(store.mark_failed):
                # under this claim's lease only: a relay that outlived its lease must not
                # mark a row another relay claimed since
                store.mark_failed(
                    notification.key,
                    error_text(failure),
                    retry_at,
                    at,
                    lease_until=notification.lease_until,
                )
            else:
                store.mark_failed(notification.key, error_text(failure), retry_at, at)
        return (len(published), failed, dead, len(blocked)), give_back

    def _publish(
        self, messages: list[BrokerMessage], unroutable: list[PublishResult]
    ) -> list[PublishResult]:
        """The publisher's answers for ``messages``, the unroutable ones (an error in
        ``unroutable``) and the later ones of their subjects left out."""
        skip = {m.subject for m, e in zip(messages, unroutable, strict=True) if e is not None}
        sent = [m for m, e in zip(messages, unroutable, strict=True) if m.subject not in skip]
        try:
            answers = iter(self.publisher.publish(sent) if sent else [])
        except Exception as broken:  # noqa: BLE001 - a broken broker client: every one failed
            answers = iter([broken] * len(sent))
        results: list[PublishResult] = []
        for message, unrouted in zip(messages, unroutable, strict=True):
            if message.subject in skip:
                results.append(unrouted if unrouted is not None else HeldBack("held back"))
            else:
                results.append(next(answers, HeldBack("no answer from the publisher")))
        return results

    def _blockers(
        self, claimed: Sequence[Notification], delivered: Set[str] = frozenset()
    ) -> dict[str, str]:
        """The claimed notifications that must wait, each with the key of the earlier
        pending notification of its subject (for this relay) it waits for; the keys
        ``delivered`` (not acknowledged yet) are not waited for."""
        store = self.desk.store
        claimed_keys = {n.key for n in claimed}
        by_subject: dict[str, list[Notification]] = {}
        for notification in claimed:
            by_subject.setdefault(subject_of(notification), []).append(notification)
        blocked: dict[str, str] = {}
        for subject, ours in by_subject.items():
            first = ours[0].event
            if sorted(n.event.sequence for n in ours) == list(range(1, len(ours) + 1)):
                continue  # from the subject's first event on: nothing earlier can be pending
            pending = sorted(
                (
                    n
                    for n in store.outbox(DeliveryStatus.PENDING, subject_id=first.subject_id)
                    if n.handler == self.name
                    and subject_of(n) == subject
                    and n.key not in delivered
                ),
                key=lambda n: n.event.sequence,
            )
            # publishable: the claimed rows before the first pending row not claimed
            first_other = next((n for n in pending if n.key not in claimed_keys), None)
            if first_other is None:
                continue
            for notification in ours:
                if notification.event.sequence > first_other.event.sequence:
                    blocked[notification.key] = first_other.key
        return blocked

    def run_forever(self) -> None:
        """Run passes every ``interval`` seconds until :meth:`request_stop`. A pass that fails (the
        database unreachable) is logged and tried again after the interval."""
        logger.info("relay %r started", self.name)
        while not self.stopping:
            try:
                result = self.run_once()
            except Exception:
                logger.exception("relay pass failed; trying again in %gs", self.interval)
            else:
                if result.published or result.failed or result.dead:
                    logger.info(
                        "relay pass: %d published, %d failed, %d dead-lettered, %d waiting",
                        result.published,
                        result.failed,
                        result.dead,
                        result.waiting,
                    )
            self._stop.wait(self.interval)
        if self._signalled is not None:
            logger.info("relay stopping on %s", signal.Signals(self._signalled).name)
        logger.info("relay %r stopped", self.name)

    def install_signal_handlers(self) -> Callable[[], None]:
        """Make SIGTERM and SIGINT request a stop; returns a function that puts the
        previous handlers back. Only the main thread may call it."""

        def on_signal(signum: int) -> None:
            self._signalled = signum  # a plain attribute: a signal handler takes no lock

        return install_stop_signals(on_signal, self._stop)


def _unrouted(publisher: Publisher, kinds: Iterable[str]) -> str | None:
    """Why ``publisher`` can publish none of ``kinds`` (None when it routes one of them,
    or cannot say: a publisher without ``route_for_kind``)."""
    route_for_kind: Callable[[str], tuple[str, str]] | None = getattr(
        publisher, "route_for_kind", None
    )
    if route_for_kind is None:
        return None
    reasons: list[str] = []
    for kind in sorted(kinds):
        try:
            route_for_kind(kind)
        except DeliveryFailed as error:
            reasons.append(str(error))
        else:
            return None
    return "the publisher routes none of the relay's kinds: " + "; ".join(reasons)
