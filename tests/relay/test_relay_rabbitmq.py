"""The relay on a real RabbitMQ (``AFTERSALES_TEST_AMQP_URL``; every test its own
exchange and queue): persistent confirmed messages with the key as ``message_id``, in
order per subject; unroutable messages retried, never dropped; a consumer that drops
copies by ``message_id``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from relay_support import server_url, unique

from aftersales import DeliveryFailed, Desk, FrozenClock, InvalidInput
from aftersales.relay import BrokerMessage, HeldBack, Relay
from aftersales.relay.rabbitmq import RabbitMQPublisher

amqp = pytest.importorskip("amqp", reason='needs the relay extra: pip install "aftersales[relay]"')


@pytest.fixture
def url() -> str:
    return server_url("amqp")


@pytest.fixture
def channel(url: str) -> Iterator[Any]:
    """A channel of the test's own to declare queues and read them."""
    publisher = RabbitMQPublisher(url)
    connection = amqp.Connection(
        publisher._host, userid=publisher._user, password=publisher._password
    )
    connection.connect()
    opened = connection.channel()
    yield opened
    connection.close()


def _bound_queue(channel: Any, exchange: str, binding: str = "#") -> str:
    queue = unique("relay-test-queue")
    channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
    channel.queue_declare(queue, durable=True, auto_delete=False)
    channel.queue_bind(queue, exchange, binding)
    return queue


def _drain(channel: Any, queue: str) -> list[Any]:
    messages = []
    while (message := channel.basic_get(queue, no_ack=True)) is not None:
        messages.append(message)
    return messages


def _ticket(desk: Desk, n: int = 0) -> str:
    ticket = desk.open_ticket(customer=f"c-{n}", channel="email", subject=f"Parcel {n}")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="agent-7")
    return ticket.id


def _cleanup(channel: Any, exchange: str, queue: str) -> None:
    channel.queue_delete(queue)
    channel.exchange_delete(exchange)


def test_each_notification_is_a_persistent_message_whose_id_is_its_key(
    desk: Desk, url: str, channel: Any
) -> None:
    exchange = unique("relay-test")
    queue = _bound_queue(channel, exchange, "ticket")
    publisher = RabbitMQPublisher(url, exchange=exchange)
    relay = Relay(desk, publisher)
    tickets = [_ticket(desk, n) for n in range(2)]

    assert relay.run_once().published == 6

    messages = _drain(channel, queue)
    _cleanup(channel, exchange, queue)
    publisher.close()
    assert sorted(m.properties["message_id"] for m in messages) == sorted(
        f"{t}:{s}:broker" for t in tickets for s in (1, 2, 3)
    )
    for message in messages:
        body = json.loads(message.body)
        assert body["key"] == message.properties["message_id"]
        assert message.properties["delivery_mode"] == 2
        assert message.properties["content_type"] == "application/json"
        assert message.delivery_info["routing_key"] == "ticket"
    for ticket in tickets:
        order = [json.loads(m.body)["sequence"] for m in messages if ticket in m.body.decode()]
        assert order == [1, 2, 3]


def test_an_unroutable_message_is_retried_never_dropped_and_holds_its_subject_back(
    clock: FrozenClock, url: str, channel: Any
) -> None:
    desk = Desk(clock=clock)
    exchange = unique("relay-test")
    publisher = RabbitMQPublisher(url, exchange=exchange, routing_key={"ticket": "tickets"})
    relay = Relay(desk, publisher)
    ticket = _ticket(desk)

    first = relay.run_once()  # no queue bound yet: RabbitMQ returns the message

    assert (first.published, first.failed) == (0, 1)
    error = next(n.last_error for n in desk.outbox() if n.attempts)
    assert error is not None
    assert "no queue bound" in error
    queue = _bound_queue(channel, exchange, "tickets")
    clock.advance(timedelta(seconds=31))

    relay.run_once()

    messages = _drain(channel, queue)
    _cleanup(channel, exchange, queue)
    publisher.close()
    assert [m.properties["message_id"] for m in messages] == [
        f"{ticket}:{s}:broker" for s in (1, 2, 3)
    ]


def test_a_consumer_drops_a_copy_by_message_id(url: str, channel: Any) -> None:
    exchange = unique("relay-test")
    queue = _bound_queue(channel, exchange)
    publisher = RabbitMQPublisher(url, exchange=exchange)
    messages = [
        BrokerMessage(
            f"t-1:{n}:broker", "ticket:t-1", "ticket", json.dumps({"n": n}).encode(), exchange
        )
        for n in (1, 2)
    ]
    assert publisher.publish(messages) == [None, None]
    assert publisher.publish(messages) == [None, None]  # a relay killed before its ack

    # the consumer of the how-to guide: it remembers the message ids it has processed
    processed: list[int] = []
    seen: set[str] = set()
    for message in _drain(channel, queue):
        if message.properties["message_id"] in seen:
            continue
        seen.add(message.properties["message_id"])
        processed.append(json.loads(message.body)["n"])

    _cleanup(channel, exchange, queue)
    publisher.close()
    assert processed == [1, 2]


def test_rabbitmq_unreachable_fails_the_first_wave_and_holds_back_the_rest() -> None:
    publisher = RabbitMQPublisher("amqp://guest:guest@127.0.0.1:1/", timeout=2)
    messages = [
        BrokerMessage("a:1:broker", "ticket:a", "ticket", b"{}", "x"),
        BrokerMessage("a:2:broker", "ticket:a", "ticket", b"{}", "x"),
        BrokerMessage("b:1:broker", "ticket:b", "ticket", b"{}", "x"),
    ]

    results = publisher.publish(messages)

    assert [type(r) for r in results] == [DeliveryFailed, HeldBack, DeliveryFailed]
    assert "RabbitMQ" in str(results[0])
    publisher.close()


def test_a_returned_message_holds_back_only_its_own_subject(url: str, channel: Any) -> None:
    exchange = unique("relay-test")
    queue = _bound_queue(channel, exchange, "bound")
    publisher = RabbitMQPublisher(url, exchange=exchange)
    messages = [
        BrokerMessage("a:1:broker", "ticket:a", "unbound", b"{}", exchange),
        BrokerMessage("b:1:broker", "ticket:b", "bound", b"{}", exchange),
        BrokerMessage("a:2:broker", "ticket:a", "bound", b"{}", exchange),
        BrokerMessage("b:2:broker", "ticket:b", "bound", b"{}", exchange),
    ]

    results = publisher.publish(messages)

    delivered = [m.properties["message_id"] for m in _drain(channel, queue)]
    _cleanup(channel, exchange, queue)
    publisher.close()
    assert isinstance(results[0], DeliveryFailed)
    assert isinstance(results[2], HeldBack)
    assert (results[1], results[3]) == (None, None)
    assert delivered == ["b:1:broker", "b:2:broker"]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"url": "redis://x"}, "url"),
        ({"url": "amqp://"}, "url"),
        ({"url": "amqp://guest:guest@127.0.0.1:notaport/"}, "url"),
        ({"url": "amqps://guest:guest@127.0.0.1:99999/"}, "url"),
        ({"exchange_type": "queue"}, "exchange_type"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"exchange": ""}, "exchange"),
        ({"routing_key": {"ticket": "{id}"}}, "routing_key"),
    ],
)
def test_bad_settings_raise_invalid_input(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        RabbitMQPublisher(**options)
    assert raised.value.errors[0].location[0] == field


@pytest.mark.parametrize(
    ("url", "host", "ssl"),
    [
        ("amqps://shop:secret@broker.example/shop", "broker.example:5671", True),
        ("amqp://shop:secret@broker.example/shop", "broker.example:5672", False),
        ("amqps://shop:secret@broker.example:5999/shop", "broker.example:5999", True),
    ],
)
def test_a_url_without_a_port_connects_to_its_schemes_port(
    monkeypatch: pytest.MonkeyPatch, url: str, host: str, ssl: bool
) -> None:
    import amqp

    opened: list[tuple[str, bool]] = []

    class Unreachable:
        def __init__(self, host: str, **options: Any) -> None:
            opened.append((host, options["ssl"]))

        def connect(self) -> None:
            raise ConnectionRefusedError("no broker in this test")

        def close(self) -> None:
            pass

    monkeypatch.setattr(amqp, "Connection", Unreachable)
    message = BrokerMessage("t-1:1:broker", "ticket:t-1", "ticket", b"{}", "aftersales")

    [result] = RabbitMQPublisher(url).publish([message])

    assert isinstance(result, DeliveryFailed)
    assert opened == [(host, ssl)]
