"""The broker relay's throughput to NATS JetStream, next to the floor of raw nats-py: the
same messages (the same JSON bodies, ``Nats-Msg-Id`` = the key) published to the same
kind of stream with ``publish_async``, all 500 of a batch in flight before waiting for
their acks (no order kept: the floor); and, for information, a loop of ``js.publish``
that waits for each ack before the next message.

The relay's figure is the whole path: claim the rows from a SQLite store (WAL), read
their events, check each subject's order, publish the batch in waves (one message per
subject in flight, each wave's acks awaited), acknowledge the batch in one commit. The
store holds 3,000 tickets with three notifications each (created, classify, assign: the
relay's first sight of each ticket); each round relays a fresh copy of that database
file into a fresh stream (a stream's duplicate window would drop the keys of the round
before).

Needs a NATS server with JetStream: ``AFTERSALES_TEST_NATS_URL`` (default
nats://127.0.0.1:4222); the streams it makes are deleted afterwards.

Run: python benchmarks/bench_relay_nats.py
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _timing import report
from aftersales import Desk, SQLiteStore
from aftersales.relay import NatsJetStreamPublisher, Relay

TICKETS = 3_000
NOTIFICATIONS = 3 * TICKETS
BATCH = 500
ROUNDS = 3
TARGET = 5_000
NEW = ("created", "classify", "assign")


def _database(folder: Path, url: str) -> tuple[Path, list[tuple[str, bytes]]]:
    """The store with the relay's pending rows, and the (key, body) of their messages."""
    path = folder / "source.db"
    desk = Desk(SQLiteStore(path))
    relay = Relay(desk, NatsJetStreamPublisher(url), triggers=NEW)
    for n in range(TICKETS):
        ticket = desk.open_ticket(customer=f"c-{n}", channel="email", subject=f"Parcel {n}")
        desk.classify(ticket.id, category="repair_warranty", severity="low")
        desk.assign(ticket.id, assignee=f"agent-{n % 7}")
    messages = [(n.key, relay.message(n).body) for n in desk.outbox("pending")]
    desk.close()
    assert len(messages) == NOTIFICATIONS
    return path, messages


class Server:
    """A connection of the benchmark's own, on a loop run for each call."""

    def __init__(self, url: str) -> None:
        import nats

        self.loop = asyncio.new_event_loop()
        self.client: Any = self.run(nats.connect(url, connect_timeout=5, allow_reconnect=False))
        self.js: Any = self.client.jetstream(timeout=30)

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def fresh_stream(self) -> tuple[str, str]:
        """A new stream (as the publisher makes it) and its subject prefix."""
        name = f"bench_relay_{uuid.uuid4().hex[:8]}"
        self.run(self.js.add_stream(name=name, subjects=[f"{name}.>"], duplicate_window=3600))
        return name, name

    def count(self, stream: str) -> int:
        return int(self.run(self.js.stream_info(stream)).state.messages)

    def delete(self, stream: str) -> None:
        self.run(self.js.delete_stream(stream))

    def close(self) -> None:
        self.run(self.client.close())
        self.loop.close()


def _floor_round(server: Server, messages: list[tuple[str, bytes]]) -> float:
    """Seconds to publish ``messages`` with ``publish_async``, a batch in flight at once."""
    stream, prefix = server.fresh_stream()

    async def publish() -> None:
        for offset in range(0, len(messages), BATCH):
            futures = [
                await server.js.publish_async(
                    f"{prefix}.ticket", body, stream=stream, headers={"Nats-Msg-Id": key}
                )
                for key, body in messages[offset : offset + BATCH]
            ]
            await asyncio.gather(*futures)

    start = time.perf_counter()
    server.run(publish())
    seconds = time.perf_counter() - start
    assert server.count(stream) == NOTIFICATIONS
    server.delete(stream)
    return seconds


def _one_by_one_round(server: Server, messages: list[tuple[str, bytes]]) -> float:
    """Seconds to publish ``messages`` with ``js.publish``, each ack awaited in turn."""
    stream, prefix = server.fresh_stream()

    async def publish() -> None:
        for key, body in messages:
            await server.js.publish(
                f"{prefix}.ticket", body, stream=stream, headers={"Nats-Msg-Id": key}
            )

    start = time.perf_counter()
    server.run(publish())
    seconds = time.perf_counter() - start
    assert server.count(stream) == NOTIFICATIONS
    server.delete(stream)
    return seconds


def _relay_round(server: Server, source: Path, folder: Path, url: str) -> float:
    """Seconds to relay every row of a fresh copy of ``source``."""
    stream, prefix = server.fresh_stream()
    copy = folder / f"round-{uuid.uuid4().hex}.db"
    shutil.copy(source, copy)
    desk = Desk(SQLiteStore(copy))
    publisher = NatsJetStreamPublisher(
        url, stream=stream, subjects=[f"{prefix}.>"], subject=f"{prefix}.{{kind}}"
    )
    relay = Relay(desk, publisher, batch=BATCH, triggers=NEW)
    start = time.perf_counter()
    result = relay.run_once()
    seconds = time.perf_counter() - start
    assert result.published == NOTIFICATIONS, result
    assert server.count(stream) == NOTIFICATIONS
    publisher.close()
    desk.close()
    copy.unlink()
    server.delete(stream)
    return seconds


def main() -> int:
    url = os.environ.get("AFTERSALES_TEST_NATS_URL", "nats://127.0.0.1:4222")
    try:
        server = Server(url)
    except Exception as error:  # noqa: BLE001 - any failure to connect means "no server"
        print(f"no NATS at {url} ({type(error).__name__}); set AFTERSALES_TEST_NATS_URL")
        return 1
    floors: list[float] = []
    one_by_one: list[float] = []
    relayed: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            source, messages = _database(folder, url)
            for _ in range(ROUNDS):  # in turns: each round sees the same machine state
                floors.append(_floor_round(server, messages))
                one_by_one.append(_one_by_one_round(server, messages))
                relayed.append(_relay_round(server, source, folder, url))
    finally:
        server.close()
    floor = NOTIFICATIONS / statistics.median(floors)
    per_second = NOTIFICATIONS / statistics.median(relayed)
    ok = report(
        f"relay SQLite outbox -> NATS JetStream, batches of {BATCH}, new tickets",
        per_second,
        floor,
        "notifications/s",
        f">= {TARGET:,} notifications/s",
        per_second >= TARGET,
    )
    report(
        "relay vs raw js.publish awaiting each ack (information)",
        per_second,
        NOTIFICATIONS / statistics.median(one_by_one),
        "notifications/s",
        "none",
        True,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
