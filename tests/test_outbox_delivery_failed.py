"""A sender's DeliveryFailed steers the outbox: the receiver's wait, or dead-letter now."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from aftersales import DeliveryFailed, DeliveryStatus, Desk, FrozenClock, Notification

START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)


def _desk_with(handler: object) -> tuple[Desk, FrozenClock]:
    clock = FrozenClock(START)
    desk = Desk(clock=clock, settings={"retry_backoff_seconds": 30, "max_delivery_attempts": 5})
    desk.on_transition(handler, "created", name="sender")  # type: ignore[arg-type]
    return desk, clock


def test_a_receivers_retry_after_replaces_the_backoff() -> None:
    def busy(notification: Notification) -> None:
        raise DeliveryFailed("429 Too Many Requests", retry_after=600)

    desk, clock = _desk_with(busy)
    desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    [row] = desk.outbox("pending")
    assert row.next_attempt_at == clock.now() + timedelta(seconds=600)
    assert row.last_error == "DeliveryFailed: 429 Too Many Requests"


def test_a_permanent_failure_is_dead_lettered_at_the_first_attempt() -> None:
    def refused(notification: Notification) -> None:
        raise DeliveryFailed("400 Bad Request", permanent=True)

    desk, _ = _desk_with(refused)
    desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    [row] = desk.outbox(DeliveryStatus.DEAD)
    assert (row.attempts, row.last_error) == (1, "DeliveryFailed: 400 Bad Request")


def test_any_other_failure_keeps_the_doubling_backoff() -> None:
    def down(notification: Notification) -> None:
        raise DeliveryFailed("503 Service Unavailable")

    desk, clock = _desk_with(down)
    desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    clock.advance(timedelta(seconds=31))
    desk.dispatch_outbox()
    [row] = desk.outbox("pending")
    assert row.attempts == 2
    assert row.next_attempt_at == clock.now() + timedelta(seconds=60)
