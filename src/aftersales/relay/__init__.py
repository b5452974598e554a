"""The broker relay: a desk's notifications moved to a message broker (Redis Streams,
RabbitMQ, NATS JetStream), at least once, in order per subject, with the idempotency key
as message id.

A :class:`Relay` subscribes to a desk (``inline=False``: each commit writes the relay's
outbox rows with the change) and, in its own loop (:meth:`Relay.run_forever`), claims
those rows in batches, publishes them through a :class:`Publisher`
(:class:`~aftersales.relay.redis_streams.RedisStreamsPublisher`,
:class:`~aftersales.relay.rabbitmq.RabbitMQPublisher`,
:class:`~aftersales.relay.nats_jetstream.NatsJetStreamPublisher`) and acknowledges them
in one commit.

The guarantees:

- **At least once.** A row is acknowledged only after the broker confirmed it; a relay
  killed between the two publishes the batch again once its claim's lease
  (``delivery_lease_seconds``) has run out. A failed publish is retried with the desk's
  backoff and dead-lettered after ``max_delivery_attempts``, like any delivery.
- **The key is the message id.** Redis entries carry it as the field ``key`` and the
  publisher drops a second copy while its marker lives (``dedupe_seconds``); RabbitMQ
  messages carry it as ``message_id``; NATS JetStream messages as the header
  ``Nats-Msg-Id``, and the stream drops a second copy within its duplicate window.
  Consumers that skip keys they have seen act on each notification once.
- **In order per subject.** For each subject (a ticket, a case), the first copy of each
  of its notifications reaches the broker in event order, across retries, crashes and
  several relays: a notification is published only when no earlier notification of its
  subject for this relay is still pending (a failed one waiting for its retry, or one
  another relay holds), and a batch stops a subject at its first failure. So a consumer
  that drops keys it has seen sees each subject's events in order. Not covered: a
  dead-lettered notification no longer holds its subject back (requeued, it arrives
  late), and subjects have no order among themselves.

Needs the ``relay`` extra (``redis``, ``amqp``, ``nats-py``), imported only when a
publisher connects.
"""

from aftersales.relay._message import (
    ANY_KIND,
    BrokerMessage,
    HeldBack,
    Publisher,
    PublishResult,
    Route,
    message_body,
    subject_of,
)
from aftersales.relay._relay import Relay, RelayPass
from aftersales.relay.nats_jetstream import NatsJetStreamPublisher

__all__ = [
    "ANY_KIND",
    "BrokerMessage",
    "HeldBack",
    "NatsJetStreamPublisher",
    "PublishResult",
    "Publisher",
    "Relay",
    "RelayPass",
    "Route",
    "message_body",
    "subject_of",
]
