"""What the permission check costs ``Desk.fire`` on MemoryStore: a desk with the shipped
permission set and an agent principal acting on their team's ticket, against the same
desk without permissions (the floor). Target: at most 1.10x (issue 17).

The two desks run in turns and the ratio is the median of each round's ratio, so a
machine that slows down between rounds does not move it. With ``--callgrind`` the
instructions per fire are counted too (valgrind's callgrind, deterministic): each desk
runs twice under valgrind, with two numbers of fires, and the difference is divided by
the difference in fires, so start-up and set-up cancel out.

Run: python benchmarks/bench_permissions.py [--callgrind]
"""

from __future__ import annotations

import functools
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from _timing import interleaved_samples, median_ratio, report
from aftersales import Desk, FrozenClock, Notification
from aftersales.security import MemoryDirectory, Principal, default_permissions

N = 2_000
AGENT = Principal.agent("li.wei", "repairs")
VARIANTS = ("plain", "guarded")


def ready_desk(guarded: bool) -> tuple[Desk, str, list[str]]:
    """A desk (with permissions if ``guarded``) holding an in-progress ticket of the
    agent's team, and the list its hook appends to on every transition."""
    clock = FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc))
    if guarded:
        desk = Desk(
            clock=clock, permissions=default_permissions(), principals=MemoryDirectory([AGENT])
        )
    else:
        desk = Desk(clock=clock)
    delivered: list[str] = []

    def hook(notification: Notification) -> None:
        delivered.append(notification.key)

    desk.on_transition(hook, name="hook")
    ticket = desk.open_ticket(customer="c", channel="email", subject="bench")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee=AGENT.id, team="repairs")
    ticket_id = desk.fire(ticket.id, "start", actor=AGENT.id).id
    return desk, ticket_id, delivered


def fires(desk: Desk, ticket_id: str, count: int) -> None:
    """``count`` fires by the agent, waiting on the customer and resuming in turn."""
    fire = desk.fire
    actor = AGENT.id
    for _ in range(count // 2):
        fire(ticket_id, "wait_for_customer", actor=actor)
        fire(ticket_id, "resume", actor=actor)


def timed() -> tuple[float, float, float]:
    """Median µs per fire without and with permissions, and the median per-round ratio."""
    batches: dict[str, Callable[[], object]] = {}
    delivered: dict[str, list[str]] = {}
    for variant in VARIANTS:
        desk, ticket_id, heard = ready_desk(variant == "guarded")
        delivered[variant] = heard
        batches[variant] = functools.partial(fires, desk, ticket_id, N)
    samples = interleaved_samples(batches, N, repeats=15)
    for variant in VARIANTS:
        assert len(delivered[variant]) > N, "the hook must run on every transition"
    plain, guarded = (statistics.median(samples[v]) * 1e6 for v in VARIANTS)
    return plain, guarded, median_ratio(samples["guarded"], samples["plain"])


def instructions(variant: str, count: int) -> int:
    """Instructions valgrind counts for this script set up as ``variant`` and firing
    ``count`` times."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--fire",
                variant,
                str(count),
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        text = out.read_text()
    found = re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE)
    assert found, "callgrind wrote no totals"
    return int(found.group(1))


def counted(few: int = 200, many: int = 1_200) -> dict[str, float]:
    """Instructions per fire of each variant, from the difference of two runs."""
    return {
        variant: (instructions(variant, many) - instructions(variant, few)) / (many - few)
        for variant in VARIANTS
    }


def main(arguments: list[str]) -> int:
    if arguments[:1] == ["--fire"]:
        desk, ticket_id, _ = ready_desk(arguments[1] == "guarded")
        fires(desk, ticket_id, int(arguments[2]))
        return 0
    plain, guarded, ratio = timed()
    ok = report("Desk.fire on MemoryStore with default_permissions(), an agent", guarded, plain,
                "µs/fire", "<= 1.10x the same desk without permissions", ratio <= 1.10,
                ratio)  # fmt: skip
    if "--callgrind" in arguments:
        per_fire = counted()
        ratio = per_fire["guarded"] / per_fire["plain"]
        ok &= report("Desk.fire instructions (callgrind)", per_fire["guarded"] / 1000,
                     per_fire["plain"] / 1000, "k instructions/fire",
                     "<= 1.10x without permissions", ratio <= 1.10, ratio)  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
