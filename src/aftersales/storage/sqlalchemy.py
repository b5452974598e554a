"""A store on SQLAlchemy 2 Core for PostgreSQL, MariaDB/MySQL and SQLite (extra ``sql``).

Same layout as :class:`~aftersales.storage.SQLiteStore` where the dialects allow; one
transaction per change; the version check inside the UPDATE; ``UNIQUE(subject, sequence)``
on events; outbox rows claimed with ``FOR UPDATE SKIP LOCKED`` where the database has it
(PostgreSQL, MariaDB 10.6+, MySQL 8) so many workers can dispatch at once. Pass a URL or
your app's own :class:`sqlalchemy.engine.Engine`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import attrs

try:
    import sqlalchemy as sa
    from sqlalchemy.dialects import mysql
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError, StatementError
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'SQLAlchemyStore needs the sql extra: pip install "aftersales[sql]"'
    ) from error

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

__all__ = ["SCHEMA_VERSION", "SQLAlchemyStore", "metadata"]

_ORDER_LOCK_SECONDS = 10
_PENDING: sa.ColumnClause[Any] = sa.literal_column("'pending'")
_PARTIAL_INDEXES = ("postgresql", "sqlite")
"""Databases with partial indexes (``CREATE INDEX ... WHERE``)."""

_DATA = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
_TYPES: dict[schema.Type, Any] = {
    schema.Type.INTEGER: sa.Integer,
    schema.Type.BIG_INTEGER: sa.BigInteger,
    schema.Type.TEXT: sa.Text,
    schema.Type.DATA: _DATA,
}
# utf8mb4 on MySQL and MariaDB: emoji and all of CJK. Their tables are then converted to
# a binary collation without padding (see _collate_exactly).
_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mariadb_charset": "utf8mb4"}


def _column(column: schema.Column, primary_key: bool) -> sa.Column[Any]:
    kind = sa.String(column.length) if column.type is schema.Type.STRING else _TYPES[column.type]
    return sa.Column(
        column.name,
        kind,
        primary_key=primary_key,
        nullable=column.nullable and not primary_key,
        unique=column.unique or None,
        autoincrement=False,
    )


def _has_partial_indexes(ddl: Any, target: Any, bind: Any, **kw: Any) -> bool:
    return bool(kw["dialect"].name in _PARTIAL_INDEXES)


def _has_no_partial_indexes(ddl: Any, target: Any, bind: Any, **kw: Any) -> bool:
    return not _has_partial_indexes(ddl, target, bind, **kw)


def _indexes(table: sa.Table, index: schema.Index) -> list[sa.Index]:
    """The index as declared (partial on the databases that have partial indexes), and,
    where its columns differ there, the full index for the others."""
    if index.condition is None:
        return [sa.Index(index.name, *(table.c[name] for name in index.columns))]
    where = sa.text(index.condition)
    partial = sa.Index(
        index.name,
        *(table.c[name] for name in index.columns),
        postgresql_where=where,
        sqlite_where=where,
    )
    if index.full_columns == index.columns:
        return [partial]
    full = sa.Index(index.name, *(table.c[name] for name in index.full_columns))
    partial.ddl_if(callable_=_has_partial_indexes)  # type: ignore[arg-type]
    full.ddl_if(callable_=_has_no_partial_indexes)  # type: ignore[arg-type]
    return [partial, full]


metadata = sa.MetaData()
"""The tables of :data:`aftersales.storage._schema.TABLES`, and ``aftersales_schema``."""
_INDEXES: dict[str, list[sa.Index]] = {}
for _declared in schema.TABLES:
    _table = sa.Table(
        _declared.name,
        metadata,
        *(_column(column, column.name in _declared.primary_key) for column in _declared.columns),
        **_MYSQL,
    )
    for _index in schema.indexes_of(_declared.name):
        _INDEXES[_index.name] = _indexes(_table, _index)
tickets, events, messages, customers, contact_points, outbox, counters, state, cases = (
    metadata.tables[name]
    for name in (
        "tickets",
        "events",
        "messages",
        "customers",
        "contact_points",
        "outbox",
        "counters",
        "state",
        "cases",
    )
)
schema_version = sa.Table(
    "aftersales_schema", metadata, sa.Column("version", sa.Integer, nullable=False), **_MYSQL
)


def _create_index(conn: Connection, name: str) -> None:
    """Create the declared index ``name``, in the form this database takes."""
    partial = conn.dialect.name in _PARTIAL_INDEXES
    made = _INDEXES[name]
    index = made[0] if partial or len(made) == 1 else made[1]
    index.create(conn)


# Statements of the commit path, built once: building expressions per call costs more
# than the database round trips they make.
_INSERT_TICKET = tickets.insert()
_UPDATE_TICKET = (
    tickets.update()
    .where(tickets.c.id == sa.bindparam("b_id"), tickets.c.version == sa.bindparam("b_version"))
    .values({name: sa.bindparam(name) for name in codec.TICKET_COLUMNS})
)
_INSERT_EVENT = events.insert()
_INSERT_CASE = cases.insert()
_UPDATE_CASE, _UPDATE_CASE_TERMS = (
    cases.update()
    .where(cases.c.id == sa.bindparam("b_id"), cases.c.version == sa.bindparam("b_version"))
    .values({name: sa.bindparam(name) for name in names})
    for names in (codec.CASE_COLUMNS, (*codec.CASE_COLUMNS, "terms"))
)
_INSERT_MESSAGE = messages.insert()
_INSERT_OUTBOX = outbox.insert()
_ACKNOWLEDGE = (
    outbox.update()
    .where(outbox.c.key.in_(sa.bindparam("keys", expanding=True)), outbox.c.status == "pending")
    .values(status="delivered", delivered_at=sa.bindparam("at"), lease_until=None)
)
_ACKNOWLEDGE_ONE = (  # the usual case, the one notification of the change before
    outbox.update()  # pre-rendered (see _render): constants in SQL, not as parameters
    .where(outbox.c.key == sa.bindparam("key"), outbox.c.status == _PENDING)
    .values(
        status=sa.literal_column("'delivered'"),
        delivered_at=sa.bindparam("at"),
        lease_until=sa.null(),
    )
)


class SQLAlchemyStore:
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

    @contextmanager
    def _begin(self, conn: Connection | None = None) -> Iterator[Connection]:
        """One transaction, on a pooled connection or on ``conn``. IntegrityError passes
        (the caller finds out which constraint it was); every other error that is not ours
        becomes one of ours (see :func:`_translate`)."""
        try:
            if conn is None:
                with self.engine.begin() as conn:
                    yield conn
            else:
                with conn.begin():
                    yield conn
        except IntegrityError:
            raise
        except Exception as error:
            translated = _translate(error, self.dialect)
            if translated is error:
                raise
            raise translated from error

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except Exception as error:
            translated = _translate(error, self.dialect)
            if translated is error:
                raise
            raise translated from error

    # ------------------------------------------------------------------ schema

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

    # ------------------------------------------------------------------ writing

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

    def _run(self, conn: Connection, name: str, params: dict[str, Any]) -> int:
        """Execute a pre-rendered hot-path statement; returns the row count."""
        sql, order = self._sql[name]
        values: Any = tuple(params[key] for key in order) if order is not None else params
        return int(conn.exec_driver_sql(sql, values).rowcount)

    def _run_each(self, conn: Connection, name: str, rows: list[dict[str, Any]]) -> None:
        """Execute a pre-rendered statement once per row (one executemany for several)."""
        if len(rows) == 1:
            self._run(conn, name, rows[0])
            return
        sql, order = self._sql[name]
        values: Any = rows if order is None else [tuple(row[key] for key in order) for row in rows]
        conn.exec_driver_sql(sql, values)

    def _append_log(
        self, conn: Connection, events: Sequence[Event], notifications: Sequence[Notification]
    ) -> None:
        """Insert a change's events and outbox rows, serialising each event once, with
        the pre-rendered statements: compiling them per call was a fifth of the client's
        instructions per ticket lifecycle."""
        event_json: dict[int, str] = {}
        event_rows = []
        for event in events:
            row = codec.event_row(event)
            event_json[id(event)] = row[4]  # type: ignore[assignment]
            event_rows.append(dict(zip(codec.EVENT_COLUMNS, row, strict=True)))
        if event_rows:
            self._run_each(conn, "insert_event", event_rows)
        if notifications:
            self._run_each(
                conn,
                "insert_outbox",
                [
                    dict(
                        zip(
                            codec.OUTBOX_COLUMNS,
                            codec.notification_row(n, event_json.get(id(n.event))),
                            strict=True,
                        )
                    )
                    for n in notifications
                ],
            )

    @staticmethod
    def _version(conn: Connection, ticket_id: str) -> int | None:
        version = conn.execute(
            sa.select(tickets.c.version).where(tickets.c.id == ticket_id)
        ).scalar()
        return None if version is None else int(version)

    # ------------------------------------------------------------------ reading

    def _tickets(self, statement: sa.Select[Any]) -> list[Ticket]:
        with self._read() as conn:
            return [Ticket.model_validate_json(row[0]) for row in conn.execute(statement)]

    def get(self, ticket_id: str) -> Ticket:
        check_id(ticket_id, "ticket_id")
        found = self._tickets(sa.select(tickets.c.data).where(tickets.c.id == ticket_id))
        if not found:
            raise TicketNotFound(ticket_id)
        return found[0]

    def get_by_number(self, number: int) -> Ticket:
        check_number(number)
        found = self._tickets(sa.select(tickets.c.data).where(tickets.c.number == number))
        if not found:
            raise TicketNotFound(f"#{number}")
        return found[0]

    def find(self, query: TicketQuery) -> list[Ticket]:
        statement = sa.select(tickets.c.data)
        for column, value in (
            (tickets.c.status, query.status),
            (tickets.c.status_category, query.status_category and query.status_category.value),
            (tickets.c.assignee, query.assignee),
            (tickets.c.team, query.team),
            (tickets.c.customer_id, query.customer_id),
            (tickets.c.channel, query.channel and query.channel.value),
            (tickets.c.merged_into, query.merged_into),
            (tickets.c.parent_id, query.parent_id),
            (tickets.c.follow_up_of, query.follow_up_of),
        ):
            if value is not None:
                statement = statement.where(column == value)
        if query.created_from is not None:
            statement = statement.where(tickets.c.created_at >= codec.ts(query.created_from))
        if query.created_to is not None:
            statement = statement.where(tickets.c.created_at < codec.ts(query.created_to))
        statement = statement.order_by(tickets.c.created_at, tickets.c.number)
        return self._tickets(statement.limit(query.limit).offset(query.offset))

    def events(self, subject_id: str) -> list[Event]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(events.c.data)
                .where(events.c.subject_id == subject_id)
                .order_by(events.c.sequence)
            )
            return [Event.model_validate_json(row[0]) for row in rows]

    def messages(self, ticket_id: str) -> list[Message]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(messages.c.data)
                .where(messages.c.ticket_id == ticket_id)
                .order_by(messages.c.at, messages.c.position)
            )
            return [Message.model_validate_json(row[0]) for row in rows]

    def save_customer(self, customer: Customer) -> None:
        try:
            with self._begin() as conn:
                self._save_customer(conn, customer)
        except IntegrityError:  # another writer took one of the addresses meanwhile
            with self._read() as conn:
                taken = self._taken(conn, customer)
            if taken:
                raise address_taken(customer, taken) from None
            raise StorageError(f"{self.dialect}: customer {customer.id!r} not saved") from None

    @staticmethod
    def _taken(conn: Connection, customer: Customer) -> list[int]:
        """Indexes of the customer's contact points that another customer holds."""
        return [
            index
            for index, contact in enumerate(customer.contacts)
            if conn.execute(
                sa.select(contact_points.c.customer_id).where(
                    contact_points.c.channel == contact.channel.value,
                    contact_points.c.address == contact.address,
                    contact_points.c.customer_id != customer.id,
                )
            ).first()
            is not None
        ]

    def _save_customer(self, conn: Connection, customer: Customer) -> None:
        taken = self._taken(conn, customer)
        if taken:
            raise address_taken(customer, taken)
        conn.execute(contact_points.delete().where(contact_points.c.customer_id == customer.id))
        conn.execute(customers.delete().where(customers.c.id == customer.id))
        conn.execute(customers.insert().values(id=customer.id, data=codec.customer_data(customer)))
        contacts = {(c.channel.value, c.address) for c in customer.contacts}
        if contacts:
            conn.execute(
                contact_points.insert(),
                [
                    {"channel": channel, "address": address, "customer_id": customer.id}
                    for channel, address in sorted(contacts)
                ],
            )

    def get_customer(self, customer_id: str) -> Customer:
        check_id(customer_id, "customer_id")
        with self._read() as conn:
            data = conn.execute(
                sa.select(customers.c.data).where(customers.c.id == customer_id)
            ).scalar()
        if data is None:
            raise CustomerNotFound(customer_id)
        return Customer.model_validate_json(data)

    def find_customer(self, channel: Channel, address: str) -> Customer | None:
        statement = (
            sa.select(customers.c.data)
            .join(contact_points, contact_points.c.customer_id == customers.c.id)
            .where(contact_points.c.channel == channel.value, contact_points.c.address == address)
        )
        with self._read() as conn:
            data = conn.execute(statement).scalar()
        return None if data is None else Customer.model_validate_json(data)

    def due(self, before: datetime, limit: int) -> list[Ticket]:
        check_limit(limit)
        return self._tickets(
            sa.select(tickets.c.data)
            .where(tickets.c.due_at.isnot(None), tickets.c.due_at <= codec.ts(before))
            .order_by(tickets.c.due_at, tickets.c.number)
            .limit(limit)
        )

    def sla_due(self, before: datetime, limit: int) -> list[Ticket]:
        check_limit(limit)
        return self._tickets(
            sa.select(tickets.c.data)
            .where(tickets.c.sla_due_at.isnot(None), tickets.c.sla_due_at <= codec.ts(before))
            .order_by(tickets.c.sla_due_at, tickets.c.number)
            .limit(limit)
        )

    # ------------------------------------------------------------------ cases

    def commit_cases(self, changes: Sequence[CaseChange]) -> None:
        try:
            with self._order_locks(changes) as locked, self._begin(locked) as conn:
                for change in changes:
                    self._write_case(conn, change)
        except IntegrityError:
            raise self._why_cases_not_written(changes) from None

    def _why_cases_not_written(self, changes: Sequence[CaseChange]) -> AftersalesError:
        """The error for case changes that broke a constraint, found once their
        transaction has rolled back: a new case whose id a ticket has (their events share
        one log), or a case that someone else wrote first."""
        with self._read() as conn:
            for change in changes:
                case = change.case
                actual = conn.execute(
                    sa.select(cases.c.version).where(cases.c.id == case.id)
                ).scalar()
                if actual != (change.expected_version or None):
                    return ConcurrencyError(case.id, change.expected_version, actual)
                if change.expected_version == 0 and self._version(conn, case.id) is not None:
                    return id_taken("case", case.id)
        first = changes[0]
        return ConcurrencyError(first.case.id, first.expected_version, None)

    def _write_case(self, conn: Connection, change: CaseChange) -> None:
        case = change.case
        if change.order_check is not None and case.order_id is not None:
            self._lock_order(conn, case.order_id)
            found = sa.select(cases.c.data, cases.c.terms).where(cases.c.order_id == case.order_id)
            if change.order_check_kinds:
                found = found.where(cases.c.kind.in_([k.value for k in change.order_check_kinds]))
            change.order_check(
                [
                    codec.read_case(row[0], row[1])
                    for row in conn.execute(found.order_by(cases.c.created_at, cases.c.id))
                ]
            )
        row = dict(zip(codec.CASE_COLUMNS, codec.case_row(case), strict=True))
        if change.expected_version == 0 or change.terms_changed:
            row["terms"] = codec.case_terms(case)
        if change.expected_version == 0:
            if not change.events and self._version(conn, case.id) is not None:
                raise id_taken("case", case.id)  # see _write
            self._run(
                conn,
                "insert_case",
                {**row, **dict(zip(codec.CASE_KEY_COLUMNS, codec.case_key(case), strict=True))},
            )
        else:
            updated = self._run(
                conn,
                "update_case_terms" if "terms" in row else "update_case",
                {**row, "b_id": case.id, "b_version": change.expected_version},
            )
            if updated != 1:
                actual = conn.execute(
                    sa.select(cases.c.version).where(cases.c.id == case.id)
                ).scalar()
                raise ConcurrencyError(case.id, change.expected_version, actual)
        self._append_log(conn, change.events, change.outbox)
        if change.delivered:
            self._acknowledge(conn, change.delivered, case.updated_at)

    def _lock_order(self, conn: Connection, order_id: str) -> None:
        """Keep every other writer from adding a case to this order until the commit, so
        that the order check's answer holds (a row lock cannot: the case is not there yet).
        PostgreSQL's advisory lock ends with the transaction; MySQL and MariaDB took theirs
        before it began (see :meth:`_order_locks`); SQLite's BEGIN IMMEDIATE holds the only
        write lock."""
        if self.dialect == "postgresql":
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"aftersales.order:{order_id}"},
            )

    @contextmanager
    def _order_locks(self, changes: Sequence[CaseChange]) -> Iterator[Connection | None]:
        """On MySQL and MariaDB, a named lock per checked order around the transaction:
        their named locks belong to the session, so they are taken before the transaction
        and released after it, and the connection holding them is the one to write on
        (None elsewhere: write on any). One connection per commit, as on other databases:
        two would let a busy pool's writers each hold one and wait for a second."""
        orders = sorted(  # one order of taking them everywhere: no deadlock
            {c.case.order_id for c in changes if c.order_check and c.case.order_id}
        )
        if not orders or self.dialect not in ("mysql", "mariadb"):
            yield None
            return
        names = [
            "aftersales.order:" + hashlib.sha1(order.encode(), usedforsecurity=False).hexdigest()
            for order in orders
        ]  # a name may be at most 64 characters long
        with self._read() as conn:
            try:
                for name in names:
                    taken = conn.execute(
                        sa.text("SELECT GET_LOCK(:name, :seconds)"),
                        {"name": name, "seconds": _ORDER_LOCK_SECONDS},
                    ).scalar()
                    if taken != 1:
                        raise StorageError(f"{self.dialect}: order lock {name} still busy")
                # The write's snapshot starts with its first read, after the locks.
                conn.commit()
                yield conn
            finally:
                conn.execute(sa.text("SELECT RELEASE_ALL_LOCKS()"))
                conn.commit()

    def _cases(self, statement: sa.Select[Any]) -> list[Case]:
        with self._read() as conn:
            return [codec.read_case(row[0], row[1]) for row in conn.execute(statement)]

    def get_case(self, case_id: str) -> Case:
        check_id(case_id, "case_id")
        found = self._cases(sa.select(cases.c.data, cases.c.terms).where(cases.c.id == case_id))
        if not found:
            raise CaseNotFound(case_id)
        return found[0]

    def find_cases(self, query: CaseQuery) -> list[Case]:
        statement = sa.select(cases.c.data, cases.c.terms)
        for column, value in (
            (cases.c.ticket_id, query.ticket_id),
            (cases.c.order_id, query.order_id),
            (cases.c.serial, query.serial),
            (cases.c.parent_id, query.parent_id),
            (cases.c.customer_id, query.customer_id),
            (cases.c.kind, query.kind and query.kind.value),
            (cases.c.status, query.status),
            (cases.c.status_category, query.status_category and query.status_category.value),
        ):
            if value is not None:
                statement = statement.where(column == value)
        return self._cases(statement.order_by(cases.c.created_at, cases.c.id).limit(query.limit))

    def cases_due(self, before: datetime, limit: int) -> list[Case]:
        check_limit(limit)
        return self._cases(
            sa.select(cases.c.data, cases.c.terms)
            .where(cases.c.step_due_at.isnot(None), cases.c.step_due_at <= codec.ts(before))
            .order_by(cases.c.step_due_at, cases.c.id)
            .limit(limit)
        )

    def get_state(self, key: str) -> str | None:
        with self._read() as conn:
            value = conn.execute(sa.select(state.c.value).where(state.c.key == key)).scalar()
        return None if value is None else str(value)

    def set_state(self, key: str, value: str) -> None:
        with self._begin() as conn:
            conn.execute(state.delete().where(state.c.key == key))
            conn.execute(state.insert().values(key=key, value=value))

    # ------------------------------------------------------------------ outbox

    def claim_outbox(self, now: datetime, lease_until: datetime, limit: int) -> list[Notification]:
        check_limit(limit)
        statement = (
            sa.select(outbox)
            .where(
                outbox.c.status == _PENDING,  # as the partial index says it: not a parameter
                outbox.c.next_attempt_at <= codec.ts(now),
                sa.or_(outbox.c.lease_until.is_(None), outbox.c.lease_until <= codec.ts(now)),
            )
            .order_by(outbox.c.next_attempt_at, outbox.c.key)
            .limit(limit)
        )
        if self._skip_locked:
            statement = statement.with_for_update(skip_locked=True)
        with self._begin() as conn:
            rows = conn.execute(statement).mappings().all()
            if rows:
                conn.execute(
                    outbox.update()
                    .where(outbox.c.key.in_([r["key"] for r in rows]))
                    .values(lease_until=codec.ts(lease_until))
                )
        return [attrs.evolve(codec.read_notification(row), lease_until=lease_until) for row in rows]  # type: ignore[arg-type]

    def _acknowledge(self, conn: Connection, keys: Sequence[str], at: datetime) -> None:
        if len(keys) == 1:
            self._run(conn, "acknowledge_one", {"key": keys[0], "at": codec.ts(at)})
        else:
            conn.execute(_ACKNOWLEDGE, {"keys": list(keys), "at": codec.ts(at)})

    def mark_delivered(self, keys: Sequence[str], at: datetime) -> None:
        if keys:
            with self._begin() as conn:
                self._acknowledge(conn, keys, at)

    def mark_failed(self, key: str, error: str, retry_at: datetime | None, at: datetime) -> None:
        values: dict[str, Any] = {
            "attempts": outbox.c.attempts + 1,
            "last_error": bounded_error(error),
            "lease_until": None,
            "status": "pending" if retry_at else "dead",
        }
        if retry_at is not None:
            values["next_attempt_at"] = codec.ts(retry_at)
        with self._begin() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.key == key, outbox.c.status == "pending")
                .values(**values)
            )

    def outbox(self, status: DeliveryStatus | None = None) -> list[Notification]:
        statement = sa.select(outbox).order_by(outbox.c.created_at, outbox.c.key)
        if status is not None:
            statement = statement.where(outbox.c.status == status.value)
        with self._read() as conn:
            return [codec.read_notification(row) for row in conn.execute(statement).mappings()]  # type: ignore[arg-type]

    def close(self) -> None:
        """Release the pool's connections (the engine stays usable if you passed it in)."""
        self.engine.dispose()

    def __enter__(self) -> SQLAlchemyStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_INPUT_ERRORS = (UnicodeError, OverflowError, ValueError, TypeError)
"""Errors a driver raises because of the values it was given (a lone surrogate, an int
beyond 64 bits, a NUL in text where the database refuses one)."""


def _translate(error: BaseException, dialect: str) -> BaseException:
    """The error of our own tree that stands for ``error``, raised by SQLAlchemy, by the
    driver or by serialising a value for it (ours pass through)."""
    if isinstance(error, AftersalesError) or not isinstance(error, Exception):
        return error
    cause = error.orig if isinstance(error, StatementError) else error
    if isinstance(error, DataError) or isinstance(cause, _INPUT_ERRORS):
        return InvalidInput(
            "value",
            [FieldError((), f"cannot be stored: {type(cause).__name__}: {cause}", "unstorable")],
        )
    return StorageError(f"{dialect} error: {type(error).__name__}: {error}")


def _render(statement: Any, engine: Engine) -> tuple[str, tuple[str, ...] | None]:
    """The statement's SQL for this engine's driver, and its parameter order when the
    driver takes positional parameters."""
    compiled = statement.compile(dialect=engine.dialect)
    order = compiled.positiontup
    return compiled.string, None if order is None else tuple(order)


def _exact_collation(conn: Connection) -> str | None:
    """The binary, no-pad utf8mb4 collation of a MySQL or MariaDB server (None on other
    databases, whose default comparisons are exact already). ``utf8mb4_bin`` would not do:
    it is a PAD SPACE collation, for which ``'a' = 'a '``."""
    if conn.dialect.name not in ("mysql", "mariadb"):
        return None
    return "utf8mb4_nopad_bin" if getattr(conn.dialect, "is_mariadb", False) else "utf8mb4_0900_bin"


def _collate_exactly(conn: Connection) -> None:
    """On MySQL and MariaDB, convert every table's text to the exact collation: their
    default (``utf8mb4_general_ci`` and kin) compares case-, accent- and space-insensitively
    and takes every emoji for every other, so one customer's id or address found
    another's."""
    collation = _exact_collation(conn)
    if collation is None:
        return
    for table in metadata.sorted_tables:
        conn.execute(
            sa.text(
                f"ALTER TABLE `{table.name}` CONVERT TO CHARACTER SET utf8mb4 COLLATE {collation}"
            )
        )


def _upgrade(conn: Connection, step: schema.Step, version: int) -> None:
    """Carry out one migration step of :data:`aftersales.storage._schema.MIGRATIONS`."""
    dialect = conn.dialect
    if isinstance(step, schema.CreateTable):
        columns, indexes = schema.added_later(version)
        declared = schema.table(step.table)
        kept = [
            _column(c, c.name in declared.primary_key)
            for c in declared.columns
            if (step.table, c.name) not in columns
        ]
        as_then = sa.Table(step.table, sa.MetaData(), *kept, **_MYSQL)
        as_then.create(conn)
        for index in schema.indexes_of(step.table):
            if index.name not in indexes:
                _create_index(conn, index.name)
    elif isinstance(step, schema.AddColumn):
        kind = metadata.tables[step.table].c[step.column].type.compile(dialect=dialect)
        conn.execute(sa.text(f"ALTER TABLE {step.table} ADD COLUMN {step.column} {kind}"))
    elif isinstance(step, schema.CreateIndex):
        _create_index(conn, step.index)
    elif isinstance(step, schema.MoveTermsOutOfData):
        schema.move_terms(
            lambda last: [
                (key, data)
                for key, data in conn.execute(
                    sa.select(cases.c.id, cases.c.data)
                    .where(cases.c.id > last)
                    .order_by(cases.c.id)
                    .limit(1000)
                )
            ],
            lambda rows: _move(conn, rows),
            "",
        )
    elif isinstance(step, schema.WidenIds):
        collation = _exact_collation(conn)
        for table, column in step.columns:
            if collation is not None:
                conn.execute(
                    sa.text(
                        f"ALTER TABLE `{table}` MODIFY `{column}` VARCHAR(128) "
                        f"CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL"
                    )
                )
            elif dialect.name == "postgresql":
                conn.execute(
                    sa.text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR(128)")
                )
            # SQLite does not enforce a VARCHAR's length
    elif isinstance(step, schema.ExactText):
        _collate_exactly(conn)
    # EventsByRowid: this store never made events a WITHOUT ROWID table


def _move(conn: Connection, rows: list[tuple[str, str | None, Any]]) -> None:
    update = (
        cases.update()
        .where(cases.c.id == sa.bindparam("b_id"))
        .values(data=sa.bindparam("data"), terms=sa.bindparam("terms"))
    )
    conn.execute(update, [{"data": data, "terms": terms, "b_id": key} for data, terms, key in rows])


def _sqlite_immediate_transactions(engine: Engine) -> None:
    """SQLite takes its write lock at BEGIN IMMEDIATE, so two writers never deadlock."""

    @sa.event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        if engine.url.database not in (None, "", ":memory:"):
            # the same durability as SQLiteStore: WAL, and fsync at checkpoints only
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        dbapi_connection.execute("PRAGMA busy_timeout=10000")

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
