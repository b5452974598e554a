"""The ``aftersales`` command (extra ``aftersales[cli]``).

Results go to standard output, errors to standard error; ``-h``/``--help`` on every
command, ``--version`` on the top level. Exit codes: 0 done, 1 the library refused or
failed (the message says why), 2 a usage error.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

try:
    import typer
    from rich.console import Console
    from rich.table import Table
except ImportError:  # pragma: no cover - exercised only without the extra
    typer = None  # type: ignore[assignment]

from aftersales import __version__
from aftersales.cases import KINDS
from aftersales.clock import FrozenClock
from aftersales.demo import SHOP_TIME, local_time, run_demo
from aftersales.desk import Desk
from aftersales.exceptions import AftersalesError, FieldError, InvalidInput
from aftersales.policies import PolicySet
from aftersales.storage import SQLiteStore, Store
from aftersales.workflows import SHIPPED, to_mermaid

if TYPE_CHECKING:
    from aftersales.insights import Report

__all__ = ["main"]

_WORKFLOWS = {**SHIPPED, **{spec.workflow.name: spec.workflow for spec in KINDS}}
"""The ticket's workflow and every shipped case kind's, on-site visits included."""


def _missing_extra() -> int:  # pragma: no cover - exercised only without the extra
    sys.stderr.write('the aftersales command needs the cli extra: pip install "aftersales[cli]"\n')
    return 1


def _error(message: str) -> None:
    typer.echo(typer.style("error:", fg=typer.colors.RED) + f" {message}", err=True)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"aftersales {__version__}")
        raise typer.Exit()


def _report_instant(text: str, option: str, *, end: bool) -> datetime:
    """A day (``end``: the day after it, so the day is included) or an instant, in UTC
    unless it names its offset."""
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
            return day + timedelta(days=1) if end else day
        # Python 3.10 reads no "Z" suffix
        instant = datetime.fromisoformat(
            text.removesuffix("Z") + ("+00:00" if text.endswith("Z") else "")
        )
    except ValueError:
        raise InvalidInput(
            "report", [FieldError((option,), f"{text!r} is not YYYY-MM-DD or ISO 8601")]
        ) from None
    return instant if instant.tzinfo else instant.replace(tzinfo=timezone.utc)


def _report_period(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    """The period the report's options name: default the 30 days up to today (UTC)."""
    if end is None:
        stop = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    else:
        stop = _report_instant(end, "--to", end=True)
    first = (
        stop - timedelta(days=30) if start is None else _report_instant(start, "--from", end=False)
    )
    return first, stop


_DB_HELP = (
    "The store: a SQLite file (a path or sqlite:///path), or a "
    "postgresql:// or mysql+pymysql:// URL (the sql extra)."
)


def _open_store(url: str, command: str = "report") -> Store:
    """The store at ``url``: a SQLite file (a path or ``sqlite:///path``, which must
    exist; ``command`` names the refusal when it does not) or any other SQLAlchemy URL."""
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    if "://" not in path:
        if not Path(path).is_file():
            raise InvalidInput(command, [FieldError(("--db",), f"no SQLite file {path}")])
        return SQLiteStore(path)
    try:
        from aftersales.storage.sqlalchemy import SQLAlchemyStore
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise InvalidInput(
            "report", [FieldError(("--db",), 'needs the sql extra: pip install "aftersales[sql]"')]
        ) from None
    return SQLAlchemyStore(url)


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


def _build_app() -> typer.Typer:
    app = typer.Typer(
        no_args_is_help=True,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        # Click's plain help: options without type tags such as <bool>, and nothing
        # drawn in boxes, so the help reads the same in a terminal, a pipe and a log.
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def root(
        version: Annotated[
            bool,
            typer.Option(
                "--version",
                callback=_show_version,
                is_eager=True,
                help="Print the version of aftersales and exit.",
            ),
        ] = False,
    ) -> None:
        """After-sales customer service: tickets, workflows, storage, hooks."""

    @app.command()
    def demo(
        db: Annotated[
            Path, typer.Option(help="SQLite file to run on (created if missing).", metavar="PATH")
        ] = Path("aftersales-demo.db"),
    ) -> None:
        """Run a week at a service desk on a SQLite file and print what happened.

        The clock is simulated (days pass in a moment) and shows the shop's time, UTC+08:00.
        Run it again on the same file to add another round of tickets.
        """
        console = Console()
        opening = datetime.now(SHOP_TIME).replace(hour=9, minute=15, second=0, microsecond=0)
        clock = FrozenClock(opening)  # the story starts at 09:15 today, the shop's time

        def advance(delta: timedelta) -> datetime:
            return clock.advance(delta)

        try:
            with Desk(SQLiteStore(db), clock=clock) as desk:
                result = run_demo(desk, advance)
        except AftersalesError as error:
            _error(str(error))
            raise typer.Exit(1) from None

        timeline = Table(title=f"Timeline (simulated clock) — {db}")
        for column in ("time", "ticket", "what", "detail"):
            timeline.add_column(column)
        for entry in result.timeline:
            style = "red" if entry.what == "refused" else None
            timeline.add_row(
                local_time(entry.at),
                entry.ticket,
                entry.what,
                entry.detail,
                style=style,
            )
        console.print(timeline)

        if result.cases:
            cases = Table(title="After-sales cases this run")
            for column in ("ticket", "case", "status", "detail"):
                cases.add_column(column)
            for row in result.cases:
                cases.add_row(*row)
            console.print(cases)

        summary = Table(title="Tickets this run")
        for column in (
            "ticket",
            "channel",
            "category",
            "status",
            "esc.",
            "reopens",
            "CSAT",
            "links",
        ):
            summary.add_column(column)
        by_id = {ticket.id: ticket.display_number for ticket in result.tickets}
        for ticket in result.tickets:
            links = []
            if ticket.merged_into:
                links.append(f"merged into {by_id.get(ticket.merged_into, ticket.merged_into)}")
            if ticket.follow_up_of:
                links.append(f"follow-up of {by_id.get(ticket.follow_up_of, ticket.follow_up_of)}")
            summary.add_row(
                ticket.display_number,
                ticket.channel.value,
                ticket.category or "-",
                ticket.status,
                str(ticket.escalation_level),
                str(ticket.reopen_count),
                str(ticket.satisfaction or "-"),
                ", ".join(links) or "-",
            )
        console.print(summary)
        console.print(f"Customer notifications sent on resolution: {result.notifications}")
        console.print(
            "王芳's history spans channels: "
            + ", ".join(channel.value for channel in result.wang_channels)
        )
        console.print(f"{db} now holds {result.total_tickets} tickets; run again to add more.")

    @app.command()
    def workflow(
        name: Annotated[
            str, typer.Argument(help=f"One of: {', '.join(sorted(_WORKFLOWS))}", metavar="NAME")
        ] = "ticket",
    ) -> None:
        """Print a shipped workflow as a mermaid state diagram."""
        if name not in _WORKFLOWS:
            _error(f"no shipped workflow {name!r}; one of: {', '.join(sorted(_WORKFLOWS))}")
            raise typer.Exit(2)
        typer.echo(to_mermaid(_WORKFLOWS[name]), nl=False)

    @app.command("policy-schema")
    def policy_schema() -> None:
        """Print the JSON Schema of a policy set, for editors and validators."""
        typer.echo(json.dumps(PolicySet.json_schema(), indent=2, ensure_ascii=False))

    @app.command()
    def report(
        db: Annotated[
            str,
            typer.Option(
                help=_DB_HELP,
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
            start, end = _report_period(period_from, period_to, datetime.now(timezone.utc))
            query = ReportQuery(
                created_from=start,
                created_to=end,
                group_by=group_by,  # type: ignore[arg-type]  # checked by the query
                compare_previous=compare,
                escalations=escalations,
            )
            store = _open_store(db)
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
                _print_report(Console(), result)
        except AftersalesError as error:
            _error(str(error))
            raise typer.Exit(1) from None

    from aftersales.routing._cli import build_classifier_app

    app.add_typer(build_classifier_app(), name="classifier")
    from aftersales._cli_worker import add_worker_command

    add_worker_command(app)
    return app


def main() -> int:
    """Entry point of the ``aftersales`` console script."""
    if typer is None:  # pragma: no cover
        return _missing_extra()
    _build_app()()
    return 0  # pragma: no cover - typer exits itself
