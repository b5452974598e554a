""":class:`SQLiteRecorder`: the :class:`~aftersales.storage.recorder.Recorder` port on an
SQLite database, with statements rendered once per shape and kept."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from typing import Any, Literal, TypeVar

from aftersales.exceptions import AftersalesError
from aftersales.storage._recorder import Records, Row
from aftersales.storage._sqlite.connection import SQLiteConnection
from aftersales.storage._sqlite.statements import _OUTBOX_SELECT

T = TypeVar("T")


class SQLiteRecorder(SQLiteConnection):
    """Rows in an SQLite file (or ``":memory:"``), opened and upgraded as
    :class:`~aftersales.SQLiteStore` opens it (same options). Every transaction is
    ``BEGIN IMMEDIATE``: it holds the database's write lock, so every ``hold`` key too.
    """

    def __init__(
        self,
        path: str | PathLike[str] = "aftersales.db",
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout: float = 10.0,
        file_mode: int = 0o600,
    ) -> None:
        from aftersales.storage.sqlite import SQLiteStore

        opened = SQLiteStore(
            path, synchronous=synchronous, busy_timeout=busy_timeout, file_mode=file_mode
        )
        self.path, self._conn, self._lock = opened.path, opened._conn, opened._lock
        self._sql: dict[tuple[Any, ...], str] = {}

    # ------------------------------------------------------------------ Recorder

    def atomically(self, work: Callable[[Records], T], *, hold: Sequence[str] = ()) -> T:
        # BEGIN IMMEDIATE takes the database's write lock, which holds every key too.
        return self._atomically(lambda _connection: work(self))

    def reading(self, work: Callable[[Records], T]) -> T:
        with self._guard():
            return work(self)

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
        columns = tuple(row)
        sql = self._statement(
            ("insert", table, columns),
            lambda: (
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({','.join('?' * len(columns))})"
            ),
        )
        try:
            self._conn.execute(sql, tuple(row.values()))
        except sqlite3.IntegrityError:  # the failed statement wrote nothing
            return False
        return True

    def update(self, table: str, key: str, version: int, row: Mapping[str, Any]) -> bool:
        columns = tuple(row)
        sql = self._statement(
            ("update", table, columns),
            lambda: (
                f"UPDATE {table} SET {', '.join(f'{c}=?' for c in columns)} "
                "WHERE id=? AND version=?"
            ),
        )
        return int(self._conn.execute(sql, (*row.values(), key, version)).rowcount) == 1

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
    ) -> list[Row]:
        since, until = since or {}, until or {}
        shape = ("select", table, *where, "|", *since, "|", *until, "|", *order, "|", *columns)

        def render() -> str:
            clauses = [f"{c} = ?" for c in where]
            clauses += [f"{c} >= ?" for c in since] + [f"{c} < ?" for c in until]
            sql = f"SELECT {', '.join(columns) or '*'} FROM {table}"
            if clauses:
                sql += " WHERE " + " AND ".join(clauses)
            sql += f" ORDER BY {', '.join((*order, 'rowid'))}"
            return sql + " LIMIT ? OFFSET ?"

        params = (*where.values(), *since.values(), *until.values(), limit or -1, offset)
        rows = self._conn.execute(self._statement(shape, render), params).fetchall()
        return [dict(row) for row in rows]

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
                f"SELECT {', '.join(columns) or '*'} FROM {table} "
                f"WHERE {column} IS NOT NULL AND {column} <= ? "
                f"ORDER BY {', '.join(order)} LIMIT ?"
            ),
        )
        return [dict(row) for row in self._conn.execute(sql, (at, limit)).fetchall()]

    def append(
        self, events: Sequence[Mapping[str, Any]], outbox: Sequence[Mapping[str, Any]]
    ) -> bool:
        return all(self.insert("events", row) for row in events) and all(
            self.insert("outbox", row) for row in outbox
        )

    # ------------------------------------------------------------------ outbox

    def claim(self, now: str, lease_until: str, limit: int) -> list[Row]:
        rows = self._conn.execute(
            f"SELECT {_OUTBOX_SELECT} FROM outbox WHERE status = 'pending' "
            "AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?) "
            "ORDER BY next_attempt_at, key LIMIT ?",
            (now, now, limit),
        ).fetchall()
        self._conn.executemany(
            "UPDATE outbox SET lease_until = ? WHERE key = ?",
            [(lease_until, row["key"]) for row in rows],
        )
        return [dict(row) for row in rows]

    def acknowledge(self, keys: Sequence[str], at: str) -> None:
        self._conn.executemany(
            "UPDATE outbox SET status = 'delivered', delivered_at = ?, lease_until = NULL "
            "WHERE key = ? AND status = 'pending'",
            [(at, key) for key in keys],
        )

    def fail(self, key: str, error: str, retry_at: str | None, status: str) -> None:
        self._conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, lease_until = NULL, "
            "next_attempt_at = COALESCE(?, next_attempt_at), status = ? "
            "WHERE key = ? AND status = 'pending'",
            (error, retry_at, status, key),
        )

    # ------------------------------------------------------------------ customers, counters

    def contact_owners(self, contacts: Sequence[tuple[str, str]]) -> list[str | None]:
        owners: list[str | None] = []
        for channel, address in contacts:
            row = self._conn.execute(
                "SELECT customer_id FROM contact_points WHERE channel = ? AND address = ?",
                (channel, address),
            ).fetchone()
            owners.append(None if row is None else str(row[0]))
        return owners

    def put_customer(
        self, customer_id: str, data: str, contacts: Sequence[tuple[str, str]]
    ) -> None:
        conn = self._conn
        conn.execute("DELETE FROM contact_points WHERE customer_id = ?", (customer_id,))
        conn.execute(
            "INSERT OR REPLACE INTO customers (id, data) VALUES (?, ?)", (customer_id, data)
        )
        conn.executemany(
            "INSERT OR REPLACE INTO contact_points (channel, address, customer_id) VALUES (?,?,?)",
            [(channel, address, customer_id) for channel, address in contacts],
        )

    def count(self, name: str, *, add: int = 0, at_least: int = 0) -> int:
        self._conn.execute(
            "UPDATE counters SET value = MAX(value + ?, ?) WHERE name = ?", (add, at_least, name)
        )
        row = self._conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise AftersalesError(f"no counter {name!r}")
        return int(row[0])

    def put(self, table: str, row: Mapping[str, Any]) -> None:
        columns = tuple(row)
        sql = self._statement(
            ("put", table, columns),
            lambda: (
                f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) "
                f"VALUES ({','.join('?' * len(columns))})"
            ),
        )
        self._conn.execute(sql, tuple(row.values()))
