"""Every schema migration, tested by upgrading a database made by each older version.

For each backend (SQLiteStore; SQLAlchemyStore on SQLite, PostgreSQL and MariaDB) and each
older schema version, a database is built as that version made it: its tables, columns,
keys and indexes are derived from the one declaration (``aftersales.storage._schema``) by
leaving out what later migration steps add, and it holds the rows of a history written by
today's store in that version's shape: without the tables and columns later versions
added (the columns filled from each row's JSON start empty) and, before cases kept their
lines' terms apart, with the terms inside each case's JSON. The current store upgrades it
in place; the schema must then equal a new one, every row must read back as written and
the filled columns hold what a new store would have written.

A new version in ``MIGRATIONS`` is covered without editing this file. The servers are
taken from AFTERSALES_TEST_POSTGRES_URL and AFTERSALES_TEST_MYSQL_URL (as in
tests/test_sqlalchemy_store.py): the tests skip without them, and fail in CI.

That a database of a newer version is refused is tested in tests/test_stores.py
(``test_a_database_from_a_newer_version_is_refused``) and tests/test_sqlalchemy_store.py
(``test_the_schema_is_versioned_and_a_newer_one_refused``); here, that it is left as it
was.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from case_facts import claim_line

from test_sqlalchemy_store import server_url

sa = pytest.importorskip("sqlalchemy", reason='needs the sql extra: pip install "aftersales[sql]"')

from aftersales import (  # noqa: E402
    CaseNotFound,
    CaseQuery,
    Channel,
    ContactPoint,
    Customer,
    Desk,
    FrozenClock,
    SchemaVersionError,
    SQLiteStore,
    StorageError,
    Store,
    TicketQuery,
)
from aftersales.insights import generate_history  # noqa: E402
from aftersales.models import Case, Event, Message, Ticket  # noqa: E402
from aftersales.models.security import SecurityEntry  # noqa: E402
from aftersales.notify._notification import Notification  # noqa: E402
from aftersales.storage import _schema as schema  # noqa: E402
from aftersales.storage import _schema_versions as versions  # noqa: E402
from aftersales.storage._codec import SCHEMA_VERSION, read_case  # noqa: E402
from aftersales.storage._sqlalchemy import connection as sa_connection  # noqa: E402
from aftersales.storage._sqlalchemy.tables import (  # noqa: E402
    _MYSQL,
    _column,
    _create_index,
    metadata,
    unique_constraints,
)
from aftersales.storage._sqlite import recorder as sqlite_recorder  # noqa: E402
from aftersales.storage.sqlalchemy import SQLAlchemyStore  # noqa: E402

BACKENDS = ("sqlite", "sqlalchemy-sqlite", "postgresql", "mariadb")
OLDER_VERSIONS = range(1, SCHEMA_VERSION)
START = datetime(2024, 3, 4, tzinfo=timezone.utc)
HISTORY_DAYS = 20
MIGRATION_CUSTOMER = "c-migrated"
DERIVED_TABLES = frozenset({"ticket_tags"})
"""Tables whose rows an upgrade writes from other tables' records (``FillTicketTags``):
once upgraded, a database of a version without them holds all their rows."""


# ---------------------------------------------------------------- the schema at a version


def _steps_after(version: int) -> Iterator[tuple[int, versions.Step]]:
    for later in range(version + 1, SCHEMA_VERSION + 1):
        for step in versions.MIGRATIONS[later]:
            yield later, step


def tables_at(version: int) -> list[str]:
    """The tables a database of ``version`` has: all but those later steps create."""
    created = {s.table for _, s in _steps_after(version) if isinstance(s, versions.CreateTable)}
    return [t.name for t in schema.TABLES if t.name not in created]


def columns_at(table: str, version: int) -> list[schema.Column]:
    added, _ = versions.added_later(version)
    return [c for c in schema.table(table).columns if (table, c.name) not in added]


def narrow_at(version: int) -> set[tuple[str, str]]:
    """The id columns a database of ``version`` keeps in 64 characters."""
    return {
        column
        for _, step in _steps_after(version)
        if isinstance(step, versions.WidenIds)
        for column in step.columns
    }


def _later(version: int, kind: type) -> bool:
    return any(isinstance(step, kind) for _, step in _steps_after(version))


def filled_after(version: int) -> set[tuple[str, str]]:
    """The columns later steps add and fill from each row's JSON."""
    filled = {
        (step.table, column)
        for _, step in _steps_after(version)
        if isinstance(step, versions.FillFromData)
        for column in versions.FILLED[step.version][step.table]
    }
    if _later(version, versions.MoveTermsOutOfData):
        filled.add(("cases", "terms"))
    return filled


def replaced_later(version: int) -> list[tuple[str, str, str]]:
    """The indexes a database of ``version`` has that later steps drop (``DropIndex``),
    as ``(table, index, column)``. Their old columns are declared nowhere any more (a
    replacement of the same name may be): an index on one column of the table stands in,
    so that the upgrade finds an index to drop, as it does in a real database."""
    drop_index: Any = getattr(schema, "DropIndex", ())  # (a step of version 10)
    present = set(tables_at(version))
    created: set[str] = set()
    replaced: dict[str, tuple[str, str, str]] = {}
    for _, step in _steps_after(version):
        if isinstance(step, versions.CreateIndex):
            created.add(step.index)
        elif isinstance(step, drop_index) and step.index not in created:
            dropped: Any = step
            if dropped.table in present:
                declared = [i for i in schema.INDEXES if i.name == dropped.index]
                added, _ = versions.added_later(version)
                column = next(  # one the table has at that version (not the tenant)
                    c
                    for c in (declared[0].columns if declared else ())
                    + schema.table(dropped.table).primary_key
                    if (dropped.table, c) not in added
                )
                replaced.setdefault(dropped.index, (dropped.table, dropped.index, column))
    return list(replaced.values())


def create_sqlite_as_of(conn: sqlite3.Connection, version: int) -> None:
    """The tables SQLiteStore created at ``version``; its events were a WITHOUT ROWID
    table until the step that made them a rowid table."""
    for name in tables_at(version):
        for statement in versions.sqlite_create(name, version):
            if statement.startswith("INSERT"):
                continue  # the rows come from the history
            if (
                name == "events"
                and statement.startswith("CREATE TABLE")
                and _later(version, versions.EventsByRowid)
            ):
                statement += " WITHOUT ROWID"
            conn.execute(statement)
    for table, index, column in replaced_later(version):
        conn.execute(f"CREATE INDEX {index} ON {table} ({column})")
    conn.execute(f"PRAGMA user_version={version}")


def sqlalchemy_tables_as_of(version: int) -> sa.MetaData:
    """SQLAlchemyStore's tables at ``version``."""
    tables = sa.MetaData()
    narrow = narrow_at(version)
    keyed_as_declared = not _later(version, versions.Rekey)
    for name in tables_at(version):
        declared = schema.table(name)
        columns: list[Any] = [
            _column(
                attrs.evolve(c, length=64) if (name, c.name) in narrow else c,
                c.name in declared.primary_key,
            )
            for c in columns_at(name, version)
        ]
        if keyed_as_declared:  # the keys as today's (a Rekey step made them so)
            columns += [sa.PrimaryKeyConstraint(*declared.primary_key)]
            columns += unique_constraints(declared)
        sa.Table(name, tables, *columns, **_MYSQL)
    sa.Table(
        "aftersales_schema", tables, sa.Column("version", sa.Integer, nullable=False), **_MYSQL
    )
    return tables


def create_sqlalchemy_as_of(conn: sa.Connection, version: int) -> sa.MetaData:
    tables = sqlalchemy_tables_as_of(version)
    tables.create_all(conn)
    _, later_indexes = versions.added_later(version)
    for index in schema.INDEXES:
        if index.table in tables.tables and index.name not in later_indexes:
            _create_index(conn, index.name)
    for table, index, column in replaced_later(version):
        sa.Index(index, tables.tables[table].c[column]).create(conn)
    if not _later(version, versions.ExactText):
        sa_connection._collate_exactly(conn)  # as a new database of that version was
    conn.execute(tables.tables["aftersales_schema"].insert().values(version=version))
    return tables


# ---------------------------------------------------------------- the history


@dataclass
class History:
    """What today's store wrote, as rows (table → rows in the order they were inserted)
    and as the store reads it back."""

    rows: dict[str, list[dict[str, Any]]]
    tickets: list[Ticket]
    events: dict[str, list[Event]]
    messages: dict[str, list[Message]]
    by_author: dict[str, list[Message]]
    outbox: list[Notification]
    cases: list[Case]
    customers: list[Customer]
    state: dict[str, str]
    security: list[SecurityEntry]
    finds: list[tuple[TicketQuery, list[Ticket]]]
    case_finds: list[tuple[CaseQuery, list[Case]]]
    assigned: Ticket
    """A ticket the upgraded store moves on."""
    dropped: set[str] = field(default_factory=set)
    """Subjects whose table an older version did not have (so nor their events)."""

    def at(self, version: int) -> History:
        """The history as a database of ``version`` holds it: without the records of the
        tables it did not have."""
        have = set(tables_at(version))
        dropped = {row["id"] for row in self.rows["cases"]} if "cases" not in have else set()
        return History(
            rows={
                table: [row for row in rows if row.get("subject_id", row.get("id")) not in dropped]
                for table, rows in self.rows.items()
                if table in have
            },
            tickets=self.tickets,
            events={s: [] if s in dropped else e for s, e in self.events.items()},
            messages=self.messages,
            by_author=self.by_author,
            outbox=[n for n in self.outbox if n.event.subject_id not in dropped],
            cases=self.cases if "cases" in have else [],
            customers=self.customers,
            state=self.state if "state" in have else {},
            security=self.security if "security_log" in have else [],
            finds=self.finds,
            case_finds=[(q, found if "cases" in have else []) for q, found in self.case_finds],
            assigned=self.assigned,
            dropped=dropped,
        )


def _write_history(store: Store) -> Ticket:
    clock = FrozenClock(START)
    desk = Desk(store, clock=clock)
    # delivered by a worker: every event and message leaves a pending outbox row
    desk.subscribe(lambda _event: None, name="mailer", inline=False, messages=True)
    generate_history(desk, tickets=40, start=START, days=HISTORY_DAYS, seed=3)
    desk.save_customer(
        Customer(
            id=MIGRATION_CUSTOMER,
            name="王小明",
            contacts=(
                ContactPoint(channel=Channel.EMAIL, address="wang@example.com"),
                ContactPoint(channel=Channel.WECHAT, address="wx-wang"),
            ),
        )
    )
    ticket = desk.open_ticket(
        customer=MIGRATION_CUSTOMER, channel="email", subject="洗衣机漏水", tags=("leak", "vip")
    )
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    desk.add_message(ticket.id, "it leaks", author_id=MIGRATION_CUSTOMER)
    assigned = desk.assign(ticket.id, assignee="agent-migrated", team="repairs")
    desk.cases.request_return(
        ticket.id, order_id="o-migrated", lines=[claim_line(bought=3, claimed=2)]
    )
    store.set_state("relay:cursor", "42")
    store.log_security(
        [
            SecurityEntry(
                kind="erased",
                at=clock.now(),
                principal="dpo",
                action="erase",
                customer_id="c-gone",
                details={"tickets": 1},
            )
        ]
    )
    return desk.get(assigned.id)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """A history written once by today's SQLAlchemyStore on SQLite (whose messages keep
    their order in ``position``, which SQLiteStore keeps as its rowid)."""
    path = tmp_path_factory.mktemp("history") / "history.db"
    store = SQLAlchemyStore(f"sqlite:///{path}")
    assigned = _write_history(store)
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        rows = {
            table.name: [
                dict(row._mapping)
                for row in conn.execute(sa.select(table).order_by(sa.text("rowid")))
            ]
            for table in metadata.sorted_tables
            if table.name in {t.name for t in schema.TABLES}
        }
    engine.dispose()
    tickets = [row["id"] for row in rows["tickets"]]
    case_ids = [row["id"] for row in rows["cases"]]
    assert case_ids, "the history has cases"
    assert rows["contact_points"], "the history has contact points"
    assert any(row["terms"] for row in rows["cases"]), "some case lines have terms"
    authors = sorted({row["author_id"] for row in rows["messages"]})
    customers = sorted({row["id"] for row in rows["customers"]})
    finds = [
        *(TicketQuery(customer_id=c, limit=1000) for c in customers),
        *(
            TicketQuery(status=s, limit=1000)
            for s in sorted({row["status"] for row in rows["tickets"]})
        ),
        *(
            TicketQuery(assignee=a, limit=1000)
            for a in sorted({row["assignee"] for row in rows["tickets"] if row["assignee"]})
        ),
    ]
    case_finds = [
        *(CaseQuery(ticket_id=t) for t in sorted({row["ticket_id"] for row in rows["cases"]})),
        *(CaseQuery(kind=k) for k in sorted({row["kind"] for row in rows["cases"]})),
        CaseQuery(order_id="o-migrated"),
    ]
    made = History(
        rows=rows,
        tickets=[store.get(t) for t in tickets],
        events={s: store.events(s) for s in [*tickets, *case_ids]},
        messages={t: store.messages(t) for t in tickets},
        by_author={a: store.messages_by_author(a) for a in authors},
        outbox=store.outbox(),
        cases=[store.get_case(c) for c in case_ids],
        customers=[store.get_customer(c) for c in customers],
        state={"relay:cursor": "42"},
        security=store.security_log(),
        finds=[(q, store.find(q)) for q in finds],
        case_finds=[(q, store.find_cases(q)) for q in case_finds],
        assigned=assigned,
    )
    store.close()
    assert made.outbox
    assert made.security
    assert all(found for _, found in made.finds)
    return made


def rows_as_of(history: History, version: int, *, rowid: bool) -> dict[str, list[dict[str, Any]]]:
    """The history's rows in the shape ``version`` wrote them (``rowid``: the backend
    keeps the order of insertion as SQLite's rowid, not in a column)."""
    terms_inside = _later(version, versions.MoveTermsOutOfData)
    shaped: dict[str, list[dict[str, Any]]] = {}
    for table, rows in history.at(version).rows.items():
        names = [c.name for c in columns_at(table, version) if not (rowid and c.rowid)]
        shaped[table] = []
        for row in rows:
            old = {name: row[name] for name in names}
            if table == "cases" and terms_inside:
                old["data"] = read_case(row["data"], row["terms"]).model_dump_json(
                    exclude_none=True
                )
            shaped[table].append(old)
    return shaped


def rows_after_upgrade(history: History, version: int, *, rowid: bool) -> dict[str, Any]:
    """The rows a database of ``version`` holds once upgraded: today's rows, with the
    columns later versions added and did not fill from JSON left empty (or at their
    default: the tenant of every row written before tenants is '')."""
    added, _ = versions.added_later(version)
    empty = added - filled_after(version)
    at = history.at(version)
    expected = {}
    for declared in schema.TABLES:
        derived = declared.name in DERIVED_TABLES
        rows = (history if derived else at).rows.get(declared.name, [])
        names = [c.name for c in declared.columns if not (rowid and c.rowid)]
        expected[declared.name] = _sorted(
            declared.name,
            [
                {
                    n: declared.column(n).default if (declared.name, n) in empty else row[n]
                    for n in names
                }
                for row in rows
            ],
        )
    return expected


def _sorted(table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows in key order, each record's JSON parsed (the same record may come back
    with its keys in another order: an upgrade writes what it parsed)."""
    declared = schema.table(table)
    parsed = {c.name for c in declared.columns if c.type is schema.Type.DATA}
    return sorted(
        (
            {
                name: json.loads(value) if name in parsed and value is not None else value
                for name, value in row.items()
            }
            for row in rows
        ),
        # (an old database's rows lack the key's columns a later version added)
        key=lambda row: tuple(row[k] for k in declared.primary_key if k in row),
    )


# ---------------------------------------------------------------- the backends


class Backend:
    """One database to build old schemas in, upgrade, and look at."""

    name: str
    rowid = False

    def build(self, version: int, rows: dict[str, list[dict[str, Any]]]) -> None:
        raise NotImplementedError

    def open(self) -> Store:
        raise NotImplementedError

    def layout(self) -> Any:
        raise NotImplementedError

    def fresh_layout(self) -> Any:
        raise NotImplementedError

    def version(self) -> int:
        raise NotImplementedError

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        raise NotImplementedError

    def interrupt(
        self, monkeypatch: pytest.MonkeyPatch, wrap: Callable[[Callable[..., None]], Any]
    ) -> None:
        raise NotImplementedError


class SQLiteFile(Backend):
    """SQLiteStore in a file."""

    name = "sqlite"
    rowid = True

    def __init__(self, folder: Path) -> None:
        self.path = folder / "old.db"
        self.fresh = folder / "fresh.db"

    def _connect(self, path: Path | None = None) -> sqlite3.Connection:
        return sqlite3.connect(path or self.path, isolation_level=None)

    def build(self, version: int, rows: dict[str, list[dict[str, Any]]]) -> None:
        conn = self._connect()
        try:
            conn.execute("BEGIN")
            create_sqlite_as_of(conn, version)
            for table, written in rows.items():
                if written:
                    names = list(written[0])
                    quoted = ", ".join(f'"{name}"' for name in names)
                    conn.executemany(
                        f"INSERT INTO {table} ({quoted}) VALUES ({', '.join('?' * len(names))})",
                        [tuple(row[n] for n in names) for row in written],
                    )
            conn.execute("COMMIT")
        finally:
            conn.close()

    def open(self) -> Store:
        return SQLiteStore(self.path)

    def layout(self, path: Path | None = None) -> Any:
        return sqlite_layout(self._connect(path))

    def fresh_layout(self) -> Any:
        SQLiteStore(self.fresh).close()
        return self.layout(self.fresh)

    def version(self) -> int:
        conn = self._connect()
        try:
            found: int = conn.execute("PRAGMA user_version").fetchone()[0]
            return found
        finally:
            conn.close()

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        conn = self._connect()
        conn.row_factory = sqlite3.Row
        try:
            return _dump_sqlite(conn)
        finally:
            conn.close()

    def interrupt(
        self, monkeypatch: pytest.MonkeyPatch, wrap: Callable[[Callable[..., None]], Any]
    ) -> None:
        monkeypatch.setattr(sqlite_recorder, "_upgrade", wrap(sqlite_recorder._upgrade))


def _dump_sqlite(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {
        t.name: _sorted(t.name, [dict(row) for row in conn.execute(f"SELECT * FROM {t.name}")])
        for t in schema.TABLES
        if t.name in names
    }


def sqlite_layout(conn: sqlite3.Connection) -> Any:
    """Each table's columns (name, type, NOT NULL, default, place in the key), indexes
    (name, or how SQLite made it; columns in order; unique; partial and its condition) and
    whether it is WITHOUT ROWID; and the schema version."""
    try:
        tables = {}
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ):
            columns = sorted(row[1:] for row in conn.execute(f"PRAGMA table_info({name})"))
            indexes = []
            for _, index, unique, origin, partial in conn.execute(f"PRAGMA index_list({name})"):
                keyed = sorted(conn.execute(f"PRAGMA index_info({index})"))
                made = conn.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (index,)
                ).fetchone()  # none for a WITHOUT ROWID table's key
                sql_of = None if made is None else made[0]
                where = (
                    None
                    if sql_of is None or " WHERE " not in sql_of
                    else sql_of.split(" WHERE ")[1]
                )
                indexes.append(
                    (
                        index if origin == "c" else origin,
                        tuple(row[2] for row in keyed),
                        unique,
                        partial,
                        where,
                    )
                )
            tables[name] = (columns, sorted(indexes), "WITHOUT ROWID" in sql.upper())
        return tables, conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


class SQLAlchemyDatabase(Backend):
    """SQLAlchemyStore on a database of its own (a server's is reused between versions:
    every table is dropped before one is built)."""

    def __init__(self, name: str, url: str, fresh_url: str | None = None) -> None:
        self.name, self.url, self.fresh_url = name, url, fresh_url

    def _engine(self, url: str | None = None) -> sa.Engine:
        return sa.create_engine(url or self.url, poolclass=sa.pool.NullPool)

    def drop(self, url: str | None = None) -> None:
        engine = self._engine(url)
        with engine.begin() as conn:
            metadata.drop_all(conn)
        engine.dispose()

    def build(self, version: int, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.drop()
        engine = self._engine()
        try:
            with engine.begin() as conn:
                tables = create_sqlalchemy_as_of(conn, version)
            with engine.begin() as conn:
                for table, written in rows.items():
                    if written:
                        conn.execute(tables.tables[table].insert(), written)
        finally:
            engine.dispose()

    def open(self) -> Store:
        return SQLAlchemyStore(self.url)

    def layout(self, url: str | None = None) -> Any:
        engine = self._engine(url)
        try:
            with engine.connect() as conn:
                return server_layout(conn)
        finally:
            engine.dispose()

    def fresh_layout(self) -> Any:
        url = self.fresh_url or self.url
        self.drop(url)
        SQLAlchemyStore(url).close()
        made = self.layout(url)
        self.drop(url)
        return made

    def version(self) -> int:
        engine = self._engine()
        try:
            with engine.connect() as conn:
                found: int = conn.execute(
                    sa.text("SELECT version FROM aftersales_schema")
                ).scalar_one()
                return found
        finally:
            engine.dispose()

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        engine = self._engine()
        try:
            with engine.connect() as conn:
                existing = set(sa.inspect(conn).get_table_names())
                return {
                    t.name: _sorted(
                        t.name,
                        [
                            dict(row._mapping)
                            for row in conn.execute(
                                sa.select(
                                    sa.table(t.name, *(sa.column(c) for c in _names(conn, t.name)))
                                )
                            )
                        ],
                    )
                    for t in schema.TABLES
                    if t.name in existing
                }
        finally:
            engine.dispose()

    def interrupt(
        self, monkeypatch: pytest.MonkeyPatch, wrap: Callable[[Callable[..., None]], Any]
    ) -> None:
        monkeypatch.setattr(sa_connection, "_upgrade", wrap(sa_connection._upgrade))


def _names(conn: sa.Connection, table: str) -> list[str]:
    return [c["name"] for c in sa.inspect(conn).get_columns(table)]


def _type_name(declared: str, dialect: str) -> str:
    """The type as the database keeps it: SQLite takes a VARCHAR of any length (so
    ``WidenIds`` leaves its declared length alone there)."""
    if dialect == "sqlite" and declared.startswith("VARCHAR("):
        return "VARCHAR"
    return declared


def server_layout(conn: sa.Connection) -> Any:
    """Each table's columns (name, type as this database names it, nullable, default),
    primary key, indexes (name, columns in order, unique, condition), unique constraints;
    on MySQL and MariaDB also each table's and text column's collation."""
    inspector = sa.inspect(conn)
    tables = {}
    for table in sorted(inspector.get_table_names()):
        tables[table] = (
            sorted(
                (
                    c["name"],
                    _type_name(c["type"].compile(dialect=conn.dialect), conn.dialect.name),
                    c["nullable"],
                    str(c.get("default")),
                )
                for c in inspector.get_columns(table)
            ),
            inspector.get_pk_constraint(table)["constrained_columns"],
            sorted(
                (
                    i["name"],
                    tuple(i["column_names"]),
                    i["unique"],
                    sorted((k, str(v)) for k, v in i.get("dialect_options", {}).items()),
                )
                for i in inspector.get_indexes(table)
            ),
            sorted(
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
        )
    if conn.dialect.name in ("mysql", "mariadb"):
        database = conn.execute(sa.text("SELECT DATABASE()")).scalar_one()
        collations = conn.execute(
            sa.text(
                "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLLATION_NAME "
                "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = :db "
                "ORDER BY TABLE_NAME, COLUMN_NAME"
            ),
            {"db": database},
        ).all()
        table_collations = conn.execute(
            sa.text(
                "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = :db ORDER BY TABLE_NAME"
            ),
            {"db": database},
        ).all()
        return tables, [tuple(r) for r in collations], [tuple(r) for r in table_collations]
    return tables


@pytest.fixture(scope="module")
def fresh_layouts() -> dict[str, Any]:
    """The layout of a new database, per backend (made once)."""
    return {}


@pytest.fixture(params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, fresh_layouts: dict[str, Any]
) -> Iterator[tuple[Backend, Any]]:
    made: Backend
    if request.param == "sqlite":
        made = SQLiteFile(tmp_path)
    elif request.param == "sqlalchemy-sqlite":
        made = SQLAlchemyDatabase(
            request.param,
            f"sqlite:///{tmp_path / 'old.db'}",
            f"sqlite:///{tmp_path / 'fresh.db'}",
        )
    else:
        made = SQLAlchemyDatabase(request.param, server_url(request.param))
    if request.param not in fresh_layouts:
        fresh_layouts[request.param] = made.fresh_layout()
    yield made, fresh_layouts[request.param]
    if isinstance(made, SQLAlchemyDatabase) and made.fresh_url is None:
        made.drop()  # a server's database is left empty


# ---------------------------------------------------------------- the checks


def assert_reads_back(store: Store, history: History) -> None:
    """Every record reads back as today's store read it, by every way to look it up."""
    for ticket in history.tickets:
        assert store.get(ticket.id) == ticket
        assert store.get_by_number(ticket.number) == ticket
    for query, found in history.finds:
        assert store.find(query) == found, query
    for subject, events in history.events.items():
        assert store.events(subject) == events, subject
    for ticket_id, messages in history.messages.items():
        assert store.messages(ticket_id) == messages
    for author, messages in history.by_author.items():
        assert store.messages_by_author(author) == messages, author
    by_key = sorted(store.outbox(), key=lambda n: n.key)
    assert by_key == sorted(history.outbox, key=lambda n: n.key)
    for case in history.cases:
        assert store.get_case(case.id) == case
    for subject in history.dropped:
        with pytest.raises(CaseNotFound):
            store.get_case(subject)
    for case_query, cases in history.case_finds:
        assert store.find_cases(case_query) == cases, case_query
    for customer in history.customers:
        assert store.get_customer(customer.id) == customer
        for contact in customer.contacts:
            assert store.find_customer(contact.channel, contact.address) == customer
    for key, value in history.state.items():
        assert store.get_state(key) == value
    if not history.state:
        assert store.get_state("relay:cursor") is None
    assert store.security_log() == history.security


def assert_upgraded(backend: Backend, fresh: Any, history: History, version: int) -> None:
    """The database now has today's schema, every row as today's store would have written
    it, and reads back every record."""
    store = backend.open()
    try:
        assert backend.version() == SCHEMA_VERSION
        assert backend.layout() == fresh
        assert backend.dump() == rows_after_upgrade(history, version, rowid=backend.rowid)
        assert_reads_back(store, history.at(version))
    finally:
        store.close()


# ---------------------------------------------------------------- the tests


class Interrupted(Exception):
    """Injected into a migration step."""


def _midway(version: int) -> int:
    """How many steps an interrupted upgrade from ``version`` carries out: half of them,
    at least one."""
    return max(1, len(list(_steps_after(version))) // 2)


@pytest.mark.parametrize("version", OLDER_VERSIONS)
def test_a_database_of_each_older_version_is_upgraded_in_place_also_after_an_interruption(
    backend: tuple[Backend, Any],
    history: History,
    version: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An upgrade interrupted halfway leaves the old version (or, where DDL commits, the
    versions done so far) for a retry; the retry upgrades it in place to today's schema
    and rows, opening it again changes nothing, and a desk goes on where the old version
    left off. One test per version, as building an old database on a server costs most of
    it: where the interrupted attempt is rolled back (SQLite, PostgreSQL), the retry is
    the whole upgrade from that version; on MariaDB, where DDL commits, each step still
    runs once, on a database of the shape it expects."""
    database, fresh = backend
    database.build(version, rows_as_of(history, version, rowid=database.rowid))
    assert database.version() == version
    old_layout, old_rows = database.layout(), database.dump()
    carried_out: list[versions.Step] = []

    def wrap(upgrade: Callable[..., None]) -> Callable[..., None]:
        def step_then_stop(conn: Any, step: versions.Step, at: int) -> None:
            upgrade(conn, step, at)
            carried_out.append(step)
            if len(carried_out) == _midway(version):
                raise Interrupted(f"after {step} of version {at}")

        return step_then_stop

    with monkeypatch.context() as patch:
        database.interrupt(patch, wrap)
        with pytest.raises(StorageError) as raised:  # (the store's error for any other)
            database.open()
    assert isinstance(raised.value.__cause__, Interrupted), raised.value
    assert len(carried_out) == _midway(version)

    if database.name == "mariadb":
        # DDL commits there: the versions before the interrupted one stay done, and a rerun
        # must complete the rest
        assert version <= database.version() < SCHEMA_VERSION
    else:  # one transaction, DDL included: nothing of it is left
        assert database.version() == version
        assert (database.layout(), database.dump()) == (old_layout, old_rows)

    assert_upgraded(database, fresh, history, version)

    # opening it again changes nothing
    layout, rows = database.layout(), database.dump()
    database.open().close()
    assert (database.layout(), database.dump()) == (layout, rows)

    # and the desk goes on where the old version left off
    store = database.open()
    desk = Desk(store, clock=FrozenClock(START + timedelta(days=HISTORY_DAYS + 1)))
    before = history.assigned
    started = desk.fire(before.id, "start")
    assert (started.status, started.version) == ("in_progress", before.version + 1)
    message = desk.add_message(before.id, "after the upgrade", author_id=MIGRATION_CUSTOMER)
    assert store.messages(before.id)[-1] == message
    assert store.messages_by_author(MIGRATION_CUSTOMER)[-1] == message
    assert desk.get(before.id).status == "in_progress"
    new = desk.open_ticket(customer=MIGRATION_CUSTOMER, channel="email", subject="since")
    assert new.number > max(t.number for t in history.tickets)
    assert [t.id for t in store.find(TicketQuery(customer_id=MIGRATION_CUSTOMER))][-1] == new.id
    store.close()


def test_a_database_of_a_newer_version_is_refused_and_left_as_it_was(
    backend: tuple[Backend, Any], history: History
) -> None:
    database, _ = backend
    newer = SCHEMA_VERSION + 1
    database.build(SCHEMA_VERSION, rows_as_of(history, SCHEMA_VERSION, rowid=database.rowid))
    if isinstance(database, SQLiteFile):
        conn = database._connect()
        conn.execute(f"PRAGMA user_version={newer}")
        conn.close()
    else:
        assert isinstance(database, SQLAlchemyDatabase)
        engine = database._engine()
        with engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE aftersales_schema SET version = {newer}"))
        engine.dispose()
    layout, rows = database.layout(), database.dump()
    with pytest.raises(SchemaVersionError) as raised:
        database.open()
    assert (raised.value.found, raised.value.supported) == (newer, SCHEMA_VERSION)
    assert (database.layout(), database.dump()) == (layout, rows)
