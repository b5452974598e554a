"""RabbitMQ (AMQP 0-9-1): each notification a persistent message with ``message_id`` =
its idempotency key, published to the exchange of its subject kind with publisher
confirms, one message confirmed before the next is sent.

The broker keeps no record of message ids: a copy published again after a crash
(at-least-once delivery) reaches the queues again, and consumers drop it by
``message_id`` (see the how-to guide). ``mandatory`` is set: a message no queue is bound
to receive is returned, counted as a failure and retried, never dropped silently. Needs
the ``relay`` extra (``amqp``), imported when the publisher connects.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from aftersales.exceptions import DeliveryFailed, FieldError, InvalidInput
from aftersales.notify import Notification
from aftersales.relay._message import BrokerMessage, HeldBack, PublishResult, Route

__all__ = ["RabbitMQPublisher"]

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
        self._host = f"{parts.hostname}:{parts.port or 5672}"
        self._user = unquote(parts.username or "guest")
        self._password = unquote(parts.password or "guest")
        self._vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        self._ssl = parts.scheme == "amqps"
        self._connection: Any = None
        self._channel: Any = None
        self._returned: set[str] = set()
        self._declared: set[str] = set()

    def route(self, notification: Notification) -> tuple[str, str]:
        """The exchange and routing key of ``notification``."""
        kind = notification.event.subject_kind
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
        except BaseException:
            self._drop(connection)
            raise
        self._connection, self._channel = connection, channel
        return channel

    def _on_return(self, error: object, exchange: str, routing_key: str, message: Any) -> None:
        self._returned.add(str(message.properties.get("message_id", "")))

    def publish(self, messages: Sequence[BrokerMessage]) -> list[PublishResult]:
        """Publish ``messages`` in order, each confirmed before the next (see the module);
        after a connection failure the rest of the batch is held back."""
        import amqp
        from amqp.exceptions import MessageNacked  # type: ignore[import-untyped]

        results: list[PublishResult] = []
        failed: set[str] = set()
        broken: DeliveryFailed | None = None
        for message in messages:
            if broken is not None or message.subject in failed:
                results.append(HeldBack("an earlier message of its subject failed"))
                continue
            try:
                channel = self._open()
                if self.declare and message.exchange not in self._declared:
                    channel.exchange_declare(
                        message.exchange, self.exchange_type, durable=True, auto_delete=False
                    )
                    self._declared.add(message.exchange)
                self._returned.discard(message.key)
                channel.basic_publish_confirm(
                    amqp.Message(
                        message.body,
                        content_type="application/json",
                        delivery_mode=PERSISTENT,
                        message_id=message.key,
                    ),
                    exchange=message.exchange,
                    routing_key=message.destination,
                    mandatory=True,
                    confirm_timeout=self.timeout,
                )
            except MessageNacked:  # pragma: no cover - RabbitMQ nacks on internal errors only
                failed.add(message.subject)
                results.append(DeliveryFailed("RabbitMQ refused the message (nack)"))
            except (amqp.AMQPError, OSError) as error:
                self.close()
                failed.add(message.subject)
                broken = DeliveryFailed(f"RabbitMQ: {type(error).__name__}: {error}")
                results.append(broken)
            else:
                if message.key in self._returned:
                    self._returned.discard(message.key)
                    failed.add(message.subject)
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
