""":class:`SQLiteRecorder`: the :class:`~aftersales.storage.recorder.Recorder` port on an
SQLite database (opened, created and upgraded here), with statements rendered once per
shape and kept. :class:`~aftersales.SQLiteStore` is :class:`RecordStore` on it."""

from __future__ import annotations

import copy
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from typing import Any, Literal, TypeVar

from aftersales.exceptions import (
    AftersalesError,
    FieldError,
    InvalidInput,
    SchemaVersionError,
    StorageError,
)
from aftersales.storage import _schema_versions as versions
from aftersales.storage._codec import SCHEMA_VERSION
from aftersales.storage._recorder import Records, Row
from aftersales.storage._sqlite.connection import SQLiteConnection, _create_file, _translate
from aftersales.storage._sqlite.statements import (
    _OUTBOX_SELECT,
    ACKNOWLEDGE,
    _build_missing_indexes,
    _create_schema,
    _upgrade,
)
from aftersales.storage._tenant import check_tenant

T = TypeVar("T")
_NONE: Mapping[str, Any] = {}


def _listed(table: str, columns: Sequence[str], prefix: str = "") -> str:
    """The columns a SELECT of ``table`` lists: a ticket's JSON as bytes, which the
    decoder parses as they are, where as TEXT sqlite3 makes a str of it that pydantic-core
    then encodes to UTF-8 again (22% fewer instructions a page of 100 tickets read and
    decoded, benchmarks/bench_rows.py)."""
    return ", ".join(
        f"CAST({prefix}data AS BLOB) AS data"
        if table == "tickets" and column == "data"
        else prefix + column
        for column in columns
    )


_NARROWING = {"cases": frozenset({"ticket_id", "order_id", "serial", "parent_id"})}
"""Per table, the filters that narrow a find to a few rows through an index of their own."""
_BROAD = {"cases": "kind"}
"""Per table, a filter that matches many rows but leads an index in find order
(``cases_kind_created``): beside a narrowing filter, SQLite would take that index to
skip the sort and read every case of the kind (a ticket's returns among all returns)."""


def _term(name: str, table: str, column: str, where: Mapping[str, Any]) -> str:
    """``column``'s equality, written ``+column`` (not an index term) where it is the
    table's broad filter and a narrowing one is given too."""
    if column == _BROAD.get(table) and not _NARROWING[table].isdisjoint(where):
        return f"+{name}.{column} = ?"
    return f"{name}.{column} = ?"


def _matching(
    table: str,
    where: Mapping[str, Any],
    since: Mapping[str, Any],
    until: Mapping[str, Any],
    after: Mapping[str, Any],
    tags: int,
    listed: str,
) -> tuple[str, str, str]:
    """The ``SELECT listed FROM ... WHERE ...`` of a select or a count, parameters in the
    order: (with tags, the tenant and the tags), ``where``, ``since``, ``until``,
    ``after``; the name its table has there and its column that orders ties ('' for
    none)."""
    if not tags:
        name = table
        head = f"SELECT {listed} FROM {table}"
        tail = "rowid"  # ties in the order rows were written
        clauses = []
    else:
        # the first tag's rows in ticket_tags, in find order; each other tag looked up
        # by the whole key of its row
        name = "t"
        head = (
            f"SELECT {listed} FROM ticket_tags g0 "
            f"JOIN {table} t ON t.tenant = g0.tenant AND t.number = g0.number "
            "AND t.created_at = g0.created_at"
        )
        tail = ""  # a ticket's number is its own: no ties
        clauses = ["g0.tenant = ?", "g0.tag = ?"] + [
            f"EXISTS (SELECT 1 FROM ticket_tags g{i} WHERE g{i}.tenant = g0.tenant "
            f"AND g{i}.tag = ? AND g{i}.created_at = g0.created_at AND g{i}.number = g0.number)"
            for i in range(1, tags)
        ]
    clauses += [_term(name, table, c, where) for c in where]
    clauses += [f"{name}.{c} >= ?" for c in since] + [f"{name}.{c} < ?" for c in until]
    if after:
        keyset = ", ".join(f"{name}.{c}" for c in after)
        clauses.append(f"({keyset}) > ({', '.join('?' * len(after))})")
    return head + (" WHERE " + " AND ".join(clauses) if clauses else ""), name, tail


def _select(
    table: str,
    where: Mapping[str, Any],
    since: Mapping[str, Any],
    until: Mapping[str, Any],
    order: Sequence[str],
    columns: Sequence[str],
    after: Mapping[str, Any],
    tags: int,
) -> str:
    """The SELECT of :meth:`SQLiteRecorder.select`, parameters in the order: (with tags,
    the tenant and the tags), ``where``, ``since``, ``until``, ``after``, limit, offset."""
    listed = _listed(table, columns, "t." if tags else "") or ("t.*" if tags else "*")
    sql, name, tail = _matching(table, where, since, until, after, tags, listed)
    ordered = [
        f"g0.{c}" if tags and c in ("created_at", "number") else f"{name}.{c}" for c in order
    ]
    ordered += [f"{name}.{tail}"] if tail else []
    return sql + f" ORDER BY {', '.join(ordered)} LIMIT ? OFFSET ?"


def _count(
    table: str,
    where: Mapping[str, Any],
    since: Mapping[str, Any],
    until: Mapping[str, Any],
    after: Mapping[str, Any],
    tags: int,
) -> str:
    """The COUNT of :meth:`SQLiteRecorder.count_rows`, parameters as :func:`_select`'s.
    The rows are counted in a subquery that stops at its LIMIT (``COUNT(*)`` of the
    whole WHERE would read every match), with no ORDER BY: SQLite reads the index of the
    filters alone, a covering one where there is (its entries, never a row)."""
    inner, _, _ = _matching(table, where, since, until, after, tags, "1")
    return f"SELECT COUNT(*) FROM ({inner} LIMIT ? OFFSET ?)"


class SQLiteRecorder(SQLiteConnection):
    """Rows in an SQLite file (or ``":memory:"``), with the options of
    :class:`~aftersales.SQLiteStore`. Every transaction is ``BEGIN IMMEDIATE``: it holds
    the database's write lock, so every ``hold`` key too.

    Every row it writes, reads, counts or changes is one of ``tenant``'s (see
    :meth:`for_tenant`).
    """

    tenant: str
    """The shop whose rows this recorder reads and writes ('' for a database of one)."""

    def __init__(
        self,
        path: str | PathLike[str] = "aftersales.db",
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout: float = 10.0,
        file_mode: int = 0o600,
        tenant: str = "",
    ) -> None:
        self.tenant = check_tenant(tenant)
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
        self._sql: dict[tuple[Any, ...], str] = {}
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
        self._cursor = self._conn.cursor()
        try:
            with self._guard():
                if self.path != ":memory:":
                    self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute(f"PRAGMA synchronous={synchronous}")
                # freed space is zeroed: a rewritten row (an erasure) leaves no old copy
                self._conn.execute("PRAGMA secure_delete=ON")
                self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def for_tenant(self, tenant: str) -> SQLiteRecorder:
        """A recorder of ``tenant``'s rows on this one's connection (its lock, its
        statements): no schema check, nothing opened."""
        scoped = copy.copy(self)
        scoped.tenant = check_tenant(tenant)
        return scoped

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file and empty it, so that pages
        rewritten since (an erasure's) keep no old copy in the log."""
        with self._guard():
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

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
                    for step in versions.MIGRATIONS[version]:
                        _upgrade(conn, step, version)
            if found != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            _build_missing_indexes(conn)  # an import killed before it could rebuild them

    # ------------------------------------------------------------------ Recorder

    def atomically(self, work: Callable[[Records], T], *, hold: Sequence[str] = ()) -> T:
        # BEGIN IMMEDIATE takes the database's write lock, which holds every key too.
        return self._atomically(lambda _connection: work(self))

    def reading(self, work: Callable[[Records], T]) -> T:
        # a plain try rather than _guard's context manager: every read passes here
        with self._lock:
            try:
                return work(self)
            except Exception as error:
                translated = _translate(error, self.path)
                if translated is error:
                    raise
                raise translated from error

    def close(self) -> None:
        """Close the connection; the recorder cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    # ------------------------------------------------------------------ subjects

    def _statement(self, key: tuple[Any, ...], render: Callable[[], str]) -> str:
        sql = self._sql.get(key)
        if sql is None:
            sql = self._sql[key] = render()
        return sql

    def insert(self, table: str, row: Mapping[str, Any]) -> bool:
        if "tenant" in row:  # a row read back: it goes to this recorder's tenant
            row = {k: v for k, v in row.items() if k != "tenant"}
        columns = (*row, "tenant")
        sql = self._statement(
            ("insert", table, columns),
            # a taken key writes nothing and says so; any other refusal (a NOT NULL, say)
            # is an error, not a key someone else holds
            lambda: (
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({','.join('?' * len(columns))}) ON CONFLICT DO NOTHING"
            ),
        )
        return int(self._conn.execute(sql, (*row.values(), self.tenant)).rowcount) == 1

    def update(
        self,
        table: str,
        key: str,
        version: int,
        row: Mapping[str, Any],
        *,
        keeping: Mapping[str, Any] | None = None,
    ) -> bool:
        columns = tuple(row)
        kept = tuple(keeping or _NONE)
        sql = self._statement(
            ("update", table, columns, kept),
            lambda: (
                f"UPDATE {table} SET {', '.join(f'{c}=?' for c in columns)} "
                "WHERE id=? AND version=? AND tenant=?" + "".join(f" AND {c} IS ?" for c in kept)
            ),
        )
        params = (*row.values(), key, version, self.tenant, *(keeping or _NONE).values())
        return int(self._conn.execute(sql, params).rowcount) == 1

    def delete(self, table: str, where: Mapping[str, Any]) -> int:
        where = {"tenant": self.tenant, **where}
        keys = tuple(where)
        sql = self._statement(
            ("delete", table, keys),
            lambda: f"DELETE FROM {table} WHERE {' AND '.join(f'{k}=?' for k in keys)}",
        )
        return int(self._conn.execute(sql, tuple(where.values())).rowcount)

    def rewrite(self, table: str, where: Mapping[str, Any], row: Mapping[str, Any]) -> int:
        columns = tuple(row)
        keys = tuple(where)
        sql = self._statement(
            ("rewrite", table, keys, columns),
            lambda: (
                f"UPDATE {table} SET {', '.join(f'{c}=?' for c in columns)} "
                f"WHERE tenant=?{''.join(f' AND {k}=?' for k in keys)}"
            ),
        )
        values = (*row.values(), self.tenant, *where.values())
        return int(self._conn.execute(sql, values).rowcount)

    def select(
        self,
        table: str,
        where: Mapping[str, Any],
        *,
        since: Mapping[str, Any] | None = None,
        until: Mapping[str, Any] | None = None,
        order: Sequence[str] = (),
        limit: int | None = None,
        offset: int = 0,
        columns: Sequence[str] = (),
        after: Mapping[str, Any] | None = None,
        tags: Sequence[str] = (),
    ) -> list[Row]:
        since, until, after = since or _NONE, until or _NONE, after or _NONE
        where = {"tenant": self.tenant, **where}  # every row read is the tenant's
        shape: tuple[Any, ...] = (
            table,
            tuple(where),
            tuple(since),
            tuple(until),
            tuple(order),
            tuple(columns),
        )
        if after or tags:
            shape += (tuple(after), len(tags))
        params = (
            *((self.tenant,) if tags else ()),  # the tag rows' tenant
            *tags,
            *where.values(),
            *since.values(),
            *until.values(),
            *after.values(),
            limit or -1,
            offset,
        )
        sql = self._sql.get(shape) or self._statement(
            shape, lambda: _select(table, where, since, until, order, columns, after, len(tags))
        )
        return [dict(row) for row in self._conn.execute(sql, params).fetchall()]

    def count_rows(
        self,
        table: str,
        where: Mapping[str, Any],
        *,
        since: Mapping[str, Any] | None = None,
        until: Mapping[str, Any] | None = None,
        limit: int | None = None,
        offset: int = 0,
        after: Mapping[str, Any] | None = None,
        tags: Sequence[str] = (),
    ) -> int:
        since, until, after = since or _NONE, until or _NONE, after or _NONE
        where = {"tenant": self.tenant, **where}  # every row counted is the tenant's
        shape = ("count", table, tuple(where), tuple(since), tuple(until), tuple(after), len(tags))
        params = (
            *((self.tenant,) if tags else ()),  # the tag rows' tenant
            *tags,
            *where.values(),
            *since.values(),
            *until.values(),
            *after.values(),
            limit or -1,
            offset,
        )
        sql = self._sql.get(shape) or self._statement(
            shape, lambda: _count(table, where, since, until, after, len(tags))
        )
        return int(self._conn.execute(sql, params).fetchone()[0])

    def due(
        self,
        table: str,
        column: str,
        at: str,
        order: Sequence[str],
        limit: int,
        *,
        columns: Sequence[str] = (),
    ) -> list[Row]:
        sql = self._statement(
            ("due", table, column, tuple(order), tuple(columns)),
            lambda: (
                f"SELECT {_listed(table, columns) or '*'} FROM {table} "
                f"WHERE tenant = ? AND {column} IS NOT NULL AND {column} <= ? "
                f"ORDER BY {', '.join(order)} LIMIT ?"
            ),
        )
        rows = self._conn.execute(sql, (self.tenant, at, limit)).fetchall()
        return [dict(row) for row in rows]

    def append(
        self, events: Sequence[Mapping[str, Any]], outbox: Sequence[Mapping[str, Any]]
    ) -> bool:
        return all(self.insert("events", row) for row in events) and all(
            self.insert("outbox", row) for row in outbox
        )

    # ------------------------------------------------------------------ outbox

    def claim(self, now: str, lease_until: str, limit: int) -> list[Row]:
        rows = self._conn.execute(
            f"SELECT {_OUTBOX_SELECT} FROM outbox WHERE tenant = ? AND status = 'pending' "
            "AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?) "
            "ORDER BY next_attempt_at, key LIMIT ?",
            (self.tenant, now, now, limit),
        ).fetchall()
        self._conn.executemany(
            "UPDATE outbox SET lease_until = ? WHERE key = ? AND tenant = ?",
            [(lease_until, row["key"], self.tenant) for row in rows],
        )
        return [dict(row) for row in rows]

    def acknowledge(self, keys: Sequence[str], at: str) -> None:
        if len(keys) == 1:  # the common case: one hook's row, acknowledged by its commit
            self._conn.execute(ACKNOWLEDGE, (at, keys[0], self.tenant))
        else:
            self._conn.executemany(ACKNOWLEDGE, [(at, key, self.tenant) for key in keys])

    def fail(self, key: str, error: str, retry_at: str | None, status: str) -> None:
        self._conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, lease_until = NULL, "
            "next_attempt_at = COALESCE(?, next_attempt_at), status = ? "
            "WHERE key = ? AND status = 'pending' AND tenant = ?",
            (error, retry_at, status, key, self.tenant),
        )

    # ------------------------------------------------------------------ customers, counters

    def contact_owners(self, contacts: Sequence[tuple[str, str]]) -> list[str | None]:
        owners: list[str | None] = []
        for channel, address in contacts:
            row = self._conn.execute(
                "SELECT customer_id FROM contact_points "
                "WHERE tenant = ? AND channel = ? AND address = ?",
                (self.tenant, channel, address),
            ).fetchone()
            owners.append(None if row is None else str(row[0]))
        return owners

    def put_customer(
        self, customer_id: str, data: str, contacts: Sequence[tuple[str, str]]
    ) -> None:
        conn, tenant = self._conn, self.tenant
        conn.execute(
            "DELETE FROM contact_points WHERE tenant = ? AND customer_id = ?",
            (tenant, customer_id),
        )
        conn.execute(
            "INSERT OR REPLACE INTO customers (tenant, id, data) VALUES (?, ?, ?)",
            (tenant, customer_id, data),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO contact_points (tenant, channel, address, customer_id) "
            "VALUES (?,?,?,?)",
            [(tenant, channel, address, customer_id) for channel, address in contacts],
        )

    def count(self, name: str, *, add: int = 0, at_least: int = 0) -> int:
        key = (add, at_least, name, self.tenant)
        update = "UPDATE counters SET value = MAX(value + ?, ?) WHERE name = ? AND tenant = ?"
        if self._conn.execute(update, key).rowcount == 0 and name == "ticket_number":
            # a tenant's first ticket: its numbers start at 1, as a new database's do
            self._conn.execute(
                "INSERT INTO counters (tenant, name, value) VALUES (?, ?, 1)", (self.tenant, name)
            )
            self._conn.execute(update, key)
        row = self._conn.execute(
            "SELECT value FROM counters WHERE name = ? AND tenant = ?", (name, self.tenant)
        ).fetchone()
        if row is None:
            raise AftersalesError(f"no counter {name!r}")
        return int(row[0])

    def put(self, table: str, row: Mapping[str, Any]) -> None:
        if "tenant" in row:  # a row read back: it goes to this recorder's tenant
            row = {k: v for k, v in row.items() if k != "tenant"}
        columns = (*row, "tenant")
        sql = self._statement(
            ("put", table, columns),
            lambda: (
                f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) "
                f"VALUES ({','.join('?' * len(columns))})"
            ),
        )
        self._conn.execute(sql, (*row.values(), self.tenant))
