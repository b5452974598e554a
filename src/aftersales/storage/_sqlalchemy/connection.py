"""The database side of :class:`~aftersales.storage.recorder.SQLAlchemyRecorder`: the
engine opened, the schema created, upgraded, read and dropped, statements rendered for the
driver, driver errors translated, collations and migration steps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, SQLAlchemyError, StatementError

from aftersales.exceptions import (
    AftersalesError,
    FieldError,
    InvalidInput,
    SchemaVersionError,
    StorageError,
)
from aftersales.storage import _schema as schema
from aftersales.storage import _schema_versions as versions
from aftersales.storage._codec import SCHEMA_VERSION
from aftersales.storage._sqlalchemy.tables import (
    _MYSQL,
    _column,
    _create_index,
    cases,
    counters,
    metadata,
    schema_version,
    unique_name,
)

DIALECTS = ("postgresql", "mysql", "mariadb", "sqlite")
"""The databases whose inserts, upserts and locks the recorder knows how to write."""

_INPUT_ERRORS = (UnicodeError, OverflowError, ValueError, TypeError)
"""Errors a driver raises because of the values it was given (a lone surrogate, an int
beyond 64 bits, a NUL in text where the database refuses one)."""


def _translate(error: BaseException, dialect: str) -> BaseException:
    """The error of our own tree that stands for ``error``, raised by SQLAlchemy, by the
    driver or by serialising a value for it (ours pass through)."""
    if isinstance(error, AftersalesError) or not isinstance(error, Exception):
        return error
    cause = error.orig if isinstance(error, StatementError) else error
    if isinstance(error, DataError) or isinstance(cause, _INPUT_ERRORS):
        return InvalidInput(
            "value",
            [FieldError((), f"cannot be stored: {type(cause).__name__}: {cause}", "unstorable")],
        )
    return StorageError(f"{dialect} error: {type(error).__name__}: {error}")


@contextmanager
def translating(dialect: str) -> Iterator[None]:
    """Raise each error that is not ours as one of ours (see :func:`_translate`)."""
    try:
        yield
    except Exception as error:
        translated = _translate(error, dialect)
        if translated is error:
            raise
        raise translated from error


def _render(statement: Any, engine: Engine) -> tuple[str, tuple[str, ...] | None]:
    """The statement's SQL for this engine's driver, and its parameter order when the
    driver takes positional parameters."""
    compiled = statement.compile(dialect=engine.dialect)
    order = compiled.positiontup
    return compiled.string, None if order is None else tuple(order)


def _exact_collation(conn: Connection) -> str | None:
    """The binary, no-pad utf8mb4 collation of a MySQL or MariaDB server (None on other
    databases, whose default comparisons are exact already). ``utf8mb4_bin`` would not do:
    it is a PAD SPACE collation, for which ``'a' = 'a '``."""
    if conn.dialect.name not in ("mysql", "mariadb"):
        return None
    return "utf8mb4_nopad_bin" if getattr(conn.dialect, "is_mariadb", False) else "utf8mb4_0900_bin"


def _collate_exactly(conn: Connection) -> None:
    """On MySQL and MariaDB, convert every table's text to the exact collation: their
    default (``utf8mb4_general_ci`` and kin) compares case-, accent- and space-insensitively
    and takes every emoji for every other, so one customer's id or address found
    another's."""
    collation = _exact_collation(conn)
    if collation is None:
        return
    # an upgrade from an old version converts the tables it has; later steps create the
    # others with the exact collation already
    existing = set(sa.inspect(conn).get_table_names())
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue
        conn.execute(
            sa.text(
                f"ALTER TABLE `{table.name}` CONVERT TO CHARACTER SET utf8mb4 COLLATE {collation}"
            )
        )


def _upgrade(conn: Connection, step: versions.Step, version: int) -> None:
    """Carry out one migration step of :data:`aftersales.storage._schema_versions.MIGRATIONS`."""
    dialect = conn.dialect
    if isinstance(step, versions.CreateTable):
        columns, indexes = versions.added_later(version)
        declared = schema.table(step.table)
        kept = [
            _column(c, c.name in declared.primary_key)
            for c in declared.columns
            if (step.table, c.name) not in columns
        ]
        if sa.inspect(conn).has_table(step.table):  # made already, by hand or by a test
            return
        as_then = sa.Table(step.table, sa.MetaData(), *kept, **_MYSQL)
        as_then.create(conn)
        collation = _exact_collation(conn)
        if collation is not None and version > 5:  # (version 5 converts those before it)
            conn.execute(
                sa.text(
                    f"ALTER TABLE `{step.table}` CONVERT TO CHARACTER SET utf8mb4 "
                    f"COLLATE {collation}"
                )
            )
        for index in schema.indexes_of(step.table):
            if index.name not in indexes:
                _create_index(conn, index.name)
    elif isinstance(step, versions.AddColumn):
        if step.column in {c["name"] for c in sa.inspect(conn).get_columns(step.table)}:
            return  # added by an interrupted run: MariaDB and MySQL commit each DDL statement
        kind = metadata.tables[step.table].c[step.column].type.compile(dialect=dialect)
        default = schema.table(step.table).column(step.column).default
        if default is not None:  # rows there are take it
            kind += " NOT NULL DEFAULT '" + default.replace("'", "''") + "'"
        conn.execute(sa.text(f"ALTER TABLE {step.table} ADD COLUMN {step.column} {kind}"))
    elif isinstance(step, versions.CreateIndex):
        if step.index not in versions.added_later(version)[1]:
            # (else a later step makes it as declared now, on columns it may add first)
            _create_index(conn, step.index)
    elif isinstance(step, versions.DropIndex):
        found = {index["name"] for index in sa.inspect(conn).get_indexes(step.table)}
        if step.index in found:
            on = f" ON {step.table}" if dialect.name in ("mysql", "mariadb") else ""
            conn.execute(sa.text(f"DROP INDEX {step.index}{on}"))
    elif isinstance(step, versions.FillTicketTags):
        _fill_ticket_tags(conn)
    elif isinstance(step, versions.Rekey):
        _rekey(conn, step.table, version)
    elif isinstance(step, versions.FillFromData):
        _fill(conn, step)
    elif isinstance(step, versions.MoveTermsOutOfData):
        versions.move_terms(
            lambda last: [
                (key, data)
                for key, data in conn.execute(
                    sa.select(cases.c.id, cases.c.data)
                    .where(cases.c.id > last)
                    .order_by(cases.c.id)
                    .limit(1000)
                )
            ],
            lambda rows: _move(conn, rows),
            "",
        )
    elif isinstance(step, versions.WidenIds):
        collation = _exact_collation(conn)
        for table, column in step.columns:
            if collation is not None:
                conn.execute(
                    sa.text(
                        f"ALTER TABLE `{table}` MODIFY `{column}` VARCHAR(128) "
                        f"CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL"
                    )
                )
            elif dialect.name == "postgresql":
                conn.execute(
                    sa.text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR(128)")
                )
            # SQLite does not enforce a VARCHAR's length
    elif isinstance(step, versions.ExactText):
        _collate_exactly(conn)
    # EventsByRowid: this store never made events a WITHOUT ROWID table


def _rekey(conn: Connection, name: str, version: int) -> None:
    """Carry out :class:`~aftersales.storage._schema.Rekey`: SQLite rebuilds the table
    (its rows copied with their rowids; the indexes are the later steps'), the others
    drop the keys that are not as declared and add those that are."""
    declared = schema.table(name)
    added, _ = versions.added_later(version)
    if conn.dialect.name == "sqlite":
        there = {c["name"] for c in sa.inspect(conn).get_columns(name)}
        kept = [c for c in declared.columns if (name, c.name) not in added and c.name in there]
        rebuilt = sa.Table(
            f"{name}_rekeyed",
            sa.MetaData(),
            *(_column(c, c.name in declared.primary_key) for c in kept),
            sa.PrimaryKeyConstraint(*versions.keyed(name, declared.primary_key, version)),
            *(
                sa.UniqueConstraint(
                    *versions.keyed(name, key, version), name=unique_name(name, key)
                )
                for key in declared.unique
            ),
        )
        rebuilt.create(conn)
        names = ", ".join(c.name for c in kept)
        rowid = "" if declared.without_rowid else "rowid, "
        conn.execute(
            sa.text(
                f"INSERT INTO {name}_rekeyed ({rowid}{names}) SELECT {rowid}{names} FROM {name}"
            )
        )
        conn.execute(sa.text(f"DROP TABLE {name}"))
        conn.execute(sa.text(f"ALTER TABLE {name}_rekeyed RENAME TO {name}"))
        return
    postgresql = conn.dialect.name == "postgresql"
    quote = conn.dialect.identifier_preparer.quote  # ("key" is a keyword on MariaDB)
    inspector = sa.inspect(conn)
    primary_key = versions.keyed(name, declared.primary_key, version)
    found = inspector.get_pk_constraint(name)
    if list(found["constrained_columns"]) != list(primary_key):
        drop = f"DROP CONSTRAINT {found['name']}, " if postgresql else "DROP PRIMARY KEY, "
        drop = drop if found["constrained_columns"] else ""
        conn.execute(
            sa.text(
                f"ALTER TABLE {name} {drop}"
                f"ADD PRIMARY KEY ({', '.join(quote(c) for c in primary_key)})"
            )
        )
    for key in declared.unique:
        columns = versions.keyed(name, key, version)
        before = [c for c in columns if c != schema.TENANT]  # the key as it was
        reflected: list[Any] = [
            *inspector.get_unique_constraints(name),
            *(i for i in inspector.get_indexes(name) if i.get("unique")),
        ]
        present = {str(found["name"]): list(found["column_names"]) for found in reflected}
        wanted = unique_name(name, key)
        for stale, keyed_by in sorted(present.items()):
            if keyed_by == before or (stale == wanted and keyed_by != list(columns)):
                drop = f"DROP CONSTRAINT {stale}" if postgresql else f"DROP INDEX `{stale}`"
                conn.execute(sa.text(f"ALTER TABLE {name} {drop}"))
        if present.get(wanted) != list(columns):
            conn.execute(
                sa.text(
                    f"ALTER TABLE {name} ADD CONSTRAINT {wanted} "
                    f"UNIQUE ({', '.join(quote(c) for c in columns)})"
                )
            )


def _fill(conn: Connection, step: versions.FillFromData) -> None:
    """Carry out :class:`~aftersales.storage._schema.FillFromData`, a thousand rows at a
    time in key order."""
    table_name = step.table
    declared = metadata.tables[table_name]
    keys = [declared.c[name] for name in schema.table(table_name).primary_key]
    columns = versions.FILLED[step.version][table_name]
    sources = [declared.c[name] for name in versions.fill_sources(table_name)]
    update = (
        declared.update()
        .where(*(key == sa.bindparam(f"k_{key.name}") for key in keys))
        .values({column: sa.bindparam(f"v_{column}") for column in columns})
    )
    last: tuple[Any, ...] | None = None
    while True:
        query = sa.select(*keys, *sources).order_by(*keys).limit(1000)
        if last is not None:
            query = query.where(sa.tuple_(*keys) > sa.tuple_(*(sa.literal(v) for v in last)))
        rows = conn.execute(query).fetchall()
        if not rows:
            return
        conn.execute(
            update,
            [
                {
                    **{f"k_{key.name}": row[i] for i, key in enumerate(keys)},
                    **dict(
                        zip(
                            (f"v_{c}" for c in columns),
                            versions.filled_values(step, *row[len(keys) :]),
                            strict=True,
                        )
                    ),
                }
                for row in rows
            ],
        )
        last = tuple(rows[-1][: len(keys)])


def _fill_ticket_tags(conn: Connection) -> None:
    """Carry out :class:`~aftersales.storage._schema.FillTicketTags`, a thousand tickets
    at a time in number order."""
    tickets, tags = metadata.tables["tickets"], metadata.tables["ticket_tags"]
    conn.execute(tags.delete())  # rows of a table made by hand are not ours
    last = 0
    while rows := conn.execute(
        sa.select(tickets.c.number, tickets.c.created_at, tickets.c.tags)
        .where(tickets.c.number > last, tickets.c.tags.isnot(None))
        .order_by(tickets.c.number)
        .limit(1000)
    ).fetchall():
        conn.execute(
            tags.insert(),
            [
                {"tag": tag, "created_at": created_at, "number": number}
                for number, created_at, text in rows
                for tag in dict.fromkeys(json.loads(text))
            ],
        )
        last = rows[-1][0]


def _move(conn: Connection, rows: list[tuple[str, str | None, Any]]) -> None:
    update = (
        cases.update()
        .where(cases.c.id == sa.bindparam("b_id"))
        .values(data=sa.bindparam("data"), terms=sa.bindparam("terms"))
    )
    conn.execute(update, [{"data": data, "terms": terms, "b_id": key} for data, terms, key in rows])


READING = "aftersales: reading"
"""Set in a pooled connection's ``info`` while it reads (:func:`reading_on`)."""


def _begin_immediate(dbapi_connection: Any) -> None:
    """The SQLite dialect's ``do_begin``: BEGIN IMMEDIATE where SQLAlchemy begins a
    transaction (which the driver, left in autocommit, would not); a deferred BEGIN for a
    read (:func:`reading_on`): one snapshot for all its statements, and no write lock.
    Under BEGIN IMMEDIATE a read waited behind every writer (and every other read) for
    the database's one write lock, then held it."""
    info = getattr(dbapi_connection, "info", None)  # the pool's proxy has one
    # (the driver's connection itself: the proxy passes each attribute it lacks through
    # a __getattr__ of its own, a Python call)
    driver = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
    driver.execute("BEGIN" if info and info.get(READING) else "BEGIN IMMEDIATE")


def _commit(dbapi_connection: Any) -> None:
    """The SQLite dialect's ``do_commit``: SQLAlchemy's, on the driver's connection
    itself rather than through the pool's proxy (see :func:`_begin_immediate`)."""
    getattr(dbapi_connection, "dbapi_connection", dbapi_connection).commit()


@contextmanager
def reading_on(conn: Connection) -> Iterator[None]:
    """While inside, the transaction SQLAlchemy begins on ``conn`` (at its first
    statement) is a read's; it ends, as any, when the connection closes."""
    info = conn.connection.info
    info[READING] = True
    try:
        yield
    finally:
        info.pop(READING, None)


def _sqlite_immediate_transactions(engine: Engine) -> None:
    """SQLite takes its write lock at BEGIN IMMEDIATE, so two writers never deadlock.

    The BEGIN is the dialect's ``do_begin`` (the hook SQLAlchemy keeps for drivers whose
    transactions need help to start), not a listener of the engine's ``begin`` event as
    SQLAlchemy's pysqlite recipe has it: any engine listener makes every connection join
    the engine's events and every statement look for listeners, and the BEGIN ran as a
    statement of its own through the connection. That cost as much per transaction as the
    store's own statements (half the instructions of a commit without any), for a
    statement that PostgreSQL and MariaDB, whose drivers begin by themselves, never run.
    Set on the engine's own dialect: once however many stores share an engine (each
    store's listener of the engine's ``begin`` ran a BEGIN of its own, refused by SQLite
    as soon as a second store opened an app's engine)."""
    if engine.dialect.do_begin is _begin_immediate:
        return

    @sa.event.listens_for(engine, "connect")  # the pool's event: no cost per transaction
    def _autocommit_driver(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        if engine.url.database not in (None, "", ":memory:"):
            # the same durability as SQLiteStore: WAL, and fsync at checkpoints only
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        dbapi_connection.execute("PRAGMA busy_timeout=10000")

    engine.dialect.do_begin = _begin_immediate  # type: ignore[method-assign]
    engine.dialect.do_commit = _commit  # type: ignore[method-assign]


def open_engine(url_or_engine: str | Engine, engine_options: dict[str, Any]) -> Engine:
    """The engine of ``url_or_engine`` (an app's own one as it is), refused before any
    connection is made unless it is a database of :data:`DIALECTS`."""
    try:
        if isinstance(url_or_engine, Engine):
            backend = url_or_engine.dialect.name
        else:
            backend = sa.engine.make_url(url_or_engine).get_backend_name()
    except (sa.exc.ArgumentError, ValueError) as error:
        raise StorageError(f"cannot use database {url_or_engine!r}: {error}") from error
    if backend not in DIALECTS:
        raise StorageError(
            f"SQLAlchemyRecorder writes to PostgreSQL, MariaDB/MySQL or SQLite, not {backend}"
        )
    if isinstance(url_or_engine, Engine):
        engine = url_or_engine
    else:
        try:
            engine = sa.create_engine(url_or_engine, **engine_options)
        except (SQLAlchemyError, ValueError, TypeError) as error:
            raise StorageError(f"cannot use database {url_or_engine!r}: {error}") from error
    if backend == "sqlite":
        _sqlite_immediate_transactions(engine)
    return engine


def migrate(engine: Engine) -> None:
    """Create the schema in a new database, or upgrade an older one to
    :data:`~aftersales.storage._codec.SCHEMA_VERSION`; refuse a newer one."""
    with translating(engine.dialect.name), engine.begin() as conn:
        if not sa.inspect(conn).has_table("aftersales_schema"):
            metadata.create_all(conn)
            _collate_exactly(conn)
            conn.execute(counters.insert().values(name="ticket_number", value=1))
            conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
            return
        found = conn.execute(sa.select(schema_version.c.version)).scalar_one()
        if found > SCHEMA_VERSION:
            raise SchemaVersionError(found, SCHEMA_VERSION)
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for step in versions.MIGRATIONS[version]:
                _upgrade(conn, step, version)
            conn.execute(schema_version.update().values(version=version))


def read_schema_version(engine: Engine) -> int:
    """The schema version the database says it has."""
    with translating(engine.dialect.name), engine.connect() as conn:
        return int(conn.execute(sa.select(schema_version.c.version)).scalar_one())


def drop_schema(engine: Engine) -> None:
    """Drop every table of the stores (for tests and teardown)."""
    with translating(engine.dialect.name), engine.begin() as conn:
        metadata.drop_all(conn)
