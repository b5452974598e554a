"""One transition through the Desk on MemoryStore (event + hook dispatch included) versus a
bare ``transitions`` trigger on an equivalent shared machine. Target: at most 3x by time
(the two run in turns; the ratio is the median of each round's).

With ``--callgrind`` the instructions per transition are counted too (valgrind's
callgrind, deterministic; target: at most 2x, issue 23). Each workload runs in a process
of its own under valgrind with collection off, and is set up and warmed up there; then
its measured batch runs inside ``sys.call_tracing`` (a C function nothing else on this
path calls), which ``--toggle-collect`` turns collection on for: start-up, imports and
set-up are not counted, and no second run is needed to cancel them out. The same
figures by hand::

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=sys_call_tracing \\
        python benchmarks/bench_transition.py --instructions desk 1000
    callgrind_annotate callgrind.out.<pid> | head -30

Run: python benchmarks/bench_transition.py [--callgrind]
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from datetime import datetime, timezone

from transitions import Machine

from _callgrind import instructions_per_unit, run_counted
from _timing import interleaved_samples, median_ratio, report
from aftersales import TICKET_WORKFLOW, Desk, FrozenClock, Notification

N = 2_000
COUNTED = 1_000
"""Transitions per workload under callgrind."""
WORKLOADS = ("bare", "desk")


class _Model:
    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def bare_transitions(count: int) -> Callable[[], None]:
    """A batch of ``count`` triggers of the same states and transitions on one shared
    machine, with one condition per trigger."""

    def allowed(event_data: object) -> bool:
        return True

    machine = Machine(
        model=None,
        states=[state.name for state in TICKET_WORKFLOW.states],
        transitions=[
            {
                "trigger": t.trigger,
                "source": list(t.source),
                "dest": t.dest,
                "conditions": [allowed],
            }
            for t in TICKET_WORKFLOW.transitions
        ],
        initial="in_progress",
        auto_transitions=False,
        send_event=True,
    )
    model = _Model("in_progress")
    wait, resume = machine.events["wait_for_customer"], machine.events["resume"]

    def batch() -> None:
        for _ in range(count // 2):
            wait.trigger(model)
            resume.trigger(model)

    return batch


def desk_fire(count: int) -> Callable[[], None]:
    """A batch of ``count`` fires through a desk with one transition hook."""
    clock = FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc))
    desk = Desk(clock=clock)
    delivered = []

    def hook(notification: Notification) -> None:
        delivered.append(notification.key)

    desk.on_transition(hook, name="hook")
    ticket = desk.open_ticket(customer="c", channel="email", subject="bench")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="a")
    ticket_id = desk.fire(ticket.id, "start").id
    fire = desk.fire

    def batch() -> None:
        heard = len(delivered)
        for _ in range(count // 2):
            fire(ticket_id, "wait_for_customer")
            fire(ticket_id, "resume")
        assert len(delivered) - heard == count, "the hook must run on every transition"

    return batch


BATCHES = {"bare": bare_transitions, "desk": desk_fire}


def counted_batch(workload: str, count: int) -> None:
    """Set up and warm ``workload`` up, then run ``count`` transitions of it inside
    ``sys.call_tracing``, where callgrind collects (see the module's docstring)."""
    batch = BATCHES[workload](count)
    batch()
    run_counted(batch, ())


def instructions_per_transition(count: int = COUNTED) -> dict[str, float]:
    """Each workload's instructions per transition, its processes run side by side."""
    return instructions_per_unit(__file__, WORKLOADS, count)


def main(arguments: list[str]) -> int:
    if arguments[:1] == ["--instructions"]:
        counted_batch(arguments[1], int(arguments[2]))
        return 0
    # in turns, the ratio the median of each round's: a machine whose load changes between
    # rounds (other benchmarks, tests) does not move it
    samples = interleaved_samples({w: BATCHES[w](N) for w in WORKLOADS}, N, repeats=15)
    floor, figure = (statistics.median(samples[w]) * 1e6 for w in WORKLOADS)
    ratio = median_ratio(samples["desk"], samples["bare"])
    ok = report("Desk.fire on MemoryStore (event + hook)", figure, floor, "µs/transition",
                "<= 3x bare transitions trigger", ratio <= 3, ratio)  # fmt: skip
    if "--callgrind" in arguments:
        per_transition = instructions_per_transition()
        ratio = per_transition["desk"] / per_transition["bare"]
        ok &= report("Desk.fire instructions (callgrind)", per_transition["desk"] / 1000,
                     per_transition["bare"] / 1000, "k instructions/transition",
                     "<= 2x bare transitions trigger", ratio <= 2, ratio)  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
