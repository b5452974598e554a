"""A handler that raises NotAttempted (it did not try) has its row given back, with no
attempt counted, however often it happens."""

from __future__ import annotations

from datetime import timedelta

from aftersales import Desk, FrozenClock, Notification
from aftersales.notify._outbox import NotAttempted
from aftersales.worker import Worker


def test_a_row_not_attempted_is_given_back_without_an_attempt_and_never_dead() -> None:
    clock = FrozenClock()
    desk = Desk(clock=clock)
    ready = False
    delivered: list[str] = []

    def deliver(notification: Notification) -> None:
        if not ready:
            raise NotAttempted("not its turn yet")
        delivered.append(notification.key)

    desk.on_transition(deliver, "created", name="waits", inline=False)
    desk.open_ticket(customer="c-1", channel="email", subject="Kettle")

    for _ in range(desk.settings.max_delivery_attempts + 2):
        result = Worker(desk).run_once()
        assert (result.dispatch.failed, result.dispatch.dead) == (0, 0)
        assert result.dispatch.released == 1
        clock.advance(timedelta(seconds=1))
    [row] = desk.outbox("pending")
    assert (row.attempts, row.last_error, row.lease_until) == (0, None, None)

    ready = True
    assert Worker(desk).run_once().dispatch.delivered == 1
    assert delivered == [row.key]
