"""The warranty repair workflow, from the claim to the device back with its owner.

The desk asks the policy on :meth:`~aftersales.Desk.assess_repair` with every repair
record of the product's serial number, so repair days extend the warranty and failed
repairs count. Inside the warranty the claim is accepted; outside it the shop quotes a
paid repair (only with a decision that says so) that the customer accepts or declines
(and is reminded about while it waits). When the decision offers a replacement or a
refund instead of another repair (after the policy's number of failed repairs, a serious
fault that failed twice under China's car rules, a parts wait past its limit), a repair
is refused and the workflow offers what the decision names: ``accept_replacement``, or
``choose_refund``, which opens a linked return that takes the goods back for the refund
and closes the repair when it closes. A replacement keeps every repair record and adds
its own, dated the day it is handed over. Waiting for parts is a paused sub-state of
repairing; a failed quality check sends the device back to repairing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models._base import Instant, ShortText, Text
from aftersales.models.case import Case, RepairDetails, RepairSite
from aftersales.models.order import Money
from aftersales.policies.decision import Decision, Outcome, Remedy
from aftersales.policies.facts import RepairOutcome, RepairRecord
from aftersales.workflows._case_steps import (
    CaseEnvironment,
    Payload,
    ReasonInput,
    policy_refusal,
    record_reason,
)
from aftersales.workflows._engine import Refusal, State, Transition, TransitionContext, Workflow

REPLACEMENT_CODES = frozenset({"failed_repairs", "parts_wait", "repairer_delay"})
"""Reason codes with which a policy turns a repair into a replacement."""

_INSTEAD_OF_REPAIR = frozenset({Remedy.REPLACEMENT, Remedy.REFUND})
_CONTEXT_CODES = frozenset(
    {"in_warranty", "within_window", "tier", "burden_on_seller", "burden_on_consumer"}
)
"""Reasons that say where a claim falls rather than why it gets a remedy."""


def offers_instead_of_repair(decision: Decision) -> bool:
    """Whether an allowing decision offers a replacement or a refund instead of another
    repair: a reason in :data:`REPLACEMENT_CODES`, or remedies that name a replacement or
    a refund but no repair (三包 after failed repairs, China's car rules art. 24, the EU
    and UK rules once a repair has failed)."""
    if not decision.allowed:
        return False
    if REPLACEMENT_CODES.intersection(decision.codes):
        return True
    remedies = decision.remedies
    return Remedy.REPAIR not in remedies and not _INSTEAD_OF_REPAIR.isdisjoint(remedies)


class QuoteInput(Payload):
    """The price of a repair outside the warranty."""

    amount: Money


class HandInput(Payload):
    """When the device changed hands (default: now) and, on hand-in, where it is repaired."""

    at: Instant | None = None
    site: RepairSite | None = None


class DiagnoseInput(Payload):
    """What is wrong with the device."""

    diagnosis: Text


class PartsInput(Payload):
    """The part the repair waits for."""

    part: ShortText


def _case(context: TransitionContext) -> Case:
    case: Case = context.subject
    return case


def _repair(context: TransitionContext) -> RepairDetails:
    repair = _case(context).repair
    assert repair is not None
    return repair


def _decision(context: TransitionContext) -> Decision | None:
    environment = context.settings
    if isinstance(environment, CaseEnvironment) and environment.decision is not None:
        return environment.decision
    lines = _case(context).lines
    return lines[0].decision if lines else None


def _no_decision() -> Refusal:
    return Refusal(
        "no_decision", "the repair has not been assessed by the policy", "维修申请尚未经政策判定"
    )


def _remedy_names(decision: Decision) -> str:
    return " or ".join(remedy.value for remedy in decision.remedies) or "no remedy"


def _covered(context: TransitionContext) -> Refusal | None:
    """A covered repair the decision allows as a repair (not one it replaces)."""
    decision = _decision(context)
    if decision is None:
        return _no_decision()
    if decision.outcome is Outcome.REFUSED:
        return policy_refusal(decision)
    if offers_instead_of_repair(decision):
        return Refusal(
            "repair_not_offered",
            f"the policy offers {_remedy_names(decision)} instead of another repair",
            "政策规定应换货或退货，不再维修",
            {"codes": list(decision.codes), "remedies": [r.value for r in decision.remedies]},
        )
    return None


def _not_covered(context: TransitionContext) -> Refusal | None:
    """Only a decision that the repair is not covered allows a paid quote: without one
    (a repair opened with ``assess=False``) the claim may well be inside the warranty."""
    decision = _decision(context)
    if decision is None:
        return _no_decision()
    if decision.outcome is not Outcome.REFUSED:
        return Refusal(
            "in_warranty",
            "the repair is covered by the warranty: accept the claim instead of quoting",
            "在保修范围内：应受理而非报价",
            {"codes": list(decision.codes)},
        )
    return None


def _replacement_due(context: TransitionContext) -> Refusal | None:
    decision = _decision(context)
    if decision is None:
        return _no_decision()
    if not offers_instead_of_repair(decision):
        return Refusal(
            "replacement_not_due",
            "the policy offers neither a replacement nor a refund instead of this repair",
            "政策不支持换货或退货",
            {"codes": list(decision.codes)},
        )
    return None


def _replacement_offered(context: TransitionContext) -> Refusal | None:
    """The decision names a replacement among its remedies (or the parts wait passed)."""
    decision = _decision(context)
    if _repair(context).replacement_reason == "parts_wait" or (
        decision is not None and decision.allowed and Remedy.REPLACEMENT in decision.remedies
    ):
        return None
    return Refusal(
        "replacement_not_offered",
        "the policy does not offer a replacement: "
        + (_remedy_names(decision) if decision is not None else "no decision"),
        "政策不支持换货",
        {"remedies": [] if decision is None else [r.value for r in decision.remedies]},
    )


def _refund_offered(context: TransitionContext) -> Refusal | None:
    """The decision names a refund (a return of the goods) among its remedies."""
    decision = _decision(context)
    if decision is not None and decision.allowed and Remedy.REFUND in decision.remedies:
        return None
    return Refusal(
        "refund_not_offered",
        "the policy does not offer a return for a refund: "
        + (_remedy_names(decision) if decision is not None else "no decision"),
        "政策不支持退货",
        {"remedies": [] if decision is None else [r.value for r in decision.remedies]},
    )


def _keep_decision(context: TransitionContext, **repair: Any) -> dict[str, Any]:
    case = _case(context)
    decision = _decision(context)
    updates: dict[str, Any] = {"repair": _repair(context).model_copy(update=repair)}
    if decision is not None and case.lines:
        first = case.lines[0].model_copy(update={"decision": decision})
        updates["lines"] = (first, *case.lines[1:])
    return updates


def _accepted(context: TransitionContext) -> Mapping[str, Any]:
    return _keep_decision(context, in_warranty=True)


def _offer(context: TransitionContext) -> Mapping[str, Any]:
    decision = _decision(context)
    assert decision is not None
    code = next((c for c in decision.codes if c in REPLACEMENT_CODES), None)
    if code is None:  # the reason that allows, not the window it falls in
        code = next(
            (r.code for r in decision.reasons if r.permits and r.code not in _CONTEXT_CODES),
            "policy",
        )
    return _keep_decision(context, in_warranty=True, replacement_reason=code)


def _quoted(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, QuoteInput)
    return _keep_decision(context, in_warranty=False, quote=payload.amount)


def _repair_update(context: TransitionContext, **update: Any) -> Mapping[str, Any]:
    return {"repair": _repair(context).model_copy(update=update)}


def _quote_accepted(context: TransitionContext) -> Mapping[str, Any]:
    return _repair_update(context, quote_accepted=True)


def _quote_declined(context: TransitionContext) -> Mapping[str, Any]:
    return _repair_update(context, quote_accepted=False)


def _reminded(context: TransitionContext) -> Mapping[str, Any]:
    return _repair_update(context, reminders=_repair(context).reminders + 1)


def _handed_in(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, HandInput)
    repair = _repair(context)
    at = payload.at or context.now
    record = RepairRecord(handed_in_at=at, outcome=RepairOutcome.IN_REPAIR)
    return _repair_update(
        context, records=(*repair.records, record), site=payload.site or repair.site
    )


def _diagnosed(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, DiagnoseInput)
    return _repair_update(context, diagnosis=payload.diagnosis)


def _waiting(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, PartsInput)
    return _repair_update(context, waiting_for=payload.part, waiting_since=context.now)


def _current(repair: RepairDetails) -> RepairRecord:
    return repair.records[-1]


def _with_current(repair: RepairDetails, **update: Any) -> tuple[RepairRecord, ...]:
    return (*repair.records[:-1], _current(repair).model_copy(update=update))


def _parts_arrived(context: TransitionContext) -> Mapping[str, Any]:
    repair = _repair(context)
    since: datetime = repair.waiting_since or context.now
    days = _current(repair).waiting_for_parts_days + (context.now - since).days
    return _repair_update(
        context,
        records=_with_current(repair, waiting_for_parts_days=days, part=repair.waiting_for),
        waiting_for=None,
        waiting_since=None,
    )


def _qc_failed(context: TransitionContext) -> Mapping[str, Any]:
    return _repair_update(context, qc_failures=_repair(context).qc_failures + 1)


def _handed_back(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, HandInput)
    repair = _repair(context)
    at = payload.at or context.now
    handed_in = _current(repair).handed_in_at
    if at < handed_in:
        raise InvalidInput(
            "hand_back payload",
            [FieldError(("at",), f"is before the hand-in at {handed_in.isoformat()}")],
        )
    return _repair_update(
        context, records=_with_current(repair, handed_back_at=at, outcome=RepairOutcome.FIXED)
    )


def _failed_again(context: TransitionContext) -> Mapping[str, Any]:
    repair = _repair(context)
    updates = dict(record_reason(context))
    updates.update(
        _repair_update(context, records=_with_current(repair, outcome=RepairOutcome.FAILED))
    )
    return updates


def _parts_wait_exceeded(context: TransitionContext) -> Mapping[str, Any]:
    updates = dict(_parts_arrived(context))
    updates["repair"] = updates["repair"].model_copy(update={"replacement_reason": "parts_wait"})
    return updates


def _replaced(context: TransitionContext) -> Mapping[str, Any]:
    """A record of its own for the replacement, on the day it is handed over: the records
    of the repairs before it stay as they were, and a warranty that restarts after a
    replacement (三包) counts from this day."""
    payload = context.payload
    repair = _repair(context)
    at = (payload.at if isinstance(payload, HandInput) else None) or context.now
    if repair.records:
        last = repair.records[-1]
        latest = last.handed_back_at or last.handed_in_at
        if at < latest:
            raise InvalidInput(
                "accept_replacement payload",
                [FieldError(("at",), f"is before the last repair's {latest.isoformat()}")],
            )
    records = repair.records
    if records and records[-1].outcome is RepairOutcome.IN_REPAIR:
        # replaced while still in repair (the parts never came): that repair ends today
        records = _with_current(repair, outcome=RepairOutcome.FAILED, handed_back_at=at)
    record = RepairRecord(handed_in_at=at, handed_back_at=at, outcome=RepairOutcome.REPLACED)
    return _repair_update(context, records=(*records, record), replaced_at=at)


REPAIR_WORKFLOW = Workflow(
    "repair",
    initial="claimed",
    states=[
        State("claimed", "new", description="Claimed; the policy decides on assessment."),
        State("quoted", "waiting_on_customer", description="Out of warranty: a paid quote."),
        State("awaiting_device", "waiting_on_customer", description="Bring or send the device."),
        State("received", "open", description="Handed in, on site or at the depot."),
        State("diagnosed", "open"),
        State("repairing", "open"),
        State(
            "waiting_for_parts",
            "waiting_on_third_party",
            description="Repairing, paused until a part arrives.",
        ),
        State("quality_check", "open"),
        State("ready_for_return", "open"),
        State("returned", "resolved", description="Handed back to the customer."),
        State(
            "replacement_offered",
            "waiting_on_customer",
            description="Failed repairs or a long parts wait: replacement or return.",
        ),
        State("replaced", "closed", description="A replacement was handed over."),
        State(
            "refunding",
            "resolved",
            description="The customer chose the return for a refund the policy offers: "
            "a linked return takes the goods back; when it closes, so does the repair.",
        ),
        State("declined", "closed", description="The customer declined the paid quote."),
        State("cancelled", "closed"),
        State("closed", "closed"),
    ],
    transitions=[
        Transition("accept_claim", "claimed", "awaiting_device", ["covered"], ["accepted"]),
        Transition("quote", "claimed", "quoted", ["not_covered"], ["quoted"]),
        Transition(
            "offer_replacement", "claimed", "replacement_offered", ["replacement_due"], ["offer"]
        ),
        Transition("accept_quote", "quoted", "awaiting_device", effects=["quote_accepted"]),
        Transition("decline_quote", "quoted", "declined", effects=["quote_declined"]),
        Transition("remind", "quoted", "quoted", effects=["reminded"]),
        Transition("hand_in", "awaiting_device", "received", effects=["handed_in"]),
        Transition("diagnose", "received", "diagnosed", effects=["diagnosed"]),
        Transition("start_repair", "diagnosed", "repairing"),
        Transition("wait_for_parts", "repairing", "waiting_for_parts", effects=["waiting"]),
        Transition("parts_arrived", "waiting_for_parts", "repairing", effects=["parts_arrived"]),
        Transition(
            "parts_wait_exceeded",
            "waiting_for_parts",
            "replacement_offered",
            effects=["parts_wait_exceeded"],
            description="Fired by run_due when the parts wait passes its limit.",
        ),
        Transition("finish_repair", "repairing", "quality_check"),
        Transition("fail_qc", "quality_check", "repairing", effects=["qc_failed"]),
        Transition("pass_qc", "quality_check", "ready_for_return"),
        Transition("hand_back", "ready_for_return", "returned", effects=["handed_back"]),
        Transition("report_failure", "returned", "claimed", effects=["failed_again"]),
        Transition("close", "returned", "closed"),
        Transition(
            "accept_replacement",
            "replacement_offered",
            "replaced",
            guards=["replacement_offered"],
            effects=["replaced"],
        ),
        Transition(
            "choose_refund",
            "replacement_offered",
            "refunding",
            guards=["refund_offered"],
            description="Opens the linked return that takes the goods back for a refund.",
        ),
        Transition(
            "close",
            "refunding",
            "closed",
            description="Fired when the linked return closes (or by hand, e.g. when the "
            "goods never came back).",
        ),
        Transition("decline_replacement", "replacement_offered", "awaiting_device"),
        Transition(
            "cancel",
            ["claimed", "quoted", "awaiting_device"],
            "cancelled",
            effects=["record_reason"],
        ),
    ],
    guards={
        "covered": _covered,
        "not_covered": _not_covered,
        "replacement_due": _replacement_due,
        "replacement_offered": _replacement_offered,
        "refund_offered": _refund_offered,
    },
    effects={
        "accepted": _accepted,
        "quoted": _quoted,
        "offer": _offer,
        "quote_accepted": _quote_accepted,
        "quote_declined": _quote_declined,
        "reminded": _reminded,
        "handed_in": _handed_in,
        "diagnosed": _diagnosed,
        "waiting": _waiting,
        "parts_arrived": _parts_arrived,
        "parts_wait_exceeded": _parts_wait_exceeded,
        "qc_failed": _qc_failed,
        "handed_back": _handed_back,
        "failed_again": _failed_again,
        "replaced": _replaced,
        "record_reason": record_reason,
    },
    payloads={
        "quote": QuoteInput,
        "hand_in": HandInput,
        "hand_back": HandInput,
        "diagnose": DiagnoseInput,
        "wait_for_parts": PartsInput,
        "fail_qc": ReasonInput,
        "report_failure": ReasonInput,
        "accept_replacement": HandInput,
        "cancel": ReasonInput,
    },
)
"""The shipped warranty repair workflow."""

__all__ = [
    "REPAIR_WORKFLOW",
    "REPLACEMENT_CODES",
    "DiagnoseInput",
    "HandInput",
    "PartsInput",
    "QuoteInput",
    "offers_instead_of_repair",
]
