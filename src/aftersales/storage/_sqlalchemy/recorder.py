""":class:`SQLAlchemyRecorder`: the :class:`~aftersales.storage.recorder.Recorder` port on
SQLAlchemy 2 Core (PostgreSQL, MariaDB/MySQL, SQLite), with each statement built from the
shared tables, rendered for the engine's driver once per shape and kept.

The recorder opens the database: it creates the schema in a new one and upgrades an
older one (:mod:`aftersales.storage._sqlalchemy.connection`).
:class:`~aftersales.SQLAlchemyStore` is :class:`RecordStore` on it.

Where the dialects differ:

- a row whose key is taken: the inserts say ``ON CONFLICT DO NOTHING`` and count the
  rows written on PostgreSQL (which would otherwise abort the whole transaction) and
  SQLite; MariaDB and MySQL have no such clause (``INSERT IGNORE`` would also pass over
  values it cuts short), but undo the failed statement only, and the insert catches
  their duplicate-key error. Any other refusal (a NULL where none may be) is a
  :class:`~aftersales.StorageError`;
- insert or replace: ``ON CONFLICT ... DO UPDATE`` (PostgreSQL, SQLite),
  ``ON DUPLICATE KEY UPDATE`` (MariaDB, MySQL);
- ``hold`` keys: see :meth:`SQLAlchemyRecorder.atomically`;
- the order rows were written in, which orders ties: SQLite's rowid has no match on the
  other databases, so a message is numbered in its ``position`` column, one past its
  ticket's last (:data:`~aftersales.storage._sqlalchemy.tables.WRITE_ORDER`).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, TypeVar

try:
    import sqlalchemy as sa
    from sqlalchemy.dialects import mysql, postgresql, sqlite
    from sqlalchemy.engine import Connection, CursorResult, Engine
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'SQLAlchemyRecorder needs the sql extra: pip install "aftersales[sql]"'
    ) from error

from aftersales.exceptions import FieldError, InvalidInput, StorageError
from aftersales.storage import _codec as codec
from aftersales.storage import _schema as schema
from aftersales.storage._recorder import Records, Row
from aftersales.storage._sqlalchemy.connection import (
    _render,
    _translate,
    drop_schema,
    migrate,
    open_engine,
    read_schema_version,
    reading_on,
)
from aftersales.storage._sqlalchemy.tables import (
    _ORDER_LOCK_SECONDS,
    WRITE_ORDER,
    metadata,
)
from aftersales.storage._sqlalchemy.transaction import TicketRow, _Transaction
from aftersales.storage._tenant import check_tenant

T = TypeVar("T")
Rendered = tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]] | None]
"""A statement's SQL for the engine's driver, and what takes its parameters out of a
mapping in the statement's order when the driver takes positional parameters (None: it
takes the mapping, by name)."""
Prepared = tuple[str, Callable[[Sequence[Any]], Any] | None]
"""A statement's SQL for the engine's driver, and what makes the driver's parameters of
values given in an order of the caller's (None: the values as they are)."""

_INSERTS: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
"""The INSERT of the databases with ``ON CONFLICT`` clauses."""
_ONE: sa.ColumnClause[Any] = sa.literal_column("1")
_WRITTEN_TICKETS = 4096
"""How many tickets' last committed rows a recorder keeps, to write only what changed."""
_ZERO: sa.ColumnClause[Any] = sa.literal_column("0")


TENANT_SETTING = "aftersales.tenant"
"""The PostgreSQL setting that names a transaction's tenant, which the row-level security
policies compare every row's tenant with (see :func:`~aftersales.storage.sqlalchemy.
row_level_security_statements`)."""
_TENANT_OPTION = "aftersales_tenant"
"""The execution option of a recorder's engine that names its tenant, for the listener
that sets :data:`TENANT_SETTING` as each of its transactions begins."""


def _set_tenant(conn: Connection) -> None:
    """As a transaction begins on an engine of a recorder with row-level security: name
    its tenant for the policies, for that transaction only (a pooled connection keeps no
    tenant)."""
    tenant = conn.get_execution_options().get(_TENANT_OPTION)
    if tenant is not None:
        conn.exec_driver_sql(
            "SELECT set_config(%(name)s, %(tenant)s, true)",
            {"name": TENANT_SETTING, "tenant": tenant},
        )


def _from_mapping(order: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """What takes the parameters ``order`` names out of a mapping, as a tuple (an
    itemgetter, in C, rather than a generator per statement)."""
    if len(order) == 1:
        (name,) = order
        return lambda params: (params[name],)
    if not order:
        return lambda params: ()
    return itemgetter(*order)


def _from_values(
    names: Sequence[str], order: Sequence[str] | None
) -> Callable[[Sequence[Any]], Any] | None:
    """What makes a driver's parameters of values in the order of ``names``: a mapping
    for a driver that takes them by name (``order`` None); for one that takes them by
    position, nothing when the statement binds them in that order already (an INSERT of
    those columns), else the values in the statement's ``order``."""
    if order is None:
        return lambda values: dict(zip(names, values, strict=True))
    if tuple(order) == tuple(names):
        return None
    at = [names.index(name) for name in order]
    if len(at) == 1:
        (only,) = at
        return lambda values: (values[only],)
    return itemgetter(*at)


def _lock_name(key: str) -> str:
    """The MariaDB/MySQL named lock of a ``hold`` key, at most 64 characters. An order's
    (``order:<id>``) is the name SQLAlchemyStore took for it before it ran on this
    recorder, so a process of an older version is kept out too."""
    kind, colon, value = key.partition(":")
    name = f"aftersales.{kind}:{hashlib.sha1(value.encode(), usedforsecurity=False).hexdigest()}"
    if colon and len(name) <= 64:
        return name
    return "aftersales:" + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()


class SQLAlchemyRecorder:
    """Rows in PostgreSQL, MariaDB/MySQL or SQLite through SQLAlchemy 2 Core (PostgreSQL,
    MariaDB and SQLite are tested). Takes a URL or your app's
    :class:`sqlalchemy.engine.Engine`, with the engine options of
    :func:`sqlalchemy.create_engine`; opens the database, creating or upgrading its
    schema, and refuses any other database before connecting.

    >>> from aftersales.storage.recorder import RecordStore
    >>> store = RecordStore(SQLAlchemyRecorder("sqlite://"))
    >>> store.reserve_numbers(10)
    1

    Every row it writes, reads, counts or changes is one of ``tenant``'s (see
    :meth:`for_tenant`). With ``row_level_security`` (PostgreSQL only), each of its
    transactions also names the tenant in the ``aftersales.tenant`` setting, which the
    policies of :func:`~aftersales.storage.sqlalchemy.row_level_security_statements`
    check: the store then works as a role those policies bind.
    """

    tenant: str
    """The shop whose rows this recorder reads and writes ('' for a database of one)."""

    def __init__(
        self,
        url_or_engine: str | Engine,
        *,
        tenant: str = "",
        row_level_security: bool = False,
        **engine_options: Any,
    ) -> None:
        self.tenant = check_tenant(tenant)
        if not isinstance(row_level_security, bool):
            raise InvalidInput(
                "store", [FieldError(("row_level_security",), "must be True or False")]
            )
        self.engine: Engine = open_engine(url_or_engine, engine_options)
        self.dialect: str = self.engine.dialect.name
        self.row_level_security = row_level_security
        if row_level_security and self.dialect != "postgresql":
            if not isinstance(url_or_engine, Engine):
                self.engine.dispose()
            raise InvalidInput(
                "store",
                [
                    FieldError(
                        ("row_level_security",),
                        f"is PostgreSQL's; {self.dialect} has no row-level security",
                    )
                ],
            )
        try:
            migrate(self.engine)  # a new database created, an older one upgraded
        except BaseException:
            if not isinstance(url_or_engine, Engine):
                self.engine.dispose()  # ours to release; an app's engine stays the app's
            raise
        self._skip_locked = self.dialect != "sqlite"
        """Whether outbox claims pass over rows another worker has locked."""
        self._conflict_free = self.dialect in ("postgresql", "sqlite")
        """Whether inserts say ON CONFLICT DO NOTHING (see the module's docstring)."""
        self._named_locks = self.dialect in ("mysql", "mariadb")
        self._direct = self.dialect == "sqlite" and self.engine.dialect.driver == "pysqlite"
        """Whether the store's statements may go to the driver's own connection (see
        :func:`~aftersales.storage._sqlalchemy.driver.driver_of`)."""
        self._deferred_reads = self.dialect == "sqlite"
        """Whether reads begin their own transaction (SQLite's writes begin IMMEDIATE)."""
        self._sql: dict[tuple[Any, ...], Rendered] = {}
        self._prepared: dict[tuple[Any, ...], Prepared] = {}
        self._written: dict[tuple[str, str], tuple[int, TicketRow]] = {}
        """(tenant, ticket id) → the version and row this recorder last committed for
        it (see :meth:`_Transaction.update`); shared with its :meth:`for_tenant` copies,
        each keyed by its own tenant."""
        self._pool = self.engine
        """The engine that opened the database (whose pool :meth:`close` releases);
        :attr:`engine` may be a copy of it that names the tenant."""
        if row_level_security:
            if not sa.event.contains(self.engine, "begin", _set_tenant):
                sa.event.listen(self.engine, "begin", _set_tenant)
            self.engine = self.engine.execution_options(**{_TENANT_OPTION: self.tenant})

    def for_tenant(self, tenant: str) -> SQLAlchemyRecorder:
        """A recorder of ``tenant``'s rows on this one's engine (its pool, its rendered
        statements): no schema check, nothing opened."""
        scoped = copy.copy(self)
        scoped.tenant = check_tenant(tenant)
        if self.row_level_security:
            scoped.engine = self._pool.execution_options(**{_TENANT_OPTION: scoped.tenant})
        return scoped

    @property
    def schema_version(self) -> int:
        """The schema version of the database."""
        return read_schema_version(self.engine)

    def drop_schema(self) -> None:
        """Drop every table (for tests and teardown); the recorder cannot be used
        afterwards."""
        drop_schema(self.engine)

    # ------------------------------------------------------------------ Recorder

    def atomically(self, work: Callable[[Records], T], *, hold: Sequence[str] = ()) -> T:
        """Run ``work`` in one transaction. The ``hold`` keys are taken in one order (so
        that no two transactions each wait for the other) as PostgreSQL advisory locks that end with
        the transaction; on MariaDB and MySQL as named locks of the session, taken before
        the transaction begins and released after it ends (so the transaction's snapshot
        starts after them); SQLite's ``BEGIN IMMEDIATE`` holds the database's one write
        lock, and every key with it."""
        if hold and self.tenant:  # one tenant's order is not another's of the same id
            hold = [f"{key}@{self.tenant}" for key in hold]
        try:
            if hold and self._named_locks:
                return self._holding(sorted(set(hold)), work)
            # The transaction begins with the first statement (SQLAlchemy's autobegin: on
            # SQLite, BEGIN IMMEDIATE then) and is committed here, or rolled back as the
            # connection closes: the same transaction as engine.begin()'s, without its
            # context managers' calls, a tenth of those of a commit of one statement.
            # Keys are held from the start (on SQLite, by the BEGIN's lock).
            with self.engine.connect() as conn:
                if hold:
                    conn.begin()
                if hold and self.dialect == "postgresql":
                    for key in sorted(set(hold)):
                        self._lock(conn, key)
                records = _Transaction(self, conn)
                result = work(records)
                conn.commit()
            self._remember(records.written)  # committed
            return result
        except Exception as error:
            translated = _translate(error, self.dialect)
            if translated is error:
                raise
            raise translated from error

    def reading(self, work: Callable[[Records], T]) -> T:
        try:
            with self.engine.connect() as conn:
                if self._deferred_reads:
                    with reading_on(conn):
                        return work(_Transaction(self, conn))
                return work(_Transaction(self, conn))
        except Exception as error:
            translated = _translate(error, self.dialect)
            if translated is error:
                raise
            raise translated from error

    def known_row(self, tenant: str, table: str, key: str, version: int) -> Row | None:
        """The row of ``tenant``'s ticket ``key`` at ``version`` as this recorder
        committed it, if it did (None for any other table)."""
        if table != "tickets":
            return None
        found = self.known_ticket(tenant, key, version)
        return None if found is None else dict(zip(codec.TICKET_COLUMNS, found, strict=True))

    def known_ticket(self, tenant: str, key: str, version: int) -> TicketRow | None:
        """:meth:`known_row` of a ticket, as :data:`TicketRow`."""
        found = self._written.get((tenant, key))
        return found[1] if found is not None and found[0] == version else None

    def _remember(self, rows: list[tuple[tuple[str, str], int, TicketRow]]) -> None:
        """Keep the ticket rows of a transaction that committed (at most
        :data:`_WRITTEN_TICKETS`: the oldest are forgotten all at once)."""
        if not rows:
            return
        written = self._written
        if len(written) + len(rows) > _WRITTEN_TICKETS:
            written.clear()
        for ticket, version, row in rows:
            written[ticket] = (version, row)

    def close(self) -> None:
        """Release the pool's connections (an engine you passed in stays usable)."""
        self._pool.dispose()

    def _lock(self, conn: Connection, key: str) -> None:
        """PostgreSQL: an advisory lock on the key (for an order, the one SQLAlchemyStore
        took before it ran on this recorder), held until the transaction ends."""
        self.execute(
            conn,
            ("lock",),
            lambda: sa.select(
                sa.func.pg_advisory_xact_lock(
                    sa.func.hashtextextended(sa.bindparam("key", type_=sa.Text), _ZERO)
                )
            ),
            {"key": f"aftersales.{key}"},
        )

    def _holding(self, keys: list[str], work: Callable[[Records], T]) -> T:
        """MariaDB and MySQL: run ``work`` in a transaction on a connection holding a
        named lock per key. One connection for the locks and the writes: two would let a
        busy pool's writers each hold one and wait for a second."""
        with self.engine.connect() as conn:
            try:
                for key in keys:
                    name = _lock_name(key)
                    taken = self.execute(
                        conn,
                        ("get lock",),
                        lambda: sa.select(
                            sa.func.get_lock(sa.bindparam("name"), sa.bindparam("seconds"))
                        ),
                        {"name": name, "seconds": _ORDER_LOCK_SECONDS},
                    ).scalar()
                    if taken != 1:
                        raise StorageError(f"{self.dialect}: lock {name} still busy")
                conn.commit()  # the write's snapshot starts with its first read, after them
                with conn.begin():
                    return work(_Transaction(self, conn))
            finally:
                # A session the server ended holds nothing: SQLAlchemy takes the
                # connection out of the pool and this runs on a new one.
                self.execute(
                    conn, ("release locks",), lambda: sa.select(sa.func.release_all_locks()), {}
                )
                conn.commit()

    # ------------------------------------------------------------------ statements

    def rendered(self, shape: tuple[Any, ...], build: Callable[[], Any]) -> Rendered:
        """The statement of ``shape``: ``build()`` rendered for this engine the first
        time, kept afterwards (compiling per call costs more than the round trip)."""
        found = self._sql.get(shape)
        if found is None:
            sql, order = _render(build(), self.engine)
            found = self._sql[shape] = (sql, None if order is None else _from_mapping(order))
        return found

    def prepared(
        self, shape: tuple[Any, ...], build: Callable[[], Any], names: tuple[str, ...]
    ) -> Prepared:
        """The statement of ``shape`` (see :meth:`rendered`) for values given in the order
        of ``names``, its parameters' names: the rows of the hot paths are the codec's
        tuples, bound as they are where the driver takes them in that order."""
        found = self._prepared.get(shape)
        if found is None:
            sql, order = _render(build(), self.engine)
            found = self._prepared[shape] = (sql, _from_values(names, order))
        return found

    def execute(
        self,
        conn: Connection,
        shape: tuple[Any, ...],
        build: Callable[[], Any],
        params: Mapping[str, Any],
    ) -> CursorResult[Any]:
        """Run the statement of ``shape`` with ``params`` (by name; put in order for a
        driver that takes them by position)."""
        sql, ordered = self.rendered(shape, build)
        return conn.exec_driver_sql(sql, params if ordered is None else ordered(params))

    def _insert(self, table: str, columns: tuple[str, ...]) -> Any:
        declared = metadata.tables[table]
        statement: Any = _INSERTS.get(self.dialect, sa.insert)(declared)
        order = WRITE_ORDER.get(table)
        if order is not None and order[0] not in columns:
            position, group = (declared.c[name] for name in order)
            values: list[Any] = [sa.bindparam(c, type_=declared.c[c].type) for c in columns]
            following = sa.func.coalesce(sa.func.max(position), _ZERO) + _ONE
            statement = statement.from_select(
                [*columns, position.name],
                sa.select(*values, following).where(group == sa.bindparam(group.name)),
            )
        else:
            statement = statement.values({c: sa.bindparam(c) for c in columns})
        return statement.on_conflict_do_nothing() if self._conflict_free else statement

    def _upsert(self, table: str, columns: tuple[str, ...]) -> Any:
        """Insert ``columns``, or set the others (there are some) on the row whose key
        is taken."""
        declared = metadata.tables[table]
        values: dict[str, Any] = {c: sa.bindparam(c) for c in columns}
        key = schema.table(table).primary_key
        others = [c for c in columns if c not in key]
        if self._named_locks:
            statement = mysql.insert(declared).values(values)
            return statement.on_duplicate_key_update({c: statement.inserted[c] for c in others})
        upsert = _INSERTS[self.dialect](declared).values(values)
        return upsert.on_conflict_do_update(
            index_elements=list(key), set_={c: upsert.excluded[c] for c in others}
        )
