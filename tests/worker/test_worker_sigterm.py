"""A worker process stopped with SIGTERM in the middle of a delivery."""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from worker_app import HANDLER, read_keys, write_pending
from worker_runs import TIMEOUT, start_worker, wait_for

from aftersales import Desk, Notification
from aftersales.worker import Worker

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def test_sigterm_finishes_the_delivery_under_way_and_releases_the_rest_at_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "desk.db"
    pending = write_pending(db, 5)
    log = tmp_path / "worker.log"
    worker = start_worker(db, tmp_path, log, {"WORKER_TEST_GATE": "1"})
    try:
        wait_for(lambda: read_keys(tmp_path / "started") != [], "the first delivery to begin")
        (in_flight,) = read_keys(tmp_path / "started")
        worker.send_signal(signal.SIGTERM)
        # The signal is pending in the worker before the gate exists, so its handler has
        # run by the time the blocked delivery can see the gate and return.
        (tmp_path / "gate").touch()
        code = worker.wait(timeout=TIMEOUT)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert code == 0, log.read_text()
    assert "worker stopping on SIGTERM" in log.read_text()
    assert read_keys(tmp_path / "started") == [in_flight]  # nothing begun after the stop
    assert read_keys(tmp_path / "delivered") == [in_flight]  # the one under way finished

    with Desk.sqlite(db) as desk:
        assert [n.key for n in desk.outbox("delivered")] == [in_flight]  # acknowledged
        released = desk.outbox("pending")
        now = datetime.now(timezone.utc)
        assert sorted(n.key for n in released) == sorted(set(pending) - {in_flight})
        assert all(n.lease_until is None and n.next_attempt_at <= now for n in released)
        # a second worker takes them now, not after delivery_lease_seconds (300 s)
        second: list[str] = []

        def deliver(notification: Notification) -> None:
            second.append(notification.key)

        desk.on_transition(deliver, "created", name=HANDLER)
        assert Worker(desk).run_once(now + timedelta(seconds=1)).dispatch.delivered == 4
    assert sorted(second) == sorted(set(pending) - {in_flight})


def test_sigterm_while_waiting_between_passes_exits_at_once(tmp_path: Path) -> None:
    db = tmp_path / "desk.db"
    write_pending(db, 1)
    log = tmp_path / "worker.log"
    worker = start_worker(db, tmp_path, log, {}, "--interval", "3600")
    try:
        wait_for(lambda: read_keys(tmp_path / "delivered") != [], "the delivery")
        wait_for(lambda: "pass: 1 delivered" in log.read_text(), "the end of the pass")
        os.kill(worker.pid, signal.SIGTERM)
        code = worker.wait(timeout=TIMEOUT)  # an hour's interval: only the stop ends it
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert code == 0, log.read_text()
    assert "worker stopped" in log.read_text()
