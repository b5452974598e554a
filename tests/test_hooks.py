from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from aftersales import (
    DeliveryStatus,
    Desk,
    FrozenClock,
    InvalidInput,
    Notification,
    SQLiteStore,
    Store,
    Ticket,
)
from aftersales.testing import capture_notifications


def _open(desk: Desk) -> Ticket:
    return desk.open_ticket(customer="c1", channel="email", subject="Broken")


class Flaky:
    """A receiver that fails its first ``failures`` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[Notification] = []

    def __call__(self, notification: Notification) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("mail server down")
        self.received.append(notification)


def test_a_handler_runs_after_commit_and_sees_the_committed_state(desk: Desk) -> None:
    seen: list[tuple[str, str]] = []

    def handler(notification: Notification) -> None:
        stored = desk.get(notification.event.subject_id)
        seen.append((notification.event.trigger, stored.status))

    desk.on_transition(handler)
    ticket = _open(desk)
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    assert seen == [("created", "new"), ("classify", "classified")]


def test_handlers_hear_only_what_they_subscribed_to(desk: Desk) -> None:
    resolved: list[str] = []
    classified: list[str] = []
    messages: list[str] = []
    desk.on_enter("resolved", lambda n: resolved.append(n.event.trigger), name="resolved")
    desk.on_transition(lambda n: classified.append(n.event.trigger), "classify", name="classify")
    desk.on_message(lambda n: messages.append(n.event.payload["kind"]), name="messages")
    ticket = _open(desk)
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    desk.assign(ticket.id, assignee="li")
    desk.fire(ticket.id, "start")
    desk.add_message(ticket.id, "note", author_id="li", kind="internal_note")
    desk.resolve(ticket.id, resolution="done")
    assert resolved == ["resolve"]
    assert classified == ["classify", "classify"]
    assert messages == ["internal_note"]


def test_a_subscription_hears_from_when_it_comes_until_it_goes(desk: Desk) -> None:
    """The registry remembers who wants each kind of event: a subscription added or
    removed between two of the same kind is heard, or not, from then on."""
    first: list[int] = []
    second: list[int] = []
    ticket = _open(desk)
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.on_transition(lambda n: first.append(n.event.sequence), "classify", name="first")
    desk.classify(ticket.id, category="repair_warranty", severity="medium")
    desk.on_transition(lambda n: second.append(n.event.sequence), "classify", name="second")
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    desk.unsubscribe("first")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    assert (first, second) == ([3, 4], [4, 5])


def test_a_self_loop_does_not_count_as_entering(desk: Desk) -> None:
    entered: list[str] = []
    desk.on_enter("classified", lambda n: entered.append(n.event.trigger), name="entered")
    ticket = _open(desk)
    desk.classify(ticket.id, category="other", severity="low")
    desk.classify(ticket.id, category="delivery", severity="low")
    assert entered == ["classify"]


def test_a_failing_handler_neither_undoes_the_transition_nor_loses_the_notification(
    desk: Desk, clock: FrozenClock
) -> None:
    mailer = Flaky(failures=1)
    desk.on_enter("resolved", mailer, name="mailer")
    ticket = _open(desk)
    desk.classify(ticket.id, category="other", severity="low")
    desk.assign(ticket.id, assignee="li")
    desk.fire(ticket.id, "start")
    resolved = desk.resolve(ticket.id, resolution="done")
    assert desk.get(ticket.id) == resolved
    (pending,) = desk.outbox("pending")
    assert (pending.attempts, pending.last_error) == (1, "ConnectionError: mail server down")
    assert pending.next_attempt_at == clock.now() + timedelta(seconds=30)
    assert desk.dispatch_outbox().delivered == 0
    clock.advance(seconds=30)
    report = desk.dispatch_outbox()
    assert (report.delivered, report.failed, report.dead) == (1, 0, 0)
    assert [n.event.trigger for n in mailer.received] == ["resolve"]
    assert [n.key for n in desk.outbox(DeliveryStatus.DELIVERED)] == [pending.key]


def test_retries_back_off_and_end_in_dead_letter_with_the_error_kept(clock: FrozenClock) -> None:
    desk = Desk(clock=clock, settings={"max_delivery_attempts": 3, "retry_backoff_seconds": 10})
    desk.on_transition(Flaky(failures=99), name="webhook")
    ticket = _open(desk)
    waits = []
    for _ in range(3):
        (entry,) = desk.outbox("pending") or desk.outbox("dead")
        if entry.status is DeliveryStatus.DEAD:
            break
        waits.append(entry.next_attempt_at - clock.now())
        clock.set(entry.next_attempt_at)
        desk.dispatch_outbox()
    assert waits == [timedelta(seconds=10), timedelta(seconds=20)]
    (dead,) = desk.outbox("dead")
    assert (dead.attempts, dead.last_error, dead.event.subject_id) == (
        3,
        "ConnectionError: mail server down",
        ticket.id,
    )
    clock.advance(days=1)
    assert desk.dispatch_outbox().delivered == 0


def test_a_receiver_failing_30_percent_of_the_time_still_gets_every_message(
    clock: FrozenClock,
) -> None:
    import random

    rng = random.Random(7)
    received: set[str] = set()

    def sometimes(notification: Notification) -> None:
        if rng.random() < 0.3:
            raise TimeoutError("flaky")
        received.add(notification.key)

    desk = Desk(clock=clock, settings={"max_delivery_attempts": 20, "retry_backoff_seconds": 1})
    desk.on_transition(sometimes, name="flaky")
    for _ in range(50):
        ticket = _open(desk)
        desk.classify(ticket.id, category="other", severity="low")
    for _ in range(40):
        clock.advance(hours=1)
        desk.run_due()
    assert len(received) == 100
    assert desk.outbox("pending") == []
    assert desk.outbox("dead") == []


def test_delivery_acknowledgements_are_written_on_flush(desk: Desk) -> None:
    desk.on_transition(lambda n: None, name="quiet")
    _open(desk)
    assert [n.status for n in desk.store.outbox()] == [DeliveryStatus.PENDING]
    desk.flush()
    assert [n.status for n in desk.store.outbox()] == [DeliveryStatus.DELIVERED]


def test_acknowledgements_ride_on_the_next_commit(desk: Desk) -> None:
    desk.on_transition(lambda n: None, name="quiet")
    ticket = _open(desk)
    desk.classify(ticket.id, category="other", severity="low")
    statuses = [n.status for n in desk.store.outbox()]
    assert statuses == [DeliveryStatus.DELIVERED, DeliveryStatus.PENDING]


def test_acknowledgements_survive_a_failed_commit(desk: Desk) -> None:
    desk.on_transition(lambda n: None, name="quiet")
    ticket = _open(desk)
    with pytest.raises(Exception, match="expected version"):
        desk._transition(ticket.model_copy(update={"version": 5}), "cancel", "x", {"reason": "r"})
    desk.flush()
    assert [n.status for n in desk.store.outbox()] == [DeliveryStatus.DELIVERED]


def test_many_deliveries_are_acknowledged_in_batches(clock: FrozenClock) -> None:
    desk = Desk(clock=clock)
    desk.on_transition(lambda n: None, name="a")
    desk.on_transition(lambda n: None, name="b")
    for _ in range(60):
        _open(desk)
    delivered = desk.store.outbox(DeliveryStatus.DELIVERED)
    assert len(delivered) >= 100


def test_idempotency_keys_are_stable_per_event_and_handler(desk: Desk) -> None:
    keys: list[str] = []
    desk.on_transition(lambda n: keys.append(n.key), name="keys")
    ticket = _open(desk)
    assert keys == [f"{ticket.id}:1:keys"]


def test_subscriptions_need_unique_names_and_callables(desk: Desk) -> None:
    desk.on_transition(print, name="dup")
    with pytest.raises(InvalidInput):
        desk.on_transition(print, name="dup")
    with pytest.raises(InvalidInput):
        desk.subscribe("not callable", name="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        desk.subscribe(print, name="")
    with pytest.raises(Exception, match="unknown state"):
        desk.on_enter("limbo", print)
    desk.unsubscribe("dup")
    desk.on_transition(print, name="dup")


def test_the_default_name_is_the_handlers_qualified_name(desk: Desk) -> None:
    def mailer(notification: Notification) -> None:
        del notification

    subscription = desk.on_transition(mailer)
    assert subscription.name.endswith(
        "test_the_default_name_is_the_handlers_qualified_name.<locals>.mailer"
    )


def test_capture_notifications_records_without_calling_handlers(desk: Desk) -> None:
    called: list[str] = []
    desk.on_enter("cancelled", lambda n: called.append(n.key), name="sms")
    with capture_notifications(desk) as captured:
        ticket = _open(desk)
        desk.cancel(ticket.id, reason="spam")
    assert [(n.handler, n.event.trigger) for n in captured] == [("sms", "cancel")]
    assert called == []
    with capture_notifications(desk, deliver=True) as captured:
        desk.cancel(_open(desk).id, reason="spam")
    assert len(captured) == len(called) == 1


def test_a_worker_in_another_process_delivers_what_this_one_could_not(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "shared.db"
    app = Desk(SQLiteStore(path), clock=clock)
    app.on_transition(Flaky(failures=99), name="crm-sync")
    ticket = _open(app)
    app.close()

    worker = Desk(SQLiteStore(path), clock=clock)
    receiver = Flaky(failures=0)
    worker.on_transition(receiver, name="crm-sync")
    clock.advance(minutes=1)
    assert worker.dispatch_outbox().delivered == 1
    assert [n.event.subject_id for n in receiver.received] == [ticket.id]
    worker.close()


def test_a_leased_notification_is_not_taken_by_another_worker(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "shared.db"
    app = Desk(SQLiteStore(path), clock=clock)
    app.on_transition(lambda n: None, name="crm-sync")
    _open(app)  # delivered in-process, acknowledgement not yet flushed
    worker = Desk(SQLiteStore(path), clock=clock)
    received: list[str] = []
    worker.on_transition(lambda n: received.append(n.key), name="crm-sync")
    assert worker.dispatch_outbox().delivered == 0
    app.close()
    clock.advance(hours=1)
    assert worker.dispatch_outbox().delivered == 0
    assert received == []
    worker.close()


def test_a_notification_for_an_unknown_handler_waits_for_a_worker_that_knows_it(
    desk: Desk, clock: FrozenClock
) -> None:
    desk.on_transition(Flaky(failures=1), name="other")
    _open(desk)
    desk.unsubscribe("other")
    clock.advance(hours=1)
    assert desk.dispatch_outbox().delivered == 0
    assert len(desk.outbox("pending")) == 1


def test_outbox_rejects_an_unknown_status(desk: Desk) -> None:
    with pytest.raises(InvalidInput):
        desk.outbox("lost")


def test_a_subscription_to_an_unknown_trigger_or_state_names_the_known_ones(desk: Desk) -> None:
    with pytest.raises(InvalidInput, match=r"unknown trigger 'resolv'.*resolve"):
        desk.on_transition(print, "resolv", name="typo")
    with pytest.raises(InvalidInput, match=r"unknown state 'resolvd'.*resolved"):
        desk.subscribe(print, entered=["resolvd"], name="typo")
    with pytest.raises(InvalidInput, match=r"unknown kind 'tickets'.*ticket"):
        desk.on_transition(print, kinds="tickets", name="typo")
    desk.on_transition(print, "resolve", "sla_breached", "created", name="fine")


def test_on_enter_hears_tickets_unless_it_names_case_kinds(desk: Desk) -> None:
    from case_facts import claim_line

    heard: dict[str, list[str]] = {"ticket": [], "return": [], "all": []}
    desk.on_enter("cancelled", lambda n: heard["ticket"].append(n.event.subject_kind), name="t")
    desk.on_enter(
        "cancelled", lambda n: heard["return"].append(n.event.subject_kind), kinds="return"
    )
    desk.subscribe(
        lambda n: heard["all"].append(n.event.subject_kind), entered="cancelled", name="all"
    )
    with pytest.raises(InvalidInput, match="unknown state 'refunded'"):
        desk.on_enter("refunded", print, name="refunds")  # a ticket is never refunded
    desk.on_enter("refunded", print, kinds=["return", "exchange"], name="refunds")
    ticket = _open(desk)
    case = desk.cases.request_return(ticket.id, order_id="o1", lines=[claim_line()])
    desk.cases.fire(case.id, "cancel", payload={"reason": "changed my mind"})
    desk.cancel(ticket.id, reason="sorted out by phone")
    assert heard == {
        "ticket": ["ticket"],
        "return": ["return"],
        "all": ["return", "ticket"],
    }


def test_a_failed_hooks_error_keeps_its_type_and_at_most_500_characters(desk: Desk) -> None:
    def leaky(notification: Notification) -> None:
        raise ConnectionError("customer 13800138000 " + "x" * 10_000)

    desk.on_transition(leaky, name="leaky")
    _open(desk)
    [failed] = desk.outbox("pending")
    assert failed.last_error is not None
    assert failed.last_error.startswith("ConnectionError: customer 13800138000 xxx")
    assert len(failed.last_error) <= len("ConnectionError: ") + 500


def test_a_crashed_writers_notifications_are_delivered_seconds_later(
    store: Store, clock: FrozenClock
) -> None:
    writer = Desk(store, clock=clock)

    def dies(notification: Notification) -> None:
        raise KeyboardInterrupt  # the process is killed between commit and delivery

    writer.on_transition(dies, name="mailer")
    with pytest.raises(KeyboardInterrupt):
        _open(writer)
    worker = Desk(store, clock=clock)
    delivered: list[str] = []
    worker.on_transition(lambda n: delivered.append(n.event.trigger), name="mailer")
    assert worker.dispatch_outbox(clock.now()).delivered == 0  # still the writer's
    report = worker.dispatch_outbox(clock.now() + timedelta(seconds=11))
    assert (report.delivered, delivered) == (1, ["created"])


def test_inline_delivery_leases_for_seconds_and_worker_claims_for_the_delivery_lease(
    store: Store, clock: FrozenClock
) -> None:
    desk = Desk(store, clock=clock, settings={"delivery_lease_seconds": 120})
    leases: list[object] = []

    def handler(notification: Notification) -> None:
        [row] = desk.outbox("pending")
        leases.append(row.lease_until)
        if len(leases) == 1:
            raise ConnectionError("down")

    desk.on_transition(handler, name="h")
    _open(desk)
    start = clock.now()
    assert desk.dispatch_outbox(start + timedelta(seconds=60)).delivered == 1
    assert leases == [start + timedelta(seconds=10), start + timedelta(seconds=180)]


@pytest.mark.parametrize("limit", [-1, 0, 2**70, "", 1.5, True, None])
def test_dispatch_outbox_refuses_a_limit_that_is_not_a_count(desk: Desk, limit: object) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        desk.dispatch_outbox(limit=limit)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    [[], ["x"], "\ud800", "", "x" * 201, 5],
    ids=["list", "list-of-str", "lone-surrogate", "empty", "too-long", "int"],
)
def test_subscription_names_that_are_not_short_text_are_refused(desk: Desk, name: object) -> None:
    with pytest.raises(InvalidInput, match="name"):
        desk.subscribe(print, name=name)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="name"):
        desk.unsubscribe(name)  # type: ignore[arg-type]


def test_a_subscription_can_name_a_case_kind_the_desk_registers(desk: Desk) -> None:
    subscription = desk.on_enter("completed", lambda n: None, kinds="visit", name="visits")
    assert subscription.kinds == frozenset({"visit"})
    known = r"visit, survey, return_visit, coupon, care, all"
    with pytest.raises(InvalidInput, match=rf"unknown kind 'visits'; .*{known}"):
        desk.on_transition(print, kinds="visits", name="typo")


def test_the_old_service_module_still_exports_the_desk_and_its_reports() -> None:
    from aftersales import service

    assert service.Desk is Desk
    assert {"CustomerHistory", "DispatchReport", "DueReport", "SLAReportRow", "fold_events"} <= (
        set(service.__all__)
    )


def _customer_desk(clock: FrozenClock, sender: object, **settings: object) -> tuple[Desk, Ticket]:
    from aftersales import Customer
    from aftersales.notify.senders import SenderHandler, customer_recipients

    desk = Desk(clock=clock, settings=settings)
    handler = SenderHandler(sender, recipient=customer_recipients(desk, "sms"))  # type: ignore[arg-type]
    desk.subscribe(handler, kinds="all", triggers=["created"], name="sms")
    customer = Customer(
        name="Wang Fang", contacts=[{"channel": "sms", "address": "+8613800000000"}]
    )
    return desk, desk.open_ticket(customer=customer, channel="sms", subject="快递丢了")


def test_a_sender_gets_each_event_rendered_for_the_customer_of_its_subject(
    clock: FrozenClock,
) -> None:
    from aftersales.notify.senders import MemorySender

    sender = MemorySender()
    desk, ticket = _customer_desk(clock, sender)
    complaint = desk.cases.open_complaint(ticket.id, summary="The parcel never came")
    assert [(m.recipient.address, m.event.subject_kind, m.body) for m in sender.sent] == [
        ("+8613800000000", "ticket", f"Ticket #{ticket.number}: new"),
        (
            "+8613800000000",
            "complaint",
            f"Complaint {complaint.id} (ticket #{ticket.number}): received",
        ),
    ]
    desk.flush()
    assert sorted(m.key for m in sender.sent) == sorted(n.key for n in desk.outbox("delivered"))


def test_a_failing_sender_is_retried_through_the_outbox_then_dead_lettered(
    clock: FrozenClock,
) -> None:
    from aftersales.notify.senders import MemorySender, OutgoingMessage

    def provider_down(message: OutgoingMessage) -> None:
        raise ConnectionError("SMS gateway down")

    sender = MemorySender(respond=provider_down)
    desk, _ = _customer_desk(clock, sender, max_delivery_attempts=2, retry_backoff_seconds=60)
    (pending,) = desk.outbox("pending")
    assert (pending.attempts, pending.last_error) == (1, "ConnectionError: SMS gateway down")
    clock.advance(seconds=60)
    assert desk.dispatch_outbox().dead == 1
    (dead,) = desk.outbox("dead")
    assert (dead.key, dead.attempts, len(sender.failed), sender.sent) == (pending.key, 2, 2, [])


def test_a_sender_that_recovers_delivers_what_failed(clock: FrozenClock) -> None:
    from aftersales.notify.senders import MemorySender, OutgoingMessage

    down = [True]

    def flaky(message: OutgoingMessage) -> None:
        if down[0]:
            raise ConnectionError("timeout")

    sender = MemorySender(respond=flaky)
    desk, ticket = _customer_desk(clock, sender)
    down[0] = False
    clock.advance(seconds=30)
    assert desk.dispatch_outbox().delivered == 1
    assert [m.event.subject_id for m in sender.sent] == [ticket.id]
