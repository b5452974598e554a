"""A subscription that is not inline keeps the network out of the call that commits: the web
process writes the row, the worker delivers it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from _receivers import HttpReceiver

from aftersales import Customer, Desk, FrozenClock, InvalidInput, Notification, SQLiteStore
from aftersales.notify.senders.webhook import Webhook
from aftersales.worker import Worker

START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
SECRET = "whsec-test"


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as running:
        yield running


def _desk(path: Path, clock: FrozenClock, hook: Webhook) -> Desk:
    """The app's wiring, the same in the web process and in the worker."""
    desk = Desk(SQLiteStore(path), clock=clock)
    desk.on_transition(hook, "created", name="erp", inline=False)
    return desk


def test_the_committing_call_writes_the_row_and_the_worker_delivers_it(
    tmp_path: Path, receiver: HttpReceiver
) -> None:
    clock = FrozenClock(START)
    with Webhook(receiver.url, secret=SECRET) as hook:
        web = _desk(tmp_path / "desk.db", clock, hook)
        worker_desk = _desk(tmp_path / "desk.db", clock, hook)
        _deliver_through_the_worker(web, worker_desk, receiver)


def _deliver_through_the_worker(web: Desk, worker_desk: Desk, receiver: HttpReceiver) -> None:
    ticket = web.open_ticket(customer="c-1", channel="email", subject="Kettle leaks")

    assert receiver.requests == []  # nothing left the web process
    [row] = web.outbox("pending")
    assert (row.handler, row.lease_until, row.next_attempt_at) == ("erp", None, START)
    Worker(worker_desk).run_once()
    [request] = receiver.wait_for(1)
    assert request.headers["Idempotency-Key"] == f"{ticket.id}:1:erp"
    assert [row.key for row in web.outbox("delivered")] == [f"{ticket.id}:1:erp"]
    web.close()
    worker_desk.close()


def test_an_inline_subscription_still_delivers_in_the_committing_call() -> None:
    seen: list[str] = []

    def hear(notification: Notification) -> None:
        seen.append(notification.key)

    desk = Desk(clock=FrozenClock(START))
    desk.on_transition(hear, "created", name="inline")
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle leaks")
    assert seen == [f"{ticket.id}:1:inline"]


def test_inline_must_be_a_bool() -> None:
    desk = Desk()
    with pytest.raises(InvalidInput, match="inline"):
        desk.on_message(print, name="x", inline="no")  # type: ignore[arg-type]


def test_a_template_that_cannot_render_is_dead_lettered_at_the_first_attempt() -> None:
    from aftersales.notify.senders import MemorySender, SenderHandler, customer_recipients
    from aftersales.notify.templates import TemplateRender, Templates

    desk = Desk(clock=FrozenClock(START))
    templates = Templates({"opened": {"en": "{{ ticket.resolution.upper() }}"}})
    handler = SenderHandler(
        MemorySender(),
        recipient=customer_recipients(desk, "email"),
        render=TemplateRender(templates, "opened", desk),
    )
    desk.on_transition(handler, "created", name="mail")
    customer = Customer(name="Li", contacts=[{"channel": "email", "address": "li@x.cn"}])
    desk.open_ticket(customer=customer, channel="email", subject="Kettle")
    [row] = desk.outbox("dead")
    assert row.attempts == 1
    assert row.last_error is not None
    assert row.last_error.startswith("DeliveryFailed: cannot render the message")
