"""The relay loop with a broker in memory: order per subject under failures, waiting,
dead-lettering, other handlers' rows, configuration errors, stopping."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from relay_support import RecordingPublisher

from aftersales import AftersalesError, DeliveryFailed, Desk, FrozenClock, InvalidInput
from aftersales.relay import BrokerMessage, Relay, Route, message_body
from aftersales.worker import Worker


def _ticket(desk: Desk, n: int = 0) -> str:
    """A ticket with three notifications for the relay (created, classify, assign)."""
    ticket = desk.open_ticket(customer=f"c-{n}", channel="email", subject=f"Parcel {n}")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="agent-7")
    return ticket.id


def _keys(subject: str, *sequences: int) -> list[str]:
    return [f"{subject}:{sequence}:broker" for sequence in sequences]


def _of(publisher: RecordingPublisher, subject: str) -> list[str]:
    return [key for key in publisher.keys if key.startswith(f"{subject}:")]


def test_publishes_every_notification_once_in_event_order_with_its_key(desk: Desk) -> None:
    publisher = RecordingPublisher()
    relay = Relay(desk, publisher)
    tickets = [_ticket(desk, n) for n in range(3)]

    result = relay.run_once()

    assert result.published == 9
    for ticket in tickets:
        assert _of(publisher, ticket) == _keys(ticket, 1, 2, 3)
    first = publisher.sent[0]
    body = json.loads(first.body)
    assert first.subject == f"ticket:{body['subject_id']}"
    assert (first.exchange, first.destination) == ("exchange", "destination")
    assert body["key"] == first.key
    assert set(body) == {
        "key",
        "subject_kind",
        "subject_id",
        "sequence",
        "trigger",
        "from_state",
        "to_state",
        "actor",
        "payload",
        "occurred_at",
    }
    assert [n.status.value for n in desk.outbox()] == ["delivered"] * 9
    assert relay.run_once().published == 0


def test_the_message_body_is_the_event_as_json(desk: Desk) -> None:
    relay = Relay(desk, RecordingPublisher())
    ticket = _ticket(desk)
    classify = next(n for n in desk.outbox() if n.event.sequence == 2)

    body = json.loads(message_body(classify))

    assert body == {
        "key": f"{ticket}:2:broker",
        "subject_kind": "ticket",
        "subject_id": ticket,
        "sequence": 2,
        "trigger": "classify",
        "from_state": "new",
        "to_state": "classified",
        "actor": "system",
        "payload": classify.event.payload,
        "occurred_at": "2024-03-04T09:00:00Z",
    }
    assert relay.message(classify).body == message_body(classify)


def test_a_failed_notification_holds_back_the_later_ones_of_its_subject_until_it_is_published(
    desk: Desk, clock: FrozenClock
) -> None:
    publisher = RecordingPublisher()
    relay = Relay(desk, publisher)
    held, other = _ticket(desk, 1), _ticket(desk, 2)
    publisher.failing[f"{held}:2:broker"] = DeliveryFailed("broker busy", retry_after=60)

    first = relay.run_once()

    assert (first.published, first.failed) == (4, 1)
    assert _of(publisher, held) == _keys(held, 1)
    assert _of(publisher, other) == _keys(other, 1, 2, 3)
    # the earlier one waits for its retry: the later one is claimed, waits, is given back
    again = relay.run_once()
    assert (again.published, again.waiting) == (0, 1)
    # a notification created meanwhile waits too
    desk.fire(held, "start")
    assert relay.run_once().waiting == 2
    assert _of(publisher, held) == _keys(held, 1)

    del publisher.failing[f"{held}:2:broker"]
    clock.advance(timedelta(seconds=61))
    relay.run_once()

    assert _of(publisher, held) == _keys(held, 1, 2, 3, 4)
    assert desk.outbox("pending") == []
    failed = next(n for n in desk.outbox() if n.key == f"{held}:2:broker")
    assert failed.attempts == 1
    assert failed.last_error == "DeliveryFailed: broker busy"


def test_a_notification_another_relay_holds_keeps_the_later_ones_of_its_subject_waiting(
    desk: Desk, clock: FrozenClock
) -> None:
    publisher = RecordingPublisher()
    relay = Relay(desk, publisher)
    ticket = _ticket(desk)
    now = clock.now()
    claimed = desk.store.claim_outbox(now, now + timedelta(seconds=300), 10)
    later = [n.key for n in claimed if n.event.sequence > 1]
    desk.store.release_outbox(later, now)  # another relay keeps only the first

    result = relay.run_once()

    assert (result.published, result.waiting) == (0, 2)
    assert publisher.sent == []
    clock.advance(timedelta(seconds=301))  # that relay died: its lease runs out
    relay.run_once()
    assert publisher.keys == _keys(ticket, 1, 2, 3)


def test_a_permanent_failure_is_dead_lettered_and_no_longer_holds_its_subject_back(
    desk: Desk,
) -> None:
    publisher = RecordingPublisher()
    relay = Relay(desk, publisher)
    ticket = _ticket(desk)
    publisher.failing[f"{ticket}:1:broker"] = DeliveryFailed("too large", permanent=True)

    first = relay.run_once()
    second = relay.run_once()

    assert (first.dead, first.published, second.published) == (1, 0, 2)
    assert publisher.keys == _keys(ticket, 2, 3)
    assert [n.key for n in desk.outbox("dead")] == _keys(ticket, 1)


def test_a_notification_failing_max_delivery_attempts_times_is_dead_lettered(
    clock: FrozenClock,
) -> None:
    desk = Desk(clock=clock, settings={"max_delivery_attempts": 2})
    publisher = RecordingPublisher()
    relay = Relay(desk, publisher, kinds="ticket", triggers="created")
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Hi")
    publisher.failing[f"{ticket.id}:1:broker"] = DeliveryFailed("down")

    assert relay.run_once().failed == 1
    clock.advance(timedelta(days=1))
    assert relay.run_once().dead == 1
    assert len(desk.outbox("dead")) == 1


def test_a_broken_publisher_fails_the_batch_for_a_retry(desk: Desk) -> None:
    class Broken(RecordingPublisher):
        def publish(self, messages: object) -> list[Exception | None]:
            raise ConnectionError("refused")

    relay = Relay(desk, Broken())
    _ticket(desk)

    result = relay.run_once()

    assert (result.published, result.failed) == (0, 1)
    assert [n.last_error for n in desk.outbox() if n.attempts] == ["ConnectionError: refused"]


def test_a_publisher_that_answers_too_few_leaves_the_rest_for_later(desk: Desk) -> None:
    class Short(RecordingPublisher):
        def publish(self, messages: object) -> list[Exception | None]:
            return []

    relay = Relay(desk, Short())
    _ticket(desk)

    assert relay.run_once().published == 0
    assert [n.attempts for n in desk.outbox("pending")] == [0, 0, 0]


def test_a_kind_without_a_route_is_dead_lettered_and_never_sent(desk: Desk) -> None:
    class Routed(RecordingPublisher):
        routes = Route("stream", {"return": "returns"})

        def route(self, notification: object) -> tuple[str, str]:
            return "", self.routes.for_kind(notification.event.subject_kind)  # type: ignore[attr-defined]

    publisher = Routed()
    relay = Relay(desk, publisher)
    _ticket(desk)

    result = relay.run_once()

    assert (result.dead, publisher.sent) == (1, [])
    assert "no stream for subject kind 'ticket' (routes: return)" in (
        desk.outbox("dead")[0].last_error or ""
    )


class KindRouted(RecordingPublisher):
    """A publisher that routes only the kinds of its stream mapping, and says so."""

    def __init__(self, streams: dict[str, str]) -> None:
        super().__init__()
        self.streams = Route("stream", streams)

    def route(self, notification: object) -> tuple[str, str]:
        return self.route_for_kind(notification.event.subject_kind)  # type: ignore[attr-defined]

    def route_for_kind(self, kind: str) -> tuple[str, str]:
        return "", self.streams.for_kind(kind)


@pytest.mark.parametrize("kinds", ["ticket", "all", ["ticket", "return"]])
def test_a_relay_whose_publisher_routes_none_of_its_kinds_is_refused(
    desk: Desk, kinds: object
) -> None:
    publisher = KindRouted({"tickets": "shop.tickets"})  # a typo: no such kind

    with pytest.raises(InvalidInput) as raised:
        Relay(desk, publisher, kinds=kinds)  # type: ignore[arg-type]

    assert raised.value.errors[0].location == ("kinds",)
    assert "no stream for subject kind 'ticket'" in raised.value.errors[0].message
    _ticket(desk)
    assert desk.outbox() == []  # unsubscribed: nothing written, nothing dead-lettered
    Relay(desk, KindRouted({"ticket": "shop.tickets"}))  # the name is free again


def test_a_relay_whose_publisher_routes_one_of_its_kinds_is_accepted(desk: Desk) -> None:
    publisher = KindRouted({"return": "shop.returns"})

    relay = Relay(desk, publisher, kinds=["ticket", "return"])
    _ticket(desk)

    assert relay.run_once().dead == 1  # the ticket's row: its kind has no stream


def test_other_handlers_rows_are_given_back_for_the_worker_that_delivers_them(
    desk: Desk,
) -> None:
    emailed: list[str] = []
    desk.on_transition(lambda n: emailed.append(n.key), "created", name="email", inline=False)
    publisher = RecordingPublisher()
    relay = Relay(desk, publisher, batch=2)
    for n in range(3):
        _ticket(desk, n)

    result = relay.run_once()

    assert result.published == 9
    pending = desk.outbox("pending")
    assert [(n.handler, n.lease_until) for n in pending] == [("email", None)] * 3
    assert Worker(Desk(desk.store)).run_once().dispatch.delivered == 0  # no email handler
    desk.dispatch_outbox()
    assert len(emailed) == 3


def test_a_worker_on_the_desk_delivers_through_the_relay_one_at_a_time(
    desk: Desk, clock: FrozenClock
) -> None:
    publisher = RecordingPublisher()
    Relay(desk, publisher)
    ticket = _ticket(desk)
    publisher.failing[f"{ticket}:1:broker"] = DeliveryFailed("down")

    Worker(desk).run_once()
    assert publisher.sent == []
    waiting = [n for n in desk.outbox("pending") if n.event.sequence > 1]
    # only waiting: given back, no attempt counted, no error recorded
    assert [(n.attempts, n.last_error, n.lease_until) for n in waiting] == [(0, None, None)] * 2

    del publisher.failing[f"{ticket}:1:broker"]
    clock.advance(timedelta(seconds=31))
    Worker(desk).run_once()
    clock.advance(timedelta(seconds=61))
    Worker(desk).run_once()
    assert publisher.keys == _keys(ticket, 1, 2, 3)


def test_on_the_dispatch_path_rows_that_only_wait_are_never_dead_lettered(
    desk: Desk, clock: FrozenClock
) -> None:
    publisher = RecordingPublisher()
    Relay(desk, publisher)
    ticket = _ticket(desk)
    publisher.failing[f"{ticket}:1:broker"] = DeliveryFailed("down")

    for _ in range(desk.settings.max_delivery_attempts + 2):
        desk.dispatch_outbox()
        clock.advance(timedelta(days=1))

    dead = desk.outbox("dead")
    assert [n.key for n in dead] == _keys(ticket, 1)  # the failing one only
    assert publisher.keys == _keys(ticket, 2, 3)  # the rest once it no longer holds them
    assert [n.attempts for n in desk.outbox("delivered")] == [0, 0]


def test_a_dispatch_pass_publishes_a_subjects_rows_in_order_in_one_go(desk: Desk) -> None:
    # dispatch_outbox acknowledges its deliveries at the end of the pass: the rows it
    # delivered before count as done for the later ones of their subject
    publisher = RecordingPublisher()
    Relay(desk, publisher)
    ticket = _ticket(desk)

    report = desk.dispatch_outbox()

    assert (report.delivered, report.failed, report.released) == (3, 0, 0)
    assert publisher.keys == _keys(ticket, 1, 2, 3)


def test_rows_claimed_past_half_their_lease_are_given_back_unpublished(desk: Desk) -> None:
    publisher = RecordingPublisher()
    relay = Relay(desk, publisher)
    _ticket(desk)
    ticks = iter([0.0, 0.0, 0.0, 1_000.0])
    relay.monotonic = lambda: next(ticks, 1_000.0)

    result = relay.run_once()

    assert (result.published, publisher.sent) == (0, [])
    assert [n.lease_until for n in desk.outbox("pending")] == [None] * 3


def test_a_stopped_relay_claims_nothing(desk: Desk) -> None:
    relay = Relay(desk, RecordingPublisher())
    _ticket(desk)
    relay.request_stop()

    result = relay.run_once()

    assert (result.stopped, result.batches, relay.stopping) == (True, 0, True)
    assert [n.lease_until for n in desk.outbox("pending")] == [None] * 3


def test_run_forever_relays_until_asked_to_stop_and_survives_a_failing_pass(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    relay: Relay

    class StopsAfterOne(RecordingPublisher):
        def publish(self, messages: list[BrokerMessage]) -> list[Exception | None]:
            relay.request_stop()
            return super().publish(messages)

    publisher = StopsAfterOne()
    relay = Relay(desk, publisher, interval=0.01)
    claim = desk.store.claim_outbox
    calls = iter([ConnectionError("database gone")])

    def flaky(*arguments: object) -> object:
        failure = next(calls, None)
        if failure is not None:
            raise failure
        return claim(*arguments)  # type: ignore[arg-type]

    desk.store.claim_outbox = flaky  # type: ignore[method-assign]
    _ticket(desk)

    with caplog.at_level("INFO", logger="aftersales.relay"):
        relay.run_forever()

    assert len(publisher.sent) == 3
    assert "relay pass failed" in caplog.text
    assert "3 published" in caplog.text


def test_sigterm_asks_the_relay_to_stop(desk: Desk) -> None:
    relay = Relay(desk, RecordingPublisher())
    before = signal.getsignal(signal.SIGTERM)
    restore = relay.install_signal_handlers()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert relay.stopping
        relay.run_forever()  # returns at once
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_landing_while_the_wait_holds_its_lock_stops_the_relay() -> None:
    # the lock threading.Event.wait holds in the main thread is held while SIGTERM lands:
    # a handler taking it (Event.set) would wait for itself forever
    script = textwrap.dedent(
        """
        import os, signal

        from aftersales import Desk
        from aftersales.relay import Relay


        class Broker:
            def publish(self, messages):
                return [None] * len(messages)

            def close(self):
                pass


        relay = Relay(Desk(), Broker(), interval=3600)
        relay.install_signal_handlers()
        with relay._stop._wake._cond:
            os.kill(os.getpid(), signal.SIGTERM)
            assert relay.stopping
        relay.run_forever()  # an hour's interval: only the stop ends it
        print("stopped")
        """
    )

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )

    assert (done.returncode, done.stdout.strip()) == (0, "stopped"), done.stderr[-2000:]


def test_signal_handlers_need_the_main_thread(desk: Desk) -> None:
    relay = Relay(desk, RecordingPublisher())
    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: _try(relay.install_signal_handlers, errors))
    thread.start()
    thread.join()
    assert [type(e) for e in errors] == [AftersalesError]


def _try(function: object, errors: list[BaseException]) -> None:
    try:
        function()  # type: ignore[operator]
    except BaseException as error:  # noqa: BLE001 - handed to the test
        errors.append(error)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"interval": 0}, "interval"),
        ({"interval": float("nan")}, "interval"),
        ({"interval": True}, "interval"),
        ({"batch": 0}, "batch"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_relay_settings_raise_invalid_input(
    desk: Desk, options: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        Relay(desk, RecordingPublisher(), **options)  # type: ignore[arg-type]
    assert raised.value.errors[0].location == (field,)
    assert desk.outbox() == []


def test_a_publisher_without_publish_is_refused(desk: Desk) -> None:
    with pytest.raises(InvalidInput, match="publish"):
        Relay(desk, object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a.{other}",
        "a.{}",
        "a.{kind",
        "a.kind}",
        # str.format would read these as a brace or as {kind}; the name is filled by
        # replacing the literal {kind} only, so they are refused rather than misnamed
        "{{shop}}.{kind}",
        "a.{kind!s}",
        "a.{kind:>6}",
        {},
        {"": "x"},
        {"ticket": ""},
        {"ticket": 7},
        {"ticket": "t.{kind!r}"},
        7,
    ],
)
def test_a_bad_route_raises_invalid_input(value: object) -> None:
    with pytest.raises(InvalidInput):
        Route("stream", value)  # type: ignore[arg-type]


def test_a_route_names_each_kind() -> None:
    assert Route("stream", "as.{kind}").for_kind("return") == "as.return"
    mapped = Route("stream", {"ticket": "tickets", "*": "cases.{kind}"})
    assert (mapped.for_kind("ticket"), mapped.for_kind("refund")) == ("tickets", "cases.refund")
    with pytest.raises(DeliveryFailed) as raised:
        Route("stream", {"ticket": "t"}).for_kind("refund")
    assert raised.value.permanent


@given(st.lists(st.sampled_from("abcd"), max_size=40))
def test_waves_send_each_subjects_messages_in_order_one_at_a_time(subjects: list[str]) -> None:
    from aftersales.relay._message import waves_by_subject

    messages = [BrokerMessage(f"k{i}", s, "d", b"{}") for i, s in enumerate(subjects)]
    waves = waves_by_subject(messages)
    assert sorted(i for wave in waves for i in wave) == list(range(len(messages)))
    for wave in waves:  # never two of a subject in flight
        assert len({messages[i].subject for i in wave}) == len(wave)
    for subject in set(subjects):  # a subject's n-th message goes in the n-th wave
        sent = [i for wave in waves for i in wave if messages[i].subject == subject]
        assert sent == [i for i, s in enumerate(subjects) if s == subject]
        assert all(sent[n] in waves[n] for n in range(len(sent)))
