"""Bulk import of 100,000 tickets with their creation events on SQLite, batched: at least
50,000 tickets/s, next to a raw sqlite3 script inserting the same rows in the same batches
with the store's multi-row statements, its indexes kept up row by row (as before the store
built them at the end of an import into an empty store) and, second, built once at the end
as the store does: what SQLite itself manages with rows already built and nothing
validated.

Run: python benchmarks/bench_import.py [tickets]
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _timing import report
from aftersales import Desk, SQLiteStore
from aftersales.storage import _codec as codec
from aftersales.storage._schema import TABLES
from aftersales.storage._schema_versions import sqlite_create
from aftersales.storage.sqlite import (
    _EVENT_INSERT_HEAD,
    _EVENT_VALUES,
    _TICKET_INDEXES,
    _TICKET_INSERT_HEAD,
    _TICKET_VALUES,
    _insert_rows,
)

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
ROUNDS = 3
T0 = datetime(2023, 5, 1, 8, tzinfo=timezone.utc)


def records() -> list[dict[str, object]]:
    return [
        {
            "id": f"legacy-{n:07d}",
            "channel": "email",
            "subject": f"Imported case {n}",
            "customer_id": f"c{n % 997}",
            "status": "closed",
            "assignee": "li",
            "created_at": T0 + timedelta(minutes=n),
            "updated_at": T0 + timedelta(minutes=n + 5),
        }
        for n in range(COUNT)
    ]


def raw_import(path: Path, rows: list[dict[str, object]], *, indexes_at_end: bool) -> float:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    for table in TABLES:  # the store's own layout, as declared
        for statement in sqlite_create(table.name):
            connection.execute(statement)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
    started = time.perf_counter()
    if indexes_at_end:
        for name in _TICKET_INDEXES:
            connection.execute(f"DROP INDEX {name}")
    for first in range(0, len(rows), 1000):
        tickets, events = [], []
        for number, record in enumerate(rows[first : first + 1000], start=first + 1):
            created = record["created_at"].isoformat(timespec="microseconds")  # type: ignore[attr-defined]
            data = dumps({**record, "number": number, "status_category": "closed", "version": 1})
            columns = {
                "status": "closed",
                "status_category": "closed",
                "version": 1,
                "customer_id": record["customer_id"],
                "channel": "email",
                "assignee": "li",
                "priority": "normal",
                "reopen_count": 0,
                "data": data,
            }
            # absent: bound as '' through NULLIF, as the store does
            tickets.append(
                (
                    *(columns.get(name, "") for name in codec.TICKET_COLUMNS),
                    record["id"],
                    number,
                    "ticket",
                    created,
                )
            )
            event = {
                "subject_id": record["id"],
                "sequence": 1,
                "trigger": "created",
                "at": created,
                "kind": "ticket",
                "to_state": "closed",
                "actor": "import",
                "data": dumps(
                    {"subject_id": record["id"], "sequence": 1, "changes": json.loads(data)}
                ),
            }
            events.append(tuple(event.get(name, "") for name in codec.EVENT_COLUMNS))
        connection.execute("BEGIN IMMEDIATE")
        flat_tickets = [value for row in tickets for value in row]
        _insert_rows(connection, _TICKET_INSERT_HEAD, _TICKET_VALUES, flat_tickets)
        _insert_rows(connection, _EVENT_INSERT_HEAD, _EVENT_VALUES, [v for e in events for v in e])
        connection.execute("COMMIT")
    if indexes_at_end:
        for statement in _TICKET_INDEXES.values():
            connection.execute(statement)
    seconds = time.perf_counter() - started
    connection.close()
    return seconds


def desk_import(path: Path, rows: list[dict[str, object]]) -> float:
    desk = Desk(SQLiteStore(path), settings={"number_block_size": 1000})
    started = time.perf_counter()
    assert desk.import_tickets(rows, batch_size=1000) == COUNT
    seconds = time.perf_counter() - started
    desk.close()
    return seconds


def main() -> int:
    rows = records()
    # Three rounds in turns, medians: one import takes seconds, long enough for this
    # machine's speed to change between a run and its floor.
    samples: dict[str, list[float]] = {"desk": [], "floor": [], "ceiling": []}
    for round_ in range(ROUNDS):
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            samples["desk"].append(desk_import(folder / "import.db", rows))
            samples["floor"].append(raw_import(folder / "raw.db", rows, indexes_at_end=False))
            samples["ceiling"].append(
                raw_import(folder / "raw-indexes-at-end.db", rows, indexes_at_end=True)
            )
        print(f"     round {round_ + 1}: " + ", ".join(
            f"{name} {COUNT / seconds[-1]:,.0f}/s" for name, seconds in samples.items()
        ))  # fmt: skip
    seconds = statistics.median(samples["desk"])
    report(
        f"import {COUNT:,} tickets with events into SQLite vs raw sqlite3, indexes built at end",
        COUNT / seconds,
        COUNT / statistics.median(samples["ceiling"]),
        "tickets/s",
        "reported",
        True,
    )
    ok = report(
        f"import {COUNT:,} tickets with events into SQLite",
        COUNT / seconds,
        COUNT / statistics.median(samples["floor"]),
        "tickets/s",
        ">= 50,000 tickets/s",
        COUNT / seconds >= 50_000,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
