"""On-site service visits (上门服务): an installation or a repair at the customer's address.

A visit is booked for a time window, a technician is assigned, and the visit can be
rescheduled (which un-assigns the technician: the new window needs one again), missed (a
no-show of the customer or the technician), or carried out with an outcome: fixed (the
customer confirms, or is taken to confirm after three days), needs parts (rescheduled when
they arrive), or needs depot repair, which opens a warranty repair case for the product in
the same transaction (with the visit's order line and the serial number, so the repair can
be assessed). The whole kind is this module: its details, workflow, opener, step limits
and cascade, registered in :data:`aftersales.cases.KINDS`.

Time limits ride on the case's ``step_due_at``, so :meth:`~aftersales.CaseDesk.run_due`
handles them like any other step: a visit still without a technician when its window
starts, or without an outcome when its window ends, is reported overdue; a fixed visit
the customer has not confirmed within three days is confirmed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator
from typing_extensions import Self

from aftersales._validation import parse
from aftersales.cases._goods import ClaimLine, case_line
from aftersales.cases._records import check_text
from aftersales.cases._spec import CaseKindSpec, Opens, StepLimit
from aftersales.models._base import Identifier, Instant, Record, ShortText, Text, new_id
from aftersales.models.case import Case, CaseKind, RepairDetails, RepairSite
from aftersales.storage import CaseChange
from aftersales.workflows import Refusal, State, Transition, TransitionContext, Workflow
from aftersales.workflows._case_steps import Payload

if TYPE_CHECKING:
    from aftersales.cases._writer import CaseWriter

__all__ = [
    "VISIT",
    "VISIT_WORKFLOW",
    "NoShow",
    "VisitDetails",
    "VisitOutcome",
    "VisitPurpose",
    "book_visit",
]


class VisitPurpose(str, Enum):
    """What the technician comes to do."""

    INSTALLATION = "installation"
    REPAIR = "repair"


class VisitOutcome(str, Enum):
    """What the visit came to."""

    FIXED = "fixed"
    NEEDS_PARTS = "needs_parts"
    NEEDS_DEPOT_REPAIR = "needs_depot_repair"


class NoShow(Record):
    """A visit that did not happen: who was not there, and when it was recorded."""

    party: Literal["customer", "technician"]
    at: Instant
    note: Text | None = None


class _Window(Record):
    window_start: Instant
    window_end: Instant

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        return self


class VisitDetails(_Window):
    """A visit: where, when (the booked window), who, and what came of it."""

    purpose: VisitPurpose = VisitPurpose.INSTALLATION
    address: Text
    technician: Identifier | None = None
    serial: Identifier | None = None
    """The product's serial number (what a depot repair is opened for)."""
    reschedules: Annotated[int, Field(ge=0)] = 0
    no_shows: tuple[NoShow, ...] = ()
    outcome: VisitOutcome | None = None
    parts: ShortText | None = None
    note: Text | None = None
    repair_case_id: Identifier | None = None
    """The repair case opened when the visit needs a depot repair."""
    confirmed_at: Instant | None = None
    rating: Annotated[int, Field(ge=1, le=5)] | None = None


# ---------------------------------------------------------------------- payloads


class WindowInput(Payload):
    """A new time window for the visit."""

    window_start: Instant
    window_end: Instant
    reason: Text | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        return self


class AssignInput(Payload):
    """The technician who goes."""

    technician: Identifier


class NoShowInput(Payload):
    """Who was not there."""

    party: Literal["customer", "technician"]
    note: Text | None = None


class OutcomeInput(Payload):
    """What the technician did or found."""

    note: Text | None = None


class PartsNeededInput(Payload):
    """The parts the repair waits for."""

    parts: ShortText
    note: Text | None = None


class DepotInput(Payload):
    """The product goes to the depot (its serial number, if the booking had none)."""

    serial: Identifier | None = None
    note: Text | None = None


class ConfirmInput(Payload):
    """The customer's confirmation, with an optional rating (1-5)."""

    rating: Annotated[int, Field(ge=1, le=5)] | None = None
    note: Text | None = None


class CancelInput(Payload):
    """Why the visit is cancelled."""

    reason: Text | None = None


# ---------------------------------------------------------------------- guards, effects


def _details(context: TransitionContext) -> VisitDetails:
    case: Case = context.subject
    details = case.details
    assert isinstance(details, VisitDetails)
    return details


def _update(context: TransitionContext, **update: Any) -> Mapping[str, Any]:
    return {"details": _details(context).model_copy(update=update)}


def _window_started(context: TransitionContext) -> Refusal | None:
    """An outcome or a no-show is recorded once the window has started."""
    start = _details(context).window_start
    if context.now >= start:
        return None
    return Refusal(
        "window_not_started",
        f"the visit's window starts at {start.isoformat()}",
        f"上门时间窗口 {start.isoformat()} 才开始",
        {"window_start": start.isoformat()},
    )


def _serial_known(context: TransitionContext) -> Refusal | None:
    """A depot repair needs the product's serial number (booked, or in the payload)."""
    payload = context.payload
    if _details(context).serial or (isinstance(payload, DepotInput) and payload.serial):
        return None
    return Refusal("serial_needed", "name the product's serial number", "请提供产品序列号")


def _reschedule(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, WindowInput)
    details = _details(context)
    return _update(
        context,
        window_start=payload.window_start,
        window_end=payload.window_end,
        technician=None,
        outcome=None,
        reschedules=details.reschedules + 1,
    )


def _assign(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, AssignInput)
    return _update(context, technician=payload.technician)


def _no_show(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, NoShowInput)
    missed = NoShow(party=payload.party, at=context.now, note=payload.note)
    return _update(context, no_shows=(*_details(context).no_shows, missed))


def _fixed(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    note = payload.note if isinstance(payload, OutcomeInput) else None
    return _update(context, outcome=VisitOutcome.FIXED, note=note)


def _needs_parts(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, PartsNeededInput)
    return _update(
        context, outcome=VisitOutcome.NEEDS_PARTS, parts=payload.parts, note=payload.note
    )


def _to_depot(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, DepotInput)
    details = _details(context)
    return _update(
        context,
        outcome=VisitOutcome.NEEDS_DEPOT_REPAIR,
        serial=details.serial or payload.serial,
        note=payload.note,
        repair_case_id=new_id(),
    )


def _confirmed(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    rating = payload.rating if isinstance(payload, ConfirmInput) else None
    return _update(context, confirmed_at=context.now, rating=rating)


def _cancelled(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    return {"reason": payload.reason if isinstance(payload, CancelInput) else None}


_OPEN = ["scheduled", "assigned", "missed", "waiting_for_parts"]

VISIT_WORKFLOW = Workflow(
    "visit",
    initial="scheduled",
    states=[
        State("scheduled", "new", description="A window is booked; no technician yet."),
        State("assigned", "open", description="A technician goes in the window."),
        State("missed", "waiting_on_customer", description="A no-show: book another window."),
        State(
            "waiting_for_parts",
            "waiting_on_third_party",
            description="Parts are ordered; book another window when they arrive.",
        ),
        State(
            "awaiting_confirmation",
            "resolved",
            description="Fixed or installed; the customer confirms.",
        ),
        State("completed", "closed", description="The customer confirmed (or did not object)."),
        State(
            "sent_to_depot",
            "closed",
            description="The product needs a depot repair: a repair case carries on.",
        ),
        State("cancelled", "closed"),
    ],
    transitions=[
        Transition("assign", ["scheduled", "assigned"], "assigned", effects=["assign"]),
        Transition(
            "reschedule",
            [*_OPEN],
            "scheduled",
            effects=["reschedule"],
            description="Another window; the technician is assigned again.",
        ),
        Transition("no_show", "assigned", "missed", guards=["window_started"], effects=["no_show"]),
        Transition(
            "fixed",
            "assigned",
            "awaiting_confirmation",
            guards=["window_started"],
            effects=["fixed"],
        ),
        Transition(
            "needs_parts",
            "assigned",
            "waiting_for_parts",
            guards=["window_started"],
            effects=["needs_parts"],
        ),
        Transition(
            "needs_depot_repair",
            "assigned",
            "sent_to_depot",
            guards=["window_started", "serial_known"],
            effects=["to_depot"],
            description="Opens the repair case for the product.",
        ),
        Transition("confirm", "awaiting_confirmation", "completed", effects=["confirmed"]),
        Transition(
            "not_fixed",
            "awaiting_confirmation",
            "scheduled",
            effects=["reschedule"],
            description="The customer says it is not fixed: another visit is booked.",
        ),
        Transition("cancel", [*_OPEN], "cancelled", effects=["cancelled"]),
    ],
    guards={"window_started": _window_started, "serial_known": _serial_known},
    effects={
        "assign": _assign,
        "reschedule": _reschedule,
        "no_show": _no_show,
        "fixed": _fixed,
        "needs_parts": _needs_parts,
        "to_depot": _to_depot,
        "confirmed": _confirmed,
        "cancelled": _cancelled,
    },
    payloads={
        "assign": AssignInput,
        "reschedule": WindowInput,
        "not_fixed": WindowInput,
        "no_show": NoShowInput,
        "fixed": OutcomeInput,
        "needs_parts": PartsNeededInput,
        "needs_depot_repair": DepotInput,
        "confirm": ConfirmInput,
        "cancel": CancelInput,
    },
)
"""The on-site visit workflow."""


# ---------------------------------------------------------------------- desk side


def book_visit(
    cases: CaseWriter,
    ticket_id: str,
    *,
    address: str,
    window_start: datetime,
    window_end: datetime,
    purpose: VisitPurpose | str = VisitPurpose.INSTALLATION,
    technician: str | None = None,
    serial: str | None = None,
    line: ClaimLine | Mapping[str, Any] | None = None,
    order_id: str | None = None,
    actor: str = "system",
) -> Case:
    """Book a visit at ``address`` in the window; with ``technician``, assigned in the
    same transaction. ``line`` (a claim line with its facts) and ``serial`` are what a
    depot repair needs, should the visit come to that. Reach it as
    ``desk.cases.open("visit", ticket_id, ...)``:

    >>> from datetime import datetime, timezone
    >>> from aftersales import Desk, FrozenClock
    >>> desk = Desk(clock=FrozenClock(datetime(2026, 3, 2, 8, tzinfo=timezone.utc)))
    >>> ticket = desk.open_ticket(customer="c-1", channel="phone", subject="Install my washer")
    >>> visit = desk.cases.open(
    ...     "visit",
    ...     ticket.id,
    ...     address="88 Nanjing Road, Shanghai",
    ...     window_start=datetime(2026, 3, 3, 9, tzinfo=timezone.utc),
    ...     window_end=datetime(2026, 3, 3, 12, tzinfo=timezone.utc),
    ...     technician="wang.tech",
    ... )
    >>> visit.status, visit.details.technician
    ('assigned', 'wang.tech')
    """
    ticket = cases._ticket(ticket_id)
    if order_id is not None:
        check_text("order_id", order_id)
    details = parse(
        VisitDetails,
        {
            "purpose": purpose,
            "address": address,
            "window_start": window_start,
            "window_end": window_end,
            "serial": serial,
        },
        "visit",
    )
    lines = () if line is None else (case_line(parse(ClaimLine, line, "claim line")),)
    case, change = cases._new(
        VISIT.kind, ticket, actor, order_id=order_id, lines=lines, details=details
    )
    if technician is None:
        cases._commit([change])
        return case
    payload = {"technician": technician}
    assigned = cases._decided(case, "assign", actor, payload, case.updated_at, created=change)
    cases._commit([assigned])
    return assigned.case


def _repair_for(
    cases: CaseWriter, visit: Case, actor: str, now: datetime, change: CaseChange
) -> CaseChange:
    """The depot repair of the visited product: claimed, with the visit's order line, to
    be assessed by the policy (``desk.cases.assess_repair``)."""
    details = visit.details
    assert isinstance(details, VisitDetails)
    assert details.serial is not None
    _, opened = cases._new(
        CaseKind.REPAIR,
        cases._ticket(visit.ticket_id),
        actor,
        id=details.repair_case_id or new_id(),
        order_id=visit.order_id,
        parent_id=visit.id,
        lines=visit.lines,
        repair=RepairDetails(serial=details.serial, site=RepairSite.DEPOT),
    )
    return opened


def _window_step(cases: CaseWriter, case: Case, now: datetime) -> dict[str, Any] | None:
    """A booked visit is due a technician by its window's start, and an outcome by its
    end (then reported overdue); other steps take the configured limits."""
    details = case.details
    if not isinstance(details, VisitDetails):
        return None
    if case.status == "scheduled":
        return {"step_due_at": details.window_start, "step_action": None}
    if case.status == "assigned":
        return {"step_due_at": details.window_end, "step_action": None}
    return None


VISIT = CaseKindSpec(
    "visit",
    VISIT_WORKFLOW,
    details=VisitDetails,
    step_limits={
        "missed": StepLimit(hours=48),
        "waiting_for_parts": StepLimit(hours=14 * 24),
        "awaiting_confirmation": StepLimit(hours=72, action="confirm"),
    },
    restarts=frozenset({"reschedule"}),
    cascades={"needs_depot_repair": Opens("repair", _repair_for)},
    opener=book_visit,
    step=_window_step,
)
"""The on-site visit kind."""

KIND = VISIT
"""What :data:`aftersales.cases.KINDS` registers from this module."""
