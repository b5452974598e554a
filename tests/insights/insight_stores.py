"""The stores every insight is checked on, made fresh for a test module: MemoryStore,
SQLiteStore, SQLAlchemyStore on SQLite, PostgreSQL and MariaDB, and a store read through
its public API only (RecordStore on a MemoryRecorder).

PostgreSQL and MariaDB are taken from AFTERSALES_TEST_POSTGRES_URL and
AFTERSALES_TEST_MYSQL_URL (defaults: this machine's loopback servers); without them
those stores skip, naming the variable (in CI they fail instead).

A history written on a server through a desk costs a round trip per statement and a
commit per change (about ten seconds for a few hundred tickets, several times that on a
busy machine). :func:`filled` writes it through the desk on a SQLiteStore file instead,
once per session (a MemoryRecorder copies its tables' indexes in every transaction, which
makes it slower for a history of this size), and copies the rows, through the server
recorder's own inserts, in one transaction: the rows stored are the ones the desk would
have written there (test_insight_stores.py proves it), and the insights read them as
before. The SQLite store is a copy of that file; the public-API store (a RecordStore on a
MemoryRecorder, slow to write a history through: each of its transactions copies every
table's index) holds its rows copied too.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from aftersales import Customer, MemoryStore, SQLiteStore, Store
from aftersales.storage.recorder import MemoryRecorder, Records, RecordStore, Row


def server_store(name: str) -> Store:
    """A fresh SQLAlchemyStore on the named server, or a skip naming the variable to set
    (a failure in CI). The first one of a session drops the tables and creates them
    (seconds on MariaDB, whose DDL commits each statement); later ones empty the tables
    instead, when the database still has the shape the first one left
    (:func:`emptied`)."""
    from aftersales.storage.sqlalchemy import SQLAlchemyStore
    from test_sqlalchemy_store import fresh_store, server_url

    url = server_url(name)
    if emptied(url):
        return SQLAlchemyStore(url)
    store = fresh_store(url)
    _FRESH[url] = _fresh_state(store.engine)
    return store


_FRESH: dict[str, tuple[Any, dict[str, list[Any]]]] = {}
"""Per server URL, the shape of the database a fresh store made (tables, columns,
indexes, keys) and the rows it held (the schema version, the counters)."""


def emptied(url: str) -> bool:
    """Whether the database at ``url`` was made by :func:`server_store` this session and
    still has that shape; if so, its rows are now those of a fresh store (every table
    emptied, the fresh rows put back), in one transaction."""
    fresh = _FRESH.get(url)
    if fresh is None:
        return False
    import sqlalchemy as sa

    from aftersales.storage.sqlalchemy import metadata

    shape, rows = fresh
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if _shape(conn) != shape:
                return False
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
                if rows[table.name]:
                    conn.execute(table.insert(), [dict(row._mapping) for row in rows[table.name]])
    finally:
        engine.dispose()
    return True


def _fresh_state(engine: Any) -> tuple[Any, dict[str, list[Any]]]:
    import sqlalchemy as sa

    from aftersales.storage.sqlalchemy import metadata

    with engine.connect() as conn:
        rows = {t.name: list(conn.execute(sa.select(t))) for t in metadata.sorted_tables}
        return _shape(conn), rows


def _shape(conn: Any) -> Any:
    """The tables of the database, each with its columns, primary key, unique
    constraints, indexes and options (character set and collation on MariaDB)."""
    import sqlalchemy as sa

    inspector = sa.inspect(conn)
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            inspector.get_pk_constraint(table)["constrained_columns"],
            sorted(repr(sorted(u.items())) for u in inspector.get_unique_constraints(table)),
            sorted(repr(sorted(i.items())) for i in inspector.get_indexes(table)),
            sorted(inspector.get_table_options(table).items()),  # MariaDB's collation
        )
        for table in sorted(inspector.get_table_names())
    }


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

SERVERS = ("postgresql", "mariadb")
"""The stores on a database server."""
COPIED = (*SERVERS, "public-api")
"""The stores filled by copying rows (see :func:`filled`)."""

COPIED_TABLES = ("tickets", "cases", "events", "messages", "outbox", "state", "security_log")
"""The tables copied row by row, in the order a desk writes them; customers (and their
contact points) and the ticket number counter are copied as what they are."""


def filled(kind: str, folder: Path, fill: Callable[[Store], Any]) -> Store:
    """A store of ``kind`` in ``folder`` holding what ``fill`` writes on it through a
    desk. SQLite, the servers and the public-API store share one SQLite file ``fill``
    wrote, once per session (:func:`written_once`): the SQLite store is a copy of that
    file, the others hold its rows copied (:func:`copy_rows`). MemoryStore and
    SQLAlchemyStore on SQLite are written on themselves (the latter is the write path of
    the servers' store, on every history, whose reports must match the copies')."""
    if kind == "sqlite":
        path = folder / "insights.db"
        _backup(written_once(fill), path)
        return SQLiteStore(path)
    if kind not in COPIED:
        store = MAKERS[kind](folder)
        fill(store)
        return store
    source = SQLiteStore(written_once(fill))
    try:
        store = MAKERS[kind](folder)
        assert isinstance(store, RecordStore)
        copy_rows(source, store)
    finally:
        source.close()
    return store


_WRITTEN: dict[Callable[[Store], Any], Path] = {}


def written_once(fill: Callable[[Store], Any]) -> Path:
    """A SQLite file (in a folder removed when the tests end) holding what ``fill`` wrote
    on a SQLiteStore, written the first time it is asked for. Never written again: it is
    only copied."""
    path = _WRITTEN.get(fill)
    if path is None:
        folder = Path(tempfile.mkdtemp(prefix="aftersales-insights-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        path = folder / "written.db"
        store = SQLiteStore(path)
        try:
            fill(store)
        finally:
            store.close()
        _WRITTEN[fill] = path
    return path


def _backup(source: Path, target: Path) -> None:
    """``source`` copied to ``target`` with SQLite's backup (whole, whatever its journal)."""
    with closing(sqlite3.connect(source)) as reading, closing(sqlite3.connect(target)) as copy:
        reading.backup(copy)


def copy_rows(source: RecordStore, target: RecordStore) -> None:
    """Every row of ``source`` written into the empty ``target`` in one transaction,
    each table's rows in the order they were written (which orders ties) and in one
    executemany where the recorder has one."""
    rows = {table: source.recorder.reading(_all(table)) for table in COPIED_TABLES}
    customers = source.recorder.reading(_all("customers"))
    number = source.recorder.atomically(lambda r: r.count("ticket_number"))

    def work(records: Records) -> None:
        insert_many: Callable[[str, list[Row]], bool] | None = getattr(records, "insert_many", None)
        for table, written in rows.items():
            if table == "state":
                for row in written:
                    records.put(table, row)
            elif insert_many is not None:
                for batch in _same_columns(written):
                    assert insert_many(table, batch), f"a key of {table} was taken"
            else:
                assert all(records.insert(table, row) for row in written)
        for row in customers:
            contacts = Customer.model_validate_json(row["data"]).contacts
            pairs = [(c.channel.value, c.address) for c in contacts]
            records.put_customer(row["id"], row["data"], pairs)
        records.count("ticket_number", at_least=number)

    target.recorder.atomically(work)


def _all(table: str) -> Callable[[Records], list[Row]]:
    # without the tenant: a row copied into a store is the target's tenant's
    return lambda records: [
        {k: v for k, v in row.items() if k != "tenant"} for row in records.select(table, {})
    ]


def _same_columns(rows: list[Row]) -> list[list[Row]]:
    """``rows`` in runs of rows with the same columns (an executemany takes one shape),
    in their order."""
    runs: list[list[Row]] = []
    for row in rows:
        if runs and tuple(runs[-1][0]) == tuple(row):
            runs[-1].append(row)
        else:
            runs.append([row])
    return runs
