"""What evaluating automation rules costs ``Desk.fire`` on MemoryStore, against the same
desk without rules and with the same hook (the floor). Target: at most 1.25x (issue 19).

Three rule sets, none of whose rules match (so the figure is the evaluation's, not the
actions'):

- ``shared``: 50 event rules hearing every trigger, all on one condition
  (``subject.priority in [urgent, high]``, computed once) and a tag: the flattering case.
- ``varied``: 50 event rules hearing every trigger, each on different facts (subject
  fields with eq/in/ge, tags contains, text contains, event.trigger, an event.payload
  key, actor.role, customer.tier and customer.language, time.hour and time.weekday, any
  groups): the worst case, every rule evaluated on every fire.
- ``spread``: 50 rules over the ticket workflow's triggers as a real shop writes them (a
  few on created, classify, assign, add_message, resolve, reopen, sla_breached...),
  measured over a whole ticket lifecycle.

The desks run in turns and each ratio is the median of the rounds' ratios, so a machine
that slows down between rounds does not move it.

Run: python benchmarks/bench_rules.py [shared|varied|spread ...]
     python benchmarks/bench_rules.py --callgrind   (instructions per fire, if valgrind)
"""

from __future__ import annotations

import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from _timing import interleaved_samples, median_ratio, report
from aftersales import Desk, FrozenClock, Notification
from aftersales.automations import Automations

N = 2_000
LIFECYCLES = 100
RULES = 50
TARGET = 1.25


def _rule(name: str, conditions: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    when: dict[str, Any] = {"subjects": ["ticket"]}
    if "triggers" in extra:
        when["triggers"] = extra.pop("triggers")
    return {
        "name": name,
        "kind": "event",
        "when": when,
        "conditions": conditions,
        **extra,
        "actions": [{"do": "add_tags", "tags": [f"seen-{name}"]}],
    }


def shared_rules(count: int = RULES) -> dict[str, Any]:
    """``count`` rules on one shared condition and a tag of their own."""
    rules = []
    for number in range(count):
        conditions: list[dict[str, Any]] = [
            {"field": "subject.priority", "op": "in", "value": ["urgent", "high"]},
            {"field": "subject.tags", "op": "contains", "value": f"tag-{number}"},
        ]
        if number % 2:
            conditions.reverse()
        rules.append(_rule(f"rule-{number}", conditions))
    return {"rules": rules}


def _c(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


_VARIED: list[list[dict[str, Any]]] = [
    [_c("subject.priority", "eq", "urgent")],
    [_c("subject.priority", "ge", "high"), _c("subject.team", "eq", "billing")],
    [_c("subject.tags", "contains", "vip")],
    [_c("subject.category", "in", ["fraud", "legal"])],
    [_c("event.trigger", "eq", "escalate")],
    [_c("event.payload.reason", "eq", "chargeback")],
    [_c("actor.role", "eq", "supervisor")],
    [_c("customer.tier", "eq", "gold")],
    [_c("customer.language", "in", ["de", "fr"]), _c("subject.priority", "ge", "normal")],
    [_c("time.hour", "ge", 22)],
    [_c("time.weekday", "ge", 6), _c("subject.severity", "eq", "critical")],
    [_c("subject.subject", "contains", "refund")],
    [_c("subject.escalation_level", "ge", 2)],
    [_c("subject.status", "eq", "resolved"), _c("subject.satisfaction", "le", 2)],
    [_c("subject.assignee", "missing"), _c("subject.priority", "eq", "urgent")],
    [_c("subject.channel", "eq", "phone"), _c("subject.tags", "not_contains", "callback")],
]


_ENUMS = frozenset({"subject.priority", "subject.severity", "subject.status", "event.trigger"})
"""Fields whose values the rule set is checked against (a made-up value is refused)."""


def varied_rules(count: int = RULES) -> dict[str, Any]:
    """``count`` rules hearing every trigger, each on facts of its own (the patterns of
    ``_VARIED`` with values of their own), a third with an ``any`` group; none holds
    for the benchmark's ticket and actor."""
    rules = []
    for number in range(count):
        conditions = [dict(c) for c in _VARIED[number % len(_VARIED)]]
        for condition in conditions:
            value = condition["value"]
            if (
                isinstance(value, str)
                and condition["op"] in ("eq", "contains")
                and condition["field"] not in _ENUMS
            ):
                condition["value"] = f"{value}-{number}"
        extra: dict[str, Any] = {}
        if number % 3 == 0:
            extra["any"] = [
                _c("subject.tags", "contains", f"any-{number}"),
                _c("event.payload.source", "eq", f"web-{number}"),
            ]
        rules.append(_rule(f"varied-{number}", conditions, **extra))
    return {"rules": rules}


_SPREAD: list[tuple[str, list[dict[str, Any]]]] = [
    ("created", [_c("subject.channel", "eq", "phone")]),
    ("created", [_c("customer.tier", "eq", "gold")]),
    ("created", [_c("subject.subject", "contains", "chargeback")]),
    ("created", [_c("subject.tags", "contains", "vip")]),
    ("created", [_c("customer.language", "in", ["de", "fr"])]),
    ("created", [_c("time.hour", "ge", 22)]),
    ("created", [_c("time.weekday", "ge", 6)]),
    ("classify", [_c("subject.category", "eq", "fraud")]),
    ("classify", [_c("subject.priority", "eq", "urgent")]),
    ("classify", [_c("subject.severity", "eq", "critical")]),
    ("classify", [_c("subject.category", "in", ["legal", "privacy"])]),
    ("classify", [_c("customer.tier", "eq", "gold"), _c("subject.priority", "ge", "high")]),
    ("assign", [_c("subject.team", "eq", "billing")]),
    ("assign", [_c("subject.assignee", "missing")]),
    ("assign", [_c("actor.role", "eq", "supervisor")]),
    ("assign", [_c("subject.priority", "eq", "urgent"), _c("subject.team", "ne", "repairs")]),
    ("add_message", [_c("event.payload.channel", "eq", "whatsapp")]),
    ("add_message", [_c("subject.status", "eq", "closed")]),
    ("add_message", [_c("subject.status", "eq", "resolved")]),
    ("add_message", [_c("event.payload.kind", "eq", "internal_note")]),
    ("add_message", [_c("subject.tags", "contains", "vip")]),
    ("start", [_c("subject.priority", "eq", "urgent")]),
    ("wait_for_customer", [_c("subject.tags", "contains", "vip")]),
    ("wait_for_customer", [_c("subject.priority", "ge", "high")]),
    ("resume", [_c("subject.escalation_level", "ge", 1)]),
    ("resolve", [_c("customer.tier", "eq", "gold")]),
    ("resolve", [_c("subject.reopen_count", "ge", 2)]),
    ("resolve", [_c("subject.tags", "contains", "vip")]),
    ("resolve", [_c("subject.category", "eq", "fraud")]),
    ("resolve", [_c("actor.role", "eq", "supervisor")]),
    ("reopen", [_c("subject.reopen_count", "ge", 3)]),
    ("reopen", [_c("customer.tier", "eq", "gold")]),
    ("reopen", [_c("subject.priority", "in", ["urgent", "high"])]),
    ("reopen", [_c("subject.tags", "contains", "vip")]),
    ("close", [_c("subject.satisfaction", "le", 2)]),
    ("close", [_c("subject.tags", "contains", "vip")]),
    ("escalate", [_c("subject.escalation_level", "ge", 1)]),
    ("escalate", [_c("subject.team", "ne", "tier2")]),
    ("sla_breached", [_c("subject.priority", "eq", "urgent")]),
    ("sla_breached", [_c("subject.tags", "contains", "vip")]),
    ("sla_breached", [_c("customer.tier", "eq", "gold")]),
    ("sla_warning", [_c("subject.priority", "ge", "high")]),
    ("cancel", [_c("subject.channel", "eq", "phone")]),
    ("merge", [_c("subject.tags", "contains", "vip")]),
    ("follow_up", [_c("subject.priority", "eq", "urgent")]),
    ("queue", [_c("subject.team", "missing")]),
    ("confirm", [_c("subject.satisfaction", "ge", 5)]),
    ("auto_close", [_c("subject.tags", "contains", "vip")]),
    ("wait_for_third_party", [_c("subject.team", "eq", "logistics")]),
    ("self_serve", [_c("subject.channel", "eq", "web")]),
]


def spread_rules() -> dict[str, Any]:
    """50 rules, a few on each of the ticket workflow's triggers (``_SPREAD``)."""
    return {
        "rules": [
            _rule(f"spread-{number}", conditions, triggers=[trigger])
            for number, (trigger, conditions) in enumerate(_SPREAD)
        ]
    }


RULE_SETS: dict[str, Callable[[], dict[str, Any]]] = {
    "shared": shared_rules,
    "varied": varied_rules,
    "spread": spread_rules,
}


def new_desk(rules: dict[str, Any] | None) -> tuple[Desk, list[str]]:
    """A desk (with ``rules`` if given), a silver customer and a hook appending to the
    list returned on every transition."""
    desk = Desk(clock=FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc)))
    desk.save_customer({"id": "c", "name": "C", "tier": "silver", "language": "en"})
    if rules is not None:
        Automations(desk, rules)
    delivered: list[str] = []

    def hook(notification: Notification) -> None:
        delivered.append(notification.key)

    desk.on_transition(hook, name="hook")
    return desk, delivered


def started_ticket(desk: Desk) -> str:
    ticket = desk.open_ticket(customer="c", channel="email", subject="bench", priority="low")
    desk.classify(ticket.id, category="repair_warranty", severity="low", priority="low")
    desk.assign(ticket.id, assignee="li", team="repairs")
    return desk.fire(ticket.id, "start").id


def fires(desk: Desk, ticket_id: str, count: int) -> None:
    """``count`` fires, waiting on the customer and resuming in turn."""
    fire = desk.fire
    for _ in range(count // 2):
        fire(ticket_id, "wait_for_customer")
        fire(ticket_id, "resume")


def lifecycles(desk: Desk, count: int) -> None:
    """``count`` tickets from opening to closing, with messages and a reopening."""
    for _ in range(count):
        ticket_id = started_ticket(desk)
        desk.add_message(ticket_id, "hello", author_id="li")
        desk.fire(ticket_id, "wait_for_customer")
        desk.add_message(ticket_id, "thanks", author_id="c", author_role="customer")
        desk.resolve(ticket_id, resolution="fixed")
        desk.reopen(ticket_id, reason="not fixed")
        desk.resolve(ticket_id, resolution="fixed")


def timed(name: str) -> tuple[float, float, float, str]:
    """Median µs per operation without and with the rule set ``name``, the median
    per-round ratio, and the unit."""
    batches: dict[str, Callable[[], object]] = {}
    delivered: dict[str, list[str]] = {}
    desks: dict[str, Desk] = {}
    per_batch = N if name != "spread" else LIFECYCLES
    for variant in ("plain", "rules"):
        desk, heard = new_desk(RULE_SETS[name]() if variant == "rules" else None)
        delivered[variant], desks[variant] = heard, desk
        if name == "spread":
            batches[variant] = functools.partial(lifecycles, desk, LIFECYCLES)
        else:
            batches[variant] = functools.partial(fires, desk, started_ticket(desk), N)
    samples = interleaved_samples(batches, per_batch, repeats=15)
    for variant in ("plain", "rules"):
        assert len(delivered[variant]) > per_batch, "the hook must run on every transition"
    ruled = desks["rules"]
    assert not any(n.handler.startswith("rule:") for n in ruled.outbox()), "no rule may match"
    plain, rules = (statistics.median(samples[v]) * 1e6 for v in ("plain", "rules"))
    unit = "µs/fire" if name != "spread" else "µs/lifecycle (12 commits)"
    return plain, rules, median_ratio(samples["rules"], samples["plain"]), unit


def callgrind(name: str) -> None:
    """Instructions per fire with and without the rule set ``name`` (valgrind's count,
    free of the machine's noise), if valgrind is installed."""
    if shutil.which("valgrind") is None:
        print("callgrind: valgrind not installed, skipped")
        return
    counts = {}
    for variant in ("plain", "rules"):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "cg.out")
            code = (
                "import bench_rules as b, sys\n"
                f"d, _ = b.new_desk(b.RULE_SETS[{name!r}]() if {variant == 'rules'} else None)\n"
                "t = b.started_ticket(d)\nb.fires(d, t, 200)\n"
                "sys.stdout.flush()\n"
            )
            for fires_count in (200, 1200):
                script = code.replace("200)", f"{fires_count})")
                subprocess.run(
                    ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                     sys.executable, "-c", script],
                    cwd=os.path.dirname(os.path.abspath(__file__)),
                    check=True, capture_output=True,
                )  # fmt: skip
                with open(out) as handle:
                    total = next(
                        int(line.split()[1]) for line in handle if line.startswith("summary:")
                    )
                counts[variant, fires_count] = total
    per = {v: (counts[v, 1200] - counts[v, 200]) / 1000 for v in ("plain", "rules")}
    print(f"callgrind {name}: {per['rules']:,.0f} instructions/fire vs floor "
          f"{per['plain']:,.0f} = {per['rules'] / per['plain']:.2f}x")  # fmt: skip


def main(argv: list[str]) -> int:
    if "--callgrind" in argv:
        callgrind("varied")
        return 0
    ok = True
    for name in argv or list(RULE_SETS):
        plain, rules, ratio, unit = timed(name)
        ok &= report(f"Desk.fire on MemoryStore with {RULES} {name} event rules", rules,
                     plain, unit, f"<= {TARGET}x the same desk without rules",
                     ratio <= TARGET, ratio)  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
