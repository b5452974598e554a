"""The return visit's records, payloads and workflow (the kind is
:mod:`aftersales.cases.return_visits`): what a visit holds, what each call records, and
the states a visit goes through, from scheduled to its outcome."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any, Literal

import attrs
from pydantic import Field, model_validator
from typing_extensions import Self

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models._base import Identifier, Instant, Record, ShortText, Text, new_id
from aftersales.models.case import Case
from aftersales.workflows import (
    CaseEnvironment,
    Guard,
    Refusal,
    State,
    Transition,
    TransitionContext,
    Workflow,
)
from aftersales.workflows._case_steps import Payload

__all__ = [
    "RETURN_VISIT_WORKFLOW",
    "AnswersInput",
    "AssignInput",
    "Attempt",
    "CancelInput",
    "NoAnswerInput",
    "ProblemAction",
    "ProblemInput",
    "Question",
    "ReturnVisitDetails",
    "ReturnVisitEnvironment",
    "ReturnVisitOutcome",
]

MAX_QUESTIONS = 20
"""The most questions a script holds (and answers a call records)."""


class ReturnVisitOutcome(str, Enum):
    """What the return visit found."""

    SATISFIED = "satisfied"
    PROBLEM_PERSISTS = "problem_persists"
    UNREACHABLE = "unreachable"


class ProblemAction(str, Enum):
    """What a problem that persists sets off (the trigger the visit's step then fires)."""

    REOPEN_TICKET = "reopen_ticket"
    OPEN_CASE = "open_case"


class Question(Record):
    """One question of the script, with an id its answers are recorded under."""

    id: Identifier
    text: Text


class Attempt(Record):
    """One call: when, by whom, whether the customer was reached, and the answers."""

    at: Instant
    by: Identifier
    reached: bool
    answers: dict[Identifier, Text] = Field(default_factory=dict)
    note: Text | None = None


class ReturnVisitDetails(Record):
    """A return visit: what it follows, its script, its attempts and what came of it."""

    subject_id: Identifier
    subject_kind: Identifier
    due_at: Instant
    language: ShortText = "en"
    script: Annotated[tuple[Question, ...], Field(min_length=1, max_length=MAX_QUESTIONS)]
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    attempts: tuple[Attempt, ...] = ()
    assignee: Identifier | None = None
    team: Identifier | None = None
    assigned_by: Literal["router", "ticket", "agent"] | None = None
    on_problem: ProblemAction = ProblemAction.REOPEN_TICKET
    linked_kind: Literal["repair", "complaint"] = "complaint"
    """The kind ``open_case`` opens: a repair follows only a repair."""
    outcome: ReturnVisitOutcome | None = None
    note: Text | None = None
    linked_case_id: Identifier | None = None
    reopened_ticket_id: Identifier | None = None
    """The ticket worked on again: the visit's own, reopened (or open already), or the
    follow-up ticket opened when it was too late to reopen it."""
    ticket_follow_up: Literal["reopened", "already_open", "follow_up_ticket"] | None = None
    reason: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        ids = [question.id for question in self.script]
        if len(set(ids)) != len(ids):
            raise ValueError("the script's question ids must be unique")
        if self.linked_kind == "repair" and self.subject_kind != "repair":
            raise ValueError("a linked repair follows only a repair (linked_kind='complaint')")
        return self


# ---------------------------------------------------------------------- payloads


class AssignInput(Payload):
    """Who calls (an agent, a team, or both)."""

    assignee: Identifier | None = None
    team: Identifier | None = None

    @model_validator(mode="after")
    def _someone(self) -> Self:
        if self.assignee is None and self.team is None:
            raise ValueError("name an assignee, a team or both")
        return self


class NoAnswerInput(Payload):
    """A call that did not reach the customer."""

    note: Text | None = None


class AnswersInput(Payload):
    """The customer's answers, by question id, and a note."""

    answers: dict[Identifier, Text] = Field(default_factory=dict, max_length=MAX_QUESTIONS)
    note: Text | None = None


class ProblemInput(AnswersInput):
    """The answers, and what to do about the problem (the visit's ``on_problem`` if not
    given)."""

    then: ProblemAction | None = None


class CancelInput(Payload):
    """Why the visit is called off."""

    reason: Text | None = None


# ---------------------------------------------------------------------- environment


@attrs.frozen
class ReturnVisitEnvironment(CaseEnvironment):
    """What a return visit's step sees besides its payload: the assignment made when it
    comes due, the ticket worked on again when a problem persists."""

    assignment: tuple[str | None, str | None, str] | None = None
    """(team, assignee, ``"router"`` or ``"ticket"``)."""
    ticket_follow_up: tuple[str, str] | None = None
    """(the ticket's id, ``"reopened"``, ``"already_open"`` or ``"follow_up_ticket"``)."""
    ticket_team: str | None = None
    """The ticket's team when the visit is assigned: only its agents may act on the visit."""


def _details(context: TransitionContext) -> ReturnVisitDetails:
    case: Case = context.subject
    details = case.details
    assert isinstance(details, ReturnVisitDetails)
    return details


def _update(context: TransitionContext, **update: Any) -> Mapping[str, Any]:
    return {"details": _details(context).model_copy(update=update)}


def _attempts_left(context: TransitionContext) -> Refusal | None:
    """``no_answer`` leaves another attempt; the last unanswered call is ``unreachable``."""
    details = _details(context)
    made = len(details.attempts) + 1
    if made < details.max_attempts:
        return None
    return Refusal(
        "last_attempt",
        f"this is attempt {made} of {details.max_attempts}: record it as unreachable",
        f"这是第 {made} 次（共 {details.max_attempts} 次）回访：请记录为无法联系",
        {"attempt": made, "max_attempts": details.max_attempts},
    )


def _attempts_used(context: TransitionContext) -> Refusal | None:
    """``unreachable`` only on the last attempt: an earlier unanswered call is ``no_answer``."""
    details = _details(context)
    made = len(details.attempts) + 1
    if made >= details.max_attempts:
        return None
    return Refusal(
        "attempts_left",
        f"this is attempt {made} of {details.max_attempts}: record it as no_answer",
        f"这是第 {made} 次（共 {details.max_attempts} 次）回访：请记录为未接通",
        {"attempt": made, "max_attempts": details.max_attempts},
    )


def _follows_by(action: ProblemAction) -> Guard:
    def guard(context: TransitionContext) -> Refusal | None:
        configured = _details(context).on_problem
        if configured is action:
            return None
        return Refusal(
            "other_follow_up",
            f"this return visit follows the problem up with {configured.value}",
            f"该回访的后续处理方式是 {configured.value}",
            {"on_problem": configured.value},
        )

    guard.__doc__ = f"The visit follows a persisting problem up with {action.value}."
    return guard


def _attempt(context: TransitionContext, reached: bool) -> Attempt:
    payload = context.payload
    answers: dict[str, str] = {}
    if isinstance(payload, AnswersInput):
        known = {question.id for question in _details(context).script}
        for question in payload.answers:
            if question not in known:
                raise InvalidInput(
                    f"{context.trigger} payload",
                    [
                        FieldError(
                            ("answers", question),
                            f"the script has no question {question!r}; "
                            f"its questions: {', '.join(sorted(known))}",
                        )
                    ],
                )
        answers = dict(payload.answers)
    note = getattr(payload, "note", None)
    return Attempt(at=context.now, by=context.actor, reached=reached, answers=answers, note=note)


def _called(
    context: TransitionContext, reached: bool, outcome: ReturnVisitOutcome | None = None
) -> Mapping[str, Any]:
    attempt = _attempt(context, reached)
    details = _details(context)
    update: dict[str, Any] = {"attempts": (*details.attempts, attempt)}
    if outcome is not None:
        update.update(outcome=outcome, note=attempt.note)
    return _update(context, **update)


def _make_due(context: TransitionContext) -> Mapping[str, Any]:
    environment = context.settings
    if not isinstance(environment, ReturnVisitEnvironment) or environment.assignment is None:
        return {}
    team, assignee, by = environment.assignment
    return _update(context, team=team, assignee=assignee, assigned_by=by)


def _assign(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, AssignInput)
    details = _details(context)
    environment = context.settings
    ticket_team = (
        environment.ticket_team if isinstance(environment, ReturnVisitEnvironment) else None
    )
    if ticket_team is not None and payload.team not in (None, ticket_team):
        # The permissions' row rule reads a visit's team as its ticket's: an agent of
        # another team could not act on it.
        raise InvalidInput(
            "assign payload",
            [FieldError(("team",), f"the visit's ticket belongs to team {ticket_team!r}")],
        )
    return _update(
        context,
        assignee=payload.assignee or details.assignee,
        team=payload.team or details.team,
        assigned_by="agent",
    )


def _problem(context: TransitionContext) -> Mapping[str, Any]:
    update = dict(_called(context, True, ReturnVisitOutcome.PROBLEM_PERSISTS))
    payload = context.payload
    if isinstance(payload, ProblemInput) and payload.then is not None:
        update["details"] = update["details"].model_copy(update={"on_problem": payload.then})
    return update


def _ticket_worked(context: TransitionContext) -> Mapping[str, Any]:
    environment = context.settings
    assert isinstance(environment, ReturnVisitEnvironment)
    assert environment.ticket_follow_up is not None
    ticket_id, how = environment.ticket_follow_up
    return _update(context, reopened_ticket_id=ticket_id, ticket_follow_up=how)


def _cancelled(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    return _update(context, reason=payload.reason if isinstance(payload, CancelInput) else None)


_WAITING = ["scheduled", "due", "retry_wait"]

RETURN_VISIT_WORKFLOW = Workflow(
    "return_visit",
    initial="scheduled",
    states=[
        State("scheduled", "new", description="Waiting for its delay after the subject closed."),
        State("due", "open", description="The call is due: the assignee calls with the script."),
        State(
            "retry_wait",
            "waiting_on_customer",
            description="Not reached: called again after the retry interval.",
        ),
        State(
            "following_up",
            "open",
            description="The problem persists: the ticket is reopened or a case opened.",
        ),
        State("satisfied", "closed", description="Reached; the customer is satisfied."),
        State(
            "problem_persists",
            "closed",
            description="Reached; the problem persists and was handed on.",
        ),
        State("unreachable", "closed", description="Not reached in the attempts allowed."),
        State("cancelled", "closed"),
    ],
    transitions=[
        Transition(
            "make_due",
            "scheduled",
            "due",
            effects=["make_due"],
            description="run_due fires it at the due time (an agent may call earlier).",
        ),
        *(Transition("assign", state, state, effects=["assign"]) for state in _WAITING),
        Transition(
            "no_answer", "due", "retry_wait", guards=["attempts_left"], effects=["no_answer"]
        ),
        Transition(
            "retry",
            "retry_wait",
            "due",
            description="run_due fires it after the retry interval (an agent may call earlier).",
        ),
        Transition(
            "unreachable", "due", "unreachable", guards=["attempts_used"], effects=["unreachable"]
        ),
        Transition("satisfied", "due", "satisfied", effects=["satisfied"]),
        Transition("problem_persists", "due", "following_up", effects=["problem"]),
        Transition(
            ProblemAction.REOPEN_TICKET.value,
            "following_up",
            "problem_persists",
            guards=["follows_by_reopening"],
            effects=["ticket_worked"],
            description="Reopens the ticket, or opens its follow-up ticket when too late.",
        ),
        Transition(
            ProblemAction.OPEN_CASE.value,
            "following_up",
            "problem_persists",
            guards=["follows_by_case"],
            effects=["link_case"],
            description="Opens the linked case (a repair after a repair, else a complaint).",
        ),
        Transition("cancel", _WAITING, "cancelled", effects=["cancelled"]),
    ],
    guards={
        "attempts_left": _attempts_left,
        "attempts_used": _attempts_used,
        "follows_by_reopening": _follows_by(ProblemAction.REOPEN_TICKET),
        "follows_by_case": _follows_by(ProblemAction.OPEN_CASE),
    },
    effects={
        "make_due": _make_due,
        "assign": _assign,
        "no_answer": lambda context: _called(context, False),
        "unreachable": lambda context: _called(context, False, ReturnVisitOutcome.UNREACHABLE),
        "satisfied": lambda context: _called(context, True, ReturnVisitOutcome.SATISFIED),
        "problem": _problem,
        "ticket_worked": _ticket_worked,
        "link_case": lambda context: _update(context, linked_case_id=new_id()),
        "cancelled": _cancelled,
    },
    payloads={
        "assign": AssignInput,
        "no_answer": NoAnswerInput,
        "unreachable": NoAnswerInput,
        "satisfied": AnswersInput,
        "problem_persists": ProblemInput,
        "cancel": CancelInput,
    },
)
"""The return visit workflow."""
