"""How SQLAlchemyRecorder's transactions begin on SQLite: writes with BEGIN IMMEDIATE as
the dialect's ``do_begin`` (the write lock held from the start, as SQLiteStore holds it),
set once on an engine however many stores share it, and not as a statement of its own;
reads with a deferred BEGIN, which takes no write lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

sqlalchemy = pytest.importorskip(
    "sqlalchemy", reason='needs the sql extra: pip install "aftersales[sql]"'
)

from aftersales import StorageError  # noqa: E402
from aftersales.storage import Change, TicketQuery  # noqa: E402
from aftersales.storage.recorder import Records, RecordStore, SQLAlchemyRecorder  # noqa: E402
from aftersales.storage.sqlalchemy import SQLAlchemyStore  # noqa: E402
from aftersales.testing.contracts import _event, _ticket  # noqa: E402


def _statements(engine: Any) -> list[str]:
    """The statements run on ``engine`` from now on."""
    seen: list[str] = []

    @sqlalchemy.event.listens_for(engine, "before_cursor_execute")
    def _heard(conn: Any, cursor: Any, sql: str, *rest: Any) -> None:
        seen.append(sql)

    return seen


def _locked(path: Path) -> bool:
    """Whether another connection is refused the database's write lock right now."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        return "locked" in str(error)
    else:
        other.execute("ROLLBACK")
        return False
    finally:
        other.close()


def _impatient_store(path: Path) -> tuple[Any, SQLAlchemyStore]:
    """A store whose connections fail at once, not after 10 s, on a lock they wait for."""
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    store = SQLAlchemyStore(engine)

    @sqlalchemy.event.listens_for(engine, "connect")
    def _impatient(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")  # after the store's 10 s

    engine.dispose()  # connections made from now on hear it
    return engine, store


def test_two_stores_on_one_apps_engine_both_write(tmp_path: Path) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    first, second = SQLAlchemyStore(engine), SQLAlchemyStore(engine, tenant="shop-b")
    one, two = _ticket(1), _ticket(2)
    first.commit(Change(one, 0, (_event(one),)))
    second.commit(Change(two, 0, (_event(two),)))
    assert first.get(one.id).id == one.id
    assert second.get(two.id).id == two.id
    engine.dispose()


def test_a_transaction_that_reads_first_holds_the_write_lock(tmp_path: Path) -> None:
    # BEGIN IMMEDIATE, not a deferred BEGIN: a read takes no write lock there, and the
    # write after it could find another writer's transaction in the way
    path = tmp_path / "lock.db"
    recorder = SQLAlchemyRecorder(f"sqlite:///{path}")
    assert not _locked(path)

    def work(records: Records) -> bool:
        records.select("state", {"key": "k"})
        held = _locked(path)
        records.put("state", {"key": "k", "value": "v"})
        return held

    assert recorder.atomically(work)
    assert not _locked(path)  # committed: released
    assert recorder.reading(lambda r: r.select("state", {"key": "k"}))[0]["value"] == "v"
    recorder.close()


def test_no_begin_runs_as_a_statement(tmp_path: Path) -> None:
    store = RecordStore(SQLAlchemyRecorder(f"sqlite:///{tmp_path / 'quiet.db'}"))
    seen = _statements(store.recorder.engine)  # type: ignore[attr-defined]
    ticket = _ticket(1)
    store.commit(Change(ticket, 0, (_event(ticket),)))
    store.get(ticket.id)
    assert seen  # the listener hears the store's statements
    assert not [sql for sql in seen if sql.lstrip().upper().startswith("BEGIN")]


def test_a_lock_it_cannot_take_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    engine, store = _impatient_store(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    ticket = _ticket(1)
    with pytest.raises(StorageError, match="locked"):
        store.commit(Change(ticket, 0, (_event(ticket),)))
    holder.execute("ROLLBACK")
    store.commit(Change(ticket, 0, (_event(ticket),)))  # the lock released: it writes
    holder.close()
    engine.dispose()


def test_reads_go_on_while_another_connection_holds_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "reads.db"
    engine, store = _impatient_store(path)
    ticket = _ticket(1)
    created = _event(ticket)
    store.commit(Change(ticket, 0, (created,)))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE tickets SET assignee = 'not yet committed'")
    # a read under BEGIN IMMEDIATE failed here with "database is locked"
    assert store.get(ticket.id).assignee == ticket.assignee  # the last committed one
    assert [found.id for found in store.find(TicketQuery())] == [ticket.id]
    assert [event.sequence for event in store.events(ticket.id)] == [created.sequence]
    holder.execute("ROLLBACK")
    holder.close()
    engine.dispose()


def test_a_read_takes_no_write_lock_and_sees_one_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.db"
    recorder = SQLAlchemyRecorder(f"sqlite:///{path}")
    recorder.atomically(lambda r: r.put("state", {"key": "k", "value": "before"}))
    writer = sqlite3.connect(path, isolation_level=None)

    def work(records: Records) -> tuple[bool, str, str]:
        first = records.select("state", {"key": "k"})[0]["value"]
        held = _locked(path)
        writer.execute("UPDATE state SET value = 'after' WHERE key = 'k'")  # committed
        second = records.select("state", {"key": "k"})[0]["value"]
        return held, first, second

    assert recorder.reading(work) == (False, "before", "before")
    assert recorder.reading(lambda r: r.select("state", {"key": "k"}))[0]["value"] == "after"
    writer.close()
    recorder.close()


def test_a_read_leaves_no_transaction_for_the_next_write_even_without_a_pool_reset(
    tmp_path: Path,
) -> None:
    path = tmp_path / "reset.db"
    engine = sqlalchemy.create_engine(
        f"sqlite:///{path}", pool_size=1, max_overflow=0, pool_reset_on_return=None
    )
    recorder = SQLAlchemyRecorder(engine)
    recorder.reading(lambda records: None)  # no statement
    recorder.reading(lambda records: records.select("state", {"key": "k"}))

    def write(records: Records) -> bool:
        records.select("state", {"key": "k"})
        held = _locked(path)  # the write's BEGIN IMMEDIATE, on the one pooled connection
        records.put("state", {"key": "k", "value": "v"})
        return held

    assert recorder.atomically(write)
    assert not _locked(path)
    recorder.close()
    engine.dispose()
