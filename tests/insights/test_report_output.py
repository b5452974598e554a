"""The report of issue 20: what build_report gathers, its JSON, CSV, Parquet and HTML
exports, and the ``aftersales report`` command, on SQLite files written by the history
generator."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from insight_stores import MAKERS, copy_rows
from typer.testing import CliRunner

from aftersales import Desk, FrozenClock, InvalidInput
from aftersales.cases.surveys import SurveyDetails, SurveyType
from aftersales.cli import _build_app
from aftersales.feedback import survey_figures, survey_figures_by_channel
from aftersales.insights import (
    Alert,
    AlertState,
    CaseReportQuery,
    DwellQuery,
    HistorySummary,
    NextResponseQuery,
    RateShift,
    ReportQuery,
    RiskRule,
    Series,
    Severity,
    WorkloadQuery,
    build_report,
    case_metrics,
    case_series,
    detect_many,
    dwell_times,
    generate_history,
    next_response_times,
    service_levels,
    ticket_metrics,
    watch_risk,
    workload,
)
from aftersales.insights.report import Report, stored_alerts
from aftersales.storage import MemoryStore, SQLiteStore, Store
from aftersales.storage.recorder import MemoryRecorder, RecordStore

START = datetime(2024, 3, 4, tzinfo=timezone.utc)
DAYS = 56
END = START + timedelta(days=DAYS)
SHIFT = RateShift("JACKET-M", "return", from_day=35, factor=5.0)
RULE = RiskRule(baseline_windows=21, min_expected=0.5, significance=0.01)
# office hours on weekdays: some first responses are late, every resolution settles
POLICY = {
    "name": "office hours",
    "calendar": {"hours": {str(day): ["09:00-17:00"] for day in range(5)}},
    "rules": [
        {
            "name": "standard",
            "targets": {"first_response": {"minutes": 240}, "resolution": {"minutes": 960}},
        }
    ],
}


def history(store: Store) -> HistorySummary:
    """The generated history on a desk with an SLA policy, and the alerts a risk watch
    recorded on its daily returns per SKU."""
    desk = Desk(store, clock=FrozenClock(START), sla=POLICY)
    summary = generate_history(desk, tickets=400, start=START, days=DAYS, seed=7, shift=SHIFT)
    last_day = START.date() + timedelta(days=DAYS - 1)
    returns = case_series(
        store, "return", first_day=START.date(), last_day=last_day, exposure="tickets"
    )
    watch_risk(desk, returns, RULE, name="returns")
    return summary


def alerts_of(summary: HistorySummary) -> list[Alert]:
    """The risk alerts on the history's daily case counts per SKU (tickets as exposure)."""
    series = [
        Series(sku, kind, START.date(), counts, exposure=summary.daily_tickets_by_sku[sku])
        for kind, by_sku in summary.daily_cases_by_sku.items()
        for sku, counts in by_sku.items()
    ]
    return detect_many(series, RULE)


@pytest.fixture(scope="module")
def sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, HistorySummary]:
    path = tmp_path_factory.mktemp("report") / "history.db"
    store = SQLiteStore(path)
    try:
        summary = history(store)
    finally:
        store.close()
    return path, summary


@pytest.fixture
def store(sqlite_file: tuple[Path, HistorySummary]) -> Iterator[Store]:
    opened = SQLiteStore(sqlite_file[0])
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def alerts(sqlite_file: tuple[Path, HistorySummary]) -> list[Alert]:
    found = alerts_of(sqlite_file[1])
    assert any(a.key == "JACKET-M" and a.kind == "return" for a in found)  # the shift
    return found


def by_team(**options: object) -> ReportQuery:
    return ReportQuery(created_from=START, created_to=END, group_by="team", **options)


def everything(store: Store, query: ReportQuery, **options: bool) -> Report:
    """The report with every family and the stored alerts."""
    return build_report(
        store,
        query,
        alerts="stored",
        sla=True,
        cases=True,
        workload=True,
        surveys=True,
        **options,
    )


def test_the_report_holds_the_ticket_metrics_and_a_trend_that_adds_up_to_them(
    store: Store,
) -> None:
    query = by_team(compare_previous=True)
    report = build_report(store, query)
    assert report.tickets == ticket_metrics(store, query)
    total = report.tickets.total.current
    assert total.created == 400
    # 56 days in 12 slices: 5 days each, the last one 1 day
    assert len(report.trend) == 12
    assert report.trend[0].period_from == START
    assert report.trend[-1].period_to == END
    assert report.trend[-1].period_from == END - timedelta(days=1)
    for before, after in zip(report.trend, report.trend[1:], strict=False):
        assert before.period_to == after.period_from
    assert sum(point.created for point in report.trend) == total.created
    assert sum(point.resolved for point in report.trend) == total.resolved
    # the last slice's backlog is measured at the period's end, like the report's
    assert report.trend[-1].backlog == total.backlog


def test_a_period_shorter_than_the_trend_points_is_cut_into_equal_parts(store: Store) -> None:
    query = ReportQuery(created_from=START, created_to=START + timedelta(days=2))
    report = build_report(store, query, trend_points=8)
    assert [p.period_to - p.period_from for p in report.trend] == [timedelta(hours=6)] * 8
    assert build_report(store, query, trend_points=0).trend == ()


def test_alerts_are_listed_most_severe_first(store: Store, alerts: list[Alert]) -> None:
    report = build_report(store, by_team(), alerts=reversed(alerts))
    ranks = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.WARNING: 2}
    assert sorted(report.alerts, key=lambda a: ranks[a.severity]) == list(report.alerts)
    assert sorted(report.alerts, key=lambda a: (a.key, a.kind, a.window_end)) == sorted(
        alerts, key=lambda a: (a.key, a.kind, a.window_end)
    )


def test_rows_per_customer_tier_carry_their_satisfaction(store: Store) -> None:
    query = ReportQuery(created_from=START, created_to=END, group_by="tier")
    report = build_report(store, query, trend_points=0, dwell=True)
    assert report.dwell is not None  # a grouping, not a filter: dwell times still count
    rows = {row["group"]: row for row in report.tables["tickets"].records()}
    assert set(rows) == {"gold", "silver", "standard", "(total)"}
    satisfaction = report.tickets.total.current.satisfaction
    total = rows["(total)"]
    assert (total["rated"], total["mean_score"], total["csat"]) == (
        satisfaction.rated,
        satisfaction.mean_score,
        satisfaction.csat,
    )
    assert satisfaction.rated > 0
    assert sum(row["rated"] for name, row in rows.items() if name != "(total)") == total["rated"]
    jackets = ReportQuery(created_from=START, created_to=END, product="JACKET-M")
    filtered = build_report(store, jackets, trend_points=0, dwell=True)
    assert filtered.dwell is None  # dwell times cannot keep one product's tickets
    assert 0 < filtered.tickets.total.current.created < report.tickets.total.current.created


def test_the_report_holds_the_dwell_times_of_the_period_per_team(store: Store) -> None:
    assert build_report(store, by_team(), trend_points=0).dwell is None  # unless asked
    report = build_report(store, by_team(), trend_points=0, dwell=True)
    assert report.dwell == dwell_times(
        store, DwellQuery(created_from=START, created_to=END, group_by="team")
    )
    tables = report.tables
    assert len(tables["dwell"].rows) == len(report.dwell.states)
    ranked = tables["bottlenecks"].records()
    per_group: dict[object, list[dict[str, object]]] = {}
    for row in ranked:
        per_group.setdefault(row["group"], []).append(row)
    assert set(per_group) == {"care", "logistics", "repairs", "(none)"}
    for rows in per_group.values():
        assert [row["rank"] for row in rows] == list(range(1, len(rows) + 1))
        assert len(rows) <= 10
        totals = [row["total_seconds"] for row in rows]
        assert totals == sorted(totals, reverse=True)
    longest = max(report.dwell.transitions, key=lambda t: t.total_seconds)
    assert any(
        (row["state"], row["leaving_by"], row["rank"]) == (longest.state, longest.trigger, 1)
        for row in ranked
    )


def test_dwell_times_are_left_out_where_they_cannot_be_counted(store: Store) -> None:
    by_channel = by_team(channel="email")
    assert build_report(store, by_channel, trend_points=0, dwell=True).dwell is None
    assert "dwell" not in build_report(store, by_channel, trend_points=0, dwell=True).tables
    other = RecordStore(MemoryRecorder())  # counted through find: no dwell times there
    report = build_report(other, by_team(), trend_points=0, dwell=True)
    assert (report.tickets.total.current.created, report.dwell) == (0, None)


FAMILY_TABLES = [
    "service_levels",
    "cases",
    "return_reasons",
    "repair_parts",
    "workload",
    "next_responses",
    "surveys",
    "survey_scores",
]


def test_the_families_asked_for_are_their_functions_figures_over_the_report_query(
    store: Store,
) -> None:
    plain = build_report(store, by_team(), trend_points=0)
    assert (
        plain.service_levels,
        plain.cases,
        plain.workload,
        plain.next_responses,
        plain.surveys,
    ) == ((None,) * 5)
    assert not set(FAMILY_TABLES) & set(plain.tables)  # each only when asked
    report = everything(store, by_team(), trend_points=0)
    assert report.service_levels == service_levels(store, by_team())
    period = {"period_from": START, "period_to": END}
    assert report.cases == case_metrics(store, CaseReportQuery(**period, group_by="sku"))
    assert report.workload == workload(store, WorkloadQuery(**period, group_by="team"))
    assert report.next_responses == next_response_times(
        store, NextResponseQuery(**period, group_by="team")
    )
    tables = report.tables
    assert list(tables)[-len(FAMILY_TABLES) :] == FAMILY_TABLES
    sla = {(r["group"], r["metric"]): r for r in tables["service_levels"].records()}
    first = report.service_levels.total.first_response
    assert first.met > 0
    assert first.breached > 0
    total = sla[("(total)", "first_response")]
    assert (total["met"], total["breached"], total["compliance"]) == (
        first.met,
        first.breached,
        first.compliance,
    )
    assert (
        sla[("care", "resolution")]["tickets"] == report.service_levels.rows[0].resolution.tickets
    )
    cases = {row["group"]: row for row in tables["cases"].records()}
    returns = report.cases.total.returns
    assert (cases["(total)"]["returns"], cases["(total)"]["return_rate"]) == (
        returns.returns,
        returns.return_rate,
    )
    assert cases["JACKET-M"]["returns"] == next(
        row.returns.returns for row in report.cases.rows if row.group == "JACKET-M"
    )
    reasons = [r for r in tables["return_reasons"].records() if r["group"] == "(total)"]
    assert sum(r["returns"] for r in reasons) == returns.returns > 0
    assert [r["part"] for r in tables["repair_parts"].records()] == [
        part.part for part in report.cases.parts
    ]
    work = {row["group"]: row for row in tables["workload"].records()}
    assert set(work) == {_name(row.group) for row in report.workload.rows} >= {"care"}
    care = report.workload.row("care")
    assert care is not None
    assert care.logged_seconds > 0
    assert (work["care"]["logged_seconds"], work["care"]["handling_median_seconds"]) == (
        care.logged_seconds,
        care.handling.median_seconds,
    )
    replies = {row["group"]: row for row in tables["next_responses"].records()}
    answered = report.next_responses.total.next_response
    assert (replies["(total)"]["answered"], replies["(total)"]["median_seconds"]) == (
        answered.count,
        answered.median_seconds,
    )


def _name(group: str | None) -> str:
    return "(none)" if group is None else group


def test_an_ungrouped_report_counts_cases_per_sku_and_workload_per_agent(store: Store) -> None:
    query = ReportQuery(created_from=START, created_to=END, channel="email")
    report = everything(store, query, trend_points=0)
    assert report.cases is not None
    assert report.workload is not None
    assert (report.cases.query.group_by, report.cases.query.channel) == ("sku", ("email",))
    assert report.workload.query.group_by == "agent"
    assert report.workload.query.channel == ("email",)
    assert report.next_responses is not None
    assert report.next_responses.query.group_by == "none"
    (only,) = report.tables["next_responses"].rows
    assert only[0] == "(none)"
    sla = report.tables["service_levels"].records()
    assert [(r["group"], r["metric"]) for r in sla] == [
        ("(none)", "first_response"),
        ("(none)", "resolution"),
    ]


@pytest.mark.parametrize(
    ("filters", "cases_kept", "workload_kept"),
    [
        ({"tier": "gold"}, False, False),
        ({"category": "delivery"}, False, False),
        ({"team": "care"}, False, True),
        ({"product": "JACKET-M"}, True, False),
    ],
)
def test_a_family_that_cannot_apply_a_filter_is_left_out(
    store: Store, filters: dict[str, str], cases_kept: bool, workload_kept: bool
) -> None:
    report = build_report(store, by_team(**filters), trend_points=0, cases=True, workload=True)
    assert (report.cases is not None, report.workload is not None) == (cases_kept, workload_kept)
    assert (report.next_responses is not None) == workload_kept
    if cases_kept:
        assert report.cases is not None
        assert report.cases.query.sku == ("JACKET-M",)
    if workload_kept:
        assert report.workload is not None
        assert report.workload.query.team == ("care",)


@pytest.mark.parametrize(
    "filters",
    [
        {"category": "delivery", "channel": "email"},
        {"product": "JACKET-M", "team": "care"},
        {"tier": "gold"},
    ],
)
def test_every_filter_of_the_report_applies_to_its_sla_figures(
    store: Store, filters: dict[str, str]
) -> None:
    query = by_team(**filters)
    report = build_report(store, query, trend_points=0, sla=True)
    assert report.service_levels == service_levels(store, query)
    assert report.service_levels is not None
    every = service_levels(store, by_team()).total.first_response.tickets
    assert 0 < report.service_levels.total.first_response.tickets < every


def test_stored_alerts_are_those_the_watch_recorded_in_the_period(store: Store) -> None:
    report = build_report(store, by_team(), alerts="stored", trend_points=0)
    assert any((a.key, a.kind) == ("JACKET-M", "return") for a in report.alerts)
    # what the watch's one run over the history recorded: the detector's alerts
    last_day = START.date() + timedelta(days=DAYS - 1)
    series = case_series(
        store, "return", first_day=START.date(), last_day=last_day, exposure="tickets"
    )
    recorded = detect_many(series, RULE, AlertState())
    assert sorted(report.alerts, key=repr) == sorted(recorded, key=repr)
    ranks = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.WARNING: 2}
    assert sorted(report.alerts, key=lambda a: ranks[a.severity]) == list(report.alerts)
    assert {(r["key"], r["window_end"]) for r in report.tables["alerts"].records()} == {
        (a.key, a.window_end.isoformat()) for a in report.alerts
    }
    last = max(a.window_end for a in report.alerts)
    after = ReportQuery(
        created_from=datetime.combine(last, datetime.min.time(), timezone.utc),
        created_to=END + timedelta(days=30),
    )
    assert {a.window_end for a in stored_alerts(store, after)} == {last}
    before = ReportQuery(created_from=START - timedelta(days=30), created_to=START)
    assert stored_alerts(store, before) == ()


def test_stored_alerts_are_read_for_a_report_query_only(store: Store) -> None:
    with pytest.raises(InvalidInput) as refused:
        stored_alerts(store, CaseReportQuery(period_from=START, period_to=END))  # type: ignore[arg-type]
    assert refused.value.errors[0].location == ("query",)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"trend_points": -1}, "trend_points"),
        ({"trend_points": 61}, "trend_points"),
        ({"trend_points": True}, "trend_points"),
        ({"alerts": ["JACKET-M"]}, "alerts"),
        ({"alerts": "saved"}, "alerts"),
        ({"sla": "yes"}, "sla"),
        ({"cases": 1}, "cases"),
    ],
)
def test_bad_report_options_are_refused(
    store: Store, options: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        build_report(store, by_team(), **options)  # type: ignore[arg-type]
    assert refused.value.errors[0].location[0] == field


def test_json_is_the_same_text_for_the_same_report_and_holds_every_table(
    store: Store, alerts: list[Alert]
) -> None:
    query = by_team(compare_previous=True)
    text = build_report(store, query, alerts=alerts, dwell=True).to_json()
    assert build_report(store, query, alerts=alerts, dwell=True).to_json() == text
    document = json.loads(text)
    assert document["query"]["group_by"] == "team"
    assert list(document["tables"]) == sorted(
        ["tickets", "change", "ageing", "trend", "durations", "dwell", "bottlenecks", "alerts"]
    )
    families = json.loads(everything(store, query, dwell=True).to_json())["tables"]
    assert set(families) - set(document["tables"]) == set(FAMILY_TABLES)
    sla_total = {
        row["metric"]: row for row in families["service_levels"] if row["group"] == "(total)"
    }
    assert sla_total["resolution"]["tickets"] == 400  # every ticket has a target
    cases_total = next(row for row in families["cases"] if row["group"] == "(total)")
    assert cases_total["tickets"] == 400
    assert {row["group"] for row in families["workload"]} >= {"care", "repairs"}
    total = next(
        row
        for row in document["tables"]["tickets"]
        if row["group"] == "(total)" and row["period"] == "current"
    )
    assert total["created"] == 400
    ageing_total = next(r for r in document["tables"]["ageing"] if r["group"] == "(total)")
    assert ageing_total["open"] == total["backlog_open"]
    buckets = ("under_1_day", "1_3_days", "3_7_days", "7_30_days", "30_days_or_more")
    assert sum(ageing_total[b] for b in buckets) == total["backlog_open"]
    resolution = [r for r in document["tables"]["durations"] if r["metric"] == "resolution"]
    assert sum(r["tickets"] for r in resolution) == total["resolved"]
    assert len(document["tables"]["alerts"]) == len(alerts)
    assert document["tables"]["alerts"][0]["evidence"].startswith("P(X >= ")


def test_a_memory_store_and_a_sqlite_file_give_the_same_report(store: Store) -> None:
    memory = MemoryStore()
    history(memory)
    query = by_team(compare_previous=True)
    assert everything(memory, query).to_json() == everything(store, query).to_json()


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_every_sql_server_gives_the_same_report_with_every_family(
    server: str, store: Store
) -> None:
    # the SQLite file's history copied row for row (insight_stores.copy_rows): the rows
    # a desk would write there, in one transaction instead of thousands
    on_server = MAKERS[server](Path("."))
    try:
        assert isinstance(store, RecordStore)
        assert isinstance(on_server, RecordStore)
        copy_rows(store, on_server)
        query = by_team(compare_previous=True)
        expected = everything(store, query, dwell=True).to_json()
        assert everything(on_server, query, dwell=True).to_json() == expected
    finally:
        on_server.close()


def test_csv_writes_one_file_per_table_that_reads_back(store: Store, tmp_path: Path) -> None:
    report = everything(store, by_team(), dwell=True)
    written = report.to_csv(tmp_path / "out")
    assert [p.name for p in written] == [
        "tickets.csv",
        "ageing.csv",
        "trend.csv",
        "durations.csv",
        "dwell.csv",
        "bottlenecks.csv",
        "alerts.csv",
        *(f"{name}.csv" for name in FAMILY_TABLES),
    ]
    with (tmp_path / "out" / "service_levels.csv").open(encoding="utf-8", newline="") as file:
        levels = list(csv.DictReader(file))
    assert [(r["group"], r["metric"], int(r["met"])) for r in levels] == [
        (r["group"], r["metric"], r["met"]) for r in report.tables["service_levels"].records()
    ]
    with (tmp_path / "out" / "tickets.csv").open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    expected = report.tables["tickets"].records()
    assert [row["group"] for row in rows] == [row["group"] for row in expected]
    assert [int(row["created"]) for row in rows] == [row["created"] for row in expected]
    # None is an empty cell: the group without tickets resolved has no median
    assert {row["resolution_median_seconds"] for row in rows if row["resolved"] == "0"} <= {""}
    assert (tmp_path / "out" / "alerts.csv").read_text(encoding="utf-8").startswith("key,kind,")


def test_csv_to_an_open_file_writes_the_table_asked_for(store: Store) -> None:
    report = build_report(store, by_team())
    buffer = io.StringIO()
    assert report.to_csv(buffer, table="trend") == []
    lines = buffer.getvalue().splitlines()
    assert lines[0].startswith("slice_from,slice_to,created,")
    assert len(lines) == 1 + len(report.trend)
    with pytest.raises(InvalidInput, match="no table 'nope'"):
        report.to_csv(io.StringIO(), table="nope")


def test_parquet_writes_one_file_per_table_with_the_same_rows(
    store: Store, alerts: list[Alert], tmp_path: Path
) -> None:
    parquet = pytest.importorskip("pyarrow.parquet")
    report = everything(store, by_team(compare_previous=True))
    written = report.to_parquet(tmp_path / "pq")
    assert [p.stem for p in written] == list(report.tables)
    assert set(FAMILY_TABLES) <= {p.stem for p in written}
    for path in written:
        assert parquet.read_table(path).to_pylist() == report.tables[path.stem].records()


def test_parquet_without_pyarrow_names_the_extra(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(InvalidInput, match=r"aftersales\[reports\]"):
        build_report(store, by_team()).to_parquet(tmp_path / "pq")
    assert not (tmp_path / "pq").exists()


IMAGE = re.compile(r'<img class="chart" alt="([^"]*)" src="data:image/png;base64,([^"]+)">')


def charts_of(page: str) -> dict[str, bytes]:
    return {alt: base64.b64decode(data) for alt, data in IMAGE.findall(page)}


def test_the_html_page_is_self_contained_with_a_chart_per_figure(
    store: Store, alerts: list[Alert], tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    report = everything(store, by_team(compare_previous=True), dwell=True)
    path = report.to_html(tmp_path / "report.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    # nothing is fetched: no script, no external source, stylesheet or link
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)
    assert "http://" not in page
    assert "https://" not in page
    charts = charts_of(page)
    assert sorted(charts) == sorted(
        [
            "Tickets created and resolved per slice",
            "Volume by group",
            "Backlog over the period",
            "Backlog by age",
            "Time to first response and resolution",
            "Median resolution time per slice",
            "SLA compliance",
            "Satisfaction scores",
            "CSAT per slice",
            "Alerts: observed against expected",
            "Total time in each workflow state",
        ]
    )
    for image in charts.values():
        assert image.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(image) > 5_000  # drawn, not a blank frame
    for heading in (
        "Key figures",
        "Volume",
        "Backlog and ageing",
        "Resolution times",
        "SLA compliance",
        "Satisfaction",
        "Risk alerts",
        "Dwell times and bottlenecks",
        "Returns, refunds, repairs and complaints",
        "Workload and next response times",
    ):
        assert f"<h2>{heading}</h2>" in page
    for heading in ("Return reasons", "Repairs per part", "Next response times"):
        assert f"<h3>{heading}</h3>" in page
    assert "JACKET-M" in page
    assert "Not computed" not in page
    assert path.stat().st_size < 500_000


def test_the_html_page_of_an_empty_period_says_so_without_failing(
    store: Store, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    empty = ReportQuery(created_from=START - timedelta(days=30), created_to=START)
    report = build_report(store, empty, trend_points=0)
    page = report.to_html(tmp_path / "empty.html").read_text("utf-8")
    assert "0 tickets created" in page
    assert "No rows in alerts." in page
    # without tickets or a trend only the ageing chart is drawn (all zero)
    assert list(charts_of(page)) == ["Backlog by age"]
    assert "Not computed: dwell times" in page  # not asked for
    for missing in ("SLA compliance", "case metrics", "workload and next response times"):
        assert f"Not computed: {missing}" in page
    assert "No ticket of the period was rated." in page
    asked = build_report(store, empty, dwell=True).to_html(tmp_path / "asked.html")
    assert "Longest waits before a transition" in asked.read_text(encoding="utf-8")


def test_the_html_page_says_which_filter_left_a_family_out(store: Store, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    report = everything(store, by_team(team="care"), trend_points=0)
    page = report.to_html(tmp_path / "care.html").read_text(encoding="utf-8")
    assert "Not computed: case metrics" in page
    assert "It cannot be filtered by team" in page
    assert "Not computed: workload" not in page  # workload filters by team
    assert "SLA compliance" in charts_of(page)


def test_html_without_matplotlib_names_the_extra(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(InvalidInput, match=r"aftersales\[reports\]"):
        build_report(store, by_team()).to_html(tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


# ---------------------------------------------------------------------------------------
# aftersales report


def test_the_command_prints_tables_of_the_period(
    sqlite_file: tuple[Path, HistorySummary], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    db = str(sqlite_file[0])
    result = CliRunner().invoke(
        _build_app(),
        ["report", "--db", db, "--from", "2024-03-04", "--to", "2024-04-28", "--group-by", "team"],
    )
    assert result.exit_code == 0, result.output
    for title in ("Tickets (times in hours)", "Backlog by age at 2024-04-29 00:00 UTC", "Trend"):
        assert title in result.stdout
    assert "Longest waits" not in result.stdout  # dwell times only when asked
    total = next(line for line in result.stdout.splitlines() if "(total)" in line)
    assert total.split("│")[2].strip() == "400"
    asked = CliRunner().invoke(
        _build_app(),
        ["report", "--db", db, "--from", "2024-03-04", "--to", "2024-04-28", "--dwell"],
    )
    assert asked.exit_code == 0, asked.output
    waits = asked.stdout.split("Longest waits before a transition")[1].splitlines()
    first = next(line for line in waits if line.startswith("│"))
    assert [cell.strip() for cell in first.split("│")[1:3]] == ["1", "(none)"]


def test_the_command_prints_the_same_json_as_the_api_with_the_last_day_included(
    sqlite_file: tuple[Path, HistorySummary], store: Store
) -> None:
    result = CliRunner().invoke(
        _build_app(),
        [
            "report",
            "--db",
            f"sqlite:///{sqlite_file[0]}",
            "--from",
            "2024-03-04",
            "--to",
            "2024-03-10",
            "--group-by",
            "channel",
            "--compare",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    week = ReportQuery(
        created_from=START,
        created_to=START + timedelta(days=7),
        group_by="channel",
        compare_previous=True,
    )
    assert result.stdout == build_report(store, week).to_json() + "\n"


def test_the_command_writes_csv_and_html(
    sqlite_file: tuple[Path, HistorySummary], tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    db = str(sqlite_file[0])
    period = ["--from", "2024-03-04T08:00+08:00", "--to", "2024-04-29T00:00:00Z"]
    runner = CliRunner()
    done = runner.invoke(
        _build_app(), ["report", "--db", db, *period, "--csv", str(tmp_path / "c")]
    )
    assert done.exit_code == 0, done.stderr
    assert done.stdout.splitlines()[0] == str(tmp_path / "c" / "tickets.csv")
    with (tmp_path / "c" / "tickets.csv").open(encoding="utf-8") as file:
        (row,) = csv.DictReader(file)
    assert (row["created"], row["period_to"]) == ("400", END.isoformat())
    html = ["--html", str(tmp_path / "r.html")]
    done = runner.invoke(_build_app(), ["report", "--db", db, *period, "--dwell", "--sla", *html])
    assert (done.exit_code, done.stdout) == (0, f"{tmp_path / 'r.html'}\n")
    charts = charts_of((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert {"Total time in each workflow state", "SLA compliance"} <= set(charts)


def test_the_command_adds_the_families_and_the_stored_alerts_it_is_asked_for(
    sqlite_file: tuple[Path, HistorySummary], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    db = str(sqlite_file[0])
    period = ["--from", "2024-03-04", "--to", "2024-04-28", "--group-by", "team"]
    asked = ["--sla", "--cases", "--workload", "--surveys", "--alerts"]
    runner = CliRunner()
    printed = runner.invoke(_build_app(), ["report", "--db", db, *period, *asked])
    assert printed.exit_code == 0, printed.output
    for title in (
        "SLA compliance (business hours)",
        "Returns, refunds, repairs, complaints",
        "Workload",
        "Next response times",
        "Risk alerts",
    ):
        assert title in printed.stdout
    report = everything(store, by_team())
    assert report.service_levels is not None
    first = report.service_levels.total.first_response
    sla_total = next(
        line.split("│")
        for line in printed.stdout.split("SLA compliance")[1].splitlines()
        if "(total)" in line and "first_response" in line
    )
    assert [cell.strip() for cell in sla_total[3:6]] == [
        str(first.tickets),
        str(first.met),
        str(first.breached),
    ]
    assert "JACKET-M" in printed.stdout.split("Risk alerts")[1]
    plain = runner.invoke(_build_app(), ["report", "--db", db, *period])
    for title in ("SLA compliance", "Workload", "Risk alerts"):
        assert title not in plain.stdout  # only when asked (no alert given, none read)
    as_json = runner.invoke(_build_app(), ["report", "--db", db, *period, *asked, "--json"])
    assert as_json.stdout == report.to_json() + "\n"


def test_the_command_reports_the_last_30_days_by_default(
    sqlite_file: tuple[Path, HistorySummary],
) -> None:
    before = datetime.now(timezone.utc).date()
    result = CliRunner().invoke(_build_app(), ["report", "--db", str(sqlite_file[0]), "--json"])
    after = datetime.now(timezone.utc).date()
    assert result.exit_code == 0, result.stderr
    query = json.loads(result.stdout)["query"]
    ends = {f"{day + timedelta(days=1)}T00:00:00Z" for day in (before, after)}
    assert query["created_to"] in ends
    end = date.fromisoformat(query["created_to"][:10])
    assert query["created_from"] == f"{end - timedelta(days=30)}T00:00:00Z"


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["--db", "{missing}"], 1, "no SQLite file"),
        (["--db", "{db}", "--from", "March"], 1, "--from: 'March' is not YYYY-MM-DD"),
        (["--db", "{db}", "--group-by", "sku"], 1, "group_by"),
        (["--db", "{db}", "--from", "2024-03-10", "--to", "2024-03-01"], 1, "created_to"),
        (["--db", "{db}", "--json", "--csv", "out"], 2, "at most one of"),
        # nothing listens on port 1: the store cannot connect, and says so
        (["--db", "postgresql+psycopg://nobody@127.0.0.1:1/none"], 1, "error"),
    ],
)
def test_the_command_refuses_bad_options_on_stderr(
    sqlite_file: tuple[Path, HistorySummary],
    tmp_path: Path,
    arguments: list[str],
    code: int,
    message: str,
) -> None:
    filled = [a.format(db=sqlite_file[0], missing=tmp_path / "missing.db") for a in arguments]
    result = CliRunner().invoke(_build_app(), ["report", *filled])
    assert (result.exit_code, result.stdout) == (code, "")
    assert result.stderr.startswith("error:")
    assert message in result.stderr
    assert not (tmp_path / "missing.db").exists()


# ---------------------------------------------------------------------- surveys

SURVEY_RULES = [
    {"kinds": ["ticket"], "channels": ["email"], "survey": "nps", "delay_hours": 24},
    {"kinds": ["ticket"], "channels": ["wechat"], "survey": "csat", "delay_hours": 24},
    {"kinds": ["ticket"], "channels": ["sms"], "survey": "ces", "delay_hours": 24},
]
SURVEY_SCORES = {"email": [10, 9, 9, 7, 3], "wechat": [5, 5, 4, 2], "sms": [2, 3, 6]}
SURVEYED = START + timedelta(days=3)


def answer_surveys(store: Store) -> None:
    """Tickets resolved on ``SURVEYED`` whose NPS (email), CSAT (wechat) and CES (sms)
    surveys are answered with ``SURVEY_SCORES`` a day later."""
    clock = FrozenClock(SURVEYED)
    desk = Desk(store, clock=clock, surveys={"rules": SURVEY_RULES})
    scored = []
    for channel, scores in SURVEY_SCORES.items():
        for index, score in enumerate(scores):
            ticket = desk.open_ticket(
                customer=f"{channel}-{index}", channel=channel, subject="The kettle leaks"
            )
            desk.classify(ticket.id, category="repair_warranty", severity="medium")
            desk.fire(ticket.id, "assign", payload={"assignee": "li.agent"})
            desk.fire(ticket.id, "start")
            desk.fire(ticket.id, "resolve", payload={"resolution": "replaced the seal"})
            scored.append((ticket.id, score))
    clock.advance(hours=25)
    desk.run_due()
    assert desk.surveys is not None
    for ticket_id, score in scored:
        (survey,) = [c for c in desk.cases.for_ticket(ticket_id) if c.kind.value == "survey"]
        assert isinstance(survey.details, SurveyDetails)
        assert survey.details.token is not None
        desk.surveys.answer(survey.details.token, score=score, reason="the seal")


@pytest.fixture(scope="module")
def survey_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("surveys") / "surveys.db"
    store = SQLiteStore(path)
    try:
        answer_surveys(store)
    finally:
        store.close()
    return path


@pytest.fixture
def surveyed(survey_file: Path) -> Iterator[Store]:
    opened = SQLiteStore(survey_file)
    yield opened
    opened.close()


def test_the_survey_family_is_the_survey_figures_of_the_period(surveyed: Store) -> None:
    query = ReportQuery(created_from=START, created_to=END, group_by="channel")
    report = build_report(surveyed, query, trend_points=0, surveys=True)
    figures = survey_figures(surveyed, answered_from=START, answered_to=END)
    assert report.surveys == figures
    channels = survey_figures_by_channel(surveyed, answered_from=START, answered_to=END)
    assert report.survey_channels == channels
    assert list(channels) == ["email", "sms", "wechat"]
    nps, csat, ces = figures[SurveyType.NPS], figures[SurveyType.CSAT], figures[SurveyType.CES]
    assert (nps.answers, nps.score, csat.score, ces.score) == (5, 40.0, 75.0, 11 / 3)
    tables = report.tables
    by_group = {(row["group"], row["survey"]): row for row in tables["surveys"].records()}
    assert sorted(by_group) == sorted(
        [(name, survey) for name in ("email", "(total)") for survey in ("nps",)]
        + [(name, "ces") for name in ("sms", "(total)")]
        + [(name, "csat") for name in ("wechat", "(total)")]
    )
    assert by_group[("email", "nps")]["answers"] == 5
    rows = {survey: row for (name, survey), row in by_group.items() if name == "(total)"}
    assert rows["nps"] == {
        "group": "(total)",
        "survey": "nps",
        "answers": 5,
        "score": 40.0,
        "mean": 7.6,
        "promoters": 3,
        "detractors": 1,
    }
    assert (rows["csat"]["score"], rows["csat"]["promoters"]) == (75.0, None)
    assert (rows["ces"]["answers"], rows["ces"]["mean"]) == (3, 11 / 3)
    scores = [
        (r["survey"], r["score"], r["answers"])
        for r in tables["survey_scores"].records()
        if r["group"] == "(total)"
    ]
    assert [row for row in scores if row[0] == "nps"] == [
        ("nps", 3, 1),
        ("nps", 7, 1),
        ("nps", 9, 2),
        ("nps", 10, 1),
    ]
    assert sum(row[2] for row in scores) == sum(map(len, SURVEY_SCORES.values()))
    # answered after the period: none of the period's
    before = ReportQuery(created_from=START - timedelta(days=30), created_to=START)
    empty = build_report(surveyed, before, trend_points=0, surveys=True)
    assert (empty.surveys, empty.survey_channels) == ({}, None)
    assert (empty.tables["surveys"].rows, empty.tables["survey_scores"].rows) == ((), ())


def test_a_memory_store_gives_the_same_survey_figures(surveyed: Store) -> None:
    memory = MemoryStore()
    answer_surveys(memory)
    query = ReportQuery(created_from=START, created_to=END)
    expected = build_report(surveyed, query, trend_points=0, surveys=True).tables
    tables = build_report(memory, query, trend_points=0, surveys=True).tables
    assert tables["surveys"] == expected["surveys"]
    assert tables["survey_scores"] == expected["survey_scores"]


def test_the_report_s_channels_filter_its_surveys(surveyed: Store) -> None:
    query = ReportQuery(created_from=START, created_to=END, channel=["email", "sms"])
    report = build_report(surveyed, query, trend_points=0, surveys=True)
    assert report.surveys is not None
    assert sorted(kind.value for kind in report.surveys) == ["ces", "nps"]
    assert report.surveys == survey_figures(
        surveyed, answered_from=START, answered_to=END, channel=["email", "sms"]
    )
    assert {row[0] for row in report.tables["surveys"].rows} == {"(none)"}


@pytest.mark.parametrize("filters", [{"category": "delivery"}, {"team": "care"}, {"tier": "gold"}])
def test_a_filtered_report_leaves_the_surveys_out_and_says_why(
    surveyed: Store, filters: dict[str, str], tmp_path: Path
) -> None:
    query = ReportQuery(created_from=START, created_to=END, **filters)  # type: ignore[arg-type]
    report = build_report(surveyed, query, trend_points=0, surveys=True)
    assert report.surveys is None
    assert "surveys" not in report.tables
    pytest.importorskip("matplotlib")
    page = report.to_html(tmp_path / "filtered.html").read_text(encoding="utf-8")
    assert "Not computed: survey figures" in page
    assert f"It cannot be filtered by {next(iter(filters))}" in page


def test_every_export_holds_the_survey_tables(surveyed: Store, tmp_path: Path) -> None:
    query = ReportQuery(created_from=START, created_to=END)
    report = build_report(surveyed, query, trend_points=0, surveys=True)
    document = json.loads(report.to_json())["tables"]
    assert document["surveys"] == report.tables["surveys"].records()
    assert document["survey_scores"] == report.tables["survey_scores"].records()
    written = {path.name: path for path in report.to_csv(tmp_path / "csv")}
    with written["surveys.csv"].open(encoding="utf-8") as file:
        read = {row["survey"]: row for row in csv.DictReader(file) if row["group"] == "(none)"}
    assert (read["nps"]["answers"], read["nps"]["score"], read["csat"]["promoters"]) == (
        "5",
        "40.0",
        "",
    )
    assert "survey_scores.csv" in written
    parquet = pytest.importorskip("pyarrow.parquet")
    for path in report.to_parquet(tmp_path / "parquet"):
        if path.stem in ("surveys", "survey_scores"):
            table = report.tables[path.stem]
            assert parquet.read_table(path).to_pylist() == table.records()


def test_the_html_page_charts_the_scores_of_each_survey_type(
    surveyed: Store, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    query = ReportQuery(created_from=START, created_to=END)
    report = build_report(surveyed, query, trend_points=0, surveys=True)
    page = report.to_html(tmp_path / "surveys.html").read_text(encoding="utf-8")
    assert "<h2>Surveys: CSAT, NPS and CES</h2>" in page
    charts = charts_of(page)
    for survey in ("CES", "CSAT", "NPS"):
        assert charts[f"Survey scores: {survey}"].startswith(b"\x89PNG")
    assert "Not computed: survey figures" not in page
    none = build_report(surveyed, by_team(), trend_points=0)
    assert "Not computed: survey figures" in none.to_html(tmp_path / "no.html").read_text("utf-8")


def test_the_command_reports_the_surveys_when_asked(
    survey_file: Path, surveyed: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    period = ["--db", str(survey_file), "--from", "2024-03-04", "--to", "2024-04-28"]
    runner = CliRunner()
    printed = runner.invoke(_build_app(), ["report", *period, "--surveys"])
    assert printed.exit_code == 0, printed.output
    shown = printed.stdout.split("Surveys answered")[1]
    nps = next(line for line in shown.splitlines() if "nps" in line)
    cells = [cell.strip() for cell in nps.split("│")[1:8]]
    assert cells == ["(none)", "nps", "5", "40", "7.6", "3", "1"]
    plain = runner.invoke(_build_app(), ["report", *period])
    assert "Surveys answered" not in plain.stdout
    as_json = runner.invoke(_build_app(), ["report", *period, "--surveys", "--json"])
    query = ReportQuery(created_from=START, created_to=END)
    expected = build_report(surveyed, query, surveys=True)
    assert as_json.stdout == expected.to_json() + "\n"
    as_csv = runner.invoke(_build_app(), ["report", *period, "--surveys", "--csv", str(tmp_path)])
    assert as_csv.exit_code == 0, as_csv.output
    assert (
        (tmp_path / "survey_scores.csv")
        .read_text(encoding="utf-8")
        .startswith("group,survey,score,answers\n")
    )
