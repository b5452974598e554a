"""Bulk import into SQLite next to its floor (issue 23): a raw sqlite3 script inserting
exactly the rows the import wrote, with the store's own statements, in the same batches
(one transaction each), the tickets' secondary indexes dropped first and built once at
the end. Target: the import at least 0.7x the script's tickets per second.

The script's rows are the store's, read back from the database the import wrote (every
table it wrote to: the tickets, their creation events and their tag rows, byte for byte,
in the order written), so the difference is the desk's own work (validating each record,
building the ticket and its event, sealing the audit chain, encoding the rows) and
nothing else. bench_import.py's raw script builds rows of its own instead, smaller than
the store's (its JSON holds a few of the fields), and writes no tag rows.

The tickets are those of bench_scale.py (the same generated mix), imported through
``Desk.import_tickets`` in batches of 1,000. Rounds run the import and the script in
turns; the figures are medians.

With ``--callgrind`` the instructions per ticket are counted too (valgrind's callgrind,
deterministic, as in bench_transition.py): the import and the script each run in a
process of their own under valgrind with collection off, a first batch warms them up,
and the measured ones run inside ``sys.call_tracing``, which ``--toggle-collect`` turns
collection on for. By hand::

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=sys_call_tracing \\
        python benchmarks/bench_import_floor.py --instructions desk 2000

The run also measures the ceiling an import can reach against that script: the script
plus what no import may skip, done by the desk's own functions with nothing stored
(validating each untrusted record into a ticket, building its creation event, sealing
that into the tamper-evident audit chain). The import's figure is printed against both.

``--stores`` counts, with ``--callgrind``, the same import on the record-backed stores
too (SQLAlchemyStore on a SQLite file, RecordStore on a MemoryRecorder), next to the
SQLite import's count: the rows they write are built by the same codec.

Run: python benchmarks/bench_import_floor.py [tickets] [--rounds N] [--callgrind [--stores]]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _callgrind import instructions_per_unit, run_counted
from _timing import report
from aftersales import Desk, SQLiteStore
from aftersales.storage._sqlite import statements
from aftersales.storage.sqlite import _insert_rows
from aftersales.tickets._commands import creation_event
from aftersales.tickets._importing import _validate_ticket
from bench_scale import SETTINGS, records

BATCH = 1000
TARGET = 0.7
SKIPPED = ("counters", "state")
"""Tables an import does not fill (the counter moves; nothing else is written there)."""


def desk_import(path: Path, rows: list[dict[str, Any]]) -> float:
    desk = Desk(SQLiteStore(path), settings=SETTINGS)
    started = time.perf_counter()
    assert desk.import_tickets(rows, batch_size=BATCH) == len(rows)
    seconds = time.perf_counter() - started
    desk.close()
    return seconds


def unskippable(rows: list[dict[str, Any]]) -> Callable[[], None]:
    """The work no import may skip beyond writing its rows, as the import does it for
    each record: validate it into a ticket (it is untrusted input), build its creation
    event and seal that into the audit chain. Nothing is stored."""
    core = Desk(settings=SETTINGS)._core
    seal, name, category_of = (
        core.pipeline.chain.seal,
        core.workflow.name,
        core.workflow.category_of,
    )

    def work() -> None:
        for record in rows:
            data = record.copy()
            data["workflow"] = name
            data["audit_chain"] = None
            data["status_category"] = category_of(data["status"])
            ticket = _validate_ticket(data)
            seal((creation_event(ticket, "import", exclude_none=True),), None)

    return work


def _statement(table: str, columns: list[str]) -> tuple[str, str, list[str], list[bool]]:
    """The store's multi-row INSERT of ``table`` (head, one row's VALUES, its columns and
    which of them bind '' for NULL), or a plain one for a table it has none for."""
    for constant in dir(statements):
        head = getattr(statements, constant)
        if (
            constant.endswith("_INSERT_HEAD")
            and isinstance(head, str)
            and head.startswith(f"INSERT INTO {table} (")
        ):
            values = getattr(statements, constant.replace("_INSERT_HEAD", "_VALUES"))
            named = head[head.index("(") + 1 : head.index(")")].split(", ")
            marks = re.findall(r"NULLIF\(\?,''\)|\?", values)
            assert len(marks) == len(named), (table, named, marks)
            return head, values, named, [mark != "?" for mark in marks]
    plain = ",".join("?" * len(columns))
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ",
        f"({plain})",
        columns,
        [False] * len(columns),
    )


def written_batches(path: Path) -> tuple[dict[str, tuple[str, str]], list[dict[str, list[Any]]]]:
    """Every row the import wrote, by batch (the batch of its ticket) and table, flat in
    the store's statement order: with each table's statement (head, VALUES)."""
    conn = sqlite3.connect(path)
    names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    # in the order the store inserts them within a batch
    tables = ["tickets", "events", *(n for n in names if n not in ("tickets", "events"))]
    number_of: dict[str, int] = dict(conn.execute("SELECT id, number FROM tickets"))
    sql: dict[str, tuple[str, str]] = {}
    batches: dict[int, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for table in tables:
        if table in SKIPPED or not conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
            continue
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        head, values, named, empty_for_null = _statement(table, columns)
        sql[table] = (head, values)
        without_rowid = (
            "WITHOUT ROWID"
            in conn.execute(
                "SELECT upper(sql) FROM sqlite_master WHERE name = ?", (table,)
            ).fetchone()[0]
        )
        order = "" if without_rowid else " ORDER BY rowid"
        if table == "events":
            key = "subject_id"
        elif "number" in columns:
            key = "number"
        else:
            raise RuntimeError(f"the import wrote rows to {table}, which this script cannot batch")
        at = named.index(key)
        for row in conn.execute(f"SELECT {', '.join(named)} FROM {table}{order}"):
            number = number_of[row[at]] if key == "subject_id" else row[at]
            cells = [
                "" if value is None and empty else value
                for value, empty in zip(row, empty_for_null, strict=True)
            ]
            batches[(number - 1) // BATCH][table] += cells
    conn.close()
    return sql, [batches[index] for index in sorted(batches)]


def raw_import(
    path: Path, sql: dict[str, tuple[str, str]], batches: list[dict[str, list[Any]]]
) -> float:
    conn = raw_connection(path)
    started = time.perf_counter()
    raw_write(conn, sql, batches)
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def raw_connection(path: Path) -> sqlite3.Connection:
    SQLiteStore(path).close()  # the store's schema, WAL journal
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def raw_write(
    conn: sqlite3.Connection, sql: dict[str, tuple[str, str]], batches: list[dict[str, list[Any]]]
) -> None:
    for name in statements._TICKET_INDEXES:  # as SQLiteStore.bulk_import does into an empty store
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    for batch in batches:
        conn.execute("BEGIN IMMEDIATE")
        for table, values in batch.items():
            _insert_rows(conn, *sql[table], values)
        conn.execute("COMMIT")
    for statement in statements._TICKET_INDEXES.values():
        conn.execute(statement)


def _fingerprint(path: Path, tables: list[str]) -> dict[str, str]:
    """A digest of each table's rows in their order, and the names of the indexes."""
    conn = sqlite3.connect(path)
    found = {}
    for table in tables:
        digest = hashlib.sha256()
        for row in conn.execute(f"SELECT * FROM {table}"):  # rowid or key order
            digest.update(repr(row).encode())
        found[table] = digest.hexdigest()
    found["(indexes)"] = repr(
        conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name").fetchall()
    )
    conn.close()
    return found


COUNTED = 2_000
"""Tickets imported (two batches) per workload under callgrind, after a batch of warm-up."""
WORKLOADS = ("desk", "raw", "unskippable")
STORES = ("sqlalchemy", "records")
"""The record-backed stores ``--stores`` counts an import on (see :func:`_store`)."""


def _store(workload: str, path: Path) -> Any:
    # imported here: the SQLite import's process loads no more modules than it did
    if workload == "sqlalchemy":
        from aftersales.storage.sqlalchemy import SQLAlchemyStore

        return SQLAlchemyStore(f"sqlite:///{path}")
    if workload == "records":
        from aftersales.storage.recorder import MemoryRecorder, RecordStore

        return RecordStore(MemoryRecorder())
    return SQLiteStore(path)


def counted_import(workload: str, count: int) -> None:
    """Import ``count`` tickets (the import, or the script writing the rows an import
    wrote) inside ``sys.call_tracing``, after a warm-up batch on a database of its own."""
    rows = list(records(count + BATCH))
    warm, counted = rows[:BATCH], rows[BATCH:]
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        if workload == "unskippable":
            unskippable(warm)()
            run_counted(unskippable(counted), ())
        elif workload in ("desk", *STORES):
            warming = Desk(_store(workload, folder / "warm.db"), settings=SETTINGS)
            assert warming.import_tickets(warm, batch_size=BATCH) == len(warm)
            warming.close()
            desk = Desk(_store(workload, folder / "import.db"), settings=SETTINGS)
            run_counted(lambda: desk.import_tickets(counted, batch_size=BATCH), ())
            desk.close()
        else:
            desk_import(folder / "import.db", counted)
            sql, batches = written_batches(folder / "import.db")
            raw_import(folder / "warm.db", sql, batches[:1])
            conn = raw_connection(folder / "raw.db")
            run_counted(raw_write, (conn, sql, batches))
            conn.close()


def instructions_per_ticket(
    count: int = COUNTED, workloads: tuple[str, ...] = WORKLOADS
) -> dict[str, float]:
    """Each workload's instructions per ticket, its processes run side by side."""
    return instructions_per_unit(__file__, workloads, count)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["--instructions"]:
        counted_import(arguments[1], int(arguments[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tickets", type=int, nargs="?", default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--stores", action="store_true")
    args = parser.parse_args(arguments)
    rows = list(records(args.tickets))
    samples: dict[str, list[float]] = {"desk": [], "raw": [], "unskippable": []}
    work = unskippable(rows)
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            samples["desk"].append(desk_import(folder / "import.db", rows))
            sql, batches = written_batches(folder / "import.db")
            samples["raw"].append(raw_import(folder / "raw.db", sql, batches))
            started = time.perf_counter()
            work()
            samples["unskippable"].append(time.perf_counter() - started)
            if round_ == 0:  # the script wrote what the import wrote
                tables = list(sql)
                imported = _fingerprint(folder / "import.db", tables)
                assert imported == _fingerprint(folder / "raw.db", tables), "rows differ"
                print(f"     tables written: {', '.join(tables)}")
        print(
            f"     round {round_ + 1}: import {args.tickets / samples['desk'][-1]:,.0f}/s, "
            f"raw script {args.tickets / samples['raw'][-1]:,.0f}/s"
        )
    figure = args.tickets / statistics.median(samples["desk"])
    floor = args.tickets / statistics.median(samples["raw"])
    ok = report(
        f"import {args.tickets:,} tickets into SQLite vs raw sqlite3 writing the same rows,"
        " indexes built at the end",
        figure,
        floor,
        "tickets/s",
        f">= {TARGET}x",
        figure >= TARGET * floor,
    )
    ceiling = args.tickets / (
        statistics.median(samples["raw"]) + statistics.median(samples["unskippable"])
    )
    report(
        "ceiling: the raw script plus validating and sealing each ticket (nothing else)",
        ceiling,
        floor,
        "tickets/s",
        "-",
        True,
    )
    print(f"     the import reaches {figure / ceiling:.2f} of that ceiling")
    if args.callgrind:
        per_ticket = instructions_per_ticket()
        # fewer instructions is faster: the floor's count over the import's
        ratio = per_ticket["raw"] / per_ticket["desk"]
        ok &= report(
            "import instructions per ticket (callgrind) vs the raw script's",
            per_ticket["desk"] / 1000,
            per_ticket["raw"] / 1000,
            "k instructions/ticket",
            f">= {TARGET}x, the floor's count over the import's",
            ratio >= TARGET,
            ratio,
        )
        ceiling_count = per_ticket["raw"] + per_ticket["unskippable"]
        print(
            f"     ceiling by instructions: {per_ticket['raw'] / 1000:,.1f}k + "
            f"{per_ticket['unskippable'] / 1000:,.1f}k unskippable = "
            f"{ceiling_count / 1000:,.1f}k a ticket, "
            f"{per_ticket['raw'] / ceiling_count:.2f}x the script; the import reaches "
            f"{ceiling_count / per_ticket['desk']:.2f} of it"
        )
    if args.callgrind and args.stores:
        on_stores = instructions_per_ticket(workloads=STORES)
        for workload, label in zip(
            STORES, ("SQLAlchemyStore (SQLite)", "MemoryRecorder"), strict=True
        ):
            print(
                f"     import on {label}: {on_stores[workload] / 1000:,.1f}k instructions/ticket"
                f" ({on_stores[workload] / per_ticket['desk']:.2f}x SQLiteStore's)"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
