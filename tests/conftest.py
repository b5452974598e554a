from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from aftersales import Desk, FrozenClock, MemoryStore, SQLiteStore, Store

MONDAY_9AM = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)

# conftest files hold fixtures, not doctests: collected as doctest modules (the suite runs
# --doctest-modules), two folders' conftest.py collide on the module name "conftest"
collect_ignore_glob = ["conftest.py", "*/conftest.py"]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(MONDAY_9AM)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "t.db")
    yield made
    made.close()


@pytest.fixture
def desk(store: Store, clock: FrozenClock) -> Desk:
    return Desk(store, clock=clock)
