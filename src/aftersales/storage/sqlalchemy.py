"""A store on SQLAlchemy 2 Core for PostgreSQL, MariaDB/MySQL and SQLite (extra ``sql``).

Same layout as :class:`~aftersales.storage.SQLiteStore`; one transaction per change; the
version check inside the UPDATE; ``UNIQUE(subject, sequence)`` on events; outbox rows
claimed with ``FOR UPDATE SKIP LOCKED`` where the database has it (PostgreSQL, MariaDB
10.6+, MySQL 8) so many workers can dispatch at once. Pass a URL or your app's own
:class:`sqlalchemy.engine.Engine`.

The store is :class:`RecordStore` on a
:class:`~aftersales.storage.recorder.SQLAlchemyRecorder`, which opens the database,
creates or upgrades its schema and writes every row (:mod:`aftersales.storage._sqlalchemy`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

try:
    from sqlalchemy.engine import Engine
    from sqlalchemy.exc import SQLAlchemyError
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'SQLAlchemyStore needs the sql extra: pip install "aftersales[sql]"'
    ) from error

from aftersales.exceptions import (
    AftersalesError,
    ConcurrencyError,
    FieldError,
    InvalidInput,
    StorageError,
)
from aftersales.storage import _codec as codec
from aftersales.storage._codec import SCHEMA_VERSION
from aftersales.storage._record_store import RecordStore
from aftersales.storage._record_writes import stored_version, update_ticket
from aftersales.storage._recorder import Records, Row
from aftersales.storage._sqlalchemy.recorder import TENANT_SETTING, SQLAlchemyRecorder
from aftersales.storage._sqlalchemy.tables import (  # the tables, as before the split
    cases as cases,
)
from aftersales.storage._sqlalchemy.tables import (
    contact_points as contact_points,
)
from aftersales.storage._sqlalchemy.tables import (
    counters as counters,
)
from aftersales.storage._sqlalchemy.tables import (
    customers as customers,
)
from aftersales.storage._sqlalchemy.tables import (
    events as events,
)
from aftersales.storage._sqlalchemy.tables import (
    messages as messages,
)
from aftersales.storage._sqlalchemy.tables import (
    metadata as metadata,
)
from aftersales.storage._sqlalchemy.tables import (
    outbox as outbox,
)
from aftersales.storage._sqlalchemy.tables import (
    schema_version as schema_version,
)
from aftersales.storage._sqlalchemy.tables import (
    state as state,
)
from aftersales.storage._sqlalchemy.tables import (
    tickets as tickets,
)
from aftersales.storage._sqlalchemy.transaction import _Transaction
from aftersales.storage._unit import Change

__all__ = [
    "SCHEMA_VERSION",
    "TENANT_SETTING",
    "SQLAlchemyStore",
    "enable_row_level_security",
    "metadata",
    "row_level_security_statements",
]

POLICY = "aftersales_tenant"
"""The name of the row-level security policy on each table."""


def row_level_security_statements() -> list[str]:
    """The PostgreSQL statements that bind every role but the tables' owner to the rows of
    the tenant its transaction names (``SET LOCAL aftersales.tenant = 'shop-a'``, or
    ``set_config('aftersales.tenant', 'shop-a', true)``, as a store with
    ``row_level_security=True`` does): such a role sees, changes and adds no other
    tenant's rows, and none at all when its transaction names no tenant. Run them as the
    owner, once (again after an upgrade that adds a table): they replace the policies
    they made before. The owner is not bound (PostgreSQL exempts a table's owner unless
    the table says ``FORCE ROW LEVEL SECURITY``), so its stores, migrations and reports
    work as before."""
    check = f"tenant = current_setting('{TENANT_SETTING}', true)"
    statements = []
    for declared in metadata.sorted_tables:
        if declared.name == schema_version.name:
            continue  # the schema's version: no tenant's
        statements += [
            f"ALTER TABLE {declared.name} ENABLE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS {POLICY} ON {declared.name}",
            f"CREATE POLICY {POLICY} ON {declared.name} USING ({check}) WITH CHECK ({check})",
        ]
    return statements


def enable_row_level_security(engine: Engine) -> None:
    """Run :func:`row_level_security_statements` on ``engine`` (PostgreSQL, as the tables'
    owner) in one transaction."""
    if engine.dialect.name != "postgresql":
        raise InvalidInput(
            "engine",
            [FieldError((), f"row-level security is PostgreSQL's, not {engine.dialect.name}'s")],
        )
    try:
        with engine.begin() as conn:
            for statement in row_level_security_statements():
                conn.exec_driver_sql(statement)
    except SQLAlchemyError as error:
        raise StorageError(f"postgresql: cannot enable row-level security: {error}") from error


class _Refused(AftersalesError):
    """A batch of new tickets broke a key: its transaction is abandoned (one of ours, so
    the recorder passes it on untranslated)."""


def _is_import(changes: Sequence[Change]) -> bool:
    """Whether ``changes`` are new tickets with their events only, as an import writes
    them. Each has a first event, whose key (subject, sequence 1) a case of the same id
    holds already, so that the events' insert refuses such an id."""
    return all(
        c.expected_version == 0
        and c.events
        and c.customer is None
        and not c.messages
        and not c.delivered
        for c in changes
    )


def _import_rows(
    changes: Sequence[Change],
) -> tuple[list[Row], list[Row], list[Row], list[Row]]:
    """The rows of tickets, events, outbox and ticket tags of new tickets, as RecordStore
    writes them."""
    tickets: list[Row] = []
    events: list[Row] = []
    notifications: list[Row] = []
    tags: list[Row] = []
    for change in changes:
        values, key, event_rows, tag_rows = codec.new_ticket_rows(change)
        row = dict(zip(codec.TICKET_COLUMNS, values, strict=True))
        row.update(zip(codec.TICKET_KEY_COLUMNS, key, strict=True))
        tickets.append(row)
        tags.extend(
            {"tag": tag, "created_at": created_at, "number": number}
            for tag, created_at, number in tag_rows
        )
        event_json: dict[int, str] = {}
        for event, cells in zip(change.events, event_rows, strict=True):
            event_row = dict(zip(codec.EVENT_COLUMNS, cells, strict=True))
            event_json[id(event)] = str(event_row["data"])
            events.append(event_row)
        notifications.extend(
            dict(
                zip(
                    codec.OUTBOX_COLUMNS,
                    codec.notification_row(n, event_json.get(id(n.event))),
                    strict=True,
                )
            )
            for n in change.outbox
        )
    return tickets, events, notifications, tags


class SQLAlchemyStore(RecordStore):
    """A store on PostgreSQL, MariaDB/MySQL or SQLite through SQLAlchemy 2 (PostgreSQL,
    MariaDB and SQLite are tested): :class:`RecordStore` on a
    :class:`~aftersales.storage.recorder.SQLAlchemyRecorder` of ``url_or_engine``, with
    the ``engine_options`` of :func:`sqlalchemy.create_engine`. Any other database is
    refused with :class:`~aftersales.StorageError` before a connection is made.

    >>> store = SQLAlchemyStore("sqlite://")
    >>> store.schema_version == SCHEMA_VERSION
    True

    On MySQL and MariaDB every text column uses a binary collation without padding
    (``utf8mb4_nopad_bin`` on MariaDB, ``utf8mb4_0900_bin`` on MySQL), so identifiers,
    addresses and keys compare exactly as on the other stores: ``"cust-abc"`` is not
    ``"CUST-ABC"``, ``"a "`` is not ``"a"``, ``"é"`` is not ``"e"`` and no two emoji are
    equal. Schema version 5 converts the tables of an older database (a rebuild of each
    table on MySQL and MariaDB, taking time in proportion to its size).

    ``tenant`` names the shop whose rows the store reads and writes in a database several
    shops share (default ``""``); :meth:`~aftersales.storage.recorder.RecordStore.
    for_tenant` gives another shop's store on the same pool. ``row_level_security=True``
    (PostgreSQL) names the tenant in every transaction for the policies of
    :func:`row_level_security_statements` (docs/how-to/several-shops.md).
    """

    recorder: SQLAlchemyRecorder

    def __init__(
        self,
        url_or_engine: str | Engine,
        *,
        tenant: str = "",
        row_level_security: bool = False,
        **engine_options: Any,
    ) -> None:
        super().__init__(
            SQLAlchemyRecorder(
                url_or_engine,
                tenant=tenant,
                row_level_security=row_level_security,
                **engine_options,
            )
        )
        self.engine: Engine = self.recorder.engine
        """The engine; with row-level security, one whose every transaction names the
        store's tenant (raw SQL on it sees that tenant's rows only, as a role the policies
        bind)."""
        self.dialect: str = self.recorder.dialect

    def _scoped(self, recorder: Any) -> None:
        self.engine = recorder.engine

    @property
    def schema_version(self) -> int:
        """The schema version of the database."""
        return self.recorder.schema_version

    def drop_schema(self) -> None:
        """Drop every table of this store (for tests and teardown)."""
        self.recorder.drop_schema()

    def _write(self, records: Records, change: Change) -> int:
        """A transition (a ticket's next version, its events and outbox rows, the
        acknowledgements it carries) in the codec's tuples, each compared, bound and
        executed as it is, rather than rows by name that each layer copies: through the
        port, the store's own Python cost as much per commit as SQLAlchemy's. The same
        statements, checks and errors as :class:`RecordStore`, which writes anything
        else (a new ticket, a customer, messages)."""
        if change.expected_version == 0 or change.customer is not None or change.messages:
            return super()._write(records, change)
        batch = cast(_Transaction, records)  # this recorder's
        ticket = change.ticket
        row = codec.ticket_row(ticket)
        written = batch.update_ticket(ticket.id, change.expected_version, row)
        if written is None:  # not the version this store committed, or its tags changed
            named = dict(zip(codec.TICKET_COLUMNS, row, strict=True))
            written = update_ticket(records, ticket, change.expected_version, named)
        if not written:
            raise ConcurrencyError(
                ticket.id, change.expected_version, stored_version(records, "tickets", ticket.id)
            )
        if not batch.append_log(change.events, change.outbox):
            raise ConcurrencyError(ticket.id, change.expected_version, None)
        if change.delivered:
            batch.acknowledge(change.delivered, codec.ts(ticket.updated_at) or "")
        return 0

    def commit_many(self, changes: Sequence[Change]) -> None:
        """An import's new tickets in three statements (one per table, each executed for
        all the rows at once) instead of three per ticket: through the port, an import
        cost a third more instructions than the store's own statements had. Any other
        batch, and a batch that breaks a key, goes through :class:`RecordStore` (which
        finds the ticket at fault and raises its error)."""
        if not changes or not _is_import(changes):
            super().commit_many(changes)
            return
        top = max(change.ticket.number for change in changes)

        def work(records: Records) -> int:
            # rows made inside the transaction: a value that cannot be serialised is
            # translated as the recorder translates a driver's refusal
            tickets, events, notifications, tags = _import_rows(changes)
            batch = cast(_Transaction, records)  # this recorder's: it inserts many at once
            if not (
                batch.insert_many("tickets", tickets)
                and batch.insert_many("events", events)
                and (not notifications or batch.insert_many("outbox", notifications))
                and (not tags or batch.insert_many("ticket_tags", tags))
            ):
                raise _Refused
            if top < self._counter_floor:
                return 0
            return batch.count("ticket_number", at_least=top + 1)

        try:
            reached = self.recorder.atomically(work)
        except _Refused:  # nothing was written: row by row, for the error that says why
            super().commit_many(changes)
        else:
            if reached > self._counter_floor:
                self._counter_floor = reached

    def close(self) -> None:
        """Release the pool's connections (the engine stays usable if you passed it in)."""
        if self._owner:
            self.recorder.close()

    def __enter__(self) -> SQLAlchemyStore:
        return self
