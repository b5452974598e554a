"""The desk's follow-ups (``desk.surveys``): the internal hooks that open a survey (or
another follow-up case) once per subject when it is resolved or closed, the answer from a
signed token, and what a negative answer sets off."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import inspect
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aftersales._pipeline import ATTEMPTS, fire_with_retries
from aftersales._validation import ACTING, parse
from aftersales.cases.care import unreachable_reason
from aftersales.cases.coupons import COUPON, coupon_details
from aftersales.cases.surveys import (
    SURVEY,
    AnswerInput,
    LowScoreAction,
    SurveyDetails,
    answer_problem,
    schedule_survey,
    survey_key,
    token_survey_id,
)
from aftersales.exceptions import (
    CaseNotFound,
    ConcurrencyError,
    CustomerNotFound,
    FieldError,
    InvalidInput,
    SurveyTokenRefused,
    TicketNotFound,
    TransitionError,
)
from aftersales.feedback._rules import FollowUpRule, SurveySettings
from aftersales.models import StatusCategory
from aftersales.models.case import Case, CaseKind, ComplaintDetails
from aftersales.models.events import TICKET_KIND
from aftersales.models.ticket import Severity, Ticket
from aftersales.notify._notification import Notification
from aftersales.privacy.audit import ERASED
from aftersales.security import Principal
from aftersales.storage import CaseChange

if TYPE_CHECKING:
    from aftersales.desk import Desk

__all__ = ["HOLD_HOOK", "LOW_SCORE_HOOK", "SCHEDULE_HOOK", "Surveys", "follow_up_id"]

SCHEDULE_HOOK = "aftersales.feedback.schedule"
"""The name of the internal hook that opens follow-ups (its outbox rows carry it)."""
HOLD_HOOK = "aftersales.feedback.hold"
"""The name of the internal hook that holds a survey when its subject is reopened."""
LOW_SCORE_HOOK = "aftersales.feedback.low_score"
"""The name of the internal hook that reopens a ticket after a negative answer."""

_NOT_SURVEYED = frozenset({"cancelled", "merged", "refused", "expired"})
"""States that end a subject without serving the customer: nothing to ask about."""

_ENDS = frozenset({StatusCategory.RESOLVED, StatusCategory.CLOSED})

_REOPENABLE = frozenset({"resolved", "confirmed", "followed_up", "closed"})


def follow_up_id(opens: str, subject_kind: str, subject_id: str) -> str:
    """The id of the ``opens`` case that follows up a subject: the same for every
    delivery of the subject's events, so a retried hook opens nothing twice."""
    digest = hashlib.sha256(f"{subject_kind}\n{subject_id}".encode()).hexdigest()[:32]
    return f"{opens}-{digest}"


class Surveys:
    """The follow-ups of one desk (``Desk(surveys=...)``, then ``desk.surveys``).

    When a subject enters a state a rule names, an internal hook (through the outbox, so
    at least once and after the commit) opens the rule's case with an id derived from the
    subject: once per subject, however often the hook is delivered and whether the
    ticket was closed by an agent or by :meth:`~aftersales.Desk.run_due`.
    """

    def __init__(self, desk: Desk, settings: SurveySettings) -> None:
        self.desk = desk
        self.settings = settings
        workflows = desk._subject_workflows()
        self._states: list[tuple[FollowUpRule, dict[str, frozenset[str]]]] = []
        problems: list[FieldError] = []
        for index, rule in enumerate(settings.rules):
            problem = _opener_problem(desk, rule)
            if problem is not None:
                problems.append(FieldError(("rules", index, "opens"), problem))
            states: dict[str, frozenset[str]] = {}
            for kind in rule.kinds:
                workflow = workflows.get(kind)
                if workflow is None or kind == SURVEY.name:
                    problems.append(
                        FieldError(("rules", index, "kinds"), f"cannot follow {kind!r}")
                    )
                    continue
                names = {state.name for state in workflow.states}
                if rule.states is not None:
                    unknown = sorted(set(rule.states) - names)
                    if unknown:
                        problems.append(
                            FieldError(
                                ("rules", index, "states"),
                                f"{kind} has no state {', '.join(unknown)}",
                            )
                        )
                    states[kind] = frozenset(rule.states) & names
                else:
                    ends = {StatusCategory.CLOSED}
                    if rule.after == "resolution":
                        ends.add(StatusCategory.RESOLVED)
                    states[kind] = frozenset(
                        s.name
                        for s in workflow.states
                        if s.category in ends and s.name not in _NOT_SURVEYED
                    )
            self._states.append((rule, states))
        if problems:
            raise InvalidInput("surveys", problems)
        self._workflows = workflows
        kinds = sorted({kind for _, states in self._states for kind in states})
        entered = sorted(
            {state for _, states in self._states for s in states.values() for state in s}
        )
        desk.subscribe(self._subject_ended, entered=entered, kinds=kinds, name=SCHEDULE_HOOK)
        leaving = sorted(
            {
                transition.trigger
                for _, states in self._states
                for kind, ends in states.items()
                for transition in workflows[kind].transitions
                if (ends.intersection(transition.source) and transition.dest not in ends)
                or transition.dest in _NOT_SURVEYED
            }
        )
        if leaving:
            desk.subscribe(self._subject_reopened, triggers=leaving, kinds=kinds, name=HOLD_HOOK)
        if any(rule.low_score_action is LowScoreAction.REOPEN for rule in settings.rules):
            desk.subscribe(
                self._answered, triggers="answer", kinds=SURVEY.name, name=LOW_SCORE_HOOK
            )

    # ------------------------------------------------------------------ scheduling

    def rule_for(self, subject_kind: str, state: str, ticket: Ticket) -> FollowUpRule | None:
        """The first rule that follows up a subject of ``subject_kind`` entering
        ``state`` on ``ticket``'s channel, or None."""
        for rule, states in self._states:
            if state in states.get(subject_kind, ()) and (
                rule.channels is None or ticket.channel in rule.channels
            ):
                return rule
        return None

    def _subject(self, kind: str, subject_id: str) -> tuple[Ticket, str | None, str | None]:
        """The subject's ticket, what became of it as it is now (whatever order the
        hook's rows come in): ``"ended"`` (resolved or closed), ``"dropped"`` (cancelled,
        merged...: nothing to ask about) or None (worked on), and the subject case's
        order (its follow-up is about the same order)."""
        store = self.desk.store
        order_id = None
        if kind == TICKET_KIND:
            ticket = store.get(subject_id)
            status = ticket.status
        else:
            case = store.get_case(subject_id)
            ticket, status, order_id = store.get(case.ticket_id), case.status, case.order_id
        category = self._workflows[kind].category_of(status)
        if status in _NOT_SURVEYED and category is StatusCategory.CLOSED:
            return ticket, "dropped", order_id
        return ticket, "ended" if category in _ENDS else None, order_id

    def _subject_ended(self, notification: Notification) -> None:
        """Open the rule's case for a subject that ended, once; put a survey held by a
        reopening back on schedule."""
        event = notification.event
        ticket, became, order_id = self._subject(event.subject_kind, event.subject_id)
        rule = self.rule_for(event.subject_kind, event.to_state, ticket)
        if rule is None or became != "ended":
            return  # reopened since: the next end schedules it
        why = unreachable_reason(self.desk.cases, ticket.customer_id)
        # no survey or call to a customer who asked for none (a coupon is owed all the same)
        unwanted = why == "erased" or (why == "opted_out" and rule.opens != COUPON.name)
        case_id = follow_up_id(rule.opens, event.subject_kind, event.subject_id)
        existing = self._case(case_id)
        if existing is not None:
            if existing.status == "on_hold" and unwanted:
                self._fire(existing, "cancel", None)
            elif existing.status == "on_hold":
                send_at = event.at + rule.survey_delay
                self._fire(existing, "resume", {"send_at": send_at})
            return
        if unwanted:
            return
        try:
            if rule.opens == SURVEY.name:
                self._schedule(
                    rule, case_id, event.subject_kind, event.subject_id, ticket, event.at, order_id
                )
            else:
                fields = _opener_fields(rule, event.subject_kind, event.subject_id, case_id)
                self.desk.cases.open(rule.opens, ticket.id, **fields)
        except ConcurrencyError:
            if self._case(case_id) is None:  # pragma: no cover - another writer's failure
                raise

    def _subject_reopened(self, notification: Notification) -> None:
        """Hold the survey of a subject reopened before the survey went out; withdraw it
        when the subject is dropped (a reopened ticket merged into another, cancelled)."""
        event = notification.event
        _, became, _ = self._subject(event.subject_kind, event.subject_id)
        if became == "ended":
            return
        survey = self._case(follow_up_id(SURVEY.name, event.subject_kind, event.subject_id))
        if survey is None or survey.status not in ("scheduled", "on_hold"):
            return
        if became == "dropped":  # merged into another ticket, cancelled: never to be asked
            self._fire(survey, "cancel", None)
        elif survey.status == "scheduled":
            self._fire(survey, "hold", None)

    def _fire(self, survey: Case, trigger: str, payload: dict[str, Any] | None) -> None:
        # a survey that moved on meanwhile (sent, cancelled) has nothing left to do
        with contextlib.suppress(TransitionError):
            self.desk.cases.fire(survey.id, trigger, actor="system", payload=payload)

    def _case(self, case_id: str) -> Case | None:
        try:
            return self.desk.store.get_case(case_id)
        except CaseNotFound:
            return None

    def _schedule(
        self,
        rule: FollowUpRule,
        case_id: str,
        subject_kind: str,
        subject_id: str,
        ticket: Ticket,
        ended_at: datetime,
        order_id: str | None,
    ) -> Case:
        language = None
        if ticket.customer_id is not None:
            try:
                language = self.desk.store.get_customer(ticket.customer_id).language
            except CustomerNotFound:
                language = None
        language, question = self.settings.question(language, rule.survey)
        return schedule_survey(
            self.desk.cases,
            ticket.id,
            survey=rule.survey,
            question=question,
            language=language,
            # from the subject's end, not the hook's delivery: a retry keeps the delay
            send_at=ended_at + rule.survey_delay,
            response_hours=rule.response_hours,
            scale=rule.survey_scale,
            subject_id=subject_id,
            subject_kind=subject_kind,
            channel=ticket.channel,
            negative_below=rule.negative_threshold,
            reason_required=rule.reason_required,
            low_score_action=rule.low_score_action,
            coupon=rule.coupon,
            id=case_id,
            order_id=order_id,
        )

    def withdraw_due(self, now: datetime, limit: int) -> list[Case]:
        """Cancel the scheduled surveys and return visits due by ``now`` whose customer
        opted out of care or was erased since they were scheduled
        (:meth:`~aftersales.Desk.run_due` calls it before it sends what is due)."""
        kinds = {rule.opens for rule in self.settings.rules} - {COUPON.name}
        withdrawn: list[Case] = []
        for case in self.desk.store.cases_due(now, limit):
            if case.kind.value not in kinds or case.status != "scheduled":
                continue
            if unreachable_reason(self.desk.cases, case.customer_id) is None:
                continue
            with contextlib.suppress(TransitionError, ConcurrencyError):
                withdrawn.append(self.desk.cases.fire(case.id, "cancel", actor="system"))
        return withdrawn

    # ------------------------------------------------------------------ answering

    def answer(
        self,
        token: str,
        *,
        score: int,
        reason: str | None = None,
        comment: str | None = None,
    ) -> Case:
        """Record the answer the survey link's ``token`` identifies, as the survey's
        customer (no login: the signed token is the proof), with what a negative answer
        sets off in the same transaction (a complaint, an alert; a reopening follows
        through the outbox). A token forged, used, expired or of a cancelled survey
        raises :class:`~aftersales.exceptions.SurveyTokenRefused`, and so does one of a
        customer erased since it was sent (one who opted out of care may still answer
        the link already sent to them); a score off the scale,
        or a negative one without the reason the survey asks for,
        :class:`~aftersales.InvalidInput`. Either way nothing is stored."""
        case = self._surveyed(token)
        payload = parse(
            AnswerInput, {"score": score, "reason": reason, "comment": comment}, "answer"
        )
        details = case.details
        assert isinstance(details, SurveyDetails)
        problem = answer_problem(details, payload.score, payload.reason)
        if problem is not None:
            field = "reason" if problem.code == "reason_needed" else "score"
            raise InvalidInput("answer", [FieldError((field,), problem.message, problem.code)])
        principal = Principal.customer(case.customer_id) if case.customer_id is not None else None
        actor = "system" if principal is None else principal.id
        recorded = payload.model_dump(exclude_none=True)
        cases = self.desk.cases
        acting = ACTING.set(principal)
        try:
            return fire_with_retries(
                case.id,
                recent=cases._recent,
                read=cases.get,
                transition=lambda survey: self._commit_answer(survey, actor, recorded),
                expected_version=None,
                attempts=ATTEMPTS,
            )
        except TransitionError:
            self._surveyed(token)  # answered or expired meanwhile: say which
            raise
        finally:
            ACTING.reset(acting)

    def _surveyed(self, token: str) -> Case:
        """The survey a token may answer now; otherwise SurveyTokenRefused."""
        survey_id = token_survey_id(survey_key(self.desk.settings), token)
        invalid = SurveyTokenRefused("invalid", "this survey link is not valid")
        if survey_id is None:
            raise invalid
        try:
            case = self.desk.store.get_case(survey_id)
        except CaseNotFound:
            raise invalid from None
        details = case.details
        if not isinstance(details, SurveyDetails) or details.token is None:
            raise invalid
        if not hmac.compare_digest(details.token, token):
            raise invalid
        if case.status == "answered":
            raise SurveyTokenRefused("used", "this survey has been answered already")
        # an erased customer's link, already sent, takes nothing more about them; one
        # who opted out of care after it was sent may still answer: answering the link
        # they hold is their own choice, and opting out stops what we send, not that
        if case.status == "cancelled" or self._erased(case):
            raise SurveyTokenRefused("cancelled", "this survey was withdrawn")
        expires_at = details.expires_at
        if case.status == "expired" or (
            expires_at is not None and self.desk.services.now() >= expires_at
        ):
            raise SurveyTokenRefused(
                "expired", "the time to answer this survey has passed; thank you all the same"
            )
        return case

    def _erased(self, case: Case) -> bool:
        """Whether the survey's customer was erased: their record says so, or, as there
        may be no record, the survey's ticket's subject reads as erased (erasing the
        customer rewrites each of their tickets so; retention does too, and then the
        ticket's personal data is gone as well)."""
        if unreachable_reason(self.desk.cases, case.customer_id) == "erased":
            return True
        try:
            return self.desk.store.get(case.ticket_id).subject == ERASED
        except TicketNotFound:
            return False

    def _commit_answer(self, survey: Case, actor: str, payload: dict[str, Any]) -> Case:
        cases = self.desk.cases
        now = self.desk.services.now()
        before = survey.details
        assert isinstance(before, SurveyDetails)
        alerts = before.low_score_action is LowScoreAction.ALERT
        trigger = "alert" if alerts and payload["score"] < before.negative_below else "answer"
        change = cases._decided(survey, trigger, actor, payload, now)
        details = change.case.details
        assert isinstance(details, SurveyDetails)
        changes = [change]
        if details.negative and details.low_score_action is LowScoreAction.COMPLAINT:
            changes.append(self._complaint(change.case, details, actor))
        if details.negative and details.low_score_action is LowScoreAction.COUPON:
            changes.append(self._coupon(change.case, details, actor, now))
        cases._commit(changes)
        return change.case

    def _complaint(self, survey: Case, details: SurveyDetails, actor: str) -> CaseChange:
        scale = f"{details.score}/{details.scale} ({details.survey.value})"
        summary = f"Negative survey answer {scale}: {details.reason or 'no reason given'}"
        if details.comment:
            summary += f"\n{details.comment}"
        cases = self.desk.cases
        _, change = cases._new(
            CaseKind.COMPLAINT,
            cases._ticket(survey.ticket_id),
            actor,
            id=follow_up_id(CaseKind.COMPLAINT.value, SURVEY.name, survey.id),
            parent_id=survey.id,
            order_id=survey.order_id,
            complaint=ComplaintDetails(summary=summary[:10_000], severity=Severity.MEDIUM),
        )
        return change

    def _coupon(
        self, survey: Case, details: SurveyDetails, actor: str, now: datetime
    ) -> CaseChange:
        """The goodwill coupon a negative answer issues: one per survey (the answer
        commits once), for the survey's order."""
        assert details.coupon is not None
        cases = self.desk.cases
        reason = f"goodwill after survey score {details.score}/{details.scale}"
        _, change = cases._new(
            COUPON.kind,
            cases._ticket(survey.ticket_id),
            actor,
            id=follow_up_id(COUPON.name, SURVEY.name, survey.id),
            parent_id=survey.id,
            order_id=survey.order_id,
            details=coupon_details(
                details.coupon, now, reason=reason, subject_id=survey.id, subject_kind="survey"
            ),
        )
        return change

    def _answered(self, notification: Notification) -> None:
        """Reopen the surveyed ticket after a negative answer, once: a redelivery finds
        the reopening (or the follow-up ticket) that names the survey."""
        survey = self.desk.store.get_case(notification.event.subject_id)
        details = survey.details
        if not (
            isinstance(details, SurveyDetails)
            and details.negative
            and details.low_score_action is LowScoreAction.REOPEN
        ):
            return
        desk = self.desk
        ticket = desk.get(survey.ticket_id)
        marker = f"survey {survey.id}"
        if any(
            marker in str(event.payload.get("reason", ""))
            for event in desk.store.events(ticket.id)
            if event.trigger == "reopen"
        ) or any(marker in (t.description or "") for t in _follow_ups(desk, ticket.id)):
            return
        if ticket.status not in _REOPENABLE:
            return  # worked on again already
        why = details.reason or "no reason given"
        desk.reopen(
            ticket.id,
            reason=f"{marker}: score {details.score}/{details.scale}: {why}",
            actor="system",
        )


def _follow_ups(desk: Desk, ticket_id: str) -> Iterable[Ticket]:
    return desk.find(follow_up_of=ticket_id, limit=10_000)


def _opener_fields(
    rule: FollowUpRule, subject_kind: str, subject_id: str, case_id: str
) -> dict[str, Any]:
    """The keywords the opener of a rule's kind (not a survey) is called with."""
    fields: dict[str, Any] = {
        "subject_id": subject_id,
        "subject_kind": subject_kind,
        "id": case_id,
        "actor": "system",
        **(rule.options or {}),
    }
    if rule.delay_hours is not None:
        fields["delay_hours"] = rule.delay_hours
    return fields


def _opener_problem(desk: Desk, rule: FollowUpRule) -> str | None:
    """Why the rule cannot open its kind's cases, or None."""
    if rule.opens not in desk.cases.kinds:
        return f"unknown case kind {rule.opens!r}"
    if rule.opens == SURVEY.name:
        return None
    opener = desk.cases.spec(rule.opens).opener
    if opener is None:
        return f"case kind {rule.opens!r} has no opener"
    fields = _opener_fields(rule, TICKET_KIND, "subject", "id")
    try:
        inspect.signature(opener).bind(desk.cases, "ticket", **fields)
    except TypeError as error:
        return f"the {rule.opens} opener does not take the rule: {error}"
    return None
