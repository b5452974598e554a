"""Regenerate docs/reference/ticket-workflow.md and policy-schema.json from the code.

Run: python docs/generate_reference.py   (tests/test_docs.py fails when the page is stale)
"""

from __future__ import annotations

import json
from pathlib import Path

from aftersales.policies import PolicySet
from aftersales.workflows import TICKET_WORKFLOW

PAGE = Path(__file__).parent / "reference" / "ticket-workflow.md"
SCHEMA = Path(__file__).parent / "reference" / "policy-schema.json"

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

A priority left out of `classify` follows the severity (critical → urgent, high → high,
medium → normal, low → low). `reopen` is allowed within `reopen_within_days` (7 by default)
of the resolution; later, `Desk.reopen()` opens a follow-up ticket linked by
`follow_up_of`. `auto_close` is fired by `Desk.run_due()` for resolved tickets the customer
has not confirmed within `auto_close_after_days` (7 by default).
"""


def render() -> str:
    """The page's text, generated from ``TICKET_WORKFLOW``."""
    workflow = TICKET_WORKFLOW
    states = "\n".join(
        f"| `{s.name}` | {s.category.value} | {'yes' if s.is_final else ''} | {s.description} |"
        for s in workflow.states
    )
    transitions = "\n".join(
        f"| `{t.trigger}` | {', '.join(f'`{source}`' for source in t.source)} | `{t.dest}` "
        f"| {', '.join(t.guards)} | {', '.join(t.effects)} |"
        for t in workflow.transitions
    )
    return TEMPLATE.format(mermaid=workflow.to_mermaid(), states=states, transitions=transitions)


def render_schema() -> str:
    """The JSON Schema of a policy set, as the file editors use."""
    return json.dumps(PolicySet.json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    PAGE.write_text(render(), encoding="utf-8")
    SCHEMA.write_text(render_schema(), encoding="utf-8")
