"""SQLAlchemyRecorder on SQLite sends its statements to the driver's own connection,
inside SQLAlchemy's transaction, unless something listens: what a user relies on of
SQLAlchemy's statement execution still holds there (its errors, its logging, its
events), and a refused statement leaves no transaction behind."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

sqlalchemy = pytest.importorskip(
    "sqlalchemy", reason='needs the sql extra: pip install "aftersales[sql]"'
)

from aftersales import StorageError  # noqa: E402
from aftersales.storage import Change  # noqa: E402
from aftersales.storage.sqlalchemy import SQLAlchemyStore  # noqa: E402
from aftersales.testing.contracts import _event, _ticket  # noqa: E402

REFUSAL = "tickets refused by a trigger"


def _refuse_tickets(path: Path) -> None:
    """Make the database refuse every new ticket row (as a driver error)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON tickets "
        f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
    )
    conn.close()


def _allow_tickets(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER refuse")
    conn.close()


def _write_lock_free(path: Path) -> bool:
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


def test_a_statement_the_database_refuses_is_a_storage_error_and_ends_its_transaction(
    tmp_path: Path,
) -> None:
    path = tmp_path / "refused.db"
    store = SQLAlchemyStore(f"sqlite:///{path}")
    _refuse_tickets(path)
    first = _ticket(1)
    with pytest.raises(StorageError, match=REFUSAL) as raised:
        store.commit(Change(first, 0, (_event(first),)))
    # raised from SQLAlchemy's error, as through exec_driver_sql
    assert isinstance(raised.value.__cause__, sqlalchemy.exc.IntegrityError)
    assert _write_lock_free(path)  # rolled back, the write lock released
    _allow_tickets(path)
    store.commit(Change(first, 0, (_event(first),)))  # its pooled connection works on
    assert store.get(first.id).id == first.id
    store.close()


def test_a_handle_error_listener_hears_a_refused_statement(tmp_path: Path) -> None:
    path = tmp_path / "heard.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    store = SQLAlchemyStore(engine)
    heard: list[str] = []

    @sqlalchemy.event.listens_for(engine, "handle_error")
    def _heard(context: Any) -> None:
        heard.append(str(context.original_exception))

    _refuse_tickets(path)
    first = _ticket(1)
    with pytest.raises(StorageError, match=REFUSAL):
        store.commit(Change(first, 0, (_event(first),)))
    assert heard == [REFUSAL]
    engine.dispose()


def test_echo_logs_the_stores_statements(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = SQLAlchemyStore(f"sqlite:///{tmp_path / 'echo.db'}", echo=True)
    first = _ticket(1)
    with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
        store.commit(Change(first, 0, (_event(first),)))
        store.get(first.id)
    logged = [record.getMessage() for record in caplog.records]
    assert any(message.startswith("INSERT INTO tickets") for message in logged)
    assert any(message.startswith("SELECT") and "FROM tickets" in message for message in logged)
    store.close()


def test_statement_listeners_hear_every_statement_of_a_store_opened_before_them(
    tmp_path: Path,
) -> None:
    store = SQLAlchemyStore(f"sqlite:///{tmp_path / 'later.db'}")
    first = _ticket(1)
    store.commit(Change(first, 0, (_event(first),)))
    engine = store.recorder.engine  # type: ignore[attr-defined]
    before: list[str] = []
    after: list[str] = []
    sqlalchemy.event.listen(engine, "before_cursor_execute", lambda *a: before.append(a[2]))
    sqlalchemy.event.listen(engine, "after_cursor_execute", lambda *a: after.append(a[2]))
    second = _ticket(2)
    store.commit(Change(second, 0, (_event(second),)))
    assert store.get(second.id).id == second.id
    assert any(sql.startswith("INSERT INTO tickets") for sql in before)
    assert any("FROM tickets" in sql for sql in before)
    assert before == after
    store.close()
