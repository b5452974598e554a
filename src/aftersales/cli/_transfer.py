"""``aftersales export`` and ``aftersales import``: tickets as CSV or JSON lines.

``export`` writes every ticket, oldest first, one per line (JSONL) or row (CSV, one
column per field of :class:`~aftersales.Ticket`, lists and objects as JSON, None as an
empty cell, text a spreadsheet would run as a formula after a ``'``). JSON lines carry
each ticket's messages too (``messages``, as written, internal notes included); CSV
carries tickets only. Events and cases stay in the store. ``import`` reads the
same formats into :meth:`aftersales.Desk.import_tickets`: every line is checked first,
and a bad one is refused with its line number, with nothing stored. Its numbers come
from a block it reserves in the store (see :func:`_numbered`). Up to
:data:`ONE_TRANSACTION` tickets are written in one transaction (all or nothing); a
larger file is written in transactions of that many, and a failure in one leaves the
earlier ones stored (the message says how many).

Rich progress bars are drawn on standard error only when it is a terminal, so that logs
and pipes stay clean.

Exit codes: 0 done; 1 the store or file cannot be opened, or a line is refused (nothing
stored); 2 a usage error (a format neither ``csv`` nor ``jsonl``).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress

from aftersales.cli._common import TenantOption, fail, open_desk
from aftersales.cli._tickets import AppOption, DbOption
from aftersales.desk import Desk
from aftersales.exceptions import AftersalesError, FieldError, InvalidInput, TicketNotFound
from aftersales.models import Ticket
from aftersales.storage import TicketQuery, every_ticket

__all__ = ["COLUMNS", "ONE_TRANSACTION", "Format", "add_transfer_commands"]

ONE_TRANSACTION = 100_000
"""The most tickets ``import`` writes in one transaction (the most a batch may hold)."""

COLUMNS: tuple[str, ...] = tuple(Ticket.model_fields)
"""The CSV columns, the fields of a ticket in their order."""

_JSON_COLUMNS = frozenset({"order_line", "tags"})
"""Columns whose CSV cells hold JSON (a list or an object)."""

_PAGE = 10_000


class Format(str, Enum):
    """A file format of ``import`` and ``export``."""

    CSV = "csv"
    JSONL = "jsonl"


def _format_of(given: Format | None, path: str | None) -> Format:
    """The format given, else the one ``path``'s suffix names, else JSON lines."""
    if given is not None:
        return given
    if path is not None and path.lower().endswith(".csv"):
        return Format.CSV
    return Format.JSONL


@contextmanager
def _progress(description: str, total: float | None) -> Iterator[Any]:
    """A progress bar on standard error when it is a terminal; nothing drawn otherwise."""
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(description, total=total)
        yield lambda advance: progress.advance(task, advance)


def _all_tickets(desk: Desk) -> Iterator[Ticket]:
    """Every ticket, oldest first, a page at a time (by cursor: an offset page reads
    every row before it, so an export of a million tickets read ~250 million rows)."""
    return every_ticket(desk.store, TicketQuery(limit=_PAGE))


_FORMULA = re.compile(r"'*[=+\-@\t\r]")
"""A cell a spreadsheet would run as a formula (after any quotes that protect it)."""


def _csv_cell(value: Any) -> str:
    """The cell of ``value``; text a spreadsheet would run as a formula (CSV injection)
    is written after a ``'``, which :func:`_csv_value` takes off again."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    text = str(value)
    return "'" + text if _FORMULA.match(text) else text


def _csv_value(cell: str) -> str:
    """What ``cell`` holds: :func:`_csv_cell`'s protecting ``'`` taken off."""
    return cell[1:] if cell.startswith("'") and _FORMULA.match(cell, 1) else cell


def _write(desk: Desk, out: IO[str], file_format: Format) -> int:
    written = 0
    writer = None
    if file_format is Format.CSV:
        # CRLF (RFC 4180): a field holding a bare \r is quoted too, not cut in two
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(COLUMNS)
    with _progress("exporting tickets", None) as advance:
        for ticket in _all_tickets(desk):
            if writer is None:
                data = ticket.model_dump(mode="json")
                data["messages"] = [
                    message.model_dump(mode="json") for message in desk.store.messages(ticket.id)
                ]
                out.write(json.dumps(data, ensure_ascii=False) + "\n")
            else:
                data = ticket.model_dump(mode="json")
                writer.writerow([_csv_cell(data[column]) for column in COLUMNS])
            written += 1
            advance(1)
    return written


def _bad_line(line: int, message: str) -> InvalidInput:
    return InvalidInput("import", [FieldError((f"line {line}",), message)])


def _csv_records(text: IO[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for each CSV row after the header; empty cells left out."""
    reader = csv.DictReader(text)
    unknown = sorted(set(reader.fieldnames or ()) - set(COLUMNS))
    if unknown:
        raise _bad_line(1, f"unknown columns {', '.join(unknown)}; known: {', '.join(COLUMNS)}")
    line = reader.line_num + 1
    for row in reader:
        if None in row:
            raise _bad_line(line, "more cells than columns")
        record: dict[str, Any] = {}
        for column, given in row.items():
            if given in ("", None):
                continue
            cell = _csv_value(given)
            if column in _JSON_COLUMNS:
                try:
                    record[column] = json.loads(cell)
                except json.JSONDecodeError:
                    raise _bad_line(line, f"{column}: not JSON: {cell[:60]!r}") from None
            else:
                record[column] = cell
        yield line, record
        line = reader.line_num + 1


def _jsonl_records(text: IO[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for each non-blank line."""
    for line, content in enumerate(text, start=1):
        if not content.strip():
            continue
        try:
            record = json.loads(content)
        except json.JSONDecodeError as error:
            raise _bad_line(line, f"not JSON: {error.msg}") from None
        if not isinstance(record, dict):
            raise _bad_line(line, "must be a JSON object")
        yield line, record


def _read(source: IO[str], file_format: Format) -> tuple[list[int], list[dict[str, Any]]]:
    """The line numbers and records of the file, read whole before anything is stored."""
    lines: list[int] = []
    records: list[dict[str, Any]] = []
    parse = _csv_records if file_format is Format.CSV else _jsonl_records
    with _progress("reading", None) as advance:
        for line, record in parse(source):
            lines.append(line)
            records.append(record)
            advance(1)
    return lines, records


def _on_lines(refused: InvalidInput, lines: list[int], first: int) -> InvalidInput:
    """``refused`` with each record position (from ``first``) shown as its line number."""
    errors = []
    for error in refused.errors:
        location = error.location
        if location and isinstance(location[0], int) and first + location[0] < len(lines):
            where = f"line {lines[first + location[0]]}"
            rest = ".".join(str(part) for part in location[1:])
            location = (f"{where}: {rest}" if rest else where,)
        errors.append(FieldError(location, error.message, error.kind))
    return InvalidInput("import", errors)


def _taken(desk: Desk, lines: list[int], records: list[dict[str, Any]]) -> InvalidInput | None:
    """Which line names an id or a number a stored ticket has (the store's refusal names
    only the value)."""
    for line, record in zip(lines, records, strict=True):
        for field in ("id", "number"):
            value = record.get(field)
            if value is None:
                continue
            try:
                desk.get(int(value) if field == "number" else str(value))
            except (TicketNotFound, InvalidInput, ValueError):
                continue
            return _bad_line(line, f"{field} {value} is already a stored ticket's")
    return None


def _duplicate(lines: list[int], records: list[dict[str, Any]]) -> InvalidInput | None:
    """The first line whose id or number an earlier line of the file has."""
    seen: dict[tuple[str, str], int] = {}
    for line, record in zip(lines, records, strict=True):
        for field in ("id", "number"):
            value = record.get(field)
            if value is None:
                continue
            earlier = seen.setdefault((field, str(value)), line)
            if earlier != line:
                return _bad_line(line, f"{field} {value} is also line {earlier}'s")
    return None


def _refusal(
    desk: Desk, refused: AftersalesError, lines: list[int], records: list[dict[str, Any]]
) -> InvalidInput:
    """``refused`` naming the line it is about: a record's own error by its position, the
    store's (an id or number taken) by finding the line that has it."""
    if isinstance(refused, InvalidInput):
        located = _on_lines(refused, lines, 0)
        if located.errors != refused.errors:
            return located
    taken = _taken(desk, lines, records)
    if taken is not None:
        return taken
    if isinstance(refused, InvalidInput):
        return refused
    return InvalidInput("import", [FieldError(("tickets",), str(refused))])


def _given_number(record: dict[str, Any]) -> int | None:
    """The number a record gives, if it gives a whole one (else the import refuses it)."""
    number = record.get("number")
    if number is None or isinstance(number, bool):
        return None
    try:
        return int(number)
    except (TypeError, ValueError):
        return None


def _numbered(
    desk: Desk, lines: list[int], records: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """``records`` with a number each, and what was renumbered (``line 3: #2 → #21``).

    The import reserves a block of numbers from the store as a desk does, one per
    record. A record without a number gets the next of them. So does a record whose
    number lies below the block: the store has handed it out already (to a running
    desk's block, which would open a ticket with it later), unless a stored ticket has
    it, which is refused. A number inside the block given to one line and also to
    another is refused naming both."""
    if not records:
        return records, []
    first = desk.store.reserve_numbers(len(records))
    next_free = first
    given: dict[int, int] = {}
    renumbered: list[str] = []
    numbered: list[dict[str, Any]] = []
    for line, record in zip(lines, records, strict=True):
        number = _given_number(record)
        if "number" in record and record["number"] is not None and number is None:
            numbered.append(record)  # not a number: the import names the line
            continue
        if number is not None and number >= first:
            numbered.append(record)
            continue
        if number is not None:
            taken = _taken(desk, [line], [record])  # its id, else its number
            if taken is not None:
                raise taken
            renumbered.append(f"line {line}: #{number} → #{next_free}")
        given[next_free] = line
        numbered.append({**record, "number": next_free})
        next_free += 1
    for line, record in zip(lines, numbered, strict=True):
        number = _given_number(record)
        if number is not None and given.get(number, line) != line:
            raise _bad_line(
                line,
                f"number {number} is the one the import gives line {given[number]}, which "
                "has none: number that line too, or leave this one without",
            )
    return numbered, renumbered


def _store(desk: Desk, lines: list[int], records: list[dict[str, Any]], batch: int) -> int:
    duplicate = _duplicate(lines, records)
    if duplicate is not None:
        raise duplicate
    records, renumbered = _numbered(desk, lines, records)
    if renumbered:
        shown = ", ".join(renumbered[:10]) + (", ..." if len(renumbered) > 10 else "")
        typer.echo(
            f"renumbered {len(renumbered)} tickets whose numbers the store had handed out "
            f"to desks already: {shown}",
            err=True,
        )
    imported = 0
    with _progress("importing", len(records)) as advance:
        for first in range(0, len(records), batch):
            chunk = records[first : first + batch]
            try:
                imported += desk.import_tickets(chunk, batch_size=len(chunk))
            except AftersalesError as refused:
                located = _refusal(desk, refused, lines[first : first + batch], chunk)
                if not imported:
                    raise located from None
                stored = FieldError(("stored",), f"the {imported} tickets before it")
                raise InvalidInput("import", [*located.errors, stored]) from None
            advance(len(chunk))
    return imported


def add_transfer_commands(app: typer.Typer) -> None:
    """Register ``import`` and ``export`` on the ``aftersales`` command."""

    @app.command("export")
    def export(
        db: DbOption,
        output: Annotated[
            str | None,
            typer.Option(
                "--output", "-o", help="The file to write; stdout without.", metavar="FILE"
            ),
        ] = None,
        file_format: Annotated[
            Format | None,
            typer.Option(
                "--format", help="csv or jsonl; default: the output's suffix, else jsonl."
            ),
        ] = None,
        tenant: TenantOption = "",
    ) -> None:
        """Write every ticket, oldest first, as JSON lines (with its messages) or CSV
        (tickets only); events and cases are not exported."""
        chosen = _format_of(file_format, output)
        with open_desk(db, "export", tenant=tenant) as desk:
            try:
                if output is None:
                    written = _write(desk, sys.stdout, chosen)
                else:
                    with open(output, "w", encoding="utf-8", newline="") as out:
                        written = _write(desk, out, chosen)
            except OSError as error:
                if output is None:
                    raise  # the standard output's: aftersales.cli.main says so
                fail(f"cannot write {output}: {error.strerror}")
        if output is not None:
            carried = "with their messages" if chosen is Format.JSONL else "without messages"
            typer.echo(
                f"exported {written} tickets to {output} ({carried}; events and cases "
                "are not exported)",
                err=True,
            )

    @app.command("import")
    def import_(
        source: Annotated[str, typer.Argument(help="The file; - for stdin.", metavar="FILE")],
        db: DbOption,
        file_format: Annotated[
            Format | None,
            typer.Option("--format", help="csv or jsonl; default: the file's suffix, else jsonl."),
        ] = None,
        app_target: AppOption = None,
        tenant: TenantOption = "",
    ) -> None:
        """Import tickets (from another system, or an export); a bad line stores nothing."""
        chosen = _format_of(file_format, None if source == "-" else source)
        # "utf-8-sig" reads the byte order mark Excel writes; newline="" keeps a CSV
        # field's \r as it is. The file is read whole and closed before the store is
        # opened, so that a store refused leaves no file open.
        try:
            text = (
                io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
                if source == "-"
                else open(source, encoding="utf-8-sig", newline="")  # noqa: SIM115 - with below
            )
        except OSError as error:
            fail(f"cannot read {source}: {error.strerror}")
        try:
            with text:
                lines, records = _read(text, chosen)
        except AftersalesError as refused:
            fail(refused)
        except (UnicodeDecodeError, csv.Error) as error:
            fail(f"cannot read {source}: {error}")
        # a new store is made only for tickets to write into it
        with open_desk(db, "import", app_target, create=bool(records), tenant=tenant) as desk:
            try:
                imported = _store(desk, lines, records, ONE_TRANSACTION)
            except AftersalesError as refused:
                fail(refused)
        typer.echo(f"imported {imported} tickets")
