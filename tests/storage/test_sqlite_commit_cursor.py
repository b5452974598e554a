"""SQLiteStore runs a commit's statements on one cursor it keeps (rather than a cursor made
by ``Connection.execute`` per statement): whatever that cursor ran last, a commit refused
or done leaves no transaction open and no statement holding the database, so that another
connection writes at once and the store's next commit goes through."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from aftersales import ConcurrencyError, Desk, FrozenClock, SQLiteStore
from aftersales.models import Ticket
from aftersales.storage import Change


def another_connection_writes(path: Path) -> None:
    """A write of another connection, which must find the database free (no wait)."""
    with sqlite3.connect(path, timeout=0, isolation_level=None) as other:
        other.execute("BEGIN IMMEDIATE")
        other.execute("CREATE TABLE IF NOT EXISTS probe (x)")
        other.execute("INSERT INTO probe VALUES (1)")
        other.execute("COMMIT")
    other.close()


def test_a_done_commit_leaves_the_database_free(tmp_path: Path, clock: FrozenClock) -> None:
    path = tmp_path / "desk.db"
    with SQLiteStore(path) as store:
        desk = Desk(store, clock=clock)
        ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
        another_connection_writes(path)
        desk.classify(ticket.id, category="repair_warranty", severity="high")
        another_connection_writes(path)
        assert store._conn.in_transaction is False
        assert desk.get(ticket.id).version == 2


def test_a_refused_update_rolls_back_and_the_next_commit_goes_through(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "desk.db"
    with SQLiteStore(path) as store:
        desk = Desk(store, clock=clock)
        ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
        stale = Ticket.model_validate({**ticket.model_dump(), "version": 3})
        with pytest.raises(ConcurrencyError):
            store.commit(Change(stale, 2, ()))
        assert store._conn.in_transaction is False
        another_connection_writes(path)
        desk.classify(ticket.id, category="repair_warranty", severity="high")
    with SQLiteStore(path) as reopened:
        assert reopened.get(ticket.id).version == 2


def test_a_refused_insert_rolls_back_and_the_next_commit_goes_through(
    tmp_path: Path, clock: FrozenClock
) -> None:
    # the refusal reads why on the same cursor (the id or the number already taken)
    path = tmp_path / "desk.db"
    with SQLiteStore(path) as store:
        desk = Desk(store, clock=clock)
        ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
        with pytest.raises(ConcurrencyError):
            store.commit(Change(ticket, 0, ()))
        assert store._conn.in_transaction is False
        another_connection_writes(path)
        second = desk.open_ticket(customer="c-1", channel="email", subject="Kettle again")
    with SQLiteStore(path) as reopened:
        assert (reopened.get(ticket.id), reopened.get(second.id)) == (ticket, second)
