"""What evaluating automation rules costs ``Desk.fire`` on MemoryStore: a desk with 50
event rules that all hear the triggers fired (each evaluated on every fire, none
matching, so the figure is the evaluation's, not the actions'), against the same desk
without rules (the floor). Target: at most 1.25x (issue 19).

The two desks run in turns and the ratio is the median of each round's ratio, so a
machine that slows down between rounds does not move it.

Run: python benchmarks/bench_rules.py
"""

from __future__ import annotations

import functools
import statistics
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from _timing import interleaved_samples, median_ratio, report
from aftersales import Desk, FrozenClock, Notification
from aftersales.automations import Automations

N = 2_000
RULES = 50
VARIANTS = ("plain", "rules")


def rule_set(count: int = RULES) -> dict[str, Any]:
    """``count`` event rules hearing every ticket trigger, with conditions on the subject
    and the event that do not hold for the benchmark's ticket (as most rules of a real
    set do not, for most events)."""
    rules = []
    for number in range(count):
        conditions: list[dict[str, Any]] = [
            {"field": "subject.priority", "op": "in", "value": ["urgent", "high"]},
            {"field": "subject.tags", "op": "contains", "value": f"tag-{number}"},
        ]
        if number % 2:
            conditions.reverse()
        rules.append(
            {
                "name": f"rule-{number}",
                "kind": "event",
                "when": {"subjects": ["ticket"]},
                "conditions": conditions,
                "actions": [{"do": "add_tags", "tags": [f"seen-{number}"]}],
            }
        )
    return {"rules": rules}


def ready_desk(with_rules: bool) -> tuple[Desk, str, list[str]]:
    """A desk (with the rules if ``with_rules``) holding an in-progress ticket, and the
    list its hook appends to on every transition."""
    desk = Desk(clock=FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc)))
    if with_rules:
        Automations(desk, rule_set())
    delivered: list[str] = []

    def hook(notification: Notification) -> None:
        delivered.append(notification.key)

    desk.on_transition(hook, name="hook")
    ticket = desk.open_ticket(customer="c", channel="email", subject="bench", priority="low")
    desk.classify(ticket.id, category="repair_warranty", severity="low", priority="low")
    desk.assign(ticket.id, assignee="li", team="repairs")
    ticket_id = desk.fire(ticket.id, "start").id
    return desk, ticket_id, delivered


def fires(desk: Desk, ticket_id: str, count: int) -> None:
    """``count`` fires, waiting on the customer and resuming in turn."""
    fire = desk.fire
    for _ in range(count // 2):
        fire(ticket_id, "wait_for_customer")
        fire(ticket_id, "resume")


def timed() -> tuple[float, float, float]:
    """Median µs per fire without and with the rules, and the median per-round ratio."""
    batches: dict[str, Callable[[], object]] = {}
    delivered: dict[str, list[str]] = {}
    desks: dict[str, Desk] = {}
    for variant in VARIANTS:
        desk, ticket_id, heard = ready_desk(variant == "rules")
        delivered[variant], desks[variant] = heard, desk
        batches[variant] = functools.partial(fires, desk, ticket_id, N)
    samples = interleaved_samples(batches, N, repeats=15)
    for variant in VARIANTS:
        assert len(delivered[variant]) > N, "the hook must run on every transition"
    ruled = desks["rules"]
    assert not any(n.handler.startswith("rule:") for n in ruled.outbox()), "no rule may match"
    plain, rules = (statistics.median(samples[v]) * 1e6 for v in VARIANTS)
    return plain, rules, median_ratio(samples["rules"], samples["plain"])


def main() -> int:
    plain, rules, ratio = timed()
    ok = report(f"Desk.fire on MemoryStore with {RULES} event rules", rules, plain,
                "µs/fire", "<= 1.25x the same desk without rules", ratio <= 1.25,
                ratio)  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
