"""What the ``aftersales`` commands share: the error line, the version option, opening a
store (and a desk on it) from ``--db``, printing records as JSON lines and reading a
report's period."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from aftersales.exceptions import AftersalesError, FieldError, InvalidInput
from aftersales.storage import SQLiteStore, Store
from aftersales.storage._tenant import check_tenant

if TYPE_CHECKING:
    from aftersales.desk import Desk

__all__ = [
    "APP_HELP",
    "DB_HELP",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "TENANT_HELP",
    "TenantOption",
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


TENANT_HELP = (
    "The shop whose tickets the command reads and writes, in a database several shops "
    "share (letters, digits, '.', '_', ':', '-'); the default is the database's one shop."
)
TenantOption = Annotated[
    str, typer.Option("--tenant", envvar="AFTERSALES_TENANT", help=TENANT_HELP, metavar="TENANT")
]
"""``--tenant``, or the ``AFTERSALES_TENANT`` environment variable: set once for a shell
that works for one shop."""


_DRIVER_EXAMPLES = {
    "postgresql": "postgresql+psycopg://",
    "mysql": "mysql+pymysql://",
    "mariadb": "mariadb+pymysql://",
}


def _refused(command: str, message: str) -> InvalidInput:
    return InvalidInput(command, [FieldError(("--db",), message)])


def _missing_driver(command: str, url: str, missing: ImportError) -> InvalidInput:
    """The refusal of a URL whose driver is not installed, naming one that is known to work."""
    scheme = url.split("://", 1)[0]
    backend = scheme.split("+", 1)[0]
    example = _DRIVER_EXAMPLES.get(backend)
    hint = f"; install it, or name a driver, e.g. {example}" if example else "; install it"
    return _refused(command, f"the driver of {scheme}:// ({missing.name}) is not installed{hint}")


def _check_version(command: str, where: str, version: int) -> None:
    """Refuse a store without the schema (an empty database) or an older schema a read
    command must not upgrade; a newer one the store itself refuses."""
    from aftersales.storage.sqlite import SCHEMA_VERSION

    if version == 0:
        raise _refused(command, f"no aftersales store in {where}")
    if version < SCHEMA_VERSION:
        raise _refused(
            command,
            f"the store in {where} has schema version {version}, older than this "
            f"aftersales's {SCHEMA_VERSION}: upgrade it first (open it once from your app, "
            "or run the worker), a command that only reads does not",
        )


def _check_sqlite_file(command: str, path: str, *, upgrade: bool) -> None:
    """Refuse a SQLite file that does not exist or holds no store (an empty or foreign
    file), and, unless ``upgrade``, one of an older schema; opened read only, so that
    nothing is made."""
    if not Path(path).is_file():
        raise _refused(command, f"no SQLite file {path}")
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error as error:  # not a database, a directory
        raise _refused(command, f"cannot open {path}: {error}") from None
    if version == 0 or not upgrade:
        _check_version(command, path, version)


def _check_server_store(command: str, url: str, *, upgrade: bool) -> None:
    """Refuse a database (given as an SQLAlchemy URL) that holds no store, or (unless
    ``upgrade``) an older schema, before a store is built on it: building one creates
    or upgrades the schema."""
    import sqlalchemy as sa

    parsed = sa.make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or not Path(database).is_file():
            raise _refused(command, f"no SQLite file {database or '(in memory)'}")
    engine = sa.create_engine(parsed)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("aftersales_schema"):
                raise _refused(command, f"no aftersales store in {shown}")
            found = conn.execute(sa.text("SELECT version FROM aftersales_schema"))
            version = int(found.scalar_one())
    except sa.exc.SQLAlchemyError as error:
        reason = getattr(error, "orig", None) or error
        raise _refused(command, f"cannot open {shown}: {reason}") from None
    finally:
        engine.dispose()
    if not upgrade:
        _check_version(command, shown, version)


def open_store(
    url: str,
    command: str = "report",
    *,
    create: bool = False,
    upgrade: bool = False,
    tenant: str = "",
) -> Store:
    """The store at ``url``: a SQLite file (a path or ``sqlite:///path``) or any other
    SQLAlchemy URL, of ``tenant``'s rows. Unless ``create`` (a command that writes, such
    as ``import``), the store must exist: a missing file or a database without a store is
    refused, and nothing is made. Unless ``create`` or ``upgrade`` an older schema is
    refused too, so that a command that only reads changes nothing. ``command`` names the
    refusal; a tenant that is no tenant's name is refused before the database is opened."""
    try:
        check_tenant(tenant)
    except InvalidInput as refused:
        (problem,) = refused.errors
        where = FieldError(("--tenant",), problem.message, problem.kind)
        raise InvalidInput(command, [where]) from None
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    if "://" not in path:
        if not create:
            _check_sqlite_file(command, path, upgrade=upgrade)
        # StorageError for a directory, a file of something else
        return SQLiteStore(path, tenant=tenant)
    try:
        from aftersales.storage.sqlalchemy import SQLAlchemyStore
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise _refused(command, 'needs the sql extra: pip install "aftersales[sql]"') from None
    try:
        if not create:
            _check_server_store(command, url, upgrade=upgrade)
        return SQLAlchemyStore(url, tenant=tenant)
    except ImportError as missing:
        raise _missing_driver(command, url, missing) from None


APP_HELP = (
    "module:callable that takes the store and returns your configured Desk (its "
    "workflow, categories, SLA policy); a plain Desk on the store without it."
)


@contextmanager
def open_desk(
    url: str,
    command: str,
    app: str | None = None,
    *,
    create: bool = False,
    upgrade: bool = False,
    tenant: str = "",
) -> Iterator[Desk]:
    """A desk on the store at ``url`` (built by ``app``, ``module:callable``, when given),
    closed afterwards; a store or app that cannot be opened prints the error and exits 1.
    ``create``, ``upgrade`` and ``tenant`` as :func:`open_store` takes them."""
    from aftersales.desk import Desk

    try:
        store = open_store(url, command, create=create, upgrade=upgrade, tenant=tenant)
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
