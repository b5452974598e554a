"""``aftersales tickets``, ``aftersales cases`` and ``aftersales history``: what a store
holds, read only, as Rich tables or JSON lines.

Exit codes: 0 shown; 1 the store cannot be opened, no such ticket or case, or a filter
the desk refuses (a status its workflow lacks); 2 a usage error (a ``--category`` or
``--channel`` outside its choices, a ``--limit`` out of range).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from aftersales.cli._common import (
    APP_HELP,
    DB_HELP,
    TenantOption,
    fail,
    open_desk,
    print_json_lines,
)
from aftersales.desk import Desk
from aftersales.exceptions import AftersalesError, CaseNotFound, TicketNotFound
from aftersales.models import Case, Channel, Event, StatusCategory, Ticket

__all__ = ["add_ticket_commands", "find_subject", "find_ticket", "shown"]

DbOption = Annotated[str, typer.Option("--db", help=DB_HELP, metavar="PATH_OR_URL")]
AppOption = Annotated[str | None, typer.Option("--app", help=APP_HELP, metavar="MODULE:CALLABLE")]
JsonOption = Annotated[
    bool, typer.Option("--json", help="One JSON document per line (JSONL) instead of a table.")
]
LimitOption = Annotated[
    int, typer.Option(min=1, max=10_000, help="Show at most N (1 to 10,000).", metavar="N")
]

_CATEGORY_HELP = "A status category: " + ", ".join(c.value for c in StatusCategory) + "."


def shown(value: object) -> str:
    """A field's value as a table shows it: times to the minute, with their offset;
    None as "-"."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if hasattr(value, "value"):  # an enum
        return str(value.value)
    if isinstance(value, tuple):
        return ", ".join(shown(item) for item in value) or "-"
    return str(value)


def find_ticket(desk: Desk, reference: str) -> Ticket:
    """The ticket ``reference`` names: its number (``12`` or ``#12``) or its id."""
    if reference.isascii() and reference.isdigit():
        try:
            return desk.get(int(reference))
        except TicketNotFound:
            pass  # an id made of digits
    return desk.get(reference)


def find_subject(desk: Desk, reference: str) -> Ticket | Case:
    """The ticket (by number or id) or case (by id) ``reference`` names; TicketNotFound
    when neither exists."""
    try:
        return find_ticket(desk, reference)
    except TicketNotFound:
        try:
            return desk.cases.get(reference)
        except CaseNotFound:
            raise TicketNotFound(reference) from None


def _console() -> Console:
    # made per call: the standard output may have been swapped since (a test runner);
    # no markup, so stored text with square brackets is printed as written
    return Console(highlight=False, markup=False)


def _fields_table(title: str, record: Ticket | Case) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in record:
        if value not in (None, (), {}, ""):
            table.add_row(name, shown(value))
    return table


def _events_table(title: str, events: Sequence[Event]) -> Table:
    table = Table(title=title)
    for column in ("#", "at", "trigger", "change", "actor"):
        table.add_column(column, no_wrap=column == "at")
    for event in events:
        change = f"{event.from_state or '∅'} → {event.to_state}"
        table.add_row(str(event.sequence), shown(event.at), event.trigger, change, event.actor)
    return table


def _tickets_table(tickets: Iterable[Ticket]) -> Table:
    table = Table()
    # on a narrow terminal every column but the number folds, none shrinks to nothing
    table.add_column("number", no_wrap=True)
    for column in ("status", "priority", "channel", "category", "customer", "assignee"):
        table.add_column(column, overflow="fold")
    table.add_column("subject", overflow="fold", ratio=2)
    table.add_column("created", overflow="fold")
    for t in tickets:
        table.add_row(
            t.display_number,
            t.status,
            shown(t.priority),
            t.channel.value,
            shown(t.category),
            t.customer_id,
            shown(t.assignee),
            t.subject,
            shown(t.created_at),
        )
    return table


def _cases_table(cases: Iterable[Case]) -> Table:
    table = Table()
    for column in ("id", "kind", "status", "ticket", "customer", "order"):
        table.add_column(column, no_wrap=True)
    for case in cases:
        table.add_row(
            case.id,
            shown(case.kind),
            case.status,
            case.ticket_id,
            shown(case.customer_id),
            shown(case.order_id),
        )
    return table


def _filters(**given: Any) -> dict[str, Any]:
    return {name: value for name, value in given.items() if value is not None}


def _add_tickets(app: typer.Typer) -> None:
    tickets = typer.Typer(
        help="List and show tickets.", no_args_is_help=True, rich_markup_mode=None
    )
    app.add_typer(tickets, name="tickets")

    @tickets.command("list")
    def list_tickets(
        db: DbOption,
        status: Annotated[
            str | None, typer.Option(help="A state of the workflow.", metavar="STATUS")
        ] = None,
        category: Annotated[
            StatusCategory | None, typer.Option(help=_CATEGORY_HELP, metavar="CATEGORY")
        ] = None,
        channel: Annotated[
            Channel | None,
            typer.Option(help=f"One of: {', '.join(c.value for c in Channel)}.", metavar="CHANNEL"),
        ] = None,
        assignee: Annotated[str | None, typer.Option(metavar="AGENT")] = None,
        customer: Annotated[str | None, typer.Option(metavar="CUSTOMER_ID")] = None,
        limit: LimitOption = 100,
        as_json: JsonOption = False,
        app_target: AppOption = None,
        tenant: TenantOption = "",
    ) -> None:
        """Tickets matching every filter given, oldest first."""
        with open_desk(db, "tickets", app_target, tenant=tenant) as desk:
            try:
                found = desk.find(
                    limit=limit,
                    **_filters(
                        status=status,
                        status_category=category,
                        channel=channel,
                        assignee=assignee,
                        customer_id=customer,
                    ),
                )
            except AftersalesError as refused:
                fail(refused)
        if as_json:
            print_json_lines(t.model_dump_json() for t in found)
        else:
            _console().print(_tickets_table(found))

    @tickets.command("show")
    def show_ticket(
        reference: Annotated[str, typer.Argument(help="Number (12 or #12) or id.", metavar="N|ID")],
        db: DbOption,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
        app_target: AppOption = None,
        tenant: TenantOption = "",
    ) -> None:
        """A ticket's fields, its messages (internal notes included) and its SLA."""
        with open_desk(db, "tickets", app_target, tenant=tenant) as desk:
            try:
                ticket = find_ticket(desk, reference)
                messages = desk.messages(ticket.id, include_internal=True)
            except AftersalesError as refused:
                fail(refused)
        if as_json:
            document = {
                "ticket": ticket.model_dump(mode="json"),
                "messages": [m.model_dump(mode="json") for m in messages],
            }
            print_json_lines([document])
            return
        console = _console()
        console.print(_fields_table(f"ticket {ticket.display_number}", ticket))
        if not messages:
            console.print("no messages")
        table = Table(title="messages")
        for column in ("at", "author", "kind", "body"):
            table.add_column(column, overflow="fold")
        for message in messages:
            author = f"{message.author_id} ({message.author_role.value})"
            table.add_row(shown(message.at), author, message.kind.value, message.body)
        if messages:
            console.print(table)
        sla = {
            name: shown(getattr(ticket, name))
            for name in ("sla_rule", "sla_due_at", "sla_first_response", "sla_resolution")
        }
        if any(value != "-" for value in sla.values()):
            console.print("SLA: " + ", ".join(f"{name}={value}" for name, value in sla.items()))


def _add_cases(app: typer.Typer) -> None:
    cases = typer.Typer(
        help="List and show after-sales cases.", no_args_is_help=True, rich_markup_mode=None
    )
    app.add_typer(cases, name="cases")

    @cases.command("list")
    def list_cases(
        db: DbOption,
        kind: Annotated[
            str | None, typer.Option(help="return, exchange, refund, repair...", metavar="KIND")
        ] = None,
        status: Annotated[str | None, typer.Option(metavar="STATUS")] = None,
        category: Annotated[
            StatusCategory | None, typer.Option(help=_CATEGORY_HELP, metavar="CATEGORY")
        ] = None,
        ticket: Annotated[str | None, typer.Option(help="Ticket id.", metavar="ID")] = None,
        customer: Annotated[str | None, typer.Option(metavar="CUSTOMER_ID")] = None,
        order: Annotated[str | None, typer.Option(metavar="ORDER_ID")] = None,
        limit: LimitOption = 100,
        as_json: JsonOption = False,
        app_target: AppOption = None,
        tenant: TenantOption = "",
    ) -> None:
        """Cases matching every filter given, oldest first."""
        with open_desk(db, "cases", app_target, tenant=tenant) as desk:
            try:
                found = desk.cases.find(
                    limit=limit,
                    **_filters(
                        kind=kind,
                        status=status,
                        status_category=category,
                        ticket_id=ticket,
                        customer_id=customer,
                        order_id=order,
                    ),
                )
            except AftersalesError as refused:
                fail(refused)
        if as_json:
            print_json_lines(c.model_dump_json() for c in found)
        else:
            _console().print(_cases_table(found))

    @cases.command("show")
    def show_case(
        case_id: Annotated[str, typer.Argument(metavar="ID")],
        db: DbOption,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
        app_target: AppOption = None,
        tenant: TenantOption = "",
    ) -> None:
        """A case's fields."""
        with open_desk(db, "cases", app_target, tenant=tenant) as desk:
            try:
                case = desk.cases.get(case_id)
            except AftersalesError as refused:
                fail(refused)
        if as_json:
            print_json_lines([case.model_dump_json()])
        else:
            _console().print(_fields_table(f"{shown(case.kind)} case {case.id}", case))


def _add_history(app: typer.Typer) -> None:
    @app.command()
    def history(
        reference: Annotated[
            str, typer.Argument(help="A ticket's number or id, or a case's id.", metavar="ID")
        ],
        db: DbOption,
        as_json: JsonOption = False,
        app_target: AppOption = None,
        tenant: TenantOption = "",
    ) -> None:
        """The events of a ticket or a case, in order."""
        with open_desk(db, "history", app_target, tenant=tenant) as desk:
            try:
                subject = find_subject(desk, reference)
            except TicketNotFound:
                fail(f"no ticket or case {reference}")
            except AftersalesError as refused:
                fail(refused)
            events = desk.store.events(subject.id)
        if as_json:
            print_json_lines(e.model_dump_json() for e in events)
        else:
            title = (
                f"ticket {subject.display_number}"
                if isinstance(subject, Ticket)
                else f"{shown(subject.kind)} case {subject.id}"
            )
            _console().print(_events_table(title, events))


def add_ticket_commands(app: typer.Typer) -> None:
    """Register ``tickets``, ``cases`` and ``history`` on the ``aftersales`` command."""
    _add_tickets(app)
    _add_cases(app)
    _add_history(app)
