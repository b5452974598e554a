"""The connection of :class:`~aftersales.storage.sqlite.SQLiteStore`: its lock, its
transactions (``BEGIN IMMEDIATE``), and the translation of the driver's errors into ours."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeAlias, TypeVar

from aftersales.exceptions import AftersalesError, FieldError, InvalidInput, StorageError

T = TypeVar("T")

Executor: TypeAlias = "sqlite3.Connection | sqlite3.Cursor"
"""What a write runs its statements on: the connection, or the cursor a store's commit
keeps (see :meth:`SQLiteConnection._atomically`)."""

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


def check_cache_mib(cache_mib: object) -> int:
    """``cache_mib`` if it is a whole number of MiB from 1 to 1 TiB: the page cache of
    :class:`~aftersales.SQLiteStore`'s connection (see :meth:`SQLiteConnection._cache`)."""
    if (
        isinstance(cache_mib, bool)
        or not isinstance(cache_mib, int)
        or not 0 < cache_mib <= 1 << 20
    ):
        raise InvalidInput(
            "SQLiteStore",
            [FieldError(("cache_mib",), "must be a whole number of MiB, such as 64")],
        )
    return cache_mib


class SQLiteConnection:
    """One sqlite3 connection shared by threads under one lock, with the transactions the
    store's parts run in."""

    path: str
    _conn: sqlite3.Connection
    _cursor: sqlite3.Cursor
    """The cursor of the one-change commits (see :meth:`_atomically`)."""
    _lock: threading.RLock

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

    def _atomically(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one BEGIN IMMEDIATE transaction, all of it or none, and return
        what it returns. A plain call rather than a context manager: this is the hot path
        of every transition.

        BEGIN and COMMIT run on the kept cursor: ``Connection.execute`` makes a cursor
        and registers it with the connection each time (1.3k instructions a statement).
        ``work`` may run its own statements on that cursor too, when it reads no result
        while running another (a cursor runs one statement at a time): the statement it
        holds last is reset by the COMMIT run on it."""
        with self._lock:
            conn = self._conn
            cursor = self._cursor
            try:
                cursor.execute("BEGIN IMMEDIATE")
            except Exception as error:
                raise _translate(error, self.path) from error
            try:
                result = work(conn)
            except BaseException as error:
                if conn.in_transaction:
                    cursor.execute("ROLLBACK")
                translated = _translate(error, self.path)
                if translated is error:
                    raise
                raise translated from error
            try:
                cursor.execute("COMMIT")
            except Exception as error:
                cursor.execute("ROLLBACK")
                raise _translate(error, self.path) from error
            return result

    def _cache(self, cache_mib: int) -> None:
        """Let the connection keep up to ``cache_mib`` MiB of pages. SQLite's own default
        is 2 MB (about 500 pages): at a million tickets the inner pages of the tickets'
        indexes alone take several times that, so every transition read most of its
        pages again (13 of the 20 pages a transition read at 1M, issue 23). The cache
        only grows as pages are read: a database smaller than it never takes more than
        its own size, and it is freed when the store closes."""
        with self._guard():
            self._conn.execute(f"PRAGMA cache_size = -{check_cache_mib(cache_mib) * 1024}")

    def _one(self, sql: str, params: Sequence[object], build: Callable[[str], T]) -> T | None:
        with self._guard():
            row = self._conn.execute(sql, params).fetchone()
        return None if row is None else build(row[0])
