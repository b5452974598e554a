"""What the ``aftersales`` commands share: the error line, the version option, opening a
store from ``--db`` and reading a report's period."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import typer

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.storage import SQLiteStore, Store

__all__ = [
    "DB_HELP",
    "error",
    "missing_extra",
    "open_store",
    "report_period",
]


def missing_extra() -> int:  # pragma: no cover - exercised only without the extra
    sys.stderr.write('the aftersales command needs the cli extra: pip install "aftersales[cli]"\n')
    return 1


def error(message: str) -> None:
    typer.echo(typer.style("error:", fg=typer.colors.RED) + f" {message}", err=True)


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
