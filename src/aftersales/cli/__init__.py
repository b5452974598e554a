"""The ``aftersales`` command (extra ``aftersales[cli]``).

Results go to standard output, errors to standard error; ``-h``/``--help`` on every
command, ``--version`` on the top level. Exit codes: 0 done, 1 the library refused or
failed (the message says why), 2 a usage error.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

try:
    import typer
except ImportError:  # pragma: no cover - exercised only without the extra
    typer = None  # type: ignore[assignment]

from aftersales import __version__
from aftersales.cases import KINDS
from aftersales.policies import PolicySet
from aftersales.workflows import SHIPPED, to_mermaid

__all__ = ["main"]

_WORKFLOWS = {**SHIPPED, **{spec.workflow.name: spec.workflow for spec in KINDS}}
"""The ticket's workflow and every shipped case kind's, on-site visits included."""


def _missing_extra() -> int:  # pragma: no cover - exercised only without the extra
    sys.stderr.write('the aftersales command needs the cli extra: pip install "aftersales[cli]"\n')
    return 1


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"aftersales {__version__}")
        raise typer.Exit()


def _build_app() -> typer.Typer:
    from aftersales.cli._common import error as _error
    from aftersales.cli._demo import add_demo_command
    from aftersales.cli._report import add_report_command
    from aftersales.cli._worker import add_worker_command
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

    @app.command()
    def workflow(
        name: Annotated[
            str, typer.Argument(help=f"One of: {', '.join(sorted(_WORKFLOWS))}", metavar="NAME")
        ] = "ticket",
    ) -> None:
        """Print a shipped workflow as a mermaid state diagram."""
        if name not in _WORKFLOWS:
            _error(f"no shipped workflow {name!r}; one of: {', '.join(sorted(_WORKFLOWS))}")
            raise typer.Exit(2)
        typer.echo(to_mermaid(_WORKFLOWS[name]), nl=False)

    @app.command("policy-schema")
    def policy_schema() -> None:
        """Print the JSON Schema of a policy set, for editors and validators."""
        typer.echo(json.dumps(PolicySet.json_schema(), indent=2, ensure_ascii=False))

    add_report_command(app)
    app.add_typer(build_classifier_app(), name="classifier")
    add_worker_command(app)
    return app


def main() -> int:
    """Entry point of the ``aftersales`` console script."""
    if typer is None:  # pragma: no cover
        return _missing_extra()
    _build_app()()
    return 0  # pragma: no cover - typer exits itself
