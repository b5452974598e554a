"""What the ``aftersales`` commands share: the error line, the version option, opening a
store (and a desk on it) from ``--db``, printing records as JSON lines and reading a
report's period."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from aftersales.exceptions import AftersalesError, FieldError, InvalidInput
from aftersales.storage import SQLiteStore, Store

if TYPE_CHECKING:
    from aftersales.desk import Desk

__all__ = [
    "APP_HELP",
    "DB_HELP",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "error",
    "fail",
    "missing_extra",
    "open_desk",
    "open_store",
    "print_json_lines",
    "report_period",
]

EXIT_FAILED = 1
"""The library refused or failed: bad data, a store that cannot be opened, no such record."""
EXIT_USAGE = 2
"""The command line itself is wrong: an unknown option, a value outside its choices."""


def missing_extra() -> int:  # pragma: no cover - exercised only without the extra
    sys.stderr.write('the aftersales command needs the cli extra: pip install "aftersales[cli]"\n')
    return 1


def error(message: str) -> None:
    """Print ``message`` on standard error as the command's error line."""
    typer.echo(typer.style("error:", fg=typer.colors.RED) + f" {message}", err=True)


def fail(message: str | BaseException, code: int = EXIT_FAILED) -> NoReturn:
    """Print the error line and exit with ``code`` (1 unless a usage error)."""
    error(str(message))
    raise typer.Exit(code)


def print_json_lines(records: Iterable[dict[str, Any] | str]) -> None:
    """One JSON document per line (JSONL), for ``jq`` and other tools: dicts are dumped,
    strings (already JSON) printed as they are."""
    for record in records:
        text = record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)
        typer.echo(text)


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


def report_period(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    """The period the report's options name: default the 30 days up to today (UTC)."""
    if end is None:
        stop = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    else:
        stop = _report_instant(end, "--to", end=True)
    first = (
        stop - timedelta(days=30) if start is None else _report_instant(start, "--from", end=False)
    )
    return first, stop


DB_HELP = (
    "The store: a SQLite file (a path or sqlite:///path), or a "
    "postgresql:// or mysql+pymysql:// URL (the sql extra)."
)


def open_store(url: str, command: str = "report") -> Store:
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


APP_HELP = (
    "module:callable that takes the store and returns your configured Desk (its "
    "workflow, categories, SLA policy); a plain Desk on the store without it."
)


@contextmanager
def open_desk(url: str, command: str, app: str | None = None) -> Iterator[Desk]:
    """A desk on the store at ``url`` (built by ``app``, ``module:callable``, when given),
    closed afterwards; a store or app that cannot be opened prints the error and exits 1."""
    from aftersales.desk import Desk

    try:
        store = open_store(url, command)
    except AftersalesError as refused:
        fail(refused)
    try:
        if app is None:
            desk = Desk(store)
        else:
            from aftersales.cli._worker import build_desk

            desk = build_desk(store, app)
    except Exception as refused:  # noqa: BLE001 - the app's own code: say why, exit 1
        store.close()
        fail(refused if isinstance(refused, AftersalesError) else repr(refused))
    with desk:
        yield desk
