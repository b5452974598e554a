"""SQLAlchemyStore passes the store contract on SQLite, PostgreSQL and MariaDB.

The servers are taken from AFTERSALES_TEST_POSTGRES_URL and AFTERSALES_TEST_MYSQL_URL
(defaults: this machine's loopback servers). Without them the tests skip, naming the
variable; in CI (CI=true) they fail instead, because there they must run.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from servers import no_server

sqlalchemy = pytest.importorskip(
    "sqlalchemy", reason='needs the sql extra: pip install "aftersales[sql]"'
)

from aftersales import Desk, FrozenClock, SchemaVersionError, Store  # noqa: E402
from aftersales.storage import CaseChange, CaseQuery  # noqa: E402
from aftersales.storage._schema import INDEXES  # noqa: E402
from aftersales.storage.sqlalchemy import SCHEMA_VERSION, SQLAlchemyStore, metadata  # noqa: E402
from aftersales.testing import StoreContract  # noqa: E402

# the url fixture reaches its server by its parameter's name, which the marking in
# tests/conftest.py cannot follow
pytestmark = pytest.mark.servers

SERVERS = {
    "postgresql": (
        "AFTERSALES_TEST_POSTGRES_URL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    ),
    "mariadb": ("AFTERSALES_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}


def server_url(name: str) -> str:
    variable, default = SERVERS[name]
    url = os.environ.get(variable, default)
    try:
        engine = sqlalchemy.create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as error:  # noqa: BLE001 - any failure to connect means "no server"
        no_server(name, url, variable, error)
    return url


def dialect_url(request: pytest.FixtureRequest, tmp_path: Path, file_name: str) -> str:
    """The URL of a fixture parametrized over ``sqlite``, ``postgresql`` and ``mariadb``:
    a new SQLite file in ``tmp_path``, or the server's database with no tables."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / file_name}"
    found = server_url(request.param)
    drop_tables(found)
    return found


def drop_columns_added_in_7(conn: sqlalchemy.Connection, version: int = 6) -> None:
    """Make a database of the current schema look like one of schema ``version`` (6
    unless told: without the columns and indexes versions 7 and later added)."""
    from aftersales.storage._schema import TABLES, TENANT
    from aftersales.storage._schema_versions import added_later
    from aftersales.storage._sqlalchemy.connection import _rekey

    mysql = conn.dialect.name in ("mysql", "mariadb")
    columns, indexes = added_later(version)
    existing = set(sqlalchemy.inspect(conn).get_table_names())  # a test may drop some
    for index in sorted(indexes):
        table = next(i.table for i in INDEXES if i.name == index)
        if table in existing and any(
            i["name"] == index for i in sqlalchemy.inspect(conn).get_indexes(table)
        ):
            on = f" ON {table}" if mysql else ""
            conn.execute(sqlalchemy.text(f"DROP INDEX {index}{on}"))
    # the tables whose keys the tenant joined: their keys as they were before it
    rekeyed = {
        t.name
        for t in TABLES
        if (TENANT in t.primary_key or t.unique) and (t.name, TENANT) in columns
    } & existing
    for table in sorted(rekeyed):  # (SQLite rebuilds the table without the tenant)
        _rekey(conn, table, version)
    sqlite = conn.dialect.name == "sqlite"
    for table, column in sorted(columns):
        if table in existing and not (sqlite and table in rekeyed):
            conn.execute(sqlalchemy.text(f"ALTER TABLE {table} DROP COLUMN {column}"))


def drop_tables(url: str) -> None:
    """Drop every table of the store that exists, on a plain engine: opening a store
    first could not recover from a half-created schema (MariaDB's DDL commits each
    statement, so an interrupted run can leave some tables without the others)."""
    engine = sqlalchemy.create_engine(url)
    metadata.drop_all(engine)
    engine.dispose()


def fresh_store(url: str) -> SQLAlchemyStore:
    """A store on ``url`` holding what a new database's holds. On a server whose tables
    still have the exact shape the last store :func:`recreated_store` made in this process
    left, they are emptied and their first rows put back, in one transaction (a tenth of
    a second where dropping and creating them took seconds on MariaDB, whose DDL commits
    each statement); otherwise they are dropped and created."""
    if _emptied(url):
        return SQLAlchemyStore(url)
    return recreated_store(url)


def recreated_store(url: str) -> SQLAlchemyStore:
    """A store on ``url`` whose tables were dropped and created (the upgrade tests start
    from these, not from emptied tables)."""
    drop_tables(url)
    store = SQLAlchemyStore(url)
    if store.dialect in SHAPES:
        with store.engine.connect() as conn:
            rows = {t.name: [r._asdict() for r in conn.execute(t.select())] for t in _tables()}
            _FRESH[url] = (_shape(conn), rows)
    return store


def _tables() -> list[sqlalchemy.Table]:
    return list(metadata.sorted_tables)


_FRESH: dict[str, tuple[object, dict[str, list[dict[str, object]]]]] = {}
"""Per server URL, the shape of the tables :func:`recreated_store` made there last and
the rows they held (the schema version, the counters)."""

SHAPES = {
    "postgresql": (
        "SELECT table_name, ordinal_position, column_name, data_type, "
        "character_maximum_length, numeric_precision, is_nullable, column_default, "
        "collation_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name IN :tables",
        "SELECT tablename, indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() AND tablename IN :tables",
        "SELECT table_name, constraint_name, constraint_type "
        "FROM information_schema.table_constraints "
        "WHERE table_schema = current_schema() AND table_name IN :tables",
    ),
    "mysql": (
        "SELECT table_name, ordinal_position, column_name, column_type, is_nullable, "
        "column_default, character_set_name, collation_name, extra "
        "FROM information_schema.columns "
        "WHERE table_schema = DATABASE() AND table_name IN :tables",
        "SELECT table_name, index_name, non_unique, seq_in_index, column_name, sub_part "
        "FROM information_schema.statistics "
        "WHERE table_schema = DATABASE() AND table_name IN :tables",
        "SELECT table_name, constraint_name, constraint_type "
        "FROM information_schema.table_constraints "
        "WHERE table_schema = DATABASE() AND table_name IN :tables",
        "SELECT table_name, engine, table_collation FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND table_name IN :tables",
    ),
}
"""Per dialect, the queries whose answers make the shape of the store's tables: each
table's columns (types, defaults, collations), indexes and constraints."""
SHAPES["mariadb"] = SHAPES["mysql"]


def _shape(conn: sqlalchemy.Connection) -> object:
    tables = sqlalchemy.bindparam("tables", [t.name for t in _tables()], expanding=True)
    return [
        sorted(
            tuple(str(value) for value in row)
            for row in conn.execute(sqlalchemy.text(query).bindparams(tables))
        )
        for query in SHAPES[conn.dialect.name]
    ]


def _emptied(url: str) -> bool:
    """Whether the database at ``url`` still has the shape :func:`recreated_store` left
    there; if so, its tables now hold just the rows they held then."""
    fresh = _FRESH.get(url)
    if fresh is None:
        return False
    shape, rows = fresh
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.begin() as conn:
            if _shape(conn) != shape:
                return False
            for table in reversed(_tables()):
                conn.execute(table.delete())
                if rows.get(table.name):
                    conn.execute(table.insert(), rows[table.name])
    finally:
        engine.dispose()
    return True


class TestSQLAlchemyStoreOnSQLite(StoreContract):
    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path

    def setup_method(self, method: object = None) -> None:
        """The store is made once tmp_path exists (below)."""

    @pytest.fixture(autouse=True)
    def _store(self, _folder: None) -> None:
        self.store = self.make_store()

    def make_store(self) -> Store:
        return SQLAlchemyStore(f"sqlite:///{self.folder / 'sa.db'}")


class TestSQLAlchemyStoreOnPostgreSQL(StoreContract):
    def make_store(self) -> Store:
        return fresh_store(server_url("postgresql"))


class TestSQLAlchemyStoreOnMariaDB(StoreContract):
    def make_store(self) -> Store:
        return fresh_store(server_url("mariadb"))


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'desk.db'}"
    return server_url(request.param)


def test_a_desk_runs_its_lifecycle_on_every_dialect(url: str, clock: FrozenClock) -> None:
    store = fresh_store(url)
    desk = Desk(store, clock=clock)
    ticket = desk.open_ticket(
        customer="c", channel="wechat", subject="洗衣机漏水 'x'; DROP TABLE t;--"
    )
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    desk.assign(ticket.id, assignee="li")
    desk.add_message(ticket.id, "上门 <b>维修</b> \\ % _", author_id="li")
    desk.fire(ticket.id, "start")
    resolved = desk.resolve(ticket.id, resolution="换了排水泵")
    assert desk.get(ticket.id) == resolved
    assert desk.replay(ticket.id) == resolved
    assert [m.body for m in desk.messages(ticket.id)] == ["上门 <b>维修</b> \\ % _"]
    assert desk.get(ticket.id).subject == "洗衣机漏水 'x'; DROP TABLE t;--"
    desk.close()


def test_a_version_6_schema_fills_the_report_columns_from_each_rows_json(
    url: str, clock: FrozenClock
) -> None:
    store = recreated_store(url)
    desk = Desk(store, clock=clock)
    ticket = desk.open_ticket(customer="c", channel="email", subject="Kettle")
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    desk.assign(ticket.id, assignee="li", team="repairs")
    desk.fire(ticket.id, "start")
    desk.resolve(ticket.id, resolution="replaced")
    desk.close()
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        drop_columns_added_in_7(conn)
        conn.execute(sqlalchemy.text("UPDATE aftersales_schema SET version = 6"))
    engine.dispose()
    upgraded = SQLAlchemyStore(url)
    assert upgraded.schema_version == SCHEMA_VERSION
    with upgraded.engine.connect() as conn:
        row = conn.execute(
            sqlalchemy.text("SELECT category, priority, reopen_count, resolved_at FROM tickets")
        ).one()
        events = conn.execute(
            sqlalchemy.text("SELECT kind, to_state, actor FROM events ORDER BY sequence")
        ).all()
    assert tuple(row[:3]) == ("repair_warranty", "high", 0)
    assert row[3] is not None
    assert [tuple(e) for e in events] == [
        ("ticket", "new", "system"),
        ("ticket", "classified", "system"),
        ("ticket", "assigned", "system"),
        ("ticket", "in_progress", "system"),
        ("ticket", "resolved", "system"),
    ]
    assert Desk(upgraded, clock=clock).get(ticket.id).category == "repair_warranty"
    upgraded.close()


def test_a_version_8_schema_fills_each_messages_author_from_its_json(
    url: str, clock: FrozenClock
) -> None:
    store = recreated_store(url)
    desk = Desk(store, clock=clock)
    mine = desk.open_ticket(customer="c-1", channel="email", subject="Kettle").id
    theirs = desk.open_ticket(customer="c-2", channel="email", subject="Kettle too").id
    for ticket_id, author in ((mine, "c-1"), (theirs, "c-2"), (theirs, "c-1"), (mine, "a")):
        desk.add_message(ticket_id, f"by {author}", author_id=author)
        clock.advance(minutes=1)
    desk.close()
    select = sqlalchemy.text("SELECT id, author_id FROM messages ORDER BY id")
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        authors = [tuple(row) for row in conn.execute(select)]
        drop_columns_added_in_7(conn, 8)
        conn.execute(sqlalchemy.text("UPDATE aftersales_schema SET version = 8"))
    engine.dispose()
    upgraded = SQLAlchemyStore(url)
    assert upgraded.schema_version == SCHEMA_VERSION
    with upgraded.engine.connect() as conn:
        assert [tuple(row) for row in conn.execute(select)] == authors
    assert sorted(author for _, author in authors) == ["a", "c-1", "c-1", "c-2"]
    found = upgraded.messages_by_author("c-1")
    assert [(m.ticket_id, m.body) for m in found] == [(mine, "by c-1"), (theirs, "by c-1")]
    upgraded.close()


def test_the_schema_is_versioned_and_a_newer_one_refused(url: str) -> None:
    store = recreated_store(url)
    assert store.schema_version == SCHEMA_VERSION
    with store.engine.begin() as conn:
        conn.execute(sqlalchemy.text("UPDATE aftersales_schema SET version = 99"))
    store.close()
    with pytest.raises(SchemaVersionError):
        SQLAlchemyStore(url)
    drop_tables(url)


def test_a_version_1_schema_is_upgraded(url: str) -> None:
    from aftersales.storage.sqlalchemy import cases, state

    store = recreated_store(url)
    with store.engine.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "DROP INDEX tickets_sla_due" + (" ON tickets" if "mysql" in url else "")
            )
        )
        conn.execute(sqlalchemy.text("ALTER TABLE tickets DROP COLUMN sla_due_at"))
        state.drop(conn)
        cases.drop(conn)
        metadata.tables["security_log"].drop(conn)
        drop_columns_added_in_7(conn)
        conn.execute(sqlalchemy.text("UPDATE aftersales_schema SET version = 1"))
    store.close()
    upgraded = SQLAlchemyStore(url)
    assert upgraded.schema_version == SCHEMA_VERSION
    assert upgraded.find_cases(CaseQuery()) == []
    assert "sla_due_at" in {
        c["name"] for c in sqlalchemy.inspect(upgraded.engine).get_columns("tickets")
    }
    inspector = sqlalchemy.inspect(upgraded.engine)
    assert "author_id" in {c["name"] for c in inspector.get_columns("messages")}
    assert "messages_author" in {i["name"] for i in inspector.get_indexes("messages")}
    upgraded.set_state("k", "v")
    assert upgraded.get_state("k") == "v"
    assert upgraded.security_log() == []
    upgraded.close()


def test_a_version_3_schema_moves_each_case_lines_terms_out_of_its_data(url: str) -> None:
    from aftersales.testing.contracts import _case, _case_line

    case = _case("r1", lines=(_case_line(),))
    store = recreated_store(url)
    with store.engine.begin() as conn:
        conn.execute(sqlalchemy.text("ALTER TABLE cases DROP COLUMN terms"))
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO cases (id, kind, ticket_id, order_id, status, status_category, "
                "version, created_at, data) VALUES ('r1', 'return', 't1', 'o1', 'requested', "
                "'new', 1, '2024-03-01T00:00:00.000000+00:00', :data)"
            ),
            {"data": case.model_dump_json(exclude_none=True)},  # as version 3 wrote it
        )
        metadata.tables["security_log"].drop(conn)  # added in version 6
        drop_columns_added_in_7(conn)
        conn.execute(sqlalchemy.text("UPDATE aftersales_schema SET version = 3"))
    store.close()
    upgraded = SQLAlchemyStore(url)
    assert upgraded.schema_version == SCHEMA_VERSION
    assert upgraded.get_case("r1") == case
    received = case.model_copy(update={"version": 2, "status": "received"})
    upgraded.commit_cases([CaseChange(received, 1, (), terms_changed=False)])
    assert upgraded.get_case("r1").lines[0].decision == case.lines[0].decision
    upgraded.close()


def test_a_pool_of_one_connection_serves_commits_that_check_their_order(url: str) -> None:
    # MariaDB's order lock belongs to a session: held on a second pooled connection, it
    # left a pool of one (or a busy pool) waiting for itself.
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "cases"))
    from case_facts import claim_line

    fresh_store(url).close()
    store = SQLAlchemyStore(url, pool_size=1, max_overflow=0, pool_timeout=30)
    desk = Desk(store, clock=FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc)))
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="退货")
    rma = desk.cases.request_return(
        ticket.id, order_id="o-1", lines=[claim_line(bought=3, claimed=2)]
    )
    assert rma.status == "approved"
    desk.close()


def test_a_version_4_schema_compares_identifiers_exactly_after_the_upgrade(
    url: str, clock: FrozenClock
) -> None:
    from aftersales import Customer, CustomerNotFound
    from aftersales.storage._schema_versions import MIGRATIONS, WidenIds

    widened = next(s for s in MIGRATIONS[5] if isinstance(s, WidenIds)).columns

    store = recreated_store(url)
    desk = Desk(store, clock=clock)
    desk.open_ticket(customer="cust-abc", channel="email", subject="before the upgrade")
    desk.save_customer(Customer(id="cust-abc", name="lower"))
    mysql = store.dialect in ("mysql", "mariadb")
    with store.engine.begin() as conn:  # back to version 4: the server's default collation
        for table in metadata.sorted_tables:
            if mysql:
                conn.execute(
                    sqlalchemy.text(
                        f"ALTER TABLE `{table.name}` CONVERT TO CHARACTER SET utf8mb4 "
                        "COLLATE utf8mb4_general_ci"
                    )
                )
        for table, column in widened:
            if mysql:
                conn.execute(
                    sqlalchemy.text(f"ALTER TABLE `{table}` MODIFY `{column}` VARCHAR(64) NOT NULL")
                )
            elif store.dialect == "postgresql":
                conn.execute(
                    sqlalchemy.text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR(64)")
                )
        metadata.tables["security_log"].drop(conn)  # added in version 6
        drop_columns_added_in_7(conn)
        conn.execute(sqlalchemy.text("UPDATE aftersales_schema SET version = 4"))
    desk.close()
    upgraded = SQLAlchemyStore(url)
    assert upgraded.schema_version == SCHEMA_VERSION
    desk = Desk(upgraded, clock=clock)
    assert [t.subject for t in desk.find(customer_id="cust-abc")] == ["before the upgrade"]
    assert desk.find(customer_id="CUST-ABC") == []
    with pytest.raises(CustomerNotFound):
        desk.get_customer("CUST-ABC")
    desk.save_customer(Customer(id="CUST-ABC", name="upper"))
    assert desk.get_customer("cust-abc").name == "lower"
    assert desk.get_customer("CUST-ABC").name == "upper"
    long_id = "t" * 128  # an Identifier's full length: version 4 kept 64
    desk.import_tickets(
        [
            {
                "id": long_id,
                "channel": "email",
                "subject": "imported",
                "customer_id": "CUST-ABC",
                "status": "new",
                "created_at": "2024-03-01T08:00:00+00:00",
                "updated_at": "2024-03-01T08:00:00+00:00",
            }
        ]
    )
    assert desk.get(long_id).customer_id == "CUST-ABC"
    assert [t.id for t in desk.find(customer_id="CUST-ABC")] == [long_id]
    desk.close()


def test_every_driver_error_becomes_one_of_ours(url: str) -> None:
    from aftersales import AftersalesError, InvalidInput, TicketNotFound
    from aftersales.models import Ticket
    from aftersales.storage import Change
    from aftersales.testing.contracts import _event, _ticket

    store = fresh_store(url)
    with pytest.raises(InvalidInput):
        store.get("\ud800")  # a lone surrogate: the driver cannot encode it
    with pytest.raises(AftersalesError):
        store.get_by_number(2**70)  # beyond 64 bits
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
    store.close()


def test_a_batch_that_changes_stored_tickets_is_written_whole(tmp_path: Path) -> None:
    # An import's batch of new tickets has statements of its own; any other batch is
    # written as RecordStore writes it.
    from aftersales.storage import Change
    from aftersales.testing.contracts import _event, _ticket

    with SQLAlchemyStore(f"sqlite:///{tmp_path / 'batch.db'}") as store:
        first, second = _ticket(1), _ticket(2)
        store.commit_many([Change(t, 0, (_event(t),)) for t in (first, second)])
        changed = [t.model_copy(update={"version": 2}) for t in (first, second)]
        store.commit_many([Change(t, 1, (_event(t, "add", "new"),)) for t in changed])
        assert [store.get(t.id).version for t in changed] == [2, 2]
        assert [len(store.events(t.id)) for t in changed] == [2, 2]
        assert store.reserve_numbers(1) > second.number
