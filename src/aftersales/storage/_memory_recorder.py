""":class:`MemoryRecorder`: the reference :class:`~aftersales.storage.recorder.Recorder`,
rows in dictionaries under one lock. A transaction copies the tables' indexes (not the
rows) and puts them back when it fails: simple and correct, at a cost in proportion to the
number of rows, which is what a reference, not a production store, can afford."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from aftersales.storage._recorder import Records, Row

T = TypeVar("T")

KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "tickets": (("id",), ("number",)),
    "ticket_tags": (("tag", "created_at", "number"),),
    "cases": (("id",),),
    "events": (("subject_id", "sequence"),),
    "messages": (("id",),),
    "outbox": (("key",),),
    "customers": (("id",),),
    "state": (("key",),),
    "security_log": (("id",),),
}
"""Each table's keys; the first is the one its rows are kept by."""


def _key(row: Mapping[str, Any], columns: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(row[column] for column in columns)


class MemoryRecorder:
    """Rows in dictionaries, guarded by one lock. Nothing survives the process.

    >>> from aftersales.storage.recorder import RecordStore
    >>> RecordStore(MemoryRecorder()).get_state("missing") is None
    True
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._rows: dict[str, dict[tuple[Any, ...], Row]] = {table: {} for table in KEYS}
        self._contacts: dict[tuple[str, str], str] = {}
        self._counters: dict[str, int] = {"ticket_number": 1}

    # ------------------------------------------------------------------ Recorder

    def atomically(self, work: Callable[[Records], T], *, hold: Sequence[str] = ()) -> T:
        with self._lock:  # one lock: it holds every key at once
            saved = (
                {table: dict(rows) for table, rows in self._rows.items()},
                dict(self._contacts),
                dict(self._counters),
            )
            try:
                return work(self)
            except BaseException:
                self._rows, self._contacts, self._counters = saved
                raise

    def reading(self, work: Callable[[Records], T]) -> T:
        with self._lock:
            return work(self)

    def close(self) -> None:
        """Nothing to release."""

    # ------------------------------------------------------------------ subjects

    def insert(self, table: str, row: Mapping[str, Any]) -> bool:
        rows = self._rows[table]
        primary, *others = KEYS[table]
        if _key(row, primary) in rows:
            return False
        for columns in others:
            value = _key(row, columns)
            if any(_key(r, columns) == value for r in rows.values()):
                return False
        rows[_key(row, primary)] = dict(row)
        return True

    def update(
        self,
        table: str,
        key: str,
        version: int,
        row: Mapping[str, Any],
        *,
        keeping: Mapping[str, Any] | None = None,
    ) -> bool:
        rows = self._rows[table]
        current = rows.get((key,))
        if current is None or current["version"] != version:
            return False
        if any(current.get(column) != value for column, value in (keeping or {}).items()):
            return False
        rows[(key,)] = {**current, **row}
        return True

    def delete(self, table: str, where: Mapping[str, Any]) -> int:
        rows = self._rows[table]
        gone = [
            key
            for key, row in rows.items()
            if all(row.get(column) == value for column, value in where.items())
        ]
        for key in gone:
            del rows[key]
        return len(gone)

    def rewrite(self, table: str, where: Mapping[str, Any], row: Mapping[str, Any]) -> int:
        rows = self._rows[table]
        changed = 0
        for key, current in rows.items():
            if all(current.get(column) == value for column, value in where.items()):
                rows[key] = {**current, **row}
                changed += 1
        return changed

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
        found = list(self._matching(table, where, since, until, after, tags))
        if order:
            found.sort(key=lambda row: tuple(row[column] for column in order))
        found = found[offset:]
        return found if limit is None else found[:limit]

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
        matched = sum(1 for _ in self._matching(table, where, since, until, after, tags))
        left = max(0, matched - offset)
        return left if limit is None else min(left, limit)

    def _matching(
        self,
        table: str,
        where: Mapping[str, Any],
        since: Mapping[str, Any] | None,
        until: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        tags: Sequence[str],
    ) -> Iterator[Row]:
        """The rows of ``table`` that pass a select's filters, in no order."""
        tagged = self._rows["ticket_tags"]
        start = tuple((after or {}).values())
        return (
            row
            for row in self._rows[table].values()
            if all(row.get(column) == value for column, value in where.items())
            and all(row[c] is not None and row[c] >= v for c, v in (since or {}).items())
            and all(row[c] is not None and row[c] < v for c, v in (until or {}).items())
            and (not start or tuple(row[c] for c in after or {}) > start)
            and all((tag, row["created_at"], row["number"]) in tagged for tag in tags)
        )

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
        found = [
            row
            for row in self._rows[table].values()
            if row[column] is not None and row[column] <= at
        ]
        found.sort(key=lambda row: tuple(row[c] for c in order))
        return found[:limit]

    def append(
        self, events: Sequence[Mapping[str, Any]], outbox: Sequence[Mapping[str, Any]]
    ) -> bool:
        return all(self.insert("events", row) for row in events) and all(
            self.insert("outbox", row) for row in outbox
        )

    # ------------------------------------------------------------------ outbox

    def claim(self, now: str, lease_until: str, limit: int) -> list[Row]:
        rows = self._rows["outbox"]
        found = sorted(
            (
                row
                for row in rows.values()
                if row["status"] == "pending"
                and row["next_attempt_at"] <= now
                and (row["lease_until"] is None or row["lease_until"] <= now)
            ),
            key=lambda row: (row["next_attempt_at"], row["key"]),
        )[:limit]
        for row in found:
            rows[(row["key"],)] = {**row, "lease_until": lease_until}
        return found

    def acknowledge(self, keys: Sequence[str], at: str) -> None:
        rows = self._rows["outbox"]
        for key in keys:
            row = rows.get((key,))
            if row is not None and row["status"] == "pending":
                rows[(key,)] = {
                    **row,
                    "status": "delivered",
                    "delivered_at": at,
                    "lease_until": None,
                }

    def fail(self, key: str, error: str, retry_at: str | None, status: str) -> None:
        rows = self._rows["outbox"]
        row = rows.get((key,))
        if row is not None and row["status"] == "pending":
            rows[(key,)] = {
                **row,
                "attempts": row["attempts"] + 1,
                "last_error": error,
                "lease_until": None,
                "next_attempt_at": retry_at or row["next_attempt_at"],
                "status": status,
            }

    # ------------------------------------------------------------------ customers, counters

    def contact_owners(self, contacts: Sequence[tuple[str, str]]) -> list[str | None]:
        return [self._contacts.get(contact) for contact in contacts]

    def put_customer(
        self, customer_id: str, data: str, contacts: Sequence[tuple[str, str]]
    ) -> None:
        self._contacts = {k: v for k, v in self._contacts.items() if v != customer_id}
        self._contacts.update(dict.fromkeys(contacts, customer_id))
        self._rows["customers"][(customer_id,)] = {"id": customer_id, "data": data}

    def count(self, name: str, *, add: int = 0, at_least: int = 0) -> int:
        value = max(self._counters.get(name, 1) + add, at_least)
        self._counters[name] = value
        return value

    def put(self, table: str, row: Mapping[str, Any]) -> None:
        self._rows[table][_key(row, KEYS[table][0])] = dict(row)
