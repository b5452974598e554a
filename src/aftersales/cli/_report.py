"""``aftersales report``: a period's ticket KPIs as tables, JSON, CSV or HTML."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from aftersales.cli._common import DB_HELP, TenantOption, open_store, report_period
from aftersales.cli._common import error as _error
from aftersales.exceptions import AftersalesError

if TYPE_CHECKING:
    from aftersales.insights import Report

__all__ = ["add_report_command"]


def _print_report(console: Console, report: Report) -> None:
    """The report as Rich tables: key figures, change, backlog ageing, trend, and what
    was asked for (bottlenecks, SLA compliance, cases, workload, next responses)."""
    from aftersales.insights import AGEING_BUCKETS, AGEING_COLUMNS
    from aftersales.insights.report import KEY_FIGURES

    ageing_headers = dict(zip(AGEING_COLUMNS, AGEING_BUCKETS, strict=True))
    tables = report.tables
    compared = report.query.compare_previous
    shown_columns = {
        "tickets": ("group", *(("period",) if compared else ()), *KEY_FIGURES),
        "change": (
            "group",
            "created",
            "resolved",
            "reopen_rate",
            "first_contact_resolution_rate",
            "resolution_median_seconds",
            "backlog",
        ),
        "ageing": (
            "group",
            "open",
            "under_1_day",
            "1_3_days",
            "3_7_days",
            "7_30_days",
            "30_days_or_more",
        ),
        "trend": ("slice_from", "created", "resolved", "resolution_median_seconds", "backlog_open"),
        "bottlenecks": (
            "rank",
            "group",
            "kind",
            "state",
            "leaving_by",
            "stays",
            "median_seconds",
            "share",
        ),
        "alerts": ("key", "kind", "window_end", "severity", "observed", "expected"),
        "service_levels": (
            "group",
            "metric",
            "tickets",
            "met",
            "breached",
            "pending",
            "compliance",
            "business_median_seconds",
            "business_p90_seconds",
        ),
        "cases": (
            "group",
            "tickets",
            "returns",
            "return_rate",
            "refunds_paid",
            "late_refund_rate",
            "refund_lead_time_median_seconds",
            "repairs",
            "repeat_rate",
            "repair_turnaround_median_seconds",
            "complaints",
            "complaint_rate",
        ),
        "workload": (
            "group",
            "logged_seconds",
            "entries",
            "tickets",
            "cases",
            "handling_median_seconds",
            "open_assigned",
            "resolved",
        ),
        "next_responses": ("group", "answered", "median_seconds", "p90_seconds", "unanswered"),
        "surveys": ("group", "survey", "answers", "score", "mean", "promoters", "detractors"),
        "escalations": ("group", "level", "tickets", "reached"),
    }
    as_of = report.tickets.total.current.backlog.as_of
    titles = {
        "tickets": "Tickets (times in hours)",
        "change": "Change from the previous period",
        "ageing": f"Backlog by age at {as_of:%Y-%m-%d %H:%M} UTC",
        "trend": "Trend (tickets created per slice; backlog at its end)",
        "bottlenecks": "Longest waits before a transition (share of the kind's time)",
        "alerts": "Risk alerts (most severe first)",
        "service_levels": "SLA compliance (business hours)",
        "cases": "Returns, refunds, repairs, complaints (times in hours)",
        "workload": "Workload (hours logged; handling per ticket)",
        "next_responses": "Next response times (hours)",
        "surveys": "Surveys answered (score: CSAT %, NPS points, CES mean)",
        "escalations": "Tickets per escalation level (reached: at that level or above)",
    }
    for name, columns in shown_columns.items():
        if name not in tables or (name == "alerts" and not tables[name].rows):
            continue
        table = tables[name]
        positions = [table.columns.index(column) for column in columns]
        shown = Table(title=titles[name])
        for column in columns:
            left = column in _LEFT_COLUMNS
            short = (
                column.removesuffix("_seconds")
                .replace("first_contact_resolution", "FCR")
                .replace("_median", "")
            )
            header = ageing_headers.get(column) or short.replace("_", " ")
            shown.add_column(header, justify="left" if left else "right")
        for row in table.rows:
            shown.add_row(*(_report_cell(table.columns[p], row[p]) for p in positions))
        console.print(shown)


_LEFT_COLUMNS = (
    "group",
    "period",
    "slice_from",
    "kind",
    "state",
    "leaving_by",
    "key",
    "window_end",
    "severity",
    "metric",
    "survey",
)


def _report_cell(column: str, value: str | int | float | None) -> str:
    if value is None:
        return "-"
    if column == "slice_from" and isinstance(value, str):
        return value[:16].replace("T", " ")
    if isinstance(value, (int, float)) and column.endswith("_seconds"):
        return f"{value / 3600:.1f}"
    if isinstance(value, float) and (column.endswith("_rate") or column in _SHARES):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


_SHARES = ("share", "compliance")


def add_report_command(app: typer.Typer) -> None:
    """Add ``report`` to ``app``."""

    @app.command()
    def report(
        db: Annotated[
            str,
            typer.Option(
                help=DB_HELP,
                metavar="URL",
            ),
        ],
        period_from: Annotated[
            str | None,
            typer.Option(
                "--from",
                help="First day (YYYY-MM-DD) or instant (ISO 8601; UTC unless it says). "
                "Default: 30 days before --to.",
                metavar="DATE",
            ),
        ] = None,
        period_to: Annotated[
            str | None,
            typer.Option(
                "--to",
                help="Last day, included (YYYY-MM-DD), or the instant the period ends "
                "before (ISO 8601). Default: today, UTC.",
                metavar="DATE",
            ),
        ] = None,
        group_by: Annotated[
            str,
            typer.Option(
                help="none, channel, category, priority, team, product or tier.", metavar="X"
            ),
        ] = "none",
        compare: Annotated[
            bool, typer.Option("--compare", help="Also report the previous period.")
        ] = False,
        dwell: Annotated[
            bool,
            typer.Option(
                "--dwell",
                help="Also report the time spent in each workflow state and the longest "
                "waits (slow on large stores).",
            ),
        ] = False,
        sla: Annotated[
            bool,
            typer.Option(
                "--sla", help="Also report SLA compliance and business-hours times per group."
            ),
        ] = False,
        cases: Annotated[
            bool,
            typer.Option(
                "--cases",
                help="Also report returns, refunds, repairs and complaints (per SKU, or per "
                "channel when grouped by channel).",
            ),
        ] = False,
        workload: Annotated[
            bool,
            typer.Option(
                "--workload",
                help="Also report the agents' workload and the next response times (slow "
                "on large stores).",
            ),
        ] = False,
        surveys: Annotated[
            bool,
            typer.Option(
                "--surveys",
                help="Also report the CSAT, NPS and CES of the surveys answered in the period.",
            ),
        ] = False,
        escalations: Annotated[
            bool,
            typer.Option(
                "--escalations",
                help="Also count the period's tickets per escalation level reached.",
            ),
        ] = False,
        stored_alerts: Annotated[
            bool,
            typer.Option(
                "--alerts",
                help="Also report the risk alerts a RiskWatch recorded whose window ends "
                "in the period.",
            ),
        ] = False,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the report as JSON instead of tables.")
        ] = False,
        csv_dir: Annotated[
            Path | None,
            typer.Option("--csv", help="Write one CSV file per table into DIR.", metavar="DIR"),
        ] = None,
        html_file: Annotated[
            Path | None,
            typer.Option(
                "--html",
                help="Write a self-contained HTML page with charts (the reports extra).",
                metavar="FILE",
            ),
        ] = None,
        tenant: TenantOption = "",
    ) -> None:
        """Report the ticket KPIs of a period: tables by default, or JSON, CSV, HTML.

        Counted in the database (see aftersales.insights.build_report). Tickets created
        in the period count; the backlog is measured at its end. --sla, --cases,
        --workload, --surveys, --escalations, --dwell and --alerts add their figures to
        every output.
        """
        from aftersales.insights import ReportQuery, build_report

        if sum((as_json, csv_dir is not None, html_file is not None)) > 1:
            _error("give at most one of --json, --csv and --html")
            raise typer.Exit(2)
        try:
            start, end = report_period(period_from, period_to, datetime.now(timezone.utc))
            query = ReportQuery(
                created_from=start,
                created_to=end,
                group_by=group_by,  # type: ignore[arg-type]  # checked by the query
                compare_previous=compare,
                escalations=escalations,
            )
            store = open_store(db, tenant=tenant)
            try:
                result = build_report(
                    store,
                    query,
                    alerts="stored" if stored_alerts else (),
                    dwell=dwell,
                    sla=sla,
                    cases=cases,
                    workload=workload,
                    surveys=surveys,
                )
            finally:
                store.close()
            if as_json:
                typer.echo(result.to_json())
            elif csv_dir is not None:
                for path in result.to_csv(csv_dir):
                    typer.echo(str(path))
            elif html_file is not None:
                typer.echo(str(result.to_html(html_file)))
            else:
                _print_report(Console(markup=False), result)
        except AftersalesError as error:
            _error(str(error))
            raise typer.Exit(1) from None
