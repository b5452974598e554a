"""The worker: a desk's due work and its outbox deliveries, in a loop.

A :class:`Worker` runs :meth:`~aftersales.Desk.run_due` (SLA steps, auto-closing, the
time rules...) and then delivers the outbox in batches until a batch delivers nothing;
:meth:`Worker.run_forever` repeats that every ``interval`` seconds until
:meth:`Worker.request_stop` (or SIGTERM / SIGINT, after
:meth:`Worker.install_signal_handlers`). ``aftersales worker --db URL --app module:callable``
runs one from the shell.

Any number of workers may share one database: each claims the rows it delivers with a
lease (``delivery_lease_seconds``), so while none crashes no notification is delivered
twice. A worker acknowledges each delivery as soon as it is made, so a worker killed
mid-batch redelivers at most the one notification it was delivering (its idempotency
``key`` tells the receiver). Asked to stop, a worker finishes the delivery under way,
acknowledges it and releases the rows it claimed and did not deliver, for the others to
take at once.

>>> from aftersales import Desk
>>> from aftersales.worker import Worker
>>> desk = Desk()
>>> sent = []
>>> _ = desk.on_transition(lambda n: sent.append(n.key), "created", name="sms")
>>> ticket = desk.open_ticket(customer="c-1", channel="sms", subject="Hi")
>>> Worker(desk).run_once().dispatch.delivered  # delivered at the commit already
0
>>> len(sent)
1

The library starts no thread: the loop runs in the thread that calls
:meth:`~Worker.run_forever`. Logs go to the ``aftersales.worker`` logger.
"""

from __future__ import annotations

import _thread
import logging
import math
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING

import attrs

from aftersales._validation import check_count
from aftersales.exceptions import AftersalesError, FieldError, InvalidInput
from aftersales.notify._outbox import DispatchReport

if TYPE_CHECKING:
    from aftersales.desk import Desk, DueReport
    from aftersales.notify import Notification

__all__ = ["StopRequest", "Worker", "WorkerPass"]

logger = logging.getLogger("aftersales.worker")

MAX_INTERVAL = 86_400.0
"""The longest wait between two passes, in seconds."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
"""The signals :meth:`Worker.install_signal_handlers` turns into a stop."""


class StopRequest:
    """Whether a stop was requested, and a wait between passes that a request ends at once.

    :meth:`set` is safe from any thread and from a signal handler. A handler runs in the
    main thread between two of its bytecodes, possibly while that thread holds the lock
    inside :meth:`threading.Event.wait`: a handler that took that lock (``Event.set``)
    would wait for itself, for good. So :meth:`set` takes no lock: it sets a plain flag,
    and a new thread, started without the :mod:`threading` module's locks, wakes the wait
    (as soon as the main thread lets go of the lock)."""

    def __init__(self) -> None:
        self._requested = False
        self._wake = threading.Event()

    def is_set(self) -> bool:
        """Whether a stop was requested."""
        return self._requested

    def set(self) -> None:
        """Request the stop; a :meth:`wait` under way ends."""
        self._requested = True
        _thread.start_new_thread(self._wake.set, ())

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds, or until a stop is requested; whether one was."""
        if not self._requested:
            self._wake.wait(timeout)
        return self._requested


def _added(first: DispatchReport, second: DispatchReport) -> DispatchReport:
    return DispatchReport(
        first.delivered + second.delivered,
        first.failed + second.failed,
        first.dead + second.dead,
        first.released + second.released,
    )


@attrs.frozen
class WorkerPass:
    """What one :meth:`Worker.run_once` did."""

    due: DueReport | None
    """What :meth:`~aftersales.Desk.run_due` did (None when the pass stopped before it,
    or when it failed: see :attr:`due_error`)."""
    dispatch: DispatchReport
    """Every delivery of the pass: the one inside ``run_due`` and the batches after it."""
    batches: int = 0
    """Outbox batches claimed after ``run_due``."""
    stopped: bool = False
    """A stop was requested before the pass ended."""
    due_error: Exception | None = None
    """What :meth:`~aftersales.Desk.run_due` raised, if it failed: the pass logged it and
    delivered the outbox all the same, so that due work that keeps failing (a ticket
    that cannot be read) stops no delivery."""


class Worker:
    """Runs a desk's due work and outbox deliveries until asked to stop.

    ``interval`` (seconds, above 0, at most a day) is the wait between two passes,
    ``batch`` (1 to 1,000,000) the rows each outbox batch claims, ``due_limit`` the
    ``limit`` of :meth:`~aftersales.Desk.run_due`.

    One worker serves one desk, from one thread at a time; run several workers (each
    with its own desk and store connection) in threads or processes for more throughput.
    """

    def __init__(
        self,
        desk: Desk,
        *,
        interval: float = 5.0,
        batch: int = 100,
        due_limit: int = 1000,
    ) -> None:
        if (
            isinstance(interval, bool)
            or not isinstance(interval, (int, float))
            or not (0 < interval <= MAX_INTERVAL)
            or math.isnan(interval)
        ):
            raise InvalidInput(
                "worker",
                [FieldError(("interval",), f"must be seconds above 0, at most {MAX_INTERVAL:g}")],
            )
        self.desk = desk
        self.interval = float(interval)
        self.batch = check_count("batch", batch)
        self.due_limit = check_count("due_limit", due_limit)
        self._stop = StopRequest()
        self._signalled: int | None = None

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested."""
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Ask the worker to stop: the delivery under way finishes and is acknowledged,
        the rows claimed and not delivered are released, and :meth:`run_forever` returns
        without waiting out its interval. Safe from any thread and a signal handler."""
        self._stop.set()

    def run_once(self, now: datetime | None = None) -> WorkerPass:
        """One pass: :meth:`~aftersales.Desk.run_due`, then outbox batches of ``batch``
        rows until one delivers nothing or a stop is requested. ``now`` (default: the
        desk's clock) is the time of both.

        ``run_due`` failing (an :class:`Exception`) is logged and kept in
        :attr:`WorkerPass.due_error`; the outbox is delivered all the same. The rows
        claimed whose handler this desk lacks are released at the end of the pass, for
        the worker that has it."""
        if self.stopping:
            return WorkerPass(None, DispatchReport(), stopped=True)
        desk = self.desk
        outbox = desk.services.outbox
        saved = (outbox.should_stop, outbox.ack_every)
        # for the whole pass, so that the dispatch inside run_due and the deliveries
        # right after its commits stop too, and each delivery is acknowledged at once
        outbox.should_stop = self._stop.is_set
        outbox.ack_every = 1
        # the pass's next batches claim past the rows it cannot deliver; they are
        # released once, at its end
        held: list[Notification] = []
        outbox.held = held
        batches = 0
        due: DueReport | None = None
        due_error: Exception | None = None
        total = DispatchReport()
        try:
            try:
                due = desk.run_due(now, limit=self.due_limit)
            except Exception as error:  # the deliveries must go on
                logger.exception("the due work failed; delivering the outbox all the same")
                due_error = error
            else:
                total = due.dispatch
            while not self.stopping:
                holding = len(held)
                report = desk.dispatch_outbox(now, limit=self.batch)
                batches += 1
                total = _added(total, report)
                # a batch of rows for other workers' handlers only: the next one claims
                # past them (they stay held), so it may still find some of ours
                if not report.delivered and len(held) == holding:
                    break
        finally:
            outbox.should_stop, outbox.ack_every = saved
            released = outbox.release_held(desk.services.now() if now is None else now)
        total = _added(total, DispatchReport(released=released))
        return WorkerPass(due, total, batches, self.stopping, due_error)

    def run_forever(self) -> None:
        """Run passes every ``interval`` seconds until :meth:`request_stop`.

        A pass that fails (the database unreachable, say) is logged and tried again
        after the interval; the worker keeps running. On the way out, the deliveries
        not acknowledged yet are.
        """
        logger.info("worker started: a pass every %gs, batches of %d", self.interval, self.batch)
        while not self.stopping:
            try:
                result = self.run_once()
            except Exception:
                logger.exception("worker pass failed; trying again in %gs", self.interval)
            else:
                _log_pass(result)
            self._stop.wait(self.interval)
        if self._signalled is not None:
            logger.info("worker stopping on %s", signal.Signals(self._signalled).name)
        try:
            self.desk.flush()
        except AftersalesError:
            logger.exception("could not acknowledge the last deliveries; they will be redelivered")
        logger.info("worker stopped")

    def install_signal_handlers(self) -> Callable[[], None]:
        """Make SIGTERM and SIGINT request a stop (a second one raises
        :class:`KeyboardInterrupt`, interrupting a delivery); returns a function that
        puts the previous handlers back. Only the main thread may call it; elsewhere it
        raises :class:`~aftersales.AftersalesError`."""

        def on_signal(signum: int) -> None:
            if self.stopping:
                raise KeyboardInterrupt
            self._signalled = signum

        return install_stop_signals(on_signal, self._stop)


def install_stop_signals(on_signal: Callable[[int], None], stop: StopRequest) -> Callable[[], None]:
    """On SIGTERM and SIGINT, call ``on_signal`` with the signal's number, then request
    ``stop`` (:meth:`StopRequest.set`, which takes no lock); returns a function that puts the
    previous handlers back. ``on_signal`` runs in the signal handler: it must take no
    lock (set plain attributes; raising, e.g. KeyboardInterrupt, skips the request).
    Only the main thread may call it; elsewhere it raises
    :class:`~aftersales.AftersalesError` (Python's rule for signals)."""
    if threading.current_thread() is not threading.main_thread():
        raise AftersalesError("signal handlers can only be installed from the main thread")

    def handler(signum: int, frame: FrameType | None) -> None:
        on_signal(signum)
        stop.set()

    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}

    def restore() -> None:
        for number, old in previous.items():
            signal.signal(number, old)

    return restore


def _log_pass(result: WorkerPass) -> None:
    report = result.dispatch
    due = result.due
    fired = 0 if due is None else len(due.automations) + len(due.auto_closed)
    level = (
        logging.INFO
        if (report.delivered or report.failed or report.dead or fired)
        else logging.DEBUG
    )
    logger.log(
        level,
        "pass: %d delivered, %d failed, %d dead-lettered, %d released, %d due actions",
        report.delivered,
        report.failed,
        report.dead,
        report.released,
        fired,
    )
