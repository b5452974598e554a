"""SQLAlchemyStore on SQLite vs SQLiteStore (issue 23): lifecycles/s through a Desk with
one transition hook (open, then classify, assign, start, resolve, confirm, close: seven
commits, each writing and acknowledging an outbox row), both stores in the same run, in
interleaved rounds, the ratio the median of each round's. Target: at least 0.7x.

The SQLite part of benchmarks/bench_sql.py on its own: that script's main also drops the
tables of the PostgreSQL database it is pointed at; this one touches temporary files only.

``--callgrind`` also counts instructions per lifecycle of each store (deterministic, not
moved by a neighbour's load): each runs in its own valgrind process, the measured batch
inside ``sys.call_tracing`` (see benchmarks/bench_transition.py).

Run: python benchmarks/bench_sqlalchemy_sqlite.py [--callgrind]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from _callgrind import instructions_per_unit
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


def counted_batch(name: str, count: int) -> None:
    """Warm ``name``'s store up, then run ``count`` lifecycles inside
    ``sys.call_tracing``, where callgrind collects."""
    with tempfile.TemporaryDirectory() as folder:
        desk = _hooked(STORES[name](Path(folder)))
        _batch(desk, 5)()
        sys.call_tracing(_batch(desk, count), ())
        desk.close()


def instructions_per_lifecycle(count: int = COUNTED) -> dict[str, float]:
    """Each store's instructions per lifecycle, its valgrind processes run side by side."""
    return instructions_per_unit(__file__, STORES, count)


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
        for desk in desks.values():
            desk.close()
    figure = LIFECYCLES / statistics.median(samples["sqlalchemy"])
    floor = LIFECYCLES / statistics.median(samples["sqlite"])
    # lifecycles/s is the inverse of seconds: the ratio is the native store's time over ours
    ratio = median_ratio(samples["sqlite"], samples["sqlalchemy"])
    ok = report("SQLite lifecycles, SQLAlchemyStore vs SQLiteStore", figure, floor,
                "lifecycles/s", ">= 0.7x SQLiteStore", ratio >= 0.7, ratio)  # fmt: skip
    if "--callgrind" in arguments:
        counted = instructions_per_lifecycle()
        ratio = counted["sqlite"] / counted["sqlalchemy"]
        ok &= report("SQLite lifecycle instructions (callgrind), SQLiteStore over SQLAlchemyStore",
                     counted["sqlalchemy"] / 1e3, counted["sqlite"] / 1e3,
                     "k instructions/lifecycle", ">= 0.7x", ratio >= 0.7, ratio)  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
