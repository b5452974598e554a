"""A full return on SQLite, durable, versus the ticket lifecycle benchmark in the same run.

A full return: a ticket's return request with the policy check (China's 7-day no-reason
rule) → approve → return label → goods received → inspected → refund case opened → refund
processing → succeeded, which closes the return. Events and outbox rows included; the
refund case commits with the return's refund, the return's close with the refund's
success. Measured two ways:

- "returns": the label goes out with the approval (``instructions=``), 6 commits;
- "returns, label apart": the label is a step of its own, 7 commits.

The floor is the foundation's ticket lifecycle (create + 6 transitions, 7 commits) through
the same Desk on the same kind of file. Target: at least 0.65x its lifecycles per second
(issue 23; 0.6x before).

``--callgrind`` also counts instructions per return and per lifecycle (deterministic, not
moved by a neighbour's load): each workload runs in its own valgrind process, the measured
batch inside ``sys.call_tracing`` (see benchmarks/bench_transition.py). By hand::

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=sys_call_tracing \\
        python benchmarks/bench_return.py --instructions returns 30

Run: python benchmarks/bench_return.py [--callgrind]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from _callgrind import instructions_per_unit, run_counted
from _timing import interleaved_samples, median_ratio, report
from aftersales import Desk, FrozenClock, Notification, SQLiteStore

RETURNS = 60
ROUNDS = 21
COUNTED = 30
"""Returns (or lifecycles) per workload under callgrind."""
WARM_UP = 300
"""Returns (or lifecycles) each callgrind process runs before it counts."""
STEPS = ("classify", "assign", "start", "resolve", "confirm", "close")
PAYLOADS = {
    "classify": {"category": "repair_warranty", "severity": "high"},
    "assign": {"assignee": "li.wei", "team": "repairs"},
    "resolve": {"resolution": "Replaced the drain pump"},
}
LABEL = {"method": "label", "carrier": "SF"}
LINE = {
    "line_id": "l1",
    "facts": {
        "jurisdiction": "cn",
        "product": {"category": "apparel", "sku": "DRESS-M"},
        "order": {
            "purchased_at": "2024-02-26T10:00:00+08:00",
            "delivered_at": "2024-02-28T15:00:00+08:00",
            "unit_price": {"amount": "299.00", "currency": "CNY"},
            "quantity": 1,
        },
        "claim": {"at": "2024-03-04T17:00:00+08:00", "kind": "no_reason_return"},
    },
}


def _desk(path: Path) -> Desk:
    clock = FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc))
    desk = Desk(SQLiteStore(path), clock=clock)

    def hook(notification: Notification) -> None:
        del notification

    desk.on_transition(hook, name="hook", kinds="all")
    return desk


def _returns(
    desk: Desk, ticket_id: str, orders: Iterator[int], count: int, *, label_apart: bool
) -> None:
    """``count`` full returns, the label sent on approval or as a step of its own."""
    cases = desk.cases
    for _ in range(count):
        order_id = f"o{next(orders)}"
        if label_apart:
            case = cases.request_return(ticket_id, order_id=order_id, lines=[LINE])
            cases.fire(case.id, "send_instructions", payload=LABEL)
        else:
            case = cases.request_return(
                ticket_id, order_id=order_id, lines=[LINE], instructions=LABEL
            )
        cases.fire(case.id, "receive", payload={"units": {"l1": 1}})
        cases.fire(case.id, "inspect", payload={"results": {"l1": ["restock"]}})
        refund_id = cases.fire(case.id, "refund").refund_case_id
        assert refund_id is not None
        cases.fire(refund_id, "process")
        cases.fire(refund_id, "succeed")


def full_returns(desk: Desk, ticket_id: str, orders: Iterator[int], count: int) -> None:
    """``count`` returns with the label sent on approval (6 commits each)."""
    _returns(desk, ticket_id, orders, count, label_apart=False)


def full_returns_label_apart(desk: Desk, ticket_id: str, orders: Iterator[int], count: int) -> None:
    """``count`` returns with the label a step of its own (7 commits each)."""
    _returns(desk, ticket_id, orders, count, label_apart=True)


def ticket_lifecycles(desk: Desk, ticket_id: str, orders: Iterator[int], count: int) -> None:
    """``count`` ticket lifecycles (7 commits each): the floor."""
    del ticket_id, orders
    for _ in range(count):
        t = desk.open_ticket(customer="c-1", channel="wechat", subject="洗衣机漏水")
        for trigger in STEPS:
            desk.fire(t.id, trigger, actor="li.wei", payload=PAYLOADS.get(trigger))


WORKLOADS: dict[str, Callable[[Desk, str, Iterator[int], int], None]] = {
    "returns": full_returns,
    "returns, label apart": full_returns_label_apart,
    "tickets": ticket_lifecycles,
}


def counted_batch(name: str, count: int) -> None:
    """Warm ``name`` up, then run ``count`` of it inside ``sys.call_tracing``, where
    callgrind collects."""
    with tempfile.TemporaryDirectory() as folder:
        desk = _desk(Path(folder) / "counted.db")
        ticket = desk.open_ticket(customer="c-1", channel="app", subject="退货")
        orders = iter(range(10**9))
        # a desk with a history, as the timed rounds have: a statement whose cost grows
        # with the tables (a scan) shows in the count
        WORKLOADS[name](desk, ticket.id, orders, WARM_UP)
        run_counted(WORKLOADS[name], (desk, ticket.id, orders, count))
        desk.close()


def instructions_per_workload(count: int = COUNTED) -> dict[str, float]:
    """Each workload's instructions per return (or lifecycle), its valgrind processes
    run side by side."""
    return instructions_per_unit(__file__, WORKLOADS, count)


def main(arguments: list[str]) -> int:
    if arguments[:1] == ["--instructions"]:
        counted_batch(arguments[1], int(arguments[2]))
        return 0
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        returns_desk = _desk(folder / "returns.db")
        tickets_desk = _desk(folder / "tickets.db")
        ticket = returns_desk.open_ticket(customer="c-1", channel="app", subject="退货")
        orders = iter(range(10**9))
        batches: dict[str, Callable[[], object]] = {
            name: (
                lambda run=run, desk=tickets_desk if name == "tickets" else returns_desk: run(
                    desk, ticket.id, orders, RETURNS
                )
            )
            for name, run in WORKLOADS.items()
        }
        samples = interleaved_samples(batches, RETURNS, ROUNDS)
        first_return = returns_desk.cases.find(kind="return", limit=1)[0]
        assert first_return.status == "closed", first_return
        returns_desk.close()
        tickets_desk.close()
    lifecycles_per_second = 1 / statistics.median(samples["tickets"])
    ok = True
    for name, commits in (("returns", 6), ("returns, label apart", 7)):
        per_second = 1 / statistics.median(samples[name])
        ratio = median_ratio(samples["tickets"], samples[name])
        ok &= report(
            f"full return on SQLite ({name}: policy check, {commits} commits) "
            "vs ticket lifecycle (7 commits)",
            per_second,
            lifecycles_per_second,
            "per s",
            ">= 0.65x, median of the rounds' ratios",
            ratio >= 0.65,
            ratio,
        )
    if "--callgrind" in arguments:
        counted = instructions_per_workload()
        for name in ("returns", "returns, label apart"):
            ratio = counted["tickets"] / counted[name]
            ok &= report(
                f"full return instructions (callgrind, {name}) vs ticket lifecycle",
                counted[name] / 1e3,
                counted["tickets"] / 1e3,
                "k instructions",
                ">= 0.65x, the lifecycle's over the return's",
                ratio >= 0.65,
                ratio,
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
