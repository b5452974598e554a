"""Two worker processes on one SQLite file (and on PostgreSQL, 20 times), one of them
killed with SIGKILL at random 50 times while they deliver: no notification is lost, and
each kill redelivers at most one.

Why at most one: a worker acknowledges each delivery in its own transaction right after
it (``Outbox.ack_every = 1`` while a :class:`~aftersales.worker.Worker` runs), so a
killed worker leaves at most one notification delivered and not acknowledged: the one it
was delivering. The rows it had claimed and not begun stay pending under its lease and
are delivered once, by whichever worker claims them after the lease. Live workers never
share a row: a pass starts deliveries only in the first half of its lease (1 s of the 2 s
here), so none delivers a row another may claim (as long as one delivery takes under a
second). The redeliveries are therefore at most the kills; a receiver that remembers the
keys it has processed acts on each notification exactly once.
"""

from __future__ import annotations

import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from worker_app import open_store, write_pending
from worker_runs import TIMEOUT, start_worker, wait_for

from aftersales import Desk

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

KILLS = 50
SEED = 19
FIRST_BATCH = 300
TOP_UP = 150
"""Notifications added whenever fewer than this many are left to deliver, so the workers
never run dry before the last kill, however fast they are."""
SETTINGS = {"WORKER_TEST_LEASE": "2", "WORKER_TEST_PAUSE": "0.02"}


class _Deliveries:
    """The record file the workers append ``<key> <pid>`` lines to, read as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.keys: list[str] = []
        self.by_pid: Counter[int] = Counter()

    def read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as file:
            file.seek(self.offset)
            data = file.read()
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        for line in lines:
            key, pid = line.decode().split()
            self.keys.append(key)
            self.by_pid[int(pid)] += 1


def _database(backend: str, tmp_path: Path) -> Path | str:
    if backend == "sqlite":
        return tmp_path / "desk.db"
    pytest.importorskip("sqlalchemy", reason='needs the sql extra: pip install "aftersales[sql]"')
    from test_sqlalchemy_store import fresh_store, server_url

    url = server_url(backend)
    fresh_store(url).close()
    return url


@pytest.mark.parametrize(("backend", "kills"), [("sqlite", KILLS), ("postgresql", 20)])
def test_workers_killed_at_random_lose_nothing_and_redeliver_at_most_one_per_kill(
    tmp_path: Path, backend: str, kills: int
) -> None:
    began = time.monotonic()
    db = _database(backend, tmp_path)
    created = write_pending(db, FIRST_BATCH)
    deliveries = _Deliveries(tmp_path / "delivered")
    rng = random.Random(SEED)
    logs = [tmp_path / f"worker-{n}.log" for n in range(2)]
    workers = [start_worker(db, tmp_path, log, SETTINGS, "--batch", "10") for log in logs]
    killed = 0
    try:
        while killed < kills:
            victim = rng.randrange(2)
            pid = workers[victim].pid
            done_before = deliveries.by_pid[pid]

            def victim_delivered(pid: int = pid, done_before: int = done_before) -> bool:
                deliveries.read()
                return deliveries.by_pid[pid] > done_before

            wait_for(victim_delivered, f"worker {victim} (pid {pid}) to deliver")
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait(timeout=TIMEOUT)
            killed += 1
            workers[victim] = start_worker(db, tmp_path, logs[victim], SETTINGS, "--batch", "10")
            if len(created) - len(set(deliveries.keys)) < TOP_UP:
                created += write_pending(db, TOP_UP, start=len(created))

        def all_delivered() -> bool:
            deliveries.read()
            return set(deliveries.keys) >= set(created)

        wait_for(all_delivered, "every notification to be delivered")
        with Desk(open_store(db)) as desk:
            wait_for(lambda: desk.outbox("pending") == [], "every delivery to be acknowledged")
            stored = Counter(n.status.value for n in desk.outbox())
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(timeout=TIMEOUT) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    deliveries.read()

    counts = Counter(deliveries.keys)
    redelivered = sum(count - 1 for count in counts.values())
    seen: set[str] = set()
    acted_on = [key for key in deliveries.keys if not (key in seen or seen.add(key))]
    print(  # the figures of the proof (pytest -s shows them)
        f"\n{backend}: {len(created)} notifications, {len(deliveries.keys)} deliveries, "
        f"{redelivered} redelivered ({sum(1 for c in counts.values() if c > 1)} keys), "
        f"{killed} kills, {time.monotonic() - began:.1f}s"
    )
    assert codes == [0, 0], [log.read_text()[-2000:] for log in logs]
    assert set(counts) == set(created)  # none lost, nothing unknown delivered
    assert killed == kills
    assert redelivered <= killed
    assert Counter(acted_on) == Counter(created)  # deduplicated by key: each exactly once
    assert stored == Counter({"delivered": len(created)})
