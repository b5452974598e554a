"""The ``aftersales`` command (extra ``aftersales[cli]``).

Results go to standard output, errors to standard error; ``-h``/``--help`` on every
command, ``--version`` on the top level. Exit codes: 0 done, 1 the library refused or
failed (the message says why), 2 a usage error.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

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
from aftersales.exceptions import AftersalesError
from aftersales.policies import PolicySet
from aftersales.storage import SQLiteStore
from aftersales.workflows import SHIPPED, to_mermaid

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

    from aftersales.routing._cli import build_classifier_app

    app.add_typer(build_classifier_app(), name="classifier")
    return app


def main() -> int:
    """Entry point of the ``aftersales`` console script."""
    if typer is None:  # pragma: no cover
        return _missing_extra()
    _build_app()()
    return 0  # pragma: no cover - typer exits itself
