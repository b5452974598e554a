"""The relay on a real NATS server with JetStream (``AFTERSALES_TEST_NATS_URL``,
nats://127.0.0.1:4222 by default; every test its own stream and subjects): messages
acknowledged by the stream with the key as ``Nats-Msg-Id``, copies dropped by the
stream's duplicate window, refusals retried then dead-lettered, order per subject, and a
relay killed at random that loses nothing and, thanks to the ids, stores no copy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Coroutine, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from relay_nats_app import write_tickets
from relay_support import TIMEOUT, unique, wait_for
from servers import no_server

from aftersales import DeliveryFailed, Desk, FrozenClock, InvalidInput
from aftersales.relay import BrokerMessage, HeldBack, NatsJetStreamPublisher, Relay
from aftersales.storage import SQLiteStore

nats = pytest.importorskip("nats", reason='needs the relay extra: pip install "aftersales[relay]"')

VARIABLE = "AFTERSALES_TEST_NATS_URL"
DEFAULT_URL = "nats://127.0.0.1:4222"
HERE = Path(__file__).parent

_T = TypeVar("_T")


class JetStream:
    """A connection of the test's own, to look at streams (on a loop of its own, run
    for each call)."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = self.run(nats.connect(url, connect_timeout=5, allow_reconnect=False))
        self.js = self.client.jetstream()

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return self.loop.run_until_complete(coroutine)

    def count(self, stream: str) -> int:
        return int(self.run(self.js.stream_info(stream)).state.messages)

    def messages(self, stream: str) -> list[Any]:
        """Every message the stream stores, in its order."""
        last = self.run(self.js.stream_info(stream)).state.last_seq
        return [self.run(self.js.get_msg(stream, seq)) for seq in range(1, last + 1)]

    def delete(self, stream: str) -> None:
        from nats.js.errors import NotFoundError

        with contextlib.suppress(NotFoundError):  # not made yet
            self.run(self.js.delete_stream(stream))

    def close(self) -> None:
        self.run(self.client.close())
        self.loop.close()


def nats_url() -> str:
    """The NATS server's URL; skip (fail in CI) when none answers."""
    url = os.environ.get(VARIABLE, DEFAULT_URL)
    try:
        JetStream(url).close()
    except Exception as error:  # noqa: BLE001 - any failure to connect means "no server"
        no_server("NATS", url, VARIABLE, error)
    return url


@pytest.fixture
def url() -> str:
    return nats_url()


@pytest.fixture
def jet(url: str) -> Iterator[JetStream]:
    connection = JetStream(url)
    yield connection
    connection.close()


@pytest.fixture
def names(jet: JetStream) -> Iterator[tuple[str, str]]:
    """This test's stream and subject prefix; the stream is deleted afterwards."""
    name = unique("relay-test").replace("-", "_")
    stream, prefix = name.upper(), name
    yield stream, prefix
    jet.delete(stream)


def _publisher(url: str, names: tuple[str, str], **options: Any) -> NatsJetStreamPublisher:
    stream, prefix = names
    options.setdefault("subject", f"{prefix}.{{kind}}")
    return NatsJetStreamPublisher(url, stream=stream, subjects=[f"{prefix}.>"], **options)


def _ticket(desk: Desk, n: int = 0) -> str:
    ticket = desk.open_ticket(customer=f"c-{n}", channel="email", subject=f"Parcel {n}")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="agent-7")
    return ticket.id


def _consume(messages: list[Any], processed: set[str]) -> list[dict[str, Any]]:
    """The consumer of the how-to guide: the events of the messages whose
    ``Nats-Msg-Id`` it has not processed yet."""
    events = []
    for message in messages:
        key = message.headers["Nats-Msg-Id"]
        if key not in processed:
            events.append(json.loads(message.data))
            processed.add(key)
    return events


def test_each_notification_is_a_stored_message_of_its_kinds_subject_with_its_key_as_msg_id(
    desk: Desk, url: str, names: tuple[str, str], jet: JetStream
) -> None:
    stream, prefix = names
    relay = Relay(desk, _publisher(url, names))
    tickets = [_ticket(desk, n) for n in range(2)]

    assert relay.run_once().published == 6

    messages = jet.messages(stream)
    assert sorted(m.headers["Nats-Msg-Id"] for m in messages) == sorted(
        f"{t}:{s}:broker" for t in tickets for s in (1, 2, 3)
    )
    for message in messages:
        body = json.loads(message.data)
        assert message.subject == f"{prefix}.ticket"
        assert body["key"] == message.headers["Nats-Msg-Id"]
    for ticket in tickets:
        mine = [json.loads(m.data)["sequence"] for m in messages if ticket in m.data.decode()]
        assert mine == [1, 2, 3]
    assert desk.outbox("pending") == []
    relay.publisher.close()


def test_a_copy_published_again_is_dropped_by_the_streams_duplicate_window(
    url: str, names: tuple[str, str], jet: JetStream
) -> None:
    stream, prefix = names
    publisher = _publisher(url, names)
    first, second = (
        BrokerMessage(f"t-1:{n}:broker", "ticket:t-1", f"{prefix}.ticket", b'{"n": %d}' % n)
        for n in (1, 2)
    )

    assert publisher.publish([first, second]) == [None, None]
    # a relay killed before it acknowledged them publishes them again
    assert publisher.publish([first, second]) == [None, None]

    messages = jet.messages(stream)
    assert [m.headers["Nats-Msg-Id"] for m in messages] == ["t-1:1:broker", "t-1:2:broker"]
    assert publisher.duplicates == 2
    assert [event["n"] for event in _consume(messages, set())] == [1, 2]
    publisher.close()


def test_a_consumer_drops_copies_the_window_let_through_by_their_key(
    url: str, names: tuple[str, str], jet: JetStream
) -> None:
    stream, prefix = names
    # a one-second window: a copy published after it is stored again
    publisher = _publisher(url, names, duplicate_window=1)
    message = BrokerMessage("t-1:1:broker", "ticket:t-1", f"{prefix}.ticket", b'{"n": 1}')
    publisher.publish([message])
    info = jet.run(jet.js.stream_info(stream))
    assert info.config.duplicate_window == 1

    def stored_again() -> bool:
        publisher.publish([message])
        return jet.count(stream) == 2

    wait_for(stored_again, "the duplicate window to run out")

    assert [e["n"] for e in _consume(jet.messages(stream), set())] == [1]
    publisher.close()


def test_a_subject_no_stream_stores_is_retried_then_dead_lettered_keeping_its_order(
    clock: FrozenClock, url: str, names: tuple[str, str], jet: JetStream
) -> None:
    stream, prefix = names
    desk = Desk(clock=clock, settings={"max_delivery_attempts": 2})
    publisher = _publisher(url, names, subject={"ticket": f"outside_{prefix}.{{kind}}"})
    relay = Relay(desk, publisher)
    ticket = _ticket(desk)

    first = relay.run_once()

    assert (first.published, first.failed, first.dead) == (0, 1, 0)
    [tried] = [n for n in desk.outbox() if n.attempts]
    assert tried.key == f"{ticket}:1:broker"
    assert tried.last_error is not None
    assert f"no JetStream stream stores subject 'outside_{prefix}.ticket'" in tried.last_error
    assert [n.attempts for n in desk.outbox("pending")] == [1, 0, 0]  # the rest waited
    clock.advance(timedelta(seconds=31))

    second = relay.run_once()

    assert second.dead == 1
    [dead] = desk.outbox("dead")
    assert dead.key == f"{ticket}:1:broker"
    assert jet.count(stream) == 0
    publisher.close()


def test_in_one_batch_a_refused_message_holds_back_only_its_own_subject(
    url: str, names: tuple[str, str], jet: JetStream
) -> None:
    stream, prefix = names
    publisher = _publisher(url, names)
    fine, outside = f"{prefix}.ticket", f"outside_{prefix}.ticket"
    messages = [
        BrokerMessage("a:1:broker", "ticket:a", outside, b"{}"),
        BrokerMessage("b:1:broker", "ticket:b", fine, b"{}"),
        BrokerMessage("a:2:broker", "ticket:a", fine, b"{}"),
        BrokerMessage("b:2:broker", "ticket:b", fine, b"{}"),
    ]

    results = publisher.publish(messages)

    assert isinstance(results[0], DeliveryFailed)
    assert not results[0].permanent
    assert (results[1], results[3]) == (None, None)
    assert isinstance(results[2], HeldBack)
    assert [m.headers["Nats-Msg-Id"] for m in jet.messages(stream)] == [
        "b:1:broker",
        "b:2:broker",
    ]
    publisher.close()


def test_a_missing_stream_not_to_be_created_fails_every_message_for_a_retry(
    url: str, names: tuple[str, str]
) -> None:
    _, prefix = names
    publisher = _publisher(url, names, create_stream=False)
    message = BrokerMessage("a:1:broker", "ticket:a", f"{prefix}.ticket", b"{}")

    results = publisher.publish([message, message])

    assert [type(r) for r in results] == [DeliveryFailed, DeliveryFailed]
    assert "NotFoundError" in str(results[0])
    publisher.close()


def test_an_existing_stream_is_used_as_it_is(
    url: str, names: tuple[str, str], jet: JetStream
) -> None:
    stream, prefix = names
    jet.run(jet.js.add_stream(name=stream, subjects=[f"{prefix}.>"], duplicate_window=600))
    publisher = _publisher(url, names)
    message = BrokerMessage("a:1:broker", "ticket:a", f"{prefix}.ticket", b"{}")

    assert publisher.publish([message, message]) == [None, None]

    info = jet.run(jet.js.stream_info(stream))
    assert (info.config.duplicate_window, info.state.messages) == (600, 1)
    publisher.close()


def test_nats_unreachable_fails_every_message_for_a_retry() -> None:
    publisher = NatsJetStreamPublisher("nats://127.0.0.1:1", timeout=2)
    message = BrokerMessage("a:1:broker", "ticket:a", "aftersales.ticket", b"{}")

    results = publisher.publish([message, message])

    assert [type(r) for r in results] == [DeliveryFailed, DeliveryFailed]
    assert "NATS: NoServersError" in str(results[0])
    assert publisher.publish([]) == []
    publisher.close()


def test_a_client_of_your_own_is_used_on_its_loop_and_left_open(
    url: str, names: tuple[str, str], jet: JetStream
) -> None:
    stream, prefix = names
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    client = asyncio.run_coroutine_threadsafe(nats.connect(url), loop).result(TIMEOUT)
    try:
        publisher = NatsJetStreamPublisher(
            client=client, loop=loop, stream=stream, subjects=[f"{prefix}.>"]
        )
        message = BrokerMessage("a:1:broker", "ticket:a", f"{prefix}.ticket", b"{}")
        assert publisher.publish([message]) == [None]
        publisher.close()

        assert client.is_connected
        assert publisher.publish([message]) == [None]  # still the same client
        assert publisher.duplicates == 1
        assert jet.count(stream) == 1

        async def from_the_clients_loop() -> list[Any]:
            return publisher.publish([message])  # would wait for this very loop

        [refused] = asyncio.run_coroutine_threadsafe(from_the_clients_loop(), loop).result(TIMEOUT)
        assert isinstance(refused, DeliveryFailed)
        assert "own event loop" in str(refused)
    finally:
        asyncio.run_coroutine_threadsafe(client.close(), loop).result(TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT)
        loop.close()


def test_a_publisher_reconnects_after_close(
    url: str, names: tuple[str, str], jet: JetStream
) -> None:
    stream, prefix = names
    publisher = _publisher(url, names)
    message = BrokerMessage("a:1:broker", "ticket:a", f"{prefix}.ticket", b"{}")
    assert publisher.publish([message]) == [None]
    publisher.close()

    assert publisher.publish([message]) == [None]

    assert (publisher.duplicates, jet.count(stream)) == (1, 1)
    publisher.close()


def test_a_kind_without_a_subject_is_refused_when_the_relay_is_built(url: str) -> None:
    publisher = NatsJetStreamPublisher(url, subject={"case": "shop.{kind}"})

    with pytest.raises(InvalidInput) as raised:
        Relay(Desk(), publisher, kinds=["ticket"])

    assert raised.value.errors[0].location == ("kinds",)
    with pytest.raises(DeliveryFailed) as refused:
        publisher.route_for_kind("ticket")
    assert refused.value.permanent


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"url": None}, "url"),
        ({"url": "redis://127.0.0.1:4222"}, "url"),
        ({"url": "nats://"}, "url"),
        ({"url": "nats://127.0.0.1:99999"}, "url"),
        ({"url": "nats://127.0.0.1:port"}, "url"),
        ({"loop": object()}, "loop"),  # a loop without a client
        ({"client": object()}, "loop"),  # a client without its loop
        ({"stream": "shop.tickets"}, "stream"),
        ({"stream": ""}, "stream"),
        ({"subjects": []}, "subjects"),
        ({"subjects": "aftersales.>"}, "subjects"),
        ({"subjects": ["a.>.b"]}, ("subjects", "0")),
        ({"subject": "shop.*"}, "subject"),
        ({"subject": "shop..{kind}"}, "subject"),
        ({"subject": {"ticket": "shop tickets"}}, ("subject", "ticket")),
        ({"subject": "{queue}"}, "subject"),
        ({"duplicate_window": 0}, "duplicate_window"),
        ({"duplicate_window": True}, "duplicate_window"),
        ({"duplicate_window": 31 * 86_400}, "duplicate_window"),
        ({"timeout": -1}, "timeout"),
    ],
)
def test_bad_settings_raise_invalid_input(
    options: dict[str, Any], field: str | tuple[str, ...]
) -> None:
    with pytest.raises(InvalidInput) as raised:
        NatsJetStreamPublisher(**options)
    assert raised.value.errors[0].location == ((field,) if isinstance(field, str) else field)


@pytest.mark.parametrize(
    "url", ["nats://127.0.0.1", "nats://user:secret@127.0.0.1:4222", "tls://nats.example:4443"]
)
def test_a_valid_url_is_accepted_without_connecting(url: str) -> None:
    publisher = NatsJetStreamPublisher(url)  # connects at its first publish only
    publisher.close()


# ---------------------------------------------------------------------------- kills

BATCH = 10
FIRST_TICKETS = 60
TOP_UP = 60
"""Tickets added whenever fewer than this many notifications are left to relay, so the
relay never runs dry before the last kill."""
KILLS = 10


def _start(db: Path, log: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as errors:
        return subprocess.Popen(
            [sys.executable, str(HERE / "relay_nats_app.py"), str(db)],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_relay_to_jetstream_killed_at_random_loses_nothing_and_stores_no_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why no copy: the relay acknowledges a batch after JetStream acked it, so a killed
    relay leaves at most its batch published and not acknowledged; those rows come back
    when its claim's lease (1 s here) runs out, are published again with the same
    ``Nats-Msg-Id``, and the stream's duplicate window (an hour) drops them."""
    url = nats_url()
    jet = JetStream(url)
    name = unique("relay_kills").replace("-", "_")
    stream = name.upper()
    publishes = tmp_path / "publishes"
    env = {
        "RELAY_TEST_NATS_URL": url,
        "RELAY_TEST_STREAM": stream,
        "RELAY_TEST_SUBJECT": name,
        "RELAY_TEST_LEASE": "1",
        "RELAY_TEST_PAUSE": "0.005",
        "RELAY_TEST_BATCH": str(BATCH),
        "RELAY_TEST_LOG": str(publishes),
    }
    for variable, value in env.items():
        if variable != "RELAY_TEST_LOG":
            monkeypatch.setenv(variable, value)  # for write_tickets, which builds the desk too
    began = time.monotonic()
    db = tmp_path / "desk.db"
    log = tmp_path / "relay.log"
    rng = random.Random(23)
    created = write_tickets(db, FIRST_TICKETS)
    relay = _start(db, log, env)
    killed = 0

    def stored() -> int:
        try:
            return jet.count(stream)
        except nats.js.errors.NotFoundError:
            return 0  # the first relay has not made it yet

    try:
        while killed < KILLS:
            target = stored() + rng.randint(1, 2 * BATCH)

            def published(target: int = target) -> bool:
                return stored() >= target

            wait_for(published, f"the relay to publish ({target} messages)")
            relay.send_signal(signal.SIGKILL)
            relay.wait(timeout=TIMEOUT)
            killed += 1
            relay = _start(db, log, env)
            if len(created) - stored() < TOP_UP:
                created += write_tickets(db, TOP_UP // 3, start=len(created))
        with Desk(SQLiteStore(db)) as desk:
            wait_for(lambda: desk.outbox("pending") == [], "every notification to be relayed")
            outcome = Counter(n.status.value for n in desk.outbox())
        relay.send_signal(signal.SIGTERM)
        code = relay.wait(timeout=TIMEOUT)
        messages = jet.messages(stream)
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()
        jet.delete(stream)
        jet.close()

    keys = [m.headers["Nats-Msg-Id"] for m in messages]
    copies = Counter(keys)
    by_subject: dict[str, list[int]] = {}
    for message in messages:
        body = json.loads(message.data)
        by_subject.setdefault(body["subject_id"], []).append(body["sequence"])
    absorbed = sum(int(line.split()[2]) for line in publishes.read_text().splitlines())
    print(  # the figures of the proof (pytest -s shows them)
        f"\nnats: {len(created)} notifications, {len(keys)} messages, {absorbed} copies "
        f"dropped by their id, {killed} kills, {time.monotonic() - began:.1f}s"
    )
    assert code == 0, log.read_text()[-2000:]
    assert killed == KILLS
    assert set(copies) == set(created)  # none lost, nothing unknown relayed
    assert max(copies.values()) == 1  # every copy a kill caused was dropped by its id
    assert outcome == Counter({"delivered": len(created)})
    assert all(order == [1, 2, 3] for order in by_subject.values()), by_subject
