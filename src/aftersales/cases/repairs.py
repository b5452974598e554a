"""The warranty repair kind: a claim on one product's serial number, assessed by the
policy with every earlier repair of that serial, repaired in or out of the warranty, or
replaced or refunded when the decision offers that instead of another repair.
``choose_refund`` opens the linked return that takes the product back for the refund and
the repair waits in ``refunding`` until that return closes. The workflow is
:data:`~aftersales.workflows.REPAIR_WORKFLOW`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aftersales._validation import parse
from aftersales.cases._goods import ClaimLine, case_line
from aftersales.cases._orders import bad
from aftersales.cases._records import check_text
from aftersales.cases._spec import CaseKindSpec, Opens, StepLimit
from aftersales.cases.returns import return_for
from aftersales.models.case import Case, CaseKind, RepairDetails, RepairSite
from aftersales.models.events import ASSESSED
from aftersales.policies.facts import Facts, RepairRecord
from aftersales.storage import CaseChange, CaseQuery, every_case
from aftersales.workflows.repair import REPAIR_WORKFLOW, offers_instead_of_repair

if TYPE_CHECKING:
    from aftersales.cases._writer import CaseWriter

__all__ = ["REPAIR", "assess_repair", "open_repair", "repair_history"]


def open_repair(
    cases: CaseWriter,
    ticket_id: str,
    *,
    serial: str,
    line: ClaimLine | Mapping[str, Any],
    order_id: str | None = None,
    site: RepairSite | str = RepairSite.DEPOT,
    actor: str = "system",
    assess: bool = True,
) -> Case:
    """Open a warranty repair (see :meth:`aftersales.CaseDesk.open_repair`)."""
    ticket = cases._ticket(ticket_id)
    claim = parse(ClaimLine, line, "claim line")
    repair = parse(RepairDetails, {"serial": serial, "site": site}, "repair")
    case, change = cases._new(
        CaseKind.REPAIR,
        ticket,
        actor,
        order_id=order_id,
        repair=repair,
        lines=(case_line(claim),),
    )
    if not assess:
        cases._commit([change])
        return case
    return _assess(cases, case, actor, created=change)


def repair_history(cases: CaseWriter, serial: str) -> list[RepairRecord]:
    """Every repair of the product with this serial number, oldest first."""
    query = parse(CaseQuery, {"serial": serial}, "case query")
    found = every_case(cases.services.store, query)
    return [r for case in found if case.repair for r in case.repair.records]


def assess_repair(cases: CaseWriter, case_id: str, *, actor: str = "system") -> Case:
    """Assess a claimed repair (see :meth:`aftersales.CaseDesk.assess_repair`)."""
    actor = check_text("actor", actor)
    case = cases.services.store.get_case(check_text("case_id", case_id))
    if case.kind is not CaseKind.REPAIR or not case.lines or case.lines[0].facts is None:
        raise bad("repair", ("case_id",), "is not a repair case with facts")
    if case.status != "claimed":
        raise bad("repair", ("case_id",), f"is {case.status}, not claimed")
    return _assess(cases, case, actor)


def _assess(cases: CaseWriter, case: Case, actor: str, created: CaseChange | None = None) -> Case:
    facts = case.lines[0].facts
    assert facts is not None
    history = repair_history(cases, case.serial or "")
    decision = cases._decide(_facts_now(cases, facts, history))
    if offers_instead_of_repair(decision):
        trigger = "offer_replacement"
    elif decision.allowed:
        trigger = "accept_claim"
    else:  # outside the warranty: keep the decision; the shop may quote a paid repair
        first = case.lines[0].model_copy(update={"decision": decision})
        repair = case.repair.model_copy(update={"in_warranty": False}) if case.repair else None
        updates = {"lines": (first, *case.lines[1:]), "repair": repair}
        now = case.updated_at if created is not None else cases.services.now()
        change = cases._change(case, ASSESSED, actor, now, updates, {}, created=created)
        cases._commit([change])
        return change.case
    return cases._transition(case, trigger, actor, None, decision, created=created)


def _facts_now(cases: CaseWriter, facts: Facts, repairs: Sequence[RepairRecord]) -> Facts:
    now = cases.services.now()
    claim = facts.claim.model_copy(update={"at": max(now, facts.claim.at)})
    return facts.model_copy(update={"claim": claim, "repairs": tuple(repairs)})


REPAIR = CaseKindSpec(
    "repair",
    REPAIR_WORKFLOW,
    step_limits={
        "claimed": StepLimit(hours=48),
        "quoted": StepLimit(hours=7 * 24, action="remind"),
        "diagnosed": StepLimit(hours=72),
        "waiting_for_parts": StepLimit(hours=90 * 24, action="parts_wait_exceeded"),
    },
    restarts=frozenset({"remind"}),
    cascades={"choose_refund": Opens("return", return_for, link="return_case_id")},
    waiting=frozenset({"refunding"}),
    opener=open_repair,
)
"""The repair kind."""

KIND = REPAIR
"""What :data:`aftersales.cases.KINDS` registers from this module."""
