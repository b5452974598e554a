"""The demo's scenario (``aftersales.demo``): what it records in the store matches what it
reports, it runs on a plain desk too, the same file gives the same output, and it needs
no optional extra beyond ``cli``."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import attrs
import pytest
from rich.console import Console

from aftersales import Desk, FrozenClock, SQLiteStore
from aftersales.cli._demo import _duration, render
from aftersales.demo import FIRST_STORY_DAY, demo_desk, run_demo, story_start


def test_what_the_demo_reports_is_what_the_store_holds(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "demo.db")
    assert story_start(store) == (1, FIRST_STORY_DAY)
    clock = FrozenClock(FIRST_STORY_DAY)
    with demo_desk(store, clock) as desk:
        result = run_demo(desk, clock.advance)
        washer, kettle = result.tickets
        assert (washer.status, kettle.status) == ("resolved", "resolved")
        assert (washer.assignee, kettle.assignee) == ("zhao.gang", "shift.lead")
        kettle_events = [event.trigger for event in desk.history(kettle.id)]
        assert kettle_events.count("sla_warning") == kettle_events.count("sla_breached") == 1
        assert "sla_breached" not in [event.trigger for event in desk.history(washer.id)]
        refund = next(case for case in desk.cases.for_ticket(kettle.id) if case.kind == "refund")
        assert (refund.status, str(refund.refund.amount if refund.refund else None)) == (
            "succeeded",
            "299.00 CNY",
        )
        surveys = [
            case
            for ticket in result.tickets
            for case in desk.cases.for_ticket(ticket.id)
            if case.kind == "survey"
        ]
        assert sorted((case.status, case.details.score) for case in surveys) == [
            ("answered", 3),
            ("answered", 5),
        ]

    kpis = result.kpis
    assert (kpis.created, kpis.resolved) == (2, 2)
    assert (kpis.first_response_met, kpis.first_response_breached) == (1, 1)
    assert kpis.first_response_compliance == 0.5
    assert (kpis.survey_answers, kpis.survey_mean, kpis.csat) == (2, 4.0, 50.0)
    assert [story.breached_at is not None for story in result.sla] == [False, True]
    assert [(when.isoformat(), what) for when, _, what, _ in result.sla_events] == [
        ("2026-03-09T09:50:00+08:00", "sla_warning"),
        ("2026-03-09T10:20:00+08:00", "sla_breached"),
    ]
    assert story_start(SQLiteStore(tmp_path / "demo.db"))[0] == 2


def test_the_scenario_runs_on_a_plain_desk_and_says_what_it_cannot_show() -> None:
    clock = FrozenClock(datetime(2026, 3, 2, 1, 15, tzinfo=timezone.utc))
    desk = Desk(clock=clock)  # no SLA policy, classifier, routing or surveys
    result = run_demo(desk, clock.advance)

    assert [(row.category, row.agent, row.rule) for row in result.routed] == [
        ("repair_warranty", "zhao.gang", "repairs and warranty"),
        ("return_refund", "emma", "returns in English"),
    ]
    assert (result.sla, result.sla_events, result.surveys) == ((), (), ())
    assert result.policy.refund_amount == "299.00 CNY"
    assert (result.kpis.first_response_compliance, result.kpis.csat) == (None, None)
    printed = io.StringIO()
    render(Console(file=printed, width=200), result, Path("memory"))
    assert "This desk has no SLA policy." in printed.getvalue()
    assert "First-response SLA - (0 met, 0 breached); CSAT - (0 answers, mean None)" in (
        printed.getvalue()
    )


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "-"), (720, "12 min"), (3 * 3600, "3.0 h"), (3 * 86400, "3.0 days")],
)
def test_durations_read_in_the_unit_that_suits_them(seconds: float | None, shown: str) -> None:
    assert _duration(seconds) == shown


def test_the_same_new_file_gives_the_same_output(tmp_path: Path) -> None:
    def once(name: str) -> str:
        store = SQLiteStore(tmp_path / name)
        clock = FrozenClock(story_start(store)[1])
        with demo_desk(store, clock) as desk:
            result = run_demo(desk, clock.advance)
        printed = io.StringIO()
        render(Console(file=printed, width=120), result, Path("demo.db"), timeline=True)
        return printed.getvalue()

    assert once("a.db") == once("b.db")


def test_the_demo_needs_no_optional_extra_but_cli(tmp_path: Path) -> None:
    """Run in a fresh interpreter where every other extra's package fails to import."""
    script = textwrap.dedent(
        """
        import sys
        from importlib.abc import MetaPathFinder

        BLOCKED = {
            "holidays", "sklearn", "numpy", "sqlalchemy", "psycopg", "pymysql", "opencc",
            "bm25s", "jieba", "Stemmer", "phonenumbers", "matplotlib", "pyarrow", "jinja2",
            "httpx", "fastapi", "multipart",
        }

        class Block(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{name} is not installed")
                return None

        sys.meta_path.insert(0, Block())
        from aftersales.cli import main

        sys.argv = ["aftersales", "demo", "--db", sys.argv[1]]
        main()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "demo.db")],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8"},
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert "First-response SLA 50% (1 met, 1 breached); CSAT 50%" in done.stdout


def test_a_first_response_still_missing_shows_the_breach_without_an_answer(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "demo.db")
    clock = FrozenClock(FIRST_STORY_DAY)
    with demo_desk(store, clock) as desk:
        result = run_demo(desk, clock.advance)
    washer, kettle = result.sla
    unanswered = attrs.evolve(result, sla=(washer, attrs.evolve(kettle, met_at=None)))
    printed = io.StringIO()
    render(Console(file=printed, width=200), unanswered, Path("demo.db"))
    lines = [line.strip("│ ") for line in printed.getvalue().splitlines()]
    assert (
        "warning Mon 03-09 09:50 +08:00; BREACH Mon 03-09 10:20 +08:00, escalated to shift.lead"
    ) in lines
    assert "answered Mon" not in printed.getvalue()
