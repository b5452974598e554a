"""The default durable store, on the standard library's sqlite3.

One transaction per change (``BEGIN IMMEDIATE``), WAL journal with ``synchronous=NORMAL``
by default (``FULL`` on request), the version check inside the UPDATE, and a schema that is
created on first use and versioned with ``PRAGMA user_version``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
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
from aftersales.models._base import Record, trusted
from aftersales.models.case import CaseLine
from aftersales.notify._notification import DeliveryStatus, Notification
from aftersales.policies.decision import Decision
from aftersales.policies.facts import Facts
from aftersales.storage._protocol import (
    CaseChange,
    CaseQuery,
    Change,
    TicketQuery,
    address_taken,
    bounded_error,
    check_count,
    check_id,
    check_limit,
    check_number,
    id_taken,
    number_taken,
)

SCHEMA_VERSION = 4

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

_SCHEMA_V4 = """
ALTER TABLE cases ADD COLUMN terms TEXT;
CREATE TABLE events_by_rowid (
    subject_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    at TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (subject_id, sequence)
);
INSERT INTO events_by_rowid (subject_id, sequence, trigger, at, data)
    SELECT subject_id, sequence, trigger, at, data FROM events;
DROP TABLE events;
ALTER TABLE events_by_rowid RENAME TO events;
"""
"""``cases.terms``: each line's facts and policy decision, apart from ``data``, written when
the case is created or a step changes them, not again with every step (NULL when no line
has any).

``events`` becomes a rowid table: SQLite advises WITHOUT ROWID only for rows under about a
twentieth of a page, and events run from 300 bytes to 2 KB (a return's first event holds
its policy decision). In the clustered layout those spilled to overflow pages, and a
subject's late event (a return closed after its refund's events) split full pages in the
middle; appended rows with a small key index write about a fifth fewer pages per return."""

_MIGRATIONS: dict[int, str] = {1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3, 4: _SCHEMA_V4}

_TICKET_INDEXES = {
    statement.split()[2]: statement.strip().replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS")
    for schema in (_SCHEMA_V1, _SCHEMA_V2)
    for statement in schema.split(";")
    if statement.strip().startswith("CREATE INDEX tickets_")
}
"""The tickets' secondary indexes by name: an import into an empty store builds them once
at its end (see :meth:`SQLiteStore.bulk_import`)."""
"""Schema version → DDL that upgrades the version before it to it."""

_NULL = "NULLIF(?,'')"
"""A parameter that may be NULL, bound as '' rather than None: sqlite3 (before Python
3.12) looks for an adapter and __conform__ on every None it binds, raising and clearing
an AttributeError each time, at half a microsecond per None. Only for columns where ''
is never a value (identifiers and instants)."""
_TICKET_UPDATE = (
    "UPDATE tickets SET status=?, status_category=?, version=?, customer_id=?, channel=?, "
    f"assignee={_NULL}, team={_NULL}, merged_into={_NULL}, parent_id={_NULL}, "
    f"follow_up_of={_NULL}, due_at={_NULL}, sla_due_at={_NULL}, data=? WHERE id=? AND version=?"
)
_TICKET_INSERT = (
    "INSERT INTO tickets (status, status_category, version, customer_id, channel, assignee, "
    "team, merged_into, parent_id, follow_up_of, due_at, sla_due_at, data, id, number, "
    f"workflow, created_at) VALUES (?,?,?,?,?,{','.join([_NULL] * 7)},?,?,?,?,?)"
)
_TICKET_INSERT_HEAD = _TICKET_INSERT.split("VALUES ")[0] + "VALUES "
_TICKET_VALUES = _TICKET_INSERT.split("VALUES ")[1]
_EVENT_INSERT_HEAD = "INSERT INTO events (subject_id, sequence, trigger, at, data) VALUES "
_EVENT_VALUES = "(?,?,?,?,?)"
_ROWS_PER_INSERT = 500
# SQLite before 3.32 allows 999 parameters per statement; later ones 32,766.
_PARAMETERS_PER_STATEMENT = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999


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


_OUTBOX_COLUMNS = (
    "key, handler, subject_id, sequence, status, attempts, next_attempt_at, lease_until, "
    "last_error, created_at, delivered_at, event"
)

_OUTBOX_INSERT = (
    f"INSERT INTO outbox ({_OUTBOX_COLUMNS}) "
    f"VALUES (?,?,?,?,?,?,?,{_NULL},?,?,{_NULL},?)"  # last_error may be ''
)
_CASE_UPDATE = (
    f"UPDATE cases SET status=?, status_category=?, version=?, step_due_at={_NULL}, data=? "
    "WHERE id=? AND version=?"
)
_CASE_UPDATE_TERMS = (
    f"UPDATE cases SET status=?, status_category=?, version=?, step_due_at={_NULL}, data=?, "
    f"terms={_NULL} WHERE id=? AND version=?"
)
_CASE_INSERT = (
    "INSERT INTO cases (status, status_category, version, step_due_at, data, terms, id, "
    "kind, ticket_id, order_id, serial, parent_id, customer_id, created_at) "
    f"VALUES (?,?,?,{_NULL},?,{_NULL},?,?,?,{_NULL},{_NULL},{_NULL},{_NULL},?)"
)
_CASE_COLUMNS = "data, terms"
T = TypeVar("T")
_TICKET_JSON = Ticket.__pydantic_serializer__.to_json
_CASE_JSON = Case.__pydantic_serializer__.to_json
_EVENT_JSON = Event.__pydantic_serializer__.to_json
_FACTS_JSON = Facts.__pydantic_serializer__.to_json
_DECISION_JSON = Decision.__pydantic_serializer__.to_json
_WITHOUT_TERMS = {"lines": {"__all__": {"facts", "decision"}}}


def _case_row(case: Case, null: str | None = None) -> tuple[object, ...]:
    """The columns a transition changes. The others (see :func:`_case_fixed`) are set once:
    an UPDATE that leaves them out does not rewrite their indexes on every step. (Enums as
    their plain values: see :func:`_ticket_row`.)"""
    return (
        case.status,
        case.status_category._value_,
        case.version,
        _ts(case.step_due_at) or null,
        _case_data(case),
    )


def _case_data(case: Case) -> str:
    # Every field that may be None defaults to None (a test holds this), so leaving the
    # Nones out loses nothing. The lines' facts and decisions go to ``terms``.
    return _CASE_JSON(case, exclude_none=True, exclude=_WITHOUT_TERMS).decode()


def _case_terms(case: Case) -> str | None:
    """Each line's facts and decision as a JSON array in line order, or None without any:
    most steps leave them as they are, and they are most of a case's size."""
    if all(line.facts is None and line.decision is None for line in case.lines):
        return None
    return "[" + ",".join(_line_terms(line) for line in case.lines) + "]"


def _line_terms(line: CaseLine) -> str:
    parts = []
    if line.facts is not None:
        parts.append('"facts":' + _FACTS_JSON(line.facts, exclude_none=True).decode())
    if line.decision is not None:
        parts.append('"decision":' + _DECISION_JSON(line.decision, exclude_none=True).decode())
    return "{" + ",".join(parts) + "}"


def _move_terms_out_of_data(conn: sqlite3.Connection) -> None:
    """Rows written before version 4 hold their lines' facts and decisions in ``data``. A
    step that leaves them alone rewrites ``data`` only, so they move to ``terms`` now."""
    last = 0
    while rows := conn.execute(
        "SELECT rowid, data FROM cases WHERE rowid > ? ORDER BY rowid LIMIT 1000", (last,)
    ).fetchall():
        for rowid, data in rows:
            case = Case.model_validate_json(data)
            conn.execute(
                "UPDATE cases SET data = ?, terms = ? WHERE rowid = ?",
                (_case_data(case), _case_terms(case), rowid),
            )
        last = rows[-1][0]


class _LineTerms(Record):
    facts: Facts | None = None
    decision: Decision | None = None


class _CaseTerms(Record):
    lines: tuple[_LineTerms, ...]


def _build_missing_indexes(conn: sqlite3.Connection) -> None:
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    for name, statement in _TICKET_INDEXES.items():
        if name not in names:
            conn.execute(statement)


def _case(row: Sequence[Any]) -> Case:
    """The case of a row: ``data`` and, when there are any, the lines' ``terms``."""
    case = Case.model_validate_json(row[0])
    if row[1] is None:
        return case
    # Each part validated on its own and put together as it was taken apart, without
    # merging JSON (which validates slower: pydantic's JSON parser beats dict input).
    terms = _CaseTerms.model_validate_json('{"lines":' + row[1] + "}").lines
    lines = tuple(
        trusted(CaseLine, {**line.__dict__, "facts": part.facts, "decision": part.decision})
        for line, part in zip(case.lines, terms, strict=True)
    )
    return trusted(Case, {**case.__dict__, "lines": lines})


def _case_fixed(case: Case, null: str | None = None) -> tuple[object, ...]:
    return (
        case.id,
        case.kind._value_,
        case.ticket_id,
        case.order_id or null,
        case.serial or null,
        case.parent_id or null,
        case.customer_id or null,
        _ts(case.created_at),
    )


_TS_TEXT: dict[datetime, str] = {}
_TS_TEXT_SIZE = 64


def _ts(value: datetime | None) -> str | None:
    """Fixed-width UTC text, so that text order is time order."""
    if value is None:
        return None
    # A commit formats the same few instants many times over (the event's time, its outbox
    # rows' times, the lease), as equal values rather than the same objects.
    text = _TS_TEXT.get(value)
    if text is None:
        utc = value if value.tzinfo is timezone.utc else value.astimezone(timezone.utc)
        text = utc.isoformat(timespec="microseconds")
        if len(_TS_TEXT) >= _TS_TEXT_SIZE:
            _TS_TEXT.clear()
        _TS_TEXT[value] = text
    return text


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _ticket_row(
    ticket: Ticket, *, exclude_none: bool = False, null: str | None = None
) -> tuple[object, ...]:
    """The ticket's columns in ``_TICKET_UPDATE`` order, ``null`` for the absent ones
    (``''`` where the statement binds them through ``NULLIF``, see ``_NULL``)."""
    # Enums bind as their plain str value (``_value_``, an instance attribute, where
    # ``value`` is a property): given the enum, sqlite3 first looks for an adapter and for
    # __conform__ before it stores the str the enum is (2% of an import's instructions).
    return (
        ticket.status,
        ticket.status_category._value_,
        ticket.version,
        ticket.customer_id,
        ticket.channel._value_,
        ticket.assignee or null,
        ticket.team or null,
        ticket.merged_into or null,
        ticket.parent_id or null,
        ticket.follow_up_of or null,
        _ts(ticket.due_at) or null,
        _ts(ticket.sla_due_at) or null,
        _TICKET_JSON(ticket, exclude_none=exclude_none).decode(),
    )


def _notification_row(
    n: Notification, event_json: str | None = None, null: str | None = None
) -> tuple[object, ...]:
    return (
        n.key,
        n.handler,
        n.event.subject_id,
        n.event.sequence,
        n.status.value,
        n.attempts,
        _ts(n.next_attempt_at),
        _ts(n.lease_until) or null,
        None if n.last_error is None else bounded_error(n.last_error),
        _ts(n.created_at),
        _ts(n.delivered_at) or null,
        n.event.model_dump_json() if event_json is None else event_json,
    )


def _append_log(
    conn: sqlite3.Connection, events: Sequence[Event], notifications: Sequence[Notification]
) -> None:
    """Insert a change's events and outbox rows, serialising each event once."""
    event_json: dict[int, str] = {}
    for event in events:
        event_json[id(event)] = data = event.model_dump_json()
        conn.execute(
            "INSERT INTO events (subject_id, sequence, trigger, at, data) VALUES (?,?,?,?,?)",
            (event.subject_id, event.sequence, event.trigger, _ts(event.at), data),
        )
    for notification in notifications:
        conn.execute(
            _OUTBOX_INSERT,
            _notification_row(notification, event_json.get(id(notification.event)), null=""),
        )


def _notification(row: sqlite3.Row) -> Notification:
    return Notification(
        key=row["key"],
        handler=row["handler"],
        event=Event.model_validate_json(row["event"]),
        created_at=_dt(row["created_at"]),  # type: ignore[arg-type]
        next_attempt_at=_dt(row["next_attempt_at"]),  # type: ignore[arg-type]
        lease_until=_dt(row["lease_until"]),
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        delivered_at=_dt(row["delivered_at"]),
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
            for version in range(found + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[version].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                if version == 4:
                    _move_terms_out_of_data(conn)
                conn.execute(f"PRAGMA user_version={version}")
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
                self._write(conn, change, change.ticket, _ticket_row(change.ticket, null=""))

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
        for change in changes:
            ticket = change.ticket
            tickets += _ticket_row(ticket, exclude_none=True, null="")
            tickets += (ticket.id, ticket.number, ticket.workflow, _ts(ticket.created_at))
            for e in change.events:
                events += (e.subject_id, e.sequence, e.trigger, _ts(e.at), _EVENT_JSON(e).decode())
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
            row = _ticket_row(ticket, null="")
        if change.customer is not None:
            self._save_customer(conn, change.customer)
        if change.expected_version == 0:
            if conn.execute("SELECT 1 FROM cases WHERE id = ?", (ticket.id,)).fetchone():
                raise id_taken("ticket", ticket.id)
            try:
                conn.execute(
                    _TICKET_INSERT,
                    (*row, ticket.id, ticket.number, ticket.workflow, _ts(ticket.created_at)),
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
            conn.execute(
                "INSERT INTO messages (id, ticket_id, at, data) VALUES (?,?,?,?)",
                (message.id, message.ticket_id, _ts(message.at), message.model_dump_json()),
            )
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
            params.append(_ts(query.created_from))
        if query.created_to is not None:
            clauses.append("created_at < ?")
            params.append(_ts(query.created_to))
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
            (customer.id, customer.model_dump_json()),
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
                (_ts(before), limit),
            ).fetchall()
        return [Ticket.model_validate_json(row[0]) for row in rows]

    def sla_due(self, before: datetime, limit: int) -> list[Ticket]:
        check_limit(limit)
        with self._guard():
            rows = self._conn.execute(
                "SELECT data FROM tickets WHERE sla_due_at IS NOT NULL AND sla_due_at <= ? "
                "ORDER BY sla_due_at, number LIMIT ?",
                (_ts(before), limit),
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
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE status = 'pending' "
                "AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?) "
                "ORDER BY next_attempt_at, key LIMIT ?",
                (_ts(now), _ts(now), limit),
            ).fetchall()
            conn.executemany(
                "UPDATE outbox SET lease_until = ? WHERE key = ?",
                [(_ts(lease_until), row["key"]) for row in rows],
            )
        return [attrs.evolve(_notification(row), lease_until=lease_until) for row in rows]

    @staticmethod
    def _acknowledge(conn: sqlite3.Connection, keys: Sequence[str], at: datetime) -> None:
        sql = (
            "UPDATE outbox SET status = 'delivered', delivered_at = ?, lease_until = NULL "
            "WHERE key = ? AND status = 'pending'"
        )
        if len(keys) == 1:
            conn.execute(sql, (_ts(at), keys[0]))
        else:
            conn.executemany(sql, [(_ts(at), key) for key in keys])

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
                    _ts(retry_at),
                    DeliveryStatus.PENDING.value if retry_at else DeliveryStatus.DEAD.value,
                    key,
                ),
            )

    def outbox(self, status: DeliveryStatus | None = None) -> list[Notification]:
        sql = f"SELECT {_OUTBOX_COLUMNS} FROM outbox"
        params: tuple[object, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            params = (status.value,)
        with self._guard():
            rows = self._conn.execute(sql + " ORDER BY created_at, key", params).fetchall()
        return [_notification(row) for row in rows]

    def commit_cases(self, changes: Sequence[CaseChange]) -> None:
        self._atomically(lambda conn: self._write_cases(conn, changes))

    def _write_cases(self, conn: sqlite3.Connection, changes: Sequence[CaseChange]) -> None:
        for change in changes:
            case = change.case
            row = _case_row(case, null="")
            if change.order_check is not None and case.order_id is not None:
                # BEGIN IMMEDIATE holds the write lock: nobody adds a case before COMMIT
                kinds = [kind.value for kind in change.order_check_kinds]
                of_kinds = f" AND kind IN ({','.join('?' * len(kinds))})" if kinds else ""
                change.order_check(
                    [
                        _case(found)
                        for found in conn.execute(
                            f"SELECT {_CASE_COLUMNS} FROM cases WHERE order_id = ?{of_kinds} "
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
                        _CASE_INSERT, (*row, _case_terms(case) or "", *_case_fixed(case, null=""))
                    )
                elif (
                    conn.execute(
                        _CASE_UPDATE_TERMS,
                        (*row, _case_terms(case) or "", case.id, change.expected_version),
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
                f"SELECT {_CASE_COLUMNS} FROM cases WHERE id = ?", (case_id,)
            ).fetchone()
        if row is None:
            raise CaseNotFound(case_id)
        return _case(row)

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
                f"SELECT {_CASE_COLUMNS} FROM cases {where} ORDER BY created_at, id LIMIT ?",
                (*params, query.limit),
            ).fetchall()
        return [_case(row) for row in rows]

    def cases_due(self, before: datetime, limit: int) -> list[Case]:
        check_limit(limit)
        with self._guard():
            rows = self._conn.execute(
                f"SELECT {_CASE_COLUMNS} FROM cases "
                "WHERE step_due_at IS NOT NULL AND step_due_at <= ? "
                "ORDER BY step_due_at, id LIMIT ?",
                (_ts(before), limit),
            ).fetchall()
        return [_case(row) for row in rows]

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = ["SCHEMA_VERSION", "SQLiteStore"]
