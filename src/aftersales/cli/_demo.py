"""``aftersales demo``: five days at a service desk on a SQLite file, in four short sections."""

from __future__ import annotations

import io
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from aftersales.cli._common import error as _error
from aftersales.clock import FrozenClock
from aftersales.demo import (
    CUSTOMERS,
    SHOP_TIME,
    DemoResult,
    SlaStory,
    demo_desk,
    local_time,
    run_demo,
    story_start,
)
from aftersales.exceptions import AftersalesError
from aftersales.storage import SQLiteStore

__all__ = ["add_demo_command", "render"]


def add_demo_command(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""

    @app.command()
    def demo(
        db: Annotated[
            Path, typer.Option(help="SQLite file to run on (created if missing).", metavar="PATH")
        ] = Path("aftersales-demo.db"),
        timeline: Annotated[
            bool, typer.Option("--timeline", help="Also print every event the run recorded.")
        ] = False,
    ) -> None:
        """Show what the library does, on a SQLite file: two inquiries classified and
        routed, an SLA on business hours with a warning and a breach, a return decided by
        China's 7-day rule (explained in English and Chinese) and refunded, surveys and
        the week's key figures.

        The clock is simulated (days pass in a moment) and shows the shop's time,
        UTC+08:00. Run it again on the same file to play another week: ticket numbers
        continue where the last run stopped. With --db :memory: the run is kept in
        memory only, and gone when the command ends.
        """
        _tolerate_unencodable(sys.stdout)
        try:
            store = SQLiteStore(db)
            _, opening = story_start(store)
            clock = FrozenClock(opening)
            with demo_desk(store, clock) as desk:
                result = run_demo(desk, clock.advance)
        except AftersalesError as error:
            _error(str(error))
            raise typer.Exit(1) from None
        render(Console(), result, db, timeline=timeline)


_IN_MEMORY = ":memory:"
"""SQLite's name for a database kept in memory: a run on it is one round, never kept (a
try that leaves no file behind is worth keeping, so it is not refused; the demo only
stops promising a next week)."""


def _tolerate_unencodable(stream: object) -> None:
    """Let ``stream`` print what its encoding cannot (Chinese on a cp1252 pipe, say) as
    ``?`` rather than fail half-way through the demo, whose round is stored by then."""
    if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
        stream.reconfigure(errors="replace")


def _when(at: datetime) -> str:
    """``at`` on the shop's clock, short: ``Mon 03-09 10:20 +08:00``."""
    local = at.astimezone(SHOP_TIME)
    return f"{local:%a %m-%d %H:%M} +08:00"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def _numbering(result: DemoResult, db: Path) -> str:
    """Why this run's ticket numbers are what they are."""
    numbers = result.numbering
    this_run = f"this run's tickets are #{numbers.first}-#{numbers.last}"
    if str(db) == _IN_MEMORY:
        told = f"{db} is a database in memory, not kept after this run: {this_run}."
    elif numbers.tickets_before == 0:
        told = f"{db} is new: {this_run}."
    else:
        held = "1 ticket" if numbers.tickets_before == 1 else f"{numbers.tickets_before} tickets"
        told = f"{db} already holds {held}, so {this_run}"
        if numbers.round > 1:
            told += f" (round {numbers.round}: the week after the last run's)"
        told += "."
    if numbers.first != numbers.expected_first:
        told += (
            f" Numbers #{numbers.expected_first}-#{numbers.first - 1} were reserved by an "
            "earlier desk and never used: a desk reserves 20 at a time by default "
            "(DeskSettings.number_block_size); the demo reserves one at a time."
        )
    return told


def render(console: Console, result: DemoResult, db: Path, *, timeline: bool = False) -> None:
    """Print ``result`` as the demo's four sections."""
    console.print(
        Text("aftersales demo: five days at a shop's service desk", style="bold"),
        f"Simulated clock, from {local_time(result.started)} (the shop's time).",
        _numbering(result, db),
        sep="\n",
    )
    names = {customer.id: customer.name for customer in CUSTOMERS}
    routed = []
    for row in result.routed:
        routed += [
            f"{row.ticket}  {_when(row.at)}  {row.channel.value}, {names[row.customer]}: "
            f"“{row.text}”",
            f"    → {row.category} (confidence {row.confidence:.0%}, evidence "
            f"{' '.join(row.evidence)}) → {row.agent}, team {row.team}, "
            f"by rule “{row.rule}” ({row.reason})",
        ]
    _section(
        console,
        "1. Inquiries classified and routed",
        routed,
        "The classifier reads Chinese and English; routing rules are data (teams, skills, "
        "load), so each ticket reaches the right person without a dispatcher.",
    )

    sla = []
    for story in result.sla:
        sla.append(
            f"{story.ticket}  rule “{story.rule}”: first response within "
            f"{story.target_minutes} business minutes, due {_when(story.due_at)}"
        )
        happened = []
        if story.warned_at is not None:
            happened.append(f"warning {_when(story.warned_at)}")
        if story.breached_at is not None:
            escalated = f", escalated to {story.escalated_to}" if story.escalated_to else ""
            happened.append(f"BREACH {_when(story.breached_at)}{escalated}")
        if story.met_at is not None:
            late = "late" if story.breached_at is not None else "in time"
            happened.append(f"answered {_when(story.met_at)} ({late})")
        sla.append("    " + "; ".join(happened))
    _section(
        console,
        "2. The SLA on business hours",
        sla or ["This desk has no SLA policy."],
        "Business hours: Mon-Fri 09:00-12:00 and 13:30-18:00, Shanghai. " + _sla_why(result),
    )

    policy = result.policy
    _section(
        console,
        "3. A return under China's 7-day no-reason rule, then its refund",
        [
            f"{policy.ticket}  return {policy.outcome.upper()} ({policy.policy})",
            f"    EN  {policy.explain_en}",
            f"    中文 {policy.explain_zh}",
            f"    return shipping paid by the {policy.return_shipping_paid_by}; refund "
            f"{policy.refund_amount} due by {policy.refund_due_by}: {policy.refund_status} "
            f"({policy.refund_reference})",
            f"The same claim a day after the window: {policy.late_outcome.upper()}",
            f"    EN  {policy.late_explain_en}",
            f"    中文 {policy.late_explain_zh}",
        ],
        "Legal presets (China, EU, UK, California) decide from the facts alone, count "
        "the dates and give their reasons in English and Chinese.",
    )

    kpis = result.kpis
    lines = [
        f"{story.ticket}  {story.survey.upper()} survey ({story.language}) "
        f"“{story.question}”: {story.score} of {story.scale}"
        for story in result.surveys
    ]
    csat = None if kpis.csat is None else kpis.csat / 100
    mean = None if kpis.survey_mean is None else round(kpis.survey_mean, 2)
    lines += [
        f"Tickets {kpis.created}, resolved {kpis.resolved}; median first response "
        f"{_duration(kpis.first_response_median_seconds)}, median resolution "
        f"{_duration(kpis.resolution_median_seconds)}",
        f"First-response SLA {_percent(kpis.first_response_compliance)} "
        f"({kpis.first_response_met} met, {kpis.first_response_breached} breached); "
        f"CSAT {_percent(csat)} ({kpis.survey_answers} answers, mean {mean})",
    ]
    _section(
        console,
        "4. Surveys after resolution, and the week's key figures",
        lines,
        "Surveys go out through the outbox with a signed one-time link; the figures come "
        "from aftersales.insights.build_report over the store.",
    )

    if timeline:
        events = Table(title="Every event of this run")
        for column in ("time", "ticket", "what", "detail"):
            events.add_column(column)
        for entry in result.timeline:
            events.add_row(local_time(entry.at), entry.ticket, entry.what, entry.detail)
        console.print(events)
    if str(db) == _IN_MEMORY:
        console.print(
            f"The run was in memory ({db}) and is gone now; give --db a file to play week "
            "after week, add --timeline to list every event."
        )
    else:
        console.print(
            f"{db} now holds {result.total_tickets} tickets; run again to play the next "
            "week, add --timeline to list every event."
        )


def _sla_why(result: DemoResult) -> str:
    """What section 2 shows, in a sentence: when the late ticket came in and why its
    warning and breach came when they did."""
    if not result.sla:
        return "Without an SLA policy the desk measures no first response."
    late = [story for story in result.sla if story.breached_at is not None]
    if not late:
        return "Every first response came in time."
    story = late[0]
    opened = next(row.at for row in result.routed if row.ticket == story.ticket)
    alerts = "warned and breached" if story.warned_at is not None else "breached"
    return (
        f"{story.ticket} came in {_when(opened)}; its {story.target_minutes} minutes count "
        f"only while the shop is open{_closed_days(opened, story)}, so run_due {alerts} it "
        f"on {_day(story.due_at)}."
    )


def _closed_days(opened: datetime, story: SlaStory) -> str:
    start, end = opened.astimezone(SHOP_TIME).date(), story.due_at.astimezone(SHOP_TIME).date()
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    return ", not over the weekend" if any(day.weekday() >= 5 for day in days) else ""


def _day(at: datetime) -> str:
    local = at.astimezone(SHOP_TIME)
    part = "morning" if local.hour < 12 else "afternoon"
    return f"{local:%A} {part}"


def _section(console: Console, title: str, lines: list[str], why: str) -> None:
    # continuation lines keep their indent when the terminal wraps them
    rows = [
        Padding(Text(line.strip()), (0, 0, 0, 4)) if line.startswith("    ") else Text(line)
        for line in lines
    ]
    body = Group(*rows, Text(why, style="dim"))
    console.print(Panel(body, title=title, title_align="left"))
