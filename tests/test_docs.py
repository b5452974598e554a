"""The documentation's code runs, and generated pages match what they are generated from."""

from __future__ import annotations

import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
CLASSIFY_CATEGORY = re.compile(
    r"""classify\((?:[^()]|\([^()]*\))*?category=["']([^"']*)["']"""
    r"""|["']classify["'],\s*payload=\{["']category["']:\s*["']([^"']*)["']""",
    re.DOTALL,
)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_python_block_of_a_page_runs_in_order(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = PYTHON_BLOCK.findall(page.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for number, block in enumerate(blocks, start=1):
        code = compile(block, f"{page.name} block {number}", "exec")
        exec(code, namespace)  # running our own documentation is the point
    capsys.readouterr()


def test_docs_examples_and_the_demo_classify_with_the_classifiers_categories() -> None:
    from aftersales.routing import CATEGORIES

    sources = [*PAGES, *EXAMPLES, ROOT / "src" / "aftersales" / "demo.py"]
    used = set()
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for match in CLASSIFY_CATEGORY.finditer(text):
            line_start = text.rfind("\n", 0, match.start())
            previous_line = text[:line_start].rstrip().rsplit("\n", 1)[-1].strip()
            if previous_line != "try:":  # a call right after try: shows a refusal on purpose
                used.add((str(path.relative_to(ROOT)), match[1] or match[2]))
    assert len(used) >= 8, used  # the pattern still finds the calls
    assert sorted(used) == sorted((path, name) for path, name in used if name in CATEGORIES)


def test_the_ticket_workflow_page_is_up_to_date() -> None:
    generator = runpy.run_path(str(ROOT / "docs" / "generate_reference.py"))
    page = ROOT / "docs" / "reference" / "ticket-workflow.md"
    assert page.read_text(encoding="utf-8") == generator["render"](), (
        "run: python docs/generate_reference.py"
    )


def test_the_exported_policy_schema_is_up_to_date() -> None:
    generator = runpy.run_path(str(ROOT / "docs" / "generate_reference.py"))
    schema = ROOT / "docs" / "reference" / "policy-schema.json"
    assert schema.read_text(encoding="utf-8") == generator["render_schema"](), (
        "run: python docs/generate_reference.py"
    )


def test_the_changelog_has_an_entry_for_this_version() -> None:
    import aftersales

    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {aftersales.__version__}" in changelog


def test_the_docs_build_without_warnings() -> None:
    # Zensical builds into site/ beside mkdocs.yml (ignored by git): it cannot take a
    # site or docs directory outside the project yet.
    zensical = shutil.which("zensical") or str(Path(sys.prefix) / "bin" / "zensical")
    done = subprocess.run(
        [zensical, "build", "--strict", "--clean"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_aftersales_workflows_page_matches_the_definitions() -> None:
    generator = runpy.run_path(str(ROOT / "docs" / "generate_reference.py"))
    page = ROOT / "docs" / "reference" / "aftersales-workflows.md"
    assert page.read_text(encoding="utf-8") == generator["render_cases"](), (
        "run: python docs/generate_reference.py"
    )
