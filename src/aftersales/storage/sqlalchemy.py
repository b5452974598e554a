"""A store on SQLAlchemy 2 Core for PostgreSQL, MariaDB/MySQL and SQLite (extra ``sql``).

Same layout as :class:`~aftersales.storage.SQLiteStore` where the dialects allow; one
transaction per change; the version check inside the UPDATE; ``UNIQUE(subject, sequence)``
on events; outbox rows claimed with ``FOR UPDATE SKIP LOCKED`` where the database has it
(PostgreSQL, MariaDB 10.6+, MySQL 8) so many workers can dispatch at once. Pass a URL or
your app's own :class:`sqlalchemy.engine.Engine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

try:
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.exc import IntegrityError, SQLAlchemyError
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'SQLAlchemyStore needs the sql extra: pip install "aftersales[sql]"'
    ) from error

from aftersales.exceptions import (
    AftersalesError,
    ConcurrencyError,
    SchemaVersionError,
    StorageError,
)
from aftersales.storage import _codec as codec
from aftersales.storage import _schema as schema
from aftersales.storage._codec import SCHEMA_VERSION
from aftersales.storage._protocol import (
    address_taken,
    check_count,
    id_taken,
    number_taken,
)
from aftersales.storage._sqlalchemy.cases import SQLAlchemyCases
from aftersales.storage._sqlalchemy.connection import (
    _collate_exactly,
    _render,
    _sqlite_immediate_transactions,
    _upgrade,
)
from aftersales.storage._sqlalchemy.records import SQLAlchemyRecords
from aftersales.storage._sqlalchemy.tables import (
    _ACKNOWLEDGE_ONE,
    _INSERT_CASE,
    _INSERT_EVENT,
    _INSERT_MESSAGE,
    _INSERT_OUTBOX,
    _INSERT_TICKET,
    _UPDATE_CASE,
    _UPDATE_CASE_TERMS,
    _UPDATE_TICKET,
    cases,
    counters,
    events,
    metadata,
    schema_version,
    tickets,
)
from aftersales.storage._sqlalchemy.tables import (  # the tables, as before the split
    contact_points as contact_points,
)
from aftersales.storage._sqlalchemy.tables import (
    customers as customers,
)
from aftersales.storage._sqlalchemy.tables import (
    messages as messages,
)
from aftersales.storage._sqlalchemy.tables import (
    outbox as outbox,
)
from aftersales.storage._sqlalchemy.tables import (
    state as state,
)
from aftersales.storage._sqlalchemy.tickets import SQLAlchemyTickets
from aftersales.storage._unit import Change

__all__ = ["SCHEMA_VERSION", "SQLAlchemyStore", "metadata"]


class SQLAlchemyStore(SQLAlchemyTickets, SQLAlchemyRecords, SQLAlchemyCases):
    """A store on any database SQLAlchemy 2 reaches; PostgreSQL and MariaDB are tested.

    >>> store = SQLAlchemyStore("sqlite://")
    >>> store.schema_version
    5

    On MySQL and MariaDB every text column uses a binary collation without padding
    (``utf8mb4_nopad_bin`` on MariaDB, ``utf8mb4_0900_bin`` on MySQL), so identifiers,
    addresses and keys compare exactly as on the other stores: ``"cust-abc"`` is not
    ``"CUST-ABC"``, ``"a "`` is not ``"a"``, ``"é"`` is not ``"e"`` and no two emoji are
    equal. Schema version 5 converts the tables of an older database (a rebuild of each
    table on MySQL and MariaDB, taking time in proportion to its size).
    """

    def __init__(self, url_or_engine: str | Engine, **engine_options: Any) -> None:
        if isinstance(url_or_engine, Engine):
            self.engine = url_or_engine
        else:
            try:
                self.engine = sa.create_engine(url_or_engine, **engine_options)
            except (SQLAlchemyError, ValueError) as error:
                raise StorageError(f"cannot use database {url_or_engine!r}: {error}") from error
        self.dialect = self.engine.dialect.name
        self._counter_floor = 0
        """A number the ticket counter is known to have reached (it only grows)."""
        self._skip_locked = self.dialect in ("postgresql", "mysql", "mariadb")
        if self.dialect == "sqlite":
            _sqlite_immediate_transactions(self.engine)
        self._sql = {
            name: _render(statement, self.engine)
            for name, statement in (
                ("insert_ticket", _INSERT_TICKET),
                ("update_ticket", _UPDATE_TICKET),
                ("insert_event", _INSERT_EVENT),
                ("insert_outbox", _INSERT_OUTBOX),
                ("acknowledge_one", _ACKNOWLEDGE_ONE),
                ("insert_case", _INSERT_CASE),
                ("update_case", _UPDATE_CASE),
                ("update_case_terms", _UPDATE_CASE_TERMS),
            )
        }
        try:
            self._migrate()
        except BaseException:
            if not isinstance(url_or_engine, Engine):
                self.engine.dispose()  # ours to release; an app's engine stays the app's
            raise

    @property
    def schema_version(self) -> int:
        """The schema version of the database."""
        with self._read() as conn:
            version = conn.execute(sa.select(schema_version.c.version)).scalar_one()
        return int(version)

    def _migrate(self) -> None:
        with self._begin() as conn:
            inspector = sa.inspect(conn)
            if not inspector.has_table("aftersales_schema"):
                metadata.create_all(conn)
                _collate_exactly(conn)
                conn.execute(counters.insert().values(name="ticket_number", value=1))
                conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
                return
            found = conn.execute(sa.select(schema_version.c.version)).scalar_one()
            if found > SCHEMA_VERSION:
                raise SchemaVersionError(found, SCHEMA_VERSION)
            for version in range(found + 1, SCHEMA_VERSION + 1):
                for step in schema.MIGRATIONS[version]:
                    _upgrade(conn, step, version)
                conn.execute(schema_version.update().values(version=version))

    def drop_schema(self) -> None:
        """Drop every table of this store (for tests and teardown)."""
        with self._begin() as conn:
            metadata.drop_all(conn)

    def reserve_numbers(self, count: int) -> int:
        check_count(count)
        with self._begin() as conn:
            conn.execute(
                counters.update()
                .where(counters.c.name == "ticket_number")
                .values(value=counters.c.value + count)
            )
            last = conn.execute(
                sa.select(counters.c.value).where(counters.c.name == "ticket_number")
            ).scalar_one()
        # the counter's value: every number reserved so far is below it
        self._counter_floor = max(self._counter_floor, int(last))
        return int(last) - count

    def _move_counter_past(self, conn: Connection, number: int) -> int:
        """Move the ticket counter past ``number``, a ticket number just written (imported
        ones are chosen by the caller), so that no reserved number is ever taken; returns
        the counter's value. Costs statements only when the number is not known to be
        below the counter already (the counter only grows)."""
        if number < self._counter_floor:
            return self._counter_floor
        conn.execute(
            counters.update()
            .where(counters.c.name == "ticket_number", counters.c.value <= number)
            .values(value=number + 1)
        )
        value = conn.execute(
            sa.select(counters.c.value).where(counters.c.name == "ticket_number")
        ).scalar_one()
        return int(value)

    def commit_many(self, changes: Sequence[Change]) -> None:
        try:
            with self._begin() as conn:
                for change in changes:
                    self._write(conn, change, move_counter=False)
                created = [c.ticket.number for c in changes if c.expected_version == 0]
                floor = self._move_counter_past(conn, max(created)) if created else 0
        except IntegrityError:
            raise self._why_not_written(changes) from None
        self._counter_floor = max(self._counter_floor, floor)

    def commit(self, change: Change) -> None:
        try:
            with self._begin() as conn:
                floor = self._write(conn, change)
        except IntegrityError:
            raise self._why_not_written((change,)) from None
        if floor > self._counter_floor:
            self._counter_floor = floor  # known once committed: a rolled back one moved nothing

    def _why_not_written(self, changes: Sequence[Change]) -> AftersalesError:
        """The error for changes that broke a constraint, found once their transaction
        has rolled back: a ticket id or number that is taken (by a stored ticket or one
        earlier in ``changes``), an id that a case has, an address another customer holds,
        or a ticket that someone else changed first."""
        ids: set[str] = set()
        numbers: set[int] = set()
        with self._read() as conn:
            for change in changes:
                ticket = change.ticket
                actual = self._version(conn, ticket.id)
                if change.expected_version != 0 or actual is not None or ticket.id in ids:
                    if actual != change.expected_version:
                        return ConcurrencyError(ticket.id, change.expected_version, actual)
                else:
                    number = conn.execute(
                        sa.select(tickets.c.id).where(tickets.c.number == ticket.number)
                    ).scalar()
                    if number is not None or ticket.number in numbers:
                        return number_taken(ticket.number)
                    case = conn.execute(
                        sa.select(events.c.subject_id).where(events.c.subject_id == ticket.id)
                    ).first()
                    if case is not None:
                        return id_taken("ticket", ticket.id)
                ids.add(ticket.id)
                numbers.add(ticket.number)
                if change.customer is not None:
                    taken = self._taken(conn, change.customer)
                    if taken:
                        return address_taken(change.customer, taken)
        first = changes[0]
        return ConcurrencyError(first.ticket.id, first.expected_version, None)

    def _write(self, conn: Connection, change: Change, *, move_counter: bool = True) -> int:
        """Write ``change``; returns the ticket counter's value when it was read (0
        otherwise)."""
        ticket = change.ticket
        row = dict(zip(codec.TICKET_COLUMNS, codec.ticket_row(ticket), strict=True))
        run = self._run
        floor = 0
        if change.customer is not None:
            self._save_customer(conn, change.customer)
        if change.expected_version == 0:
            # A new subject's first event (sequence 1) shares the events' key with any
            # case of the same id, so the insert of the log refuses that id; without
            # events, ask.
            if (
                not change.events
                and conn.execute(sa.select(cases.c.id).where(cases.c.id == ticket.id)).first()
            ):
                raise id_taken("ticket", ticket.id)
            key = dict(zip(codec.TICKET_KEY_COLUMNS, codec.ticket_key(ticket), strict=True))
            run(conn, "insert_ticket", {**row, **key})
            if move_counter:
                floor = self._move_counter_past(conn, ticket.number)
        else:
            updated = run(
                conn,
                "update_ticket",
                {**row, "b_id": ticket.id, "b_version": change.expected_version},
            )
            if updated != 1:
                raise ConcurrencyError(
                    ticket.id, change.expected_version, self._version(conn, ticket.id)
                )
        self._append_log(conn, change.events, change.outbox)
        if change.messages:
            conn.execute(
                _INSERT_MESSAGE,
                [
                    {
                        **dict(zip(codec.MESSAGE_COLUMNS, codec.message_row(m), strict=True)),
                        "position": ticket.version * 1000 + index,
                    }
                    for index, m in enumerate(change.messages)
                ],
            )
        if change.delivered:
            self._acknowledge(conn, change.delivered, ticket.updated_at)
        return floor

    def close(self) -> None:
        """Release the pool's connections (the engine stays usable if you passed it in)."""
        self.engine.dispose()

    def __enter__(self) -> SQLAlchemyStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
