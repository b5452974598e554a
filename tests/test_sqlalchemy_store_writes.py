"""SQLAlchemyStore's own write of a transition (the codec's tuples bound as they are, see
SQLAlchemyStore._write) on SQLite, PostgreSQL and MariaDB: the columns it sets, the
writes it leaves to RecordStore, its errors, and the parameters it gives each driver.

The servers are found as in test_sqlalchemy_store (AFTERSALES_TEST_POSTGRES_URL,
AFTERSALES_TEST_MYSQL_URL): without them the tests skip naming the variable, in CI they
fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

sqlalchemy = pytest.importorskip(
    "sqlalchemy", reason='needs the sql extra: pip install "aftersales[sql]"'
)

from aftersales import ConcurrencyError  # noqa: E402
from aftersales.storage import Change, TicketQuery  # noqa: E402
from aftersales.storage._sqlalchemy.recorder import _from_mapping, _from_values  # noqa: E402
from aftersales.storage.sqlalchemy import SQLAlchemyStore  # noqa: E402
from aftersales.testing.contracts._base import _event, _notification, _ticket  # noqa: E402
from test_sqlalchemy_store import dialect_url  # noqa: E402


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return dialect_url(request, tmp_path, "writes.db")


def _statements(engine: Any, start: str) -> list[tuple[str, Any]]:
    """The statements starting with ``start`` run on ``engine`` from now on, with their
    parameters, their WHERE clauses cut off."""
    seen: list[tuple[str, Any]] = []

    @sqlalchemy.event.listens_for(engine, "before_cursor_execute")
    def _heard(conn: Any, cursor: Any, sql: str, parameters: Any, *rest: Any) -> None:
        if sql.startswith(start):
            seen.append((sql.partition(" WHERE ")[0], parameters))

    return seen


def _set(statement: str) -> set[str]:
    """The columns an UPDATE's SET list names."""
    assignments = statement.partition(" SET ")[2].split(",")
    return {a.partition("=")[0].strip().strip('`"') for a in assignments}


def _outbox(store: SQLAlchemyStore) -> dict[str, tuple[str, str | None]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sqlalchemy.text('SELECT "key", status, delivered_at FROM outbox')
            if store.dialect != "mysql"
            else sqlalchemy.text("SELECT `key`, status, delivered_at FROM outbox")
        ).all()
    return {key: (status, delivered) for key, status, delivered in rows}


def test_a_transition_sets_what_changed_since_the_version_it_committed(url: str) -> None:
    store = SQLAlchemyStore(url)
    other = SQLAlchemyStore(url)
    updates = _statements(store.engine, "UPDATE tickets")
    first = _ticket(1)
    opened = _event(first)
    store.commit(Change(first, 0, (opened,), outbox=(_notification(opened),)))
    assigned = first.model_copy(update={"version": 2, "assignee": "li.wei"})
    assigning = _event(assigned, "assign")
    store.commit(
        Change(
            assigned,
            1,
            (assigning,),
            outbox=(_notification(assigning),),
            delivered=(_notification(opened).key,),
        )
    )
    assert _set(updates[-1][0]) == {"assignee", "version", "data"}  # the rest as committed
    assert _outbox(store) == {
        _notification(opened).key: ("delivered", "2024-03-04T09:01:00.000000+00:00"),
        _notification(assigning).key: ("pending", None),
    }
    assert [e.sequence for e in store.events("t1")] == [1, 2]
    # its tags changed: written as RecordStore writes it, its tag rows with it
    tagged = assigned.model_copy(update={"version": 3, "tags": ("drain",)})
    store.commit(Change(tagged, 2, (_event(tagged, "tag"),)))
    assert [t.id for t in store.find(TicketQuery(tags=["drain"]))] == ["t1"]
    # another writer's version: this store's remembered row is of an older version
    moved = tagged.model_copy(update={"version": 4, "customer_id": "c2", "tags": ()})
    other.commit(Change(moved, 3, (_event(moved, "move"),)))
    stale = tagged.model_copy(update={"version": 4, "assignee": "ana"})
    with pytest.raises(ConcurrencyError) as refused:
        store.commit(Change(stale, 3, (_event(stale, "assign"),)))
    assert refused.value.actual_version == 4
    again = store.get("t1").model_copy(update={"version": 5, "assignee": "ana"})
    store.commit(Change(again, 4, (_event(again, "assign"),)))
    assert "customer_id" in _set(updates[-1][0])  # read, not committed here: every column
    # and committed here now: the next sets what changed again
    closed = again.model_copy(update={"version": 6, "status": "closed"})
    store.commit(Change(closed, 5, (_event(closed, "close"),)))
    assert _set(updates[-1][0]) == {"status", "version", "data"}
    read = store.get("t1")
    assert (read.version, read.customer_id, read.assignee, read.tags, read.status) == (
        6,
        "c2",
        "ana",
        (),
        "closed",
    )
    assert [e.sequence for e in store.events("t1")] == [1, 2, 3, 4, 5, 6]
    other.close()
    store.close()


def test_a_transition_whose_event_is_taken_writes_nothing(url: str) -> None:
    store = SQLAlchemyStore(url)
    first = _ticket(1)
    store.commit(Change(first, 0, (_event(first),)))
    assigned = first.model_copy(update={"version": 2, "assignee": "li.wei"})
    taken = _event(assigned, "assign").model_copy(update={"sequence": 1})
    with pytest.raises(ConcurrencyError) as refused:
        store.commit(Change(assigned, 1, (taken,)))
    assert refused.value.actual_version is None
    assert store.get("t1").version == 1  # the ticket's UPDATE was rolled back with it
    store.commit(Change(assigned, 1, (_event(assigned, "assign"),)))  # remembered: v1
    assert store.get("t1").assignee == "li.wei"
    store.close()


def test_several_acknowledgements_are_one_statement(url: str) -> None:
    store = SQLAlchemyStore(url)
    first = _ticket(1)
    opened = _event(first)
    keys = [_notification(opened, handler).key for handler in ("a", "b", "c")]
    store.commit(
        Change(first, 0, (opened,), outbox=[_notification(opened, h) for h in ("a", "b", "c")])
    )
    acks = _statements(store.engine, "UPDATE outbox")
    second = first.model_copy(update={"version": 2, "assignee": "li.wei"})
    store.commit(Change(second, 1, (_event(second, "assign"),), delivered=keys))
    assert len(acks) == 1
    assert {key: status for key, (status, _) in _outbox(store).items()} == dict.fromkeys(
        keys, "delivered"
    )
    store.close()


def test_values_become_each_drivers_parameters() -> None:
    names = ("a", "b", "c")
    assert _from_values(names, None)((1, 2, 3)) == {"a": 1, "b": 2, "c": 3}  # by name
    assert _from_values(names, ["a", "b", "c"]) is None  # in order already: as they are
    assert _from_values(names, ["c", "a", "b", "a"])((1, 2, 3)) == (3, 1, 2, 1)
    assert _from_values(names, ["b"])((1, 2, 3)) == (2,)
    assert _from_mapping(["b", "a"])({"a": 1, "b": 2}) == (2, 1)
    assert _from_mapping(["b"])({"a": 1, "b": 2}) == (2,)
    assert _from_mapping([])({"a": 1}) == ()
