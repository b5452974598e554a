"""Routing one ticket on SQLiteStore among 50 agents holding 50 open tickets each: the
router weighs every agent's load, so a route counts 50 times.

Figures, per route:

- ``route``: ``Desk.route`` (classify, then assign to the least loaded agent: two
  transitions, each committed), loads counted with ``Store.count``;
- ``route, count by find``: the same on a store whose ``count`` is ``len(find(...))``,
  what the desk's count was before ``Store.count`` (it read and decoded every open
  ticket of every agent, 2,500 a route);
- ``loads`` and ``loads by find``: the 50 counts alone, each way;
- floor: the 50 counts as raw SQL on the same database (``SELECT COUNT(*) FROM tickets
  WHERE tenant = '' AND assignee = ? AND status_category = 'open'``, sqlite3 directly).

By time (the workloads run in turns, medians of each) and, with ``--callgrind``, in
instructions (valgrind's callgrind, deterministic: see benchmarks/_callgrind.py). Targets:
the loads within 3x of the raw counts, and a route at least 5x cheaper than before.

Run: python benchmarks/bench_routing_load.py [--callgrind]
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from _callgrind import instructions_per_unit, run_counted
from _timing import interleaved_samples, report
from aftersales import Desk, FrozenClock, SQLiteStore
from aftersales.models import StatusCategory
from aftersales.routing import RuleClassifier
from aftersales.storage import TicketQuery

AGENTS = 50
HELD = 50
"""Open tickets each agent holds (and as many resolved, which do not count)."""
ROUTES = 10
"""Routes per timed batch."""
REPEATS = 9
COUNTED = 20
"""Routes (or rounds of 50 counts) per workload under callgrind."""
NOW = datetime(2024, 3, 4, 10, tzinfo=timezone.utc)  # a Monday
WORKLOADS = ("floor", "loads", "loads by find", "route", "route, count by find")


class CountByFind(SQLiteStore):
    """SQLiteStore counting as the desk counted before ``Store.count``."""

    def count(self, query: TicketQuery) -> int:
        return len(self.find(query))


def _agents() -> list[str]:
    return [f"agent-{index:02d}" for index in range(AGENTS)]


def _desk(path: Path, store_type: type[SQLiteStore] = SQLiteStore) -> Desk:
    """A routing desk on a new database at ``path`` whose agents hold :data:`HELD` open
    tickets each (and as many resolved)."""
    routing = {
        "agents": [
            {"id": agent, "teams": ["returns"], "capacity": 10 * HELD} for agent in _agents()
        ],
        "teams": [{"id": "returns"}],
        "default_team": "returns",
        "default_strategy": "least_loaded",
    }
    store = store_type(path)
    desk = Desk(store, clock=FrozenClock(NOW), classifier=RuleClassifier(), routing=routing)
    made = NOW - timedelta(days=2)
    desk.import_tickets(
        {
            "customer_id": f"c{index}",
            "channel": "email",
            "subject": "refund please",
            "status": status,
            "assignee": agent,
            "team": "returns",
            "created_at": made,
            "updated_at": made,
        }
        for index, (agent, status) in enumerate(
            (agent, status)
            for agent in _agents()
            for status in ("assigned", "resolved")
            for _ in range(HELD)
        )
    )
    return desk


def _opened(desk: Desk, count: int) -> list[str]:
    """``count`` new tickets, not yet routed."""
    return [
        desk.open_ticket(customer=f"new-{i}", channel="email", subject="refund please").id
        for i in range(count)
    ]


def _routes(store_type: type[SQLiteStore]) -> Callable[[Path, int], Callable[[], None]]:
    def make(folder: Path, per_batch: int) -> Callable[[], None]:
        desk = _desk(folder / f"{store_type.__name__}.db", store_type)
        waiting = _opened(desk, per_batch * (REPEATS + 2))
        route = desk.route

        def batch() -> None:
            for _ in range(per_batch):
                routed = route(waiting.pop())
                assert routed.assignee is not None

        return batch

    return make


def _loads(by_find: bool) -> Callable[[Path, int], Callable[[], None]]:
    def make(folder: Path, per_batch: int) -> Callable[[], None]:
        store = _desk(folder / f"loads-{by_find}.db").store
        queries = [
            TicketQuery(assignee=agent, status_category=StatusCategory.OPEN, limit=10_000)
            for agent in _agents()
        ]
        count = store.count

        def batch() -> None:
            for _ in range(per_batch):
                if by_find:
                    loads = [len(store.find(query)) for query in queries]
                else:
                    loads = [count(query) for query in queries]
                assert loads == [HELD] * AGENTS

        return batch

    return make


def _floor(folder: Path, per_batch: int) -> Callable[[], None]:
    path = folder / "floor.db"
    _desk(path).store.close()
    conn = sqlite3.connect(path)
    sql = (
        "SELECT COUNT(*) FROM tickets WHERE tenant = '' AND assignee = ? "
        "AND status_category = 'open'"
    )
    agents = [(agent,) for agent in _agents()]
    execute = conn.execute

    def batch() -> None:
        for _ in range(per_batch):
            loads = [execute(sql, agent).fetchone()[0] for agent in agents]
            assert loads == [HELD] * AGENTS

    return batch


MAKERS: dict[str, Callable[[Path, int], Callable[[], None]]] = {
    "floor": _floor,
    "loads": _loads(by_find=False),
    "loads by find": _loads(by_find=True),
    "route": _routes(SQLiteStore),
    "route, count by find": _routes(CountByFind),
}


def counted_batch(workload: str, count: int) -> None:
    """Set ``workload`` up and warm it up, then run ``count`` units of it inside
    ``sys.call_tracing``, where callgrind collects."""
    with tempfile.TemporaryDirectory() as folder:
        batch = MAKERS[workload](Path(folder), count)
        batch()
        run_counted(batch, ())


def main(arguments: list[str]) -> int:
    if arguments[:1] == ["--instructions"]:
        counted_batch(arguments[1], int(arguments[2]))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        batches = {name: make(Path(folder), ROUTES) for name, make in MAKERS.items()}
        samples = interleaved_samples(batches, ROUTES, REPEATS)
    ms: dict[str, Any] = {name: statistics.median(values) * 1e3 for name, values in samples.items()}
    print(f"SQLiteStore, {AGENTS} agents x {HELD} open tickets (ms per route, medians):")
    for name in WORKLOADS:
        print(f"  {name:<22}{ms[name]:>9.3f}")
    ok = report("loads (50 Store.count)", ms["loads"], ms["floor"], "ms/route",
                "<= 3x raw COUNTs", ms["loads"] <= 3 * ms["floor"])  # fmt: skip
    gain = ms["route, count by find"] / ms["route"]
    ok &= report("route before / after", ms["route, count by find"], ms["route"], "ms/route",
                 ">= 5x", gain >= 5, gain)  # fmt: skip
    if "--callgrind" in arguments:
        k = {
            name: n / 1000
            for name, n in instructions_per_unit(__file__, WORKLOADS, COUNTED).items()
        }
        print(f"Instructions (callgrind, k per route, {COUNTED} routes each):")
        for name in WORKLOADS:
            print(f"  {name:<22}{k[name]:>12,.0f}")
        ok &= report("loads (50 Store.count), instructions", k["loads"], k["floor"], "k/route",
                     "<= 3x raw COUNTs", k["loads"] <= 3 * k["floor"])  # fmt: skip
        gain = k["route, count by find"] / k["route"]
        ok &= report("route before / after, instructions", k["route, count by find"], k["route"],
                     "k/route", ">= 5x", gain >= 5, gain)  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
