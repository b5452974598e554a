"""What the relay tests share: the servers (skipped outside CI, failed in CI when
missing), names of their own on them, and a publisher that records and fails on demand."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence

from servers import no_server

from aftersales.exceptions import DeliveryFailed
from aftersales.relay import BrokerMessage, HeldBack, PublishResult

SERVERS = {
    "redis": ("AFTERSALES_TEST_REDIS_URL", "redis://127.0.0.1:6379/13"),
    "amqp": ("AFTERSALES_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
}
TIMEOUT = 120.0
"""The longest wait for observed progress (generous: a busy CI machine)."""


def _probe(name: str, url: str) -> None:
    if name == "redis":
        import redis

        with redis.Redis.from_url(url, socket_connect_timeout=5) as connection:
            connection.ping()
    else:
        from aftersales.relay.rabbitmq import RabbitMQPublisher

        publisher = RabbitMQPublisher(url, timeout=5)
        try:
            publisher._open()
        finally:
            publisher.close()


def server_url(name: str) -> str:
    """The URL of the ``name`` server; skip (fail in CI) when there is none."""
    variable, default = SERVERS[name]
    url = os.environ.get(variable, default)
    try:
        _probe(name, url)
    except Exception as error:  # noqa: BLE001 - any failure to connect means "no server"
        no_server(name, url, variable, error)
    return url


def unique(prefix: str) -> str:
    """A name no other test (nor another run) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


class RecordingPublisher:
    """A broker in memory: keeps what it was sent, in order, and fails the keys in
    :attr:`failing` (each time) the way the brokers do: the later messages of that
    subject in the batch are held back."""

    def __init__(self) -> None:
        self.sent: list[BrokerMessage] = []
        self.failing: dict[str, DeliveryFailed] = {}
        self.batches: list[int] = []
        self.closed = False

    def route(self, notification: object) -> tuple[str, str]:
        return "exchange", "destination"

    def publish(self, messages: Sequence[BrokerMessage]) -> list[PublishResult]:
        self.batches.append(len(messages))
        failed: set[str] = set()
        results: list[PublishResult] = []
        for message in messages:
            if message.subject in failed:
                results.append(HeldBack("held"))
            elif message.key in self.failing:
                failed.add(message.subject)
                results.append(self.failing[message.key])
            else:
                self.sent.append(message)
                results.append(None)
        return results

    def close(self) -> None:
        self.closed = True

    @property
    def keys(self) -> list[str]:
        return [message.key for message in self.sent]
