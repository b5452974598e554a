"""``aftersales tickets``, ``cases`` and ``history``: what they show, and their refusals."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from cli_helpers import Seeded, run


def _rows(output: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def test_tickets_list_shows_every_ticket_oldest_first(seeded: Seeded) -> None:
    ran = run("tickets", "list", "--db", str(seeded.db))
    assert (ran.code, ran.err) == (0, "")
    rows = _rows(ran.out)
    assert [(row[0], row[1], row[4]) for row in rows] == [
        ("#1", "assigned", "repair_warranty"),
        ("#2", "resolved", "billing_invoice"),
        ("#3", "assigned", "product_inquiry"),
    ]
    assert rows[1][2:7] == ["low", "wechat", "billing_invoice", "c-2", "chen.jing"]
    assert rows[0][8] == "2026-03-02 09:00+00:00"
    assert "发票抬头错误" in ran.out


@pytest.mark.parametrize(
    ("filters", "numbers"),
    [
        (["--status", "resolved"], ["#2"]),
        (["--category", "resolved"], ["#2"]),
        (["--channel", "phone"], ["#3"]),
        (["--assignee", "li.wei"], ["#1", "#3"]),
        (["--customer", "c-1"], ["#1", "#3"]),
        (["--customer", "c-1", "--channel", "email"], ["#1"]),
        (["--limit", "2"], ["#1", "#2"]),
        (["--customer", "nobody"], []),
    ],
)
def test_tickets_list_filters(seeded: Seeded, filters: list[str], numbers: list[str]) -> None:
    ran = run("tickets", "list", "--db", str(seeded.db), *filters)
    assert ran.code == 0, ran.err
    assert [row[0] for row in _rows(ran.out)] == numbers


def test_tickets_list_json_prints_one_ticket_per_line(seeded: Seeded) -> None:
    ran = run("tickets", "list", "--db", str(seeded.db), "--json", "--status", "assigned")
    assert ran.code == 0
    tickets = [json.loads(line) for line in ran.out.splitlines()]
    assert [(t["number"], t["id"]) for t in tickets] == [
        (1, seeded.ticket_ids[0]),
        (3, seeded.ticket_ids[2]),
    ]


@pytest.mark.parametrize(
    ("arguments", "code", "says"),
    [
        (["--status", "nope"], 1, "unknown status 'nope'"),
        (["--category", "nope"], 2, "Invalid value for '--category'"),
        (["--channel", "fax"], 2, "Invalid value for '--channel'"),
        (["--limit", "0"], 2, "Invalid value for '--limit'"),
    ],
)
def test_tickets_list_refuses_bad_filters_on_stderr(
    seeded: Seeded, arguments: list[str], code: int, says: str
) -> None:
    ran = run("tickets", "list", "--db", str(seeded.db), *arguments)
    assert (ran.code, ran.out) == (code, "")
    assert says in ran.err


def test_a_missing_database_file_is_refused_and_not_created(tmp_path: Path) -> None:
    db = tmp_path / "nope.db"
    ran = run("tickets", "list", "--db", str(db))
    assert (ran.code, ran.out) == (1, "")
    assert ran.err == f"error: invalid tickets: --db: no SQLite file {db}\n"
    assert not db.exists()


@pytest.mark.parametrize("reference", ["1", "#1", "ticket-id"])
def test_tickets_show_finds_a_ticket_by_number_or_id(seeded: Seeded, reference: str) -> None:
    reference = seeded.ticket_ids[0] if reference == "ticket-id" else reference
    ran = run("tickets", "show", reference, "--db", str(seeded.db))
    assert (ran.code, ran.err) == (0, "")
    fields = {row[0]: row[1] for row in _rows(ran.out) if len(row) == 2}
    assert fields["id"] == seeded.ticket_ids[0]
    assert (fields["status"], fields["assignee"], fields["team"]) == (
        "assigned",
        "li.wei",
        "repairs",
    )
    assert "We will send a courier." in ran.out
    assert "Courier booked" in ran.out  # an operator sees internal notes
    assert fields["tags"] == "vip, repeat"
    assert "no messages" not in ran.out


def test_tickets_show_says_when_there_are_no_messages(seeded: Seeded) -> None:
    ran = run("tickets", "show", "3", "--db", str(seeded.db))
    assert ran.code == 0
    assert "no messages" in ran.out
    assert "SLA:" not in ran.out  # no SLA recorded


def test_tickets_show_json_holds_the_ticket_and_its_messages(seeded: Seeded) -> None:
    ran = run("tickets", "show", "#1", "--db", str(seeded.db), "--json")
    assert ran.code == 0
    document = json.loads(ran.out)
    assert document["ticket"]["subject"] == "Kettle leaks"
    assert [m["kind"] for m in document["messages"]] == ["public_reply", "internal_note"]


def test_tickets_show_prints_the_sla_a_ticket_records(tmp_path: Path) -> None:
    from aftersales import Desk, SQLiteStore

    db = tmp_path / "sla.db"
    policy = {"name": "s", "rules": [{"name": "all", "targets": {"resolution": {"minutes": 60}}}]}
    with Desk(SQLiteStore(db), sla=policy) as desk:
        desk.open_ticket(customer="c-1", channel="email", subject="Late parcel")
    ran = run("tickets", "show", "1", "--db", str(db))
    assert ran.code == 0
    assert re.search(r"SLA: sla_rule=all, sla_due_at=\d{4}-", ran.out), ran.out


@pytest.mark.parametrize("reference", ["99", "no-such-id", "99999999999999999999"])
def test_tickets_show_refuses_an_unknown_ticket(seeded: Seeded, reference: str) -> None:
    ran = run("tickets", "show", reference, "--db", str(seeded.db))
    assert (ran.code, ran.out) == (1, "")
    assert ran.err.startswith("error: ")


def test_cases_list_and_show(seeded: Seeded) -> None:
    listed = run("cases", "list", "--db", str(seeded.db))
    assert listed.code == 0
    assert [row[:4] for row in _rows(listed.out)] == [
        [seeded.case_id, "complaint", "received", seeded.ticket_ids[0]]
    ]
    assert _rows(run("cases", "list", "--db", str(seeded.db), "--kind", "return").out) == []
    by_ticket = run("cases", "list", "--db", str(seeded.db), "--ticket", seeded.ticket_ids[1])
    assert _rows(by_ticket.out) == []
    as_json = run("cases", "list", "--db", str(seeded.db), "--json", "--category", "new")
    assert [json.loads(line)["id"] for line in as_json.out.splitlines()] == [seeded.case_id]
    closed = run("cases", "list", "--db", str(seeded.db), "--json", "--category", "closed")
    assert (closed.code, closed.out) == (0, "")

    shown = run("cases", "show", seeded.case_id, "--db", str(seeded.db))
    assert shown.code == 0
    assert f"complaint case {seeded.case_id}" in shown.out
    assert "Second leak this year" in shown.out
    document = json.loads(
        run("cases", "show", seeded.case_id, "--db", str(seeded.db), "--json").out
    )
    assert (document["kind"], document["ticket_id"]) == ("complaint", seeded.ticket_ids[0])


def test_cases_refuse_unknown_kinds_and_ids(seeded: Seeded) -> None:
    unknown_kind = run("cases", "list", "--db", str(seeded.db), "--kind", "teleport")
    assert (unknown_kind.code, unknown_kind.out) == (1, "")
    assert "teleport" in unknown_kind.err
    unknown_case = run("cases", "show", "nope", "--db", str(seeded.db))
    assert (unknown_case.code, unknown_case.out) == (1, "")
    assert "nope" in unknown_case.err


def test_history_lists_a_tickets_events_in_order(seeded: Seeded) -> None:
    ran = run("history", "#2", "--db", str(seeded.db))
    assert ran.code == 0
    rows = [row for row in _rows(ran.out) if row[0]]
    assert [(row[0], row[2], row[3]) for row in rows] == [
        ("1", "created", "∅ → new"),
        ("2", "classify", "new → classified"),
        ("3", "assign", "classified → assigned"),
        ("4", "start", "assigned → in_progress"),
        ("5", "resolve", "in_progress → resolved"),
    ]


def test_history_of_a_case_and_as_json(seeded: Seeded) -> None:
    ran = run("history", seeded.case_id, "--db", str(seeded.db), "--json")
    assert ran.code == 0
    events = [json.loads(line) for line in ran.out.splitlines()]
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    assert {e["subject_id"] for e in events} == {seeded.case_id}
    assert events[0]["subject_kind"] == "complaint"
    assert (
        f"complaint case {seeded.case_id}"
        in run("history", seeded.case_id, "--db", str(seeded.db)).out
    )


def test_history_of_nothing_is_refused(seeded: Seeded) -> None:
    ran = run("history", "nope", "--db", str(seeded.db))
    assert (ran.code, ran.out, ran.err) == (1, "", "error: no ticket or case nope\n")
    too_big = run("history", "99999999999999999999", "--db", str(seeded.db))
    assert (too_big.code, too_big.out) == (1, "")
    assert "number" in too_big.err


def test_reading_commands_change_nothing_stored(seeded: Seeded) -> None:
    def dump() -> list[tuple[object, ...]]:
        with closing(sqlite3.connect(seeded.db)) as connection:
            return [
                row
                for table in ("tickets", "cases", "events", "outbox", "messages")
                for row in connection.execute(f"SELECT * FROM {table} ORDER BY 1")
            ]

    before = dump()
    for arguments in (
        ["tickets", "list"],
        ["tickets", "show", "1"],
        ["cases", "list"],
        ["history", "1"],
        ["outbox"],
        ["dead-letters"],
        ["export"],
        ["tickets", "list", "--status", "nope"],
    ):
        run(*arguments, "--db", str(seeded.db))
    assert dump() == before


def test_the_console_script_lists_tickets_in_a_real_process(seeded: Seeded) -> None:
    script = Path(sys.executable).parent / "aftersales"
    done = subprocess.run(
        [str(script), "tickets", "list", "--db", str(seeded.db), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert [json.loads(line)["number"] for line in done.stdout.splitlines()] == [1, 2, 3]
    refused = subprocess.run(
        [str(script), "history", "nope", "--db", str(seeded.db)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr.endswith("no ticket or case nope\n")


@pytest.mark.parametrize(
    "command",
    [
        ["tickets"],
        ["tickets", "list"],
        ["tickets", "show"],
        ["cases", "list"],
        ["cases", "show"],
        ["history"],
        ["outbox"],
        ["dead-letters"],
        ["dead-letters", "requeue"],
        ["policy", "check"],
        ["sla", "status"],
        ["import"],
        ["export"],
        ["workflow"],
    ],
)
def test_dash_h_shows_plain_help_of_every_operator_command(command: list[str]) -> None:
    short = run(*command, "-h")
    assert (short.code, short.err) == (0, "")
    assert short.out.startswith("Usage: root " + " ".join(command))  # CliRunner names it root
    assert short.out == run(*command, "--help").out
    assert "<bool>" not in short.out
    assert "╭" not in short.out  # no boxes: the help reads the same in a pipe and a log
