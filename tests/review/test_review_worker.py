"""Review of the worker (issue 19): defects found, each proven by a failing test.

The workers here share one SQLite file and one FrozenClock; the outbox's monotonic
clock follows the FrozenClock, so "time passing" (a slow query, a slow receiver) is
simulated exactly, without any sleep. "Worker B polls" is B calling
``dispatch_outbox()`` at the moment A is in the middle of its pass, as a second live
worker process would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aftersales import DeliveryFailed, Desk, FrozenClock, Notification, Ticket
from aftersales.cli import _build_app
from aftersales.exceptions import StorageError
from aftersales.storage import SQLiteStore
from aftersales.worker import Worker

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
HANDLER = "recorder"


class SlowQueryStore(SQLiteStore):
    """A SQLite store whose query of the tickets due takes ``slow`` (on the test's
    clock) once armed: a big table scan at the start of ``run_due``."""

    def __init__(self, path: Path, clock: FrozenClock) -> None:
        super().__init__(path)
        self.clock = clock
        self.slow = timedelta(0)
        self.slow_queries = 0

    def due(self, now: datetime, limit: int) -> list[Ticket]:
        if self.slow:
            self.clock.advance(self.slow)
            self.slow_queries += 1
        return super().due(now, limit)


def _follow(desk: Desk, clock: FrozenClock) -> None:
    """Make the desk's outbox measure its lease on the test's clock."""
    desk.services.outbox.monotonic = lambda: (clock.now() - T0).total_seconds()


def _write_pending(db: Path, clock: FrozenClock, count: int) -> list[str]:
    """``count`` notifications for ``recorder``, refused once, due again at once."""

    def down(notification: Notification) -> None:
        raise DeliveryFailed("receiver down", retry_after=0)

    with Desk(SQLiteStore(db), clock=clock) as desk:
        desk.on_transition(down, "created", name=HANDLER)
        for n in range(count):
            desk.open_ticket(customer=f"c-{n}", channel="email", subject=f"Parcel {n}")
        return [n.key for n in desk.outbox("pending")]


def test_two_live_workers_never_deliver_one_notification_twice_after_long_due_work(
    tmp_path: Path,
) -> None:
    db = tmp_path / "desk.db"
    clock = FrozenClock(T0)
    pending = _write_pending(db, clock, 3)
    delivered: list[str] = []

    other = Desk(SQLiteStore(db), clock=clock)  # worker B, alive all along
    other.on_transition(lambda n: delivered.append(n.key), "created", name=HANDLER)
    _follow(other, clock)

    store = SlowQueryStore(db, clock)
    desk = Desk(store, clock=clock)  # worker A
    polled: list[int] = []

    def deliver(notification: Notification) -> None:
        delivered.append(notification.key)
        clock.advance(seconds=60)  # a receiver taking 60 s: under half the 300 s lease
        if not polled:  # worker B polls while A is delivering
            polled.append(other.dispatch_outbox().delivered)

    desk.on_transition(deliver, "created", name=HANDLER)
    _follow(desk, clock)
    store.slow = timedelta(seconds=250)  # the due work takes 250 s, under the lease too

    Worker(desk).run_once()

    assert store.slow_queries == 1
    assert Counter(delivered) == Counter(pending)  # each delivered once
    desk.close()
    other.close()


def test_a_notification_written_by_due_work_is_not_delivered_by_a_second_worker_too(
    tmp_path: Path,
) -> None:
    db = tmp_path / "desk.db"
    clock = FrozenClock(T0)
    store = SlowQueryStore(db, clock)
    desk = Desk(store, clock=clock)  # worker A
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="emma")
    desk.fire(ticket.id, "start")
    desk.resolve(ticket.id, resolution="Replaced")
    clock.advance(timedelta(days=8))  # past auto_close_after_days

    delivered: list[str] = []
    other = Desk(SQLiteStore(db), clock=clock)  # worker B, alive all along
    other.on_enter("closed", lambda n: delivered.append(n.key), name="closed")
    polled: list[int] = []

    def deliver(notification: Notification) -> None:  # an instant receiver
        if not polled:  # worker B polls while A is delivering
            polled.append(other.dispatch_outbox().delivered)
        delivered.append(notification.key)

    desk.on_enter("closed", deliver, name="closed")
    store.slow = timedelta(seconds=15)  # 15 s of due work before the auto-close

    result = Worker(desk).run_once()

    assert store.slow_queries == 1
    assert result.due is not None
    assert result.due.auto_closed == (ticket.id,)
    assert len(delivered) == 1  # once, by A, which wrote it and delivers it inline
    desk.close()
    other.close()


APP = """
from __future__ import annotations

import os
import signal
from pathlib import Path

from aftersales import Desk, Notification


def build(store):
    folder = Path(os.environ["REVIEW_DIR"])
    desk = Desk(store)

    def deliver(notification: Notification) -> None:
        signal.raise_signal(signal.SIGTERM)  # the pod is being stopped meanwhile
        with (folder / "delivered").open("a") as out:
            out.write(notification.key + "\\n")

    desk.on_transition(deliver, "created", name="recorder")
    return desk
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_during_a_once_pass_finishes_the_delivery_and_exits_0(tmp_path: Path) -> None:
    db = tmp_path / "desk.db"
    clock = FrozenClock(datetime.now(timezone.utc) - timedelta(minutes=1))
    (pending,) = _write_pending(db, clock, 1)
    (tmp_path / "review_app.py").write_text(textwrap.dedent(APP))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
        "REVIEW_DIR": str(tmp_path),
    }
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from aftersales.cli import main; sys.exit(main())",
            "worker",
            "--db",
            str(db),
            "--app",
            "review_app:build",
            "--once",
        ],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr.decode()
    assert (tmp_path / "delivered").read_text().split() == [pending]
    with Desk.sqlite(db) as desk:
        assert [n.key for n in desk.outbox("delivered")] == [pending]


def test_a_worker_on_an_in_memory_database_is_refused() -> None:
    result = CliRunner().invoke(_build_app(), ["worker", "--db", "sqlite://", "--once"])
    assert result.exit_code == 1
    assert "--db" in result.stderr


def test_a_worker_leaves_a_notification_it_cannot_deliver_to_the_worker_that_can(
    tmp_path: Path,
) -> None:
    db = tmp_path / "desk.db"
    clock = FrozenClock(T0)

    def down(notification: Notification) -> None:
        raise DeliveryFailed("receiver down", retry_after=0)

    with Desk(SQLiteStore(db), clock=clock) as writer:  # the web app: both handlers
        writer.on_transition(down, "created", name="mine")
        writer.on_transition(down, "created", name="sms")
        writer.open_ticket(customer="c-1", channel="email", subject="Parcel")

    mine: list[str] = []
    sms: list[str] = []
    old = Desk(SQLiteStore(db), clock=clock)  # a worker deployed before the SMS handler
    old.on_transition(lambda n: mine.append(n.key), "created", name="mine")
    new = Desk(SQLiteStore(db), clock=clock)  # a worker that has it
    new.on_transition(lambda n: sms.append(n.key), "created", name="sms")

    assert Worker(old).run_once().dispatch.delivered == 1
    clock.advance(seconds=5)  # the next pass of the new worker
    Worker(new).run_once()

    assert len(mine) == 1
    assert len(sms) == 1  # not 300 s later
    old.close()
    new.close()


def test_due_work_that_keeps_failing_does_not_stop_the_deliveries(tmp_path: Path) -> None:
    db = tmp_path / "desk.db"
    clock = FrozenClock(T0)
    pending = _write_pending(db, clock, 3)

    class UnreadableDue(SQLiteStore):
        """A ticket row that cannot be read makes the query of due tickets fail."""

        failures = 0

        def due(self, before: datetime, limit: int) -> list[Ticket]:
            self.failures += 1
            if self.failures == 3:
                worker.request_stop()  # three passes are enough to have delivered
            raise StorageError("ticket row 17 cannot be read")

    desk = Desk(UnreadableDue(db), clock=clock)
    delivered: list[str] = []
    desk.on_transition(lambda n: delivered.append(n.key), "created", name=HANDLER)
    worker = Worker(desk, interval=0.01)

    worker.run_forever()  # logs each failed pass and goes on

    assert sorted(delivered) == sorted(pending)
    desk.close()


def test_a_worker_started_without_the_app_loses_no_notification_of_the_due_work(
    tmp_path: Path,
) -> None:
    db = tmp_path / "desk.db"
    resolved_at = datetime.now(timezone.utc) - timedelta(days=8)  # past auto-closing
    clock = FrozenClock(resolved_at)

    def build(store: SQLiteStore, now: FrozenClock | None = None) -> Desk:
        """The app's wiring: customers are told when their ticket is closed."""
        desk = Desk(store, clock=now)
        desk.on_enter("closed", lambda n: told.append(n.event.subject_id), name="told")
        return desk

    told: list[str] = []
    with build(SQLiteStore(db), clock) as desk:
        ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
        desk.classify(ticket.id, category="repair_warranty", severity="low")
        desk.assign(ticket.id, assignee="emma")
        desk.fire(ticket.id, "start")
        desk.resolve(ticket.id, resolution="Replaced")

    # an operator forgets --app (the CLI only warns)
    CliRunner().invoke(_build_app(), ["worker", "--db", str(db), "--once"])
    with build(SQLiteStore(db)) as desk:  # then the worker with the app
        Worker(desk).run_once()

    assert told == [ticket.id]  # the customer is told, by one worker or the other
