"""Regenerate docs/reference/ticket-workflow.md, aftersales-workflows.md and
policy-schema.json from the code.

Run: python docs/generate_reference.py   (tests/test_docs.py fails when the page is stale)
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from aftersales.cases import KINDS, CaseKindSpec
from aftersales.policies import PolicySet
from aftersales.workflows import TICKET_WORKFLOW, Workflow

PAGE = Path(__file__).parent / "reference" / "ticket-workflow.md"
SCHEMA = Path(__file__).parent / "reference" / "policy-schema.json"
CASES_PAGE = Path(__file__).parent / "reference" / "aftersales-workflows.md"
CASE_WORKFLOWS = tuple(spec.workflow for spec in KINDS)
"""The workflow of every case kind the desk registers by default, in registry order."""

TEMPLATE = """# The ticket workflow

The shipped ticket lifecycle (seeds S1). The diagram and the tables below are generated
from the definition (`python docs/generate_reference.py`; `python -m aftersales.workflows
ticket` prints the diagram alone); a test fails if this page and the definition disagree.

```mermaid
{mermaid}```

## States

| state | status category | final | meaning |
|---|---|---|---|
{states}

## Transitions

| trigger | from | to | guards | effects |
|---|---|---|---|---|
{transitions}

## Payloads

| trigger | payload |
|---|---|
| `classify` | `category`, `severity` (critical, high, medium, low), optional `priority` |
| `assign` | `assignee`, optional `team` |
| `resolve` | `resolution` |
| `follow_up` | optional `satisfaction` (1-5), optional `note` |
| `escalate` | `reason`, optional `assignee`, `team` |
| `reopen`, `cancel` | `reason` |
| `merge` | `into`: the id of the ticket this one duplicates |
| every other trigger | optional `note` |

A priority left out of `classify` follows the severity through
`DeskSettings.priority_for_severity` (by default critical → urgent, high → high, medium →
normal, low → low); the category must be one of `Desk.categories`. `reopen` is allowed
within `reopen_within_days` (7 by default) of the resolution; later, `Desk.reopen()` opens a
follow-up ticket linked by `follow_up_of`. `auto_close` is fired by `Desk.run_due()` for
resolved tickets the customer has not confirmed within `auto_close_after_days` (7 by
default), and for tickets left waiting on the customer for `customer_wait_days` when
`customer_wait_action` is `"close"` (off by default). A customer's public reply fires
`resume` on a ticket waiting on them. `close`, `auto_close` and `cancel` are refused while
child tickets are open unless `close_parent_with_open_children`.
"""


def _tables(workflow: Workflow) -> tuple[str, str]:
    states = "\n".join(
        f"| `{s.name}` | {s.category.value} | {'yes' if s.is_final else ''} | {s.description} |"
        for s in workflow.states
    )
    transitions = "\n".join(
        f"| `{t.trigger}` | {', '.join(f'`{source}`' for source in t.source)} | `{t.dest}` "
        f"| {', '.join(t.guards)} | {', '.join(t.effects)} |"
        for t in workflow.transitions
    )
    return states, transitions


def render() -> str:
    """The page's text, generated from ``TICKET_WORKFLOW``."""
    states, transitions = _tables(TICKET_WORKFLOW)
    return TEMPLATE.format(
        mermaid=TICKET_WORKFLOW.to_mermaid(), states=states, transitions=transitions
    )


def render_cases() -> str:
    """The after-sales workflows page, generated from their definitions."""
    parts = [
        "# The after-sales workflows\n\n"
        "Returns, exchanges, refunds, warranty repairs, complaints (seeds S3-S6) and on-site\n"
        "service visits, each a validated definition run by `desk.cases` for the case kind\n"
        "of that name. Generated from the registry of case kinds and their definitions\n"
        "(`python docs/generate_reference.py`); a test fails if this page is stale.\n"
    ]
    for spec in KINDS:
        workflow = spec.workflow
        states, transitions = _tables(workflow)
        doc = _module_doc(spec).strip()
        parts.append(
            f"\n## `{workflow.name}`\n\n{doc}\n\n```mermaid\n{workflow.to_mermaid()}```\n\n"
            "| state | status category | final | meaning |\n|---|---|---|---|\n"
            f"{states}\n\n"
            "| trigger | from | to | guards | effects |\n|---|---|---|---|---|\n"
            f"{transitions}\n"
        )
    return "".join(parts)


def _module_doc(spec: CaseKindSpec) -> str:
    """The docstring of the module that defines the kind's workflow (a module of
    ``aftersales.workflows``), else of the kind's own module."""
    for name, module in sorted(sys.modules.items()):
        if name.startswith("aftersales.workflows.") and any(
            value is spec.workflow for value in vars(module).values()
        ):
            return module.__doc__ or ""
    opener = spec.opener
    home = opener.__module__ if opener is not None else "aftersales.cases"
    return importlib.import_module(home).__doc__ or ""


def render_schema() -> str:
    """The JSON Schema of a policy set, as the file editors use."""
    return json.dumps(PolicySet.json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    PAGE.write_text(render(), encoding="utf-8")
    SCHEMA.write_text(render_schema(), encoding="utf-8")
    CASES_PAGE.write_text(render_cases(), encoding="utf-8")
