"""``aftersales export`` and ``aftersales import``: round trips in CSV and JSON lines, bad
lines refused by number with nothing stored, and no progress bars off a terminal."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Seeded, run

from aftersales import Desk, SQLiteStore

# what an import sets itself: the first version, and an audit chain of its own events
_REWRITTEN = {"version", "audit_chain"}


def _tickets(db: Path) -> list[dict[str, Any]]:
    with Desk(SQLiteStore(db)) as desk:
        return [t.model_dump(exclude=_REWRITTEN) for t in desk.find(limit=10_000)]


def _empty_db(tmp_path: Path, name: str = "copy.db") -> Path:
    db = tmp_path / name
    SQLiteStore(db).close()
    return db


@pytest.mark.parametrize("file_format", ["csv", "jsonl"])
def test_an_export_imports_into_the_same_tickets(
    seeded: Seeded, tmp_path: Path, file_format: str
) -> None:
    exported = tmp_path / f"tickets.{file_format}"
    ran = run("export", "--db", str(seeded.db), "--output", str(exported))
    assert (ran.code, ran.out) == (0, "")
    carried = "with their messages" if file_format == "jsonl" else "without messages"
    assert ran.err == (  # no progress bar off a terminal
        f"exported 3 tickets to {exported} ({carried}; events and cases are not exported)\n"
    )
    copy = _empty_db(tmp_path)

    imported = run("import", str(exported), "--db", str(copy))

    assert (imported.code, imported.out, imported.err) == (0, "imported 3 tickets\n", "")
    assert _tickets(copy) == _tickets(seeded.db)
    with Desk(SQLiteStore(copy)) as desk:
        # an import is history written once: one creation event per ticket
        assert [len(desk.history(t.id)) for t in desk.find()] == [1, 1, 1]
        assert desk.verify_audit().ok


def test_export_to_stdout_is_json_lines_unless_csv_is_asked(seeded: Seeded) -> None:
    lines = run("export", "--db", str(seeded.db)).out.splitlines()
    assert [json.loads(line)["number"] for line in lines] == [1, 2, 3]
    table = run("export", "--db", str(seeded.db), "--format", "csv").out.splitlines()
    assert table[0].startswith("id,number,workflow,channel,subject,")
    assert len(table) == 4


def test_a_csv_export_keeps_lists_and_objects_as_json_cells(tmp_path: Path) -> None:
    db = tmp_path / "tags.db"
    with Desk.sqlite(db) as desk:
        desk.open_ticket(
            customer="c-1",
            channel="email",
            subject='Broken, "again"\nsecond line',
            tags=["vip", "repeat"],
            order_line={"order_id": "A-1", "line_id": "1", "sku": "K-1"},
        )
    exported = tmp_path / "t.csv"
    assert run("export", "--db", str(db), "-o", str(exported)).code == 0
    copy = _empty_db(tmp_path)
    assert run("import", str(exported), "--db", str(copy)).code == 0
    assert _tickets(copy) == _tickets(db)
    assert _tickets(copy)[0]["tags"] == ("vip", "repeat")


def test_import_reads_standard_input_with_the_format_given(seeded: Seeded, tmp_path: Path) -> None:
    exported = run("export", "--db", str(seeded.db), "--format", "csv").out
    copy = _empty_db(tmp_path)
    ran = run("import", "-", "--db", str(copy), "--format", "csv", stdin=exported)
    assert (ran.code, ran.out) == (0, "imported 3 tickets\n")
    assert _tickets(copy) == _tickets(seeded.db)


def _jsonl(seeded: Seeded) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run("export", "--db", str(seeded.db)).out.splitlines()]


def _write(path: Path, records: list[dict[str, Any]], blank_lines: int = 0) -> Path:
    path.write_text("\n" * blank_lines + "".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize(
    ("spoil", "says"),
    [
        (lambda r: r.update(status="bogus"), "line 4: status: unknown status 'bogus'"),
        (lambda r: r.update(channel="fax"), "line 4: channel:"),
        (lambda r: r.pop("subject"), "line 4: subject: Field required"),
        (lambda r: r.update(created_at="yesterday"), "line 4: created_at:"),
    ],
)
def test_a_bad_line_is_named_and_nothing_is_stored(
    seeded: Seeded, tmp_path: Path, spoil: Any, says: str
) -> None:
    records = _jsonl(seeded)
    spoil(records[2])
    bad = _write(tmp_path / "bad.jsonl", records, blank_lines=1)  # line numbers count blanks
    copy = _empty_db(tmp_path)

    ran = run("import", str(bad), "--db", str(copy))

    assert (ran.code, ran.out) == (1, "")
    assert says in ran.err, ran.err
    assert _tickets(copy) == []


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"subject": "x"}\n{not json\n', "line 2: not JSON"),
        ("[1, 2]\n", "line 1: must be a JSON object"),
    ],
)
def test_lines_that_are_not_json_objects_are_named(tmp_path: Path, content: str, says: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    ran = run("import", str(bad), "--db", str(_empty_db(tmp_path)))
    assert (ran.code, ran.out) == (1, "")
    assert says in ran.err


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("id,nickname\nx,y\n", "line 1: unknown columns nickname"),
        ("subject,channel\nA,email,extra\n", "line 2: more cells than columns"),
        ('subject,tags\n"multi\nline",[oops\n', "line 2: tags: not JSON"),
    ],
)
def test_bad_csv_is_named_by_line(tmp_path: Path, content: str, says: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    ran = run("import", str(bad), "--db", str(_empty_db(tmp_path)))
    assert (ran.code, ran.out) == (1, "")
    assert says in ran.err, ran.err


def test_a_ticket_already_stored_is_named_by_line_and_nothing_is_stored(
    seeded: Seeded, tmp_path: Path
) -> None:
    records = _jsonl(seeded)
    copy = _empty_db(tmp_path)
    _write(tmp_path / "first.jsonl", records[:1])
    assert run("import", str(tmp_path / "first.jsonl"), "--db", str(copy)).code == 0
    fresh = {**records[1], "id": "fresh-id", "number": 20}
    again = _write(tmp_path / "again.jsonl", [fresh, records[0]])

    ran = run("import", str(again), "--db", str(copy))

    assert (ran.code, ran.out) == (1, "")
    assert f"line 2: id {records[0]['id']} is already a stored ticket's" in ran.err
    assert len(_tickets(copy)) == 1


def test_a_number_already_stored_is_named_by_line(seeded: Seeded, tmp_path: Path) -> None:
    records = _jsonl(seeded)
    copy = _empty_db(tmp_path)
    _write(tmp_path / "first.jsonl", records[:1])
    run("import", str(tmp_path / "first.jsonl"), "--db", str(copy))
    same_number = {**records[1], "number": records[0]["number"]}
    ran = run("import", str(_write(tmp_path / "n.jsonl", [same_number])), "--db", str(copy))
    assert (ran.code, ran.out) == (1, "")
    assert "line 1: number 1 is already a stored ticket's" in ran.err


def test_two_lines_with_one_id_are_refused_before_anything_is_stored(
    seeded: Seeded, tmp_path: Path
) -> None:
    records = _jsonl(seeded)
    twice = _write(tmp_path / "twice.jsonl", [records[0], {**records[0], "number": 9}])
    copy = _empty_db(tmp_path)
    ran = run("import", str(twice), "--db", str(copy))
    assert (ran.code, ran.out) == (1, "")
    assert f"line 2: id {records[0]['id']} is also line 1's" in ran.err
    assert _tickets(copy) == []


def test_a_file_larger_than_one_transaction_is_imported_in_several(
    seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aftersales.cli import _transfer

    monkeypatch.setattr(_transfer, "ONE_TRANSACTION", 2)
    records = _jsonl(seeded)
    copy = _empty_db(tmp_path)
    ran = run("import", str(_write(tmp_path / "all.jsonl", records)), "--db", str(copy))
    assert (ran.code, ran.out) == (0, "imported 3 tickets\n")
    assert _tickets(copy) == _tickets(seeded.db)
    # a bad line in the second transaction: the first stays, and the message says so
    other = _empty_db(tmp_path, "other.db")
    records[2]["status"] = "bogus"
    ran = run("import", str(_write(tmp_path / "late.jsonl", records)), "--db", str(other))
    assert ran.code == 1
    assert "line 3: status: unknown status 'bogus'" in ran.err
    assert "stored: the 2 tickets before it" in ran.err
    assert len(_tickets(other)) == 2


def test_unreadable_files_and_unknown_formats(seeded: Seeded, tmp_path: Path) -> None:
    missing = run("import", str(tmp_path / "none.jsonl"), "--db", str(seeded.db))
    assert (missing.code, missing.out) == (1, "")
    assert "cannot read" in missing.err
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00")
    assert "cannot read" in run("import", str(binary), "--db", str(seeded.db)).err
    fmt = run("export", "--db", str(seeded.db), "--format", "xml")
    assert (fmt.code, fmt.out) == (2, "")
    unwritable = run("export", "--db", str(seeded.db), "-o", str(tmp_path / "no" / "t.csv"))
    assert (unwritable.code, unwritable.out) == (1, "")
    assert "cannot write" in unwritable.err


def test_progress_bars_are_drawn_only_on_a_terminal(
    seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))
    exported = tmp_path / "t.jsonl"
    ran = run("export", "--db", str(seeded.db), "-o", str(exported))
    assert ran.code == 0
    assert "exporting tickets" in ran.err  # drawn on stderr
    assert len(exported.read_text().splitlines()) == 3  # the file holds the tickets only
    imported = run("import", str(exported), "--db", str(_empty_db(tmp_path)))
    assert "importing" in imported.err
    assert imported.out == "imported 3 tickets\n"


def test_an_export_reads_every_page_of_tickets(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aftersales.cli import _transfer

    monkeypatch.setattr(_transfer, "_PAGE", 2)
    lines = run("export", "--db", str(seeded.db)).out.splitlines()
    assert [json.loads(line)["number"] for line in lines] == [1, 2, 3]


def test_an_export_pages_by_cursor_not_offset(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an offset page reads every row before it: a million tickets, ~250 million rows
    from aftersales import SQLiteStore
    from aftersales.cli import _transfer

    asked = []
    find = SQLiteStore.find

    def recorded(store: SQLiteStore, query: Any) -> Any:
        asked.append((query.offset, query.after is not None))
        return find(store, query)

    monkeypatch.setattr(SQLiteStore, "find", recorded)
    monkeypatch.setattr(_transfer, "_PAGE", 2)
    lines = run("export", "--db", str(seeded.db)).out.splitlines()
    assert [json.loads(line)["number"] for line in lines] == [1, 2, 3]
    assert asked == [(0, False), (0, True)]


def test_records_from_another_system_get_numbers_and_ids(tmp_path: Path) -> None:
    source = tmp_path / "legacy.csv"
    source.write_text(
        "subject,channel,customer_id,status,created_at,updated_at\n"
        "Lost parcel,email,c-9,new,2024-01-02T10:00:00+00:00,2024-01-02T10:00:00+00:00\n"
        "Refund?,phone,c-8,closed,2024-01-03T10:00:00+00:00,2024-01-04T10:00:00+00:00\n"
    )
    copy = _empty_db(tmp_path)
    ran = run("import", str(source), "--db", str(copy))
    assert (ran.code, ran.out) == (0, "imported 2 tickets\n"), ran.err
    assert [(t["number"], t["subject"], t["status"]) for t in _tickets(copy)] == [
        (1, "Lost parcel", "new"),
        (2, "Refund?", "closed"),
    ]


@pytest.mark.parametrize(
    ("refusal", "says"),
    [
        ("storage", "tickets: disk full"),
        ("input", "invalid import: batch: too big"),
    ],
)
def test_a_refusal_that_names_no_record_is_reported_as_it_is(
    seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: str, says: str
) -> None:
    from aftersales import FieldError, InvalidInput, StorageError

    def refuse(*args: object, **kwargs: object) -> int:
        if refusal == "storage":
            raise StorageError("disk full")
        raise InvalidInput("import", [FieldError(("batch",), "too big")])

    monkeypatch.setattr(Desk, "import_tickets", refuse)
    exported = tmp_path / "t.jsonl"
    run("export", "--db", str(seeded.db), "-o", str(exported))
    records = [
        {**json.loads(line), "id": f"new-{n}", "number": 10 + n}
        for n, line in enumerate(exported.read_text().splitlines())
    ]
    ran = run("import", str(_write(tmp_path / "new.jsonl", records)), "--db", str(seeded.db))
    assert (ran.code, ran.out) == (1, "")
    assert says in ran.err, ran.err


def test_the_console_script_pipes_an_export_into_an_import(seeded: Seeded, tmp_path: Path) -> None:
    import subprocess
    import sys

    script = str(Path(sys.executable).parent / "aftersales")
    copy = _empty_db(tmp_path)
    exported = subprocess.run(
        [script, "export", "--db", str(seeded.db), "--format", "csv"],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert exported.stderr == b""  # no progress bar into a pipe's log
    imported = subprocess.run(
        [script, "import", "-", "--db", str(copy), "--format", "csv"],
        input=exported.stdout,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert (imported.returncode, imported.stdout, imported.stderr) == (
        0,
        b"imported 3 tickets\n",
        b"",
    )
    assert _tickets(copy) == _tickets(seeded.db)


FORMULAS = ("=1+2", "+cmd", "-2 broken", "@SUM(A1)", "\tx", "\rx", "'=quoted", "''@twice")


def test_a_csv_export_writes_no_formulas_and_imports_them_back(tmp_path: Path) -> None:
    source = tmp_path / "source.db"
    with Desk.sqlite(source) as desk:
        for subject in (*FORMULAS, "'plain", "a=b"):
            desk.open_ticket(customer="c-1", channel="email", subject=subject)
    exported = run("export", "--db", str(source), "--format", "csv")
    assert exported.code == 0
    cells = [row["subject"] for row in csv.DictReader(io.StringIO(exported.out, newline=""))]
    assert cells[:-2] == ["'" + subject for subject in FORMULAS]
    assert cells[-2:] == ["'plain", "a=b"]  # no formula: as they are
    target = tmp_path / "target.db"
    csv_file = tmp_path / "tickets.csv"
    csv_file.write_bytes(exported.stdout_bytes)
    assert run("import", str(csv_file), "--db", str(target)).code == 0
    assert _tickets(target) == _tickets(source)


def test_a_csv_through_standard_input_keeps_carriage_returns_and_a_bom(tmp_path: Path) -> None:
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    with Desk.sqlite(source) as desk:
        desk.open_ticket(
            customer="c-1", channel="email", subject="Kettle", description="one\r\ntwo\rthree"
        )
    exported = run("export", "--db", str(source), "--format", "csv")
    piped = "\ufeff".encode() + exported.stdout_bytes  # as Excel's "CSV UTF-8" starts
    imported = run("import", "-", "--db", str(target), "--format", "csv", stdin=piped)
    assert imported.code == 0, imported.err
    assert _tickets(target) == _tickets(source)
    with Desk.sqlite(target) as desk:
        assert desk.get(1).description == "one\r\ntwo\rthree"


def _legacy(path: Path, numbers: list[Any]) -> Path:
    base = {
        "channel": "email",
        "customer_id": "c-1",
        "status": "new",
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
    }
    lines = [{**base, "subject": f"legacy {n}", "number": n} for n in numbers]
    return _write(path, lines)


def test_numbers_a_running_desk_may_hold_are_renumbered_and_said_so(tmp_path: Path) -> None:
    db = tmp_path / "desk.db"
    with Desk.sqlite(db) as app:  # its block: #1 to #20
        app.open_ticket(customer="c-2", channel="email", subject="before")
        ran = run("import", str(_legacy(tmp_path / "l.jsonl", list(range(2, 14)))), "--db", str(db))
        assert (ran.code, ran.out) == (0, "imported 12 tickets\n")
        assert ran.err.startswith(
            "renumbered 12 tickets whose numbers the store had handed out to desks already: "
            "line 1: #2 → #21, line 2: #3 → #22,"
        )
        assert ran.err.endswith("line 10: #11 → #30, ...\n")
        after = app.open_ticket(customer="c-2", channel="email", subject="after")
        assert after.number == 2
        assert app.get(21).subject == "legacy 2"


def test_a_number_that_is_not_a_number_is_named_by_its_line(tmp_path: Path) -> None:
    ran = run(
        "import", str(_legacy(tmp_path / "l.jsonl", [None, "x"])), "--db", str(_empty_db(tmp_path))
    )
    assert (ran.code, ran.out) == (1, "")
    assert "line 2: number" in ran.err


def test_an_id_stored_under_another_number_is_named_by_line(seeded: Seeded, tmp_path: Path) -> None:
    records = _jsonl(seeded)
    copy = _empty_db(tmp_path)
    _write(tmp_path / "first.jsonl", records[:1])
    assert run("import", str(tmp_path / "first.jsonl"), "--db", str(copy)).code == 0
    renumbered = {**records[0], "number": 50}
    ran = run("import", str(_write(tmp_path / "again.jsonl", [renumbered])), "--db", str(copy))
    assert (ran.code, ran.out) == (1, "")
    assert f"line 1: id {records[0]['id']} is already a stored ticket's" in ran.err


def test_an_empty_file_imports_nothing_into_a_store(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    ran = run("import", str(empty), "--db", str(_empty_db(tmp_path)))
    assert (ran.code, ran.out) == (0, "imported 0 tickets\n")


def test_a_store_that_cannot_be_made_is_an_error_line(tmp_path: Path) -> None:
    legacy = _legacy(tmp_path / "l.jsonl", [None])
    ran = run("import", str(legacy), "--db", str(tmp_path))  # a directory
    assert (ran.code, ran.out) == (1, "")
    assert ran.err.startswith("error: ")
    assert "cannot open SQLite database" in ran.err
