"""The stores every insight is checked on, made fresh for a test module: MemoryStore,
SQLiteStore, SQLAlchemyStore on SQLite, PostgreSQL and MariaDB, and a store read through
its public API only (RecordStore on a MemoryRecorder).

PostgreSQL and MariaDB are taken from AFTERSALES_TEST_POSTGRES_URL and
AFTERSALES_TEST_MYSQL_URL (defaults: this machine's loopback servers); without them
those stores skip, naming the variable (in CI they fail instead).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aftersales import MemoryStore, SQLiteStore, Store
from aftersales.storage.recorder import MemoryRecorder, RecordStore


def server_store(name: str) -> Store:
    """A fresh SQLAlchemyStore on the named server (its tables dropped first), or a
    skip naming the variable to set (a failure in CI)."""
    from test_sqlalchemy_store import fresh_store, server_url

    return fresh_store(server_url(name))


def sqlalchemy_sqlite(folder: Path) -> Store:
    pytest.importorskip("sqlalchemy")
    from aftersales.storage.sqlalchemy import SQLAlchemyStore

    return SQLAlchemyStore(f"sqlite:///{folder / 'sa.db'}")


MAKERS: dict[str, Callable[[Path], Store]] = {
    "memory": lambda folder: MemoryStore(),
    "sqlite": lambda folder: SQLiteStore(folder / "insights.db"),
    "sqlalchemy-sqlite": sqlalchemy_sqlite,
    "postgresql": lambda folder: server_store("postgresql"),
    "mariadb": lambda folder: server_store("mariadb"),
    "public-api": lambda folder: RecordStore(MemoryRecorder()),
}
"""Each store's maker, given a fresh folder."""
