"""One transition through the Desk on MemoryStore (event + hook dispatch included) versus a
bare ``transitions`` trigger on an equivalent shared machine. Target: at most 3x.

Run: python benchmarks/bench_transition.py
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone

from transitions import Machine

from _timing import median_seconds, report
from aftersales import TICKET_WORKFLOW, Desk, FrozenClock, Notification

N = 2_000


class _Model:
    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def bare_transitions() -> float:
    """The same states and transitions on one shared machine, with one condition per trigger."""

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
        for _ in range(N // 2):
            wait.trigger(model)
            resume.trigger(model)

    return median_seconds(batch, N)


def desk_fire() -> float:
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
        for _ in range(N // 2):
            fire(ticket_id, "wait_for_customer")
            fire(ticket_id, "resume")

    seconds = median_seconds(batch, N)
    assert len(delivered) > N, "the hook must run on every transition"
    return seconds


def main() -> int:
    floor = bare_transitions() * 1e6
    figure = desk_fire() * 1e6
    ok = report("Desk.fire on MemoryStore (event + hook)", figure, floor, "µs/transition",
                "<= 3x bare transitions trigger", figure <= 3 * floor)  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
