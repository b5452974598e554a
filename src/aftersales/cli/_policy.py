"""``aftersales policy check`` and ``aftersales sla status``.

``policy check FACTS`` decides a claim's facts (a JSON file, ``-`` for standard input)
under the statutory presets of the facts' jurisdiction, a named preset or a policy file
(a policy set or a book of versions, as JSON), with no store.

Exit codes of ``policy check``: 0 allowed, 3 refused, 4 needs inspection (so a script
can branch on the outcome); 1 the facts or the policy file cannot be read or do not
validate (the message names the field); 2 a usage error (an unknown ``--lang``).

``sla status ID`` shows a ticket's SLA: every metric at this moment when the desk has an
SLA policy (``--sla FILE``, or the desk ``--app`` builds), else what the ticket records.
Exit codes: 0 shown; 1 the store, the policy or the ticket cannot be found or read;
2 a usage error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from aftersales.cli._common import DB_HELP, TenantOption, fail, open_desk, print_json_lines
from aftersales.cli._tickets import AppOption, find_ticket, shown
from aftersales.exceptions import AftersalesError, FieldError, InvalidInput
from aftersales.policies import Decision, Outcome, PolicyBook, PolicySet, decide, presets

__all__ = ["EXIT_BY_OUTCOME", "PRESETS", "add_policy_commands"]

EXIT_BY_OUTCOME = {Outcome.ALLOWED: 0, Outcome.REFUSED: 3, Outcome.NEEDS_INSPECTION: 4}
"""The exit code of ``policy check`` for each outcome."""

PRESETS: dict[str, Callable[[], PolicySet | PolicyBook]] = {
    "cn-online-no-reason-return": presets.cn_online_no_reason_return,
    "cn-quality-return": presets.cn_quality_return,
    "cn-sanbao-general": presets.cn_sanbao_general,
    "cn-household-car": presets.cn_household_car,
    "eu-withdrawal": presets.eu_withdrawal,
    "eu-legal-guarantee": presets.eu_legal_guarantee,
    "uk-consumer-rights": presets.uk_consumer_rights,
    "us-ca-1723": presets.us_ca_1723,
    "retailer-example": presets.retailer_example,
}
"""The presets ``--policy`` names, with their default parameters."""

_LANGUAGES = ("en", "zh")


def _read_json(source: str, what: str) -> Any:
    """The JSON document in the file ``source`` (``-``: standard input)."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInput(
            what, [FieldError((source,), f"cannot read: {error.strerror}")]
        ) from None
    except UnicodeDecodeError as error:
        # e.g. UTF-16, which PowerShell's ">" writes
        raise InvalidInput(
            what, [FieldError((source,), f"not UTF-8 text (byte {error.start}): save it as UTF-8")]
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            what, [FieldError((source,), f"not JSON: {error.msg} at line {error.lineno}")]
        ) from None
    except (ValueError, RecursionError) as error:  # a number too long, nesting too deep
        raise InvalidInput(what, [FieldError((source,), f"not JSON: {error}")]) from None


def _policy(name: str | None) -> Callable[[Any], Decision]:
    """What decides: the statutory presets (None), a named preset or a policy file."""
    if name is None:
        return decide
    if name in PRESETS:
        return PRESETS[name]().evaluate
    if not Path(name).is_file():
        raise InvalidInput(
            "policy",
            [FieldError(("--policy",), f"no preset or file {name}; presets: {', '.join(PRESETS)}")],
        )
    data = _read_json(name, "policy")
    if isinstance(data, dict) and "versions" in data:
        return PolicyBook.from_dict(data).evaluate
    if not isinstance(data, dict):
        raise InvalidInput("policy", [FieldError((name,), "must be a JSON object")])
    return PolicySet.from_dict(data).evaluate


def _print_decision(decision: Decision, language: str) -> None:
    console = Console(highlight=False, markup=False)
    console.print(f"outcome: {decision.outcome.value}")
    console.print(f"policy: {decision.policy}")
    if decision.remedies:
        console.print("remedies: " + ", ".join(r.value for r in decision.remedies))
    if decision.window is not None:
        window = decision.window
        console.print(f"window: {window.name}, {window.first_day} to {window.last_day}")
    if decision.refund is not None:
        console.print(f"refund: {decision.refund.net} {decision.refund.currency}")
    if decision.return_shipping_paid_by is not None:
        console.print(f"return shipping paid by: {decision.return_shipping_paid_by.value}")
    explanation = decision.explain(language)
    if explanation:
        console.print(explanation)


def _add_policy(app: typer.Typer) -> None:
    policy = typer.Typer(
        help="Decide claims under return and warranty policies.",
        no_args_is_help=True,
        rich_markup_mode=None,
    )
    app.add_typer(policy, name="policy")

    @policy.command()
    def check(
        facts: Annotated[
            str, typer.Argument(help="The claim's facts as JSON; - for stdin.", metavar="FACTS")
        ],
        policy_name: Annotated[
            str | None,
            typer.Option(
                "--policy",
                help=f"A preset ({', '.join(PRESETS)}) or a policy file (JSON); "
                "default: the statutory presets of the facts' jurisdiction.",
                metavar="PRESET_OR_FILE",
            ),
        ] = None,
        language: Annotated[
            str, typer.Option("--lang", help="en or zh: the explanation's language.")
        ] = "en",
        as_json: Annotated[bool, typer.Option("--json", help="The decision as JSON.")] = False,
    ) -> None:
        """Decide a claim; exit 0 allowed, 3 refused, 4 needs inspection."""
        if language not in _LANGUAGES:
            fail(f"--lang must be one of {', '.join(_LANGUAGES)}", 2)
        try:
            decision = _policy(policy_name)(_read_json(facts, "facts"))
        except AftersalesError as refused:
            fail(refused)
        if as_json:
            typer.echo(decision.model_dump_json())
        else:
            _print_decision(decision, language)
        raise typer.Exit(EXIT_BY_OUTCOME[decision.outcome])


def _add_sla(app: typer.Typer) -> None:
    sla = typer.Typer(
        help="Service levels of tickets.", no_args_is_help=True, rich_markup_mode=None
    )
    app.add_typer(sla, name="sla")

    @sla.command()
    def status(
        reference: Annotated[str, typer.Argument(help="Number or id.", metavar="N|ID")],
        db: Annotated[str, typer.Option("--db", help=DB_HELP, metavar="PATH_OR_URL")],
        policy_file: Annotated[
            str | None,
            typer.Option("--sla", help="An SLA policy (JSON) to measure with.", metavar="FILE"),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
        app_target: AppOption = None,
        tenant: TenantOption = "",
    ) -> None:
        """A ticket's SLA now: each metric's state, due time and business time used."""
        with open_desk(db, "sla", app_target, tenant=tenant) as desk:
            try:
                if policy_file is not None:
                    from aftersales.desk import Desk

                    desk = Desk(desk.store, sla=_read_json(policy_file, "SLA policy"))
                ticket = find_ticket(desk, reference)
                measured = None if desk.sla is None else desk.sla_status(ticket.id)
            except AftersalesError as refused:
                fail(refused)
        if measured is None:
            recorded = {
                name: getattr(ticket, name)
                for name in (
                    "sla_rule",
                    "sla_due_at",
                    "sla_first_response",
                    "first_response_business_seconds",
                    "sla_resolution",
                    "resolution_business_seconds",
                )
            }
            if as_json:
                print_json_lines([{k: _plain(v) for k, v in recorded.items()}])
            else:
                console = Console(highlight=False, markup=False)
                console.print(
                    f"ticket {ticket.display_number}: no SLA policy given (--sla or --app); "
                    "what the ticket records:"
                )
                for name, value in recorded.items():
                    console.print(f"  {name}: {shown(value)}")
            return
        metrics = {metric.value: item for metric, item in measured.metrics.items()}
        if as_json:
            document = {
                "rule": measured.rule,
                "metrics": {
                    name: {
                        "state": item.state.value,
                        "started_at": item.started_at.isoformat(),
                        "due_at": item.due_at.isoformat(),
                        "used_seconds": item.used_seconds,
                        "paused_seconds": item.paused_seconds,
                    }
                    for name, item in metrics.items()
                },
            }
            print_json_lines([document])
            return
        table = Table(title=f"ticket {ticket.display_number}, rule {shown(measured.rule)}")
        for column in ("metric", "state", "due", "used (business s)", "paused (s)"):
            table.add_column(column)
        for name, item in metrics.items():
            table.add_row(
                name,
                item.state.value,
                shown(item.due_at),
                f"{item.used_seconds:.0f}",
                f"{item.paused_seconds:.0f}",
            )
        Console(highlight=False, markup=False).print(table)


def _plain(value: object) -> object:
    """A recorded SLA field as JSON data."""
    if isinstance(value, datetime):
        return value.isoformat()
    return getattr(value, "value", value)  # an enum's value, or the value itself


def add_policy_commands(app: typer.Typer) -> None:
    """Register ``policy`` and ``sla`` on the ``aftersales`` command."""
    _add_policy(app)
    _add_sla(app)
