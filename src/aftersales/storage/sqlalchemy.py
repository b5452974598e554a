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
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'SQLAlchemyStore needs the sql extra: pip install "aftersales[sql]"'
    ) from error

from aftersales.exceptions import AftersalesError
from aftersales.storage import _codec as codec
from aftersales.storage._codec import SCHEMA_VERSION
from aftersales.storage._record_store import RecordStore
from aftersales.storage._recorder import Records, Row
from aftersales.storage._sqlalchemy.recorder import SQLAlchemyRecorder
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

__all__ = ["SCHEMA_VERSION", "SQLAlchemyStore", "metadata"]


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
        ticket = change.ticket
        row = dict(zip(codec.TICKET_COLUMNS, codec.ticket_row(ticket), strict=True))
        row.update(zip(codec.TICKET_KEY_COLUMNS, codec.ticket_key(ticket), strict=True))
        tickets.append(row)
        tags.extend(
            {"tag": tag, "created_at": created_at, "number": number}
            for tag, created_at, number in codec.tag_rows(ticket)
        )
        event_json: dict[int, str] = {}
        for event in change.events:
            event_row = dict(zip(codec.EVENT_COLUMNS, codec.event_row(event), strict=True))
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
    >>> store.schema_version
    10

    On MySQL and MariaDB every text column uses a binary collation without padding
    (``utf8mb4_nopad_bin`` on MariaDB, ``utf8mb4_0900_bin`` on MySQL), so identifiers,
    addresses and keys compare exactly as on the other stores: ``"cust-abc"`` is not
    ``"CUST-ABC"``, ``"a "`` is not ``"a"``, ``"é"`` is not ``"e"`` and no two emoji are
    equal. Schema version 5 converts the tables of an older database (a rebuild of each
    table on MySQL and MariaDB, taking time in proportion to its size).
    """

    recorder: SQLAlchemyRecorder

    def __init__(self, url_or_engine: str | Engine, **engine_options: Any) -> None:
        super().__init__(SQLAlchemyRecorder(url_or_engine, **engine_options))
        self.engine: Engine = self.recorder.engine
        self.dialect: str = self.recorder.dialect

    @property
    def schema_version(self) -> int:
        """The schema version of the database."""
        return self.recorder.schema_version

    def drop_schema(self) -> None:
        """Drop every table of this store (for tests and teardown)."""
        self.recorder.drop_schema()

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
        self.recorder.close()

    def __enter__(self) -> SQLAlchemyStore:
        return self
