"""The engine side of :class:`~aftersales.storage.sqlalchemy.SQLAlchemyStore`:
transactions, pre-rendered statements, error translation, collations and migration steps."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError, StatementError

from aftersales.exceptions import (
    AftersalesError,
    FieldError,
    InvalidInput,
    StorageError,
)
from aftersales.models import Event
from aftersales.notify._notification import Notification
from aftersales.storage import _codec as codec
from aftersales.storage import _schema as schema
from aftersales.storage._sqlalchemy.tables import (
    _ACKNOWLEDGE,
    _MYSQL,
    _column,
    _create_index,
    cases,
    metadata,
    tickets,
)

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
    for table in metadata.sorted_tables:
        conn.execute(
            sa.text(
                f"ALTER TABLE `{table.name}` CONVERT TO CHARACTER SET utf8mb4 COLLATE {collation}"
            )
        )


def _upgrade(conn: Connection, step: schema.Step, version: int) -> None:
    """Carry out one migration step of :data:`aftersales.storage._schema.MIGRATIONS`."""
    dialect = conn.dialect
    if isinstance(step, schema.CreateTable):
        columns, indexes = schema.added_later(version)
        declared = schema.table(step.table)
        kept = [
            _column(c, c.name in declared.primary_key)
            for c in declared.columns
            if (step.table, c.name) not in columns
        ]
        as_then = sa.Table(step.table, sa.MetaData(), *kept, **_MYSQL)
        as_then.create(conn)
        for index in schema.indexes_of(step.table):
            if index.name not in indexes:
                _create_index(conn, index.name)
    elif isinstance(step, schema.AddColumn):
        kind = metadata.tables[step.table].c[step.column].type.compile(dialect=dialect)
        conn.execute(sa.text(f"ALTER TABLE {step.table} ADD COLUMN {step.column} {kind}"))
    elif isinstance(step, schema.CreateIndex):
        _create_index(conn, step.index)
    elif isinstance(step, schema.MoveTermsOutOfData):
        schema.move_terms(
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
    elif isinstance(step, schema.WidenIds):
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
    elif isinstance(step, schema.ExactText):
        _collate_exactly(conn)
    # EventsByRowid: this store never made events a WITHOUT ROWID table


def _move(conn: Connection, rows: list[tuple[str, str | None, Any]]) -> None:
    update = (
        cases.update()
        .where(cases.c.id == sa.bindparam("b_id"))
        .values(data=sa.bindparam("data"), terms=sa.bindparam("terms"))
    )
    conn.execute(update, [{"data": data, "terms": terms, "b_id": key} for data, terms, key in rows])


def _sqlite_immediate_transactions(engine: Engine) -> None:
    """SQLite takes its write lock at BEGIN IMMEDIATE, so two writers never deadlock."""

    @sa.event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        if engine.url.database not in (None, "", ":memory:"):
            # the same durability as SQLiteStore: WAL, and fsync at checkpoints only
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        dbapi_connection.execute("PRAGMA busy_timeout=10000")

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class SQLAlchemyConnection:
    """The engine, its transactions and the pre-rendered statements the store's parts
    run."""

    engine: Engine
    dialect: str
    _sql: dict[str, tuple[str, tuple[str, ...] | None]]
    _skip_locked: bool

    @contextmanager
    def _begin(self, conn: Connection | None = None) -> Iterator[Connection]:
        """One transaction, on a pooled connection or on ``conn``. IntegrityError passes
        (the caller finds out which constraint it was); every other error that is not ours
        becomes one of ours (see :func:`_translate`)."""
        try:
            if conn is None:
                with self.engine.begin() as conn:
                    yield conn
            else:
                with conn.begin():
                    yield conn
        except IntegrityError:
            raise
        except Exception as error:
            translated = _translate(error, self.dialect)
            if translated is error:
                raise
            raise translated from error

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except Exception as error:
            translated = _translate(error, self.dialect)
            if translated is error:
                raise
            raise translated from error

    def _run(self, conn: Connection, name: str, params: dict[str, Any]) -> int:
        """Execute a pre-rendered hot-path statement; returns the row count."""
        sql, order = self._sql[name]
        values: Any = tuple(params[key] for key in order) if order is not None else params
        return int(conn.exec_driver_sql(sql, values).rowcount)

    def _run_each(self, conn: Connection, name: str, rows: list[dict[str, Any]]) -> None:
        """Execute a pre-rendered statement once per row (one executemany for several)."""
        if len(rows) == 1:
            self._run(conn, name, rows[0])
            return
        sql, order = self._sql[name]
        values: Any = rows if order is None else [tuple(row[key] for key in order) for row in rows]
        conn.exec_driver_sql(sql, values)

    def _append_log(
        self, conn: Connection, events: Sequence[Event], notifications: Sequence[Notification]
    ) -> None:
        """Insert a change's events and outbox rows, serialising each event once, with
        the pre-rendered statements: compiling them per call was a fifth of the client's
        instructions per ticket lifecycle."""
        event_json: dict[int, str] = {}
        event_rows = []
        for event in events:
            row = codec.event_row(event)
            event_json[id(event)] = row[4]  # type: ignore[assignment]
            event_rows.append(dict(zip(codec.EVENT_COLUMNS, row, strict=True)))
        if event_rows:
            self._run_each(conn, "insert_event", event_rows)
        if notifications:
            self._run_each(
                conn,
                "insert_outbox",
                [
                    dict(
                        zip(
                            codec.OUTBOX_COLUMNS,
                            codec.notification_row(n, event_json.get(id(n.event))),
                            strict=True,
                        )
                    )
                    for n in notifications
                ],
            )

    def _acknowledge(self, conn: Connection, keys: Sequence[str], at: datetime) -> None:
        if len(keys) == 1:
            self._run(conn, "acknowledge_one", {"key": keys[0], "at": codec.ts(at)})
        else:
            conn.execute(_ACKNOWLEDGE, {"keys": list(keys), "at": codec.ts(at)})

    @staticmethod
    def _version(conn: Connection, ticket_id: str) -> int | None:
        version = conn.execute(
            sa.select(tickets.c.version).where(tickets.c.id == ticket_id)
        ).scalar()
        return None if version is None else int(version)
