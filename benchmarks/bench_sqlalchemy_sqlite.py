"""SQLAlchemyStore on SQLite vs SQLiteStore (issue 23): lifecycles/s through a Desk with
one transition hook (open, then classify, assign, start, resolve, confirm, close: seven
commits, each writing and acknowledging an outbox row), both stores in the same run, in
interleaved rounds, the ratio the median of each round's. Target: at least 0.7x.

The SQLite part of benchmarks/bench_sql.py on its own: that script's main also drops the
tables of the PostgreSQL database it is pointed at; this one touches temporary files only.

The run also measures a reference ratio (the ceiling of the store before it ran its
statements on the driver's connection): the statements SQLAlchemyStore sent to
the driver for those lifecycles (the same count as SQLiteStore's, 48 against 45 a
lifecycle), replayed in their transactions through the store's own engine
(``exec_driver_sql``, as the store ran them until it sent them to the driver's own
connection, inside SQLAlchemy's transactions, where nothing listens: see
aftersales.storage._sqlalchemy.driver.driver_of) and through sqlite3 directly.
What SQLAlchemy's layer adds to the same statements, added to SQLiteStore's own time,
is the least a store running every statement through SQLAlchemy's execution can cost
here; SQLAlchemyStore now pays only its connections and transactions of that layer,
and passes that figure.

``--callgrind`` also counts instructions per lifecycle of each store (deterministic, not
moved by a neighbour's load): each runs in its own valgrind process, the measured batch
inside ``sys.call_tracing`` (see benchmarks/bench_transition.py).

Run: python benchmarks/bench_sqlalchemy_sqlite.py [--callgrind]
"""

from __future__ import annotations

import functools
import gc
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from _callgrind import instructions_per_unit, run_counted
from _timing import interleaved_samples, median_ratio, report
from aftersales import Desk, SQLiteStore
from aftersales.storage.sqlalchemy import SQLAlchemyStore
from bench_sql import _desk_batch, _hooked  # its lifecycle; importing it drops nothing

LIFECYCLES = 40
ROUNDS = 15
COUNTED = 100
STORES: dict[str, Callable[[Path], object]] = {
    "sqlalchemy": lambda folder: SQLAlchemyStore(f"sqlite:///{folder / 'sa.db'}"),
    "sqlite": lambda folder: SQLiteStore(folder / "native.db"),
}


def _batch(desk: Desk, count: int) -> Callable[[], None]:
    return lambda: _desk_batch(desk, count)


Transaction = list[tuple[str, Any]]
"""One transaction's statements as sent to the driver, with their parameters."""


def sent_statements(store: SQLAlchemyStore, run: Callable[[], None]) -> list[Transaction]:
    """The statements ``run`` has ``store`` send to the driver, by transaction."""
    transactions: list[Transaction] = []
    running: Transaction = []

    def sent(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        running.append((statement, parameters))

    def ended(conn: Any) -> None:
        if running:
            transactions.append(list(running))
            running.clear()

    engine = store.recorder.engine
    hooks = (("before_cursor_execute", sent), ("commit", ended), ("rollback", ended))
    for name, hook in hooks:
        sa.event.listen(engine, name, hook)
    try:
        run()
    finally:
        for name, hook in hooks:
            sa.event.remove(engine, name, hook)
    return transactions


def replay_through_sqlalchemy(store: SQLAlchemyStore, sent: list[Transaction]) -> None:
    """``sent`` again through the store's engine, a pooled connection a transaction."""
    engine = store.recorder.engine
    for transaction in sent:
        with engine.connect() as conn, conn.begin():
            for statement, parameters in transaction:
                conn.exec_driver_sql(statement, parameters)


def replay_through_sqlite3(conn: sqlite3.Connection, sent: list[Transaction]) -> None:
    """``sent`` again on a sqlite3 connection, each transaction as SQLiteStore runs one."""
    execute = conn.execute
    for transaction in sent:
        execute("BEGIN IMMEDIATE")
        for statement, parameters in transaction:
            execute(statement, parameters)
        execute("COMMIT")


def replay_seconds(folder: Path, sent: list[Transaction], rounds: int) -> dict[str, float]:
    """Median seconds of replaying ``sent`` each way, in turns, each into an empty
    database of the stores' schema made before its replay (the statements insert rows)."""
    samples: dict[str, list[float]] = {"sqlalchemy": [], "sqlite3": []}
    for round_ in range(rounds + 1):  # the first round warms up
        paths = {way: folder / f"replay-{way}-{round_}.db" for way in samples}
        for path in paths.values():  # the schema as SQLAlchemyStore makes it
            SQLAlchemyStore(f"sqlite:///{path}").close()
        store = SQLAlchemyStore(f"sqlite:///{paths['sqlalchemy']}")
        conn = sqlite3.connect(paths["sqlite3"], isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")
        ways: dict[str, Callable[[], None]] = {
            "sqlalchemy": functools.partial(replay_through_sqlalchemy, store, sent),
            "sqlite3": functools.partial(replay_through_sqlite3, conn, sent),
        }
        for way, replay in ways.items():
            gc.collect()
            gc.disable()
            try:
                started = time.perf_counter()
                replay()
                if round_:
                    samples[way].append(time.perf_counter() - started)
            finally:
                gc.enable()
        store.close()
        conn.close()
    return {way: statistics.median(values) for way, values in samples.items()}


REPLAYS = ("replay-sqlalchemy", "replay-sqlite3")


def counted_batch(name: str, count: int) -> None:
    """Warm ``name``'s store up, then run ``count`` lifecycles inside
    ``sys.call_tracing``, where callgrind collects; for a replay, capture the statements
    of ``count`` lifecycles on SQLAlchemyStore, then replay them (see replay_seconds)."""
    with tempfile.TemporaryDirectory() as name_:
        folder = Path(name_)
        if name in REPLAYS:
            desk = _hooked(STORES["sqlalchemy"](folder))
            _batch(desk, 5)()
            sent = sent_statements(desk.store, _batch(desk, count))  # type: ignore[arg-type]
            desk.close()
            paths = [folder / f"replay-{i}.db" for i in range(2)]
            for path in paths:
                SQLAlchemyStore(f"sqlite:///{path}").close()
            if name == "replay-sqlalchemy":
                warm = SQLAlchemyStore(f"sqlite:///{paths[0]}")
                replay_through_sqlalchemy(warm, sent[: len(sent) // count])
                warm.close()
                store = SQLAlchemyStore(f"sqlite:///{paths[1]}")
                run_counted(replay_through_sqlalchemy, (store, sent))
                store.close()
            else:
                for path in paths:
                    conn = sqlite3.connect(path, isolation_level=None)
                    conn.execute("PRAGMA synchronous=NORMAL")
                    if path == paths[0]:
                        replay_through_sqlite3(conn, sent[: len(sent) // count])
                    else:
                        run_counted(replay_through_sqlite3, (conn, sent))
                    conn.close()
            return
        desk = _hooked(STORES[name](folder))
        _batch(desk, 5)()
        run_counted(_batch(desk, count), ())
        desk.close()


def instructions_per_lifecycle(count: int = COUNTED) -> dict[str, float]:
    """Each store's (and replay's) instructions per lifecycle, its valgrind processes run
    side by side."""
    return instructions_per_unit(__file__, (*STORES, *REPLAYS), count)


def main(arguments: list[str]) -> int:
    if arguments[:1] == ["--instructions"]:
        counted_batch(arguments[1], int(arguments[2]))
        return 0
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        desks = {store: _hooked(make(folder)) for store, make in STORES.items()}
        samples = interleaved_samples(
            {store: _batch(desk, LIFECYCLES) for store, desk in desks.items()},
            1,
            repeats=ROUNDS,
        )
        sent = sent_statements(desks["sqlalchemy"].store, _batch(desks["sqlalchemy"], LIFECYCLES))  # type: ignore[arg-type]
        for desk in desks.values():
            desk.close()
        replayed = replay_seconds(folder, sent, ROUNDS)
    figure = LIFECYCLES / statistics.median(samples["sqlalchemy"])
    floor = LIFECYCLES / statistics.median(samples["sqlite"])
    # lifecycles/s is the inverse of seconds: the ratio is the native store's time over ours
    ratio = median_ratio(samples["sqlite"], samples["sqlalchemy"])
    ok = report("SQLite lifecycles, SQLAlchemyStore vs SQLiteStore", figure, floor,
                "lifecycles/s", ">= 0.7x SQLiteStore", ratio >= 0.7, ratio)  # fmt: skip
    statements = sum(map(len, sent)) / LIFECYCLES
    layer = (replayed["sqlalchemy"] - replayed["sqlite3"]) / LIFECYCLES
    native = statistics.median(samples["sqlite"]) / LIFECYCLES
    ceiling = 1 / (native + layer)
    print(f"     the statements SQLAlchemyStore sent, replayed ({statements:.0f} a lifecycle, "
          f"{len(sent) / LIFECYCLES:.0f} transactions): through its engine "
          f"{replayed['sqlalchemy'] / LIFECYCLES * 1e6:,.0f} µs a lifecycle, through sqlite3 "
          f"{replayed['sqlite3'] / LIFECYCLES * 1e6:,.0f} µs")  # fmt: skip
    report("reference: SQLiteStore plus what SQLAlchemy's execution adds to every statement",
           ceiling, floor, "lifecycles/s", "-", True)  # fmt: skip
    print(f"     SQLAlchemyStore runs at {figure / ceiling:.2f} of that reference")
    if "--callgrind" in arguments:
        counted = instructions_per_lifecycle()
        ratio = counted["sqlite"] / counted["sqlalchemy"]
        ok &= report("SQLite lifecycle instructions (callgrind), SQLiteStore over SQLAlchemyStore",
                     counted["sqlalchemy"] / 1e3, counted["sqlite"] / 1e3,
                     "k instructions/lifecycle", ">= 0.7x", ratio >= 0.7, ratio)  # fmt: skip
        layer_count = counted["replay-sqlalchemy"] - counted["replay-sqlite3"]
        ceiling_count = counted["sqlite"] + layer_count
        print(f"     reference by instructions: SQLiteStore's {counted['sqlite'] / 1e3:,.1f}k + "
              f"{layer_count / 1e3:,.1f}k that SQLAlchemy's layer adds to the same statements "
              f"= {ceiling_count / 1e3:,.1f}k a lifecycle, "
              f"{counted['sqlite'] / ceiling_count:.2f}x; SQLAlchemyStore runs at "
              f"{ceiling_count / counted['sqlalchemy']:.2f} of it")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
