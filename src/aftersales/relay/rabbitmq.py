"""RabbitMQ (AMQP 0-9-1): each notification a persistent message with ``message_id`` =
its idempotency key, published to the exchange of its subject kind with publisher
confirms. A batch goes out in waves (see :meth:`RabbitMQPublisher.publish`): one confirm
round trip per wave, and never two messages of one subject in flight.

The broker keeps no record of message ids: a copy published again after a crash
(at-least-once delivery) reaches the queues again, and consumers drop it by
``message_id`` (see the how-to guide). ``mandatory`` is set: a message no queue is bound
to receive is returned, counted as a failure and retried, never dropped silently. Needs
the ``relay`` extra (``amqp``), imported when the publisher connects.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from aftersales.exceptions import DeliveryFailed, FieldError, InvalidInput
from aftersales.notify import Notification
from aftersales.relay._message import (
    BrokerMessage,
    HeldBack,
    PublishResult,
    Route,
    waves_by_subject,
)

__all__ = ["RabbitMQPublisher"]

AMQP_PORT = 5672
"""The port of an ``amqp://`` URL that names none."""
AMQPS_PORT = 5671
"""The port of an ``amqps://`` URL (AMQP over TLS) that names none."""
PERSISTENT = 2
"""AMQP ``delivery_mode`` of a message written to disk by a durable queue."""


class RabbitMQPublisher:
    """Publishes to RabbitMQ at ``url`` (``amqp://user:password@host:port/vhost``).

    - ``exchange``: the exchange per subject kind (see :class:`~aftersales.relay.Route`),
      ``"aftersales"`` by default; declared durable, of ``exchange_type``, before its
      first message unless ``declare`` is False.
    - ``routing_key``: per subject kind too, ``"{kind}"`` by default (bind a queue to
      ``"ticket"`` or, on a topic exchange, ``"#"``).
    - ``timeout``: seconds to connect and to wait for a confirm.
    """

    def __init__(
        self,
        url: str = "amqp://guest:guest@localhost:5672/",
        *,
        exchange: str | Mapping[str, str] = "aftersales",
        routing_key: str | Mapping[str, str] = "{kind}",
        exchange_type: str = "topic",
        declare: bool = True,
        timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
            raise InvalidInput(
                "relay", [FieldError(("url",), "must be amqp://user:password@host:port/vhost")]
            )
        try:
            port = parts.port
        except ValueError:  # not a number, or out of range
            raise InvalidInput(
                "relay", [FieldError(("url",), "its port must be a number from 1 to 65535")]
            ) from None
        if exchange_type not in ("direct", "topic", "fanout", "headers"):
            raise InvalidInput(
                "relay",
                [FieldError(("exchange_type",), "must be direct, topic, fanout or headers")],
            )
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise InvalidInput("relay", [FieldError(("timeout",), "must be seconds above 0")])
        self._exchange = Route("exchange", exchange)
        self._routing_key = Route("routing_key", routing_key, empty=True)
        self.exchange_type = exchange_type
        self.declare = declare
        self.timeout = float(timeout)
        self._ssl = parts.scheme == "amqps"
        self._host = f"{parts.hostname}:{port or (AMQPS_PORT if self._ssl else AMQP_PORT)}"
        self._user = unquote(parts.username or "guest")
        self._password = unquote(parts.password or "guest")
        self._vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        self._connection: Any = None
        self._channel: Any = None
        self._returned: set[str] = set()
        self._declared: set[str] = set()
        self._tag = 0
        self._unconfirmed: dict[int, str] = {}
        self._confirms: dict[int, bool] = {}

    def route(self, notification: Notification) -> tuple[str, str]:
        """The exchange and routing key of ``notification``."""
        return self.route_for_kind(notification.event.subject_kind)

    def route_for_kind(self, kind: str) -> tuple[str, str]:
        """The exchange and routing key of subject kind ``kind``; DeliveryFailed
        (permanent) when ``exchange`` or ``routing_key`` has none for it."""
        return self._exchange.for_kind(kind), self._routing_key.for_kind(kind)

    def _open(self) -> Any:
        if self._channel is not None:
            return self._channel
        import amqp  # type: ignore[import-untyped]

        connection = amqp.Connection(
            self._host,
            userid=self._user,
            password=self._password,
            virtual_host=self._vhost,
            ssl=self._ssl,
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            write_timeout=self.timeout,
        )
        try:
            connection.connect()
            channel = connection.channel()
            channel.confirm_select()
            channel.events["basic_return"].add(self._on_return)
            channel.events["basic_ack"].add(self._on_confirm(True))
            channel.events["basic_nack"].add(self._on_confirm(False))
        except BaseException:
            self._drop(connection)
            raise
        self._connection, self._channel = connection, channel
        # a new channel numbers its published messages from 1
        self._tag = 0
        self._unconfirmed.clear()
        self._confirms.clear()
        return channel

    def _on_return(self, error: object, exchange: str, routing_key: str, message: Any) -> None:
        self._returned.add(str(message.properties.get("message_id", "")))

    def _on_confirm(self, ok: bool) -> Callable[[int, bool], None]:
        """The channel's callback for acks (``ok``) or nacks: ``multiple`` confirms every
        message up to ``delivery_tag``."""

        def confirmed(delivery_tag: int, multiple: bool) -> None:
            tags = (
                [t for t in self._unconfirmed if t <= delivery_tag] if multiple else [delivery_tag]
            )
            for tag in tags:
                if self._unconfirmed.pop(tag, None) is not None:
                    self._confirms[tag] = ok

        return confirmed

    def publish(self, messages: Sequence[BrokerMessage]) -> list[PublishResult]:
        """Publish ``messages`` in waves: the first message of each subject, all of them
        confirmed, then the second of each subject whose first went through, and so on.
        A subject never has two messages in flight, so a refused one (nack, returned)
        has no later one of its subject behind it on the broker; one confirm round trip
        serves a whole wave. After a connection failure the rest is held back."""
        results: list[PublishResult] = [None] * len(messages)
        waves = waves_by_subject(messages)
        failed: set[str] = set()
        for number, wave in enumerate(waves):
            sending = [i for i in wave if messages[i].subject not in failed]
            for i in wave:
                if messages[i].subject in failed:
                    results[i] = HeldBack("an earlier message of its subject failed")
            try:
                answers = self._send_wave([messages[i] for i in sending])
            except Exception as error:  # noqa: BLE001 - the connection broke: its state is unknown
                self.close()
                broken = DeliveryFailed(f"RabbitMQ: {type(error).__name__}: {error}")
                for i in sending:
                    results[i] = broken
                for later in waves[number + 1 :]:
                    for i in later:
                        results[i] = HeldBack("the connection to RabbitMQ broke")
                return results
            for i, answer in zip(sending, answers, strict=True):
                results[i] = answer
                if answer is not None:
                    failed.add(messages[i].subject)
        return results

    def _send_wave(self, wave: Sequence[BrokerMessage]) -> list[PublishResult]:
        """Publish ``wave`` (one message per subject) and wait for every confirm."""
        import amqp

        channel = self._open()
        tags: list[int] = []
        for message in wave:
            if self.declare and message.exchange not in self._declared:
                channel.exchange_declare(
                    message.exchange, self.exchange_type, durable=True, auto_delete=False
                )
                self._declared.add(message.exchange)
            self._returned.discard(message.key)
            # registered first: py-amqp reads the acks that have arrived inside basic_publish
            self._tag += 1
            self._unconfirmed[self._tag] = message.key
            tags.append(self._tag)
            channel.basic_publish(
                amqp.Message(
                    message.body,
                    content_type="application/json",
                    delivery_mode=PERSISTENT,
                    message_id=message.key,
                ),
                exchange=message.exchange,
                routing_key=message.destination,
                mandatory=True,
            )
        deadline = time.monotonic() + self.timeout
        while any(tag not in self._confirms for tag in tags):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no confirm within {self.timeout:g}s")
            self._connection.drain_events(timeout=remaining)
        results: list[PublishResult] = []
        for message, tag in zip(wave, tags, strict=True):
            if not self._confirms.pop(tag):  # pragma: no cover - nacks: internal errors only
                results.append(DeliveryFailed("RabbitMQ refused the message (nack)"))
            elif message.key in self._returned:
                self._returned.discard(message.key)
                results.append(
                    DeliveryFailed(
                        f"RabbitMQ returned it: no queue bound to {message.exchange!r} "
                        f"with routing key {message.destination!r}"
                    )
                )
            else:
                results.append(None)
        return results

    def close(self) -> None:
        """Close the connection (the next publish opens another)."""
        connection, self._connection, self._channel = self._connection, None, None
        self._declared.clear()
        if connection is not None:
            self._drop(connection)

    @staticmethod
    def _drop(connection: Any) -> None:
        with contextlib.suppress(Exception):  # a broken connection is dropped anyway
            connection.close()
