"""Durable lifecycles on SQLite (create + 6 transitions, one commit each, events and outbox
rows included, WAL + synchronous=NORMAL) through the Desk, versus a raw sqlite3 script doing
the same writes. Target: at least 0.75x the raw script's lifecycles per second (issue 23).

The raw script is what an app without the library would write: it builds the same rows from
the same inputs (ids, ISO timestamps, the ticket and event as JSON with ``json.dumps``) and
executes the same statements in the same transactions, with no validation, no state machine,
no hooks. Both run in turns on the same machine and their medians are compared.

With ``--callgrind`` the instructions per lifecycle of both sides are counted too
(valgrind's callgrind, deterministic where the timed ratio moves with the machine's fsync
cost and load; see benchmarks/_callgrind.py). Callgrind counts the process's own
instructions, not the kernel's: what the two sides' Python and SQLite code costs.

Run: python benchmarks/bench_sqlite_lifecycle.py [--callgrind]
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

from _callgrind import instructions_per_unit, run_counted
from _timing import interleaved_medians, report
from aftersales import Desk, FrozenClock, Notification, SQLiteStore
from aftersales.storage._schema import TABLES
from aftersales.storage._schema_versions import sqlite_create
from aftersales.storage.sqlite import _NULL

LIFECYCLES = 150
COUNTED = 100
"""Lifecycles of each side under callgrind."""
STEPS = ("classify", "assign", "start", "resolve", "confirm", "close")
PAYLOADS = {
    "classify": {"category": "repair_warranty", "severity": "high"},
    "assign": {"assignee": "li.wei", "team": "repairs"},
    "resolve": {"resolution": "Replaced the drain pump"},
}


def desk_lifecycles(folder: Path, lifecycles: int = LIFECYCLES) -> tuple[Callable[[], None], Desk]:
    clock = FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc))
    desk = Desk(SQLiteStore(folder / "desk.db"), clock=clock)

    def hook(notification: Notification) -> None:
        del notification

    desk.on_transition(hook, name="hook")

    def batch() -> None:
        for _ in range(lifecycles):
            ticket = desk.open_ticket(customer="c-1", channel="wechat", subject="洗衣机漏水")
            for trigger in STEPS:
                desk.fire(ticket.id, trigger, actor="li.wei", payload=PAYLOADS.get(trigger))

    return batch, desk


def _row_sizes(path: Path) -> dict[str, int]:
    with closing(sqlite3.connect(path)) as connection:
        return {
            "ticket": connection.execute("SELECT avg(length(data)) FROM tickets").fetchone()[0],
            "event": connection.execute("SELECT avg(length(data)) FROM events").fetchone()[0],
            "outbox": connection.execute("SELECT avg(length(event)) FROM outbox").fetchone()[0],
        }


def raw_lifecycles(
    folder: Path, lifecycles: int = LIFECYCLES
) -> tuple[Callable[[], None], sqlite3.Connection]:
    connection = sqlite3.connect(folder / "raw.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    for table in TABLES:  # the store's own layout, as declared
        for statement in sqlite_create(table.name):
            connection.execute(statement)
    execute = connection.execute
    dumps = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":")
    ).encode  # compact, as pydantic
    steps = [("created", "new", "new", {})] + [
        (trigger, trigger + "ed", "open", PAYLOADS.get(trigger, {})) for trigger in STEPS
    ]
    number = 0

    def batch() -> None:
        nonlocal number
        for _ in range(lifecycles):
            ticket_id = uuid.uuid4().hex
            number += 1
            now = datetime.now(timezone.utc)
            created = now.isoformat(timespec="microseconds")
            ticket = {
                "id": ticket_id, "number": number, "workflow": "ticket", "channel": "wechat",
                "subject": "洗衣机漏水", "description": "", "customer_id": "c-1",
                "order_line": None, "category": None, "severity": None, "priority": "normal",
                "status": "new", "status_category": "new", "assignee": None, "team": None,
                "tags": [], "escalation_level": 0, "resolution": None, "satisfaction": None,
                "created_at": created, "updated_at": created, "first_response_at": None,
                "resolved_at": None, "closed_at": None, "reopen_count": 0, "merged_into": None,
                "parent_id": None, "follow_up_of": None, "due_at": None, "version": 1,
            }  # fmt: skip
            previous_key = None
            for version, (trigger, status, category, payload) in enumerate(steps, start=1):
                at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
                changes = {"status": status, "status_category": category, "updated_at": at,
                           "version": version, **payload}  # fmt: skip
                ticket.update(changes)
                event = dumps({
                    "subject_id": ticket_id, "sequence": version, "trigger": trigger,
                    "from_state": None, "to_state": status, "actor": "li.wei", "at": at,
                    "payload": payload, "changes": ticket if version == 1 else changes,
                })  # fmt: skip
                data = dumps(ticket)
                key = f"{ticket_id}:{version}:hook"
                execute("BEGIN IMMEDIATE")
                if version == 1:
                    execute(
                        "INSERT INTO tickets (status, status_category, version, customer_id, "
                        "channel, assignee, team, merged_into, parent_id, follow_up_of, due_at, "
                        "data, id, number, workflow, created_at) "
                        f"VALUES (?,?,?,?,?,{','.join([_NULL] * 6)},?,?,?,?,?)",
                        # absent values bound as '' through NULLIF, as the store does
                        (status, category, 1, "c-1", "wechat", "", "", "", "", "", "", data,
                         ticket_id, number, "ticket", created),
                    )  # fmt: skip
                else:
                    execute(
                        "UPDATE tickets SET status=?, status_category=?, version=?, "
                        f"customer_id=?, channel=?, assignee={_NULL}, team={_NULL}, "
                        f"merged_into={_NULL}, parent_id={_NULL}, follow_up_of={_NULL}, "
                        f"due_at={_NULL}, data=? WHERE id=? AND version=?",
                        (status, category, version, "c-1", "wechat",
                         ticket.get("assignee") or "", ticket.get("team") or "", "", "", "", "",
                         data, ticket_id, version - 1),
                    )  # fmt: skip
                execute(
                    "INSERT INTO events (subject_id, sequence, trigger, at, data) "
                    "VALUES (?,?,?,?,?)",
                    (ticket_id, version, trigger, at, event),
                )
                execute(
                    "INSERT INTO outbox (key, handler, subject_id, sequence, status, attempts, "
                    "next_attempt_at, lease_until, last_error, created_at, delivered_at, event) "
                    f"VALUES (?,?,?,?,?,?,?,?,?,?,{_NULL},?)",
                    (key, "hook", ticket_id, version, "pending", 0, at, at, None, at, "",
                     event),
                )  # fmt: skip
                if previous_key is not None:
                    execute(
                        "UPDATE outbox SET status = 'delivered', delivered_at = ?, "
                        "lease_until = NULL WHERE key = ? AND status = 'pending'",
                        (at, previous_key),
                    )
                execute("COMMIT")
                previous_key = key

    return batch, connection


def counted_batch(side: str, lifecycles: int) -> None:
    """Set ``side`` up and warm it up, then run ``lifecycles`` lifecycles of it inside
    ``sys.call_tracing``, where callgrind collects (see benchmarks/_callgrind.py)."""
    make = {"desk": desk_lifecycles, "raw": raw_lifecycles}[side]
    with tempfile.TemporaryDirectory() as name:
        batch, owner = make(Path(name), lifecycles)
        batch()
        run_counted(batch, ())
        owner.close()


def main(arguments: list[str]) -> int:
    if arguments[:1] == ["--instructions"]:
        counted_batch(arguments[1], int(arguments[2]))
        return 0
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        desk_batch, desk = desk_lifecycles(folder)
        raw_batch, connection = raw_lifecycles(folder)
        seconds = interleaved_medians({"desk": desk_batch, "raw": raw_batch}, LIFECYCLES)
        sizes = _row_sizes(folder / "desk.db")
        raw_sizes = _row_sizes(folder / "raw.db")
        desk.close()
        connection.close()
    figure, floor = 1 / seconds["desk"], 1 / seconds["raw"]
    print(f"     mean row sizes written by the Desk (bytes): {sizes}")
    print(f"     and by the raw script: {raw_sizes}")
    ok = report("SQLite lifecycles through the Desk", figure, floor, "lifecycles/s",
                ">= 0.75x raw sqlite3", figure >= 0.75 * floor)  # fmt: skip
    if "--callgrind" in arguments:
        counted = instructions_per_unit(__file__, ("desk", "raw"), COUNTED)
        ratio = counted["raw"] / counted["desk"]
        ok &= report("SQLite lifecycle instructions (callgrind)", counted["desk"] / 1000,
                     counted["raw"] / 1000, "k instructions/lifecycle",
                     "raw / desk >= 0.75", ratio >= 0.75, ratio)  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
