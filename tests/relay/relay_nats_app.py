"""The relay process of the NATS kill test: ``python relay_nats_app.py DB`` relays the
desk's ticket notifications from the SQLite file ``DB`` to NATS JetStream until SIGTERM.

Environment: ``RELAY_TEST_NATS_URL``, ``RELAY_TEST_STREAM`` (the JetStream stream; its
subjects are ``<RELAY_TEST_SUBJECT>.>``), ``RELAY_TEST_SUBJECT`` (the subjects' prefix),
``RELAY_TEST_LEASE`` (``delivery_lease_seconds``), ``RELAY_TEST_PAUSE`` (seconds each
publish takes longer: a slower broker, so that kills land between a publish and its
acknowledgement), ``RELAY_TEST_BATCH``, and ``RELAY_TEST_LOG``: a file each publish
appends ``<pid> <published> <duplicates JetStream dropped>`` to.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from aftersales import Desk
from aftersales.relay import BrokerMessage, PublishResult, Relay
from aftersales.relay.nats_jetstream import NatsJetStreamPublisher
from aftersales.storage import SQLiteStore


class _PacedPublisher(NatsJetStreamPublisher):
    def publish(self, messages: Sequence[BrokerMessage]) -> list[PublishResult]:
        before = self.duplicates
        results = super().publish(messages)
        log = os.environ.get("RELAY_TEST_LOG")
        if log:
            published = sum(1 for result in results if result is None)
            line = f"{os.getpid()} {published} {self.duplicates - before}\n"
            descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, line.encode())
            finally:
                os.close(descriptor)
        pause = float(os.environ.get("RELAY_TEST_PAUSE", "0"))
        if pause:
            time.sleep(pause)  # a broker this slow (pacing, not synchronisation)
        return results


def build(db: Path | str) -> tuple[Desk, Relay]:
    """The desk on ``db`` and its relay, configured from the environment."""
    lease = float(os.environ.get("RELAY_TEST_LEASE", "300"))
    desk = Desk(SQLiteStore(db), settings={"delivery_lease_seconds": lease})
    prefix = os.environ["RELAY_TEST_SUBJECT"]
    publisher = _PacedPublisher(
        os.environ["RELAY_TEST_NATS_URL"],
        stream=os.environ["RELAY_TEST_STREAM"],
        subjects=[f"{prefix}.>"],
        subject=f"{prefix}.{{kind}}",
    )
    relay = Relay(
        desk, publisher, batch=int(os.environ.get("RELAY_TEST_BATCH", "10")), interval=0.02
    )
    return desk, relay


def write_tickets(db: Path | str, count: int, *, start: int = 0) -> list[str]:
    """Open ``count`` tickets and classify and assign each (three notifications per
    ticket for the relay, in this order); their keys."""
    desk, relay = build(db)
    keys: list[str] = []
    try:
        for n in range(start, start + count):
            ticket = desk.open_ticket(customer=f"c-{n}", channel="email", subject=f"Parcel {n}")
            desk.classify(ticket.id, category="repair_warranty", severity="low")
            desk.assign(ticket.id, assignee=f"agent-{n % 7}")
            keys += [f"{ticket.id}:{sequence}:{relay.name}" for sequence in (1, 2, 3)]
    finally:
        relay.publisher.close()
        desk.close()
    return keys


def main(db: str) -> None:
    desk, relay = build(db)
    restore = relay.install_signal_handlers()
    try:
        relay.run_forever()
    finally:
        restore()
        relay.publisher.close()
        desk.close()


if __name__ == "__main__":
    main(sys.argv[1])
