"""The KPI report at scale (issue 20): ``build_report`` over 1,000,000 tickets with about
11 events each, on SQLite (SQLiteStore) and PostgreSQL (SQLAlchemyStore). Target: the
full report (ticket KPIs and the 12-point trend) in at most 2 s; each figure is printed
next to a bare ``SELECT count(*) FROM events`` measured in the same run, and next to a
single ``GROUP BY`` over the tickets (the least an aggregate report over them costs).

The database is a generated history of 2,000 tickets copied in the database with new ids
and shifted times (see ``_bulk_history``), cached under the temporary directory (SQLite:
a file; PostgreSQL: the database, marked in its ``state`` table).

Run: python benchmarks/bench_report_scale.py [--tickets N] [--curve] [--dwell] [--index]
     [--no-postgres] [--postgres URL]
``--curve`` runs 1,000, 10,000, 100,000 and N tickets; ``--dwell`` also times the report
with dwell times (slow on large databases); ``--index`` adds the covering index of
:data:`REPORT_INDEX` first (and a run without it drops it).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from _bulk_history import server_database, sqlite_database
from _timing import interleaved_medians, report
from aftersales import SQLiteStore
from aftersales.insights import ReportQuery, build_report
from aftersales.storage import Store

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test_bench"
TARGET_SECONDS = 2.0
QUARTER = ReportQuery(
    created_from=datetime(2024, 7, 1, tzinfo=timezone.utc),
    created_to=datetime(2024, 10, 1, tzinfo=timezone.utc),
)
YEAR = ReportQuery(
    created_from=datetime(2024, 1, 1, tzinfo=timezone.utc),
    created_to=datetime(2025, 1, 8, tzinfo=timezone.utc),
)
GROUP_BY_TICKETS = "SELECT channel, count(*) FROM tickets GROUP BY channel"
REPORT_INDEX = (
    "CREATE INDEX IF NOT EXISTS bench_tickets_report ON tickets (created_at, resolved_at,"
    " closed_at, first_response_at, reopen_count, satisfaction, id)"
)
"""The index ``--index`` adds: every column an ungrouped report reads, so that its
statements read the index alone (not yet one of the store's)."""


def _measure(
    label: str,
    store: Store,
    scalar: Callable[[str], object],
    tickets: int,
    *,
    dwell: bool,
) -> bool:
    repeats = 3 if tickets > 100_000 else 7
    batches: dict[str, Callable[[], object]] = {
        "count(*) events": lambda: scalar("SELECT count(*) FROM events"),
        "GROUP BY tickets": lambda: scalar(GROUP_BY_TICKETS),
    }
    for name, query in (("quarter", QUARTER), ("year", YEAR)):
        batches[f"report {name}"] = lambda query=query: build_report(store, query)
        batches[f"ticket KPIs {name}"] = lambda query=query: build_report(
            store, query, trend_points=0
        )
        if dwell:
            batches[f"report+dwell {name}"] = lambda query=query: build_report(
                store, query, dwell=True
            )
    medians = interleaved_medians(batches, per_batch=1, repeats=repeats)
    floor = medians.pop("count(*) events")
    ceiling = medians.pop("GROUP BY tickets")
    events = scalar("SELECT count(*) FROM events")
    print(f"-- {label}: {tickets:,} tickets, {events:,} events")
    report(f"{label} GROUP BY over tickets", ceiling * 1e3, floor * 1e3, "ms", "reported", True)
    met = True
    for name, seconds in medians.items():
        full = name.startswith("report ")
        ok = seconds <= TARGET_SECONDS or not full
        target = f"<= {TARGET_SECONDS:g} s" if full else "reported"
        met &= report(f"{label} {name}", seconds * 1e3, floor * 1e3, "ms", target, ok)
        print(f"     = {seconds / ceiling:.1f}x the GROUP BY over tickets")
    return met


def _index_statements(index: bool) -> list[str]:
    return [REPORT_INDEX] if index else ["DROP INDEX IF EXISTS bench_tickets_report"]


def _sqlite(tickets: int, folder: Path, *, dwell: bool, index: bool) -> bool:
    path = sqlite_database(tickets, folder)
    conn = sqlite3.connect(path)
    for statement in _index_statements(index):
        conn.execute(statement)
    store = SQLiteStore(path)
    label = "SQLite" + (" +index" if index else "")
    try:
        return _measure(
            label, store, lambda sql: conn.execute(sql).fetchall()[0][0], tickets, dwell=dwell
        )
    finally:
        conn.close()
        store.close()


def _postgres(url: str, tickets: int, folder: Path, *, dwell: bool, index: bool) -> bool:
    import sqlalchemy as sa

    from aftersales.storage.sqlalchemy import SQLAlchemyStore

    server_database(url, tickets, folder)
    engine = sa.create_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as setup:
        for statement in _index_statements(index):
            setup.execute(sa.text(statement))
        setup.execute(sa.text("VACUUM ANALYZE tickets"))
    store = SQLAlchemyStore(url)
    conn = engine.connect()
    try:
        return _measure(
            "PostgreSQL" + (" +index" if index else ""),
            store,
            lambda sql: conn.execute(sa.text(sql)).all()[0][0],
            tickets,
            dwell=dwell,
        )
    finally:
        conn.close()
        engine.dispose()
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--curve", action="store_true")
    parser.add_argument("--dwell", action="store_true")
    parser.add_argument("--index", action="store_true", help="add the report's covering index")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--postgres", default=PG)
    args = parser.parse_args()
    folder = Path(tempfile.gettempdir())
    sizes = [n for n in (1_000, 10_000, 100_000) if n < args.tickets] if args.curve else []
    met = True
    for tickets in (*sizes, args.tickets):
        met &= _sqlite(tickets, folder, dwell=args.dwell, index=args.index)
        if not args.no_postgres:
            met &= _postgres(args.postgres, tickets, folder, dwell=args.dwell, index=args.index)
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
