"""A large after-sales database, built fast: a small history generated once through the
desk (:func:`~aftersales.insights.generate_history`), then its rows copied many times in
the database itself, with new ids and numbers and times shifted by a few days.

Only the columns are rewritten: each copy's JSON ``data`` is its original's (so a copied
ticket's ``data`` names the original's id). The reports count the columns, and the
customers' JSON is read only for their tier, which a copy keeps: good for timing
reports, not for reading tickets back.

The database is opened by the store first, so its tables and indexes are the store's own
(the secondary indexes are dropped during the copy and built again after it, as an import
into an empty store does). A built database is marked in its ``state`` table and reused
by the next run with the same size.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

from aftersales import Desk, FrozenClock, SQLiteStore
from aftersales.insights.history import generate_history
from aftersales.storage import _schema as schema

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
DAYS = 364
SEED = 20
BASE_TICKETS = 2_000
SPREAD_MINUTES = 7 * 24 * 60
"""Copies are shifted by up to a week, so each day of the year holds about as many
tickets as every other day of its weekday."""
COPIED = ("tickets", "events", "messages", "cases", "customers")
_MARK = "bench:bulk_history"
SCHEMA = hashlib.sha256(repr((schema.TABLES, schema.INDEXES)).encode()).hexdigest()[:12]
"""The schema's fingerprint: a cached database of another schema is built again."""

_ID_COLUMNS = {
    "tickets": ("id", "customer_id", "merged_into", "parent_id", "follow_up_of"),
    "events": ("subject_id",),
    "messages": ("id", "ticket_id"),
    "cases": ("id", "ticket_id", "order_id", "serial", "parent_id", "customer_id"),
    "customers": ("id",),
}
_TIME_COLUMNS = {
    "tickets": (
        "created_at",
        "due_at",
        "sla_due_at",
        "first_response_at",
        "resolved_at",
        "closed_at",
    ),
    "events": ("at",),
    "messages": ("at",),
    "cases": ("step_due_at", "created_at", "closed_at", "paid_at"),
    "customers": (),
}


def sizes(tickets: int) -> tuple[int, int]:
    """``(base tickets, copies)`` for about ``tickets`` tickets."""
    base = min(tickets, BASE_TICKETS)
    return base, max(1, round(tickets / base))


def base_history(tickets: int, folder: Path) -> Path:
    """An SQLite file holding a generated history of ``tickets`` tickets over a year
    (cached in ``folder``)."""
    path = folder / f"aftersales-bench-base-{tickets}-{SEED}-{SCHEMA}.sqlite"
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    store = SQLiteStore(partial)
    desk = Desk(store, clock=FrozenClock(START))
    generate_history(desk, tickets=tickets, start=START, days=DAYS, seed=SEED)
    store.close()
    partial.rename(path)
    return path


def _columns(table: str) -> list[str]:
    return [column.name for column in schema.table(table).columns]


def _select(table: str, columns: list[str], shift: str, source: str) -> str:
    """``SELECT`` of a copy of ``source``'s rows of ``table`` (joined with ``bulk_copies
    c``), ids suffixed with the copy, times shifted by ``shift`` (an expression of the
    time column ``{}`` and ``c.minutes``)."""
    cells = []
    for name in columns:
        if name in _ID_COLUMNS[table]:
            cells.append(f"CASE WHEN b.{name} IS NULL THEN NULL ELSE b.{name} || c.suffix END")
        elif name in _TIME_COLUMNS[table]:
            column = f"b.{name}"
            cells.append(f"CASE WHEN {column} IS NULL THEN NULL ELSE {shift.format(column)} END")
        elif table == "tickets" and name == "number":
            cells.append("b.number + c.k * c.step")
        else:
            cells.append(f"b.{name}")
    return f"SELECT {', '.join(cells)} FROM {source} b CROSS JOIN bulk_copies c"


def _copies(copies: int, base: int) -> list[tuple[int, str, int, int]]:
    """``(k, suffix, minutes, step)`` of each copy: copy 0 keeps its ids and times."""
    return [
        (k, "" if k == 0 else f"-{k:04d}", (k * 4391) % SPREAD_MINUTES, base) for k in range(copies)
    ]


_SQLITE_SHIFT = (
    "strftime('%Y-%m-%dT%H:%M:%S', substr({0}, 1, 19), '+' || c.minutes || ' minutes')"
    " || substr({0}, 20)"
)


def sqlite_database(tickets: int, folder: Path) -> Path:
    """An SQLiteStore file of about ``tickets`` tickets (cached in ``folder``)."""
    base_size, copies = sizes(tickets)
    path = folder / f"aftersales-bench-report-{base_size * copies}.sqlite"
    mark = f"{base_size}x{copies}:{SEED}:{SCHEMA}"
    if path.exists():
        with sqlite3.connect(path) as conn:
            found = conn.execute("SELECT value FROM state WHERE key = ?", (_MARK,)).fetchone()
        if found and found[0] == mark:
            return path
        path.unlink()
    base = base_history(base_size, folder)
    started = time.perf_counter()
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    SQLiteStore(partial).close()  # the store's own schema
    conn = sqlite3.connect(partial, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    indexes = [index for index in schema.INDEXES if index.table in COPIED]
    for index in indexes:
        conn.execute(f"DROP INDEX {index.name}")
    conn.execute("ATTACH DATABASE ? AS base", (str(base),))
    conn.execute("CREATE TEMP TABLE bulk_copies (k INTEGER, suffix TEXT, minutes INTEGER, step)")
    conn.executemany("INSERT INTO bulk_copies VALUES (?, ?, ?, ?)", _copies(copies, base_size))
    conn.execute("BEGIN")
    for table in COPIED:
        # ordered by key: the primary key's index is then appended to, not split
        order = {"events": " ORDER BY 1, 2"}.get(table, " ORDER BY 1")
        # (a message's position is SQLite's rowid: the order of insertion)
        columns = [name for name in _columns(table) if name != "position"]
        select = _select(table, columns, _SQLITE_SHIFT, f"base.{table}")
        conn.execute(f"INSERT INTO main.{table} ({', '.join(columns)}) {select}{order}")
    conn.execute(
        "UPDATE counters SET value = (SELECT max(number) + 1 FROM tickets)"
        " WHERE name = 'ticket_number'"
    )
    conn.execute("INSERT INTO state (key, value) VALUES (?, ?)", (_MARK, mark))
    conn.execute("COMMIT")
    for index in indexes:
        conn.execute(schema.sqlite_index(index))
    conn.execute("DETACH DATABASE base")
    conn.close()
    partial.rename(path)
    print(f"built {path} in {time.perf_counter() - started:.0f} s")
    return path


_PG_SHIFT = (
    "to_char(CAST(substr({0}, 1, 26) AS TIMESTAMP) + make_interval(mins => c.minutes),"
    " 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || substr({0}, 27)"
)


def server_database(url: str, tickets: int, folder: Path) -> None:
    """Fill the database at ``url`` (PostgreSQL) with about ``tickets`` tickets, unless
    it holds them already: the store's schema, the base history's rows copied into
    staging tables, then copied server-side."""
    import sqlalchemy as sa

    from aftersales.storage.sqlalchemy import SQLAlchemyStore, metadata

    base_size, copies = sizes(tickets)
    mark = f"{base_size}x{copies}:{SEED}:{SCHEMA}"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT value FROM state WHERE key = :key"), {"key": _MARK}
            ).scalar()
    except sa.exc.SQLAlchemyError:
        found = None
    if found == mark:
        engine.dispose()
        return
    started = time.perf_counter()
    metadata.drop_all(engine)
    SQLAlchemyStore(engine).close()
    base = sqlite3.connect(base_history(base_size, folder))
    names = [index.name for index in schema.INDEXES if index.table in COPIED]
    with engine.begin() as conn:
        created = conn.execute(
            sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(:names)"),
            {"names": names},
        ).all()
        for name, _definition in created:
            conn.execute(sa.text(f"DROP INDEX {name}"))
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            for table in COPIED:
                columns = _columns(table)
                cursor.execute(f"CREATE TEMP TABLE bulk_{table} (LIKE {table})")
                read = ", ".join("rowid" if name == "position" else name for name in columns)
                rows = base.execute(f"SELECT {read} FROM {table}").fetchall()
                with cursor.copy(f"COPY bulk_{table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            cursor.execute(
                "CREATE TEMP TABLE bulk_copies (k INTEGER, suffix TEXT, minutes INTEGER,"
                " step INTEGER)"
            )
            cursor.executemany(
                "INSERT INTO bulk_copies VALUES (%s, %s, %s, %s)", _copies(copies, base_size)
            )
            for table in COPIED:
                columns = _columns(table)
                select = _select(table, columns, _PG_SHIFT, f"bulk_{table}")
                cursor.execute(f"INSERT INTO {table} ({', '.join(columns)}) {select}")
            cursor.execute(
                "UPDATE counters SET value = (SELECT max(number) + 1 FROM tickets)"
                " WHERE name = 'ticket_number'"
            )
            cursor.execute("INSERT INTO state (key, value) VALUES (%s, %s)", (_MARK, mark))
        for _name, definition in created:
            conn.execute(sa.text(definition))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in COPIED:
            conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
    engine.dispose()
    base.close()
    print(f"built {url} in {time.perf_counter() - started:.0f} s")
