"""A report of a period: :func:`build_report` gathers the ticket KPIs of a
:class:`~aftersales.insights.ReportQuery`, their trend over the period, the time spent in
each workflow state, risk alerts (given, or recorded by a
:class:`~aftersales.insights.RiskWatch`) and, when asked, SLA compliance, case KPIs,
workload and next response times into a :class:`Report`, which exports them as JSON, CSV,
Parquet or one self-contained HTML page with charts.

Every figure is counted where the data is: on the SQL stores the report runs two
statements for the trend's slices (the ticket KPIs of an ungrouped query are their sum)
and two more for a grouped or compared query's KPIs, and, when asked, the one of
:func:`~aftersales.insights.dwell_times`, :func:`~aftersales.insights.service_levels`,
:func:`~aftersales.insights.case_metrics`, :func:`~aftersales.insights.workload` and
:func:`~aftersales.insights.next_response_times`; never a row per ticket. Alerts are given
by the caller (from :func:`~aftersales.insights.detect_many` over the series they keep) or
read from the ``risk_alert`` events a watch recorded (:func:`stored_alerts`).

The report's content is a set of named :class:`ReportTable` (:attr:`Report.tables`), the
same in every export: ``tickets`` (a row per group and the total, per period),
``change`` (with ``compare_previous``), ``ageing`` (the backlog by age), ``trend``
(created, resolved and backlog per slice of the period), ``durations`` (the histograms
of first response and resolution times), ``escalations`` (with the query's
``escalations``: tickets per escalation level), ``dwell`` (each workflow state's stays),
``bottlenecks`` (the longest waits before a transition), ``alerts``, and with the
families asked for ``service_levels``, ``cases``, ``return_reasons``, ``repair_parts``,
``workload``, ``next_responses``, ``surveys`` and ``survey_scores``.
"""

from __future__ import annotations

import csv
import importlib
import json
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from os import PathLike
from pathlib import Path
from typing import IO, Literal

import attrs

from aftersales.cases.surveys import SurveyType
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.feedback import SurveyFigures
from aftersales.insights import _report_families as families
from aftersales.insights import _report_surveys as survey_family
from aftersales.insights._report_alerts import stored_alerts
from aftersales.insights._ticket_memory import bucket_floor
from aftersales.insights.bottlenecks import DwellQuery, DwellReport, dwell_times
from aftersales.insights.case_metrics import CaseReport
from aftersales.insights.metrics import (
    ReportQuery,
    TicketMetrics,
    TicketReport,
    TicketReportRow,
    report_metrics,
)
from aftersales.insights.risk import Alert
from aftersales.insights.service_levels import ServiceLevelReport
from aftersales.insights.workload import NextResponseReport, WorkloadReport
from aftersales.storage import Store

__all__ = [
    "AGEING_COLUMNS",
    "KEY_FIGURES",
    "Report",
    "ReportTable",
    "build_report",
    "stored_alerts",
]

Cell = str | int | float | None
"""A table cell: text, a whole number, a number, or nothing."""

_MAX_TREND_POINTS = 60
_CHARTED_ALERTS = 15
_TOTAL = "(total)"
_NO_GROUP = "(none)"


@attrs.frozen
class ReportTable:
    """One table of a report: column names and rows of plain values (text, numbers,
    None), ready for CSV, JSON and Parquet. Instants and dates are ISO 8601 text."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def records(self) -> list[dict[str, Cell]]:
        """The rows as dicts keyed by column."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def _iso(value: datetime | date) -> str:
    return value.isoformat()


def _group_name(row: TicketReportRow) -> str:
    return _NO_GROUP if row.group is None else row.group


_TICKET_COLUMNS = (
    "group",
    "period",
    "period_from",
    "period_to",
    "created",
    "resolved",
    "reopened",
    "reopen_rate",
    "first_contact_resolved",
    "first_contact_resolution_rate",
    "first_responses",
    "first_response_median_seconds",
    "first_response_p90_seconds",
    "resolution_median_seconds",
    "resolution_p90_seconds",
    "backlog_as_of",
    "backlog_open",
    "rated",
    "mean_score",
    "csat",
)


def _ticket_cells(group: str, period: str, metrics: TicketMetrics) -> tuple[Cell, ...]:
    return (
        group,
        period,
        _iso(metrics.period_from),
        _iso(metrics.period_to),
        metrics.created,
        metrics.resolved,
        metrics.reopened,
        metrics.reopen_rate,
        metrics.first_contact_resolved,
        metrics.first_contact_resolution_rate,
        metrics.first_response.count,
        metrics.first_response.median_seconds,
        metrics.first_response.p90_seconds,
        metrics.resolution.median_seconds,
        metrics.resolution.p90_seconds,
        _iso(metrics.backlog.as_of),
        metrics.backlog.open,
        metrics.satisfaction.rated,
        metrics.satisfaction.mean_score,
        metrics.satisfaction.csat,
    )


def _rows_with_total(tickets: TicketReport) -> list[tuple[str, TicketReportRow]]:
    named = [(_group_name(row), row) for row in tickets.rows]
    if tickets.query.group_by != "none":
        named.append((_TOTAL, tickets.total))
    return named


def _ticket_table(tickets: TicketReport) -> ReportTable:
    rows: list[tuple[Cell, ...]] = []
    for name, row in _rows_with_total(tickets):
        rows.append(_ticket_cells(name, "current", row.current))
        if row.previous is not None:
            rows.append(_ticket_cells(name, "previous", row.previous))
    return ReportTable("tickets", _TICKET_COLUMNS, tuple(rows))


def _change_table(tickets: TicketReport) -> ReportTable:
    fields = (
        [field.name for field in attrs.fields(type(tickets.total.change))]
        if (tickets.total.change is not None)
        else []
    )
    rows = tuple(
        (name, *(getattr(row.change, field) for field in fields))
        for name, row in _rows_with_total(tickets)
        if row.change is not None
    )
    return ReportTable("change", ("group", *fields), rows)


AGEING_COLUMNS = ("under_1_day", "1_3_days", "3_7_days", "7_30_days", "30_days_or_more")
"""The ``ageing`` table's columns for :data:`~aftersales.insights.AGEING_BUCKETS`."""

KEY_FIGURES = (
    "created",
    "resolved",
    "reopen_rate",
    "first_contact_resolution_rate",
    "first_response_median_seconds",
    "resolution_median_seconds",
    "resolution_p90_seconds",
    "backlog_open",
)
"""The columns of the ``tickets`` table a summary shows (the HTML's key figures, the
command's first table)."""


def _ageing_table(tickets: TicketReport) -> ReportTable:
    rows = tuple(
        (
            name,
            _iso(row.current.backlog.as_of),
            row.current.backlog.open,
            *row.current.backlog.ageing,
        )
        for name, row in _rows_with_total(tickets)
    )
    return ReportTable("ageing", ("group", "as_of", "open", *AGEING_COLUMNS), rows)


def _durations_table(tickets: TicketReport) -> ReportTable:
    metrics = tickets.total.current
    rows = tuple(
        (name, bucket, bucket_floor(bucket), bucket_floor(bucket + 1), count)
        for name, stats in (
            ("first_response", metrics.first_response),
            ("resolution", metrics.resolution),
        )
        for bucket, count in stats.histogram
    )
    return ReportTable(
        "durations", ("metric", "bucket", "from_seconds", "to_seconds", "tickets"), rows
    )


_TREND_COLUMNS = (
    "slice_from",
    "slice_to",
    "created",
    "resolved",
    "resolution_median_seconds",
    "backlog_open",
)


def _trend_table(trend: Sequence[TicketMetrics]) -> ReportTable:
    rows = tuple(
        (
            _iso(point.period_from),
            _iso(point.period_to),
            point.created,
            point.resolved,
            point.resolution.median_seconds,
            point.backlog.open,
        )
        for point in trend
    )
    return ReportTable("trend", _TREND_COLUMNS, rows)


_ALERT_COLUMNS = (
    "key",
    "kind",
    "method",
    "window_start",
    "window_end",
    "severity",
    "observed",
    "expected",
    "baseline",
    "exposure",
    "statistic",
    "limit",
    "evidence",
)


def _alert_table(alerts: Sequence[Alert]) -> ReportTable:
    rows = tuple(
        (
            alert.key,
            alert.kind,
            alert.method,
            _iso(alert.window_start),
            _iso(alert.window_end),
            alert.severity.value,
            alert.observed,
            alert.expected,
            alert.baseline,
            alert.exposure,
            alert.statistic,
            alert.limit,
            alert.evidence,
        )
        for alert in alerts
    )
    return ReportTable("alerts", _ALERT_COLUMNS, rows)


def _report_error(field: str, message: str) -> InvalidInput:
    return InvalidInput("report", [FieldError((field,), message)])


@attrs.frozen
class Report:
    """The KPIs of a query (:attr:`tickets`), their trend over the period (:attr:`trend`,
    one :class:`~aftersales.insights.TicketMetrics` per slice, ungrouped, its backlog
    measured at the slice's end), the time spent in each workflow state (:attr:`dwell`,
    from :func:`~aftersales.insights.dwell_times`; None when not computed), the risk
    alerts (:attr:`alerts`) and the families :func:`build_report` was asked for (each
    None when not computed): SLA compliance (:attr:`service_levels`), case KPIs
    (:attr:`cases`), workload (:attr:`workload`), next response times
    (:attr:`next_responses`) and the survey answers' CSAT, NPS and CES (:attr:`surveys`;
    per channel in :attr:`survey_channels` when the query groups by channel).

    Build it with :func:`build_report`; export it with :meth:`to_json`, :meth:`to_csv`,
    :meth:`to_parquet` and :meth:`to_html`.
    """

    tickets: TicketReport
    trend: tuple[TicketMetrics, ...] = ()
    alerts: tuple[Alert, ...] = ()
    dwell: DwellReport | None = None
    service_levels: ServiceLevelReport | None = None
    cases: CaseReport | None = None
    workload: WorkloadReport | None = None
    next_responses: NextResponseReport | None = None
    surveys: dict[SurveyType, SurveyFigures] | None = None
    survey_channels: dict[str | None, dict[SurveyType, SurveyFigures]] | None = None

    @property
    def query(self) -> ReportQuery:
        """The query the report answers."""
        return self.tickets.query

    @property
    def tables(self) -> dict[str, ReportTable]:
        """The report's tables by name, in the order the exports write them (``change``
        and ``escalations`` only when the query asks for them, ``dwell`` and
        ``bottlenecks`` only with :attr:`dwell`, and each family's only when computed:
        ``service_levels``; ``cases``, ``return_reasons`` and ``repair_parts``;
        ``workload``; ``next_responses``; ``surveys`` and ``survey_scores``)."""
        tables = [_ticket_table(self.tickets)]
        if self.query.compare_previous:
            tables.append(_change_table(self.tickets))
        tables += [
            _ageing_table(self.tickets),
            _trend_table(self.trend),
            _durations_table(self.tickets),
        ]
        if self.query.escalations:
            rows = families.escalation_rows(self.tickets)
            tables.append(ReportTable("escalations", families.ESCALATION_COLUMNS, rows))
        if self.dwell is not None:
            tables += [
                ReportTable("dwell", families.DWELL_COLUMNS, families.dwell_rows(self.dwell)),
                ReportTable("bottlenecks", families.WAIT_COLUMNS, families.waits_rows(self.dwell)),
            ]
        tables.append(_alert_table(self.alerts))
        tables += self._family_tables()
        return {table.name: table for table in tables}

    def _family_tables(self) -> list[ReportTable]:
        tables = []
        if self.service_levels is not None:
            rows = families.service_level_table(self.service_levels)
            tables.append(ReportTable("service_levels", families.SERVICE_LEVEL_COLUMNS, rows))
        if self.cases is not None:
            cases, reasons, parts = families.case_tables(self.cases)
            tables += [
                ReportTable("cases", families.CASE_COLUMNS, cases),
                ReportTable("return_reasons", families.REASON_COLUMNS, reasons),
                ReportTable("repair_parts", families.PART_COLUMNS, parts),
            ]
        if self.workload is not None:
            rows = families.workload_table(self.workload)
            tables.append(ReportTable("workload", families.WORKLOAD_COLUMNS, rows))
        if self.next_responses is not None:
            rows = families.next_response_table(self.next_responses)
            tables.append(ReportTable("next_responses", families.NEXT_RESPONSE_COLUMNS, rows))
        if self.surveys is not None:
            tables += [
                ReportTable(
                    "surveys",
                    survey_family.SURVEY_COLUMNS,
                    survey_family.survey_table(self.surveys, self.survey_channels),
                ),
                ReportTable(
                    "survey_scores",
                    survey_family.SURVEY_SCORE_COLUMNS,
                    survey_family.survey_score_table(self.surveys, self.survey_channels),
                ),
            ]
        return tables

    def to_json(self) -> str:
        """The report as JSON text: the query and each table as a list of objects. The
        same report always gives the same text (keys sorted, no time of writing)."""
        document = {
            "query": self.query.model_dump(mode="json"),
            "tables": {name: table.records() for name, table in self.tables.items()},
        }
        return json.dumps(document, sort_keys=True, ensure_ascii=False, indent=1)

    def to_csv(
        self, target: str | PathLike[str] | IO[str], *, table: str = "tickets"
    ) -> list[Path]:
        """Write the tables as CSV (a header row, then the rows; empty cells for None).

        ``target`` a directory (created if missing): one ``<table>.csv`` per table,
        returned. ``target`` an open text file: the one table named ``table`` is
        written to it, and nothing is returned.
        """
        tables = self.tables
        if not isinstance(target, (str, PathLike)):
            if table not in tables:
                raise _report_error("table", f"no table {table!r}; one of: {', '.join(tables)}")
            _write_csv(tables[table], target)
            return []
        folder = Path(target)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, each in tables.items():
            path = folder / f"{name}.csv"
            with path.open("w", encoding="utf-8", newline="") as file:
                _write_csv(each, file)
            written.append(path)
        return written

    def to_parquet(self, target: str | PathLike[str]) -> list[Path]:
        """Write one ``<table>.parquet`` per table into the directory ``target`` (created
        if missing) and return their paths. Needs ``pyarrow`` (the ``reports`` extra):
        without it, InvalidInput says what to install."""
        try:
            parquet = importlib.import_module("pyarrow.parquet")
            arrow = importlib.import_module("pyarrow")
        except ImportError:
            raise _report_error(
                "format",
                'Parquet export needs pyarrow: pip install "aftersales[reports]"',
            ) from None
        folder = Path(target)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, table in self.tables.items():
            columns = {
                column: [row[index] for row in table.rows]
                for index, column in enumerate(table.columns)
            }
            path = folder / f"{name}.parquet"
            parquet.write_table(arrow.table(columns), path)
            written.append(path)
        return written

    def to_html(self, target: str | PathLike[str], *, title: str | None = None) -> Path:
        """Write the report as one self-contained HTML page (charts inlined as PNG, no
        script, nothing fetched from the network) and return its path. Needs
        ``matplotlib`` (the ``reports`` extra): without it, InvalidInput says what to
        install."""
        from aftersales.insights._report_html import default_title, render_html

        page = render_html(self, title or default_title(self.query))
        path = Path(target)
        path.write_text(page, encoding="utf-8")
        return path


def _write_csv(table: ReportTable, file: IO[str]) -> None:
    writer = csv.writer(file, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(["" if cell is None else cell for cell in row] for row in table.rows)


def _slice_ends(query: ReportQuery, points: int) -> list[datetime]:
    """The ends of the period cut into ``points`` slices of equal length (whole days when
    the period is whole days and at least as long; the last slice then may be shorter)."""
    length = query.length
    whole_days = length.seconds == 0 and length.microseconds == 0
    if whole_days and length.days >= points:
        step = timedelta(days=math.ceil(length.days / points))
        count = math.ceil(length / step)
    else:
        step, count = length / points, points
    ends = [min(query.created_from + step * (i + 1), query.created_to) for i in range(count)]
    ends[-1] = query.created_to  # whatever a fraction of a microsecond the step lost
    return ends


def build_report(
    store: Store,
    query: ReportQuery,
    *,
    alerts: Iterable[Alert] | Literal["stored"] = (),
    trend_points: int = 12,
    dwell: bool = False,
    sla: bool = False,
    cases: bool = False,
    workload: bool = False,
    surveys: bool = False,
) -> Report:
    """The report of ``query`` over ``store``: its ticket KPIs, the period cut into
    ``trend_points`` slices (whole days when the period is whole days; 0 for no trend,
    at most 60) with each slice's volume, resolutions, satisfaction and the backlog at
    its end, and ``alerts`` (e.g. from :func:`~aftersales.insights.detect_many`; or
    ``"stored"``: those a :class:`~aftersales.insights.RiskWatch` recorded in ``store``
    whose window ends in the period, see :func:`stored_alerts`), most severe first.

    Each family of figures beyond the ticket KPIs is opt-in, as it costs a statement
    (or more) of its own over a large table; measured on SQLite at 100,000 tickets,
    a year's (quarter's) period, next to 0.66 s (0.20 s) for the report without them:

    - ``sla``: SLA compliance and business-hours times of first response and resolution
      (:func:`~aftersales.insights.service_levels`; every filter and grouping applies):
      0.25 s (0.06 s);
    - ``cases``: the case KPIs of the period (:func:`~aftersales.insights.case_metrics`),
      per SKU (per channel when the report groups by channel), filtered by the query's
      products and channels: 0.34 s (0.07 s);
    - ``workload``: the agents' workload (per team when the report groups by team) and the
      next response times (per team or channel when grouped) of the period, filtered by
      the query's teams and channels (:func:`~aftersales.insights.workload`,
      :func:`~aftersales.insights.next_response_times`): 4.6 s (1.5 s);
    - ``surveys``: the CSAT, NPS and CES of the surveys answered in the period, per survey
      type, and their scores (:func:`~aftersales.feedback.survey_figures`), filtered by
      the channels the surveys were sent on, per channel when the report groups by it.

    With the query's ``escalations``, the ticket KPIs also count the tickets per escalation
    level (the ``escalations`` table), read from each ticket's JSON: 0.32 s (1.2 s).

    A family whose query cannot apply one of the report's filters is left out (None):
    case metrics have no category, priority, team or tier filter; workload and next
    responses no category, priority, product or tier filter; survey figures filter by
    channel only. ``compare_previous``
    applies to the ticket KPIs only.

    With ``dwell`` it also holds the time tickets and cases of the period spent in each
    workflow state (:func:`~aftersales.insights.dwell_times`, per team when grouped by
    team), except when the query filters by channel, category, priority, product or tier
    (dwell times cannot) or the store is not a MemoryStore, SQLiteStore or
    SQLAlchemyStore; otherwise :attr:`Report.dwell` is None. It is off by default: on
    SQLite it costs far more than the rest of the report (measured: 0.3 s for 600
    tickets, 61 s for 10,000).

    Bad input raises :class:`~aftersales.InvalidInput`.
    """
    if isinstance(trend_points, bool) or not isinstance(trend_points, int):
        raise _report_error("trend_points", "must be an int")
    if not 0 <= trend_points <= _MAX_TREND_POINTS:
        raise _report_error("trend_points", f"must be from 0 to {_MAX_TREND_POINTS}")
    flags = {"dwell": dwell, "sla": sla, "cases": cases, "workload": workload, "surveys": surveys}
    for name, flag in flags.items():
        if not isinstance(flag, bool):
            raise _report_error(name, "must be True or False")
    if isinstance(alerts, str) and alerts != "stored":
        raise _report_error("alerts", 'must be Alerts or "stored"')
    given = stored_alerts(store, query) if alerts == "stored" else tuple(alerts)
    for index, alert in enumerate(given):
        if not isinstance(alert, Alert):
            raise InvalidInput("report", [FieldError(("alerts", index), "must be an Alert")])
    ends = _slice_ends(query, trend_points) if trend_points else []
    tickets, trend = report_metrics(store, query, ends)
    severity_rank = {"critical": 0, "high": 1, "warning": 2}
    ordered = sorted(
        given,
        key=lambda a: (severity_rank[a.severity.value], a.window_end, a.key, a.kind, a.method),
    )
    worked = families.workload_of(store, query) if workload else None
    answered = survey_family.surveys_of(store, query) if surveys else None
    return Report(
        tickets,
        trend,
        tuple(ordered),
        _dwell(store, query) if dwell else None,
        service_levels=families.service_levels_of(store, query) if sla else None,
        cases=families.cases_of(store, query) if cases else None,
        workload=None if worked is None else worked[0],
        next_responses=None if worked is None else worked[1],
        surveys=None if answered is None else answered[0],
        survey_channels=None if answered is None else answered[1],
    )


_NOT_DWELL_FILTERS = ("channel", "category", "priority", "product", "tier")
"""The query's filters dwell times cannot apply (they filter by period and team only)."""


def _dwell(store: Store, query: ReportQuery) -> DwellReport | None:
    """The dwell times of the query's subjects, when the store can count them and the
    query filters only what dwell times can (the period and teams)."""
    if any(getattr(query, column) is not None for column in _NOT_DWELL_FILTERS):
        return None
    dwell_query = DwellQuery(
        created_from=query.created_from,
        created_to=query.created_to,
        as_of=query.backlog_at,
        team=query.team,
        group_by="team" if query.group_by == "team" else "none",
    )
    try:
        return dwell_times(store, dwell_query)
    except InvalidInput as error:
        if [e.location for e in error.errors] == [("store",)]:
            return None  # a store of another kind: no dwell times to show
        raise  # pragma: no cover - the query is built above from a valid one
