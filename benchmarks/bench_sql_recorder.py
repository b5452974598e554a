"""The recorder port on PostgreSQL (issue 16): ticket lifecycles (open + classify, assign,
start, resolve, confirm, close, one hook, so every transition writes and acknowledges an
outbox row) through Desk + RecordStore(SQLAlchemyRecorder), next to the floor of the same
lifecycles through Desk + SQLAlchemyStore, in the same run, on the same database.

Both figures are medians of batches run in turns; each is printed twice: wall time (the
server's commits included) and this process's CPU time (the client's own work, where the
two stores differ). Target: the recorder within 5% of SQLAlchemyStore.

Run: python benchmarks/bench_sql_recorder.py   (needs the PostgreSQL server of the tests)
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from collections.abc import Callable

from _timing import report
from aftersales import Desk, FrozenClock, Notification
from aftersales.storage.recorder import RecordStore, SQLAlchemyRecorder
from aftersales.storage.sqlalchemy import SQLAlchemyStore

PG = os.environ.get(
    "AFTERSALES_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
LIFECYCLES = 40
ROUNDS = 9
STEPS = ("classify", "assign", "start", "resolve", "confirm", "close")
PAYLOADS = {
    "classify": {"category": "repair_warranty", "severity": "high"},
    "assign": {"assignee": "li.wei"},
    "resolve": {"resolution": "Replaced the drain pump"},
}


def _desk(store: object) -> Desk:
    from datetime import datetime, timezone

    desk = Desk(store, clock=FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc)))  # type: ignore[arg-type]

    def hook(notification: Notification) -> None:
        del notification

    desk.on_transition(hook, name="hook")
    return desk


def _batch(desk: Desk) -> Callable[[], None]:
    def run() -> None:
        for _ in range(LIFECYCLES):
            ticket = desk.open_ticket(customer="c-1", channel="wechat", subject="洗衣机漏水")
            for trigger in STEPS:
                desk.fire(ticket.id, trigger, actor="li.wei", payload=PAYLOADS.get(trigger))

    return run


def _rounds(batches: dict[str, Callable[[], None]]) -> dict[str, tuple[list[float], list[float]]]:
    """Seconds per lifecycle, wall and CPU, of each batch in each round (run in turns)."""
    samples: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in batches}
    for batch in batches.values():
        batch()  # warm up: statements rendered, validators built
    for _ in range(ROUNDS):
        for name, batch in batches.items():
            gc.collect()
            gc.disable()
            try:
                wall, cpu = time.perf_counter(), time.process_time()
                batch()
                samples[name][0].append((time.perf_counter() - wall) / LIFECYCLES)
                samples[name][1].append((time.process_time() - cpu) / LIFECYCLES)
            finally:
                gc.enable()
    return samples


def main() -> int:
    store = SQLAlchemyStore(PG)
    store.drop_schema()
    store.close()
    floor_desk = _desk(SQLAlchemyStore(PG))
    recorder_desk = _desk(RecordStore(SQLAlchemyRecorder(PG)))
    samples = _rounds({"store": _batch(floor_desk), "recorder": _batch(recorder_desk)})
    floor_desk.close()
    recorder_desk.close()
    ok = True
    for index, clock in enumerate(("wall", "client CPU")):
        floor = statistics.median(samples["store"][index]) * 1000
        figure = statistics.median(samples["recorder"][index]) * 1000
        ratio = statistics.median(
            r / s for r, s in zip(samples["recorder"][index], samples["store"][index], strict=True)
        )
        ok &= report(
            f"PostgreSQL lifecycle, {clock}, RecordStore(SQLAlchemyRecorder)",
            figure,
            floor,
            "ms",
            "<= 1.05x SQLAlchemyStore",
            ratio <= 1.05,
            ratio,
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
