"""A relay process killed with SIGKILL at random 50 times while it moves notifications
from a SQLite store to Redis: every notification reaches the stream, each subject's in
event order, and the copies a kill causes are dropped by their key (with the publisher's
markers) or bounded by the batch per kill (without them; consumers drop them by key).

Why: the relay acknowledges a batch after Redis answered, so a killed relay leaves at
most its batch published and not acknowledged; those rows come back when its claim's
lease (1 s here) runs out and are published again, after every earlier notification of
their subjects and before any later one (a later one waits while an earlier one is
pending).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import pytest
from relay_app import write_tickets
from relay_support import TIMEOUT, server_url, unique, wait_for

from aftersales import Desk
from aftersales.storage import SQLiteStore

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

HERE = Path(__file__).parent
SEED = 23
BATCH = 10
FIRST_TICKETS = 100
TOP_UP = 60
"""Tickets added whenever fewer than this many notifications are left to relay, so the
relay never runs dry before the last kill."""


def _start(db: Path, log: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as errors:
        return subprocess.Popen(
            [sys.executable, str(HERE / "relay_app.py"), str(db)],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )


@pytest.mark.parametrize(("dedupe", "kills"), [(3600, 50), (0, 10)])
def test_relay_killed_at_random_loses_nothing_and_keeps_each_subjects_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dedupe: int, kills: int
) -> None:
    import redis

    url = server_url("redis")
    client = redis.Redis.from_url(url)
    stream = unique("relay-kills")
    prefix = f"{stream}:seen:"
    publishes = tmp_path / "publishes"
    env = {
        "RELAY_TEST_REDIS_URL": url,
        "RELAY_TEST_STREAM": stream,
        "RELAY_TEST_PREFIX": prefix,
        "RELAY_TEST_DEDUPE": str(dedupe),
        "RELAY_TEST_LEASE": "1",
        "RELAY_TEST_PAUSE": "0.005",
        "RELAY_TEST_BATCH": str(BATCH),
        "RELAY_TEST_LOG": str(publishes),
    }
    for name, value in env.items():
        if name != "RELAY_TEST_LOG":
            monkeypatch.setenv(name, value)  # for write_tickets, which builds the desk too
    began = time.monotonic()
    db = tmp_path / "desk.db"
    log = tmp_path / "relay.log"
    rng = random.Random(SEED)
    created = write_tickets(db, FIRST_TICKETS)
    relay = _start(db, log, env)
    killed = 0
    try:
        while killed < kills:
            target = client.xlen(stream) + rng.randint(1, 2 * BATCH)

            def published(target: int = target) -> bool:
                return bool(client.xlen(stream) >= target)

            wait_for(published, f"the relay to publish ({target} entries)")
            relay.send_signal(signal.SIGKILL)
            relay.wait(timeout=TIMEOUT)
            killed += 1
            relay = _start(db, log, env)
            if len(created) - client.xlen(stream) < TOP_UP:
                created += write_tickets(db, TOP_UP // 3, start=len(created))
        with Desk(SQLiteStore(db)) as desk:
            wait_for(lambda: desk.outbox("pending") == [], "every notification to be relayed")
            stored = Counter(n.status.value for n in desk.outbox())
        relay.send_signal(signal.SIGTERM)
        code = relay.wait(timeout=TIMEOUT)
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()
        for key in (f"RELAY_TEST_{name}" for name in ("REDIS_URL", "STREAM", "PREFIX")):
            os.environ.pop(key, None)
        for key in (
            "RELAY_TEST_DEDUPE",
            "RELAY_TEST_LEASE",
            "RELAY_TEST_PAUSE",
            "RELAY_TEST_BATCH",
        ):
            os.environ.pop(key, None)

    entries = client.xrange(stream)
    client.delete(stream)
    for marker in client.scan_iter(f"{prefix}*", count=1000):
        client.delete(marker)
    keys = [fields[b"key"].decode() for _, fields in entries]
    copies = Counter(keys)
    extra = sum(count - 1 for count in copies.values())
    absorbed = sum(int(line.split()[2]) for line in publishes.read_text().splitlines())
    # what a consumer that drops the keys it has seen acts on, per subject
    seen: set[str] = set()
    by_subject: dict[str, list[int]] = {}
    for _, fields in entries:
        body = json.loads(fields[b"body"])
        if body["key"] in seen:
            continue
        seen.add(body["key"])
        by_subject.setdefault(body["subject_id"], []).append(body["sequence"])
    print(  # the figures of the proof (pytest -s shows them)
        f"\ndedupe {dedupe}s: {len(created)} notifications, {len(keys)} entries, "
        f"{extra} duplicate entries, {absorbed} copies dropped by their key, "
        f"{killed} kills, {time.monotonic() - began:.1f}s"
    )
    assert code == 0, log.read_text()[-2000:]
    assert killed == kills
    assert set(copies) == set(created)  # none lost, nothing unknown relayed
    assert stored == Counter({"delivered": len(created)})
    assert all(order == [1, 2, 3] for order in by_subject.values()), by_subject
    if dedupe:
        assert extra == 0  # every copy a kill caused was dropped by its key
    else:
        assert extra <= kills * BATCH


def test_relay_to_rabbitmq_killed_at_random_loses_nothing_and_keeps_each_subjects_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import amqp

    from aftersales.relay.rabbitmq import RabbitMQPublisher

    url = server_url("amqp")
    kills = 20
    exchange, queue = unique("relay-kills"), unique("relay-kills-queue")
    probe = RabbitMQPublisher(url)
    connection = amqp.Connection(probe._host, userid=probe._user, password=probe._password)
    connection.connect()
    channel = connection.channel()
    channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
    channel.queue_declare(queue, durable=True, auto_delete=False)
    channel.queue_bind(queue, exchange, "#")

    def queued() -> int:
        return int(channel.queue_declare(queue, passive=True).message_count)

    env = {
        "RELAY_TEST_AMQP_URL": url,
        "RELAY_TEST_STREAM": exchange,
        "RELAY_TEST_LEASE": "1",
        "RELAY_TEST_PAUSE": "0.005",
        "RELAY_TEST_BATCH": str(BATCH),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    began = time.monotonic()
    db = tmp_path / "desk.db"
    log = tmp_path / "relay.log"
    rng = random.Random(SEED)
    created = write_tickets(db, FIRST_TICKETS // 2)
    relay = _start(db, log, env)
    killed = 0
    try:
        while killed < kills:
            target = queued() + rng.randint(1, 2 * BATCH)

            def published(target: int = target) -> bool:
                return queued() >= target

            wait_for(published, f"the relay to publish ({target} messages)")
            relay.send_signal(signal.SIGKILL)
            relay.wait(timeout=TIMEOUT)
            killed += 1
            relay = _start(db, log, env)
            if len(created) - queued() < TOP_UP:
                created += write_tickets(db, TOP_UP // 3, start=len(created))
        with Desk(SQLiteStore(db)) as desk:
            wait_for(lambda: desk.outbox("pending") == [], "every notification to be relayed")
            stored = Counter(n.status.value for n in desk.outbox())
        relay.send_signal(signal.SIGTERM)
        code = relay.wait(timeout=TIMEOUT)
        messages = []
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            messages.append(message)
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)
        connection.close()

    keys = [message.properties["message_id"] for message in messages]
    copies = Counter(keys)
    extra = sum(count - 1 for count in copies.values())
    seen: set[str] = set()
    by_subject: dict[str, list[int]] = {}
    for message in messages:
        body = json.loads(message.body)
        if body["key"] in seen:
            continue
        seen.add(body["key"])
        by_subject.setdefault(body["subject_id"], []).append(body["sequence"])
    print(
        f"\nrabbitmq: {len(created)} notifications, {len(keys)} messages, "
        f"{extra} duplicate messages, {killed} kills, {time.monotonic() - began:.1f}s"
    )
    assert code == 0, log.read_text()[-2000:]
    assert set(copies) == set(created)
    assert stored == Counter({"delivered": len(created)})
    assert all(order == [1, 2, 3] for order in by_subject.values()), by_subject
    assert extra <= kills * BATCH
