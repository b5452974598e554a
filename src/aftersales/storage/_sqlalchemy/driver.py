"""Sending the SQLAlchemy recorder's statements to the driver's own connection, inside
SQLAlchemy's transaction, where nothing listening or logging would miss them (see
:func:`driver_of`): on SQLite, SQLAlchemy's execution of a statement cost ten times the
driver's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound, StatementError

__all__ = ["Result", "driver_of", "send"]


def _as_sqlalchemy(
    conn: Connection, error: BaseException, sql: str, params: Any, cursor: Any
) -> StatementError | None:
    """What ``conn.exec_driver_sql`` would have raised for ``error`` of a statement sent
    to the driver's own connection: a driver's error wrapped in SQLAlchemy's
    (:class:`~sqlalchemy.exc.IntegrityError` for a broken constraint...), any other as
    it is (None). The connection is invalidated, as there, when the error says it is
    lost or when the statement was interrupted (KeyboardInterrupt...)."""
    dialect = conn.dialect
    base = dialect.loaded_dbapi.Error
    if not isinstance(error, base):
        if not isinstance(error, Exception):
            conn.invalidate(error)
        return None
    lost = bool(dialect.is_disconnect(error, conn.connection, cursor))
    wrapped = DBAPIError.instance(
        sql,
        params,
        error,
        base,
        hide_parameters=conn.engine.hide_parameters,
        connection_invalidated=lost,
        dialect=dialect,
        ismulti=isinstance(params, list),
    )
    if lost:
        conn.invalidate(error)
    return wrapped


class Result(Protocol):
    """What the store reads of a statement's result: a CursorResult's, or
    :class:`_DriverResult`'s."""

    @property
    def rowcount(self) -> int: ...

    def fetchall(self) -> Sequence[Any]: ...

    def scalar(self) -> Any: ...

    def scalar_one(self) -> Any: ...


class _DriverResult:
    """The result of a statement sent to the driver's own connection (see
    :func:`send`): the rows it changed, and its rows, all fetched (as
    tuples: the store reads them by position)."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, cursor: Any) -> None:
        self.rowcount: int = cursor.rowcount
        self._rows: list[Any] = cursor.fetchall() if cursor.description is not None else []

    def fetchall(self) -> list[Any]:
        return self._rows

    def scalar(self) -> Any:
        """The first column of the first row (None without rows), as a CursorResult's."""
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        """The first column of the one row, as a CursorResult's."""
        if not self._rows:
            raise NoResultFound("No row was found when one was required")
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self._rows[0][0]


def driver_of(direct: bool, conn: Connection) -> Any:
    """The driver's own connection of ``conn`` where the store may send its statements
    there (None: through ``conn.exec_driver_sql``); ``direct``: the engine's dialect and
    driver allow it (SQLite on pysqlite).

    On SQLite (pysqlite), SQLAlchemy's execution of a statement of the store's (its
    context, cursor and result objects) cost ten times the driver's own: ~100k
    instructions for a one-row SELECT the driver runs in 10k. The transaction is still
    SQLAlchemy's (begun by the dialect's ``do_begin``, committed or rolled back by the
    connection) and the driver's errors are raised as SQLAlchemy would raise them. What
    else SQLAlchemy does per statement is for listeners (cursor, execute, error events)
    and statement logging: with any of those on the connection, its engine or its
    dialect, every statement goes through SQLAlchemy, so they all see it. (Read off
    attributes SQLAlchemy keeps private; should one go, every statement takes the
    general path. The listeners of the connection and its engine are looked for at each
    statement, :func:`_heard`.)"""
    if not direct:
        return None
    if getattr(conn.dialect, "_has_events", True) or getattr(conn, "_echo", True):
        return None
    return conn.connection.dbapi_connection


def _heard(conn: Connection) -> bool:
    """Whether ``conn`` or its engine has listeners now (a listener added to the engine
    later is heard from its next statement on, as SQLAlchemy checks at each)."""
    return bool(getattr(conn, "_has_events", True) or getattr(conn.engine, "_has_events", True))


def send(conn: Connection, driver: Any, sql: str, params: Any) -> Result:
    """Execute ``sql`` with ``params`` (a list of them: once per item, one executemany),
    on ``driver`` (what :func:`driver_of` gave for ``conn``) in the connection's
    transaction (begun first, as SQLAlchemy's autobegin would), else (None, or a listener
    added since) through SQLAlchemy."""
    if driver is None or _heard(conn):
        return conn.exec_driver_sql(sql, params)
    if not conn.in_transaction():
        conn.begin()
    cursor = driver.cursor()
    try:
        if isinstance(params, list):
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
        return _DriverResult(cursor)
    except BaseException as error:
        wrapped = _as_sqlalchemy(conn, error, sql, params, cursor)
        if wrapped is None:
            raise
        raise wrapped from error
    finally:
        cursor.close()
