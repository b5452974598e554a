"""The relay on a real Redis (``AFTERSALES_TEST_REDIS_URL``, db 13 by default; every
test its own stream names): entries, order under a failing stream, copies dropped by key,
and a consumer that drops them itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from relay_support import server_url, unique

from aftersales import DeliveryFailed, Desk, FrozenClock, InvalidInput
from aftersales.relay import BrokerMessage, HeldBack, Relay
from aftersales.relay.redis_streams import RedisStreamsPublisher

redis = pytest.importorskip(
    "redis", reason='needs the relay extra: pip install "aftersales[relay]"'
)


@pytest.fixture
def url() -> str:
    return server_url("redis")


@pytest.fixture
def names(url: str) -> Iterator[str]:
    """A prefix for this test's streams and markers; they are deleted afterwards."""
    prefix = unique("relay-test")
    yield prefix
    with redis.Redis.from_url(url) as client:
        for key in client.scan_iter(f"{prefix}*", count=1000):
            client.delete(key)


def _publisher(url: str, names: str, **options: Any) -> RedisStreamsPublisher:
    options.setdefault("stream", f"{names}:{{kind}}")
    return RedisStreamsPublisher(url, dedupe_prefix=f"{names}:seen:", **options)


def _ticket(desk: Desk, n: int = 0) -> str:
    ticket = desk.open_ticket(customer=f"c-{n}", channel="email", subject=f"Parcel {n}")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="agent-7")
    return ticket.id


def _entries(url: str, stream: str) -> list[dict[str, str]]:
    with redis.Redis.from_url(url, decode_responses=True) as client:
        return [fields for _, fields in client.xrange(stream)]


def test_each_notification_is_an_entry_of_its_kinds_stream_keyed_by_its_idempotency_key(
    desk: Desk, url: str, names: str
) -> None:
    relay = Relay(desk, _publisher(url, names))
    tickets = [_ticket(desk, n) for n in range(2)]

    assert relay.run_once().published == 6

    entries = _entries(url, f"{names}:ticket")
    assert sorted(e["key"] for e in entries) == sorted(
        f"{t}:{s}:broker" for t in tickets for s in (1, 2, 3)
    )
    for entry in entries:
        body = json.loads(entry["body"])
        assert (entry["subject"], body["key"]) == (f"ticket:{body['subject_id']}", entry["key"])
    for ticket in tickets:
        mine = [json.loads(e["body"])["sequence"] for e in entries if ticket in e["key"]]
        assert mine == [1, 2, 3]
    relay.publisher.close()


def test_a_copy_published_again_is_dropped_by_its_key(url: str, names: str) -> None:
    publisher = _publisher(url, names)
    message = BrokerMessage("t-1:1:broker", "ticket:t-1", f"{names}:ticket", b"{}")

    assert publisher.publish([message]) == [None]
    assert publisher.publish([message, message]) == [None, None]

    assert [e["key"] for e in _entries(url, f"{names}:ticket")] == ["t-1:1:broker"]
    assert publisher.duplicates == 2
    publisher.close()


def test_without_markers_every_copy_is_kept_and_a_consumer_drops_them_by_key(
    url: str, names: str
) -> None:
    publisher = _publisher(url, names, dedupe_seconds=0, maxlen=1000)
    stream = f"{names}:ticket"
    first, second = (
        BrokerMessage(f"t-1:{n}:broker", "ticket:t-1", stream, json.dumps({"n": n}).encode())
        for n in (1, 2)
    )
    publisher.publish([first, second])
    publisher.publish([first, second])  # a relay killed before it acknowledged them

    # the consumer of the how-to guide: it remembers the keys it has processed
    processed: list[int] = []
    seen: set[str] = set()
    with redis.Redis.from_url(url) as client:
        for _, entries in client.xread({stream: "0-0"}, count=100):
            for _, fields in entries:
                key = fields[b"key"].decode()
                if key in seen:
                    continue
                seen.add(key)
                processed.append(json.loads(fields[b"body"])["n"])

    assert len(_entries(url, stream)) == 4
    assert processed == [1, 2]
    publisher.close()


def test_a_failing_stream_holds_back_its_subjects_later_entries_until_it_works_again(
    clock: FrozenClock, url: str, names: str
) -> None:
    desk = Desk(clock=clock)
    publisher = _publisher(url, names, stream={"ticket": f"{names}:tickets", "*": f"{names}:x"})
    relay = Relay(desk, publisher)
    ticket = _ticket(desk)
    with redis.Redis.from_url(url) as client:
        client.set(f"{names}:tickets", "not a stream")  # every XADD to it fails

        first = relay.run_once()

        assert (first.published, first.failed) == (0, 1)
        error = next(n.last_error for n in desk.outbox() if n.attempts)
        assert error is not None
        assert "WRONGTYPE" in error
        assert client.get(f"{names}:seen:{ticket}:1:broker") is None  # its marker undone
        client.delete(f"{names}:tickets")
    clock.advance(timedelta(seconds=31))

    relay.run_once()

    assert [e["key"] for e in _entries(url, f"{names}:tickets")] == [
        f"{ticket}:{s}:broker" for s in (1, 2, 3)
    ]
    publisher.close()


def test_in_one_batch_a_failed_entry_holds_back_only_its_own_subject(url: str, names: str) -> None:
    publisher = _publisher(url, names)
    broken, fine = f"{names}:broken", f"{names}:fine"
    with redis.Redis.from_url(url) as client:
        client.set(broken, "not a stream")
    messages = [
        BrokerMessage("a:1:broker", "ticket:a", broken, b"{}"),
        BrokerMessage("b:1:broker", "ticket:b", fine, b"{}"),
        BrokerMessage("a:2:broker", "ticket:a", fine, b"{}"),
        BrokerMessage("b:2:broker", "ticket:b", fine, b"{}"),
    ]

    results = publisher.publish(messages)

    assert isinstance(results[0], DeliveryFailed)
    assert (results[1], results[3]) == (None, None)
    assert isinstance(results[2], HeldBack)
    assert [e["key"] for e in _entries(url, fine)] == ["b:1:broker", "b:2:broker"]
    publisher.close()


def test_redis_unreachable_fails_every_message_for_a_retry() -> None:
    publisher = RedisStreamsPublisher("redis://127.0.0.1:1/0")
    message = BrokerMessage("a:1:broker", "ticket:a", "s", b"{}")

    results = publisher.publish([message, message])

    assert [type(r) for r in results] == [DeliveryFailed, DeliveryFailed]
    assert "Redis: ConnectionError" in str(results[0])
    assert publisher.publish([]) == []
    publisher.close()


def test_a_publisher_takes_a_client_of_your_own(url: str, names: str) -> None:
    with redis.Redis.from_url(url) as client:
        publisher = RedisStreamsPublisher(
            client=client, stream=f"{names}:s", dedupe_prefix=f"{names}:seen:"
        )
        message = BrokerMessage("a:1:broker", "ticket:a", f"{names}:s", b"{}")
        assert publisher.publish([message]) == [None]
        assert client.xlen(f"{names}:s") == 1


def test_close_leaves_a_client_of_your_own_open_and_closes_its_own() -> None:
    yours = redis.Redis(host="127.0.0.1", port=1)  # connects at its first command only
    closed: list[str] = []
    yours.close = lambda: closed.append("yours")  # type: ignore[method-assign]
    RedisStreamsPublisher(client=yours).close()

    own = RedisStreamsPublisher("redis://127.0.0.1:1/0")
    own.client.close = lambda: closed.append("own")
    own.close()

    assert closed == ["own"]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({}, "url"),
        ({"url": "redis://x", "client": object()}, "url"),
        ({"url": "mysql://x"}, "url"),
        ({"url": "redis://127.0.0.1:6379/twelve"}, "url"),  # redis-py would use db 0
        ({"url": "redis://127.0.0.1:6379/1x"}, "url"),
        ({"url": "rediss://127.0.0.1:6379/%C2%B9"}, "url"),  # a digit, not an ASCII one
        ({"url": "redis://x", "dedupe_seconds": -1}, "dedupe_seconds"),
        ({"url": "redis://x", "dedupe_seconds": 1.5}, "dedupe_seconds"),
        ({"url": "redis://x", "maxlen": 0}, "maxlen"),
        ({"url": "redis://x", "stream": "{queue}"}, "stream"),
    ],
)
def test_bad_settings_raise_invalid_input(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        RedisStreamsPublisher(**options)
    assert raised.value.errors[0].location == (field,)


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379", "redis://127.0.0.1:6379/", "unix:///run/redis.sock?db=3"]
)
def test_a_url_without_a_database_number_in_its_path_is_accepted(url: str) -> None:
    publisher = RedisStreamsPublisher(url)  # connects at its first publish only
    publisher.close()
