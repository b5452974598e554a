"""Satisfaction surveys (满意度回访): CSAT, NPS and CES as cases of their own.

A survey is scheduled for one surveyed subject (a ticket, a repair, a return, a
complaint, a visit...), sent when its delay has passed, and answered once through a
signed link, or expires when its response window closes. The whole kind is this module:
its details, workflow, opener, signed tokens and step limits, registered in
:data:`aftersales.cases.KINDS`. :mod:`aftersales.feedback` schedules surveys when
subjects are resolved or closed, answers them from a token and acts on low scores.

Time limits ride on the case's ``step_due_at``: :meth:`~aftersales.CaseDesk.run_due`
fires ``send`` at the survey's ``send_at`` and ``expire`` at its ``expires_at``. The
``send`` event carries what a sender needs in its ``changes["details"]``: the token, the
survey type and scale, the language and the question in it.

A token is ``<survey id, base64>.<expiry, unix seconds>.<nonce>.<HMAC-SHA256>``, signed
with ``DeskSettings.survey_key`` (see :func:`survey_key`): URL-safe, one-time (the survey
leaves ``sent`` when answered) and expiring.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import attrs
from pydantic import Field, model_validator
from typing_extensions import Self

from aftersales._validation import parse
from aftersales.cases._orders import bad
from aftersales.cases._spec import CaseKindSpec
from aftersales.cases.care import unreachable_reason
from aftersales.cases.coupons import CouponOffer
from aftersales.models._base import Identifier, Instant, Record, ShortText, Text
from aftersales.models.case import Case
from aftersales.models.customer import Channel
from aftersales.privacy.audit import DEFAULT_AUDIT_KEY
from aftersales.workflows import (
    CaseEnvironment,
    Refusal,
    State,
    Transition,
    TransitionContext,
    Workflow,
)
from aftersales.workflows._case_steps import Payload

if TYPE_CHECKING:
    from aftersales.cases._writer import CaseWriter
    from aftersales.policies.decision import Decision
    from aftersales.settings import DeskSettings

__all__ = [
    "SURVEY",
    "SURVEY_WORKFLOW",
    "LowScoreAction",
    "SurveyDetails",
    "SurveyType",
    "schedule_survey",
    "score_range",
    "survey_key",
    "survey_token",
    "token_survey_id",
]


class SurveyType(str, Enum):
    """What a survey asks."""

    CSAT = "csat"
    """Customer satisfaction, 1 to ``scale`` (5 by default)."""
    NPS = "nps"
    """Net promoter score: how likely to recommend us, 0 to 10."""
    CES = "ces"
    """Customer effort: how easy it was to get the issue handled, 1 to ``scale`` (7)."""


class LowScoreAction(str, Enum):
    """What a negative answer sets off."""

    REOPEN = "reopen"
    """Reopen the surveyed ticket (or open its follow-up when too late), at least once."""
    COMPLAINT = "complaint"
    """Open a complaint on the ticket, in the answer's transaction (its ``parent_id``
    names the survey)."""
    ALERT = "alert"
    """Record the answer as an ``alert`` event (instead of ``answer``): a supervisor's
    hook subscribes to it (``kinds="survey", triggers="alert"``)."""
    COUPON = "coupon"
    """Issue a goodwill coupon (the survey's ``coupon`` offer) to the customer, in the
    answer's transaction (its ``parent_id`` names the survey)."""


DEFAULT_SCALE = {SurveyType.CSAT: 5, SurveyType.NPS: 10, SurveyType.CES: 7}
"""The scale of each survey type when a rule names none (NPS is always 0-10)."""

DEFAULT_NEGATIVE_BELOW = {SurveyType.CSAT: 3, SurveyType.NPS: 7, SurveyType.CES: 3}
"""Scores below these are negative when a rule says nothing: CSAT 1-2 of 5, NPS's
detractors (0-6), CES 1-2 of 7."""


def score_range(survey: SurveyType, scale: int) -> range:
    """The scores a survey accepts: 0-10 for NPS, 1 to ``scale`` otherwise."""
    return range(0, 11) if survey is SurveyType.NPS else range(1, scale + 1)


class SurveyDetails(Record):
    """One survey: what it asks, about which subject, when it goes out and expires, what
    counts as negative and what that sets off, and the answer."""

    survey: SurveyType
    scale: Annotated[int, Field(ge=2, le=10)]
    subject_id: Identifier
    subject_kind: Identifier
    """``"ticket"`` or the case kind surveyed (``"repair"``, ``"visit"``...)."""
    channel: Channel | None = None
    language: ShortText
    question: Text
    send_at: Instant
    response_hours: Annotated[float, Field(gt=0, le=24 * 366)]
    negative_below: Annotated[int, Field(ge=0, le=11)]
    """Scores below this are negative: they need a reason (``reason_required``) and set
    off ``low_score_action``."""
    reason_required: bool = True
    low_score_action: LowScoreAction | None = None
    coupon: CouponOffer | None = None
    """The goodwill coupon a negative answer issues (``low_score_action="coupon"``)."""
    expires_at: Instant | None = None
    token: Annotated[str, Field(min_length=1, max_length=400)] | None = None
    """The one-time answer token, minted when the survey is sent."""
    score: Annotated[int, Field(ge=0, le=10)] | None = None
    negative: bool | None = None
    reason: ShortText | None = None
    comment: Text | None = None
    answered_at: Instant | None = None

    @model_validator(mode="after")
    def _scale_fits(self) -> Self:
        if self.survey is SurveyType.NPS and self.scale != 10:
            raise ValueError("an NPS survey is scored 0 to 10 (scale 10)")
        if self.score is not None and self.score not in score_range(self.survey, self.scale):
            raise ValueError(f"score {self.score} is outside the survey's scale")
        if (self.low_score_action is LowScoreAction.COUPON) != (self.coupon is not None):
            raise ValueError("a coupon offer goes with low_score_action 'coupon', and only")
        return self


# ---------------------------------------------------------------------- tokens


def survey_key(settings: DeskSettings) -> bytes:
    """The key that signs survey tokens: ``survey_key``, else one derived from
    ``audit_key`` (so a desk with an audit key signs with a secret too), else derived
    from the library's public audit key (fine for tests, forgeable in production)."""
    if settings.survey_key is not None:
        return settings.survey_key.get_secret_value().encode()
    audit = settings.audit_key
    base = DEFAULT_AUDIT_KEY if audit is None else audit.get_secret_value().encode()
    return hmac.new(base, b"aftersales survey tokens v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, survey_id: str, expires: int, nonce: str) -> str:
    message = f"{survey_id}\n{expires}\n{nonce}".encode()
    return _b64(hmac.new(key, message, hashlib.sha256).digest())


def survey_token(key: bytes, survey_id: str, expires_at: datetime, nonce: str) -> str:
    """The signed, URL-safe token of a survey for a link in the survey message."""
    expires = int(expires_at.timestamp())
    signature = _signature(key, survey_id, expires, nonce)
    return f"{_b64(survey_id.encode())}.{expires}.{nonce}.{signature}"


def token_survey_id(key: bytes, token: object) -> str | None:
    """The survey id a token names when it is well formed and signed with ``key``,
    else None (a forged or mangled token)."""
    if not isinstance(token, str) or len(token) > 400 or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 4 or not parts[1].isdigit():
        return None
    encoded, expires, nonce, signature = parts
    try:
        survey_id = _unb64(encoded).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    expected = _signature(key, survey_id, int(expires), nonce)
    return survey_id if hmac.compare_digest(expected, signature) else None


# ---------------------------------------------------------------------- payloads, guards


class AnswerInput(Payload):
    """The customer's answer (a whole number: neither ``True`` nor ``"5"``)."""

    score: Annotated[int, Field(ge=0, le=10, strict=True)]
    reason: ShortText | None = None
    comment: Text | None = None


class ResumeInput(Payload):
    """When the survey goes out, now that its subject has ended again."""

    send_at: Instant


def _details(context: TransitionContext) -> SurveyDetails:
    case: Case = context.subject
    details = case.details
    assert isinstance(details, SurveyDetails)
    return details


def answer_problem(details: SurveyDetails, score: int, reason: str | None) -> Refusal | None:
    """Why an answer does not fit the survey (a score off its scale, a negative answer
    without the reason the survey asks for), or None."""
    scores = score_range(details.survey, details.scale)
    if score not in scores:
        return Refusal(
            "score_off_scale",
            f"the score must be from {scores.start} to {scores.stop - 1}",
            f"评分须在 {scores.start} 到 {scores.stop - 1} 之间",
            {"low": scores.start, "high": scores.stop - 1},
        )
    if score < details.negative_below and details.reason_required and not reason:
        return Refusal("reason_needed", "say what went wrong", "请说明不满意的原因")
    return None


def _answer_fits(context: TransitionContext) -> Refusal | None:
    payload = context.payload
    assert isinstance(payload, AnswerInput)
    details = _details(context)
    expires_at = details.expires_at
    if expires_at is not None and context.now >= expires_at:
        return Refusal(
            "survey_expired",
            f"the survey could be answered until {expires_at.isoformat()}",
            f"问卷已于 {expires_at.isoformat()} 截止",
        )
    return answer_problem(details, payload.score, payload.reason)


def _negative(context: TransitionContext) -> Refusal | None:
    """An alert is a negative answer."""
    payload = context.payload
    assert isinstance(payload, AnswerInput)
    if payload.score < _details(context).negative_below:
        return None
    return Refusal("not_negative", "only a negative answer raises an alert", "仅差评触发预警")


@attrs.frozen
class _SendEnvironment(CaseEnvironment):
    """What sending a survey sees: why its customer may not be reached, if so."""

    unreachable: str | None = None


def _environment(
    cases: CaseWriter, case: Case, trigger: str, decision: Decision | None
) -> CaseEnvironment:
    settings = cases.services.settings
    if trigger != "send":
        return CaseEnvironment(settings, decision)
    # read at send time: the customer may have opted out or been erased since scheduling
    why = unreachable_reason(cases, case.customer_id)
    return _SendEnvironment(settings, decision, unreachable=why)


def _reachable(context: TransitionContext) -> Refusal | None:
    environment = context.settings
    why = environment.unreachable if isinstance(environment, _SendEnvironment) else None
    if why is None:
        return None
    return Refusal(
        f"customer_{why}",
        f"the customer is {why.replace('_', ' ')}: no survey is sent to them",
        "客户已删除个人信息或退订关怀" if why == "erased" else "客户已退订关怀",
    )


def _send(context: TransitionContext) -> Mapping[str, Any]:
    """Mint the one-time token: the survey's link is valid for its response window."""
    details = _details(context)
    expires_at = context.now + timedelta(hours=details.response_hours)
    environment = context.settings
    key = survey_key(environment.settings)
    token = survey_token(key, context.subject_id, expires_at, secrets.token_urlsafe(12))
    return {"details": details.model_copy(update={"expires_at": expires_at, "token": token})}


def _resume(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, ResumeInput)
    return {"details": _details(context).model_copy(update={"send_at": payload.send_at})}


def _answer(context: TransitionContext) -> Mapping[str, Any]:
    payload = context.payload
    assert isinstance(payload, AnswerInput)
    details = _details(context)
    update = {
        "score": payload.score,
        "negative": payload.score < details.negative_below,
        "reason": payload.reason,
        "comment": payload.comment,
        "answered_at": context.now,
    }
    return {"details": details.model_copy(update=update)}


SURVEY_WORKFLOW = Workflow(
    "survey",
    initial="scheduled",
    states=[
        State("scheduled", "new", description="Waits for its delay after the resolution."),
        State(
            "on_hold",
            "new",
            description="The surveyed subject was reopened: waits for it to end again.",
        ),
        State("sent", "waiting_on_customer", description="Sent; the answer window runs."),
        State("answered", "closed"),
        State("expired", "closed", description="No answer within the response window."),
        State("cancelled", "closed"),
    ],
    transitions=[
        Transition("send", "scheduled", "sent", guards=["reachable"], effects=["send"]),
        Transition("answer", "sent", "answered", guards=["answer_fits"], effects=["answer"]),
        Transition(
            "alert",
            "sent",
            "answered",
            guards=["answer_fits", "negative"],
            effects=["answer"],
            description="A negative answer, recorded as an alert for the supervisor.",
        ),
        Transition("expire", "sent", "expired"),
        Transition("hold", "scheduled", "on_hold"),
        Transition("resume", "on_hold", "scheduled", effects=["resume"]),
        Transition("cancel", ["scheduled", "on_hold", "sent"], "cancelled"),
    ],
    guards={"answer_fits": _answer_fits, "negative": _negative, "reachable": _reachable},
    effects={"send": _send, "answer": _answer, "resume": _resume},
    payloads={"answer": AnswerInput, "alert": AnswerInput, "resume": ResumeInput},
)
"""The survey workflow: scheduled → sent → answered | expired (| cancelled). A negative
answer whose survey alerts is recorded by ``alert``, any other by ``answer``. A survey
whose subject is reopened before it goes out is put ``on_hold`` (``hold``), and
scheduled again with a new ``send_at`` (``resume``) when the subject ends again. ``send``
is refused for a customer erased or opted out of care (the desk's ``run_due`` cancels
such a survey instead)."""


# ---------------------------------------------------------------------- desk side


def schedule_survey(
    cases: CaseWriter,
    ticket_id: str,
    *,
    survey: SurveyType | str,
    question: str,
    language: str,
    send_at: datetime,
    response_hours: float = 7 * 24,
    scale: int | None = None,
    subject_id: str | None = None,
    subject_kind: str = "ticket",
    channel: Channel | str | None = None,
    negative_below: int | None = None,
    reason_required: bool = True,
    low_score_action: LowScoreAction | str | None = None,
    coupon: CouponOffer | Mapping[str, Any] | None = None,
    actor: str = "system",
    id: str | None = None,
    order_id: str | None = None,
) -> Case:
    """Schedule a survey about a subject of the ticket (the ticket itself by default),
    sent by :meth:`~aftersales.CaseDesk.run_due` at ``send_at``. :mod:`aftersales.feedback`
    calls it from its rules; reach it as ``desk.cases.open("survey", ticket_id, ...)``:

    >>> from datetime import datetime, timezone
    >>> from aftersales import Desk, FrozenClock
    >>> desk = Desk(clock=FrozenClock(datetime(2026, 3, 2, 8, tzinfo=timezone.utc)))
    >>> ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle leaks")
    >>> survey = desk.cases.open(
    ...     "survey",
    ...     ticket.id,
    ...     survey="nps",
    ...     question="How likely are you to recommend us?",
    ...     language="en",
    ...     send_at=datetime(2026, 3, 3, 8, tzinfo=timezone.utc),
    ... )
    >>> survey.status, survey.step_action, survey.details.scale
    ('scheduled', 'send', 10)
    """
    ticket = cases._ticket(ticket_id)
    try:
        kind = SurveyType(survey)
    except ValueError:
        known = [t.value for t in SurveyType]
        raise bad(
            "survey", ("survey",), f"unknown survey type {survey!r}; known: {known}"
        ) from None
    details = parse(
        SurveyDetails,
        {
            "survey": kind,
            "scale": DEFAULT_SCALE[kind] if scale is None else scale,
            "subject_id": ticket.id if subject_id is None else subject_id,
            "subject_kind": subject_kind,
            "channel": channel,
            "language": language,
            "question": question,
            "send_at": send_at,
            "response_hours": response_hours,
            "negative_below": (
                DEFAULT_NEGATIVE_BELOW[kind] if negative_below is None else negative_below
            ),
            "reason_required": reason_required,
            "low_score_action": low_score_action,
            "coupon": coupon,
        },
        "survey",
    )
    fields: dict[str, Any] = {"details": details, "order_id": order_id}
    if id is not None:
        fields["id"] = id
    case, change = cases._new(SURVEY.kind, ticket, actor, **fields)
    cases._commit([change])
    return case


def _survey_step(cases: CaseWriter, case: Case, now: datetime) -> dict[str, Any] | None:
    """A scheduled survey is sent at ``send_at``; a sent one expires at ``expires_at``."""
    details = case.details
    if not isinstance(details, SurveyDetails):
        return None
    if case.status == "scheduled":
        return {"step_due_at": details.send_at, "step_action": "send"}
    if case.status == "sent":
        return {"step_due_at": details.expires_at, "step_action": "expire"}
    return None


SURVEY = CaseKindSpec(
    "survey",
    SURVEY_WORKFLOW,
    details=SurveyDetails,
    opener=schedule_survey,
    step=_survey_step,
    environment=_environment,
)
"""The survey kind."""

KIND = SURVEY
"""What :data:`aftersales.cases.KINDS` registers from this module."""
