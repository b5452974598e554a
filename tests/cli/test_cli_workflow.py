"""``aftersales workflow --format mermaid|svg|png --output FILE``: mermaid always; SVG and
PNG through Graphviz's ``dot`` when it is on PATH, a clear refusal when it is not."""

from __future__ import annotations

import shutil
import stat
import sys
from pathlib import Path

import pytest
from cli_helpers import run

from aftersales.cli._workflow import WORKFLOWS, to_dot
from aftersales.workflows import TICKET_WORKFLOW


def test_mermaid_goes_to_a_file_with_output(tmp_path: Path) -> None:
    target = tmp_path / "ticket.mmd"
    ran = run("workflow", "ticket", "--output", str(target))
    assert (ran.code, ran.out, ran.err) == (0, "", f"wrote {target}\n")
    assert target.read_text() == TICKET_WORKFLOW.to_mermaid()


@pytest.mark.usefixtures("no_dot_on_path")
@pytest.mark.parametrize("diagram_format", ["svg", "png"])
def test_without_graphviz_svg_and_png_are_refused_saying_what_to_install(
    tmp_path: Path, diagram_format: str
) -> None:
    target = tmp_path / f"ticket.{diagram_format}"
    ran = run("workflow", "ticket", "--format", diagram_format, "-o", str(target))
    assert (ran.code, ran.out) == (1, "")
    assert ran.err.startswith(f"error: drawing {diagram_format} needs Graphviz's dot program")
    assert "apt install graphviz" in ran.err
    assert not target.exists()


def test_an_unknown_format_or_workflow_is_a_usage_error() -> None:
    fmt = run("workflow", "ticket", "--format", "gif")
    assert (fmt.code, fmt.out) == (2, "")
    assert "Invalid value for '--format'" in fmt.err
    name = run("workflow", "nope", "--format", "svg")
    assert (name.code, name.out) == (2, "")


def _fake_dot(folder: Path, body: str) -> None:
    """A ``dot`` on PATH that runs ``body`` (Python) with the DOT text on stdin."""
    folder.mkdir()
    script = folder / "dot"
    script.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_svg_is_what_dot_draws_from_the_workflows_dot_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a stand-in for dot that answers with its format and the DOT text it was given
    _fake_dot(
        tmp_path / "bin",
        "sys.stdout.write('<svg format=' + sys.argv[1] + '>' + sys.stdin.read() + '</svg>')",
    )
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    target = tmp_path / "ticket.svg"
    ran = run("workflow", "ticket", "--format", "svg", "-o", str(target))
    assert ran.code == 0, ran.err
    assert target.read_text() == f"<svg format=-Tsvg>{to_dot(TICKET_WORKFLOW)}</svg>"
    stdout = run("workflow", "ticket", "--format", "svg")
    assert stdout.out == f"<svg format=-Tsvg>{to_dot(TICKET_WORKFLOW)}</svg>"


def test_a_failing_dot_is_reported_with_what_it_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_dot(tmp_path / "bin", "sys.stderr.write('syntax error in line 1'); sys.exit(3)")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    ran = run("workflow", "ticket", "--format", "png", "-o", str(tmp_path / "t.png"))
    assert (ran.code, ran.out) == (1, "")
    assert ran.err == "error: dot failed (exit 3): syntax error in line 1\n"


def test_the_dot_text_has_every_state_and_transition() -> None:
    text = to_dot(TICKET_WORKFLOW)
    assert text.startswith('digraph "ticket" {')
    for state in TICKET_WORKFLOW.states:
        assert f'"{state.name}" [fillcolor=' in text
    for transition in TICKET_WORKFLOW.transitions:
        for source in transition.source:
            assert f'"{source}" -> "{transition.dest}"' in text
    assert f'"[*]" -> "{TICKET_WORKFLOW.initial}"' in text


def test_writing_to_a_folder_that_does_not_exist_fails(tmp_path: Path) -> None:
    ran = run("workflow", "ticket", "-o", str(tmp_path / "no" / "t.mmd"))
    assert (ran.code, ran.out) == (1, "")
    assert "cannot write" in ran.err


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_graphviz_draws_every_shipped_workflow(tmp_path: Path, name: str) -> None:
    svg = tmp_path / f"{name}.svg"
    assert run("workflow", name, "--format", "svg", "-o", str(svg)).code == 0
    assert "<svg" in svg.read_text()
    png = tmp_path / f"{name}.png"
    assert run("workflow", name, "--format", "png", "-o", str(png)).code == 0
    assert png.read_bytes().startswith(b"\x89PNG")


def test_a_dot_that_cannot_run_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "dot"
    script.write_text("#!/no/such/interpreter\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(folder))
    ran = run("workflow", "ticket", "--format", "svg")
    assert (ran.code, ran.out) == (1, "")
    assert ran.err.startswith("error: dot failed: ")
