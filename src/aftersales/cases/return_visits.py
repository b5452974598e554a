"""Return visits (回访): calling the customer back after a repair, a return, a complaint or
an on-site visit has closed.

A return visit is scheduled for a closed subject (a case, or a ticket), due a delay after
the subject closed (per followed kind, as data: :data:`DEFAULT_DELAY_HOURS`). When it comes
due, :meth:`~aftersales.CaseDesk.run_due` makes it ``due`` and assigns it: by the desk's
router (its rules, strategy, availability and loads, as for a new ticket) when the router
picks the ticket's own team, else to the ticket's team and assignee, because only agents
of the ticket's team may act on its cases. The agent calls with the visit's script (an
ordered list of questions, English and Chinese defaults per followed kind:
:data:`DEFAULT_SCRIPTS`) and records each attempt with its answers:

- ``satisfied``: the customer is content; the visit closes;
- ``no_answer``: not reached; :meth:`~aftersales.CaseDesk.run_due` makes the visit due
  again after the ``retry_wait`` step limit (24 hours unless the desk sets another), and
  the last of ``max_attempts`` unanswered calls is ``unreachable`` (see
  :func:`record_no_answer`, which picks the trigger);
- ``problem_persists``: the visit moves to ``following_up``, due at once with the action
  its ``on_problem`` names. ``open_case`` opens a linked case (a repair of the same product
  after a repair, a complaint otherwise) in the same transaction as the step.
  ``reopen_ticket`` reopens the ticket through the desk's ticket command (or opens a
  follow-up ticket when it is too late to reopen it): a ticket commits in a transaction
  of its own, so the visit records the problem first and the reopening follows, at least
  once (run_due fires it until it is recorded) and idempotently (a reopening or follow-up
  ticket since the problem was recorded counts as done).

The outcome is the visit's state (``satisfied``, ``problem_persists``, ``unreachable``),
so reports count the cases table's ``status`` column
(:func:`aftersales.insights._return_visits.return_visit_report`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aftersales._pipeline import ATTEMPTS, fire_with_retries
from aftersales._validation import acting, parse
from aftersales.cases._orders import bad
from aftersales.cases._records import check_text
from aftersales.cases._return_visit_steps import (
    RETURN_VISIT_WORKFLOW,
    Attempt,
    ProblemAction,
    Question,
    ReturnVisitDetails,
    ReturnVisitEnvironment,
    ReturnVisitOutcome,
)
from aftersales.cases._spec import CaseKindSpec, Opens, StepLimit
from aftersales.exceptions import CaseNotFound, ConcurrencyError, InvalidInput, TransitionError
from aftersales.models import StatusCategory
from aftersales.models._base import new_id
from aftersales.models.case import Case, CaseKind, CaseLine, ComplaintDetails, RepairDetails
from aftersales.models.ticket import Severity, Ticket
from aftersales.policies.decision import Decision
from aftersales.security import Actor
from aftersales.storage import CaseChange
from aftersales.workflows import CaseEnvironment

if TYPE_CHECKING:
    from aftersales.cases._writer import CaseWriter

__all__ = [
    "DEFAULT_DELAY_HOURS",
    "DEFAULT_SCRIPTS",
    "RETURN_VISIT",
    "RETURN_VISIT_WORKFLOW",
    "Attempt",
    "ProblemAction",
    "Question",
    "ReturnVisitDetails",
    "ReturnVisitOutcome",
    "record_no_answer",
    "return_visit_id",
    "schedule_return_visit",
]

OTHER = "*"
"""The key of the defaults for a followed kind without its own."""

DEFAULT_DELAY_HOURS: dict[str, float] = {
    "repair": 72.0,
    "visit": 48.0,
    "return": 48.0,
    "complaint": 24.0,
    OTHER: 48.0,
}
"""How long after the subject closed its return visit is due, per followed kind: a repaired
product is given three days of use before the call."""

DEFAULT_SCRIPTS: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {
    "en": {
        "repair": (
            ("working", "Is the product working now?"),
            ("on_time", "Was the technician on time?"),
            ("explained", "Did we explain what was repaired and what it cost?"),
        ),
        "visit": (
            ("working", "Is everything working since the technician's visit?"),
            ("on_time", "Did the technician come within the booked window?"),
            ("courteous", "Was the technician courteous, and was the place left tidy?"),
        ),
        "return": (
            ("refunded", "Have you received your refund?"),
            ("easy", "Was returning the product easy?"),
        ),
        "complaint": (
            ("resolved", "Is the matter you complained about resolved?"),
            ("fair", "Do you feel we treated you fairly?"),
        ),
        OTHER: (
            ("resolved", "Has your issue been resolved?"),
            ("satisfied", "Are you satisfied with how we handled it?"),
        ),
    },
    "zh": {
        "repair": (
            ("working", "产品现在使用正常吗？"),
            ("on_time", "维修师傅是否准时？"),
            ("explained", "我们是否向您说明了维修内容和费用？"),
        ),
        "visit": (
            ("working", "师傅上门服务后，一切使用正常吗？"),
            ("on_time", "师傅是否在预约时间内上门？"),
            ("courteous", "师傅服务态度如何，是否清理了现场？"),
        ),
        "return": (
            ("refunded", "您是否已收到退款？"),
            ("easy", "退货流程是否方便？"),
        ),
        "complaint": (
            ("resolved", "您投诉的问题是否已经解决？"),
            ("fair", "您觉得我们的处理是否公平？"),
        ),
        OTHER: (
            ("resolved", "您的问题是否已经解决？"),
            ("satisfied", "您对我们的处理满意吗？"),
        ),
    },
}
"""The questions asked after each followed kind, per language (question id, text)."""

_FOLLOWED = frozenset({"ticket", "repair", "return", "exchange", "refund", "complaint", "visit"})
"""The subjects a return visit may follow: tickets and the kinds that serve a customer."""


def return_visit_id(subject_kind: str, subject_id: str) -> str:
    """The id of a subject's return visit: the same every time, so a scheduler that opens
    it again (a redelivered hook) finds the one it opened."""
    digest = hashlib.sha256(f"{subject_kind}\n{subject_id}".encode()).hexdigest()[:32]
    return f"return_visit-{digest}"


def _environment(
    cases: CaseWriter, case: Case, trigger: str, decision: Decision | None
) -> CaseEnvironment:
    """What a visit's step sees: the assignment when it comes due; when a problem persists,
    the ticket worked on again. The reopening is done here, before the step commits,
    because this is where run_due's firing of the step reaches; the step then records it,
    and a retry finds it done."""
    settings = cases.services.settings
    details = case.details
    if not isinstance(details, ReturnVisitDetails):
        return CaseEnvironment(settings, decision)
    if trigger == "make_due" and case.status == "scheduled" and details.assignee is None:
        return ReturnVisitEnvironment(settings, decision, assignment=_assignment(cases, case))
    if (
        trigger == ProblemAction.REOPEN_TICKET.value
        and case.status == "following_up"
        and details.on_problem is ProblemAction.REOPEN_TICKET
    ):
        return ReturnVisitEnvironment(
            settings, decision, ticket_follow_up=_work_ticket_again(cases, case, details)
        )
    if trigger == "assign":
        ticket: Ticket = cases._ticket(case.ticket_id)
        return ReturnVisitEnvironment(settings, decision, ticket_team=ticket.team)
    return CaseEnvironment(settings, decision)


def _assignment(cases: CaseWriter, case: Case) -> tuple[str | None, str | None, str]:
    """The router's pick when it routes to the ticket's team (or the ticket has none);
    otherwise the ticket's team and assignee: an agent of another team could not act on
    the ticket's cases (the permissions' row rule reads a case's team as its ticket's)."""
    ticket: Ticket = cases._ticket(case.ticket_id)
    if cases.services.router is not None:
        desk = cases.desk
        routed = desk._dispatcher.assignment(ticket, desk._reader.tier(ticket.customer_id))
        if ticket.team is None or routed.team == ticket.team:
            return routed.team, routed.agent, "router"
    return ticket.team, ticket.assignee, "ticket"


def _work_ticket_again(
    cases: CaseWriter, case: Case, details: ReturnVisitDetails
) -> tuple[str, str]:
    """Reopen the visit's ticket (or open its follow-up) unless that happened since the
    problem was recorded: a retry after a lost race or a crash finds the work done."""
    desk = cases.desk
    since = details.attempts[-1].at if details.attempts else case.updated_at
    ticket = desk.get(case.ticket_id)
    foreign = False
    for _ in range(10):  # a merged ticket is worked on where it was merged into...
        if ticket.merged_into is None:
            break
        into = desk.get(ticket.merged_into)
        if into.customer_id != ticket.customer_id:
            # ...unless that is another customer's ticket: reopening it would show this
            # customer's words to the other, so a follow-up of their own carries them.
            foreign = True
            break
        ticket = into
    if any(
        event.trigger == "reopen" and event.at >= since
        for event in cases.services.store.events(ticket.id)
    ):
        return ticket.id, "reopened"
    follow_ups = desk.find(follow_up_of=ticket.id, created_from=since, limit=1)
    if follow_ups:
        return follow_ups[0].id, "follow_up_ticket"
    if not foreign and ticket.status_category not in (
        StatusCategory.RESOLVED,
        StatusCategory.CLOSED,
    ):
        return ticket.id, "already_open"
    reason = f"Return visit {case.id}: the problem persists"
    if details.note:
        reason = f"{reason}: {details.note}"
    worked: Ticket | None = None
    if not foreign:
        try:
            worked = desk.reopen(ticket.id, reason=reason[:10_000], actor="system")
        except TransitionError:  # cancelled: a follow-up ticket carries the problem
            worked = None
    if worked is None:
        worked = desk.open_ticket(
            customer=ticket.customer_id,
            channel=ticket.channel,
            subject=f"Follow-up: {ticket.subject}"[:200],
            description=reason[:10_000],
            order_line=ticket.order_line,
            follow_up_of=ticket.id,
            actor="system",
        )
    return worked.id, "reopened" if worked.id == ticket.id else "follow_up_ticket"


# ---------------------------------------------------------------------- desk side


def _subject(cases: CaseWriter, ticket: Ticket, subject_kind: str, subject_id: str) -> Any:
    """The closed subject on ``ticket`` a visit follows (InvalidInput for another)."""
    if subject_kind not in _FOLLOWED:
        raise bad("return visit", ("subject_kind",), f"must be one of {sorted(_FOLLOWED)}")
    if subject_kind == "ticket":
        if subject_id != ticket.id:
            raise bad("return visit", ("subject_id",), "a ticket subject is the visit's ticket")
        subject: Any = ticket
    else:
        try:
            subject = cases.services.store.get_case(subject_id)
        except CaseNotFound:
            raise bad("return visit", ("subject_id",), f"no case {subject_id!r}") from None
        if subject.kind.value != subject_kind or subject.ticket_id != ticket.id:
            raise bad(
                "return visit",
                ("subject_id",),
                f"is not a {subject_kind} case of ticket {ticket.id}",
            )
    if subject.status_category not in (StatusCategory.RESOLVED, StatusCategory.CLOSED):
        raise bad(
            "return visit", ("subject_id",), f"is {subject.status}: a visit follows what closed"
        )
    return subject


def _script(
    language: str, subject_kind: str, script: Sequence[Question | Mapping[str, Any] | str] | None
) -> tuple[Question, ...]:
    if script is None:
        defaults = DEFAULT_SCRIPTS.get(language)
        if defaults is None:
            raise bad(
                "return visit",
                ("script",),
                f"no default script in {language!r} (only {sorted(DEFAULT_SCRIPTS)}): give one",
            )
        found = defaults.get(subject_kind, defaults[OTHER])
        return tuple(Question(id=qid, text=text) for qid, text in found)
    if isinstance(script, (str, Mapping)) or not isinstance(script, Sequence):
        raise bad("return visit", ("script",), "must be a list of questions")
    return tuple(
        parse(Question, {"id": f"q{index}", "text": item} if isinstance(item, str) else item)
        for index, item in enumerate(script, 1)
    )


def _language(cases: CaseWriter, ticket: Ticket) -> str:
    """The customer's language if a default script speaks it, else English."""
    try:
        spoken = cases.services.store.get_customer(ticket.customer_id).language or ""
    except LookupError:
        spoken = ""
    short = spoken.split("-")[0].lower()
    return short if short in DEFAULT_SCRIPTS else "en"


def _existing(cases: CaseWriter, case_id: str, subject_id: str) -> Case | None:
    try:
        found = cases.services.store.get_case(case_id)
    except CaseNotFound:
        return None
    details = found.details
    if not isinstance(details, ReturnVisitDetails) or details.subject_id != subject_id:
        raise bad("return visit", ("id",), f"case {case_id!r} is another case")
    return found


@acting
def schedule_return_visit(
    cases: CaseWriter,
    ticket_id: str,
    *,
    subject_id: str,
    subject_kind: str,
    delay_hours: float | None = None,
    script: Sequence[Question | Mapping[str, Any] | str] | None = None,
    language: str | None = None,
    max_attempts: int = 3,
    on_problem: ProblemAction | str | None = None,
    assignee: str | None = None,
    team: str | None = None,
    id: str | None = None,
    actor: Actor = "system",
) -> Case:
    """Schedule the return visit of a closed subject (a case of ``subject_kind`` on the
    ticket, or the ticket itself), due ``delay_hours`` after the subject closed
    (:data:`DEFAULT_DELAY_HOURS` of its kind by default), with ``script`` (questions as
    text or ``{"id", "text"}``; :data:`DEFAULT_SCRIPTS` in the customer's language by
    default). ``on_problem`` defaults to opening a new repair after a repair and to
    reopening the ticket otherwise. ``id`` defaults to :func:`return_visit_id`: scheduling
    a subject's visit again returns the one scheduled. A visit already due is made due
    (and assigned) in the same transaction. Reach it as
    ``desk.cases.open("return_visit", ticket_id, ...)``; bad input raises
    :class:`~aftersales.InvalidInput` and stores nothing.
    """
    actor = check_text("actor", actor)
    ticket = cases._ticket(ticket_id)
    if team is not None and ticket.team is not None and team != ticket.team:
        # The permissions' row rule reads a visit's team as its ticket's.
        raise bad("return visit", ("team",), f"the ticket belongs to team {ticket.team!r}")
    subject = _subject(cases, ticket, check_text("subject_kind", subject_kind), subject_id)
    case_id = return_visit_id(subject_kind, subject_id) if id is None else check_text("id", id)
    found = _existing(cases, case_id, subject_id)
    if found is not None:
        return found
    if delay_hours is None:
        delay_hours = DEFAULT_DELAY_HOURS.get(subject_kind, DEFAULT_DELAY_HOURS[OTHER])
    if (
        isinstance(delay_hours, bool)
        or not isinstance(delay_hours, (int, float))
        or not 0 <= delay_hours <= 24 * 366
    ):
        raise bad("return visit", ("delay_hours",), "must be a number of hours from 0 to 8,784")
    now = cases.services.now()
    # counted from the subject's end, not from this call: a scheduler's retry keeps the day
    ended = subject.closed_at or getattr(subject, "resolved_at", None) or subject.updated_at
    if language is None:
        language = _language(cases, ticket)
    if on_problem is None:
        on_problem = ProblemAction.OPEN_CASE if subject_kind == "repair" else "reopen_ticket"
    details = parse(
        ReturnVisitDetails,
        {
            "subject_id": subject_id,
            "subject_kind": subject_kind,
            "due_at": ended + timedelta(hours=delay_hours),
            "language": language,
            "script": _script(language, subject_kind, script),
            "max_attempts": max_attempts,
            "assignee": assignee,
            "team": team,
            "assigned_by": None if assignee is None and team is None else "agent",
            "on_problem": on_problem,
            "linked_kind": "repair" if subject_kind == "repair" else "complaint",
        },
        "return visit",
    )
    case, change = cases._new(
        RETURN_VISIT.kind,
        ticket,
        actor,
        id=case_id,
        order_id=getattr(subject, "order_id", None),
        details=details,
    )
    if details.due_at <= now:
        change = cases._decided(case, "make_due", actor, None, now, created=change)
    try:
        cases._commit([change])
    except (ConcurrencyError, InvalidInput):
        found = _existing(cases, case_id, subject_id)  # scheduled meanwhile by another call
        if found is None:
            raise
        return found
    return change.case


@acting
def record_no_answer(
    cases: CaseWriter, case_id: str, *, note: str | None = None, actor: Actor = "system"
) -> Case:
    """Record a call that did not reach the customer: ``no_answer`` while attempts remain,
    ``unreachable`` on the last one (the trigger is chosen on the visit as stored)."""
    actor = check_text("actor", actor)
    payload = {} if note is None else {"note": note}

    def call(case: Case) -> Case:
        details = case.details
        last = isinstance(details, ReturnVisitDetails) and (
            len(details.attempts) + 1 >= details.max_attempts
        )
        return cases._transition(case, "unreachable" if last else "no_answer", actor, payload)

    return fire_with_retries(
        check_text("case_id", case_id),
        recent=cases._recent,
        read=cases.services.store.get_case,
        transition=call,
        expected_version=None,
        attempts=ATTEMPTS,
    )


def _linked_case(
    cases: CaseWriter, visit: Case, actor: str, now: datetime, change: CaseChange
) -> CaseChange:
    """The case that takes the persisting problem on: a new repair of the same product
    (claimed, to be assessed with its repair history) after a repair, else a complaint."""
    details = visit.details
    assert isinstance(details, ReturnVisitDetails)
    ticket = cases._ticket(visit.ticket_id)
    case_id = details.linked_case_id or new_id()
    if details.linked_kind == "repair":
        repaired = cases.services.store.get_case(details.subject_id)
        assert repaired.repair is not None
        lines = tuple(
            CaseLine(
                line_id=line.line_id,
                sku=line.sku,
                quantity=line.quantity,
                bought=line.bought,
                unit_price=line.unit_price,
                facts=line.facts,
            )
            for line in repaired.lines
        )
        _, opened = cases._new(
            CaseKind.REPAIR,
            ticket,
            actor,
            id=case_id,
            order_id=repaired.order_id,
            parent_id=visit.id,
            lines=lines,
            repair=RepairDetails(serial=repaired.repair.serial, site=repaired.repair.site),
        )
        return opened
    summary = (
        f"Return visit: the problem persists after {details.subject_kind} {details.subject_id}"
    )
    if details.note:
        summary = f"{summary}: {details.note}"
    _, opened = cases._new(
        CaseKind.COMPLAINT,
        ticket,
        actor,
        id=case_id,
        order_id=visit.order_id,
        parent_id=visit.id,
        complaint=ComplaintDetails(summary=summary[:10_000], severity=Severity.MEDIUM),
    )
    return opened


def _step(cases: CaseWriter, case: Case, now: datetime) -> dict[str, Any] | None:
    """A scheduled visit comes due at its due time; a persisting problem is followed up at
    once (run_due fires the action until it is recorded). Other steps take the limits."""
    details = case.details
    if not isinstance(details, ReturnVisitDetails):
        return None
    if case.status == "scheduled":
        return {"step_due_at": details.due_at, "step_action": "make_due"}
    if case.status == "following_up":
        return {"step_due_at": now, "step_action": details.on_problem.value}
    return None


RETURN_VISIT = CaseKindSpec(
    "return_visit",
    RETURN_VISIT_WORKFLOW,
    details=ReturnVisitDetails,
    step_limits={
        "due": StepLimit(hours=48),
        "retry_wait": StepLimit(hours=24, action="retry"),
    },
    cascades={ProblemAction.OPEN_CASE.value: Opens("complaint", _linked_case)},
    opener=schedule_return_visit,
    step=_step,
    environment=_environment,
)
"""The return visit kind."""

KIND = RETURN_VISIT
"""What :data:`aftersales.cases.KINDS` registers from this module."""
