"""The broker relay's throughput to Redis Streams (target: at least 5,000 notifications a
second), next to the floor of raw redis-py: the same entries (the same JSON bodies,
fields ``key``, ``subject``, ``body``) added with pipelined ``XADD``, 500 per round trip.

The relay's figure is the whole path: claim the rows from a SQLite store (WAL), read
their events, check each subject's order, publish the batch in one script call (with the
markers that drop copies, ``dedupe_seconds`` on, and without them) and acknowledge the
batch in one commit. The store holds 3,000 tickets with three notifications each; each
round relays a fresh copy of that database file. Two cases:

- new tickets (created, classify, assign): a subject's rows from its first event on are
  known to have nothing earlier pending, so no order check reads the store;
- tickets the relay heard before (classify, assign, start: the relay is not subscribed to
  the creation): every subject's order is checked with a read of its pending rows, the
  steady state of a desk whose tickets change one event at a time.

When RabbitMQ answers at ``AFTERSALES_TEST_AMQP_URL`` (default
amqp://guest:guest@127.0.0.1:5672/), one more line, for information: the relay to
RabbitMQ (new tickets) next to raw py-amqp publishing the same bodies with confirms, all
of a batch in flight before waiting (no order kept: the floor).

Needs a Redis server: ``AFTERSALES_TEST_REDIS_URL`` (default redis://127.0.0.1:6379/13);
the streams and markers it writes are deleted afterwards.

Run: python benchmarks/bench_relay.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _timing import report
from aftersales import Desk, SQLiteStore
from aftersales.relay import Relay
from aftersales.relay.redis_streams import RedisStreamsPublisher

TICKETS = 3_000
NOTIFICATIONS = 3 * TICKETS
BATCH = 500
ROUNDS = 5
TARGET = 5_000


NEW = ("created", "classify", "assign")
SEEN = ("classify", "assign", "start")


def _database(
    folder: Path, url: str, triggers: tuple[str, ...]
) -> tuple[Path, list[tuple[str, str, bytes]]]:
    """The store with the relay's pending rows, and the entries they make."""
    path = folder / f"source-{triggers[0]}.db"
    desk = Desk(SQLiteStore(path))
    relay = Relay(desk, RedisStreamsPublisher(url), triggers=triggers)
    for n in range(TICKETS):
        ticket = desk.open_ticket(customer=f"c-{n}", channel="email", subject=f"Parcel {n}")
        desk.classify(ticket.id, category="repair_warranty", severity="low")
        desk.assign(ticket.id, assignee=f"agent-{n % 7}")
        desk.fire(ticket.id, "start")
    entries = [
        (n.key, f"{n.event.subject_kind}:{n.event.subject_id}", relay.message(n).body)
        for n in desk.outbox("pending")
    ]
    desk.close()
    assert len(entries) == NOTIFICATIONS
    return path, entries


def _relay_round(
    source: Path, folder: Path, url: str, prefix: str, dedupe: int, triggers: tuple[str, ...]
) -> float:
    """Seconds to relay every row of a fresh copy of ``source``."""
    copy = folder / f"round-{uuid.uuid4().hex}.db"
    shutil.copy(source, copy)
    desk = Desk(SQLiteStore(copy))
    publisher = RedisStreamsPublisher(
        url, stream=f"{prefix}:relay", dedupe_seconds=dedupe, dedupe_prefix=f"{prefix}:seen:"
    )
    relay = Relay(desk, publisher, batch=BATCH, triggers=triggers)
    start = time.perf_counter()
    result = relay.run_once()
    seconds = time.perf_counter() - start
    assert result.published == NOTIFICATIONS, result
    publisher.close()
    desk.close()
    copy.unlink()
    return seconds


def _floor_round(client: object, entries: list[tuple[str, str, bytes]], stream: str) -> float:
    """Seconds to XADD ``entries`` with redis-py pipelines of :data:`BATCH`."""
    start = time.perf_counter()
    for offset in range(0, len(entries), BATCH):
        pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
        for key, subject, body in entries[offset : offset + BATCH]:
            pipe.xadd(stream, {"key": key, "subject": subject, "body": body})
        pipe.execute()
    return time.perf_counter() - start


def main() -> int:
    import redis

    url = os.environ.get("AFTERSALES_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as error:
        print(f"no Redis at {url} ({error}); set AFTERSALES_TEST_REDIS_URL")
        return 1
    prefix = f"bench-relay-{uuid.uuid4().hex[:8]}"
    ok = True
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        new_source, entries = _database(folder, url, NEW)
        seen_source, _ = _database(folder, url, SEEN)
        cases = {
            "new tickets, markers on": (new_source, 3_600, NEW),
            "new tickets, markers off": (new_source, 0, NEW),
            "tickets seen before, markers on": (seen_source, 3_600, SEEN),
        }
        samples: dict[str, list[float]] = {label: [] for label in cases}
        floors: list[float] = []
        try:
            for _ in range(ROUNDS):  # in turns: each round sees the same machine state
                floors.append(_floor_round(client, entries, f"{prefix}:floor"))
                for label, (source, dedupe, triggers) in cases.items():
                    samples[label].append(
                        _relay_round(source, folder, url, prefix, dedupe, triggers)
                    )
                    for key in client.scan_iter(f"{prefix}*", count=10_000):
                        client.delete(key)
        finally:
            for key in client.scan_iter(f"{prefix}*", count=10_000):
                client.delete(key)
            client.close()
        floor = NOTIFICATIONS / statistics.median(floors)
        for label, seconds in samples.items():
            per_second = NOTIFICATIONS / statistics.median(seconds)
            ok &= report(
                f"relay SQLite outbox -> Redis Streams, batches of {BATCH}, {label}",
                per_second,
                floor,
                "notifications/s",
                f">= {TARGET:,} notifications/s",
                per_second >= TARGET,
            )
        rabbitmq(folder, new_source, entries)
    return 0 if ok else 1


def rabbitmq(folder: Path, source: Path, entries: list[tuple[str, str, bytes]]) -> None:
    """The relay to RabbitMQ next to raw confirmed publishing: information, no target."""
    import amqp

    from aftersales.relay.rabbitmq import RabbitMQPublisher

    url = os.environ.get("AFTERSALES_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    probe = RabbitMQPublisher(url)
    exchange, queue = f"bench-relay-{uuid.uuid4().hex[:8]}", f"bench-relay-{uuid.uuid4().hex[:8]}"
    try:
        connection = amqp.Connection(probe._host, userid=probe._user, password=probe._password)
        connection.connect()
    except OSError as error:
        print(f"(no RabbitMQ at {url}: {error}; its line is left out)")
        return
    channel = connection.channel()
    channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
    channel.queue_declare(queue, durable=True, auto_delete=False)
    channel.queue_bind(queue, exchange, "#")
    floor_channel = connection.channel()
    floor_channel.confirm_select()
    confirmed = [0]
    floor_channel.events["basic_ack"].add(
        lambda tag, multiple: confirmed.__setitem__(0, max(confirmed[0], tag))
    )

    published = [0]

    def floor_round() -> float:
        start = time.perf_counter()
        for offset in range(0, len(entries), BATCH):
            chunk = entries[offset : offset + BATCH]
            for key, _, body in chunk:
                floor_channel.basic_publish(
                    amqp.Message(body, delivery_mode=2, message_id=key),
                    exchange=exchange,
                    routing_key="ticket",
                )
            # acks may arrive while publishing: wait for the tag of the chunk's last
            published[0] += len(chunk)
            while confirmed[0] < published[0]:
                connection.drain_events(timeout=30)
        return time.perf_counter() - start

    def relay_round() -> float:
        copy = folder / f"round-{uuid.uuid4().hex}.db"
        shutil.copy(source, copy)
        desk = Desk(SQLiteStore(copy))
        relay = Relay(desk, RabbitMQPublisher(url, exchange=exchange), batch=BATCH, triggers=NEW)
        start = time.perf_counter()
        result = relay.run_once()
        seconds = time.perf_counter() - start
        assert result.published == NOTIFICATIONS, result
        relay.publisher.close()
        desk.close()
        copy.unlink()
        return seconds

    floors, relayed = [], []
    try:
        for _ in range(3):
            floors.append(floor_round())
            relayed.append(relay_round())
            channel.queue_purge(queue)
    finally:
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)
        connection.close()
    report(
        f"relay SQLite outbox -> RabbitMQ, batches of {BATCH}, new tickets (information)",
        NOTIFICATIONS / statistics.median(relayed),
        NOTIFICATIONS / statistics.median(floors),
        "notifications/s",
        "none",
        True,
    )


if __name__ == "__main__":
    sys.exit(main())
