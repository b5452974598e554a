"""The narrow port a storage backend implements: a recorder of plain rows (public in
:mod:`aftersales.storage.recorder`).

A :class:`Recorder` runs work in transactions (:meth:`Recorder.atomically`, which can also
hold named locks for the whole transaction) and hands it :class:`Records`: a few small
methods over plain rows (column name → text, integer or ISO instant, in the columns of
:mod:`aftersales.storage._codec`). :class:`RecordStore` implements the whole
:class:`~aftersales.Store` protocol on top of any recorder: the checks, the errors and the
mapping between records and rows are written once, there. A new backend is a recorder
only, and passes the same contracts (:mod:`aftersales.testing.contracts`) through
``RecordStore(MyRecorder(...))``.

The tables and their keys (a backend must refuse a second row with the same key):

=============== ===================================== ===================================
table           key(s)                                rows from
=============== ===================================== ===================================
``tickets``     ``id``; ``number``                    :data:`~._codec.TICKET_COLUMNS`,
                                                      :data:`~._codec.TICKET_KEY_COLUMNS`
``ticket_tags`` ``tag, created_at, number``           :func:`~._codec.tag_rows`
``cases``       ``id``                                :data:`~._codec.CASE_COLUMNS`,
                                                      ``terms``, ``CASE_KEY_COLUMNS``
``events``      ``subject_id, sequence``              :data:`~._codec.EVENT_COLUMNS`
``messages``    ``id``                                :data:`~._codec.MESSAGE_COLUMNS`
``outbox``      ``key``                               :data:`~._codec.OUTBOX_COLUMNS`
``customers``   ``id`` (and contact points)           ``id``, ``data``
``state``       ``key``                               ``key``, ``value``
``security_log`` ``id``                               ``id``, ``kind``, ``at``, ``data``
=============== ===================================== ===================================

:class:`~aftersales.storage.recorder.MemoryRecorder` is the reference recorder, in
dictionaries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Row = dict[str, Any]
"""One row: column name → value (``None`` for NULL)."""


class SubjectRecords(Protocol):
    """Rows of tickets, cases, events and messages."""

    def insert(self, table: str, row: Mapping[str, Any]) -> bool:
        """Insert ``row``; False (and nothing written) when one of the table's keys is
        taken."""

    def update(
        self,
        table: str,
        key: str,
        version: int,
        row: Mapping[str, Any],
        *,
        keeping: Mapping[str, Any] | None = None,
    ) -> bool:
        """Set ``row``'s columns on the row whose ``id`` is ``key`` and whose ``version``
        is ``version`` (and whose ``keeping`` columns hold their values already, NULL
        matching None); False when there is none. (A ticket's write keeps its ``tags``:
        when they are the same, the ``ticket_tags`` rows need no statement.)"""

    def delete(self, table: str, where: Mapping[str, Any]) -> int:
        """Delete every row equal to ``where``; how many there were (``ticket_tags``
        rows a ticket no longer has)."""

    def rewrite(self, table: str, where: Mapping[str, Any], row: Mapping[str, Any]) -> int:
        """Set ``row``'s columns on every row equal to ``where``; how many there were.
        (Erasing personal data: rows rewritten in place, keys and versions unchanged.)"""

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
        """The rows equal to ``where``, with each ``since`` column at least its value and
        each ``until`` column below its value, ordered by the ``order`` columns (ties in
        the order they were written), from ``offset``, at most ``limit``; with the
        ``columns`` named (at least), or all of them.

        ``after`` pages by keyset: only the rows whose ``after`` columns, compared as one
        tuple in the order given, come after its values (its columns are ``order``'s
        first ones). ``tags`` (``tickets`` only): only the tickets with a
        ``ticket_tags`` row for each of them. A SQL recorder reads a find in ``order``
        from an index (:data:`~._schema.INDEXES`), a tag query from ``ticket_tags``."""

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
        """How many rows :meth:`select` would answer with the same arguments (its
        ``order`` and ``columns`` change no count): ``len(select(...))``, without reading
        the rows. A SQL recorder counts in the index the select would read, and stops at
        ``offset + limit``."""

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
        """At most ``limit`` rows whose ``column`` is not NULL and at most ``at``, in
        ``order``, with ``columns`` (or all)."""

    def append(
        self, events: Sequence[Mapping[str, Any]], outbox: Sequence[Mapping[str, Any]]
    ) -> bool:
        """Insert a change's events and outbox rows; False when an event's
        ``(subject_id, sequence)`` or an outbox ``key`` is taken (the transaction is then
        abandoned)."""


class OutboxRecords(Protocol):
    """Outbox rows: claimed with a lease, delivered or failed."""

    def claim(self, now: str, lease_until: str, limit: int) -> list[Row]:
        """At most ``limit`` pending rows due by ``now`` and not leased past it, in
        ``(next_attempt_at, key)`` order, leased until ``lease_until``; the rows as they
        were before the lease."""

    def acknowledge(self, keys: Sequence[str], at: str) -> None:
        """Mark the pending rows ``keys`` delivered at ``at``, without a lease."""

    def fail(self, key: str, error: str, retry_at: str | None, status: str) -> None:
        """Count a failed attempt of the pending row ``key``: ``error`` kept, lease
        dropped, next attempt at ``retry_at`` (unchanged when None), ``status`` set."""


class CustomerRecords(Protocol):
    """Customers and the contact points that find them."""

    def contact_owners(self, contacts: Sequence[tuple[str, str]]) -> list[str | None]:
        """The customer id holding each ``(channel, address)``, or None."""

    def put_customer(
        self, customer_id: str, data: str, contacts: Sequence[tuple[str, str]]
    ) -> None:
        """Insert or replace the customer and make ``contacts`` its contact points."""


class CounterRecords(Protocol):
    """Named counters (``ticket_number`` starts at 1) and key-value state."""

    def count(self, name: str, *, add: int = 0, at_least: int = 0) -> int:
        """Add ``add`` to the counter, raise it to ``at_least``; its value then."""

    def put(self, table: str, row: Mapping[str, Any]) -> None:
        """Insert or replace ``row`` by its key (``state`` rows)."""


class Records(SubjectRecords, OutboxRecords, CustomerRecords, CounterRecords, Protocol):
    """Everything a recorder does inside one transaction."""


class Recorder(Protocol):
    """A backend: transactions over :class:`Records`."""

    def atomically(self, work: Callable[[Records], T], *, hold: Sequence[str] = ()) -> T:
        """Run ``work`` in one transaction: all of it or none (an exception abandons it;
        ours pass, a driver's become :class:`~aftersales.StorageError` or
        :class:`~aftersales.InvalidInput`). While it runs, no other transaction holding any
        of the ``hold`` keys runs (an order's cases, checked before a return is written)."""

    def reading(self, work: Callable[[Records], T]) -> T:
        """Run ``work``, which only reads; it sees committed rows only."""

    def close(self) -> None:
        """Release the backend; it cannot be used afterwards."""


__all__ = [
    "CounterRecords",
    "CustomerRecords",
    "OutboxRecords",
    "Recorder",
    "Records",
    "Row",
    "SubjectRecords",
]
