from __future__ import annotations

import runpy
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aftersales.cli import _build_app, main
from aftersales.workflows import TICKET_WORKFLOW

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


def test_the_demo_runs_twice_on_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    db = tmp_path / "demo.db"
    first = runner.invoke(_build_app(), ["demo", "--db", str(db)])
    assert first.exit_code == 0, first.output
    assert "Refused trigger: ticket #5: trigger 'confirm' is not allowed in state" in first.output
    assert "auto-closed: resolved, never confirmed" in first.output
    assert "merged into #2" in first.output
    assert "王芳's history spans channels: wechat, phone" in first.output
    assert "holds 6 tickets" in first.output
    assert "FR-2024-00731, 1 failed QC" in first.output
    assert "45.00 CNY by" in first.output
    second = runner.invoke(_build_app(), ["demo", "--db", str(db)])
    assert second.exit_code == 0, second.output
    assert "holds 12 tickets" in second.output
    with closing(sqlite3.connect(db)) as connection:
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
    assert events == 2 * 58  # the scenario records 58 events per run (21 of them on cases)
    assert (bad, bad_cases, cases) == (0, 0, 2 * 3)


def test_the_demo_reports_a_database_it_cannot_open(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(_build_app(), ["demo", "--db", str(tmp_path / "no" / "such.db")])
    assert result.exit_code == 1
    assert "error:" in result.output


def test_the_workflow_command_prints_mermaid() -> None:
    runner = CliRunner()
    result = runner.invoke(_build_app(), ["workflow", "ticket"])
    assert (result.exit_code, result.output) == (0, TICKET_WORKFLOW.to_mermaid())
    result = runner.invoke(_build_app(), ["workflow", "nope"])
    assert result.exit_code == 2


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
