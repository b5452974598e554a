"""Workflows as validated data over a shared ``transitions`` machine.

``python -m aftersales.workflows ticket`` prints a shipped workflow as a mermaid diagram.
"""

from aftersales.workflows._case_steps import CaseEnvironment
from aftersales.workflows._engine import (
    Effect,
    Guard,
    Move,
    Refusal,
    State,
    Transition,
    TransitionContext,
    Workflow,
)
from aftersales.workflows.complaint import COMPLAINT_WORKFLOW
from aftersales.workflows.exchange import EXCHANGE_WORKFLOW
from aftersales.workflows.refund import REFUND_WORKFLOW
from aftersales.workflows.repair import REPAIR_WORKFLOW
from aftersales.workflows.returns import RETURN_WORKFLOW
from aftersales.workflows.ticket import TICKET_WORKFLOW

SHIPPED: dict[str, Workflow] = {
    w.name: w
    for w in (
        TICKET_WORKFLOW,
        RETURN_WORKFLOW,
        EXCHANGE_WORKFLOW,
        REFUND_WORKFLOW,
        REPAIR_WORKFLOW,
        COMPLAINT_WORKFLOW,
    )
}
"""Every workflow the library ships, by name."""


def to_mermaid(workflow: Workflow | str) -> str:
    """A mermaid diagram of ``workflow`` (a Workflow or the name of a shipped one)."""
    if isinstance(workflow, str):
        from aftersales.exceptions import FieldError, InvalidInput

        if workflow not in SHIPPED:
            shipped = ", ".join(sorted(SHIPPED))
            raise InvalidInput(
                "workflow",
                [
                    FieldError(
                        ("workflow",), f"no shipped workflow {workflow!r}; shipped: {shipped}"
                    )
                ],
            )
        workflow = SHIPPED[workflow]
    return workflow.to_mermaid()


__all__ = [
    "COMPLAINT_WORKFLOW",
    "EXCHANGE_WORKFLOW",
    "REFUND_WORKFLOW",
    "REPAIR_WORKFLOW",
    "RETURN_WORKFLOW",
    "SHIPPED",
    "TICKET_WORKFLOW",
    "CaseEnvironment",
    "Effect",
    "Guard",
    "Move",
    "Refusal",
    "State",
    "Transition",
    "TransitionContext",
    "Workflow",
    "to_mermaid",
]
