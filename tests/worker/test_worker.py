"""The worker in-process: a pass, workers in threads, stopping, the outbox's stop and
release, and its signal handlers."""

from __future__ import annotations

import logging
import math
import signal
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from worker_app import HANDLER, write_pending

from aftersales import Desk, FrozenClock, Notification
from aftersales.exceptions import AftersalesError, InvalidInput, StorageError
from aftersales.notify._outbox import ACK_BATCH, DispatchReport
from aftersales.storage import MemoryStore, SQLiteStore
from aftersales.worker import Worker

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def _desk_with_pending(count: int, clock: FrozenClock | None = None) -> tuple[Desk, list[str]]:
    """A desk in memory with ``count`` notifications its receiver refused once (due
    again after the backoff) and a handler that fails no more; the pending keys."""
    desk = Desk(MemoryStore(), clock=clock or FrozenClock(T0))
    down = True
    delivered: list[str] = []

    def receiver(notification: Notification) -> None:
        if down:
            raise ConnectionError("receiver down")
        delivered.append(notification.key)

    desk.on_transition(receiver, "created", name=HANDLER)
    for n in range(count):
        desk.open_ticket(customer=f"c-{n}", channel="email", subject=f"Parcel {n}")
    down = False
    desk.delivered = delivered  # type: ignore[attr-defined]  # what the test reads back
    return desk, [n.key for n in desk.outbox("pending")]


def test_a_pass_does_the_due_work_then_delivers_every_pending_notification() -> None:
    clock = FrozenClock(T0)
    desk, pending = _desk_with_pending(250, clock)
    closed: list[str] = []
    desk.on_enter("closed", lambda n: closed.append(n.event.subject_id), name="closed")
    ticket = desk.open_ticket(customer="c-x", channel="email", subject="Kettle")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="emma")
    desk.fire(ticket.id, "start")
    desk.resolve(ticket.id, resolution="Replaced")
    clock.advance(timedelta(days=8))  # past the backoff, and past auto_close_after_days

    result = Worker(desk, batch=40).run_once()

    assert result.due is not None
    assert result.due.auto_closed == (ticket.id,)
    assert closed == [ticket.id]
    delivered = desk.delivered  # type: ignore[attr-defined]
    assert sorted(delivered[1:]) == sorted(pending)  # the first: the kettle's, at its commit
    # run_due's own batch of 100, then batches of 40 until one delivers nothing
    assert (result.dispatch.delivered, result.batches, result.stopped) == (250, 5, False)
    assert desk.outbox("pending") == []


def test_two_workers_in_threads_on_one_sqlite_file_deliver_each_notification_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "desk.db"
    pending = write_pending(db, 300)
    delivered: list[str] = []
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            desk = Desk(SQLiteStore(db))
            desk.on_transition(lambda n: delivered.append(n.key), "created", name=HANDLER)
            start.wait(timeout=60)
            with desk:
                Worker(desk, batch=7).run_once()
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            failures.append(error)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert Counter(delivered) == Counter(pending)  # each exactly once
    with Desk.sqlite(db) as desk:
        assert desk.outbox("pending") == []


def test_a_stop_asked_during_a_delivery_finishes_it_and_releases_the_rest() -> None:
    desk, pending = _desk_with_pending(5)
    worker = Worker(desk)
    seen: list[str] = []

    def stop_on_first(notification: Notification) -> None:
        seen.append(notification.key)
        worker.request_stop()

    desk.unsubscribe(HANDLER)
    desk.on_transition(stop_on_first, "created", name=HANDLER)
    later = T0 + timedelta(minutes=1)

    result = worker.run_once(later)

    assert (result.dispatch.delivered, result.dispatch.released, result.stopped) == (1, 4, True)
    assert [n.key for n in desk.outbox("delivered")] == seen  # acknowledged already
    released = desk.outbox("pending")
    assert sorted(n.key for n in released) == sorted(set(pending) - set(seen))
    assert all(n.lease_until is None and n.next_attempt_at <= later for n in released)
    claimed = desk.store.claim_outbox(later, later + timedelta(minutes=5), 10)
    assert len(claimed) == 4  # any worker takes them at once, lease or not


def test_a_stopped_worker_does_nothing_more() -> None:
    desk, pending = _desk_with_pending(3)
    worker = Worker(desk)
    worker.request_stop()
    result = worker.run_once(T0 + timedelta(minutes=1))
    assert (result.due, result.dispatch, result.stopped) == (None, DispatchReport(), True)
    assert len(desk.outbox("pending")) == len(pending)


def test_dispatch_outbox_stops_between_deliveries_when_asked() -> None:
    desk, pending = _desk_with_pending(6)
    answers = iter([False, False, False, True])  # before the claim, then each delivery
    report = desk.dispatch_outbox(
        T0 + timedelta(minutes=1), limit=5, should_stop=lambda: next(answers)
    )
    assert (report.delivered, report.released, report.failed, report.dead) == (2, 3, 0, 0)
    assert len(desk.outbox("delivered")) == 2
    # released ones are due at once; the sixth was never claimed
    report = desk.dispatch_outbox(T0 + timedelta(minutes=1), limit=10)
    assert (report.delivered, report.released) == (4, 0)
    assert sorted(desk.delivered) == sorted(pending)  # type: ignore[attr-defined]


def test_a_stop_asked_before_the_pass_claims_nothing() -> None:
    desk, _pending = _desk_with_pending(2)
    report = desk.dispatch_outbox(T0 + timedelta(minutes=1), should_stop=lambda: True)
    assert report == DispatchReport()
    assert all(n.lease_until is None for n in desk.outbox("pending"))


def test_should_stop_must_be_callable() -> None:
    desk, _ = _desk_with_pending(1)
    with pytest.raises(InvalidInput, match="should_stop"):
        desk.dispatch_outbox(should_stop=True)  # type: ignore[arg-type]


def test_a_pass_starts_no_delivery_once_half_its_lease_has_gone_by() -> None:
    desk, _pending = _desk_with_pending(5)
    outbox = desk.services.outbox
    ticks = iter([0.0, 10.0, 100.0, 149.9, 150.0])  # the claim, then before each delivery
    outbox.monotonic = lambda: next(ticks)
    report = desk.dispatch_outbox(T0 + timedelta(minutes=1))  # lease 300 s by default
    assert (report.delivered, report.released) == (3, 2)
    assert len(desk.outbox("delivered")) == 3
    assert [n.lease_until for n in desk.outbox("pending")] == [None, None]


def test_a_desk_without_subscriptions_claims_nothing() -> None:
    desk, _ = _desk_with_pending(2)
    desk.unsubscribe(HANDLER)
    report = Worker(desk).run_once(T0 + timedelta(minutes=1)).dispatch
    assert report == DispatchReport()
    assert all(n.lease_until is None for n in desk.outbox("pending"))


def test_the_dispatch_report_reads_as_before_with_released_last() -> None:
    assert DispatchReport(1, 2, 3) == DispatchReport(delivered=1, failed=2, dead=3, released=0)


def test_a_worker_acknowledges_each_delivery_and_puts_the_desks_batching_back() -> None:
    desk, _pending = _desk_with_pending(3)
    outbox = desk.services.outbox
    acknowledged: list[int] = []

    def count_acks(notification: Notification) -> None:
        acknowledged.append(len(desk.outbox("delivered")))

    desk.unsubscribe(HANDLER)
    desk.on_transition(count_acks, "created", name=HANDLER)
    Worker(desk).run_once(T0 + timedelta(minutes=1))
    assert acknowledged == [0, 1, 2]  # each one was in the store before the next began
    assert (outbox.ack_every, outbox.should_stop) == (ACK_BATCH, None)


class _Failing(Worker):
    """A worker whose first ``fails`` passes fail (the database unreachable)."""

    def __init__(self, desk: Desk, fails: int) -> None:
        super().__init__(desk, interval=0.01)
        self.calls = 0
        self._fails = fails

    def run_once(self, now: datetime | None = None) -> Any:
        self.calls += 1
        if self.calls <= self._fails:
            raise StorageError("database unreachable")
        self.request_stop()
        return super().run_once(now)


def test_run_forever_logs_a_failed_pass_and_keeps_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = _Failing(Desk(), fails=2)
    with caplog.at_level(logging.INFO, logger="aftersales.worker"):
        worker.run_forever()
    assert worker.calls == 3
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("worker pass failed; trying again in 0.01s") == 2
    assert messages[-1] == "worker stopped"


def test_a_pass_whose_due_work_fails_logs_it_keeps_it_and_still_delivers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    desk, pending = _desk_with_pending(2)
    failure = StorageError("ticket row 17 cannot be read")

    def unreadable(before: datetime, limit: int) -> list[Any]:
        raise failure

    desk.store.due = unreadable  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="aftersales.worker"):
        result = Worker(desk).run_once(T0 + timedelta(hours=1))
    assert (result.due, result.due_error, result.dispatch.delivered) == (None, failure, 2)
    assert sorted(desk.delivered) == sorted(pending)  # type: ignore[attr-defined]
    assert "the due work failed; delivering the outbox all the same" in caplog.messages
    desk.close()


def test_a_stop_wakes_a_waiting_worker_at_once() -> None:
    desk, _ = _desk_with_pending(0)
    worker = Worker(desk, interval=3600)
    passes = threading.Event()
    original = worker.run_once

    def observed(now: datetime | None = None) -> Any:
        result = original(now)
        passes.set()
        return result

    worker.run_once = observed  # type: ignore[method-assign]
    thread = threading.Thread(target=worker.run_forever)
    thread.start()
    assert passes.wait(timeout=60)
    worker.request_stop()
    thread.join(timeout=60)  # an hour's interval: only the stop can end the wait
    assert not thread.is_alive()


def test_sigterm_and_sigint_request_a_stop_and_a_second_one_interrupts() -> None:
    desk, _ = _desk_with_pending(0)
    worker = Worker(desk)
    before = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    restore = worker.install_signal_handlers()
    try:
        signal.raise_signal(signal.SIGTERM)
        assert worker.stopping
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    finally:
        restore()
    assert {number: signal.getsignal(number) for number in before} == before


def test_signal_handlers_are_refused_outside_the_main_thread() -> None:
    worker = Worker(Desk())
    errors: list[BaseException] = []

    def install() -> None:
        try:
            worker.install_signal_handlers()
        except AftersalesError as error:
            errors.append(error)

    thread = threading.Thread(target=install)
    thread.start()
    thread.join(timeout=60)
    assert [str(e) for e in errors] == [
        "signal handlers can only be installed from the main thread"
    ]


@pytest.mark.parametrize("interval", [0, -1, math.nan, math.inf, True, "5", 86_401])
def test_an_interval_that_is_no_positive_number_of_seconds_is_refused(interval: Any) -> None:
    with pytest.raises(InvalidInput, match="interval"):
        Worker(Desk(), interval=interval)


@pytest.mark.parametrize(("name", "value"), [("batch", 0), ("due_limit", -1), ("batch", 1.5)])
def test_batch_and_due_limit_must_be_positive_whole_numbers(name: str, value: Any) -> None:
    with pytest.raises(InvalidInput, match=name):
        Worker(Desk(), **{name: value})


class _StoreWithoutRelease(MemoryStore):
    release_outbox = None  # a store written before the method existed


def test_a_store_without_release_keeps_the_rows_of_a_stopped_pass_until_their_lease_ends() -> None:
    desk = Desk(_StoreWithoutRelease(), clock=FrozenClock(T0))
    down = True

    def receiver(notification: Notification) -> None:
        if down:
            raise ConnectionError("receiver down")

    desk.on_transition(receiver, "created", name=HANDLER)
    for n in range(3):
        desk.open_ticket(customer=f"c-{n}", channel="email", subject="Parcel")
    down = False
    answers = iter([False, False, True])
    report = desk.dispatch_outbox(T0 + timedelta(minutes=1), should_stop=lambda: next(answers))
    assert (report.delivered, report.released) == (1, 0)
    assert [n.lease_until is None for n in desk.outbox("pending")] == [False, False]


def test_run_forever_logs_acknowledgements_it_could_not_write_on_the_way_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class _Unflushable(Desk):
        def flush(self) -> None:
            raise StorageError("database unreachable")

    desk = _Unflushable()
    worker = Worker(desk, interval=0.01)
    worker.request_stop()
    with caplog.at_level(logging.INFO, logger="aftersales.worker"):
        worker.run_forever()
    assert caplog.messages[-2:] == [
        "could not acknowledge the last deliveries; they will be redelivered",
        "worker stopped",
    ]
