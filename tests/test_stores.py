from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from aftersales import (
    ConcurrencyError,
    Desk,
    FrozenClock,
    InvalidInput,
    MemoryStore,
    SchemaVersionError,
    SQLiteStore,
    StorageError,
    Store,
)
from aftersales.storage import SCHEMA_VERSION
from aftersales.storage.recorder import MemoryRecorder, Recorder, RecordStore, SQLiteRecorder
from aftersales.testing import StoreContract
from aftersales.testing.contracts import RecorderContract

# The DDL older versions of SQLiteStore wrote, as they wrote it: real old databases to upgrade.
_SCHEMA_V1 = """
CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    number INTEGER NOT NULL UNIQUE,
    workflow TEXT NOT NULL,
    status TEXT NOT NULL,
    status_category TEXT NOT NULL,
    version INTEGER NOT NULL,
    customer_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    assignee TEXT,
    team TEXT,
    merged_into TEXT,
    parent_id TEXT,
    follow_up_of TEXT,
    created_at TEXT NOT NULL,
    due_at TEXT,
    data TEXT NOT NULL
);
CREATE INDEX tickets_customer ON tickets (customer_id, created_at);
CREATE INDEX tickets_status ON tickets (status_category, status);
CREATE INDEX tickets_assignee ON tickets (assignee) WHERE assignee IS NOT NULL;
CREATE INDEX tickets_created ON tickets (created_at, number);
CREATE INDEX tickets_due ON tickets (due_at) WHERE due_at IS NOT NULL;
CREATE TABLE events (
    subject_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    at TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (subject_id, sequence)
) WITHOUT ROWID;
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL,
    at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX messages_ticket ON messages (ticket_id, at);
CREATE TABLE customers (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE contact_points (
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (channel, address)
);
CREATE TABLE outbox (
    key TEXT PRIMARY KEY,
    handler TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    lease_until TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    event TEXT NOT NULL
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO counters (name, value) VALUES ('ticket_number', 1);
"""

_SCHEMA_V2 = """
ALTER TABLE tickets ADD COLUMN sla_due_at TEXT;
CREATE INDEX tickets_sla_due ON tickets (sla_due_at, id) WHERE sla_due_at IS NOT NULL;
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_SCHEMA_V3 = """
CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    order_id TEXT,
    serial TEXT,
    parent_id TEXT,
    customer_id TEXT,
    status TEXT NOT NULL,
    status_category TEXT NOT NULL,
    version INTEGER NOT NULL,
    step_due_at TEXT,
    created_at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX cases_ticket ON cases (ticket_id, created_at);
CREATE INDEX cases_order ON cases (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX cases_serial ON cases (serial) WHERE serial IS NOT NULL;
CREATE INDEX cases_parent ON cases (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX cases_step_due ON cases (step_due_at, id) WHERE step_due_at IS NOT NULL;
"""


class TestMemoryStore(StoreContract):
    def make_store(self) -> Store:
        return MemoryStore()


class TestRecordStoreOnTheMemoryRecorder(StoreContract):
    """The generic store over the reference recorder: a backend that is a recorder only
    passes the whole store contract."""

    def make_store(self) -> Store:
        return RecordStore(MemoryRecorder())


class TestMemoryRecorder(RecorderContract):
    def make_recorder(self) -> Recorder:
        return MemoryRecorder()


class TestSQLiteRecorder(RecorderContract):
    def make_recorder(self) -> Recorder:
        return SQLiteRecorder(":memory:")


class TestRecordStoreOnTheSQLiteRecorder(StoreContract):
    def make_store(self) -> Store:
        return RecordStore(SQLiteRecorder(":memory:"))


class TestSQLiteStoreInMemory(StoreContract):
    def make_store(self) -> Store:
        return SQLiteStore(":memory:")


class TestSQLiteStoreOnDisk(StoreContract):
    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path

    def make_store(self) -> Store:
        return SQLiteStore(self.folder / "contract.db", synchronous="FULL")

    def setup_method(self, method: object = None) -> None:
        """The store is made by the autouse fixture below, once tmp_path exists."""

    @pytest.fixture(autouse=True)
    def _store(self, _folder: None) -> None:
        self.store = self.make_store()


def test_every_store_satisfies_the_protocol() -> None:
    assert isinstance(MemoryStore(), Store)
    with SQLiteStore(":memory:") as store:
        assert isinstance(store, Store)


def test_the_schema_is_created_once_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    with SQLiteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
    with SQLiteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    SQLiteStore(path).close()
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(SchemaVersionError) as raised:
        SQLiteStore(path)
    assert (raised.value.found, raised.value.supported) == (SCHEMA_VERSION + 1, SCHEMA_VERSION)


def test_wal_is_used_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    SQLiteStore(path).close()
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()


def test_tickets_survive_a_restart(tmp_path: Path, clock: FrozenClock) -> None:
    path = tmp_path / "restart.db"
    first = Desk(SQLiteStore(path), clock=clock)
    ticket = first.open_ticket(customer="c", channel="qq", subject="二手手机无法开机")
    first.classify(ticket.id, category="repair_warranty", severity="medium")
    first.close()
    second = Desk(SQLiteStore(path), clock=clock)
    assert second.get(ticket.id).status == "classified"
    assert second.replay(ticket.id) == second.get(ticket.id)
    later = second.open_ticket(customer="c", channel="qq", subject="again")
    assert later.number > ticket.number
    second.close()


def test_bad_settings_and_unusable_paths_raise_our_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        SQLiteStore(":memory:", synchronous="OFF")  # type: ignore[arg-type]
    with pytest.raises(StorageError):
        SQLiteStore(tmp_path / "missing-folder" / "x.db")


def test_a_closed_store_raises_storage_error() -> None:
    store = SQLiteStore(":memory:")
    store.close()
    with pytest.raises(StorageError):
        store.get("x")


@pytest.fixture
def two_desks(tmp_path: Path, clock: FrozenClock) -> Iterator[tuple[Desk, Desk]]:
    """Two desks on one SQLite file, as two processes of one app would have."""
    path = tmp_path / "shared.db"
    first, second = Desk(SQLiteStore(path), clock=clock), Desk(SQLiteStore(path), clock=clock)
    yield first, second
    first.close()
    second.close()


def test_two_desks_on_one_file_never_lose_an_update(two_desks: tuple[Desk, Desk]) -> None:
    first, second = two_desks
    ticket = first.open_ticket(customer="c", channel="email", subject="s")
    # first now holds version 2
    first.classify(ticket.id, category="repair_warranty", severity="low")
    second.assign(ticket.id, assignee="li")  # version 3, behind first's back
    moved = first.fire(ticket.id, "start")  # decided again on the stored version 3
    assert (moved.status, moved.version, moved.assignee) == ("in_progress", 4, "li")
    assert [e.sequence for e in second.history(ticket.id)] == [1, 2, 3, 4]
    assert second.replay(ticket.id) == second.get(ticket.id) == moved


def test_expected_version_is_checked_against_the_store_not_a_remembered_copy(
    two_desks: tuple[Desk, Desk],
) -> None:
    first, second = two_desks
    ticket = first.open_ticket(customer="c", channel="email", subject="s")
    first.classify(ticket.id, category="repair_warranty", severity="low")
    second.assign(ticket.id, assignee="li")
    started = first.fire(ticket.id, "start", expected_version=3)
    assert started.version == 4
    with pytest.raises(ConcurrencyError):
        first.fire(ticket.id, "resolve", payload={"resolution": "x"}, expected_version=3)


def test_threads_sharing_one_desk_lose_no_update(tmp_path: Path, clock: FrozenClock) -> None:
    import threading

    desk = Desk(SQLiteStore(tmp_path / "threads.db"), clock=clock)
    delivered: list[str] = []
    desk.on_transition(lambda n: delivered.append(n.key), name="count")
    tickets = [desk.open_ticket(customer="c", channel="app", subject=f"t{i}").id for i in range(8)]
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for round_ in range(10):
                ticket_id = tickets[(offset + round_) % len(tickets)]
                if desk.get(ticket_id).status == "new":
                    desk.classify(ticket_id, category="other", severity="low")
                else:
                    desk.escalate(ticket_id, reason=f"thread {offset} round {round_}")
        except Exception as error:  # noqa: BLE001 - collected, asserted empty below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    total = 0
    for ticket_id in tickets:
        events = desk.history(ticket_id)
        assert [e.sequence for e in events] == list(range(1, len(events) + 1))
        assert desk.replay(ticket_id) == desk.get(ticket_id)
        total += len(events)
    assert total == 8 + 40
    assert len(set(delivered)) == len(delivered) == total
    desk.close()


def test_a_version_1_database_is_upgraded_in_place(tmp_path: Path, clock: FrozenClock) -> None:
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path, isolation_level=None)
    for statement in _SCHEMA_V1.split(";"):
        if statement.strip():
            connection.execute(statement)
    connection.execute("PRAGMA user_version=1")
    connection.close()
    with SQLiteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        desk = Desk(store, clock=clock)
        ticket = desk.open_ticket(customer="c", channel="email", subject="after the upgrade")
        assert desk.get(ticket.id) == ticket
        message = desk.add_message(ticket.id, "hello", author_id="c", author_role="customer")
        assert store.messages_by_author("c") == [message]
        assert store.sla_due(clock.now(), 10) == []
        assert store.security_log() == []


def test_a_version_3_database_moves_each_case_lines_terms_out_of_its_data(
    tmp_path: Path,
) -> None:
    from aftersales.storage import CaseChange
    from aftersales.testing.contracts import _case, _case_event, _case_line

    cases = [_case(f"r{n}", lines=(_case_line(),)) for n in range(1500)] + [_case("bare")]
    path = tmp_path / "v3.db"
    connection = sqlite3.connect(path, isolation_level=None)
    for schema in (_SCHEMA_V1, _SCHEMA_V2, _SCHEMA_V3):
        for statement in schema.split(";"):
            if statement.strip():
                connection.execute(statement)
    connection.executemany(
        "INSERT INTO cases (id, kind, ticket_id, status, status_category, version, "
        "created_at, data) VALUES (?, 'return', 't1', 'requested', 'new', 1, ?, ?)",
        [  # as version 3 wrote them: the facts and decisions inside data
            (c.id, f"2024-03-01T00:00:00.{n:06d}+00:00", c.model_dump_json(exclude_none=True))
            for n, c in enumerate(cases)
        ],
    )
    connection.executemany(
        "INSERT INTO events (subject_id, sequence, trigger, at, data) VALUES (?, ?, ?, ?, ?)",
        [
            (e.subject_id, e.sequence, e.trigger, e.at.isoformat(), e.model_dump_json())
            for e in (
                _case_event(cases[0]),
                _case_event(cases[0].model_copy(update={"version": 2}), "approve"),
            )
        ],
    )
    connection.execute("PRAGMA user_version=3")
    connection.close()
    with SQLiteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert [e.trigger for e in store.events("r0")] == ["created", "approve"]
        assert store.get_case("r1499") == cases[1499]
        assert store.get_case("bare") == cases[-1]
        first = cases[0]
        received = first.model_copy(update={"version": 2, "status": "received"})
        store.commit_cases([CaseChange(received, 1, (), terms_changed=False)])
        assert store.get_case("r0") == received
        assert received.lines[0].decision is not None


def test_sqlite_stores_absent_values_as_null_never_as_empty_text(
    tmp_path: Path, clock: FrozenClock
) -> None:
    # The store binds absent values as '' through NULLIF (faster than None in sqlite3);
    # what lands in the columns must still be NULL, which the indexes and queries expect.
    desk = Desk(SQLiteStore(tmp_path / "nulls.db"), clock=clock)
    desk.subscribe(lambda event: None, name="audit")
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="no assignee yet")
    desk.fire(ticket.id, "classify", payload={"category": "repair_warranty", "severity": "low"})
    desk.cases.open_complaint(ticket.id, summary="slow answer")
    desk.import_tickets([{**_imported, "id": "legacy-1"}])
    conn = desk.store._conn  # type: ignore[attr-defined]
    nullable = {
        "tickets": "assignee, team, merged_into, parent_id, follow_up_of, due_at, sla_due_at",
        "cases": "order_id, serial, parent_id, step_due_at, terms",
        "outbox": "lease_until, delivered_at",
    }
    for table, columns in nullable.items():
        empty = conn.execute(f"SELECT count(*) FROM {table} WHERE '' IN ({columns})").fetchone()
        nulls = conn.execute(f"SELECT count(*) FROM {table} WHERE {columns.split(',')[0]} IS NULL")
        assert (table, empty[0]) == (table, 0)
        assert nulls.fetchone()[0] > 0, table
    desk.close()


_imported = {
    "channel": "email",
    "subject": "Imported",
    "customer_id": "c-2",
    "status": "closed",
    "created_at": "2023-05-01T08:00:00+00:00",
    "updated_at": "2023-05-01T08:05:00+00:00",
}


def test_aftersales_testing_imports_without_pytest() -> None:
    # A production install has no pytest: FrozenClock and capture_notifications must work
    # there; only StoreContract (in aftersales.testing.contracts) needs pytest.
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import sys
        sys.modules["pytest"] = None  # import pytest now raises ImportError
        from datetime import datetime, timezone
        from aftersales import Desk
        from aftersales.testing import FrozenClock, capture_notifications
        clock = FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc))
        desk = Desk(clock=clock)
        desk.on_enter("cancelled", print, name="sms")
        with capture_notifications(desk) as sent:
            ticket = desk.open_ticket(customer="c1", channel="sms", subject="Hi")
            desk.cancel(ticket.id, reason="wrong number")
        assert [n.handler for n in sent] == ["sms"], sent
        try:
            from aftersales.testing import StoreContract
        except ImportError as error:
            assert "pytest" in str(error), error
        else:
            raise AssertionError("StoreContract imported without pytest")
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_a_new_database_and_its_wal_files_are_private_unless_asked_otherwise(
    tmp_path: Path,
) -> None:
    import os
    import stat

    old_umask = os.umask(0o022)  # a common default, under which files are world-readable
    try:
        for name, options, expected in (
            ("private.db", {}, 0o600),
            ("shared.db", {"file_mode": 0o640}, 0o640),
        ):
            path = tmp_path / name
            store = SQLiteStore(path, **options)  # type: ignore[arg-type]
            desk = Desk(store)
            desk.open_ticket(customer="c", channel="email", subject="s")
            files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
            modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
            assert modes == {f.name: expected for f in files}
            desk.close()
    finally:
        os.umask(old_umask)
    existing = tmp_path / "existing.db"
    existing.touch(mode=0o644)
    existing.chmod(0o644)
    SQLiteStore(existing).close()
    assert stat.S_IMODE(existing.stat().st_mode) == 0o644  # an existing file keeps its own
    with pytest.raises(InvalidInput):
        SQLiteStore(tmp_path / "x.db", file_mode=0o1777)


def test_sqlite_turns_every_driver_error_into_one_of_ours(tmp_path: Path) -> None:
    from aftersales import AftersalesError, TicketNotFound
    from aftersales.models import Ticket
    from aftersales.storage import Change
    from aftersales.testing.contracts import _event, _ticket

    store = SQLiteStore(tmp_path / "errors.db")
    with pytest.raises(InvalidInput):
        store.get("\ud800")  # UnicodeEncodeError from the driver
    with pytest.raises(InvalidInput):
        store.get_by_number(2**70)  # OverflowError from the driver
    valid = _ticket(1)
    for bad in ({"number": 2**70}, {"id": "\ud800"}, {"assignee": "\udfff"}):
        unchecked = Ticket.model_construct(**{**valid.__dict__, **bad})
        with pytest.raises(AftersalesError) as raised:
            store.commit(Change(unchecked, 0, (_event(valid),)))
        assert isinstance(raised.value, InvalidInput), raised.value
        with pytest.raises(AftersalesError):
            store.commit_many([Change(unchecked, 0, (_event(valid),))])
    with pytest.raises(TicketNotFound):
        store.get("t1")
    assert store.events("t1") == []
    store.close()
    with pytest.raises(StorageError):
        store.get("t1")


def test_tickets_numbered_from_a_reserved_block_leave_the_counter_alone(tmp_path: Path) -> None:
    # Only a number the store has not handed out (an imported one) moves the counter: a
    # ticket opened with a reserved number costs no statement on it.
    store = SQLiteStore(tmp_path / "counter.db")
    desk = Desk(store)
    desk.open_ticket(customer="c", channel="email", subject="first")  # reserves a block
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    for n in range(5):
        desk.open_ticket(customer="c", channel="email", subject=f"t{n}")
    store._conn.set_trace_callback(None)
    assert [s for s in statements if "counters" in s] == []
    desk.close()


def test_the_sqlite_recorder_says_a_key_is_taken_only_when_it_is() -> None:
    recorder = SQLiteRecorder(":memory:")
    row = {"id": "c-1", "data": "{}"}
    assert recorder.atomically(lambda records: records.insert("customers", row))
    assert not recorder.atomically(lambda records: records.insert("customers", row))
    with pytest.raises(StorageError, match="NOT NULL"):  # a bad row, not a taken key
        recorder.atomically(
            lambda records: records.insert("customers", {"id": "c-2", "data": None})
        )


def test_a_version_6_database_fills_the_report_columns_from_each_rows_json(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "v6.db"
    with SQLiteStore(path) as store:
        desk = Desk(store, clock=clock)
        ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
        desk.classify(ticket.id, category="repair_warranty", severity="high")
        desk.assign(ticket.id, assignee="agent-1", team="repairs")
        desk.fire(ticket.id, "start")
        desk.fire(ticket.id, "resolve", payload={"resolution": "replaced"})
    connection = sqlite3.connect(path, isolation_level=None)
    drop_what_came_after(connection, 6)
    connection.close()
    with SQLiteStore(path):
        pass
    connection = sqlite3.connect(path)
    row = connection.execute(
        "SELECT category, priority, resolved_at, reopen_count FROM tickets"
    ).fetchone()
    events = connection.execute(
        "SELECT kind, to_state, actor FROM events ORDER BY sequence"
    ).fetchall()
    connection.close()
    assert row[:2] == ("repair_warranty", "high")
    assert row[2] is not None
    assert row[3] == 0
    assert events == [
        ("ticket", "new", "system"),
        ("ticket", "classified", "system"),
        ("ticket", "assigned", "system"),
        ("ticket", "in_progress", "system"),
        ("ticket", "resolved", "system"),
    ]


def drop_what_came_after(connection: sqlite3.Connection, version: int) -> None:
    """Make a database of the current schema look like one of ``version``: without the
    columns and indexes later versions added."""
    from aftersales.storage._schema import TABLES, TENANT
    from aftersales.storage._schema_versions import added_later
    from aftersales.storage._sqlite.statements import _rekey

    columns, indexes = added_later(version)
    for index in sorted(indexes):
        connection.execute(f"DROP INDEX IF EXISTS {index}")
    rekeyed = {
        t.name
        for t in TABLES
        if (TENANT in t.primary_key or t.unique) and (t.name, TENANT) in columns
    }
    for table in sorted(rekeyed):  # its keys as they were, without the columns added since
        _rekey(connection, table, version)
    for table, column in sorted(columns):
        if table not in rekeyed:
            connection.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    connection.execute(f"PRAGMA user_version={version}")


def test_a_version_7_database_fills_the_case_and_message_columns_from_each_rows_json(
    tmp_path: Path,
) -> None:
    from aftersales.insights import generate_history

    path = tmp_path / "v7.db"
    start = datetime(2024, 3, 4, tzinfo=timezone.utc)
    with SQLiteStore(path) as store:
        generate_history(
            Desk(store, clock=FrozenClock(start)), tickets=150, start=start, days=30, seed=3
        )
    columns = "kind, sku, product_category, reason, closed_at, paid_at, late, part"
    connection = sqlite3.connect(path, isolation_level=None)
    written = connection.execute(f"SELECT id, {columns} FROM cases ORDER BY id").fetchall()
    roles = connection.execute("SELECT id, author_role FROM messages ORDER BY id").fetchall()
    skus = connection.execute("SELECT id, sku, satisfaction FROM tickets ORDER BY id").fetchall()
    drop_what_came_after(connection, 7)
    connection.close()
    with SQLiteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
    connection = sqlite3.connect(path)
    assert connection.execute(f"SELECT id, {columns} FROM cases ORDER BY id").fetchall() == written
    assert (
        connection.execute("SELECT id, author_role FROM messages ORDER BY id").fetchall() == roles
    )
    tickets = connection.execute("SELECT id, sku, satisfaction FROM tickets ORDER BY id").fetchall()
    assert tickets == skus
    connection.close()
    # the history has what the columns are for: each kind's product, paid refunds, parts
    kinds = {row[1] for row in written}
    assert {"return", "refund", "repair", "complaint"} <= kinds
    assert all(row[2] is not None for row in written if row[1] in ("return", "repair"))
    assert {row[4] for row in written if row[1] == "return"} == {"no_reason_return"}
    assert any(row[6] is not None and row[7] == 0 for row in written if row[1] == "refund")
    assert any(row[8] == "board" for row in written if row[1] == "repair")
    assert any(row[5] is not None for row in written)
    assert {role for _, role in roles} >= {"customer", "agent"}
    assert any(satisfaction is not None for _, _, satisfaction in skus)


def test_a_version_8_database_fills_each_messages_author_from_its_json(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "v8.db"
    with SQLiteStore(path) as store:
        desk = Desk(store, clock=clock)
        mine = desk.open_ticket(customer="c-1", channel="email", subject="Kettle").id
        theirs = desk.open_ticket(customer="c-2", channel="email", subject="Kettle too").id
        for ticket_id, author in ((mine, "c-1"), (theirs, "c-2"), (theirs, "c-1"), (mine, "a")):
            desk.add_message(ticket_id, f"by {author}", author_id=author)
            clock.advance(minutes=1)
    connection = sqlite3.connect(path, isolation_level=None)
    authors = connection.execute("SELECT id, author_id FROM messages ORDER BY id").fetchall()
    drop_what_came_after(connection, 8)
    assert connection.execute("SELECT COUNT(*) FROM messages").fetchone() == (4,)
    connection.close()

    with SQLiteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        found = store.messages_by_author("c-1")
        assert [(m.ticket_id, m.body) for m in found] == [(mine, "by c-1"), (theirs, "by c-1")]
    connection = sqlite3.connect(path)
    assert connection.execute("SELECT id, author_id FROM messages ORDER BY id").fetchall() == (
        authors
    )
    plan = connection.execute(
        "EXPLAIN QUERY PLAN SELECT data FROM messages WHERE tenant = ? AND author_id = ?"
        " ORDER BY at",
        ("", "c-1"),
    ).fetchall()
    assert any("messages_author" in row[-1] for row in plan), plan
    connection.close()
