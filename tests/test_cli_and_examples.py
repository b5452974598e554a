from __future__ import annotations

import re
import runpy
import sqlite3
import sys
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

import aftersales
from aftersales.cli import _build_app, main
from aftersales.workflows import TICKET_WORKFLOW

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What one run of ``aftersales demo`` prints, on a terminal wide enough for its rows."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "250")
        db = tmp_path_factory.mktemp("demo") / "demo.db"
        result = CliRunner().invoke(_build_app(), ["demo", "--db", str(db)])
    assert (result.exit_code, result.stderr) == (0, ""), result.output
    return result.stdout


def test_the_demo_shows_times_with_the_year_and_the_utc_offset(demo_output: str) -> None:
    assert "Simulated clock, from 2026-03-06 16:30 +08:00 (the shop's time)." in demo_output
    assert "BREACH Mon 03-09 10:20 +08:00" in demo_output
    from aftersales.demo import local_time

    assert local_time(datetime(2026, 3, 2, 1, 15, tzinfo=timezone.utc)) == "2026-03-02 09:15 +08:00"


def test_the_demo_explains_its_policy_decision_in_english_and_chinese(demo_output: str) -> None:
    assert re.search(r"within the 7-day no-reason return window", demo_output, re.IGNORECASE)
    assert "在七日无理由退货期限内" in demo_output


def test_the_demo_classifies_with_the_classifiers_categories(demo_output: str) -> None:
    from aftersales.routing import CATEGORIES

    used = set(re.findall(r"→ (\w+) \(confidence \d+%", demo_output))
    assert used == {"repair_warranty", "return_refund"}
    assert used <= set(CATEGORIES)


def test_the_demo_runs_twice_on_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    first = runner.invoke(_build_app(), ["demo", "--db", "demo.db"])
    assert first.exit_code == 0, first.output
    assert "demo.db is new: this run's tickets are #1-#2." in first.output
    assert "holds 2 tickets" in first.output
    second = runner.invoke(_build_app(), ["demo", "--db", "demo.db"])
    assert second.exit_code == 0, second.output
    assert "this run's tickets are #3-#4" in second.output
    assert "holds 4 tickets" in second.output
    with closing(sqlite3.connect(tmp_path / "demo.db")) as connection:
        (events,) = connection.execute("SELECT count(*) FROM events").fetchone()
        (bad,) = connection.execute(
            "SELECT count(*) FROM tickets t WHERE version != "
            "(SELECT max(sequence) FROM events e WHERE e.subject_id = t.id)"
        ).fetchone()
        (bad_cases,) = connection.execute(
            "SELECT count(*) FROM cases c WHERE version != "
            "(SELECT max(sequence) FROM events e WHERE e.subject_id = c.id)"
        ).fetchone()
        (cases,) = connection.execute("SELECT count(*) FROM cases").fetchone()
    assert events == 2 * 31  # the scenario records 31 events per run (16 of them on cases)
    assert (bad, bad_cases, cases) == (0, 0, 2 * 4)


def test_the_demo_reports_a_database_it_cannot_open_on_stderr(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(_build_app(), ["demo", "--db", str(tmp_path / "no" / "such.db")])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.startswith("error: cannot open SQLite database")


def test_the_workflow_command_prints_mermaid() -> None:
    runner = CliRunner()
    result = runner.invoke(_build_app(), ["workflow", "ticket"])
    assert (result.exit_code, result.output) == (0, TICKET_WORKFLOW.to_mermaid())
    result = runner.invoke(_build_app(), ["workflow", "nope"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert "nope" in result.stderr


def test_the_workflow_command_prints_every_case_kinds_workflow_on_site_visits_included() -> None:
    from aftersales.cases import KINDS

    runner = CliRunner()
    for spec in KINDS:
        result = runner.invoke(_build_app(), ["workflow", spec.workflow.name])
        assert (result.exit_code, result.output) == (0, spec.workflow.to_mermaid())
    assert "visit" in runner.invoke(_build_app(), ["workflow", "--help"]).output


def test_usage_errors_go_to_stderr() -> None:
    result = CliRunner().invoke(_build_app(), ["no-such-command"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert "No such command 'no-such-command'" in result.stderr


def test_the_command_prints_its_version() -> None:
    result = CliRunner().invoke(_build_app(), ["--version"])
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        f"aftersales {aftersales.__version__}\n",
        "",
    )


@pytest.mark.parametrize("command", [[], ["demo"], ["workflow"], ["policy-schema"]])
def test_dash_h_shows_help_without_type_tags(command: list[str]) -> None:
    runner = CliRunner()
    short = runner.invoke(_build_app(), [*command, "-h"])
    assert (short.exit_code, short.stderr) == (0, "")
    assert short.stdout.startswith("Usage: ")
    assert short.stdout == runner.invoke(_build_app(), [*command, "--help"]).stdout
    assert "-h, --help" in short.stdout
    assert "<bool>" not in short.stdout, short.stdout


def test_the_policy_schema_command_prints_the_schema() -> None:
    import json

    from aftersales.policies import PolicySet

    result = CliRunner().invoke(_build_app(), ["policy-schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == PolicySet.json_schema()


def test_main_runs_the_typer_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["aftersales", "workflow"])
    with pytest.raises(SystemExit) as raised:
        main()
    assert raised.value.code == 0


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_every_example_runs_as_a_template(
    example: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    # as `python examples/x.py` runs it, whatever arguments pytest itself was given
    monkeypatch.setattr(sys, "argv", [str(example)])
    runpy.run_path(str(example), run_name="__main__")
    assert capsys.readouterr().out.strip()


def test_the_return_check_endpoint_answers_and_names_bad_fields() -> None:
    import json

    endpoint = runpy.run_path(
        str(Path(__file__).parent.parent / "examples" / "return_check_endpoint.py")
    )
    answers = {
        title: endpoint["can_return"](json.dumps(body))
        for title, body in endpoint["REQUESTS"].items()
    }
    assert [status for status, _ in answers.values()] == [200, 200, 200, 422]
    last_day = answers["7-day return, last day"][1]
    assert (last_day["outcome"], last_day["refund"]["net"]) == ("allowed", "1250.00")
    assert last_day["explanation"] == "在七日无理由退货期限内，截止日期为 2024-06-10"
    assert answers["7-day return, one day late"][1]["outcome"] == "refused"
    assert answers["shop policy, 15 days"][1]["policy"] == "acme-returns@2024-07"
    assert answers["delivery before purchase"][1]["errors"] == [
        {"field": "order.delivered_at", "message": "is before purchased_at"}
    ]
    assert endpoint["can_return"]("{not json")[0] == 400


def test_the_custom_workflow_example_runs_a_desks_tickets_on_its_workflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    example = runpy.run_path(str(Path(__file__).parent.parent / "examples" / "custom_workflow.py"))
    done = example["done"]
    assert (done.workflow, done.status) == ("callback", "done")
    assert "refused: outside_office_hours" in capsys.readouterr().out
