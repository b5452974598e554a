"""Requeueing dead-lettered notifications (``Store.requeue_dead``,
``Desk.requeue_dead_letters``) on every store: memory, SQLite, and SQLAlchemy on SQLite,
PostgreSQL and MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cli_helpers import T0, fresh_server_url

from aftersales import (
    Desk,
    FrozenClock,
    InvalidInput,
    MemoryStore,
    SQLiteStore,
    StorageError,
    Store,
)
from aftersales.notify import DeliveryStatus, Notification

BACKENDS = ["memory", "sqlite", "sqlalchemy-sqlite", "postgresql", "mariadb"]


@pytest.fixture(params=BACKENDS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    backend = request.param
    made: Store
    if backend == "memory":
        made = MemoryStore()
    elif backend == "sqlite":
        made = SQLiteStore(tmp_path / "desk.db")
    else:
        from aftersales.storage.sqlalchemy import SQLAlchemyStore

        url = (
            f"sqlite:///{tmp_path / 'desk.db'}"
            if backend == "sqlalchemy-sqlite"
            else fresh_server_url(backend)
        )
        made = SQLAlchemyStore(url)
    yield made
    made.close()


class Receiver:
    """A handler that fails while ``down`` and records what it received."""

    def __init__(self) -> None:
        self.down = True
        self.received: list[str] = []

    def __call__(self, notification: Notification) -> None:
        if self.down:
            raise ConnectionError("receiver down")
        self.received.append(notification.key)


def _desk_with_dead_letters(store: Store) -> tuple[Desk, FrozenClock, Receiver, list[str]]:
    clock = FrozenClock(T0)
    desk = Desk(store, clock=clock, settings={"max_delivery_attempts": 2})
    receiver = Receiver()
    desk.on_transition(receiver, name="receiver")
    for subject in ("Kettle", "Toaster", "Fridge"):
        desk.open_ticket(customer="c-1", channel="email", subject=subject)
    # the inline attempt failed once; the retry fails again and dead-letters them
    clock.advance(hours=1)
    assert desk.dispatch_outbox().dead == 3
    dead = [n.key for n in desk.outbox("dead")]
    assert len(dead) == 3
    return desk, clock, receiver, dead


def test_a_requeued_dead_letter_is_delivered_by_the_next_dispatch(any_store: Store) -> None:
    desk, clock, receiver, dead = _desk_with_dead_letters(any_store)
    receiver.down = False

    assert desk.requeue_dead_letters([dead[0]]) == 1

    again = {n.key: n for n in desk.outbox("pending")}
    assert list(again) == [dead[0]]
    requeued = again[dead[0]]
    assert (requeued.attempts, requeued.lease_until) == (0, None)
    assert requeued.next_attempt_at == clock.now()
    assert requeued.last_error == "ConnectionError: receiver down"  # kept: why it died
    assert [n.key for n in desk.outbox("dead")] == dead[1:]

    report = desk.dispatch_outbox()
    assert (report.delivered, report.dead) == (1, 0)
    assert receiver.received == [dead[0]]
    assert [n.key for n in desk.outbox("delivered")] == [dead[0]]


def test_requeueing_all_moves_every_dead_letter_and_they_get_all_their_attempts_again(
    any_store: Store,
) -> None:
    desk, clock, receiver, dead = _desk_with_dead_letters(any_store)

    assert desk.requeue_dead_letters() == 3
    assert desk.outbox("dead") == []
    # still down: the first failure is retried later, not dead-lettered at once
    first = desk.dispatch_outbox()
    assert (first.failed, first.dead) == (3, 0)
    assert {n.attempts for n in desk.outbox("pending")} == {1}
    receiver.down = False
    clock.advance(days=1)
    assert desk.dispatch_outbox().delivered == 3
    assert sorted(receiver.received) == sorted(dead)


def test_requeueing_leaves_pending_delivered_and_unknown_keys_alone(any_store: Store) -> None:
    desk, _clock, receiver, dead = _desk_with_dead_letters(any_store)
    receiver.down = False
    desk.requeue_dead_letters([dead[0]])
    desk.dispatch_outbox()
    receiver.down = True
    pending = desk.open_ticket(customer="c-2", channel="email", subject="Oven")
    assert [n.event.subject_id for n in desk.outbox("pending")] == [pending.id]
    assert [n.key for n in desk.outbox("delivered")] == [dead[0]]
    before = {n.key: n for n in desk.outbox()}

    moved = desk.requeue_dead_letters([dead[0], "no-such-key", f"{pending.id}:1:receiver"])

    assert moved == 0
    assert {n.key: n for n in desk.outbox()} == before


def test_requeueing_twice_moves_a_row_once(any_store: Store) -> None:
    desk, _clock, _receiver, dead = _desk_with_dead_letters(any_store)
    assert desk.requeue_dead_letters([dead[1], dead[1]]) == 1
    assert desk.requeue_dead_letters([dead[1]]) == 0
    assert desk.requeue_dead_letters([]) == 0
    assert desk.store.requeue_dead([], desk.clock.now()) == 0
    assert len(desk.outbox("dead")) == 2


def test_the_store_operation_requeues_at_the_time_given(any_store: Store) -> None:
    desk, clock, _receiver, _dead = _desk_with_dead_letters(any_store)
    later = clock.now() + timedelta(hours=2)
    assert any_store.requeue_dead(None, later) == 3
    assert {n.next_attempt_at for n in any_store.outbox(DeliveryStatus.PENDING)} == {later}
    assert desk.dispatch_outbox().delivered == 0  # not due yet


@pytest.mark.parametrize("keys", ["one-key", 42, [None], ["x" * 1001]])
def test_bad_keys_are_refused_and_nothing_moves(keys: object) -> None:
    desk, _clock, _receiver, dead = _desk_with_dead_letters(MemoryStore())
    with pytest.raises(InvalidInput, match="keys"):
        desk.requeue_dead_letters(keys)  # type: ignore[arg-type]
    assert [n.key for n in desk.outbox("dead")] == dead


class _StoreWithoutRequeue(MemoryStore):
    """A store written before requeueing existed."""

    requeue_dead = None  # type: ignore[assignment]


def test_a_store_without_requeueing_says_so_and_moves_nothing() -> None:
    desk, _clock, _receiver, dead = _desk_with_dead_letters(_StoreWithoutRequeue())
    with pytest.raises(StorageError, match="_StoreWithoutRequeue cannot requeue dead letters"):
        desk.requeue_dead_letters()
    assert [n.key for n in desk.outbox("dead")] == dead


def test_a_failure_is_recorded_only_under_the_lease_it_was_claimed_with(
    any_store: Store,
) -> None:
    clock = FrozenClock(T0)
    desk = Desk(any_store, clock=clock, settings={"max_delivery_attempts": 3})
    desk.on_transition(Receiver(), name="receiver", inline=False)
    desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    first_lease, second_lease = T0 + timedelta(seconds=30), T0 + timedelta(seconds=61)
    [claimed] = any_store.claim_outbox(T0, first_lease, 10)
    # the first claim's lease runs out; another worker claims the row
    assert len(any_store.claim_outbox(T0 + timedelta(seconds=31), second_lease, 10)) == 1

    late = T0 + timedelta(seconds=40)
    any_store.mark_failed(claimed.key, "late", None, late, lease_until=first_lease)
    [row] = desk.outbox()
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.PENDING, 0, None)
    assert row.lease_until == second_lease

    retry_at = T0 + timedelta(minutes=5)
    any_store.mark_failed(claimed.key, "its own", retry_at, late, lease_until=second_lease)
    [row] = desk.outbox()
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.PENDING, 1, "its own")
    assert (row.lease_until, row.next_attempt_at) == (None, retry_at)

    # under a lease it no longer has (released: none), nothing is marked
    any_store.mark_failed(claimed.key, "stale", None, late, lease_until=second_lease)
    assert desk.outbox()[0].last_error == "its own"
    [again] = any_store.claim_outbox(retry_at, retry_at + timedelta(seconds=30), 10)
    any_store.mark_failed(again.key, "dead", None, retry_at, lease_until=again.lease_until)
    [row] = desk.outbox()
    assert (row.status, row.attempts, row.next_attempt_at) == (DeliveryStatus.DEAD, 2, retry_at)
    desk.close()


def test_a_store_that_takes_no_lease_is_told_a_failure_as_before() -> None:
    calls: list[tuple[str, str]] = []

    class _OlderStore(MemoryStore):
        def mark_failed(  # type: ignore[override]
            self, key: str, error: str, retry_at: object, at: object
        ) -> None:
            calls.append((key, error))
            super().mark_failed(key, error, retry_at, at)  # type: ignore[arg-type]

    desk = Desk(_OlderStore(), clock=FrozenClock(T0), settings={"max_delivery_attempts": 1})
    desk.on_transition(Receiver(), name="receiver", inline=False)
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    assert desk.dispatch_outbox().dead == 1
    assert calls == [(f"{ticket.id}:1:receiver", "ConnectionError: receiver down")]
