"""Care actions: one scheduled message, maintenance reminder or coupon of a care plan, as a
case of its own.

:mod:`aftersales.feedback` schedules them from a desk's care plans (``Desk(care=...)``),
each with an id derived from (plan, product serial, occurrence), so scheduling again
schedules nothing twice. :meth:`~aftersales.CaseDesk.run_due` fires each at its
``due_at``: ``fire`` for a message or a reminder (its event carries the template key, the
customer's language and the text in it, for a sender subscribed to ``kinds="care",
triggers="fire"``), ``issue`` for a coupon (the coupon case is opened in the same
transaction). A customer erased or opted out of care is never reached: the step's guard
refuses, and the desk cancels such actions before it fires what is due.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import attrs
from pydantic import Field

from aftersales.cases._spec import CaseKindSpec, Opens
from aftersales.cases.coupons import COUPON, CouponOffer, coupon_details
from aftersales.exceptions import CustomerNotFound
from aftersales.models._base import Identifier, Instant, Record, ShortText, Text
from aftersales.models.case import Case
from aftersales.policies.decision import Decision
from aftersales.privacy.audit import ERASED
from aftersales.storage import CaseChange
from aftersales.workflows import (
    CaseEnvironment,
    Refusal,
    State,
    Transition,
    TransitionContext,
    Workflow,
)

if TYPE_CHECKING:
    from aftersales.cases._writer import CaseWriter

__all__ = [
    "CARE",
    "CARE_WORKFLOW",
    "CareAction",
    "CareDetails",
    "care_action_id",
    "unreachable_reason",
]


class CareAction(str, Enum):
    """What a care action does."""

    MESSAGE = "message"
    """A care message: a welcome after delivery, a warranty-expiry notice..."""
    MAINTENANCE = "maintenance"
    """A maintenance reminder: a filter to change, a check-up before a known failure age."""
    COUPON = "coupon"
    """A coupon issued to the customer (a coupon case)."""


class CareDetails(Record):
    """One scheduled care action: its plan and occurrence, the product it is about, when
    it is due, and what it says (a template key and its text per language)."""

    plan_id: Identifier
    action: CareAction
    occurrence: Annotated[int, Field(ge=0, le=10_000)]
    serial: Identifier
    sku: Identifier | None = None
    due_at: Instant
    template: Identifier | None = None
    texts: dict[ShortText, Text] = Field(default_factory=dict)
    """The template's text per language; the one in the customer's language goes out."""
    language: ShortText = "en"
    """The language it is sent in: the customer's when a text is in it (set when fired)."""
    coupon: CouponOffer | None = None
    fired_at: Instant | None = None


def care_action_id(plan_id: str, serial: str, occurrence: int) -> str:
    """The id of a plan's ``occurrence``-th action for a product: the same every time."""
    digest = hashlib.sha256(f"{plan_id}\n{serial}\n{occurrence}".encode()).hexdigest()[:32]
    return f"care-{digest}"


def unreachable_reason(cases: CaseWriter, customer_id: str | None) -> str | None:
    """Why the customer may not be reached with care (``"erased"``, ``"opted_out"``), or
    None."""
    if customer_id is None:
        return None
    try:
        customer = cases.services.store.get_customer(customer_id)
    except CustomerNotFound:
        return None
    if customer.name == ERASED:
        return "erased"
    if customer.opted_out_of_care:
        return "opted_out"
    return None


@attrs.frozen
class CareEnvironment(CaseEnvironment):
    """What firing a care action sees: whether its customer may be reached, and their
    language."""

    unreachable: str | None = None
    language: str | None = None


def _environment(
    cases: CaseWriter, case: Case, trigger: str, decision: Decision | None
) -> CaseEnvironment:
    settings = cases.services.settings
    if trigger not in ("fire", "issue"):
        return CaseEnvironment(settings, decision)
    language = None
    if case.customer_id is not None:
        try:
            language = cases.services.store.get_customer(case.customer_id).language
        except CustomerNotFound:
            language = None
    return CareEnvironment(
        settings,
        decision,
        unreachable=unreachable_reason(cases, case.customer_id),
        language=language,
    )


def _details(context: TransitionContext) -> CareDetails:
    case: Case = context.subject
    details = case.details
    assert isinstance(details, CareDetails)
    return details


def _reachable(context: TransitionContext) -> Refusal | None:
    environment = context.settings
    why = environment.unreachable if isinstance(environment, CareEnvironment) else None
    if why is None:
        return None
    return Refusal(
        f"customer_{why}",
        f"the customer is {why.replace('_', ' ')}: no care action reaches them",
        "客户已删除个人信息或退订关怀" if why == "erased" else "客户已退订关怀",
    )


def _language(details: CareDetails, wanted: str | None) -> str:
    for candidate in (wanted, (wanted or "").split("-")[0].lower()):
        if candidate and candidate in details.texts:
            return candidate
    return details.language


def _fire(context: TransitionContext) -> Mapping[str, Any]:
    details = _details(context)
    environment = context.settings
    wanted = environment.language if isinstance(environment, CareEnvironment) else None
    update = {"language": _language(details, wanted), "fired_at": context.now}
    return {"details": details.model_copy(update=update)}


CARE_WORKFLOW = Workflow(
    "care",
    initial="scheduled",
    states=[
        State("scheduled", "new", description="Waits for its day."),
        State("done", "closed", description="Sent, or its coupon issued."),
        State("cancelled", "closed", description="Withdrawn: the customer erased or opted out."),
    ],
    transitions=[
        Transition("fire", "scheduled", "done", guards=["reachable"], effects=["fire"]),
        Transition(
            "issue",
            "scheduled",
            "done",
            guards=["reachable"],
            effects=["fire"],
            description="Issue the action's coupon (a coupon case, in the same transaction).",
        ),
        Transition("cancel", "scheduled", "cancelled"),
    ],
    guards={"reachable": _reachable},
    effects={"fire": _fire},
)
"""The care workflow: scheduled → done (``fire``, or ``issue`` for a coupon) | cancelled."""


def _issue_coupon(
    cases: CaseWriter, care: Case, actor: str, now: datetime, change: CaseChange
) -> CaseChange:
    """The coupon a care action issues: its id derived from the action's, so it is one."""
    details = care.details
    assert isinstance(details, CareDetails)
    assert details.coupon is not None
    _, coupon = cases._new(
        COUPON.kind,
        cases._ticket(care.ticket_id),
        actor,
        id=f"coupon-{care.id}",
        parent_id=care.id,
        order_id=care.order_id,
        details=coupon_details(
            details.coupon,
            now,
            reason=f"care plan {details.plan_id}",
            subject_id=care.id,
            subject_kind="care",
        ),
    )
    return coupon


def _care_step(cases: CaseWriter, case: Case, now: datetime) -> dict[str, Any] | None:
    details = case.details
    if case.status != "scheduled" or not isinstance(details, CareDetails):
        return None
    action = "issue" if details.action is CareAction.COUPON else "fire"
    return {"step_due_at": details.due_at, "step_action": action}


CARE = CaseKindSpec(
    "care",
    CARE_WORKFLOW,
    details=CareDetails,
    cascades={"issue": Opens(COUPON.name, _issue_coupon)},
    step=_care_step,
    environment=_environment,
)
"""The care action kind (no opener of its own: care plans schedule it)."""

KIND = CARE
"""What :data:`aftersales.cases.KINDS` registers from this module."""
