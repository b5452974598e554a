"""The ``aftersales`` command (extra ``aftersales[cli]``).

Results go to standard output, errors to standard error (one ``error:`` line); progress
bars are drawn on standard error only when it is a terminal. ``-h``/``--help`` on every
command, ``--version`` on the top level. The commands that read a desk take
``--db PATH_OR_URL``: a SQLite file, or an SQLAlchemy URL (``postgresql+psycopg://``,
``mysql+pymysql://``; the sql extra).

Exit codes, the same for every command unless listed below: 0 done; 1 the library
refused or failed (the message says why: a store that cannot be opened, no such ticket,
a bad line of a file), and nothing stored changed; 2 a usage error (an unknown command or
option, a value outside its choices).

=========================== ==========================================================
command                     further exit codes
=========================== ==========================================================
``policy check``            0 allowed, 3 refused, 4 needs inspection
``worker``                  130 a second SIGTERM or SIGINT interrupted a delivery
=========================== ==========================================================

Each command family's module says when each code is given: :mod:`._tickets`
(``tickets``, ``cases``, ``history``), :mod:`._outbox` (``outbox``, ``dead-letters``),
:mod:`._policy` (``policy check``, ``sla status``), :mod:`._transfer` (``import``,
``export``), :mod:`._workflow` (``workflow``), :mod:`._report`, :mod:`._worker` and
:mod:`._demo`.
"""

from __future__ import annotations

import io
import json
import os
import sys
from typing import Annotated

try:
    import typer
except ImportError:  # pragma: no cover - exercised only without the extra
    typer = None  # type: ignore[assignment]

from aftersales import __version__

__all__ = ["main"]


def _missing_extra() -> int:  # pragma: no cover - exercised only without the extra
    sys.stderr.write('the aftersales command needs the cli extra: pip install "aftersales[cli]"\n')
    return 1


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"aftersales {__version__}")
        raise typer.Exit()


def _build_app() -> typer.Typer:
    from aftersales.cli._demo import add_demo_command
    from aftersales.cli._outbox import add_outbox_commands
    from aftersales.cli._policy import add_policy_commands
    from aftersales.cli._report import add_report_command
    from aftersales.cli._tickets import add_ticket_commands
    from aftersales.cli._transfer import add_transfer_commands
    from aftersales.cli._worker import add_worker_command
    from aftersales.cli._workflow import add_workflow_command
    from aftersales.routing._cli import build_classifier_app

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

    add_demo_command(app)

    add_workflow_command(app)

    @app.command("policy-schema")
    def policy_schema() -> None:
        """Print the JSON Schema of a policy set, for editors and validators."""
        from aftersales.policies import PolicySet

        typer.echo(json.dumps(PolicySet.json_schema(), indent=2, ensure_ascii=False))

    add_report_command(app)
    app.add_typer(build_classifier_app(), name="classifier")
    add_worker_command(app)
    add_ticket_commands(app)
    add_outbox_commands(app)
    add_policy_commands(app)
    add_transfer_commands(app)
    return app


def _stdout_to_devnull() -> None:
    """Point standard output at the null device, so that what is still buffered for it
    is not written again (and refused again) when the interpreter exits."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):  # no descriptor to replace
        pass


def main() -> int:
    """Entry point of the ``aftersales`` console script.

    Standard output that cannot be written (a full disk, a closed pipe) is an error line
    and exit 1, not a traceback: an OSError naming no file that escapes a command is the
    standard output's, as every file a command opens is named in its own error."""
    if typer is None:  # pragma: no cover
        return _missing_extra()
    try:
        try:
            _build_app()()
        finally:
            sys.stdout.flush()  # what is buffered fails now, not at the interpreter's exit
    except OSError as failed:
        if failed.filename is not None:
            raise
        _stdout_to_devnull()
        if not isinstance(failed, BrokenPipeError):  # the reader stopped (| head): quiet
            sys.stderr.write(f"error: cannot write standard output: {failed.strerror}\n")
        return 1
    return 0  # pragma: no cover - typer exits itself
