"""SLA performance. Targets (issue 5):
- adding business time: median at most 3 µs, and adding 2,000 business hours at most 2x
  adding 1 hour (the cost does not grow with the distance);
- metric state for one ticket from a 20-event history: at most 50 µs;
- finding the due tickets among 1,000,000 stored, 1% due, on SQLite: at most 5 ms.
Each figure is printed next to a floor measured in the same run.

Run: python benchmarks/bench_sla.py [stored tickets]
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _data import DUE_COLUMNS, due_rows
from _timing import median_seconds, report
from aftersales import Desk, FrozenClock, SQLiteStore
from aftersales.sla import BusinessCalendar, SLAPolicy
from aftersales.workflows import TICKET_WORKFLOW

STORED = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
BATCH = 5_000
START = datetime(2024, 3, 8, 16, 30, tzinfo=timezone.utc)
CALENDAR = BusinessCalendar(
    time_zone="Europe/Berlin",
    country="DE",
    hours={d: ["08:30-12:00", "13:00-17:30"] for d in range(5)},
)


def bench_add() -> bool:
    add = CALENDAR.add
    hour, far = timedelta(hours=1), timedelta(hours=2000)
    add(START, far)  # compile the years it reaches

    def one_hour() -> None:
        for _ in range(BATCH):
            add(START, hour)

    def two_thousand_hours() -> None:
        for _ in range(BATCH):
            add(START, far)

    def plain() -> None:
        for _ in range(BATCH):
            START + hour

    near = median_seconds(one_hour, BATCH) * 1e6
    distant = median_seconds(two_thousand_hours, BATCH) * 1e6
    floor = median_seconds(plain, BATCH) * 1e6
    ok = report("add 1 business hour", near, floor, "µs", "<= 3 µs", near <= 3)
    ok &= report(
        "add 2,000 business hours", distant, near, "µs", "<= 2x adding 1 hour", distant <= 2 * near
    )
    return ok


POLICY = SLAPolicy.model_validate(
    {
        "name": "bench",
        "calendar": {
            "time_zone": "Europe/Berlin",
            "hours": {str(d): ["09:00-18:00"] for d in range(5)},
        },
        "rules": [
            {
                "name": "all",
                "targets": {
                    m: {"minutes": 240}
                    for m in ("first_response", "next_response", "periodic_update", "resolution")
                },
            }
        ],
    }
)


def bench_track() -> bool:
    clock = FrozenClock(START)
    desk = Desk(clock=clock, sla=POLICY)
    ticket = desk.open_ticket(customer="c", channel="email", subject="bench")
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    desk.assign(ticket.id, assignee="li")
    desk.fire(ticket.id, "start")
    for round_ in range(4):
        clock.advance(hours=3)
        desk.add_message(ticket.id, "update", author_id="li")
        clock.advance(hours=5)
        desk.add_message(ticket.id, "question", author_id="c", author_role="customer")
        desk.fire(ticket.id, "wait_for_customer" if round_ % 2 else "wait_for_third_party")
        clock.advance(hours=20)
        desk.fire(ticket.id, "resume")
    events = desk.history(ticket.id)
    assert len(events) == 20, len(events)
    ticket = desk.get(ticket.id)
    now = clock.advance(hours=1)
    category_of = TICKET_WORKFLOW.category_of

    def track() -> None:
        for _ in range(1000):
            POLICY.track(ticket, events, now, category_of=category_of)

    def read_history() -> None:
        for _ in range(1000):
            for event in events:
                event.at.timestamp()
                category_of(event.to_state)

    figure = median_seconds(track, 1000) * 1e6
    floor = median_seconds(read_history, 1000) * 1e6
    return report("metric state from 20 events", figure, floor, "µs", "<= 50 µs", figure <= 50)


def bench_due(folder: Path) -> bool:
    path = folder / "million.db"
    SQLiteStore(path).close()  # the real schema, with its partial index
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA synchronous=OFF")
    now = datetime(2024, 6, 1, tzinfo=timezone.utc)
    started = time.perf_counter()
    connection.execute("BEGIN")
    rows = due_rows(STORED, now)
    for first in range(0, len(rows), 50_000):
        connection.executemany(
            f"INSERT INTO tickets ({DUE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows[first : first + 50_000],
        )
    connection.execute("COMMIT")
    connection.execute("ANALYZE")
    print(f"     built {STORED:,} tickets in {time.perf_counter() - started:.1f} s")
    query = (
        "SELECT id FROM tickets {} WHERE sla_due_at IS NOT NULL AND sla_due_at <= ? "
        "ORDER BY sla_due_at"
    )
    cutoff = (now.isoformat(timespec="microseconds"),)

    def indexed() -> None:
        found = connection.execute(query.format(""), cutoff).fetchall()
        assert len(found) == STORED // 100

    def scanned() -> None:
        connection.execute(query.format("NOT INDEXED"), cutoff).fetchall()

    plan = connection.execute("EXPLAIN QUERY PLAN " + query.format(""), cutoff).fetchall()
    print(f"     plan: {plan[0][-1]}")
    figure = median_seconds(indexed, 1, repeats=9) * 1e3
    floor = median_seconds(scanned, 1, repeats=3) * 1e3
    connection.close()
    return report(
        f"find the {STORED // 100:,} due among {STORED:,}",
        figure,
        floor,
        "ms",
        "<= 5 ms (floor: the same query scanning the table)",
        figure <= 5,
    )


def main() -> int:
    ok = bench_add()
    ok &= bench_track()
    with tempfile.TemporaryDirectory() as folder:
        ok &= bench_due(Path(folder))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
