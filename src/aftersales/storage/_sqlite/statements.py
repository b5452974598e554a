"""The SQL of :class:`~aftersales.storage.sqlite.SQLiteStore`: statements rendered once
from the codec's column order, schema creation and migration steps, and the writes of a
change's log (events and outbox rows) and acknowledgements."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aftersales.models import Case, Event, Ticket
from aftersales.notify._notification import Notification
from aftersales.storage import _codec as codec
from aftersales.storage import _schema as schema
from aftersales.storage import _schema_versions as versions
from aftersales.storage._sqlite.connection import Executor

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
    return f"UPDATE {table} SET {sets} WHERE id=? AND version=? AND tenant=?"


_T = (schema.TENANT,)
"""Every insert names the tenant last (and every update and lookup by key checks it)."""


# The statements of the hot paths, rendered once from the codec's column order.
_TICKET_TAGS = codec.TICKET_COLUMNS.index("tags")
_TICKET_DATA = codec.TICKET_COLUMNS.index("data")
_TICKET_VERSION = codec.TICKET_COLUMNS.index("version")
_TICKET_NULLABLE = frozenset(
    i for i, mark in enumerate(_marks("tickets", codec.TICKET_COLUMNS)) if mark == _NULL
)
"""The :data:`codec.TICKET_COLUMNS` bound through ``_NULL``: '' in a row is NULL stored."""
_TICKET_STORED = (
    "SELECT "
    + ", ".join("NULL" if i == _TICKET_DATA else c for i, c in enumerate(codec.TICKET_COLUMNS))
    + " FROM tickets WHERE id = ? AND tenant = ?"
)
"""A ticket's stored :data:`codec.TICKET_COLUMNS`, but its JSON: that changes with every
version (it holds the version), so it is written anyway and reading it would cost a copy
of the whole record for nothing."""
_TAG_INSERT_HEAD = "INSERT INTO ticket_tags (tag, created_at, number, tenant) VALUES "
_TAG_VALUES = "(?,?,?,?)"
_TAG_INSERT = _TAG_INSERT_HEAD + _TAG_VALUES
_TAG_DELETE = (
    "DELETE FROM ticket_tags WHERE tag = ? AND created_at = ? AND number = ? AND tenant = ?"
)
_TICKET_INSERT = _insert("tickets", codec.TICKET_COLUMNS + codec.TICKET_KEY_COLUMNS + _T)
_TICKET_INSERT_HEAD = _TICKET_INSERT.split("VALUES ")[0] + "VALUES "
_TICKET_VALUES = _TICKET_INSERT.split("VALUES ")[1]
_EVENT_INSERT = _insert("events", codec.EVENT_COLUMNS + _T)
_EVENT_LOGGED = codec.EVENT_COLUMNS.index("logged_seconds")
assert _marks("events", ["logged_seconds"]) == [_NULL]  # so that '' binds NULL there
_EVENT_INSERT_HEAD = _EVENT_INSERT.split("VALUES ")[0] + "VALUES "
_EVENT_VALUES = _EVENT_INSERT.split("VALUES ")[1]
_MESSAGE_INSERT = _insert("messages", codec.MESSAGE_COLUMNS + _T)
_OUTBOX_SELECT = ", ".join(codec.OUTBOX_COLUMNS)
_OUTBOX_INSERT = _insert("outbox", codec.OUTBOX_COLUMNS + _T)
_CASE_UPDATE = _update("cases", codec.CASE_COLUMNS)
_CASE_UPDATE_TERMS = _update("cases", (*codec.CASE_COLUMNS, "terms"))
_CASE_INSERT = _insert("cases", (*codec.CASE_COLUMNS, "terms", *codec.CASE_KEY_COLUMNS, *_T))
_CASE_SELECT = "data, terms"
_ROWS_PER_INSERT = 500

_TICKET_INDEXES = {
    index.name: schema.sqlite_index(index, if_not_exists=True)
    for index in schema.indexes_of("tickets")
}
"""The tickets' secondary indexes by name: an import into an empty store builds them once
at its end (see :meth:`SQLiteStore.bulk_import`)."""


def _ticket_update(columns: Sequence[int]) -> str:
    """The UPDATE of a ticket that sets only the :data:`codec.TICKET_COLUMNS` at
    ``columns``."""
    return _update("tickets", [codec.TICKET_COLUMNS[i] for i in columns])


def _retag(conn: Executor, ticket: Ticket, old: str | None, tenant: str) -> None:
    """Make the ticket's ``ticket_tags`` rows its tags, where they were ``old`` (the
    ``tags`` column it had)."""
    before = json.loads(old) if old else []
    created_at = codec.ts(ticket.created_at)
    now = set(ticket.tags)
    gone = [
        (tag, created_at, ticket.number, tenant) for tag in dict.fromkeys(before) if tag not in now
    ]
    if gone:
        conn.executemany(_TAG_DELETE, gone)
    kept = set(before)
    added = [(*row, tenant) for row in codec.tag_rows(ticket) if row[0] not in kept]
    if added:
        conn.executemany(_TAG_INSERT, added)


def _fill_ticket_tags(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM ticket_tags")  # rows of a table made by hand are not ours
    last = 0
    while rows := conn.execute(
        "SELECT rowid, tags, created_at, number FROM tickets "
        "WHERE rowid > ? AND tags IS NOT NULL ORDER BY rowid LIMIT 1000",
        (last,),
    ).fetchall():
        conn.executemany(  # (before tenants: the rows have none yet)
            "INSERT INTO ticket_tags (tag, created_at, number) VALUES (?,?,?)",
            [
                (tag, created_at, number)
                for _, tags, created_at, number in rows
                for tag in dict.fromkeys(json.loads(tags))
            ],
        )
        last = rows[-1][0]


def _create_schema(conn: sqlite3.Connection) -> None:
    for declared in schema.TABLES:
        for statement in versions.sqlite_create(declared.name):
            conn.execute(statement)


def _upgrade(conn: sqlite3.Connection, step: versions.Step, version: int) -> None:
    """Carry out one migration step of :data:`aftersales.storage._schema_versions.MIGRATIONS`."""
    if isinstance(step, versions.CreateTable):
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (step.table,)
        ).fetchone()
        if found is None:  # (or made already, by hand or by a test)
            for statement in versions.sqlite_create(step.table, version):
                conn.execute(statement)
    elif isinstance(step, versions.AddColumn):
        column = schema.table(step.table).column(step.column)
        conn.execute(f"ALTER TABLE {step.table} ADD COLUMN {schema.sqlite_column(column)}")
    elif isinstance(step, versions.CreateIndex):
        if step.index in versions.added_later(version)[1]:
            return  # a later step makes it as declared now (on columns it may add first)
        index = next(i for i in schema.INDEXES if i.name == step.index)
        conn.execute(schema.sqlite_index(index, if_not_exists=True))  # maybe made by hand
    elif isinstance(step, versions.DropIndex):
        conn.execute(f"DROP INDEX IF EXISTS {step.index}")
    elif isinstance(step, versions.FillTicketTags):
        _fill_ticket_tags(conn)
    elif isinstance(step, versions.Rekey):
        _rekey(conn, step.table, version)
    elif isinstance(step, versions.MoveTermsOutOfData):
        versions.move_terms(
            lambda last: conn.execute(
                "SELECT rowid, data FROM cases WHERE rowid > ? ORDER BY rowid LIMIT 1000",
                (last,),
            ).fetchall(),
            lambda rows: _execute_many(
                conn, "UPDATE cases SET data = ?, terms = ? WHERE rowid = ?", rows
            ),
            0,
        )
    elif isinstance(step, versions.EventsByRowid):
        found = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()
        if "WITHOUT ROWID" in found[0].upper():
            added, _ = versions.added_later(version)
            names = ", ".join(c for c in codec.EVENT_COLUMNS if ("events", c) not in added)
            create = versions.sqlite_create("events", version)[0]
            conn.execute(create.replace("CREATE TABLE events", "CREATE TABLE events_by_rowid", 1))
            conn.execute(f"INSERT INTO events_by_rowid ({names}) SELECT {names} FROM events")
            conn.execute("DROP TABLE events")
            conn.execute("ALTER TABLE events_by_rowid RENAME TO events")
    elif isinstance(step, versions.FillFromData):
        columns = versions.FILLED[step.version][step.table]
        assignments = ", ".join(f"{column} = ?" for column in columns)
        sources = ", ".join(versions.fill_sources(step.table))
        last = 0
        while rows := conn.execute(
            f"SELECT rowid, {sources} FROM {step.table} WHERE rowid > ? ORDER BY rowid LIMIT 1000",
            (last,),
        ).fetchall():
            _execute_many(
                conn,
                f"UPDATE {step.table} SET {assignments} WHERE rowid = ?",
                [(*versions.filled_values(step, *row[1:]), row[0]) for row in rows],
            )
            last = rows[-1][0]
    # WidenIds, ExactText: SQLite keeps text of any length and compares it exactly


def _rekey(conn: sqlite3.Connection, name: str, version: int) -> None:
    """Rebuild table ``name`` with its keys as declared at ``version`` (SQLite changes no
    key in place), its rows copied with their rowids; the indexes are the later steps'."""
    added, _ = versions.added_later(version)
    declared = schema.table(name)
    names = ", ".join(
        c.name for c in declared.columns if not c.rowid and (name, c.name) not in added
    )
    rowid = "" if declared.without_rowid else "rowid, "
    create = versions.sqlite_create(name, version)[0]
    conn.execute(create.replace(f"CREATE TABLE {name} (", f"CREATE TABLE {name}_rekeyed (", 1))
    conn.execute(f"INSERT INTO {name}_rekeyed ({rowid}{names}) SELECT {rowid}{names} FROM {name}")
    conn.execute(f"DROP TABLE {name}")
    conn.execute(f"ALTER TABLE {name}_rekeyed RENAME TO {name}")


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
    conn: Executor,
    events: Sequence[Event],
    notifications: Sequence[Notification],
    tenant: str,
) -> None:
    """Insert a change's events and outbox rows, serialising each event once."""
    event_json: dict[int, str] = {}
    rows = []
    for event in events:
        row = codec.event_row(event)
        event_json[id(event)] = row[-1]  # type: ignore[assignment]
        if row[_EVENT_LOGGED] is None:  # most events log no time: bound as '' (see _NULL)
            row = (*row[:_EVENT_LOGGED], "", *row[_EVENT_LOGGED + 1 :])
        rows.append((*row, tenant))
    # executemany binds and steps each row in C: a change of several rows (a return
    # opened, approved and sent its label) spares a call, a cursor and a statement-cache
    # lookup per row.
    # (A multi-row VALUES statement costs more: SQLite clears its larger register file
    # on every run.)
    if len(rows) == 1:
        conn.execute(_EVENT_INSERT, rows[0])
    elif rows:
        conn.executemany(_EVENT_INSERT, rows)
    if len(notifications) == 1:  # a ticket's step: one hook's row, no list built for it
        notification = notifications[0]
        conn.execute(
            _OUTBOX_INSERT,
            (
                *codec.notification_row(
                    notification, event_json.get(id(notification.event)), null=""
                ),
                tenant,
            ),
        )
    elif notifications:
        conn.executemany(
            _OUTBOX_INSERT,
            [
                (*codec.notification_row(n, event_json.get(id(n.event)), null=""), tenant)
                for n in notifications
            ],
        )


ACKNOWLEDGE = (
    "UPDATE outbox SET status = 'delivered', delivered_at = ?, lease_until = NULL "
    "WHERE key = ? AND status = 'pending' AND tenant = ?"
)


def _acknowledge(conn: Executor, keys: Sequence[str], at: datetime, tenant: str) -> None:
    """Mark the pending outbox rows ``keys`` delivered at ``at`` (several through
    executemany: an ``UPDATE ... key IN (...)`` costs SQLite more than the calls it
    saves)."""
    if len(keys) == 1:
        conn.execute(ACKNOWLEDGE, (codec.ts(at), keys[0], tenant))
    else:
        conn.executemany(ACKNOWLEDGE, [(codec.ts(at), key, tenant) for key in keys])
