"""A report of a period: :func:`build_report` gathers the ticket KPIs of a
:class:`~aftersales.insights.ReportQuery`, their trend over the period, the time spent in
each workflow state and any risk alerts into a :class:`Report`, which exports them as
JSON, CSV, Parquet or one self-contained HTML page with charts.

Every figure is counted where the data is: the report runs ``1 + trend_points`` calls of
:func:`~aftersales.insights.ticket_metrics` (two SQL statements each on the SQL stores)
and, when asked, one of :func:`~aftersales.insights.dwell_times` (one statement), never
a row per ticket. Alerts are given by the caller (from :func:`~aftersales.insights.detect_many`
over the series they keep).

The report's content is a set of named :class:`ReportTable` (:attr:`Report.tables`), the
same in every export: ``tickets`` (a row per group and the total, per period),
``change`` (with ``compare_previous``), ``ageing`` (the backlog by age), ``trend``
(created, resolved and backlog per slice of the period), ``durations`` (the histograms
of first response and resolution times), ``dwell`` (each workflow state's stays),
``bottlenecks`` (the longest waits before a transition) and ``alerts``.
"""

from __future__ import annotations

import base64
import csv
import html
import importlib
import io
import json
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from os import PathLike
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import attrs

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.insights._ticket_memory import bucket_floor
from aftersales.insights.bottlenecks import DwellQuery, DwellReport, dwell_times
from aftersales.insights.metrics import (
    AGEING_BUCKETS,
    ReportQuery,
    TicketMetrics,
    TicketReport,
    TicketReportRow,
    ticket_metrics,
)
from aftersales.insights.risk import Alert
from aftersales.storage import Store

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["AGEING_COLUMNS", "KEY_FIGURES", "Report", "ReportTable", "build_report"]

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


_DWELL_COLUMNS = (
    "group",
    "kind",
    "state",
    "stays",
    "median_seconds",
    "p90_seconds",
    "total_seconds",
    "share",
)


def _dwell_table(dwell: DwellReport) -> ReportTable:
    rows = tuple(
        (
            _NO_GROUP if each.group is None else each.group,
            each.kind,
            each.state,
            each.dwell.count,
            each.dwell.median_seconds,
            each.dwell.p90_seconds,
            each.total_seconds,
            each.share,
        )
        for each in dwell.states
    )
    return ReportTable("dwell", _DWELL_COLUMNS, rows)


_BOTTLENECKS_PER_GROUP = 10


def _waits_table(dwell: DwellReport) -> ReportTable:
    """The waits before each transition, longest total first within each group: where the
    process loses time (at most ten per group)."""
    ranked = sorted(
        dwell.transitions,
        key=lambda t: (t.group is None, t.group or "", -t.total_seconds, t.kind, t.state),
    )
    rows: list[tuple[Cell, ...]] = []
    rank, group = 0, object()
    for wait in ranked:
        rank = rank + 1 if wait.group == group else 1
        group = wait.group
        if rank <= _BOTTLENECKS_PER_GROUP:
            rows.append(
                (
                    rank,
                    _NO_GROUP if wait.group is None else wait.group,
                    wait.kind,
                    wait.state,
                    wait.trigger,
                    wait.dwell.count,
                    wait.dwell.median_seconds,
                    wait.dwell.p90_seconds,
                    wait.total_seconds,
                    wait.share,
                )
            )
    columns = ("rank", "group", "kind", "state", "leaving_by", *_DWELL_COLUMNS[3:])
    return ReportTable("bottlenecks", columns, tuple(rows))


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
    from :func:`~aftersales.insights.dwell_times`; None when not computed) and the risk
    alerts given (:attr:`alerts`).

    Build it with :func:`build_report`; export it with :meth:`to_json`, :meth:`to_csv`,
    :meth:`to_parquet` and :meth:`to_html`.
    """

    tickets: TicketReport
    trend: tuple[TicketMetrics, ...] = ()
    alerts: tuple[Alert, ...] = ()
    dwell: DwellReport | None = None

    @property
    def query(self) -> ReportQuery:
        """The query the report answers."""
        return self.tickets.query

    @property
    def tables(self) -> dict[str, ReportTable]:
        """The report's tables by name, in the order the exports write them (``change``
        only when the query compares with the previous period, ``dwell`` and
        ``bottlenecks`` only with :attr:`dwell`)."""
        tables = [_ticket_table(self.tickets)]
        if self.query.compare_previous:
            tables.append(_change_table(self.tickets))
        tables += [
            _ageing_table(self.tickets),
            _trend_table(self.trend),
            _durations_table(self.tickets),
        ]
        if self.dwell is not None:
            tables += [_dwell_table(self.dwell), _waits_table(self.dwell)]
        tables.append(_alert_table(self.alerts))
        return {table.name: table for table in tables}

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
        page = _render_html(self, title or _default_title(self.query))
        path = Path(target)
        path.write_text(page, encoding="utf-8")
        return path


def _write_csv(table: ReportTable, file: IO[str]) -> None:
    writer = csv.writer(file, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(["" if cell is None else cell for cell in row] for row in table.rows)


def _slices(query: ReportQuery, points: int) -> list[ReportQuery]:
    """The period cut into ``points`` slices of equal length (whole days when the period
    is whole days and at least as long), each an ungrouped query with the same filters."""
    length = query.length
    whole_days = length.seconds == 0 and length.microseconds == 0
    if whole_days and length.days >= points:
        step = timedelta(days=math.ceil(length.days / points))
        count = math.ceil(length / step)
    else:
        step, count = length / points, points
    slices = []
    for index in range(count):
        start = query.created_from + step * index
        end = min(start + step, query.created_to)
        slices.append(
            query.model_copy(
                update={
                    "created_from": start,
                    "created_to": end,
                    "as_of": end,
                    "group_by": "none",
                    "compare_previous": False,
                }
            )
        )
    return slices


def build_report(
    store: Store,
    query: ReportQuery,
    *,
    alerts: Iterable[Alert] = (),
    trend_points: int = 12,
    dwell: bool = False,
) -> Report:
    """The report of ``query`` over ``store``: its ticket KPIs, the period cut into
    ``trend_points`` slices (whole days when the period is whole days; 0 for no trend,
    at most 60) with each slice's volume, resolutions and the backlog at its end, and
    ``alerts`` (e.g. from :func:`~aftersales.insights.detect_many`), most severe first.

    With ``dwell`` it also holds the time tickets and cases of the period spent in each
    workflow state (:func:`~aftersales.insights.dwell_times`, per team when grouped by
    team), except when the query filters by channel, category or priority (dwell times
    cannot) or the store is not a MemoryStore, SQLiteStore or SQLAlchemyStore; otherwise
    :attr:`Report.dwell` is None. It is off by default: on SQLite it costs far more than
    the rest of the report (measured: 0.3 s for 600 tickets, 61 s for 10,000).

    Bad input raises :class:`~aftersales.InvalidInput`.
    """
    if isinstance(trend_points, bool) or not isinstance(trend_points, int):
        raise _report_error("trend_points", "must be an int")
    if not 0 <= trend_points <= _MAX_TREND_POINTS:
        raise _report_error("trend_points", f"must be from 0 to {_MAX_TREND_POINTS}")
    given = tuple(alerts)
    for index, alert in enumerate(given):
        if not isinstance(alert, Alert):
            raise InvalidInput("report", [FieldError(("alerts", index), "must be an Alert")])
    tickets = ticket_metrics(store, query)
    trend = (
        tuple(ticket_metrics(store, part).total.current for part in _slices(query, trend_points))
        if trend_points
        else ()
    )
    severity_rank = {"critical": 0, "high": 1, "warning": 2}
    ordered = sorted(
        given,
        key=lambda a: (severity_rank[a.severity.value], a.window_end, a.key, a.kind, a.method),
    )
    return Report(tickets, trend, tuple(ordered), _dwell(store, query) if dwell else None)


def _dwell(store: Store, query: ReportQuery) -> DwellReport | None:
    """The dwell times of the query's subjects, when the store can count them and the
    query filters only what dwell times can (the period and teams)."""
    if any(getattr(query, column) is not None for column in ("channel", "category", "priority")):
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


# ---------------------------------------------------------------------------------------
# HTML


def _default_title(query: ReportQuery) -> str:
    last = query.created_to
    return f"Service report {query.created_from:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"


def _duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _rate_text(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.1%}"


_HEADERS = dict(zip(AGEING_COLUMNS, AGEING_BUCKETS, strict=True))


def _header(column: str) -> str:
    return _HEADERS.get(column) or column.removesuffix("_seconds").replace("_", " ")


def _cell_text(column: str, value: Cell) -> str:
    if value is None:
        return "–"
    if isinstance(value, str) and len(value) == 25 and value.endswith("+00:00"):
        return value[:16].replace("T", " ")  # an instant: UTC, to the minute
    if column.endswith("_seconds") and isinstance(value, (int, float)):
        return _duration_text(value)
    if (column.endswith("_rate") or column == "share") and isinstance(value, float):
        return _rate_text(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _html_table(table: ReportTable, columns: Sequence[str] | None = None) -> str:
    shown = list(columns or table.columns)
    positions = [table.columns.index(column) for column in shown]
    head = "".join(f"<th>{html.escape(_header(column))}</th>" for column in shown)
    if not table.rows:
        return f'<p class="empty">No rows in {html.escape(table.name)}.</p>'
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(_cell_text(shown[i], row[p]))}</td>" for i, p in enumerate(positions)
        )
        + "</tr>"
        for row in table.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _matplotlib() -> Any:
    try:
        return importlib.import_module("matplotlib.figure")
    except ImportError:
        raise _report_error(
            "format", 'the HTML report needs matplotlib: pip install "aftersales[reports]"'
        ) from None


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/png;base64,{encoded}"


def _current(table: ReportTable) -> ReportTable:
    """The rows of the queried period only (the previous period's are in the exports)."""
    period = table.columns.index("period")
    return attrs.evolve(table, rows=tuple(row for row in table.rows if row[period] == "current"))


def _chart(module: Any, alt: str, draw: Any, height: float = 3.0) -> str:
    figure = module.Figure(figsize=(7.5, height), layout="constrained")
    axes = figure.add_subplot()
    draw(axes)
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    return f'<figure><img class="chart" alt="{html.escape(alt)}" src="{_png(figure)}"></figure>'


def _slice_labels(trend: Sequence[TicketMetrics]) -> list[str]:
    return [f"{point.period_from:%m-%d}" for point in trend]


def _section(heading: str, *parts: str) -> str:
    return f"<section><h2>{html.escape(heading)}</h2>{''.join(parts)}</section>"


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;
max-width:60rem;padding:0 1rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.2rem .45rem;text-align:right;white-space:nowrap}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
figure{margin:.5rem 0}img.chart{max-width:100%;height:auto}
.note,.empty{color:#666;font-size:.9rem}
"""


_CHARTED_STATES = 12


def _dwell_section(plot: Any, report: Report, tables: dict[str, ReportTable]) -> str:
    dwell = report.dwell
    if dwell is None:
        return _section(
            "Dwell times",
            '<p class="note">Not computed: dwell times are counted when asked '
            "(<code>build_report(..., dwell=True)</code>, <code>aftersales report "
            "--dwell</code>), on MemoryStore, SQLiteStore and SQLAlchemyStore, for "
            "queries filtered by period and team only.</p>",
        )
    totals: dict[tuple[str, str], float] = {}
    for each in dwell.states:
        key = (each.kind, each.state)
        totals[key] = totals.get(key, 0.0) + each.total_seconds
    top = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:_CHARTED_STATES]
    parts = []
    if top:
        rows = list(range(len(top)))

        def states(axes: Any) -> None:
            axes.barh(rows, [seconds / 86400 for _, seconds in top], color="#b279a2")
            axes.set_yticks(rows, [f"{kind}: {state}" for (kind, state), _ in top], fontsize=8)
            axes.set_ylim(len(top) - 0.5, -0.5)
            axes.set_xlabel("days spent in the state, all stays together")
            axes.set_title("Where the time goes: total time in each workflow state")

        parts.append(
            _chart(plot, "Total time in each workflow state", states, 1.5 + 0.3 * len(top))
        )
    parts.append("<h3>Longest waits before a transition</h3>")
    parts.append(
        _html_table(
            tables["bottlenecks"],
            (
                "rank",
                "group",
                "kind",
                "state",
                "leaving_by",
                "stays",
                "median_seconds",
                "p90_seconds",
                "share",
            ),
        )
    )
    return _section("Dwell times and bottlenecks", *parts)


def _render_html(report: Report, title: str) -> str:
    plot = _matplotlib()
    tables = report.tables
    total = report.tickets.total.current
    query = report.query
    sections = []

    summary = (
        f"<p>{total.created} tickets created, {total.resolved} resolved "
        f"(reopen rate {_rate_text(total.reopen_rate)}, first-contact resolution "
        f"{_rate_text(total.first_contact_resolution_rate)}), {total.backlog.open} open at "
        f"{total.backlog.as_of:%Y-%m-%d %H:%M} UTC.</p>"
    )
    key_columns = ("group", *KEY_FIGURES)
    sections.append(
        _section("Key figures", summary, _html_table(_current(tables["tickets"]), key_columns))
    )

    trend = report.trend
    if trend:
        labels = _slice_labels(trend)
        positions = list(range(len(trend)))

        def volume(axes: Any) -> None:
            axes.bar(positions, [p.created for p in trend], color="#4c78a8", label="created")
            axes.plot(
                positions,
                [p.resolved for p in trend],
                color="#f58518",
                marker="o",
                label="of them resolved",
            )
            axes.set_xticks(positions, labels, fontsize=8)
            axes.set_ylabel("tickets")
            axes.set_title("Tickets created per slice")
            axes.legend(frameon=False, fontsize=8)

        def backlog(axes: Any) -> None:
            axes.plot(positions, [p.backlog.open for p in trend], color="#e45756", marker="o")
            axes.set_xticks(positions, labels, fontsize=8)
            axes.set_ylim(bottom=0)
            axes.set_ylabel("open tickets")
            axes.set_title("Backlog at the end of each slice")

        def resolution_trend(axes: Any) -> None:
            hours = [
                None if p.resolution.median_seconds is None else p.resolution.median_seconds / 3600
                for p in trend
            ]
            axes.plot(
                positions,
                [math.nan if h is None else h for h in hours],
                color="#54a24b",
                marker="o",
            )
            axes.set_xticks(positions, labels, fontsize=8)
            axes.set_ylim(bottom=0)
            axes.set_ylabel("hours")
            axes.set_title("Median resolution time of the tickets created in each slice")

        sections.append(
            _section(
                "Volume",
                _chart(plot, "Tickets created and resolved per slice", volume),
                _html_table(tables["trend"], ("slice_from", "created", "resolved")),
            )
        )
        backlog_chart = _chart(plot, "Backlog over the period", backlog)
    else:
        backlog_chart = ""

    if query.group_by != "none" and report.tickets.rows:
        groups = [_group_name(row) for row in report.tickets.rows]

        def by_group(axes: Any) -> None:
            axes.barh(groups, [row.current.created for row in report.tickets.rows], color="#4c78a8")
            axes.invert_yaxis()
            axes.set_xlabel("tickets created")
            axes.set_title(f"Volume by {query.group_by}")

        sections.append(
            _section(f"Volume by {query.group_by}", _chart(plot, "Volume by group", by_group))
        )

    def ageing(axes: Any) -> None:
        axes.bar(list(AGEING_BUCKETS), list(total.backlog.ageing), color="#e45756")
        axes.set_ylabel("open tickets")
        axes.tick_params(axis="x", labelsize=8)
        axes.set_title(f"Backlog by age at {total.backlog.as_of:%Y-%m-%d %H:%M} UTC")

    sections.append(
        _section(
            "Backlog and ageing",
            backlog_chart,
            _chart(plot, "Backlog by age", ageing),
            _html_table(tables["ageing"], ("group", "open", *AGEING_COLUMNS)),
        )
    )

    histograms = [
        (name, stats)
        for name, stats in (
            ("first response", total.first_response),
            ("resolution", total.resolution),
        )
        if stats.count
    ]
    resolution_parts = []
    if histograms:

        def durations(axes: Any) -> None:
            for (name, stats), colour in zip(histograms, ("#72b7b2", "#54a24b"), strict=False):
                edges = [bucket_floor(b) / 3600 for b, _ in stats.histogram]
                widths = [
                    (bucket_floor(b + 1) - bucket_floor(b)) / 3600 for b, _ in stats.histogram
                ]
                axes.bar(
                    [max(e, 1 / 3600) for e in edges],
                    [n for _, n in stats.histogram],
                    width=widths,
                    align="edge",
                    alpha=0.7,
                    color=colour,
                    label=f"{name} (median {_duration_text(stats.median_seconds)})",
                )
            axes.set_xscale("log")
            axes.set_xlabel("hours from creation (log scale)")
            axes.set_ylabel("tickets")
            axes.set_title("Time to first response and to resolution")
            axes.legend(frameon=False, fontsize=8)

        resolution_parts.append(_chart(plot, "Time to first response and resolution", durations))
    if trend:
        resolution_parts.append(_chart(plot, "Median resolution time per slice", resolution_trend))
    resolution_parts.append(
        _html_table(
            _current(tables["tickets"]),
            (
                "group",
                "first_responses",
                "first_response_median_seconds",
                "first_response_p90_seconds",
                "resolved",
                "resolution_median_seconds",
                "resolution_p90_seconds",
            ),
        )
    )
    sections.append(_section("Resolution times", *resolution_parts))

    if "change" in tables:
        sections.append(_section("Change from the previous period", _html_table(tables["change"])))

    alerts = report.alerts
    alert_parts = []
    if alerts:
        shown = alerts[:_CHARTED_ALERTS]
        rows = list(range(len(shown)))

        def ratios(axes: Any) -> None:
            axes.barh(
                rows, [a.observed for a in shown], color="#e45756", height=0.6, label="observed"
            )
            axes.barh(
                rows, [a.expected for a in shown], color="#bab0ac", height=0.3, label="expected"
            )
            axes.set_yticks(
                rows,
                [f"{a.key} {a.kind} to {a.window_end:%Y-%m-%d}" for a in shown],
                fontsize=8,
            )
            axes.set_ylim(len(shown) - 0.5, -0.5)  # the first on top, bars of one height
            axes.set_xlabel("count in the alert's window")
            axes.set_title("Alerts: observed against expected (most severe first)")
            axes.legend(frameon=False, fontsize=8, loc="lower right")

        height = 1.5 + 0.3 * len(shown)
        alert_parts.append(_chart(plot, "Alerts: observed against expected", ratios, height))
    alert_parts.append(
        _html_table(
            tables["alerts"],
            (
                "key",
                "kind",
                "window_start",
                "window_end",
                "severity",
                "observed",
                "expected",
                "evidence",
            ),
        )
    )
    sections.append(_section("Risk alerts", *alert_parts))
    sections.append(_dwell_section(plot, report, tables))
    sections.append(
        _section(
            "Not in this report",
            '<p class="note">SLA compliance (see <code>Desk.sla_report</code>) and '
            "satisfaction surveys are not part of this report yet.</p>",
        )
    )

    filters = ", ".join(
        f"{name} = {', '.join(str(getattr(v, 'value', v)) for v in values)}"
        for name in ("channel", "category", "priority", "team")
        if (values := getattr(query, name)) is not None
    )
    described = (
        f'<p class="note">Tickets created from {query.created_from.isoformat()} to '
        f"{query.created_to.isoformat()} (UTC)"
        + (f", {html.escape(filters)}" if filters else "")
        + (f", grouped by {query.group_by}" if query.group_by != "none" else "")
        + ". Durations are calendar time.</p>"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{described}{''.join(sections)}</body></html>\n"
    )
