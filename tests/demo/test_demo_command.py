"""``aftersales demo``: what a user reads, section by section, and how the ticket numbers of
runs on the same file follow each other."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aftersales import Desk, SQLiteStore
from aftersales.cli import _build_app


def _run(db: Path, *options: str) -> str:
    result = CliRunner().invoke(_build_app(), ["demo", "--db", str(db), *options])
    assert (result.exit_code, result.stderr) == (0, ""), result.output
    return result.stdout


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One run on a new file, on a terminal wide enough that no line wraps."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "200")
        return _run(tmp_path_factory.mktemp("demo") / "demo.db")


def _words(text: str) -> str:
    """``text`` with every run of whitespace one space: as it reads, however it wrapped."""
    return " ".join(text.split())


def _lines(text: str) -> list[str]:
    """The printed lines without the panels' borders."""
    return [line.strip("│╭╮╰╯─ ").strip() for line in text.splitlines()]


def test_the_inquiries_are_classified_and_routed_by_a_named_rule(output: str) -> None:
    lines = _lines(output)
    assert "#1  Fri 03-06 16:30 +08:00  wechat, 王芳: “洗衣机漏水，还在保修期内吗？”" in lines
    assert (
        "→ repair_warranty (confidence 67%, evidence zh:漏水 zh:保修) → zhao.gang, team "
        "repairs, by rule “repairs and warranty” (skills)"
    ) in lines
    assert "#2  Fri 03-06 17:20 +08:00  email, John Smith: “Refund for my kettle”" in lines
    assert any(
        line.startswith("→ return_refund (confidence 71%")
        and line.endswith("→ emma, team returns, by rule “returns in English” (least_loaded)")
        for line in lines
    ), lines


def test_the_sla_warns_and_breaches_on_monday_after_a_weekend_that_does_not_count(
    output: str,
) -> None:
    lines = _lines(output)
    assert (
        "#1  rule “wechat”: first response within 30 business minutes, due Fri 03-06 17:00 +08:00"
    ) in lines
    assert "answered Fri 03-06 16:42 +08:00 (in time)" in lines
    # Friday 17:20 + 120 business minutes: 40 before 18:00, 80 from Monday 09:00
    assert (
        "#2  rule “e-mail and the rest”: first response within 120 business minutes, "
        "due Mon 03-09 10:20 +08:00"
    ) in lines
    assert (
        "warning Mon 03-09 09:50 +08:00; BREACH Mon 03-09 10:20 +08:00, escalated to "
        "shift.lead; answered Mon 03-09 10:30 +08:00 (late)"
    ) in lines


def test_the_return_is_explained_in_english_and_chinese_and_refunded(output: str) -> None:
    lines = _lines(output)
    assert "#2  return ALLOWED (cn-online-7-day-return@2020)" in lines
    assert "EN  within the 7-day no-reason return window, which ends on 2026-03-11" in lines
    assert "中文 在七日无理由退货期限内，截止日期为 2026-03-11" in lines
    assert (
        "return shipping paid by the consumer; refund 299.00 CNY due by 2026-03-17: "
        "succeeded (ALI-000002)"
    ) in lines
    assert "The same claim a day after the window: REFUSED" in lines
    assert "EN  the 7-day no-reason return window ended on 2026-03-11" in lines
    assert "中文 七日无理由退货期限已于 2026-03-11 届满" in lines


def test_the_surveys_and_the_key_figures_add_up_to_what_happened(output: str) -> None:
    lines = _lines(output)
    scores = [
        int(match[1])
        for line in lines
        if (match := re.fullmatch(r"#\d+  CSAT survey \((?:en|zh)\) “.+”: (\d) of 5", line))
    ]
    assert scores == [5, 3]
    assert "#1  CSAT survey (zh) “您对本次服务的处理结果满意吗？”: 5 of 5" in lines
    # two tickets, both resolved; 王芳 answered in 12 minutes (the median of the report's
    # log-spaced buckets is within 19% of it); resolutions took 2.8 and 4.0 days
    figures = next(line for line in lines if line.startswith("Tickets "))
    found = re.fullmatch(
        r"Tickets 2, resolved 2; median first response (\d+) min, median resolution "
        r"([\d.]+) days",
        figures,
    )
    assert found, figures
    assert 10 <= int(found[1]) <= 14
    assert 2.8 <= float(found[2]) <= 4.0
    # one first response met, one breached; CSAT counts the 4s and 5s: one of two
    assert "First-response SLA 50% (1 met, 1 breached); CSAT 50% (2 answers, mean 4.0)" in lines


def test_one_run_fits_two_screens(output: str) -> None:
    assert len(output.splitlines()) <= 48


def test_a_second_run_on_the_file_says_why_its_numbers_start_where_they_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)  # a short path: the lines do not wrap
    db = Path("demo.db")
    first = _words(_run(db))
    assert f"{db} is new: this run's tickets are #1-#2." in first
    assert f"{db} now holds 2 tickets" in first
    second = _words(_run(db))
    assert (
        f"{db} already holds 2 tickets, so this run's tickets are #3-#4 "
        "(round 2: the week after the last run's)."
    ) in second
    assert "#3 Fri 03-13 16:30 +08:00 wechat" in second  # the next week: figures never mix
    assert "Tickets 2, resolved 2;" in second
    assert "BREACH Mon 03-16 10:20 +08:00" in second
    assert f"{db} now holds 4 tickets" in second
    with closing(sqlite3.connect(db)) as connection:
        (events,) = connection.execute("SELECT count(*) FROM events").fetchone()
        (cases,) = connection.execute("SELECT count(*) FROM cases").fetchone()
        (behind,) = connection.execute(
            "SELECT count(*) FROM tickets t WHERE version != "
            "(SELECT max(sequence) FROM events e WHERE e.subject_id = t.id)"
        ).fetchone()
        (cases_behind,) = connection.execute(
            "SELECT count(*) FROM cases c WHERE version != "
            "(SELECT max(sequence) FROM events e WHERE e.subject_id = c.id)"
        ).fetchone()
    # a run records 31 events (16 on its return, refund and two surveys)
    assert (events, cases, behind, cases_behind) == (2 * 31, 2 * 4, 0, 0)


def test_numbers_an_older_desk_reserved_and_never_used_are_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    db = Path("demo.db")
    with Desk(SQLiteStore(db)) as desk:  # reserves numbers 1-20 and uses one
        desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    told = _words(_run(db))
    assert "demo.db already holds 1 ticket, so this run's tickets are #21-#22." in told
    assert (
        "Numbers #2-#20 were reserved by an earlier desk and never used: a desk reserves 20 at "
        "a time by default (DeskSettings.number_block_size); the demo reserves one at a time."
    ) in told


def test_the_timeline_option_lists_every_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    plain = _run(tmp_path / "plain.db")
    told = _run(tmp_path / "demo.db", "--timeline")
    assert "Every event of this run" in told
    assert "Every event" not in plain
    rows = [
        line for line in told.splitlines() if re.match(r"│ 2026-03-\d\d \d\d:\d\d \+08:00", line)
    ]
    assert any("sla_breached" in row for row in rows)
    assert any("#2 refund" in row and "succeed" in row for row in rows)


def test_a_database_it_cannot_open_is_an_error_on_stderr(tmp_path: Path) -> None:
    runner = CliRunner()
    for db, message in (
        (tmp_path / "no" / "such.db", "error: cannot open SQLite database"),
        (tmp_path, "error: cannot open SQLite database"),
    ):
        result = runner.invoke(_build_app(), ["demo", "--db", str(db)])
        assert (result.exit_code, result.stdout) == (1, "")
        assert result.stderr.startswith(message), result.stderr
    garbage = tmp_path / "notes.db"
    garbage.write_text("not a database at all, just text", encoding="utf-8")
    result = runner.invoke(_build_app(), ["demo", "--db", str(garbage)])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.startswith("error: SQLite error on")
    assert "not a database" in result.stderr
    assert garbage.read_text(encoding="utf-8") == "not a database at all, just text"


def test_the_installed_command_runs_the_demo(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "from aftersales.cli import main; main()", "demo"]
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [*command, "--db", str(tmp_path / "demo.db")],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert "中文 在七日无理由退货期限内" in done.stdout
    assert "BREACH Mon 03-09 10:20 +08:00" in done.stdout
    failed = subprocess.run(
        [*command, "--db", str(tmp_path / "no" / "such.db")],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
        check=False,
    )
    assert (failed.returncode, failed.stdout) == (1, "")
    assert failed.stderr.startswith("error: cannot open SQLite database")
