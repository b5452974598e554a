"""The complaint kind: received, acknowledged within its time limit, investigated, a
proposal the customer accepts, or an escalation to the supervisor of the ticket's team,
who signs off. The workflow is :data:`~aftersales.workflows.COMPLAINT_WORKFLOW`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aftersales._validation import parse
from aftersales.cases._spec import CaseKindSpec, StepLimit
from aftersales.models.case import Case, CaseKind, ComplaintDetails
from aftersales.models.ticket import Severity
from aftersales.policies.decision import Decision
from aftersales.workflows import CaseEnvironment
from aftersales.workflows.complaint import COMPLAINT_WORKFLOW

if TYPE_CHECKING:
    from aftersales.cases._writer import CaseWriter

__all__ = ["COMPLAINT", "open_complaint"]


def open_complaint(
    cases: CaseWriter,
    ticket_id: str,
    *,
    summary: str,
    severity: Severity | str = Severity.MEDIUM,
    order_id: str | None = None,
    actor: str = "system",
) -> Case:
    """Record a complaint (see :meth:`aftersales.CaseDesk.open_complaint`)."""
    ticket = cases._ticket(ticket_id)
    complaint = parse(ComplaintDetails, {"summary": summary, "severity": severity}, "complaint")
    case, change = cases._new(
        CaseKind.COMPLAINT, ticket, actor, order_id=order_id, complaint=complaint
    )
    cases._commit([change])
    return case


def _environment(
    cases: CaseWriter, case: Case, trigger: str, decision: Decision | None
) -> CaseEnvironment:
    """What a complaint's step sees; to escalate, the supervisor of the ticket's team."""
    services = cases.services
    router = services.router
    if trigger != "escalate" or router is None:
        return CaseEnvironment(services.settings, decision)
    team = cases._ticket(case.ticket_id).team or router.config.default_team
    supervisors = tuple(t.supervisor for t in router.config.teams if t.id == team and t.supervisor)
    return CaseEnvironment(services.settings, decision, supervisors, team)


COMPLAINT = CaseKindSpec(
    "complaint",
    COMPLAINT_WORKFLOW,
    step_limits={
        "received": StepLimit(hours=24),
        "investigating": StepLimit(hours=7 * 24),
    },
    opener=open_complaint,
    environment=_environment,
)
"""The complaint kind."""

KIND = COMPLAINT
"""What :data:`aftersales.cases.KINDS` registers from this module."""
