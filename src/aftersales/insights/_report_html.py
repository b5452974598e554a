"""The HTML page of a :class:`~aftersales.insights.report.Report`: one self-contained file,
charts drawn with matplotlib and inlined as PNG, tables, no script and nothing fetched."""

from __future__ import annotations

import base64
import html
import importlib
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from aftersales.insights._ticket_memory import bucket_floor
from aftersales.insights.metrics import AGEING_BUCKETS, ReportQuery, TicketMetrics
from aftersales.insights.report import (
    _CHARTED_ALERTS,
    AGEING_COLUMNS,
    KEY_FIGURES,
    Cell,
    Report,
    ReportTable,
    _group_name,
    _report_error,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["default_title", "render_html"]


def default_title(query: ReportQuery) -> str:
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
_SHARES = ("share", "compliance", "csat")
"""Columns of fractions shown as percentages, besides the ``*_rate`` ones."""


def _header(column: str) -> str:
    return _HEADERS.get(column) or column.removesuffix("_seconds").replace("_", " ")


def _cell_text(column: str, value: Cell) -> str:
    if value is None:
        return "–"
    if isinstance(value, str) and len(value) == 25 and value.endswith("+00:00"):
        return value[:16].replace("T", " ")  # an instant: UTC, to the minute
    if column.endswith("_seconds") and isinstance(value, (int, float)):
        return _duration_text(value)
    if (column.endswith("_rate") or column in _SHARES) and isinstance(value, float):
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


def render_html(report: Report, title: str) -> str:
    # the sections of the figure families use this module's helpers
    from aftersales.insights._report_charts import (
        escalation_section,
        family_sections,
        satisfaction_section,
        sla_section,
    )

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
    sections.append(sla_section(plot, report, tables))
    sections.append(satisfaction_section(plot, report, tables))
    if "escalations" in tables:
        sections.append(escalation_section(plot, report, tables))

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
    sections += family_sections(report, tables)

    filters = ", ".join(
        f"{name} = {', '.join(str(getattr(v, 'value', v)) for v in values)}"
        for name in ("channel", "category", "priority", "team", "product", "tier")
        if (values := getattr(query, name)) is not None
    )
    described = (
        f'<p class="note">Tickets created from {query.created_from.isoformat()} to '
        f"{query.created_to.isoformat()} (UTC)"
        + (f", {html.escape(filters)}" if filters else "")
        + (f", grouped by {query.group_by}" if query.group_by != "none" else "")
        + ". Durations are calendar time, except the SLA's business hours.</p>"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{described}{''.join(sections)}</body></html>\n"
    )
