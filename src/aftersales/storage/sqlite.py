"""The default durable store, on the standard library's sqlite3.

One transaction per change (``BEGIN IMMEDIATE``), WAL journal with ``synchronous=NORMAL``
by default (``FULL`` on request), the version check inside the UPDATE, and a schema that is
created on first use and versioned with ``PRAGMA user_version``. Rows come from the shared
codec (:mod:`aftersales.storage._codec`), tables and migrations from the shared schema
(:mod:`aftersales.storage._schema`). The store is :class:`RecordStore` on an
:class:`~aftersales.storage.recorder.SQLiteRecorder` (the connection, its schema and the
port's statements, in :mod:`aftersales.storage._sqlite`); this module holds the ticket
writes and imports, tuned for SQLite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import compress
from operator import ne
from os import PathLike
from typing import Literal

from aftersales.exceptions import AftersalesError, ConcurrencyError
from aftersales.models import Ticket
from aftersales.storage import _codec as codec
from aftersales.storage._codec import SCHEMA_VERSION
from aftersales.storage._protocol import id_taken, number_taken
from aftersales.storage._record_store import RecordStore
from aftersales.storage._record_writes import stored_version
from aftersales.storage._sqlite.cases import write_cases
from aftersales.storage._sqlite.connection import Executor, check_cache_mib
from aftersales.storage._sqlite.recorder import SQLiteRecorder
from aftersales.storage._sqlite.statements import (
    _EVENT_INSERT_HEAD,
    _EVENT_VALUES,
    _MESSAGE_INSERT,
    _ROWS_PER_INSERT,
    _TAG_INSERT,
    _TAG_INSERT_HEAD,
    _TAG_VALUES,
    _TICKET_INDEXES,
    _TICKET_INSERT,
    _TICKET_INSERT_HEAD,
    _TICKET_NULLABLE,
    _TICKET_STORED,
    _TICKET_TAGS,
    _TICKET_VALUES,
    _TICKET_VERSION,
    _acknowledge,
    _append_log,
    _build_missing_indexes,
    _retag,
    _ticket_update,
)
from aftersales.storage._sqlite.statements import (
    _NULL as _NULL,
)
from aftersales.storage._unit import CaseChange, Change, Rewrite

_WRITTEN_TICKETS = 4096
"""How many tickets' last written rows a store keeps, to write only what changed."""
_UPDATE_SHAPES = 256
"""How many partial ticket UPDATE statements a store keeps (one per set of columns that
changed together)."""

_TICKET_POSITIONS = range(len(codec.TICKET_COLUMNS))
_PRIORITY = codec.TICKET_COLUMNS.index("priority")

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


class SQLiteStore(RecordStore):
    """A durable store in one SQLite file (or ``":memory:"``): :class:`RecordStore` on an
    :class:`~aftersales.storage.recorder.SQLiteRecorder`, with the ticket writes and
    imports in statements of their own (the hot path of every transition).

    ``synchronous="NORMAL"`` (the default, with WAL) never corrupts the database; a power
    loss may drop the last commits. ``"FULL"`` makes every commit survive power loss, at
    several times the cost per commit. Safe to share between threads; several processes
    may open the same file.

    A new database file is created with ``file_mode`` (default ``0o600``: readable and
    writable by its owner only, whatever the umask), and SQLite gives its ``-wal`` and
    ``-shm`` files the same permissions. An existing file keeps its own.

    ``tenant`` names the shop whose rows the store reads and writes, in a database that
    several shops share (default ``""``: the one shop of a database that serves one);
    :meth:`~aftersales.storage.recorder.RecordStore.for_tenant` gives another shop's store
    on the same connection (docs/how-to/several-shops.md).

    ``cache_mib`` bounds the pages the connection keeps in memory (default 64 MiB, where
    SQLite's own default is 2 MB): taken only as pages are read, so a smaller database
    takes its own size at most, and freed on :meth:`close`. At a million tickets (3.6 GB)
    the inner pages of the tickets' table and indexes take 17 MB, 21 MB with the events':
    in a smaller cache, a transition reads again from the file most of the pages it walks
    through.
    """

    recorder: SQLiteRecorder

    def __init__(
        self,
        path: str | PathLike[str] = "aftersales.db",
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout: float = 10.0,
        file_mode: int = 0o600,
        tenant: str = "",
        cache_mib: int = 64,
    ) -> None:
        check_cache_mib(cache_mib)  # before a file is made or opened
        recorder = SQLiteRecorder(
            path,
            synchronous=synchronous,
            busy_timeout=busy_timeout,
            file_mode=file_mode,
            tenant=tenant,
        )
        try:
            recorder._cache(cache_mib)
        except BaseException:
            recorder.close()
            raise
        super().__init__(recorder)
        self.path, self._conn, self._lock = recorder.path, recorder._conn, recorder._lock
        self._pending_floor = 0
        """The counter's floor as the running transaction leaves it (see commit)."""
        self._written: dict[str, tuple[int, tuple[object, ...]]] = {}
        """Ticket id → the version and row this store last committed for it. A ticket's
        version is written once (every write checks the version it replaces), so an
        update of that version changes the row from exactly those values, and sets only
        the columns that differ: SQLite rewrites an index whenever one of its columns is
        in the SET list, changed or not, and a transition changes few indexed columns."""
        self._pending_rows: list[tuple[str, int, tuple[object, ...]]] = []
        """The rows of the running transaction, kept in ``_written`` once it commits."""
        self._updates: dict[tuple[int, ...], str] = {}

    def _scoped(self, recorder: object) -> None:
        # the rows a store committed are its own tenant's (the statements are shared)
        self._written = {}
        self._pending_rows = []

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        return self.recorder.schema_version

    @contextmanager
    def bulk_import(self) -> Iterator[None]:
        """Commits inside are an import (see :meth:`~aftersales.Desk.import_tickets`).

        Into an empty store, the tickets' secondary indexes are dropped first and built
        once at the end, in one sorted pass each, instead of being updated row by row:
        an index on customers takes each new row at a random place and writes most of its
        pages again with every batch. Meanwhile reads stay correct, only slower. If the
        process dies before the end, the next open builds the missing indexes.
        """
        with self.recorder._transaction() as conn:
            empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM tickets)").fetchone()[0]
            if empty:
                for name in _TICKET_INDEXES:
                    conn.execute(f"DROP INDEX IF EXISTS {name}")
        try:
            yield
        finally:
            if empty:
                with self.recorder._transaction() as conn:
                    _build_missing_indexes(conn)

    def _move_counter_past(self, conn: Executor, number: int) -> None:
        """Keep the ticket counter past ``number``, a ticket number just written (imported
        ones are chosen by the caller), so that no reserved number is ever taken. Costs a
        statement only when the number is not known to be below the counter already."""
        if number < self._pending_floor:
            return
        tenant = self.recorder.tenant
        conn.execute(
            "UPDATE counters SET value = ? "
            "WHERE tenant = ? AND name = 'ticket_number' AND value <= ?",
            (number + 1, tenant, number),
        )
        found = conn.execute(
            "SELECT value FROM counters WHERE tenant = ? AND name = 'ticket_number'", (tenant,)
        ).fetchone()
        if found is None:  # the tenant's first ticket
            conn.execute(
                "INSERT INTO counters (tenant, name, value) VALUES (?, 'ticket_number', ?)",
                (tenant, number + 1),
            )
        value: int = number + 1 if found is None else found[0]
        # kept once the transaction commits (see commit): a rolled back one moved nothing
        self._pending_floor = max(self._counter_floor, value)

    def commit_many(self, changes: Sequence[Change]) -> None:
        with self._lock:
            self._pending_floor = self._counter_floor
            self._pending_rows.clear()
            self.recorder._atomically(lambda conn: self._write_many(conn, changes))
            self._counter_floor = self._pending_floor
            self._remember_rows()

    def _remember_rows(self) -> None:
        """Keep the rows of the transaction that just committed (see ``_written``)."""
        written = self._written
        if len(written) + len(self._pending_rows) > _WRITTEN_TICKETS:
            written.clear()
        for ticket_id, version, row in self._pending_rows:
            written[ticket_id] = (version, row)
        self._pending_rows.clear()

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
                self._write_ticket(
                    conn, change, change.ticket, codec.ticket_row(change.ticket, null="")
                )

    def _insert_all(self, conn: sqlite3.Connection, changes: Sequence[Change]) -> None:
        tickets: list[object] = []
        events: list[object] = []
        tags: list[object] = []
        tenant = self.recorder.tenant
        new_ticket_rows = codec.new_ticket_rows
        for change in changes:
            # the absent values '', as _NULL binds them (the event's logged time too)
            row, key, event_rows, tag_rows = new_ticket_rows(change, exclude_none=True, null="")
            # Bound as plain values, as _NULL means: '' for each absent one (the columns a
            # ticket may leave empty all bind through NULLIF) and a shipped priority as its
            # str, where sqlite3 looks for an adapter and __conform__ on anything else (a
            # fifth of the statements' binding).
            cells = ["" if value is None else value for value in row]
            priority = cells[_PRIORITY]
            if type(priority) is not str:
                cells[_PRIORITY] = priority._value_  # type: ignore[attr-defined]
            tickets += cells
            tickets += key
            tickets.append(tenant)
            for event in event_rows:
                events += event
                events.append(tenant)
            for tag_row in tag_rows:
                tags += (*tag_row, tenant)
        conn.execute("SAVEPOINT bulk")
        try:
            _insert_rows(conn, _TICKET_INSERT_HEAD, _TICKET_VALUES, tickets)
            _insert_rows(conn, _EVENT_INSERT_HEAD, _EVENT_VALUES, events)
            _insert_rows(conn, _TAG_INSERT_HEAD, _TAG_VALUES, tags)
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK TO bulk")
            raise self._why_not_inserted(conn, changes) from None
        conn.execute("RELEASE bulk")
        self._move_counter_past(conn, max(change.ticket.number for change in changes))
        # ids are unique across tenants: a case of any tenant's holds its id
        taken = self._case_ids(conn, [change.ticket.id for change in changes])
        if taken:
            raise id_taken("ticket", taken[0])

    @staticmethod
    def _case_ids(conn: sqlite3.Connection, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` that are the ids of cases."""
        found: list[str] = []
        # a database without cases (where tickets are imported first) answers at once: the
        # IN lists below bind and sort every id of the batch
        if conn.execute("SELECT NOT EXISTS (SELECT 1 FROM cases)").fetchone()[0]:
            return found
        for first in range(0, len(ids), 900):
            chunk = ids[first : first + 900]
            found += (
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM cases WHERE id IN ({','.join('?' * len(chunk))})", chunk
                )
            )
        return found

    def _why_not_inserted(self, conn: Executor, changes: Sequence[Change]) -> AftersalesError:
        """The error for new tickets that broke a constraint, found against the database as
        it was before them: an id or a number that is taken (by an earlier ticket or one
        earlier in ``changes``), or an id that a case has. An id another tenant's subject
        has is only "taken": nothing of that subject is told."""
        ids: set[str] = set()
        numbers: set[int] = set()
        tenant = self.recorder.tenant
        for change in changes:
            ticket = change.ticket
            row = conn.execute(
                "SELECT version FROM tickets WHERE tenant = ? AND id = ?", (tenant, ticket.id)
            ).fetchone()
            if row is not None or ticket.id in ids:
                return ConcurrencyError(ticket.id, 0, None if row is None else int(row[0]))
            taken = conn.execute(
                "SELECT 1 FROM tickets WHERE tenant = ? AND number = ?", (tenant, ticket.number)
            ).fetchone()
            if taken is not None or ticket.number in numbers:
                return number_taken(ticket.number)
            # ids are unique across tenants: any tenant's subject holds it
            if conn.execute(
                "SELECT 1 FROM tickets WHERE id = ? UNION ALL "
                "SELECT 1 FROM events WHERE subject_id = ?",
                (ticket.id, ticket.id),
            ).fetchone():
                return id_taken("ticket", ticket.id)
            ids.add(ticket.id)
            numbers.add(ticket.number)
        return ConcurrencyError("(bulk import)", 0, None)

    def commit(self, change: Change) -> None:
        with self._lock:
            self._pending_floor = self._counter_floor
            self._pending_rows.clear()
            # on the recorder's kept cursor: no cursor made per statement (see _atomically)
            cursor = self.recorder._cursor
            self.recorder._atomically(lambda _: self._write_ticket(cursor, change, change.ticket))
            self._counter_floor = self._pending_floor
            self._remember_rows()

    def rewrite(self, rewrite: Rewrite) -> None:
        super().rewrite(rewrite)
        self.recorder.checkpoint()

    def commit_cases(self, changes: Sequence[CaseChange]) -> None:
        self.recorder._atomically(lambda conn: write_cases(conn, changes, self.recorder.tenant))

    def _write_ticket(
        self,
        conn: Executor,
        change: Change,
        ticket: Ticket,
        row: tuple[object, ...] | None = None,
    ) -> None:
        if row is None:
            row = codec.ticket_row(ticket, null="")
        if change.customer is not None:
            self._put_customer(self.recorder, change.customer)
        tenant = self.recorder.tenant
        if change.expected_version == 0:
            # ids are unique across tenants: a case of any tenant's holds its id
            if conn.execute("SELECT 1 FROM cases WHERE id = ?", (ticket.id,)).fetchone():
                raise id_taken("ticket", ticket.id)
            try:
                conn.execute(
                    _TICKET_INSERT,
                    (
                        *row,
                        ticket.id,
                        ticket.number,
                        ticket.workflow,
                        codec.ts(ticket.created_at),
                        tenant,
                    ),
                )
            except sqlite3.IntegrityError:  # the failed statement wrote nothing
                raise self._why_not_inserted(conn, (change,)) from None
            if ticket.tags:
                conn.executemany(_TAG_INSERT, [(*r, tenant) for r in codec.tag_rows(ticket)])
            self._move_counter_past(conn, ticket.number)
            _append_log(conn, change.events, change.outbox, tenant)
        else:
            if not self._update_ticket(conn, ticket, change.expected_version, row):
                raise ConcurrencyError(
                    ticket.id,
                    change.expected_version,
                    stored_version(self.recorder, "tickets", ticket.id),
                )
            _append_log(conn, change.events, change.outbox, tenant)
        for message in change.messages:
            conn.execute(_MESSAGE_INSERT, (*codec.message_row(message), tenant))
        if change.delivered:
            _acknowledge(conn, change.delivered, ticket.updated_at, tenant)
        self._pending_rows.append((ticket.id, ticket.version, row))

    def _update_ticket(
        self, conn: Executor, ticket: Ticket, expected: int, row: tuple[object, ...]
    ) -> bool:
        """Write ``row`` over the ticket's version ``expected``, setting only the columns
        that differ from that version's, and its ``ticket_tags`` rows when its tags
        changed; False when it is not at that version.

        SQLite rewrites an index whenever one of its columns is in the SET list, changed
        or not: a full UPDATE rewrites every index of tickets, and at a million tickets
        each costs reads and writes of pages out of cache. That version's row is the one
        this store last committed for it (``_written``), else the stored one, read by its
        key: one indexed read of the pages the UPDATE writes next."""
        tenant = self.recorder.tenant
        known = self._written.get(ticket.id)
        if known is not None and known[0] == expected:
            before = known[1]
            changed = _changed(row, before)
        else:
            stored = conn.execute(_TICKET_STORED, (ticket.id, tenant)).fetchone()
            if stored is None or stored[_TICKET_VERSION] != expected:
                return False
            before = tuple(stored)
            changed = _changed_from_stored(row, before)
        sql = self._updates.get(changed)
        if sql is None:
            sql = _ticket_update(changed)
            if len(self._updates) < _UPDATE_SHAPES:
                self._updates[changed] = sql
        values = [row[i] for i in changed]
        if conn.execute(sql, (*values, ticket.id, expected, tenant)).rowcount != 1:
            return False
        if _TICKET_TAGS in changed:
            old = before[_TICKET_TAGS]  # '' (a row of ours) or NULL (stored): no tags
            _retag(conn, ticket, str(old) if old else None, tenant)
        return True


def _changed(row: tuple[object, ...], before: tuple[object, ...]) -> tuple[int, ...]:
    """The positions where ``row`` differs from ``before``, compared in C (``map`` and
    ``compress``) rather than in a loop of bytecode per column: every transition diffs."""
    return tuple(compress(_TICKET_POSITIONS, map(ne, row, before)))


def _changed_from_stored(row: tuple[object, ...], stored: tuple[object, ...]) -> tuple[int, ...]:
    """The positions where ``row`` (as :meth:`SQLiteStore._write_ticket` binds it) differs
    from the ``stored`` columns: a column bound through ``_NULL`` holds NULL for ''."""
    return tuple(
        i
        for i in _changed(row, stored)
        if not (row[i] == "" and stored[i] is None and i in _TICKET_NULLABLE)
    )


__all__ = ["SCHEMA_VERSION", "SQLiteStore"]
