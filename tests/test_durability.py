"""Concurrency and crash tests on every store that several processes can share.

Four processes fire random valid triggers on the same tickets; a child is killed with
SIGKILL at random points inside transitions. Afterwards no update is lost, every ticket's
events replay to its stored state, versions are gapless, and every notification of a
committed transition reaches an idempotent receiver.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import random
import re
import signal
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from aftersales import (
    ConcurrencyError,
    Desk,
    FrozenClock,
    Notification,
    SQLiteStore,
    Store,
    TransitionRefused,
    TriggerNotAllowed,
)

sqlalchemy = pytest.importorskip(
    "sqlalchemy", reason='needs the sql extra: pip install "aftersales[sql]"'
)

from aftersales.storage.sqlalchemy import SQLAlchemyStore  # noqa: E402
from test_sqlalchemy_store import fresh_store, server_url  # noqa: E402

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
FORK = multiprocessing.get_context("fork")


def _store(spec: str) -> Store:
    kind, _, location = spec.partition(":")
    return SQLiteStore(location) if kind == "sqlite" else SQLAlchemyStore(location)


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'shared.db'}"
    url = server_url(request.param)
    fresh_store(url).close()
    return f"sql:{url}"


def _open_tickets(spec: str, count: int) -> list[str]:
    store = _store(spec)
    desk = Desk(store)
    ids = [
        desk.open_ticket(customer=f"c{n % 17}", channel="email", subject=f"t{n}").id
        for n in range(count)
    ]
    desk.close()
    return ids


def _fire_randomly(spec: str, ids: list[str], calls: int, seed: int, start: Any, out: Any) -> None:
    """Make ``calls`` successful transitions (conflicts and refusals do not count), all
    workers starting together: a count of work, never a duration, so a slow machine
    takes longer but does the same."""
    desk = Desk(_store(spec))
    rng = random.Random(seed)
    done = []
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


def _assert_consistent(spec: str, ids: list[str]) -> dict[str, list[Any]]:
    store = _store(spec)
    histories = {}
    for ticket_id in ids:
        ticket = store.get(ticket_id)
        events = store.events(ticket_id)
        assert [e.sequence for e in events] == list(range(1, ticket.version + 1)), ticket_id
        assert Desk(store).replay(ticket_id) == ticket
        histories[ticket_id] = events
    store.close()
    return histories


def test_four_processes_lose_no_update(spec: str) -> None:
    ids = _open_tickets(spec, TICKETS)
    out = FORK.Queue()
    start = FORK.Barrier(4)
    workers = [
        FORK.Process(target=_fire_randomly, args=(spec, ids, 40, seed, start, out))
        for seed in range(4)
    ]
    for worker in workers:
        worker.start()
    calls = []
    for _ in workers:
        try:
            calls += out.get(timeout=STALLED)
        except queue.Empty:
            codes = [w.exitcode for w in workers]
            pytest.fail(f"a worker reported no calls within {STALLED} s (exit codes {codes})")
    for worker in workers:
        worker.join(timeout=STALLED)
        assert worker.exitcode == 0, f"worker {worker.pid} exited with {worker.exitcode}"
    assert len(calls) == 4 * 40
    histories = _assert_consistent(spec, ids)
    seen = set()
    for ticket_id, version, trigger, actor in calls:
        event = histories[ticket_id][version - 1]
        assert (event.trigger, event.actor) == (trigger, actor)
        seen.add((ticket_id, version))
    assert len(seen) == len(calls)  # every successful call, exactly once
    assert sum(len(events) - 1 for events in histories.values()) == len(calls)


def _deliver_to(inbox: Path) -> Callable[[Notification], None]:
    def receive(notification: Notification) -> None:
        # A SIGKILL can cut a write short; the leading newline keeps a torn fragment
        # from swallowing the next key, and the reader drops the fragment.
        with inbox.open("a", encoding="utf-8") as handle:
            handle.write("\n" + notification.key + "\n")

    return receive


def _crash_loop(spec: str, ids: list[str], inbox: str, seed: int, progress: Any) -> None:
    """Fire transitions until killed, telling the parent after each one committed."""
    desk = Desk(_store(spec), settings={"inline_lease_seconds": 0.001})
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


def test_kills_inside_transitions_leave_no_half_change_and_lose_no_notification(
    spec: str, tmp_path: Path
) -> None:
    ids = _open_tickets(spec, 20)
    inbox = tmp_path / "inbox.txt"
    rng = random.Random(7)
    for kill in range(KILLS):
        receiving, sending = FORK.Pipe(duplex=False)
        child = FORK.Process(target=_crash_loop, args=(spec, ids, str(inbox), kill, sending))
        child.start()
        sending.close()  # the child's end: EOF here once the child is gone
        # Killed after 1-3 commits it reported, so somewhere inside a later transition:
        # progress observed, never a time guessed, decides when.
        _wait_for_commits(child, receiving, rng.randint(1, 3), kill)
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join()
        receiving.close()
    histories = _assert_consistent(spec, ids)
    worker = Desk(_store(spec))
    worker.on_transition(_deliver_to(inbox), name="inbox")
    # Past every lease and retry time the killed writers set: their clock, an hour on.
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    pending = worker.outbox("pending")
    deadline = time.monotonic() + STALLED
    while pending and time.monotonic() < deadline:
        while worker.dispatch_outbox(later, limit=1000).delivered:
            pass
        pending = worker.outbox("pending")
        # A writer killed while claiming rows holds their locks until the server sees its
        # socket close; SKIP LOCKED passes them over until then.
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
        f"{e.subject_id}:{e.sequence}:inbox" for events in histories.values() for e in events[1:]
    }
    assert committed <= received, ("committed but never delivered", committed - received)
    assert received <= committed | {f"{i}:1:inbox" for i in ids}  # nothing that never happened
    assert len(committed) >= KILLS, len(committed)  # each child committed before its kill


def test_flaky_and_failing_receivers_on_every_store(spec: str) -> None:
    rng = random.Random(3)
    received: set[str] = set()

    def sometimes(notification: Notification) -> None:
        if rng.random() < 0.3:
            raise TimeoutError("flaky")
        received.add(notification.key)

    def never(notification: Notification) -> None:
        raise ConnectionRefusedError("endpoint gone")

    clock = FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc))
    desk = Desk(
        _store(spec),
        clock=clock,
        settings={
            "max_delivery_attempts": 12,  # 0.3**12: a flaky receiver never exhausts them
            "retry_backoff_seconds": 1,
        },
    )
    desk.on_transition(sometimes, name="flaky")
    desk.on_transition(never, name="never")
    ids = [desk.open_ticket(customer="c", channel="app", subject=f"t{n}").id for n in range(20)]
    for ticket_id in ids:
        desk.classify(ticket_id, category="other", severity="low")
    for _ in range(12):  # one round per attempt, the clock past every backoff and lease
        clock.advance(hours=2)
        desk.dispatch_outbox(limit=1000)
    assert desk.outbox("pending") == []
    assert len(received) == 40
    dead = desk.outbox("dead")
    assert len(dead) == 40
    assert {n.last_error for n in dead} == {"ConnectionRefusedError: endpoint gone"}
    desk.close()


ODD_TEXT = [
    "'; DROP TABLE tickets; --",
    'quote " and \\ backslash and % percent _ underscore',
    "emoji 🙂🔥 and 中文 and 繁體 and ｆｕｌｌ－ｗｉｄｔｈ",
    "NUL-free control \t\r\n chars",
    "x" * 10_000,
]


def test_odd_text_round_trips_byte_for_byte_and_bad_values_change_nothing(spec: str) -> None:
    from aftersales import InvalidInput

    desk = Desk(_store(spec))
    for text in ODD_TEXT:
        ticket = desk.open_ticket(
            customer="c'; --",
            channel="email",
            subject=text[:200],
            description=text,
            tags=[text[:64]],
        )
        desk.add_message(ticket.id, text, author_id="agent 'x'")
        stored = desk.get(ticket.id)
        assert (stored.subject, stored.description, stored.tags) == (text[:200], text, (text[:64],))
        assert desk.messages(ticket.id)[0].body == text
        assert desk.find(customer_id="c'; --")[-1].id == ticket.id
    before = len(desk.find(limit=1000))
    for bad in (
        {"subject": "x" * 201},
        {"channel": "pigeon"},
        {"subject": 42},
        {"priority": "whenever"},
        {"customer": "c" * 129},
    ):
        fields = {"customer": "c", "channel": "email", "subject": "s", **bad}
        with pytest.raises(InvalidInput):
            desk.open_ticket(**fields)  # type: ignore[arg-type]
    assert len(desk.find(limit=1000)) == before
    ticket_id = desk.find(limit=1)[0].id
    with pytest.raises(InvalidInput):
        desk.fire(ticket_id, "classify", payload={"category": "x", "severity": "apocalyptic"})
    with pytest.raises(InvalidInput):
        desk.assign(ticket_id, assignee="a" * 129)
    assert len(desk.history(ticket_id)) == 2
    desk.close()
