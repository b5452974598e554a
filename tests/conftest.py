from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from servers import ServerGuard, ServerReferences

from aftersales import Desk, FrozenClock, MemoryStore, SQLiteStore, Store

MONDAY_9AM = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)

# conftest files hold fixtures, not doctests: collected as doctest modules (the suite runs
# --doctest-modules), two folders' conftest.py collide on the module name "conftest"
collect_ignore_glob = ["conftest.py", "*/conftest.py"]


def pytest_configure(config: pytest.Config) -> None:
    # a test that connects to a server without the marker fails, in every run: under
    # xdist it would race the other server tests on the same databases
    config.pluginmanager.register(ServerGuard(), "aftersales-server-guard")


@pytest.hookimpl(tryfirst=True)  # before xdist's hook, which reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test on a database or broker server gets the ``servers`` marker and runs in
    the xdist group of that name (see tests/cases/servers.py): one worker runs them one at
    a time, as they share the servers' databases."""
    grouped = config.pluginmanager.hasplugin("xdist")
    ServerReferences(Path(__file__).parent).mark(items, grouped=grouped)


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
