"""Rows a worker cannot deliver go to the worker that can, the inline delivery's
half-lease deadline, and what ``capture_notifications`` sees of worker subscriptions."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from aftersales import DeliveryFailed, Desk, FrozenClock, Notification
from aftersales.storage import SQLiteStore
from aftersales.testing import capture_notifications
from aftersales.worker import Worker

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def _down(notification: Notification) -> None:
    raise DeliveryFailed("receiver down", retry_after=0)


def _write(db: Path, clock: FrozenClock, handlers: list[str], tickets: int) -> None:
    """``tickets`` tickets whose notification to each of ``handlers`` is pending, due now."""
    with Desk(SQLiteStore(db), clock=clock) as writer:
        for name in handlers:
            writer.on_transition(_down, "created", name=name)
        for n in range(tickets):
            writer.open_ticket(customer=f"c-{n}", channel="email", subject=f"Parcel {n}")


def test_dispatch_outbox_gives_a_row_whose_handler_it_lacks_back_at_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "desk.db"
    clock = FrozenClock(T0)
    _write(db, clock, ["mine", "sms"], 1)
    mine: list[str] = []
    with Desk(SQLiteStore(db), clock=clock) as old:
        old.on_transition(lambda n: mine.append(n.key), "created", name="mine")
        report = old.dispatch_outbox()
        (left,) = old.outbox("pending")
    assert (report.delivered, report.released, len(mine)) == (1, 1, 1)
    assert (left.handler, left.lease_until) == ("sms", None)


def test_a_pass_claims_past_the_rows_it_cannot_deliver_and_gives_them_back_at_its_end(
    tmp_path: Path,
) -> None:
    db = tmp_path / "desk.db"
    clock = FrozenClock(T0)
    # first in the outbox: run_due's batch of 100 claims 100, the pass's first batch the
    # last one, and only its next batches find the rows this worker can deliver
    _write(db, clock, ["sms"], 101)
    _write(db, clock, ["mine"], 2)
    mine: list[str] = []
    with Desk(SQLiteStore(db), clock=clock) as old:
        old.on_transition(lambda n: mine.append(n.key), "created", name="mine")
        result = Worker(old, batch=1).run_once()
        left = old.outbox("pending")
    assert (result.dispatch.delivered, result.dispatch.released, len(mine)) == (2, 101, 2)
    assert result.batches == 4
    assert sorted((n.handler, n.lease_until) for n in left) == [("sms", None)] * 101


def test_a_pass_of_rows_it_cannot_deliver_only_ends(tmp_path: Path) -> None:
    db = tmp_path / "desk.db"
    clock = FrozenClock(T0)
    _write(db, clock, ["sms"], 4)
    with Desk(SQLiteStore(db), clock=clock) as old:
        old.on_transition(lambda n: None, "created", name="mine")
        result = Worker(old, batch=3).run_once()
        again = Worker(old, batch=3).run_once()
        left = old.outbox("pending")
    assert (result.batches, result.dispatch.released) == (1, 4)
    assert (again.batches, again.dispatch.released) == (1, 4)
    assert [n.lease_until for n in left] == [None] * 4


def test_an_inline_delivery_starts_nothing_after_half_its_lease_and_gives_the_rest_back() -> None:
    clock = FrozenClock(T0)
    desk = Desk(clock=clock, settings={"inline_lease_seconds": 10})
    desk.services.outbox.monotonic = lambda: (clock.now() - T0).total_seconds()
    called: list[str] = []

    def slow(notification: Notification) -> None:
        called.append(notification.handler)
        clock.advance(seconds=6)  # more than half the 10 s lease

    desk.on_transition(slow, "created", name="first")
    desk.on_transition(slow, "created", name="second")
    desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    desk.flush()
    (left,) = desk.outbox("pending")
    assert (called, left.handler, left.lease_until) == (["first"], "second", None)
    assert desk.dispatch_outbox().delivered == 1  # the worker delivers it
    assert called == ["first", "second"]


def test_capturing_marks_a_worker_subscriptions_notification_as_sent() -> None:
    desk = Desk(clock=FrozenClock(T0))
    sent: list[str] = []
    desk.on_transition(lambda n: sent.append(n.key), "created", name="mail", inline=False)
    with capture_notifications(desk) as captured:
        ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    assert [n.key for n in captured] == [f"{ticket.id}:1:mail"]
    assert desk.dispatch_outbox().delivered == 0  # no worker sends it later
    assert [n.key for n in desk.outbox("delivered")] == [f"{ticket.id}:1:mail"]
    assert sent == []
    desk.open_ticket(customer="c-2", channel="email", subject="Toaster")
    assert [n.lease_until for n in desk.outbox("pending")] == [None]  # capture undone


def test_capturing_with_delivery_leaves_a_worker_subscription_to_the_worker() -> None:
    desk = Desk(clock=FrozenClock(T0))
    sent: list[str] = []
    desk.on_transition(lambda n: sent.append(n.key), "created", name="mail", inline=False)
    with capture_notifications(desk, deliver=True) as captured:
        ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
        assert (captured, sent) == ([], [])  # the commit delivers nothing, as uncaptured
        assert desk.dispatch_outbox().delivered == 1
    assert [n.key for n in captured] == sent == [f"{ticket.id}:1:mail"]
