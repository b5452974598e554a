"""``aftersales report --escalations`` prints the levels the query counts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from test_escalation_levels import MONDAY, write_week
from typer.testing import CliRunner

from aftersales.cli import _build_app
from aftersales.insights import ReportQuery, build_report
from aftersales.storage import SQLiteStore


def test_the_command_counts_the_levels_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "week.db"
    store = SQLiteStore(path)
    write_week(store)
    query = ReportQuery(
        created_from=MONDAY, created_to=MONDAY + timedelta(days=7), escalations=True
    )
    expected = build_report(store, query)
    store.close()
    period = ["--db", str(path), "--from", f"{MONDAY:%Y-%m-%d}", "--to", "2026-12-31"]
    week = ["--db", str(path), "--from", f"{MONDAY:%Y-%m-%d}"]
    week += ["--to", f"{MONDAY + timedelta(days=6):%Y-%m-%d}"]
    runner = CliRunner()

    printed = runner.invoke(_build_app(), ["report", *week, "--escalations"])
    as_json = runner.invoke(_build_app(), ["report", *week, "--escalations", "--json"])
    plain = runner.invoke(_build_app(), ["report", *period])

    assert printed.exit_code == 0, printed.output
    shown = printed.stdout.split("Tickets per escalation level")[1]
    rows = [
        [cell.strip() for cell in line.split("│")[1:5]]
        for line in shown.splitlines()
        if line.startswith("│") and "level" not in line
    ]
    assert [row[1:3] for row in rows] == [["0", "2"], ["1", "1"], ["2", "1"], ["3", "2"]]
    assert as_json.stdout == expected.to_json() + "\n"
    assert "escalation level" not in plain.stdout
