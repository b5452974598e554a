"""Stores for the customer tests: MemoryStore, SQLite and, with
AFTERSALES_TEST_POSTGRES_URL, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aftersales import MemoryStore, SQLiteStore, Store


def _postgres() -> Store:
    # as every server test: the server the variable names, a skip naming it where unset
    from test_sqlalchemy_store import fresh_store, server_url

    return fresh_store(server_url("postgresql"))


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        made: Store = MemoryStore()
    elif request.param == "sqlite":
        made = SQLiteStore(tmp_path / "customers.db")
    else:
        made = _postgres()
    yield made
    made.close()
