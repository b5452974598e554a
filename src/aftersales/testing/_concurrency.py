"""The race and crash contracts: writers at once on one database, and writers killed in
the middle of a transition. Re-exported by :mod:`aftersales.testing.contracts`.

Every wait here is for progress observed (a barrier, a report from a child process, a
child's exit), never for a time guessed; ``STALLED`` only bounds a run that is stuck, so
that it fails saying what it waited for.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from aftersales.clock import FrozenClock
from aftersales.exceptions import (
    ConcurrencyError,
    InvalidInput,
    TransitionRefused,
    TriggerNotAllowed,
)
from aftersales.notify import Notification
from aftersales.service import Desk
from aftersales.storage import Store

__all__ = ["CrashContract", "RaceContract", "race_for_the_last_units"]

PAYLOADS: dict[str, dict[str, Any]] = {
    "classify": {"category": "repair_warranty", "severity": "high"},
    "assign": {"assignee": "li"},
    "start": {},
    "wait_for_customer": {},
    "wait_for_third_party": {},
    "resume": {},
    "escalate": {"reason": "slow"},
    "resolve": {"resolution": "fixed"},
    "reopen": {"reason": "again"},
}
TICKETS = 200
KILLS = 150
STALLED = 120
"""Seconds without any progress after which a test gives up and says what it waited for:
a bound for a stuck run, never a guess at how fast a machine is."""
_CLOCK_START = datetime(2024, 3, 4, 9, tzinfo=timezone.utc)


def _claim_line() -> dict[str, Any]:
    """A claim for 2 of the 3 units bought on one line: no-reason return, inside the
    window of the Chinese rules on the test clock's day."""
    return {
        "line_id": "l1",
        "sku": "SKU-l1",
        "facts": {
            "jurisdiction": "cn",
            "product": {"category": "apparel", "sku": "SKU-l1"},
            "order": {
                "purchased_at": "2024-02-26T10:00:00+08:00",
                "delivered_at": "2024-02-28T15:00:00+08:00",
                "unit_price": {"amount": "100.00", "currency": "CNY"},
                "quantity": 3,
            },
            "claim": {"at": "2024-03-04T17:00:00+08:00", "kind": "no_reason_return", "quantity": 2},
        },
    }


def race_for_the_last_units(first: Store, second: Store, orders: int = 10) -> list[list[str]]:
    """Two desks, each on its own store (connection), ask at the same moment to return 2
    of the 3 units bought on one line of the same order. Per order, what each got:
    ``"returned"`` or ``"refused"`` (anything else is the unexpected error's repr).
    Closes both stores."""
    try:
        return _race(first, second, orders)
    finally:
        first.close()
        second.close()


def _race(first: Store, second: Store, orders: int) -> list[list[str]]:
    clock = FrozenClock(_CLOCK_START)
    desks = [Desk(first, clock=clock), Desk(second, clock=clock)]
    ticket_id = desks[0].open_ticket(customer="c-1", channel="app", subject="退货").id

    def ask(desk: Desk, order_id: str, barrier: threading.Barrier, outcome: list[str]) -> None:
        barrier.wait()
        try:
            desk.cases.request_return(ticket_id, order_id=order_id, lines=[_claim_line()])
            outcome.append("returned")
        except InvalidInput:
            outcome.append("refused")
        except Exception as error:  # noqa: BLE001 - the test shows what went wrong
            outcome.append(repr(error))

    outcomes: list[list[str]] = []
    for number in range(orders):
        barrier = threading.Barrier(len(desks))
        outcome: list[str] = []
        threads = [
            threading.Thread(target=ask, args=(desk, f"race-{number}", barrier, outcome))
            for desk in desks
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        outcomes.append(sorted(outcome))
    return outcomes


class RaceContract:
    """Writers at once on one database, each on its own connection (threads).

    Implement ``make_store`` (a store on a fresh, empty database) and ``open_store``
    (another store on the database ``make_store`` made last; a store that has one
    connection only may return that same store)."""

    def make_store(self) -> Store:
        raise NotImplementedError

    def open_store(self) -> Store:
        raise NotImplementedError

    def test_two_writers_racing_for_the_last_units_of_a_line_cannot_both_win(self) -> None:
        outcomes = race_for_the_last_units(self.make_store(), self.open_store())
        assert outcomes == [["refused", "returned"]] * len(outcomes)


def _open_tickets(store: Store, count: int) -> list[str]:
    desk = Desk(store)
    ids = [
        desk.open_ticket(customer=f"c{n % 17}", channel="email", subject=f"t{n}").id
        for n in range(count)
    ]
    desk.close()
    return ids


def _fire_randomly(
    open_store: Callable[[], Store], ids: list[str], calls: int, seed: int, start: Any, out: Any
) -> None:
    """Make ``calls`` successful transitions (conflicts and refusals do not count), all
    workers starting together: a count of work, never a duration, so a slow machine
    takes longer but does the same."""
    desk = Desk(open_store())
    rng = random.Random(seed)
    done: list[tuple[str, int, str, str]] = []
    start.wait()
    while len(done) < calls:
        ticket_id = rng.choice(ids)
        try:
            ticket = desk.get(ticket_id)
            allowed = [t for t in desk.workflow.allowed_triggers(ticket.status) if t in PAYLOADS]
            trigger = rng.choice(allowed)
            changed = desk.fire(
                ticket_id, trigger, actor=f"worker-{seed}", payload=PAYLOADS[trigger]
            )
            done.append((ticket_id, changed.version, trigger, f"worker-{seed}"))
        except (ConcurrencyError, TriggerNotAllowed, TransitionRefused):
            continue
    desk.close()
    out.put(done)


def _assert_consistent(store: Store, ids: list[str]) -> dict[str, list[Any]]:
    histories = {}
    for ticket_id in ids:
        ticket = store.get(ticket_id)
        events = store.events(ticket_id)
        assert [e.sequence for e in events] == list(range(1, ticket.version + 1)), ticket_id
        assert Desk(store).replay(ticket_id) == ticket
        histories[ticket_id] = events
    store.close()
    return histories


def _deliver_to(inbox: Path) -> Callable[[Notification], None]:
    def receive(notification: Notification) -> None:
        # A SIGKILL can cut a write short; the leading newline keeps a torn fragment
        # from swallowing the next key, and the reader drops the fragment.
        with inbox.open("a", encoding="utf-8") as handle:
            handle.write("\n" + notification.key + "\n")

    return receive


def _crash_loop(
    open_store: Callable[[], Store], ids: list[str], inbox: str, seed: int, progress: Any
) -> None:
    """Fire transitions until killed, telling the parent after each one committed."""
    desk = Desk(open_store(), settings={"inline_lease_seconds": 0.001})
    desk.on_transition(_deliver_to(Path(inbox)), name="inbox")
    rng = random.Random(seed)
    while True:
        ticket_id = rng.choice(ids)
        try:
            ticket = desk.get(ticket_id)
            allowed = [t for t in desk.workflow.allowed_triggers(ticket.status) if t in PAYLOADS]
            trigger = rng.choice(allowed)
            desk.fire(ticket_id, trigger, actor="crasher", payload=PAYLOADS[trigger])
        except (ConcurrencyError, TriggerNotAllowed, TransitionRefused):
            continue
        progress.send_bytes(b"c")  # one more committed transition


def _wait_for_commits(child: Any, progress: Any, count: int, kill: int) -> None:
    """Wait until the child reports ``count`` committed transitions; fail, saying which
    kill and what was missing, if it dies or stalls first."""
    for seen in range(count):
        if not progress.poll(STALLED):
            pytest.fail(
                f"kill {kill}: the child committed {seen} of the {count} transitions awaited "
                f"and then nothing for {STALLED} s (alive: {child.is_alive()})"
            )
        try:
            progress.recv_bytes()
        except EOFError:
            child.join()
            pytest.fail(
                f"kill {kill}: the child exited with code {child.exitcode} after committing "
                f"{seen} of the {count} transitions awaited"
            )


class CrashContract(RaceContract):
    """Several processes on one database, and processes killed inside transitions.

    For a store that several processes can share: ``open_store`` runs in child processes
    started with ``fork`` (POSIX). Afterwards no update is lost, every ticket's events
    replay to its stored state, versions are gapless, and every notification of a
    committed transition reaches an idempotent receiver."""

    def test_four_processes_lose_no_update(self) -> None:
        fork = multiprocessing.get_context("fork")
        ids = _open_tickets(self.make_store(), TICKETS)
        out = fork.Queue()
        start = fork.Barrier(4)
        workers = [
            fork.Process(target=_fire_randomly, args=(self.open_store, ids, 40, seed, start, out))
            for seed in range(4)
        ]
        for worker in workers:
            worker.start()
        calls = []
        for _ in workers:
            try:
                calls += out.get(timeout=STALLED)
            except Exception:  # noqa: BLE001 - queue.Empty: nothing for STALLED seconds
                codes = [w.exitcode for w in workers]
                pytest.fail(f"a worker reported no calls within {STALLED} s (exit codes {codes})")
        for worker in workers:
            worker.join(timeout=STALLED)
            assert worker.exitcode == 0, f"worker {worker.pid} exited with {worker.exitcode}"
        assert len(calls) == 4 * 40
        histories = _assert_consistent(self.open_store(), ids)
        seen = set()
        for ticket_id, version, trigger, actor in calls:
            event = histories[ticket_id][version - 1]
            assert (event.trigger, event.actor) == (trigger, actor)
            seen.add((ticket_id, version))
        assert len(seen) == len(calls)  # every successful call, exactly once
        assert sum(len(events) - 1 for events in histories.values()) == len(calls)

    def test_kills_inside_transitions_leave_no_half_change_and_lose_no_notification(
        self, tmp_path: Path
    ) -> None:
        fork = multiprocessing.get_context("fork")
        ids = _open_tickets(self.make_store(), 20)
        inbox = tmp_path / "inbox.txt"
        rng = random.Random(7)
        for kill in range(KILLS):
            receiving, sending = fork.Pipe(duplex=False)
            child = fork.Process(
                target=_crash_loop, args=(self.open_store, ids, str(inbox), kill, sending)
            )
            child.start()
            sending.close()  # the child's end: EOF here once the child is gone
            # Killed after 1-3 commits it reported, so somewhere inside a later
            # transition: progress observed, never a time guessed, decides when.
            _wait_for_commits(child, receiving, rng.randint(1, 3), kill)
            os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
            child.join()
            receiving.close()
        histories = _assert_consistent(self.open_store(), ids)
        worker = Desk(self.open_store())
        worker.on_transition(_deliver_to(inbox), name="inbox")
        # Past every lease and retry time the killed writers set: their clock, an hour on.
        later = datetime.now(timezone.utc) + timedelta(hours=1)
        pending = worker.outbox("pending")
        deadline = time.monotonic() + STALLED  # a bound for a stuck run only
        while pending and time.monotonic() < deadline:
            while worker.dispatch_outbox(later, limit=1000).delivered:
                pass
            pending = worker.outbox("pending")
            # A writer killed while claiming rows holds their locks until the server sees
            # its socket close; SKIP LOCKED passes them over until then.
        worker.close()
        assert pending == [], (
            f"still pending {STALLED} s after the last kill",
            [(n.key, n.attempts, n.last_error) for n in pending],
        )
        assert inbox.exists(), "no notification reached the inbox at all"
        received = {
            line
            for line in inbox.read_text(encoding="utf-8").splitlines()
            if re.fullmatch(r"[0-9a-f]{32}:[0-9]+:inbox", line)
        }
        committed = {
            f"{e.subject_id}:{e.sequence}:inbox"
            for events in histories.values()
            for e in events[1:]
        }
        assert committed <= received, ("committed but never delivered", committed - received)
        assert received <= committed | {f"{i}:1:inbox" for i in ids}  # nothing made up
        assert len(committed) >= KILLS, len(committed)  # each child committed before its kill
