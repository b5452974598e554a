"""SQLAlchemyRecorder passes the recorder contract, the store contract (through
RecordStore), and the race and crash contracts on SQLite, PostgreSQL and MariaDB; it
opens what SQLAlchemyStore wrote before it ran on the recorder.

The servers are found as in test_sqlalchemy_store (AFTERSALES_TEST_POSTGRES_URL,
AFTERSALES_TEST_MYSQL_URL): without them the tests skip naming the variable, in CI they
fail. Every test starts from dropped tables.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

sqlalchemy = pytest.importorskip(
    "sqlalchemy", reason='needs the sql extra: pip install "aftersales[sql]"'
)

from aftersales import (  # noqa: E402
    AftersalesError,
    Desk,
    FrozenClock,
    InvalidInput,
    StorageError,
    TicketNotFound,
)
from aftersales.models import AuthorRole, Channel, Message, Ticket  # noqa: E402
from aftersales.storage import SCHEMA_VERSION, Change  # noqa: E402
from aftersales.storage._sqlalchemy import recorder as recorder_module  # noqa: E402
from aftersales.storage.recorder import (  # noqa: E402
    Recorder,
    Records,
    RecordStore,
    SQLAlchemyRecorder,
)
from aftersales.storage.sqlalchemy import SQLAlchemyStore  # noqa: E402
from aftersales.testing.contracts import (  # noqa: E402
    RecorderContract,
    _event,
    _ticket,
    race_for_the_last_units,
)
from test_sqlalchemy_store import dialect_url, drop_tables, server_url  # noqa: E402

_T0 = datetime(2024, 3, 4, 9, tzinfo=timezone.utc)


def fresh_recorder(url: str, **engine_options: Any) -> SQLAlchemyRecorder:
    """A recorder on ``url`` with every table dropped and made again."""
    drop_tables(url)
    return SQLAlchemyRecorder(url, **engine_options)


class _SQLiteFile:
    """A database file in the test's tmp_path. setup_method runs before tmp_path exists,
    so the contract's own setup runs from the fixture instead."""

    url = ""

    def setup_method(self, method: object = None) -> None:
        """Made once tmp_path exists (below)."""

    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> None:
        self.url = f"sqlite:///{tmp_path / 'recorder.db'}"
        super().setup_method()  # type: ignore[misc]


# ---------------------------------------------------------------------------- contracts


class TestSQLAlchemyRecorderOnSQLite(_SQLiteFile, RecorderContract):
    def make_recorder(self) -> Recorder:
        return SQLAlchemyRecorder(self.url)


class TestSQLAlchemyRecorderOnPostgreSQL(RecorderContract):
    def make_recorder(self) -> Recorder:
        return fresh_recorder(server_url("postgresql"))


class TestSQLAlchemyRecorderOnMariaDB(RecorderContract):
    def make_recorder(self) -> Recorder:
        return fresh_recorder(server_url("mariadb"))


# The store, race and crash contracts through RecordStore(SQLAlchemyRecorder(url)) are
# those of SQLAlchemyStore, which is exactly that (but for an import's batch): they run
# once, in tests/test_sqlalchemy_store.py and tests/test_durability.py.


def test_an_apps_own_engine_is_used_and_stays_usable_after_close(tmp_path: Path) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    recorder = SQLAlchemyRecorder(engine)
    assert recorder.engine is engine
    recorder.atomically(lambda r: r.put("state", {"key": "k", "value": "v"}))
    recorder.close()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT value FROM state").scalar() == "v"
    engine.dispose()


def test_a_database_it_cannot_write_to_is_refused_before_connecting() -> None:
    with pytest.raises(StorageError, match="not mssql"):
        SQLAlchemyRecorder("mssql+pymssql://user@localhost/db")
    with pytest.raises(StorageError, match="cannot use database"):
        SQLAlchemyRecorder("no database at all")


def test_a_database_it_cannot_open_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="sqlite error"):
        SQLAlchemyRecorder(f"sqlite:///{tmp_path / 'no such folder' / 'x.db'}")


# ---------------------------------------------------------------------------- each dialect


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return dialect_url(request, tmp_path, "dialect.db")


def test_every_driver_error_becomes_one_of_ours_and_writes_nothing(url: str) -> None:
    store = RecordStore(SQLAlchemyRecorder(url))
    with pytest.raises(InvalidInput):
        store.get("\ud800")  # a lone surrogate: the driver cannot encode it
    valid = _ticket(1)
    for bad in ({"number": 2**70}, {"id": "\ud800"}, {"assignee": "\udfff"}):
        unchecked = Ticket.model_construct(**{**valid.__dict__, **bad})
        with pytest.raises(InvalidInput):
            store.commit(Change(unchecked, 0, (_event(valid),)))
        with pytest.raises(InvalidInput):
            store.commit_many([Change(unchecked, 0, (_event(valid),))])
    with pytest.raises(TicketNotFound):
        store.get("t1")
    assert store.events("t1") == []
    assert store.reserve_numbers(1) == 1  # no number was taken either
    store.close()


def test_a_value_the_database_refuses_is_a_storage_error_and_writes_nothing(url: str) -> None:
    from aftersales.storage import _codec as codec

    recorder = SQLAlchemyRecorder(url)
    ticket = _ticket(1)
    row = dict(
        zip(
            codec.TICKET_COLUMNS + codec.TICKET_KEY_COLUMNS,
            (*codec.ticket_row(ticket), *codec.ticket_key(ticket)),
            strict=True,
        )
    )

    def insert(records: Records) -> bool:
        records.insert("state", {"key": "k", "value": "v"})
        return records.insert("tickets", {**row, "data": None})  # not a taken key

    with pytest.raises(StorageError):
        recorder.atomically(insert)
    assert recorder.reading(lambda r: r.select("tickets", {})) == []
    assert recorder.reading(lambda r: r.select("state", {})) == []
    with pytest.raises(InvalidInput):
        recorder.reading(lambda r: r.select("tickets", {"id": "\ud800"}))

    class Refused(AftersalesError):
        """One of ours: it passes untranslated."""

    def refuse(records: Records) -> None:
        raise Refused

    with pytest.raises(Refused):
        recorder.reading(refuse)
    recorder.close()


def test_counters_rise_to_the_larger_of_the_sum_and_the_floor(url: str) -> None:
    recorder = SQLAlchemyRecorder(url)
    assert recorder.atomically(lambda r: r.count("ticket_number", add=5, at_least=100)) == 100
    assert recorder.atomically(lambda r: r.count("ticket_number", add=5, at_least=10)) == 105
    recorder.atomically(lambda r: r.acknowledge([], "2024-03-04T09:00:00.000000+00:00"))
    recorder.close()


def test_messages_written_at_the_same_instant_come_back_in_the_order_written(url: str) -> None:
    store = RecordStore(SQLAlchemyRecorder(url))
    ticket = _ticket(1)
    store.commit(Change(ticket, 0, (_event(ticket),)))

    def message(body: str, number: int) -> Message:
        return Message(
            id=f"m{number}",  # ids in the opposite order: the order of writing decides
            ticket_id="t1",
            author_id="agent",
            author_role=AuthorRole.AGENT,
            body=body,
            channel=Channel.EMAIL,
            at=_T0,
        )

    numbers = iter(range(9, 0, -1))
    for version, bodies in ((2, ["first", "second"]), (3, ["third"])):
        added = tuple(message(body, next(numbers)) for body in bodies)
        changed = ticket.model_copy(update={"version": version})
        store.commit(Change(changed, version - 1, (_event(changed, "add", "new"),), added))
        ticket = changed
    assert [m.body for m in store.messages("t1")] == ["first", "second", "third"]
    store.close()


def test_a_page_may_skip_rows_without_a_limit(url: str) -> None:
    recorder = SQLAlchemyRecorder(url)
    store = RecordStore(recorder)
    for number in (1, 2, 3):
        ticket = _ticket(number)
        store.commit(Change(ticket, 0, (_event(ticket),)))
    rows = recorder.reading(lambda r: r.select("tickets", {}, order=("number",), offset=1))
    assert [row["number"] for row in rows] == [2, 3]
    store.close()


def test_a_counter_that_does_not_exist_is_an_error_and_changes_nothing(url: str) -> None:
    recorder = SQLAlchemyRecorder(url)
    with pytest.raises(AftersalesError, match="no counter 'missing'"):
        recorder.atomically(lambda r: r.count("missing", add=1))
    assert recorder.atomically(lambda r: r.count("ticket_number")) == 1
    recorder.close()


def test_rows_of_the_store_before_the_recorder_load_and_continue(
    url: str, clock: FrozenClock
) -> None:
    # SQLAlchemyStore wrote its own statements until it ran on the recorder; a message's
    # position was then its ticket's version * 1000 + its index in the change.
    from aftersales.storage import _codec as codec
    from aftersales.storage.sqlalchemy import messages

    desk = Desk(SQLAlchemyStore(url), clock=clock)
    ticket = desk.open_ticket(customer="c-1", channel="wechat", subject="洗衣机漏水")
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    earlier = Message(
        id="zz-written-before",  # an id after the next one's: the position decides
        ticket_id=ticket.id,
        author_id="li",
        author_role=AuthorRole.AGENT,
        body="上门维修",
        channel=Channel.EMAIL,
        at=clock.now(),
    )
    with desk.store.engine.begin() as conn:  # type: ignore[attr-defined]
        row = dict(zip(codec.MESSAGE_COLUMNS, codec.message_row(earlier), strict=True))
        conn.execute(messages.insert().values(**row, position=3 * 1000 + 0))
    desk.add_message(ticket.id, "明天到", author_id="li")
    desk.close()

    desk = Desk(SQLAlchemyStore(url), clock=clock)
    assert [m.body for m in desk.messages(ticket.id)] == ["上门维修", "明天到"]
    assert desk.replay(ticket.id) == desk.get(ticket.id)
    desk.close()


def test_two_stores_on_one_database_cannot_both_return_the_last_units(url: str) -> None:
    outcomes = race_for_the_last_units(
        SQLAlchemyStore(url), RecordStore(SQLAlchemyRecorder(url)), orders=5
    )
    assert outcomes == [["refused", "returned"]] * 5


def test_an_order_lock_has_the_name_earlier_versions_took() -> None:
    # A process still running an earlier version, during a rolling upgrade, takes the
    # MariaDB lock of this name for the same order: both are kept out of each other.
    digest = hashlib.sha1(b"o-1", usedforsecurity=False).hexdigest()
    assert recorder_module._lock_name("order:o-1") == f"aftersales.order:{digest}"


def test_the_store_and_its_recorder_open_the_database_once_and_drop_it(url: str) -> None:
    store = SQLAlchemyStore(url)
    assert store.schema_version == store.recorder.schema_version == SCHEMA_VERSION
    with pytest.raises(StorageError, match="not mssql"):
        SQLAlchemyStore("mssql+pymssql://user@localhost/db")
    with pytest.raises(StorageError, match="cannot use database"):
        SQLAlchemyStore(url, no_such_engine_option=1)
    store.drop_schema()
    assert not sqlalchemy.inspect(store.engine).has_table("tickets")
    store.close()


def test_any_hold_key_is_held_until_the_transaction_ends(url: str) -> None:
    first, second = SQLAlchemyRecorder(url), SQLAlchemyRecorder(url)
    key = "a-kind-of-lock-with-a-long-name:" + "x" * 100  # past MariaDB's 64 characters
    inside, entered = threading.Event(), threading.Event()
    order: list[str] = []

    def hold(records: Records) -> None:
        order.append("first in")
        inside.set()
        # A second transaction that got in would say so now; one kept out cannot, and
        # this one ends after a second (any time will do: a held lock passes anyway).
        entered.wait(1)
        order.append("first out")

    def follow(records: Records) -> None:
        order.append("second in")
        entered.set()

    holder = threading.Thread(target=lambda: first.atomically(hold, hold=[key]))
    holder.start()
    inside.wait()
    follower = threading.Thread(target=lambda: second.atomically(follow, hold=[key]))
    follower.start()
    holder.join()
    follower.join()
    assert order == ["first in", "first out", "second in"]
    first.close()
    second.close()


# ---------------------------------------------------------------------------- MariaDB


def test_mariadb_releases_its_named_locks_when_the_work_fails() -> None:
    url = server_url("mariadb")
    recorder = fresh_recorder(url)

    class Refused(AftersalesError):
        """One of ours: it passes untranslated."""

    def refuse(records: Records) -> None:
        raise Refused

    with pytest.raises(Refused):
        recorder.atomically(refuse, hold=["order:o-1"])
    with recorder.engine.connect() as conn:
        free = conn.exec_driver_sql(
            "SELECT IS_FREE_LOCK(%(name)s)", {"name": recorder_module._lock_name("order:o-1")}
        ).scalar()
    assert free == 1
    recorder.close()


def test_mariadb_a_lock_held_too_long_elsewhere_is_a_storage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = server_url("mariadb")
    recorder = fresh_recorder(url)
    monkeypatch.setattr(recorder_module, "_ORDER_LOCK_SECONDS", 0)
    name = recorder_module._lock_name("order:o-1")
    with recorder.engine.connect() as other:
        other.exec_driver_sql("SELECT GET_LOCK(%(name)s, 0)", {"name": name})
        with pytest.raises(StorageError, match="still busy"):
            recorder.atomically(lambda r: r.count("ticket_number", add=1), hold=["order:o-1"])
        other.exec_driver_sql("SELECT RELEASE_ALL_LOCKS()")
    assert recorder.atomically(lambda r: r.count("ticket_number")) == 1
    recorder.close()


def test_mariadb_a_session_lost_while_holding_keys_is_a_storage_error_and_frees_them() -> None:
    url = server_url("mariadb")
    recorder = fresh_recorder(url, pool_size=1, max_overflow=0)

    def lose_the_session(records: Records) -> None:
        # The server ends this session (a restart, a timeout, an admin's KILL).
        session = records._conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar()  # type: ignore[attr-defined]
        with recorder_admin.connect() as admin:
            admin.exec_driver_sql(f"KILL {int(session)}")

    recorder_admin = sqlalchemy.create_engine(url)
    with pytest.raises(StorageError):
        recorder.atomically(lose_the_session, hold=["order:o-1"])
    recorder_admin.dispose()
    # The pool's one connection was replaced, and the key is free.
    assert recorder.atomically(lambda r: r.count("ticket_number", add=1), hold=["order:o-1"]) == 2
    recorder.close()


def test_mariadb_a_pool_of_one_connection_serves_transactions_that_hold_keys() -> None:
    # The named locks belong to a session: taken on a second pooled connection, a pool of
    # one would wait for itself.
    recorder = fresh_recorder(server_url("mariadb"), pool_size=1, max_overflow=0, pool_timeout=30)
    assert recorder.atomically(lambda r: r.count("ticket_number", add=1), hold=["order:o"]) == 2
    recorder.close()


# ---------------------------------------------------------------------------- ticket writes


def _ticket_updates(engine: Any) -> list[str]:
    """The UPDATE statements on tickets run on ``engine`` from now on (a listener on the
    engine: its statements then pass through SQLAlchemy on every dialect)."""
    seen: list[str] = []

    @sqlalchemy.event.listens_for(engine, "before_cursor_execute")
    def _heard(conn: Any, cursor: Any, sql: str, *rest: Any) -> None:
        if sql.startswith("UPDATE tickets"):
            seen.append(sql.partition(" WHERE ")[0])

    return seen


def test_a_ticket_update_sets_what_changed_since_the_version_it_committed(url: str) -> None:
    from aftersales import ConcurrencyError
    from aftersales.storage import TicketQuery

    store = RecordStore(SQLAlchemyRecorder(url))
    other = RecordStore(SQLAlchemyRecorder(url))
    updates = _ticket_updates(store.recorder.engine)  # type: ignore[attr-defined]
    first = _ticket(1)
    store.commit(Change(first, 0, (_event(first),)))
    assigned = first.model_copy(update={"version": 2, "assignee": "li.wei"})
    store.commit(Change(assigned, 1, (_event(assigned, "assign"),)))
    assert "assignee" in updates[-1]
    assert "customer_id" not in updates[-1]  # unchanged since version 1, as committed
    tagged = assigned.model_copy(update={"version": 3, "tags": ("drain",)})
    store.commit(Change(tagged, 2, (_event(tagged, "tag"),)))
    assert [t.id for t in store.find(TicketQuery(tags=["drain"]))] == ["t1"]
    # another writer's version: this one's remembered row is of an older version
    moved = tagged.model_copy(update={"version": 4, "customer_id": "c2", "tags": ()})
    other.commit(Change(moved, 3, (_event(moved, "move"),)))
    stale = tagged.model_copy(update={"version": 4, "assignee": "ana"})
    with pytest.raises(ConcurrencyError):
        store.commit(Change(stale, 3, (_event(stale, "assign"),)))
    again = store.get("t1").model_copy(update={"version": 5, "assignee": "ana"})
    store.commit(Change(again, 4, (_event(again, "assign"),)))
    assert "customer_id" in updates[-1]  # read, not committed here: every column set
    read = store.get("t1")
    assert (read.version, read.customer_id, read.assignee, read.tags) == (5, "c2", "ana", ())
    assert store.find(TicketQuery(tags=["drain"])) == []
    other.close()
    store.close()
