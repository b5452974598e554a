"""The recorder port on PostgreSQL (issue 16): SQLAlchemyStore is RecordStore on
SQLAlchemyRecorder with one tuned write of its own, the import's. Each workload runs through
Desk + RecordStore(SQLAlchemyRecorder), next to the floor of the same work through Desk +
SQLAlchemyStore, in the same run, on the same database:

- ticket lifecycles: open + classify, assign, start, resolve, confirm, close, one hook, so
  every transition writes and acknowledges an outbox row (the same code both ways: the
  figure shows the noise);
- full returns, as benchmarks/bench_return.py runs them (request with instructions,
  receive, inspect, refund, process, succeed);
- imports of 1,000 tickets in one batch (Desk.import_tickets): SQLAlchemyStore's
  ``commit_many`` inserts each table's rows in one statement.

Figures are medians of batches run in turns, printed twice: wall time (the server's
commits included) and this process's CPU time (the client's own work, where the two
differ). Target: the port within 5% of SQLAlchemyStore, except the import, which is
reported (the reason the store keeps its own).

Run: python benchmarks/bench_sql_recorder.py   (needs the PostgreSQL server of the tests)
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from itertools import count

import sqlalchemy as sa

from _timing import report
from aftersales import Desk, FrozenClock, Notification
from aftersales.storage.recorder import RecordStore, SQLAlchemyRecorder
from aftersales.storage.sqlalchemy import SQLAlchemyStore, metadata

PG = os.environ.get(
    "AFTERSALES_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
LIFECYCLES = 40
RETURNS = 20
IMPORTED = 1000
ROUNDS = 9
STEPS = ("classify", "assign", "start", "resolve", "confirm", "close")
PAYLOADS = {
    "classify": {"category": "repair_warranty", "severity": "high"},
    "assign": {"assignee": "li.wei"},
    "resolve": {"resolution": "Replaced the drain pump"},
}


# the return of bench_return.py, measured the same way
from bench_return import full_returns  # noqa: E402


def _desk(store: object) -> Desk:
    from datetime import datetime, timezone

    desk = Desk(store, clock=FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc)))  # type: ignore[arg-type]

    def hook(notification: Notification) -> None:
        del notification

    desk.on_transition(hook, name="hook", kinds="all")
    return desk


def _lifecycles(desk: Desk) -> Callable[[], None]:
    def run() -> None:
        for _ in range(LIFECYCLES):
            ticket = desk.open_ticket(customer="c-1", channel="wechat", subject="洗衣机漏水")
            for trigger in STEPS:
                desk.fire(ticket.id, trigger, actor="li.wei", payload=PAYLOADS.get(trigger))

    return run


def _returns(desk: Desk, orders: Iterator[int]) -> Callable[[], None]:
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="退货")

    def run() -> None:
        full_returns(desk, ticket.id, orders, RETURNS)

    return run


def _imports(desk: Desk, batches: Iterator[int]) -> Callable[[], None]:
    def run() -> None:
        batch = next(batches)
        desk.import_tickets(
            {
                "id": f"legacy-{batch}-{n}",
                "channel": "email",
                "subject": f"Imported case {n}",
                "customer_id": f"c{n % 97}",
                "status": "closed",
                "assignee": "li",
                "created_at": "2023-05-01T08:00:00+00:00",
                "updated_at": "2023-05-01T08:05:00+00:00",
            }
            for n in range(IMPORTED)
        )

    return run


def _rounds(
    batches: dict[str, Callable[[], None]], per_batch: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Seconds per operation, wall and CPU, of each batch in each round (run in turns)."""
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
                samples[name][0].append((time.perf_counter() - wall) / per_batch)
                samples[name][1].append((time.process_time() - cpu) / per_batch)
            finally:
                gc.enable()
    return samples


def main() -> int:
    engine = sa.create_engine(PG)
    metadata.drop_all(engine)
    engine.dispose()
    store_desk = _desk(SQLAlchemyStore(PG))
    port_desk = _desk(RecordStore(SQLAlchemyRecorder(PG)))
    orders, imports = count(), count()
    workloads = (
        ("lifecycle", LIFECYCLES, _lifecycles, "ms", True),
        ("full return", RETURNS, lambda d: _returns(d, orders), "ms", True),
        (f"import of {IMPORTED:,} tickets", 1, lambda d: _imports(d, imports), "ms", False),
    )
    ok = True
    for name, per_batch, make, unit, targeted in workloads:
        samples = _rounds({"store": make(store_desk), "port": make(port_desk)}, per_batch)
        for index, clock in enumerate(("wall", "client CPU")):
            floor = statistics.median(samples["store"][index]) * 1000
            figure = statistics.median(samples["port"][index]) * 1000
            ratio = statistics.median(
                p / s for p, s in zip(samples["port"][index], samples["store"][index], strict=True)
            )
            ok &= report(
                f"PostgreSQL {name}, {clock}, RecordStore(SQLAlchemyRecorder) vs SQLAlchemyStore",
                figure,
                floor,
                unit,
                "<= 1.05x" if targeted else "reported",
                ratio <= 1.05 or not targeted,
                ratio,
            )
    store_desk.close()
    port_desk.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
