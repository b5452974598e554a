"""``aftersales outbox`` and ``aftersales dead-letters``: the notifications a store holds
for the hooks, and giving dead-lettered ones another chance.

``dead-letters requeue KEY...`` (or ``--all``) moves dead rows back to pending with no
attempts made, due at once: the next dispatch (``aftersales worker``) delivers them.
Their ``last_error`` is kept until a new failure replaces it.

Exit codes: 0 shown or requeued; 1 the store cannot be opened, or a key given is not a
dead-lettered notification (then nothing is requeued); 2 a usage error (a ``--status``
outside its choices, ``requeue`` with neither keys nor ``--all``, or both).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from aftersales.cli._common import (
    DB_HELP,
    EXIT_USAGE,
    TenantOption,
    fail,
    open_desk,
    print_json_lines,
)
from aftersales.cli._tickets import DbOption, JsonOption, shown
from aftersales.exceptions import AftersalesError
from aftersales.notify import DeliveryStatus, Notification

__all__ = ["add_outbox_commands", "notification_record"]

ShowLimit = Annotated[
    int,
    typer.Option(min=1, max=1_000_000, help="Show at most N rows (oldest first).", metavar="N"),
]


def notification_record(notification: Notification) -> dict[str, Any]:
    """An outbox row as plain JSON data (the event by subject, sequence and trigger)."""
    event = notification.event

    def instant(value: Any) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "key": notification.key,
        "handler": notification.handler,
        "status": notification.status.value,
        "attempts": notification.attempts,
        "subject_id": event.subject_id,
        "subject_kind": event.subject_kind,
        "sequence": event.sequence,
        "trigger": event.trigger,
        "created_at": instant(notification.created_at),
        "next_attempt_at": instant(notification.next_attempt_at),
        "lease_until": instant(notification.lease_until),
        "delivered_at": instant(notification.delivered_at),
        "last_error": notification.last_error,
    }


def _show(rows: Sequence[Notification], as_json: bool, title: str, limit: int) -> None:
    """The first ``limit`` rows as JSON lines or a table whose caption counts every row
    read by status."""
    counts = Counter(row.status.value for row in rows)
    total = len(rows)
    rows = rows[:limit]
    if as_json:
        print_json_lines(notification_record(row) for row in rows)
        return
    table = Table(title=title)
    # a key is copied into `dead-letters requeue KEY`: whole, on one line
    longest = max((len(row.key) for row in rows), default=3)
    table.add_column("key", no_wrap=True, min_width=longest)
    for column in ("handler", "status", "attempts", "next attempt"):
        table.add_column(column, overflow="fold")
    table.add_column("last error", overflow="fold")
    for row in rows:
        table.add_row(
            row.key,
            row.handler,
            row.status.value,
            str(row.attempts),
            shown(row.next_attempt_at),
            shown(row.last_error),
        )
    caption = ", ".join(f"{status.value} {counts[status.value]}" for status in DeliveryStatus)
    if total > limit:
        caption += f"; the first {limit} of {total} shown (--limit)"
    table.caption = caption
    Console(highlight=False, markup=False).print(table)


def _add_outbox(app: typer.Typer) -> None:
    @app.command()
    def outbox(
        db: DbOption,
        status: Annotated[
            DeliveryStatus | None,
            typer.Option(
                help="Only the rows of this status: pending, delivered or dead.", metavar="STATUS"
            ),
        ] = None,
        as_json: JsonOption = False,
        limit: ShowLimit = 1000,
        tenant: TenantOption = "",
    ) -> None:
        """The outbox's rows, oldest first, with how many of each status."""
        with open_desk(db, "outbox", tenant=tenant) as desk:
            rows = desk.outbox(status)
        _show(rows, as_json, "outbox", limit)


def _add_dead_letters(app: typer.Typer) -> None:
    dead_letters = typer.Typer(
        help="Dead-lettered notifications: list them, or requeue them for delivery.",
        invoke_without_command=True,
        rich_markup_mode=None,
    )
    app.add_typer(dead_letters, name="dead-letters")

    @dead_letters.callback()
    def list_dead(
        context: typer.Context,
        db: Annotated[str | None, typer.Option("--db", help=DB_HELP, metavar="PATH_OR_URL")] = None,
        as_json: JsonOption = False,
        limit: ShowLimit = 1000,
        tenant: TenantOption = "",
    ) -> None:
        """The notifications whose delivery failed for good (requeue to retry them)."""
        if context.invoked_subcommand is not None:
            given = [
                f"--{name}"
                for name in ("db", "tenant")
                if getattr(context.get_parameter_source(name), "name", None) == "COMMANDLINE"
            ]
            if given:  # the subcommand's own options name its store: these would be lost
                fail(
                    f"{' and '.join(given)} go after the subcommand: "
                    f"dead-letters {context.invoked_subcommand} {given[0]} ...",
                    EXIT_USAGE,
                )
            return
        if db is None:
            fail("--db is required: the store whose dead letters to list", EXIT_USAGE)
        with open_desk(db, "dead-letters", tenant=tenant) as desk:
            rows = desk.outbox(DeliveryStatus.DEAD)
        _show(rows, as_json, "dead letters", limit)

    @dead_letters.command()
    def requeue(
        db: DbOption,
        keys: Annotated[
            list[str] | None, typer.Argument(help="Keys of dead notifications.", metavar="KEY...")
        ] = None,
        every: Annotated[bool, typer.Option("--all", help="Every dead notification.")] = False,
        tenant: TenantOption = "",
    ) -> None:
        """Move dead notifications back to pending, attempts reset, due now: the next
        dispatch (aftersales worker) delivers them. Their last error is kept."""
        if bool(keys) == every:
            fail("give the keys of dead notifications, or --all (not both)", EXIT_USAGE)
        with open_desk(db, "dead-letters", upgrade=True, tenant=tenant) as desk:
            if keys:
                dead = {row.key for row in desk.outbox(DeliveryStatus.DEAD)}
                unknown = [key for key in dict.fromkeys(keys) if key not in dead]
                if unknown:
                    fail(f"not dead-lettered, nothing requeued: {', '.join(unknown)}")
            try:
                moved = desk.requeue_dead_letters(keys or None)
            except AftersalesError as refused:  # pragma: no cover - keys checked above
                fail(refused)
        typer.echo(f"requeued {moved} notification{'' if moved == 1 else 's'}")


def add_outbox_commands(app: typer.Typer) -> None:
    """Register ``outbox`` and ``dead-letters`` on the ``aftersales`` command."""
    _add_outbox(app)
    _add_dead_letters(app)
