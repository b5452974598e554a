"""Rounds of ``aftersales demo`` on one store, and section 2's sentence: it says what the
SLA did in the round that was played, whenever that round opened."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path

import attrs
import pytest
from rich.console import Console

from aftersales import Desk, FrozenClock, MemoryStore, SQLiteStore
from aftersales.cli._demo import _tolerate_unencodable, render
from aftersales.demo import DemoResult, demo_desk, run_demo, story_start


def _printed(result: DemoResult) -> str:
    printed = io.StringIO()
    render(Console(file=printed, width=400), result, Path("demo.db"))
    return " ".join(printed.getvalue().replace("│", " ").split())


def test_section_two_tells_the_weekend_story_of_a_round_opened_on_its_friday() -> None:
    store = SQLiteStore(":memory:")
    clock = FrozenClock(story_start(store)[1])
    with demo_desk(store, clock) as desk:
        told = _printed(run_demo(desk, clock.advance))
    assert (
        "#2 came in Fri 03-06 17:20 +08:00; its 120 minutes count only while the shop is "
        "open, not over the weekend, so run_due warned and breached it on Monday morning."
    ) in told


def test_a_round_opened_on_a_wednesday_warns_and_breaches_that_afternoon() -> None:
    _, friday = story_start(SQLiteStore(":memory:"))
    clock = FrozenClock(friday + timedelta(days=5, hours=-6, minutes=-30))  # Wed 10:00
    with demo_desk(SQLiteStore(":memory:"), clock) as desk:
        result = run_demo(desk, clock.advance)
    kettle = result.sla[1]
    # 10:50 + 120 business minutes: 70 before the 12:00 lunch break, 50 from 13:30
    assert (kettle.warned_at, kettle.breached_at) == (
        kettle.due_at - timedelta(minutes=30),
        kettle.due_at,
    )
    told = _printed(result)
    assert "warning Wed 03-11 13:50 +08:00; BREACH Wed 03-11 14:20 +08:00" in told
    assert (
        "#2 came in Wed 03-11 10:50 +08:00; its 120 minutes count only while the shop is "
        "open, so run_due warned and breached it on Wednesday afternoon."
    ) in told


def test_section_two_says_what_happened_without_a_warning_or_without_a_breach() -> None:
    store = SQLiteStore(":memory:")
    clock = FrozenClock(story_start(store)[1])
    with demo_desk(store, clock) as desk:
        result = run_demo(desk, clock.advance)
    washer, kettle = result.sla
    unwarned = attrs.evolve(result, sla=(washer, attrs.evolve(kettle, warned_at=None)))
    assert "so run_due breached it on Monday morning." in _printed(unwarned)
    in_time = attrs.evolve(result, sla=(washer, attrs.evolve(kettle, breached_at=None)))
    assert "Every first response came in time." in _printed(in_time)


def test_rounds_on_a_store_of_another_kind_follow_each_other_too() -> None:
    clock = FrozenClock(story_start(SQLiteStore(":memory:"))[1])
    store = MemoryStore()  # no recorder: the round is read, then written
    first = run_demo(Desk(store, clock=clock), clock.advance)
    second = run_demo(Desk(store, clock=clock), clock.advance)
    assert (first.numbering.round, second.numbering.round) == (1, 2)
    assert second.started - first.started == timedelta(weeks=1)
    assert (second.numbering.tickets_before, second.numbering.expected_first) == (2, 3)
    assert (second.total_tickets, second.kpis.created) == (4, 2)
    assert "Without an SLA policy the desk measures no first response." in _printed(second)


def test_a_run_after_one_interrupted_before_its_survey_answers_only_its_own(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "demo.db")
    clock = FrozenClock(story_start(store)[1])
    moves = 0

    def interrupted(delta: timedelta) -> datetime:
        nonlocal moves
        moves += 1
        if moves == 7:  # Monday 11:00, 王芳's ticket resolved, its survey not yet sent
            raise KeyboardInterrupt
        return clock.advance(delta)

    with pytest.raises(KeyboardInterrupt), demo_desk(store, clock) as desk:
        run_demo(desk, interrupted)
    store = SQLiteStore(tmp_path / "demo.db")
    assert story_start(store)[0] == 2  # the interrupted run kept its round

    clock = FrozenClock(story_start(store)[1])
    with demo_desk(store, clock) as desk:
        result = run_demo(desk, clock.advance)
    assert result.numbering.round == 2
    # the first run's #1 is surveyed by this run's run_due, but left for its customer
    assert [story.ticket for story in result.surveys] == ["#3", "#4"]
    assert (result.kpis.created, result.kpis.survey_answers) == (2, 2)


def test_only_a_strict_text_stream_is_told_to_replace_what_it_cannot_encode() -> None:
    written = io.BytesIO()
    strict = io.TextIOWrapper(written, encoding="cp1252")
    lenient = io.TextIOWrapper(io.BytesIO(), encoding="cp1252", errors="backslashreplace")
    for stream in (strict, lenient, io.StringIO()):
        _tolerate_unencodable(stream)
    assert (strict.errors, lenient.errors) == ("replace", "backslashreplace")
    strict.write("王芳 ok")
    strict.flush()
    assert written.getvalue() == b"?? ok"
