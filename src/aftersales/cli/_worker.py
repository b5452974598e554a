"""``aftersales worker``: run a desk's due work and outbox deliveries until stopped.

Exit codes: 0 stopped by SIGTERM or SIGINT (the delivery under way finished and was
acknowledged, the rows claimed and not delivered were released) or ``--once`` done;
1 the store or the ``--app`` could not be opened or built (an in-memory database is
refused: it would vanish with the worker), or a ``--once`` pass failed (its due work
included, after the deliveries; the message says why); 2 a usage error (``--app``
missing among them); 130 a second SIGTERM or SIGINT interrupted a
delivery (its lease brings it back to the outbox).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Annotated, Any

import typer

from aftersales.cli._common import DB_HELP as _DB_HELP
from aftersales.cli._common import TenantOption
from aftersales.cli._common import error as _error
from aftersales.cli._common import open_store as _open_store
from aftersales.desk import Desk
from aftersales.exceptions import AftersalesError, FieldError, InvalidInput
from aftersales.storage import Store
from aftersales.worker import Worker

__all__ = ["add_worker_command"]

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


_NO_APP = (
    "--app is required: module:callable returning your configured Desk. Without your "
    "subscriptions the worker's due work would be committed with none of their "
    "notifications, which no other worker could send later."
)


_IN_MEMORY = (
    "{url} is an in-memory database, new and empty in the worker's process: name the "
    "file or server your app writes to"
)


def _in_memory(url: str) -> bool:
    """Whether ``url`` names a SQLite database that lives in memory only."""
    return (
        url in ("sqlite://", ":memory:") or url.endswith(":memory:") or "mode=memory" in url.lower()
    )


def _load_app(target: str) -> Any:
    """The callable ``module:attribute`` names (the current folder importable, as for
    ``python -m``); InvalidInput when it cannot be found."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise InvalidInput("worker", [FieldError(("--app",), "must be module:callable")])
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise InvalidInput(
            "worker", [FieldError(("--app",), f"cannot load {target}: {error}")]
        ) from None
    if not callable(found):
        raise InvalidInput("worker", [FieldError(("--app",), f"{target} is not callable")])
    return found


def build_desk(store: Store, app: str) -> Desk:
    """The desk the worker serves: what ``app`` (``module:callable``, called with the
    store) returns."""
    desk = _load_app(app)(store)
    if not isinstance(desk, Desk):
        raise InvalidInput(
            "worker",
            [FieldError(("--app",), f"{app} returned {type(desk).__name__}, not a Desk")],
        )
    wanted, served = getattr(store, "tenant", ""), getattr(desk.store, "tenant", "")
    if served != wanted:  # --tenant would be lost: the app's store serves another shop
        desk.close()
        raise InvalidInput(
            "worker",
            [
                FieldError(
                    ("--app",),
                    f"{app} returned a desk of tenant {served!r}, not {wanted!r} "
                    "(--tenant): build the desk on the store it is given",
                )
            ],
        )
    return desk


def add_worker_command(app: typer.Typer) -> None:
    """Register ``aftersales worker`` on the ``aftersales`` command."""

    @app.command()
    def worker(
        db: Annotated[
            str,
            typer.Option(
                help=_DB_HELP,
                metavar="URL",
            ),
        ],
        app_target: Annotated[
            str | None,
            typer.Option(
                "--app",
                help="Required. module:callable that takes the store and returns the "
                "configured Desk (its subscriptions, senders and rules).",
                metavar="MODULE:CALLABLE",
            ),
        ] = None,
        interval: Annotated[
            float,
            typer.Option(
                min=0.01, max=86_400, help="Seconds to wait between passes.", metavar="SECONDS"
            ),
        ] = 5.0,
        batch: Annotated[
            int,
            typer.Option(
                min=1, max=1_000_000, help="Notifications claimed at a time.", metavar="N"
            ),
        ] = 100,
        once: Annotated[
            bool, typer.Option("--once", help="Run one pass and exit (for cron).")
        ] = False,
        log_level: Annotated[
            str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.", metavar="LEVEL")
        ] = "INFO",
        tenant: TenantOption = "",
    ) -> None:
        """Run due work and deliver the outbox until SIGTERM or SIGINT.

        Several workers may share one database: each claims what it delivers. On
        SIGTERM the delivery under way finishes, is acknowledged, and the rest is
        released for the other workers; the exit code is then 0.
        """
        if _in_memory(db):
            _error(f"--db: {_IN_MEMORY.format(url=db)}")
            raise typer.Exit(1)
        if app_target is None:
            # a usage error of ours rather than typer's "Missing option": it says why
            _error(_NO_APP)
            raise typer.Exit(2)
        level = log_level.upper()
        if level not in _LEVELS:
            _error(f"--log-level must be one of {', '.join(_LEVELS)}")
            raise typer.Exit(2)
        logging.basicConfig(
            level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        try:
            store = _open_store(db, "worker", upgrade=True, tenant=tenant)
        except AftersalesError as error:
            _error(str(error))
            raise typer.Exit(1) from None
        try:
            desk = build_desk(store, app_target)
        except Exception as error:  # noqa: BLE001 - the app's own code: say why, exit 1
            store.close()
            _error(str(error) if isinstance(error, AftersalesError) else repr(error))
            raise typer.Exit(1) from None
        if not desk._hooks:
            typer.echo(
                "warning: no handlers are subscribed, so no notification is delivered; "
                "pass --app module:callable returning your configured Desk",
                err=True,
            )
        runner = Worker(desk, interval=interval, batch=batch)
        with desk:
            # --once too: SIGTERM during its delivery finishes it and exits 0
            restore = runner.install_signal_handlers()
            try:
                if once:
                    _run_once(runner)
                else:
                    runner.run_forever()
            except KeyboardInterrupt:
                _error("interrupted during a delivery; its lease brings it back to the outbox")
                raise typer.Exit(130) from None
            finally:
                restore()


def _run_once(runner: Worker) -> None:
    """One pass for ``--once``; exit 1 when it (or its due work) failed."""
    try:
        result = runner.run_once()
    except AftersalesError as error:
        _error(str(error))
        raise typer.Exit(1) from None
    failure = result.due_error
    if failure is not None:
        _error(str(failure) if isinstance(failure, AftersalesError) else repr(failure))
        raise typer.Exit(1)
