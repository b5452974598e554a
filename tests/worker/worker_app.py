"""The app the worker tests run: ``aftersales worker --app worker_app:build`` (with this
folder on PYTHONPATH) and the pending notifications they give it.

``build`` reads its folder from ``WORKER_TEST_DIR``. Its handler, subscribed as
``recorder`` to every ticket's creation, appends ``<key> <pid>`` to ``started`` when a
delivery begins and to ``delivered`` when it is done: one ``write`` on a file opened with
O_APPEND, so lines of processes writing at once never mix, and a line written survives a
SIGKILL of its writer. ``WORKER_TEST_GATE=1`` makes each delivery wait until the file
``gate`` exists; ``WORKER_TEST_PAUSE`` (seconds) makes each one that slow;
``WORKER_TEST_LEASE`` sets ``delivery_lease_seconds``.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from aftersales import DeliveryFailed, Desk, Notification
from aftersales.exceptions import StorageError
from aftersales.storage import SQLiteStore, Store

HANDLER = "recorder"
NOT_CALLABLE = 42


def append_line(path: Path, line: str) -> None:
    """Append ``line`` to ``path`` with one write on an O_APPEND descriptor."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, f"{line}\n".encode())
    finally:
        os.close(descriptor)


def read_keys(path: Path) -> list[str]:
    """The keys recorded in ``path``, one per delivery, in the order written."""
    if not path.exists():
        return []
    return [line.split()[0] for line in path.read_text().splitlines() if line]


def read_lines(path: Path) -> list[tuple[str, int]]:
    """(key, pid) of each line of ``path``."""
    if not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        key, pid = line.split()
        found.append((key, int(pid)))
    return found


def build(store: Store) -> Desk:
    """The desk a test worker serves (see the module)."""
    folder = Path(os.environ["WORKER_TEST_DIR"])
    lease = float(os.environ.get("WORKER_TEST_LEASE", "300"))
    pause = float(os.environ.get("WORKER_TEST_PAUSE", "0"))
    gated = os.environ.get("WORKER_TEST_GATE") == "1"
    desk = Desk(store, settings={"delivery_lease_seconds": lease})

    def deliver(notification: Notification) -> None:
        append_line(folder / "started", f"{notification.key} {os.getpid()}")
        while gated and not (folder / "gate").exists():
            time.sleep(0.01)  # a receiver that answers when the test says so
        if pause:
            time.sleep(pause)  # a receiver this slow (pacing, not synchronisation)
        append_line(folder / "delivered", f"{notification.key} {os.getpid()}")

    desk.on_transition(deliver, "created", name=HANDLER)
    return desk


def build_stopping(store: Store) -> Desk:
    """A desk whose handler sends its own process SIGTERM while it delivers
    (``WORKER_TEST_SIGNALS`` times: 2 interrupts the delivery)."""
    folder = Path(os.environ["WORKER_TEST_DIR"])
    times = int(os.environ.get("WORKER_TEST_SIGNALS", "1"))
    desk = Desk(store)

    def deliver(notification: Notification) -> None:
        for _ in range(times):
            signal.raise_signal(signal.SIGTERM)
        append_line(folder / "delivered", f"{notification.key} {os.getpid()}")

    desk.on_transition(deliver, "created", name=HANDLER)
    return desk


def build_closed(store: Store) -> Desk:
    """A desk on a store already closed: every pass fails."""
    desk = Desk(store)
    desk.on_transition(lambda notification: None, "created", name=HANDLER)
    store.close()
    return desk


def build_own_store(store: Store) -> Desk:
    """A desk on a store of the app's own (the default shop's), not the one given."""
    store.close()
    return Desk(open_store(os.environ["WORKER_TEST_DB"]))


def build_bare(store: Store) -> Desk:
    """A desk with no subscription (an app that forgot to wire its handlers)."""
    return Desk(store)


def build_due_failing(store: Store) -> Desk:
    """The desk of :func:`build` whose due work always fails (a ticket row that cannot
    be read): its deliveries still go out."""

    def unreadable(before: object, limit: int) -> list[object]:
        raise StorageError("ticket row 17 cannot be read")

    store.due = unreadable  # type: ignore[method-assign]
    return build(store)


def build_due_crashing(store: Store) -> Desk:
    """The desk of :func:`build` whose due work hits a bug (not one of our errors)."""

    def broken(before: object, limit: int) -> list[object]:
        raise ValueError("a bug in a time rule")

    store.due = broken  # type: ignore[method-assign]
    return build(store)


def build_nothing(store: Store) -> object:
    """Not a desk."""
    return store


def build_broken(store: Store) -> Desk:
    """An app whose wiring fails."""
    raise RuntimeError("the app's settings are missing")


def open_store(db: Path | str, tenant: str = "") -> Store:
    """The store of ``tenant`` at ``db``: a SQLite file, or a SQLAlchemy URL."""
    if isinstance(db, str) and "://" in db:
        from aftersales.storage.sqlalchemy import SQLAlchemyStore

        return SQLAlchemyStore(db, tenant=tenant)
    return SQLiteStore(db, tenant=tenant)


def write_pending(db: Path | str, count: int, *, start: int = 0, tenant: str = "") -> list[str]:
    """Open ``count`` tickets in ``tenant``'s store at ``db`` whose ``recorder`` notification the
    receiver refused at once (it asked to be tried again at once): ``count`` pending
    notifications due now, for the workers. Their keys (including any a running worker
    delivered already)."""

    def receiver_down(notification: Notification) -> None:
        raise DeliveryFailed("receiver down", retry_after=0)

    desk = Desk(open_store(db, tenant))
    try:
        desk.on_transition(receiver_down, "created", name=HANDLER)
        tickets = [
            desk.open_ticket(customer=f"c-{n}", channel="email", subject=f"Parcel {n}")
            for n in range(start, start + count)
        ]
        ids = {ticket.id for ticket in tickets}
        # every status: a worker running meanwhile may have delivered some already
        return [n.key for n in desk.outbox() if n.event.subject_id in ids]
    finally:
        desk.close()
