"""``aftersales demo``: a week at a service desk on a SQLite file."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aftersales.cli._common import error as _error
from aftersales.clock import FrozenClock
from aftersales.demo import SHOP_TIME, local_time, run_demo
from aftersales.desk import Desk
from aftersales.exceptions import AftersalesError
from aftersales.storage import SQLiteStore

__all__ = ["add_demo_command"]


def add_demo_command(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""

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
