"""Escalation levels in the ticket KPIs and the report (issue 19): a fixed week in which an
escalation chain raises tickets to levels 1, 2 and 3, counted by hand, and every store
(MemoryStore, SQLiteStore, SQLAlchemyStore on SQLite, PostgreSQL and MariaDB, and a store
read through its public API only) giving those counts, per group, with the previous week
and through each export.

PostgreSQL and MariaDB are taken from AFTERSALES_TEST_POSTGRES_URL and
AFTERSALES_TEST_MYSQL_URL (see ``insight_stores``); without them those stores skip, naming
the variable (in CI they fail instead).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from insight_stores import MAKERS

from aftersales import Desk, FrozenClock, SQLiteStore, Store
from aftersales.automations import Automations
from aftersales.insights import (
    Escalations,
    ReportQuery,
    TicketReport,
    _ticket_sql,
    build_report,
    ticket_metrics,
)

UTC = timezone.utc
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)  # the queried week: March 2 to 9
WEEK_BEFORE = MONDAY - timedelta(days=7)

CHAIN = {
    "name": "unresolved",
    "kind": "escalation",
    "start": "start",  # work started: levels 0, 4 and 8 hours later while unresolved
    "levels": [{"after_hours": 0}, {"after_hours": 4}, {"after_hours": 8}],
}


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


# The history, as (when, what, ticket): `run_due` runs the chain for every ticket.
# Worked out by hand, each ticket's level at the end:
#   a (email) started Mon 09:00, level 1 at the 09:00 run, resolved 10:00 ....... 1
#   b (email) started Mon 12:00, level 1 at 12:00, level 2 at 16:00, resolved 17:00 2
#   c (phone) started Tue 09:00, levels 1, 2, 3 at 09:00, 13:00, 17:00 ........... 3
#   d (phone) as c, created an hour later: levels at 10:00, 14:00, 18:00 ......... 3
#   e (phone) never started: the chain never runs on it ........................... 0
#   f (web_chat) started and resolved Wed 09:00 before any run ................... 0
#   g (email) of the week before, started Feb 23 09:00: level 1 at the 09:00 run;
#     the next run, at 17:00, fires the two levels due by then (2 and 3) ........... 3
#   h (email) created when the week ends (Mar 9 00:00): in no count ............. 1
STEPS: list[tuple[datetime, str, str]] = [
    (WEEK_BEFORE + timedelta(hours=9), "open start", "g"),
    (WEEK_BEFORE + timedelta(hours=9), "run", ""),
    (WEEK_BEFORE + timedelta(hours=17), "run", ""),
    (WEEK_BEFORE + timedelta(hours=18), "resolve", "g"),
    (at(2, 9), "open start", "a"),
    (at(2, 9), "run", ""),
    (at(2, 10), "resolve", "a"),
    (at(2, 12), "open start", "b"),
    (at(2, 12), "run", ""),
    (at(2, 16), "run", ""),
    (at(2, 17), "resolve", "b"),
    (at(3, 9), "open start", "c"),
    (at(3, 9), "run", ""),
    (at(3, 10), "open start", "d"),
    (at(3, 10), "run", ""),
    (at(3, 13), "run", ""),
    (at(3, 14), "run", ""),
    (at(3, 17), "run", ""),
    (at(3, 18), "run", ""),
    (at(4, 8), "open", "e"),
    (at(4, 9), "open start", "f"),
    (at(4, 9), "resolve", "f"),
    (at(4, 10), "run", ""),
    (at(9, 0), "open start", "h"),
    (at(9, 0), "run", ""),
]
CHANNELS = {"a": "email", "b": "email", "c": "phone", "d": "phone", "e": "phone"}
CHANNELS |= {"f": "web_chat", "g": "email", "h": "email"}
EXPECTED_LEVELS = {"a": 1, "b": 2, "c": 3, "d": 3, "e": 0, "f": 0, "g": 3, "h": 1}


def write_week(store: Store) -> dict[str, str]:
    """The history of :data:`STEPS` on ``store``; answers each ticket's id by name."""
    clock = FrozenClock(WEEK_BEFORE)
    desk = Desk(store, clock=clock)
    Automations(desk, {"rules": [CHAIN]})
    ids: dict[str, str] = {}
    for when, what, name in STEPS:
        clock.set(when)
        if what == "run":
            desk.run_due()
            continue
        if what.startswith("open"):
            ticket = desk.open_ticket(
                customer=f"customer-{name}", channel=CHANNELS[name], subject=name
            )
            ids[name] = ticket.id
            desk.classify(ticket.id, category="repair_warranty", severity="high")
            desk.assign(ticket.id, assignee="li", team="repairs")
        if what.endswith("start"):
            desk.fire(ids[name], "start")
        if what == "resolve":
            desk.resolve(ids[name], resolution="Fixed")
    return ids


@pytest.fixture(params=sorted(MAKERS))
def week_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = MAKERS[request.param](tmp_path)
    write_week(store)
    yield store
    store.close()


def week(**fields: object) -> ReportQuery:
    return ReportQuery(
        created_from=MONDAY, created_to=MONDAY + timedelta(days=7), escalations=True, **fields
    )


def levels_of(report: TicketReport) -> dict[str | None, Escalations | None]:
    return {row.group: row.current.escalations for row in report.rows}


# ----------------------------------------------------------------------------- the counts


def test_the_chain_leaves_each_ticket_at_the_level_worked_out_by_hand() -> None:
    from aftersales import MemoryStore

    store = MemoryStore()
    ids = write_week(store)
    actual = {name: store.get(ticket_id).escalation_level for name, ticket_id in ids.items()}
    assert actual == EXPECTED_LEVELS


def test_every_store_counts_the_weeks_tickets_per_level_reached(week_store: Store) -> None:
    # a, b, c, d, e, f: two at 0 (e, f), one at 1 (a), one at 2 (b), two at 3 (c, d)
    report = ticket_metrics(week_store, week())
    expected = Escalations(escalated=4, levels=(2, 1, 1, 2))
    assert expected == report.total.current.escalations
    assert report.total.current.created == 6
    assert tuple(expected.reached(level) for level in (1, 2, 3)) == (4, 3, 2)


def test_every_store_counts_levels_per_group_with_the_week_before(week_store: Store) -> None:
    report = ticket_metrics(week_store, week(group_by="channel", compare_previous=True))
    assert {
        "email": Escalations(escalated=2, levels=(0, 1, 1)),
        "phone": Escalations(escalated=2, levels=(1, 0, 0, 2)),
        "web_chat": Escalations(escalated=0, levels=(1,)),
    } == levels_of(report)
    assert {
        "email": Escalations(escalated=1, levels=(0, 0, 0, 1)),  # g
        "phone": Escalations(escalated=0, levels=(0,)),
        "web_chat": Escalations(escalated=0, levels=(0,)),
    } == {row.group: row.previous.escalations for row in report.rows if row.previous}
    assert Escalations(escalated=4, levels=(2, 1, 1, 2)) == report.total.current.escalations


def test_every_store_applies_the_filters_to_the_levels(week_store: Store) -> None:
    phone = ticket_metrics(week_store, week(channel="phone"))
    assert Escalations(escalated=2, levels=(1, 0, 0, 2)) == phone.total.current.escalations
    web = ticket_metrics(week_store, week(channel="web_chat"))
    assert Escalations(escalated=0, levels=(1,)) == web.total.current.escalations


def test_every_store_shows_the_levels_in_the_report_table(week_store: Store) -> None:
    # ungrouped with a trend: the week's figures are the sum of its slices'
    table = build_report(week_store, week(), trend_points=7).tables["escalations"]
    assert table.columns == ("group", "period", "level", "tickets", "reached")
    assert table.rows == (
        ("(none)", "current", 0, 2, 6),
        ("(none)", "current", 1, 1, 4),
        ("(none)", "current", 2, 1, 3),
        ("(none)", "current", 3, 2, 2),
    )


def test_levels_are_counted_only_when_the_query_asks() -> None:
    from aftersales import MemoryStore

    store = MemoryStore()
    write_week(store)
    query = week().model_copy(update={"escalations": False})
    report = build_report(store, query)
    assert report.tickets.total.current.escalations is None
    assert "escalations" not in report.tables
    assert all(point.escalations is None for point in report.trend)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "week.db")
    yield store
    store.close()


def test_an_escalate_trigger_counts_like_a_chain_level(sqlite_store: SQLiteStore) -> None:
    store = sqlite_store
    clock = FrozenClock(at(2, 9))
    desk = Desk(store, clock=clock)
    ticket = desk.open_ticket(customer="c", channel="email", subject="Still broken")
    desk.classify(ticket.id, category="repair_warranty", severity="high")
    desk.escalate(ticket.id, reason="third contact")
    desk.escalate(ticket.id, reason="fourth contact")
    report = ticket_metrics(store, week())
    assert Escalations(escalated=1, levels=(0, 0, 1)) == report.total.current.escalations


def test_an_empty_week_has_every_ticket_at_level_0(sqlite_store: SQLiteStore) -> None:
    store = sqlite_store
    report = build_report(store, week(group_by="team", compare_previous=True))
    assert Escalations(escalated=0, levels=(0,)) == report.tickets.total.current.escalations
    assert (report.tables["escalations"].rows) == (
        ("(total)", "current", 0, 0, 0),
        ("(total)", "previous", 0, 0, 0),
    )


def test_sqlite_without_math_functions_counts_the_levels_in_python(
    sqlite_store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = sqlite_store
    write_week(store)
    monkeypatch.setattr(_ticket_sql, "sqlite_dialect", lambda execute: None)
    report = ticket_metrics(store, week(group_by="channel"))
    assert Escalations(escalated=2, levels=(1, 0, 0, 2)) == levels_of(report)["phone"]


# ---------------------------------------------------------------------------- the exports


@pytest.fixture(scope="module")
def grouped_report_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = SQLiteStore(tmp_path_factory.mktemp("exports") / "week.db")
    write_week(store)
    yield store
    store.close()


def test_csv_and_json_hold_the_levels_per_group_and_period(grouped_report_store: Store) -> None:
    report = build_report(grouped_report_store, week(group_by="channel", compare_previous=True))
    buffer = io.StringIO()
    report.to_csv(buffer, table="escalations")
    rows = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert rows[0] == ["group", "period", "level", "tickets", "reached"]
    current = [row for row in rows[1:] if row[1] == "current"]
    # every group lists levels 0 to 3, the highest of the report
    assert current == [
        ["email", "current", "0", "0", "2"],
        ["email", "current", "1", "1", "2"],
        ["email", "current", "2", "1", "1"],
        ["email", "current", "3", "0", "0"],
        ["phone", "current", "0", "1", "3"],
        ["phone", "current", "1", "0", "2"],
        ["phone", "current", "2", "0", "2"],
        ["phone", "current", "3", "2", "2"],
        ["web_chat", "current", "0", "1", "1"],
        ["web_chat", "current", "1", "0", "0"],
        ["web_chat", "current", "2", "0", "0"],
        ["web_chat", "current", "3", "0", "0"],
        ["(total)", "current", "0", "2", "6"],
        ["(total)", "current", "1", "1", "4"],
        ["(total)", "current", "2", "1", "3"],
        ["(total)", "current", "3", "2", "2"],
    ]
    assert ["email", "previous", "3", "1", "1"] in rows
    document = json.loads(report.to_json())
    assert document["query"]["escalations"] is True
    total = [
        (row["level"], row["tickets"])
        for row in document["tables"]["escalations"]
        if row["group"] == "(total)" and row["period"] == "current"
    ]
    assert total == [(0, 2), (1, 1), (2, 1), (3, 2)]


def test_the_html_page_charts_the_levels(grouped_report_store: Store, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    page = build_report(grouped_report_store, week()).to_html(tmp_path / "week.html")
    text = page.read_text("utf-8")
    assert "<h2>Escalations</h2>" in text
    assert 'alt="Tickets per escalation level"' in text
    assert "No ticket of the period was escalated" not in text


def test_the_html_page_of_a_week_without_escalations_says_so(
    grouped_report_store: Store, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    query = week(channel="web_chat")
    text = build_report(grouped_report_store, query).to_html(tmp_path / "w.html").read_text("utf-8")
    assert "<h2>Escalations</h2>" in text
    assert "No ticket of the period was escalated." in text
    without = build_report(grouped_report_store, query.model_copy(update={"escalations": False}))
    assert "<h2>Escalations</h2>" not in without.to_html(tmp_path / "n.html").read_text("utf-8")
