"""The default durable store, on the standard library's sqlite3.

One transaction per change (``BEGIN IMMEDIATE``), WAL journal with ``synchronous=NORMAL``
by default (``FULL`` on request), the version check inside the UPDATE, and a schema that is
created on first use and versioned with ``PRAGMA user_version``. Rows come from the shared
codec (:mod:`aftersales.storage._codec`), tables and migrations from the shared schema
(:mod:`aftersales.storage._schema`): this module holds connections, transactions and SQL.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from os import PathLike
from typing import Any, Literal, TypeVar

import attrs

from aftersales.exceptions import (
    AftersalesError,
    CaseNotFound,
    ConcurrencyError,
    CustomerNotFound,
    FieldError,
    InvalidInput,
    SchemaVersionError,
    StorageError,
    TicketNotFound,
)
from aftersales.models import Case, Channel, Customer, Event, Message, Ticket
from aftersales.notify._notification import DeliveryStatus, Notification
from aftersales.storage import _codec as codec
from aftersales.storage import _schema as schema
from aftersales.storage._codec import SCHEMA_VERSION
from aftersales.storage._protocol import (
    address_taken,
    bounded_error,
    check_count,
    check_id,
    check_limit,
    check_number,
    id_taken,
    number_taken,
)
from aftersales.storage._unit import CaseChange, CaseQuery, Change, TicketQuery

_NULL = "NULLIF(?,'')"
"""A parameter that may be NULL, bound as '' rather than None: sqlite3 (before Python
3.12) looks for an adapter and __conform__ on every None it binds, raising and clearing
an AttributeError each time, at half a microsecond per None. Only for columns where ''
is never a value: identifiers, instants and JSON records, never free text (see
:func:`_marks`)."""


def _marks(table: str, names: Sequence[str]) -> list[str]:
    """The parameter of each column: ``_NULL`` where it may be NULL and '' is never a
    value, ``?`` elsewhere."""
    declared = schema.table(table)
    marks = []
    for name in names:
        column = declared.column(name)
        nullable = column.nullable and column.type is not schema.Type.TEXT
        marks.append(_NULL if nullable else "?")
    return marks


def _insert(table: str, names: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({','.join(_marks(table, names))})"


def _update(table: str, names: Sequence[str]) -> str:
    sets = ", ".join(f"{n}={mark}" for n, mark in zip(names, _marks(table, names), strict=True))
    return f"UPDATE {table} SET {sets} WHERE id=? AND version=?"


# The statements of the hot paths, rendered once from the codec's column order.
_TICKET_UPDATE = _update("tickets", codec.TICKET_COLUMNS)
_TICKET_INSERT = _insert("tickets", codec.TICKET_COLUMNS + codec.TICKET_KEY_COLUMNS)
_TICKET_INSERT_HEAD = _TICKET_INSERT.split("VALUES ")[0] + "VALUES "
_TICKET_VALUES = _TICKET_INSERT.split("VALUES ")[1]
_EVENT_INSERT = _insert("events", codec.EVENT_COLUMNS)
_EVENT_INSERT_HEAD = _EVENT_INSERT.split("VALUES ")[0] + "VALUES "
_EVENT_VALUES = _EVENT_INSERT.split("VALUES ")[1]
_MESSAGE_INSERT = _insert("messages", codec.MESSAGE_COLUMNS)
_OUTBOX_SELECT = ", ".join(codec.OUTBOX_COLUMNS)
_OUTBOX_INSERT = _insert("outbox", codec.OUTBOX_COLUMNS)
_CASE_UPDATE = _update("cases", codec.CASE_COLUMNS)
_CASE_UPDATE_TERMS = _update("cases", (*codec.CASE_COLUMNS, "terms"))
_CASE_INSERT = _insert("cases", (*codec.CASE_COLUMNS, "terms", *codec.CASE_KEY_COLUMNS))
_CASE_SELECT = "data, terms"
_ROWS_PER_INSERT = 500
# SQLite before 3.32 allows 999 parameters per statement; later ones 32,766.
_PARAMETERS_PER_STATEMENT = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999

_TICKET_INDEXES = {
    index.name: schema.sqlite_index(index, if_not_exists=True)
    for index in schema.indexes_of("tickets")
}
"""The tickets' secondary indexes by name: an import into an empty store builds them once
at its end (see :meth:`SQLiteStore.bulk_import`)."""
T = TypeVar("T")


def _insert_rows(conn: sqlite3.Connection, head: str, row: str, values: list[object]) -> None:
    """Insert rows of the ``row`` VALUES tuple (``values`` flat, row after row) with
    multi-row VALUES statements: one step runs a few hundred rows where executemany
    steps, binds and resets each row on its own (9% fewer instructions per imported
    ticket)."""
    width = row.count("?")
    rows_per_statement = min(_ROWS_PER_INSERT, _PARAMETERS_PER_STATEMENT // width)
    step = rows_per_statement * width
    for first in range(0, len(values), step):
        chunk = values[first : first + step]
        conn.execute(head + ",".join([row] * (len(chunk) // width)), chunk)


def _create_schema(conn: sqlite3.Connection) -> None:
    for declared in schema.TABLES:
        for statement in schema.sqlite_create(declared.name):
            conn.execute(statement)


def _upgrade(conn: sqlite3.Connection, step: schema.Step, version: int) -> None:
    """Carry out one migration step of :data:`aftersales.storage._schema.MIGRATIONS`."""
    if isinstance(step, schema.CreateTable):
        for statement in schema.sqlite_create(step.table, version):
            conn.execute(statement)
    elif isinstance(step, schema.AddColumn):
        column = schema.table(step.table).column(step.column)
        conn.execute(f"ALTER TABLE {step.table} ADD COLUMN {schema.sqlite_column(column)}")
    elif isinstance(step, schema.CreateIndex):
        index = next(i for i in schema.INDEXES if i.name == step.index)
        conn.execute(schema.sqlite_index(index))
    elif isinstance(step, schema.MoveTermsOutOfData):
        schema.move_terms(
            lambda last: conn.execute(
                "SELECT rowid, data FROM cases WHERE rowid > ? ORDER BY rowid LIMIT 1000",
                (last,),
            ).fetchall(),
            lambda rows: _execute_many(
                conn, "UPDATE cases SET data = ?, terms = ? WHERE rowid = ?", rows
            ),
            0,
        )
    elif isinstance(step, schema.EventsByRowid):
        found = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()
        if "WITHOUT ROWID" in found[0].upper():
            names = ", ".join(codec.EVENT_COLUMNS)
            create = schema.sqlite_create("events", version)[0]
            conn.execute(create.replace("CREATE TABLE events", "CREATE TABLE events_by_rowid", 1))
            conn.execute(f"INSERT INTO events_by_rowid ({names}) SELECT {names} FROM events")
            conn.execute("DROP TABLE events")
            conn.execute("ALTER TABLE events_by_rowid RENAME TO events")
    # WidenIds, ExactText: SQLite keeps text of any length and compares it exactly


def _execute_many(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    conn.executemany(sql, rows)


def _build_missing_indexes(conn: sqlite3.Connection) -> None:
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    for name, statement in _TICKET_INDEXES.items():
        if name not in names:
            conn.execute(statement)


def _read_case(row: Sequence[Any]) -> Case:
    return codec.read_case(row[0], row[1])


def _append_log(
    conn: sqlite3.Connection, events: Sequence[Event], notifications: Sequence[Notification]
) -> None:
    """Insert a change's events and outbox rows, serialising each event once."""
    event_json: dict[int, str] = {}
    for event in events:
        row = codec.event_row(event)
        event_json[id(event)] = row[4]  # type: ignore[assignment]
        conn.execute(_EVENT_INSERT, row)
    for notification in notifications:
        conn.execute(
            _OUTBOX_INSERT,
            codec.notification_row(notification, event_json.get(id(notification.event)), null=""),
        )


_INPUT_ERRORS = (
    sqlite3.InterfaceError,  # a value of a type sqlite3 cannot bind
    UnicodeError,  # a lone surrogate, which UTF-8 cannot encode
    OverflowError,  # an int beyond SQLite's 64 bits
    ValueError,  # a NUL in SQL text, a value pydantic cannot serialise
    TypeError,
)
"""Errors the driver raises because of the values it was given, not because of the
database: they become :class:`~aftersales.InvalidInput`."""


def _translate(error: BaseException, path: str) -> BaseException:
    """The error of our own tree that stands for ``error``, raised by sqlite3 or by
    serialising a value for it (ours pass through)."""
    if isinstance(error, AftersalesError) or not isinstance(error, Exception):
        return error
    if isinstance(error, _INPUT_ERRORS) and not (
        isinstance(error, sqlite3.ProgrammingError) and "closed" in str(error)
    ):
        return InvalidInput(
            "value",
            [FieldError((), f"cannot be stored: {type(error).__name__}: {error}", "unstorable")],
        )
    return StorageError(f"SQLite error on {path!r}: {type(error).__name__}: {error}")


def _create_file(path: str, mode: int) -> None:
    """Create the database file with ``mode`` (exactly: the umask does not widen or
    narrow it) unless it exists. SQLite gives the ``-wal`` and ``-shm`` files it creates
    the database file's permissions."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return
    try:
        os.fchmod(descriptor, mode)
    finally:
        os.close(descriptor)


class SQLiteStore:
    """A durable store in one SQLite file (or ``":memory:"``).

    ``synchronous="NORMAL"`` (the default, with WAL) never corrupts the database; a power
    loss may drop the last commits. ``"FULL"`` makes every commit survive power loss, at
    several times the cost per commit. Safe to share between threads; several processes
    may open the same file.

    A new database file is created with ``file_mode`` (default ``0o600``: readable and
    writable by its owner only, whatever the umask), and SQLite gives its ``-wal`` and
    ``-shm`` files the same permissions. An existing file keeps its own.
    """

    def __init__(
        self,
        path: str | PathLike[str] = "aftersales.db",
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout: float = 10.0,
        file_mode: int = 0o600,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise InvalidInput(
                "SQLiteStore", [FieldError(("synchronous",), "must be 'NORMAL' or 'FULL'")]
            )
        if isinstance(file_mode, bool) or not isinstance(file_mode, int) or file_mode & ~0o777:
            raise InvalidInput(
                "SQLiteStore",
                [FieldError(("file_mode",), "must be permission bits, such as 0o600 or 0o640")],
            )
        self._lock = threading.RLock()
        self._counter_floor = self._pending_floor = 0
        """A number the ticket counter is known to have reached (it only grows)."""
        try:
            self.path = os.fspath(path)
            if self.path not in ("", ":memory:") and not self.path.startswith("file:"):
                _create_file(self.path, file_mode)
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
            )
        except (sqlite3.Error, OSError, ValueError, TypeError) as error:
            raise StorageError(f"cannot open SQLite database {path!r}: {error}") from error
        self._conn.row_factory = sqlite3.Row
        try:
            with self._guard():
                if self.path != ":memory:":
                    self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute(f"PRAGMA synchronous={synchronous}")
                self._migrate()
        except BaseException:
            self._conn.close()
            raise

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Hold the lock and translate every error that is not ours: InvalidInput where
        a value could not be bound, StorageError otherwise."""
        with self._lock:
            try:
                yield
            except Exception as error:
                translated = _translate(error, self.path)
                if translated is error:
                    raise
                raise translated from error

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._guard():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        with self._guard():
            version: int = self._conn.execute("PRAGMA user_version").fetchone()[0]
            return version

    def _migrate(self) -> None:
        with self._transaction() as conn:
            found = conn.execute("PRAGMA user_version").fetchone()[0]
            if found > SCHEMA_VERSION:
                raise SchemaVersionError(found, SCHEMA_VERSION)
            if found == 0:  # a new database: as declared now
                _create_schema(conn)
            else:
                for version in range(found + 1, SCHEMA_VERSION + 1):
                    for step in schema.MIGRATIONS[version]:
                        _upgrade(conn, step, version)
            if found != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            _build_missing_indexes(conn)  # an import killed before it could rebuild them

    @contextmanager
    def bulk_import(self) -> Iterator[None]:
        """Commits inside are an import (see :meth:`~aftersales.Desk.import_tickets`).

        Into an empty store, the tickets' secondary indexes are dropped first and built
        once at the end, in one sorted pass each, instead of being updated row by row:
        an index on customers takes each new row at a random place and writes most of its
        pages again with every batch. Meanwhile reads stay correct, only slower. If the
        process dies before the end, the next open builds the missing indexes.
        """
        with self._transaction() as conn:
            empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM tickets)").fetchone()[0]
            if empty:
                for name in _TICKET_INDEXES:
                    conn.execute(f"DROP INDEX IF EXISTS {name}")
        try:
            yield
        finally:
            if empty:
                with self._transaction() as conn:
                    _build_missing_indexes(conn)

    def reserve_numbers(self, count: int) -> int:
        check_count(count)
        with self._transaction() as conn:
            conn.execute(
                "UPDATE counters SET value = value + ? WHERE name = 'ticket_number'", (count,)
            )
            last: int = conn.execute(
                "SELECT value FROM counters WHERE name = 'ticket_number'"
            ).fetchone()[0]
            # the counter's value: every number reserved so far is below it
            self._counter_floor = max(self._counter_floor, last)
        return last - count

    def _move_counter_past(self, conn: sqlite3.Connection, number: int) -> None:
        """Keep the ticket counter past ``number``, a ticket number just written (imported
        ones are chosen by the caller), so that no reserved number is ever taken. Costs a
        statement only when the number is not known to be below the counter already."""
        if number < self._pending_floor:
            return
        conn.execute(
            "UPDATE counters SET value = ? WHERE name = 'ticket_number' AND value <= ?",
            (number + 1, number),
        )
        value: int = conn.execute(
            "SELECT value FROM counters WHERE name = 'ticket_number'"
        ).fetchone()[0]
        # kept once the transaction commits (see commit): a rolled back one moved nothing
        self._pending_floor = max(self._counter_floor, value)

    def commit_many(self, changes: Sequence[Change]) -> None:
        with self._lock:
            self._pending_floor = self._counter_floor
            self._atomically(lambda conn: self._write_many(conn, changes))
            self._counter_floor = self._pending_floor

    def _write_many(self, conn: sqlite3.Connection, changes: Sequence[Change]) -> None:
        if all(
            c.expected_version == 0
            and not c.messages
            and not c.outbox
            and not c.delivered
            and c.customer is None
            for c in changes
        ):
            self._insert_all(conn, changes)  # an import: batched statements
        else:
            for change in changes:
                self._write(conn, change, change.ticket, codec.ticket_row(change.ticket, null=""))

    def _atomically(self, work: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``work`` in one BEGIN IMMEDIATE transaction: all of it or none. A plain call
        rather than a context manager: this is the hot path of every transition."""
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except Exception as error:
                raise _translate(error, self.path) from error
            try:
                work(conn)
            except BaseException as error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                translated = _translate(error, self.path)
                if translated is error:
                    raise
                raise translated from error
            try:
                conn.execute("COMMIT")
            except Exception as error:
                conn.execute("ROLLBACK")
                raise _translate(error, self.path) from error

    def _insert_all(self, conn: sqlite3.Connection, changes: Sequence[Change]) -> None:
        tickets: list[object] = []
        events: list[object] = []
        ticket_row, ticket_key, event_row = codec.ticket_row, codec.ticket_key, codec.event_row
        for change in changes:
            ticket = change.ticket
            tickets += ticket_row(ticket, exclude_none=True, null="")
            tickets += ticket_key(ticket)
            for e in change.events:
                events += event_row(e)
        conn.execute("SAVEPOINT bulk")
        try:
            _insert_rows(conn, _TICKET_INSERT_HEAD, _TICKET_VALUES, tickets)
            _insert_rows(conn, _EVENT_INSERT_HEAD, _EVENT_VALUES, events)
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK TO bulk")
            raise self._why_not_created(conn, changes) from None
        conn.execute("RELEASE bulk")
        self._move_counter_past(conn, max(change.ticket.number for change in changes))
        taken = self._case_ids(conn, [change.ticket.id for change in changes])
        if taken:
            raise id_taken("ticket", taken[0])

    @staticmethod
    def _case_ids(conn: sqlite3.Connection, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` that are the ids of cases."""
        found: list[str] = []
        for first in range(0, len(ids), 900):
            chunk = ids[first : first + 900]
            found += (
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM cases WHERE id IN ({','.join('?' * len(chunk))})", chunk
                )
            )
        return found

    @staticmethod
    def _why_not_created(conn: sqlite3.Connection, changes: Sequence[Change]) -> AftersalesError:
        """The error for new tickets that broke a constraint, found against the database as
        it was before them: an id or a number that is taken (by an earlier ticket or one
        earlier in ``changes``), or an id that a case has."""
        ids: set[str] = set()
        numbers: set[int] = set()
        for change in changes:
            ticket = change.ticket
            row = conn.execute("SELECT version FROM tickets WHERE id = ?", (ticket.id,)).fetchone()
            if row is not None or ticket.id in ids:
                return ConcurrencyError(ticket.id, 0, None if row is None else int(row[0]))
            taken = conn.execute(
                "SELECT 1 FROM tickets WHERE number = ?", (ticket.number,)
            ).fetchone()
            if taken is not None or ticket.number in numbers:
                return number_taken(ticket.number)
            if conn.execute("SELECT 1 FROM events WHERE subject_id = ?", (ticket.id,)).fetchone():
                return id_taken("ticket", ticket.id)
            ids.add(ticket.id)
            numbers.add(ticket.number)
        return ConcurrencyError("(bulk import)", 0, None)

    def commit(self, change: Change) -> None:
        with self._lock:
            self._pending_floor = self._counter_floor
            self._atomically(lambda conn: self._write(conn, change, change.ticket))
            self._counter_floor = self._pending_floor

    def _write(
        self,
        conn: sqlite3.Connection,
        change: Change,
        ticket: Ticket,
        row: tuple[object, ...] | None = None,
    ) -> None:
        if row is None:
            row = codec.ticket_row(ticket, null="")
        if change.customer is not None:
            self._save_customer(conn, change.customer)
        if change.expected_version == 0:
            if conn.execute("SELECT 1 FROM cases WHERE id = ?", (ticket.id,)).fetchone():
                raise id_taken("ticket", ticket.id)
            try:
                conn.execute(
                    _TICKET_INSERT,
                    (*row, ticket.id, ticket.number, ticket.workflow, codec.ts(ticket.created_at)),
                )
            except sqlite3.IntegrityError:  # the failed statement wrote nothing
                raise self._why_not_created(conn, (change,)) from None
            self._move_counter_past(conn, ticket.number)
            _append_log(conn, change.events, change.outbox)
        else:
            updated = conn.execute(
                _TICKET_UPDATE, (*row, ticket.id, change.expected_version)
            ).rowcount
            if updated != 1:
                raise ConcurrencyError(ticket.id, change.expected_version, self._version(ticket.id))
            _append_log(conn, change.events, change.outbox)
        for message in change.messages:
            conn.execute(_MESSAGE_INSERT, codec.message_row(message))
        if change.delivered:
            self._acknowledge(conn, change.delivered, ticket.updated_at)

    def _version(self, ticket_id: str) -> int | None:
        row = self._conn.execute(
            "SELECT version FROM tickets WHERE id = ?", (ticket_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def _one(self, sql: str, params: Sequence[object], build: Callable[[str], T]) -> T | None:
        with self._guard():
            row = self._conn.execute(sql, params).fetchone()
        return None if row is None else build(row[0])

    def get(self, ticket_id: str) -> Ticket:
        check_id(ticket_id, "ticket_id")
        ticket = self._one(
            "SELECT data FROM tickets WHERE id = ?", (ticket_id,), Ticket.model_validate_json
        )
        if ticket is None:
            raise TicketNotFound(ticket_id)
        return ticket

    def get_by_number(self, number: int) -> Ticket:
        check_number(number)
        ticket = self._one(
            "SELECT data FROM tickets WHERE number = ?", (number,), Ticket.model_validate_json
        )
        if ticket is None:
            raise TicketNotFound(f"#{number}")
        return ticket

    def find(self, query: TicketQuery) -> list[Ticket]:
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (
            ("status", query.status),
            ("status_category", query.status_category and query.status_category.value),
            ("assignee", query.assignee),
            ("team", query.team),
            ("customer_id", query.customer_id),
            ("channel", query.channel and query.channel.value),
            ("merged_into", query.merged_into),
            ("parent_id", query.parent_id),
            ("follow_up_of", query.follow_up_of),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if query.created_from is not None:
            clauses.append("created_at >= ?")
            params.append(codec.ts(query.created_from))
        if query.created_to is not None:
            clauses.append("created_at < ?")
            params.append(codec.ts(query.created_to))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT data FROM tickets {where} ORDER BY created_at, number LIMIT ? OFFSET ?"
        with self._guard():
            rows = self._conn.execute(sql, (*params, query.limit, query.offset)).fetchall()
        return [Ticket.model_validate_json(row[0]) for row in rows]

    def events(self, subject_id: str) -> list[Event]:
        with self._guard():
            rows = self._conn.execute(
                "SELECT data FROM events WHERE subject_id = ? ORDER BY sequence", (subject_id,)
            ).fetchall()
        return [Event.model_validate_json(row[0]) for row in rows]

    def messages(self, ticket_id: str) -> list[Message]:
        with self._guard():
            rows = self._conn.execute(
                "SELECT data FROM messages WHERE ticket_id = ? ORDER BY at, rowid", (ticket_id,)
            ).fetchall()
        return [Message.model_validate_json(row[0]) for row in rows]

    def save_customer(self, customer: Customer) -> None:
        self._atomically(lambda conn: self._save_customer(conn, customer))

    @staticmethod
    def _save_customer(conn: sqlite3.Connection, customer: Customer) -> None:
        taken = [
            index
            for index, c in enumerate(customer.contacts)
            if conn.execute(
                "SELECT 1 FROM contact_points WHERE channel = ? AND address = ? "
                "AND customer_id <> ?",
                (c.channel.value, c.address, customer.id),
            ).fetchone()
        ]
        if taken:
            raise address_taken(customer, taken)
        conn.execute("DELETE FROM contact_points WHERE customer_id = ?", (customer.id,))
        conn.execute(
            "INSERT OR REPLACE INTO customers (id, data) VALUES (?, ?)",
            (customer.id, codec.customer_data(customer)),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO contact_points (channel, address, customer_id) VALUES (?,?,?)",
            [(c.channel.value, c.address, customer.id) for c in customer.contacts],
        )

    def get_customer(self, customer_id: str) -> Customer:
        check_id(customer_id, "customer_id")
        customer = self._one(
            "SELECT data FROM customers WHERE id = ?", (customer_id,), Customer.model_validate_json
        )
        if customer is None:
            raise CustomerNotFound(customer_id)
        return customer

    def find_customer(self, channel: Channel, address: str) -> Customer | None:
        return self._one(
            "SELECT c.data FROM contact_points p JOIN customers c ON c.id = p.customer_id "
            "WHERE p.channel = ? AND p.address = ?",
            (channel.value, address),
            Customer.model_validate_json,
        )

    def due(self, before: datetime, limit: int) -> list[Ticket]:
        check_limit(limit)
        with self._guard():
            rows = self._conn.execute(
                "SELECT data FROM tickets WHERE due_at IS NOT NULL AND due_at <= ? "
                "ORDER BY due_at, number LIMIT ?",
                (codec.ts(before), limit),
            ).fetchall()
        return [Ticket.model_validate_json(row[0]) for row in rows]

    def sla_due(self, before: datetime, limit: int) -> list[Ticket]:
        check_limit(limit)
        with self._guard():
            rows = self._conn.execute(
                "SELECT data FROM tickets WHERE sla_due_at IS NOT NULL AND sla_due_at <= ? "
                "ORDER BY sla_due_at, number LIMIT ?",
                (codec.ts(before), limit),
            ).fetchall()
        return [Ticket.model_validate_json(row[0]) for row in rows]

    def get_state(self, key: str) -> str | None:
        return self._one("SELECT value FROM state WHERE key = ?", (key,), str)

    def set_state(self, key: str, value: str) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, value))

    def claim_outbox(self, now: datetime, lease_until: datetime, limit: int) -> list[Notification]:
        check_limit(limit)
        with self._transaction() as conn:
            rows = conn.execute(
                f"SELECT {_OUTBOX_SELECT} FROM outbox WHERE status = 'pending' "
                "AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?) "
                "ORDER BY next_attempt_at, key LIMIT ?",
                (codec.ts(now), codec.ts(now), limit),
            ).fetchall()
            conn.executemany(
                "UPDATE outbox SET lease_until = ? WHERE key = ?",
                [(codec.ts(lease_until), row["key"]) for row in rows],
            )
        return [attrs.evolve(codec.read_notification(row), lease_until=lease_until) for row in rows]

    @staticmethod
    def _acknowledge(conn: sqlite3.Connection, keys: Sequence[str], at: datetime) -> None:
        sql = (
            "UPDATE outbox SET status = 'delivered', delivered_at = ?, lease_until = NULL "
            "WHERE key = ? AND status = 'pending'"
        )
        if len(keys) == 1:
            conn.execute(sql, (codec.ts(at), keys[0]))
        else:
            conn.executemany(sql, [(codec.ts(at), key) for key in keys])

    def mark_delivered(self, keys: Sequence[str], at: datetime) -> None:
        if keys:
            with self._transaction() as conn:
                self._acknowledge(conn, keys, at)

    def mark_failed(self, key: str, error: str, retry_at: datetime | None, at: datetime) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, lease_until = NULL, "
                "next_attempt_at = COALESCE(?, next_attempt_at), status = ? "
                "WHERE key = ? AND status = 'pending'",
                (
                    bounded_error(error),
                    codec.ts(retry_at),
                    DeliveryStatus.PENDING.value if retry_at else DeliveryStatus.DEAD.value,
                    key,
                ),
            )

    def outbox(self, status: DeliveryStatus | None = None) -> list[Notification]:
        sql = f"SELECT {_OUTBOX_SELECT} FROM outbox"
        params: tuple[object, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            params = (status.value,)
        with self._guard():
            rows = self._conn.execute(sql + " ORDER BY created_at, key", params).fetchall()
        return [codec.read_notification(row) for row in rows]

    def commit_cases(self, changes: Sequence[CaseChange]) -> None:
        self._atomically(lambda conn: self._write_cases(conn, changes))

    def _write_cases(self, conn: sqlite3.Connection, changes: Sequence[CaseChange]) -> None:
        for change in changes:
            case = change.case
            row = codec.case_row(case, null="")
            if change.order_check is not None and case.order_id is not None:
                # BEGIN IMMEDIATE holds the write lock: nobody adds a case before COMMIT
                kinds = [kind.value for kind in change.order_check_kinds]
                of_kinds = f" AND kind IN ({','.join('?' * len(kinds))})" if kinds else ""
                change.order_check(
                    [
                        _read_case(found)
                        for found in conn.execute(
                            f"SELECT {_CASE_SELECT} FROM cases WHERE order_id = ?{of_kinds} "
                            "ORDER BY created_at, id",
                            (case.order_id, *kinds),
                        )
                    ]
                )
            if (
                change.expected_version == 0
                and conn.execute("SELECT 1 FROM tickets WHERE id = ?", (case.id,)).fetchone()
            ):
                raise id_taken("case", case.id)
            try:
                if change.expected_version == 0:
                    conn.execute(
                        _CASE_INSERT,
                        (*row, codec.case_terms(case) or "", *codec.case_key(case, null="")),
                    )
                elif (
                    conn.execute(
                        _CASE_UPDATE_TERMS,
                        (*row, codec.case_terms(case) or "", case.id, change.expected_version),
                    )
                    if change.terms_changed
                    else conn.execute(_CASE_UPDATE, (*row, case.id, change.expected_version))
                ).rowcount != 1:
                    raise ConcurrencyError(
                        case.id, change.expected_version, self._case_version(case.id)
                    )
                # an event sequence already taken means another writer got there first
                _append_log(conn, change.events, change.outbox)
            except sqlite3.IntegrityError:
                raise ConcurrencyError(
                    case.id, change.expected_version, self._case_version(case.id)
                ) from None
            if change.delivered:
                self._acknowledge(conn, change.delivered, case.updated_at)

    def _case_version(self, case_id: str) -> int | None:
        row = self._conn.execute("SELECT version FROM cases WHERE id = ?", (case_id,)).fetchone()
        return None if row is None else int(row[0])

    def get_case(self, case_id: str) -> Case:
        check_id(case_id, "case_id")
        with self._guard():
            row = self._conn.execute(
                f"SELECT {_CASE_SELECT} FROM cases WHERE id = ?", (case_id,)
            ).fetchone()
        if row is None:
            raise CaseNotFound(case_id)
        return _read_case(row)

    def find_cases(self, query: CaseQuery) -> list[Case]:
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (
            ("ticket_id", query.ticket_id),
            ("order_id", query.order_id),
            ("serial", query.serial),
            ("parent_id", query.parent_id),
            ("customer_id", query.customer_id),
            ("kind", query.kind and query.kind.value),
            ("status", query.status),
            ("status_category", query.status_category and query.status_category.value),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._guard():
            rows = self._conn.execute(
                f"SELECT {_CASE_SELECT} FROM cases {where} ORDER BY created_at, id LIMIT ?",
                (*params, query.limit),
            ).fetchall()
        return [_read_case(row) for row in rows]

    def cases_due(self, before: datetime, limit: int) -> list[Case]:
        check_limit(limit)
        with self._guard():
            rows = self._conn.execute(
                f"SELECT {_CASE_SELECT} FROM cases "
                "WHERE step_due_at IS NOT NULL AND step_due_at <= ? "
                "ORDER BY step_due_at, id LIMIT ?",
                (codec.ts(before), limit),
            ).fetchall()
        return [_read_case(row) for row in rows]

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = ["SCHEMA_VERSION", "SQLiteStore"]
