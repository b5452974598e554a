"""``aftersales workflow``: a shipped workflow as a mermaid state diagram, or drawn as SVG
or PNG by Graphviz.

Mermaid needs nothing. SVG and PNG are drawn by Graphviz's ``dot`` program, which must
be on ``PATH`` (``apt install graphviz``, ``brew install graphviz``,
``choco install graphviz``; the ``graphviz`` Python package alone is not enough: it
calls the same program).

Exit codes: 0 printed or written; 1 ``dot`` is not installed, failed, or the output
cannot be written; 2 a usage error (no such workflow, a format outside mermaid, svg and
png).
"""

from __future__ import annotations

import shutil
import subprocess
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from aftersales.cases import KINDS
from aftersales.cli._common import EXIT_USAGE, fail
from aftersales.models import StatusCategory
from aftersales.workflows import SHIPPED, Workflow, to_mermaid

__all__ = ["WORKFLOWS", "DiagramFormat", "add_workflow_command", "to_dot"]

WORKFLOWS: dict[str, Workflow] = {
    **SHIPPED,
    **{spec.workflow.name: spec.workflow for spec in KINDS},
}
"""The ticket's workflow and every shipped case kind's, on-site visits included."""

NO_RENDERER = (
    "drawing {format} needs Graphviz's dot program on PATH: install Graphviz "
    "(apt install graphviz, brew install graphviz or choco install graphviz), "
    "or use --format mermaid"
)

_FILL = {
    StatusCategory.NEW: "#e3f2fd",
    StatusCategory.OPEN: "#fff8e1",
    StatusCategory.WAITING_ON_CUSTOMER: "#f3e5f5",
    StatusCategory.WAITING_ON_THIRD_PARTY: "#ede7f6",
    StatusCategory.RESOLVED: "#e8f5e9",
    StatusCategory.CLOSED: "#eeeeee",
}
"""A state's fill by its category, as the mermaid diagram's classes colour them."""


class DiagramFormat(str, Enum):
    """What ``aftersales workflow`` prints or writes."""

    MERMAID = "mermaid"
    SVG = "svg"
    PNG = "png"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(workflow: Workflow) -> str:
    """``workflow`` in Graphviz's DOT language: the same states, transitions and guards as
    its mermaid diagram, states filled by category, final states double-circled."""
    lines = [
        f"digraph {_quoted(workflow.name)} {{",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
        '  "[*]" [shape=point, width=0.2];',
        f'  "[*]" -> {_quoted(workflow.initial)};',
    ]
    for state in workflow.states:
        shape = ", peripheries=2" if state.is_final else ""
        lines.append(
            f"  {_quoted(state.name)} [fillcolor={_quoted(_FILL[state.category])}{shape}];"
        )
    for transition in workflow.transitions:
        label = transition.trigger
        if transition.guards:
            label += " [" + ", ".join(transition.guards) + "]"
        lines.extend(
            f"  {_quoted(source)} -> {_quoted(transition.dest)} [label={_quoted(label)}];"
            for source in transition.source
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(workflow: Workflow, diagram_format: DiagramFormat) -> bytes:
    """``workflow`` drawn by ``dot`` as SVG or PNG; RuntimeError saying what to install
    when ``dot`` is not on PATH, or what it said when it failed."""
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(NO_RENDERER.format(format=diagram_format.value))
    try:
        done = subprocess.run(
            [dot, f"-T{diagram_format.value}"],
            input=to_dot(workflow).encode(),
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"dot failed: {error}") from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"dot failed (exit {done.returncode}): {said}")
    return done.stdout


def add_workflow_command(app: typer.Typer) -> None:
    """Register ``aftersales workflow``."""

    @app.command()
    def workflow(
        name: Annotated[
            str, typer.Argument(help=f"One of: {', '.join(sorted(WORKFLOWS))}", metavar="NAME")
        ] = "ticket",
        diagram_format: Annotated[
            DiagramFormat,
            typer.Option(
                "--format",
                help="mermaid (text), or svg or png drawn by Graphviz's dot.",
            ),
        ] = DiagramFormat.MERMAID,
        output: Annotated[
            Path | None,
            typer.Option(
                "--output", "-o", help="The file to write; stdout without.", metavar="FILE"
            ),
        ] = None,
    ) -> None:
        """Print a shipped workflow as a mermaid state diagram, or draw it as SVG or PNG."""
        if name not in WORKFLOWS:
            fail(
                f"no shipped workflow {name!r}; one of: {', '.join(sorted(WORKFLOWS))}", EXIT_USAGE
            )
        chosen = WORKFLOWS[name]
        if diagram_format is DiagramFormat.MERMAID:
            content = to_mermaid(chosen).encode()
        else:
            try:
                content = render(chosen, diagram_format)
            except RuntimeError as refused:
                fail(refused)
        if output is None:
            typer.echo(content, nl=False)
            return
        try:
            output.write_bytes(content)
        except OSError as error:
            fail(f"cannot write {output}: {error.strerror}")
        typer.echo(f"wrote {output}", err=True)
