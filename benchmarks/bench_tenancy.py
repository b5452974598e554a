"""What tenancy costs the SQLite ticket lifecycle (create + 6 transitions through the
Desk, one commit each, as benchmarks/bench_sqlite_lifecycle.py): the default tenant, and a
named tenant in a database that holds another tenant's tickets too, each against the
library as it was before tenants (a checkout of ``--baseline``, default the commit before
the one that added them, in a temporary git worktree). Target: at most 5% more time per lifecycle.

Each variant runs in a process of its own (the baseline imports the other checkout); the
processes take turns, batch by batch, so every round sees the same machine, and the
medians of the per-round ratios are printed.

Run: python benchmarks/bench_tenancy.py [--baseline COMMIT] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import report

ROOT = Path(__file__).resolve().parent.parent
LIFECYCLES = 100
OTHER_TICKETS = 3_000
"""Tickets of another tenant in each database, with their events (before tenants, the
same tickets of the one shop): every variant writes into a database of the same size."""


def before_tenants() -> str:
    """The commit before the one that brought tenants (that added ``_tenant.py``)."""
    found = subprocess.run(
        ["git", "-C", str(ROOT), "log", "--diff-filter=A", "--format=%H", "--", TENANT_MODULE],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return f"{found[-1]}^" if found else "HEAD"


TENANT_MODULE = "src/aftersales/storage/_tenant.py"

WORKER = r"""
import gc, json, sys, time
from datetime import datetime, timezone
from pathlib import Path
from aftersales import Desk, FrozenClock, SQLiteStore

STEPS = ("classify", "assign", "start", "resolve", "confirm", "close")
PAYLOADS = {
    "classify": {"category": "repair_warranty", "severity": "high"},
    "assign": {"assignee": "li.wei", "team": "repairs"},
    "resolve": {"resolution": "Replaced the drain pump"},
}
path, tenant, others, lifecycles = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
clock = FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc))
store = SQLiteStore(Path(path))
if others:  # another shop's tickets in the same database (before tenants: more tickets)
    scoped = getattr(store, "for_tenant", None)
    neighbour = Desk(store if scoped is None else scoped("shop-a"), clock=clock)
    neighbour.import_tickets(
        {"customer_id": f"c-{n}", "channel": "email", "subject": "theirs", "status": "new",
         "status_category": "new", "created_at": clock.now(), "updated_at": clock.now()}
        for n in range(others)
    )
if tenant:
    store = store.for_tenant(tenant)
desk = Desk(store, clock=clock)
desk.on_transition(lambda notification: None, name="hook")

def batch():
    for _ in range(lifecycles):
        ticket = desk.open_ticket(customer="c-1", channel="wechat", subject="洗衣机漏水")
        for trigger in STEPS:
            desk.fire(ticket.id, trigger, actor="li.wei", payload=PAYLOADS.get(trigger))

batch()  # warm up
print("ready", flush=True)
for line in sys.stdin:
    gc.collect()
    gc.disable()
    start = time.perf_counter()
    batch()
    elapsed = (time.perf_counter() - start) / lifecycles
    gc.enable()
    print(json.dumps(elapsed), flush=True)
"""


def baseline_checkout(commit: str, folder: Path) -> Path | None:
    """The ``src`` folder of ``commit`` checked out in a temporary worktree (None when
    this is no git checkout)."""
    target = folder / "baseline"
    made = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(target), commit],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        print(f"no baseline ({made.stderr.strip()}): comparing the tenants only")
        return None
    return target / "src"


def start(
    src: Path, path: Path, tenant: str, others: int, lifecycles: int
) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(path), tenant, str(others), str(lifecycles)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    ready = process.stdout.readline().strip()
    if ready != "ready":
        raise SystemExit(f"the {tenant or 'default'} worker did not start")
    return process


def sample(process: subprocess.Popen[str]) -> float:
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write("go\n")
    process.stdin.flush()
    return float(json.loads(process.stdout.readline()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=None, help="default: the commit before tenants")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        base_src = baseline_checkout(args.baseline or before_tenants(), folder)
        workers = {
            "default tenant": start(
                ROOT / "src", folder / "default.db", "", OTHER_TICKETS, LIFECYCLES
            ),
            "named tenant among others": start(
                ROOT / "src", folder / "shared.db", "shop-b", OTHER_TICKETS, LIFECYCLES
            ),
        }
        if base_src is not None:
            workers["before tenants"] = start(
                base_src, folder / "base.db", "", OTHER_TICKETS, LIFECYCLES
            )
        try:
            rounds: dict[str, list[float]] = {name: [] for name in workers}
            for _ in range(args.rounds):
                for name, process in workers.items():
                    rounds[name].append(sample(process))
        finally:
            for process in workers.values():
                assert process.stdin is not None
                process.stdin.close()
                process.wait()
            if base_src is not None:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_src.parent)],
                    check=False,
                )
    floor_name = "before tenants" if "before tenants" in rounds else "default tenant"
    floor = rounds[floor_name]
    ok = True
    for name, samples in rounds.items():
        if name == floor_name:
            continue
        ratio = statistics.median(s / f for s, f in zip(samples, floor, strict=True))
        ok &= report(
            f"lifecycle, {name} (vs {floor_name})",
            statistics.median(samples) * 1e3,
            statistics.median(floor) * 1e3,
            "ms",
            "<= 1.05x",
            ratio <= 1.05,
            ratio,
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
