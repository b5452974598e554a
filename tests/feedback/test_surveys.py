"""Satisfaction surveys: scheduled once per subject after its resolution or closure
(auto-closed tickets included), sent after the delay, answered once through a signed,
expiring token, and a negative answer setting off what the desk configured; on
MemoryStore, SQLite and, with AFTERSALES_TEST_POSTGRES_URL, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from aftersales import Desk, FrozenClock, InvalidInput, MemoryStore, SQLiteStore, Store, Ticket
from aftersales.cases import SURVEY, CaseKindSpec
from aftersales.exceptions import PermissionDenied, SurveyTokenRefused
from aftersales.feedback import (
    SCHEDULE_HOOK,
    SurveyDetails,
    Surveys,
    SurveyType,
    follow_up_id,
    survey_figures,
)
from aftersales.models import Case, Event
from aftersales.models._base import Record
from aftersales.models.customer import Customer
from aftersales.notify import Notification
from aftersales.security import MemoryDirectory, Principal, default_permissions
from aftersales.testing import capture_notifications
from aftersales.workflows import State, Transition, Workflow

START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)


def _postgres_store() -> Store:
    # as every server test: the server the variable names (else the local default), a
    # skip naming the variable where there is none, a failure in CI
    from test_sqlalchemy_store import fresh_store, server_url

    return fresh_store(server_url("postgresql"))


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        made: Store = MemoryStore()
    elif request.param == "sqlite":
        made = SQLiteStore(tmp_path / "surveys.db")
    else:
        made = _postgres_store()
    yield made
    made.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


def _desk(store: Store, clock: FrozenClock, **rule: Any) -> Desk:
    rules = {"kinds": ["ticket"], "delay_hours": 24, "response_hours": 72, **rule}
    return Desk(store, clock=clock, surveys={"rules": [rules]})


def _resolved(desk: Desk, customer: str = "c-1", channel: str = "email") -> Ticket:
    ticket = desk.open_ticket(customer=customer, channel=channel, subject="The kettle leaks")
    desk.classify(ticket.id, category="repair_warranty", severity="medium")
    desk.fire(ticket.id, "assign", payload={"assignee": "li.agent"})
    desk.fire(ticket.id, "start")
    return desk.fire(ticket.id, "resolve", payload={"resolution": "replaced the seal"})


def _surveys(desk: Desk, ticket_id: str) -> list[Case]:
    return [c for c in desk.cases.for_ticket(ticket_id) if c.kind.value == "survey"]


def _sent(desk: Desk, clock: FrozenClock, ticket: Ticket) -> tuple[Case, str]:
    clock.advance(hours=25)
    desk.run_due()
    (survey,) = _surveys(desk, ticket.id)
    assert isinstance(survey.details, SurveyDetails)
    assert survey.details.token is not None
    return survey, survey.details.token


def _answers(store: Store, survey_id: str) -> list[Event]:
    return [e for e in store.events(survey_id) if e.trigger in ("answer", "alert")]


# ---------------------------------------------------------------------- scheduling


def test_a_resolved_ticket_is_surveyed_after_the_delay_by_run_due(
    store: Store, clock: FrozenClock
) -> None:
    desk = _desk(store, clock, survey="nps")
    ticket = _resolved(desk)
    (survey,) = _surveys(desk, ticket.id)
    assert survey.status == "scheduled"
    assert survey.step_due_at == START + timedelta(hours=24)
    clock.advance(hours=23)
    assert desk.run_due().cases == ()
    assert _surveys(desk, ticket.id)[0].status == "scheduled"
    clock.advance(hours=2)
    (due,) = desk.run_due().cases
    assert (due.case_id, due.action) == (survey.id, "send")
    sent = desk.cases.get(survey.id)
    assert sent.status == "sent"
    assert isinstance(sent.details, SurveyDetails)
    assert sent.details.expires_at == START + timedelta(hours=25 + 72)
    assert (sent.details.survey.value, sent.details.scale) == ("nps", 10)


def test_an_auto_closed_ticket_is_surveyed(store: Store, clock: FrozenClock) -> None:
    desk = _desk(store, clock, after="closure")
    ticket = _resolved(desk)
    assert _surveys(desk, ticket.id) == []  # resolved is not closed
    clock.advance(days=8)
    report = desk.run_due()
    assert report.auto_closed == (ticket.id,)
    (survey,) = _surveys(desk, ticket.id)
    assert isinstance(survey.details, SurveyDetails)
    assert survey.details.subject_id == ticket.id
    assert survey.details.send_at == START + timedelta(days=8, hours=24)


def test_a_subject_is_surveyed_once_however_often_the_hook_is_delivered(
    store: Store, clock: FrozenClock
) -> None:
    desk = _desk(store, clock)
    ticket = _resolved(desk)
    desk.fire(ticket.id, "confirm")  # enters another resolved state
    desk.fire(ticket.id, "close")
    resolve = next(e for e in store.events(ticket.id) if e.trigger == "resolve")
    subscription = desk._hooks.get(SCHEDULE_HOOK)
    assert subscription is not None
    for _ in range(3):  # at-least-once delivery: the same row again
        subscription.handler(Notification("k", SCHEDULE_HOOK, resolve, START, START))
    (survey,) = _surveys(desk, ticket.id)
    assert survey.id == follow_up_id("survey", "ticket", ticket.id)


def test_rules_follow_channels_and_case_kinds(store: Store, clock: FrozenClock) -> None:
    rules = [
        {"kinds": ["ticket"], "channels": ["wechat"], "survey": "ces"},
        {"kinds": ["complaint"], "after": "closure", "survey": "csat", "delay_hours": 0},
    ]
    desk = Desk(store, clock=clock, surveys={"rules": rules})
    by_email = _resolved(desk, channel="email")
    by_wechat = _resolved(desk, channel="wechat")
    assert _surveys(desk, by_email.id) == []
    (ces,) = _surveys(desk, by_wechat.id)
    assert isinstance(ces.details, SurveyDetails)
    assert (ces.details.survey.value, ces.details.channel) == ("ces", by_wechat.channel)
    complaint = desk.cases.open_complaint(by_email.id, summary="Rude courier")
    for trigger in ("acknowledge", "investigate"):
        desk.cases.fire(complaint.id, trigger)
    desk.cases.fire(complaint.id, "propose", payload={"proposal": "a voucher"})
    desk.cases.fire(complaint.id, "accept")
    assert _surveys(desk, by_email.id) == []  # accepted is resolved, not closed
    desk.cases.fire(complaint.id, "close")
    (csat,) = _surveys(desk, by_email.id)
    assert isinstance(csat.details, SurveyDetails)
    assert (csat.details.subject_kind, csat.details.subject_id) == ("complaint", complaint.id)


def test_a_rule_naming_an_unknown_state_or_kind_refuses_to_build_the_desk() -> None:
    with pytest.raises(InvalidInput, match="ticket has no state shut"):
        Desk(surveys={"rules": [{"kinds": ["ticket"], "states": ["shut"]}]})
    with pytest.raises(InvalidInput, match="unknown case kind 'callback'"):
        Desk(surveys={"rules": [{"kinds": ["ticket"], "opens": "callback"}]})
    with pytest.raises(InvalidInput, match="cannot follow 'survey'"):
        Desk(surveys={"rules": [{"kinds": ["survey"]}]})


class CallbackDetails(Record):
    subject_id: str
    note: str


def open_callback(
    cases: Any,
    ticket_id: str,
    *,
    subject_id: str,
    subject_kind: str,
    id: str,
    note: str,
    actor: str = "system",
) -> Case:
    details = CallbackDetails(subject_id=subject_id, note=note)
    case, change = cases._new(
        CALLBACK.kind, cases._ticket(ticket_id), actor, id=id, details=details
    )
    cases._commit([change])
    return case  # type: ignore[no-any-return]


CALLBACK = CaseKindSpec(
    "test_callback",
    Workflow(
        "test_callback",
        initial="due",
        states=[State("due", "new"), State("done", "closed")],
        transitions=[Transition("call", "due", "done")],
    ),
    details=CallbackDetails,
    opener=open_callback,
)


def test_a_rule_opens_another_follow_up_kind_once(store: Store, clock: FrozenClock) -> None:
    rule = {"kinds": ["ticket"], "opens": "test_callback", "options": {"note": "call back"}}
    desk = Desk(store, clock=clock, case_kinds=[CALLBACK], surveys={"rules": [rule]})
    ticket = _resolved(desk)
    desk.fire(ticket.id, "confirm")
    (callback,) = [c for c in desk.cases.for_ticket(ticket.id) if c.kind.value == "test_callback"]
    assert callback.id == follow_up_id("test_callback", "ticket", ticket.id)
    assert callback.details == CallbackDetails(subject_id=ticket.id, note="call back")


def test_a_rule_its_kinds_opener_cannot_take_refuses_to_build_the_desk() -> None:
    rule = {"kinds": ["ticket"], "opens": "test_callback", "options": {"colour": "red"}}
    with pytest.raises(InvalidInput, match="test_callback opener does not take the rule"):
        Desk(case_kinds=[CALLBACK], surveys={"rules": [rule]})


def test_a_rule_schedules_return_visits_with_their_opener(store: Store, clock: FrozenClock) -> None:
    from aftersales.cases.return_visits import RETURN_VISIT

    rule = {"kinds": ["ticket"], "after": "closure", "opens": "return_visit", "delay_hours": 48}
    desk = Desk(store, clock=clock, case_kinds=[RETURN_VISIT], surveys={"rules": [rule]})
    ticket = _resolved(desk)
    desk.fire(ticket.id, "confirm")
    desk.fire(ticket.id, "close")
    (visit,) = [c for c in desk.cases.for_ticket(ticket.id) if c.kind.value == "return_visit"]
    assert visit.id == follow_up_id("return_visit", "ticket", ticket.id)
    assert visit.step_due_at == START + timedelta(hours=48)


# ---------------------------------------------------------------------- answering


def test_an_answer_is_stored_as_an_event_and_a_token_works_once(
    store: Store, clock: FrozenClock
) -> None:
    desk = _desk(store, clock)
    survey, token = _sent(desk, clock, _resolved(desk))
    assert desk.surveys is not None
    answered = desk.surveys.answer(token, score=5, comment="Quick and kind")
    assert answered.status == "answered"
    assert isinstance(answered.details, SurveyDetails)
    assert (answered.details.score, answered.details.negative) == (5, False)
    (event,) = _answers(store, survey.id)
    assert event.actor == "customer:c-1"
    assert event.payload == {"score": 5, "comment": "Quick and kind"}
    version = desk.cases.get(survey.id).version
    with pytest.raises(SurveyTokenRefused, match="answered already") as refused:
        desk.surveys.answer(token, score=1, reason="changed my mind")
    assert refused.value.reason == "used"
    assert desk.cases.get(survey.id).version == version
    assert len(_answers(store, survey.id)) == 1


def test_an_expired_token_is_refused_and_changes_nothing(store: Store, clock: FrozenClock) -> None:
    desk = _desk(store, clock)
    survey, token = _sent(desk, clock, _resolved(desk))
    assert desk.surveys is not None
    clock.advance(hours=72)  # the window has just closed; run_due has not expired it yet
    with pytest.raises(SurveyTokenRefused) as refused:
        desk.surveys.answer(token, score=4)
    assert refused.value.reason == "expired"
    assert desk.cases.get(survey.id).status == "sent"
    (due,) = desk.run_due().cases
    assert (due.case_id, due.action) == (survey.id, "expire")
    with pytest.raises(SurveyTokenRefused) as again:
        desk.surveys.answer(token, score=4)
    assert again.value.reason == "expired"
    assert desk.cases.get(survey.id).status == "expired"
    assert _answers(store, survey.id) == []


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        lambda token: token.replace(token.split(".")[1], str(int(token.split(".")[1]) + 3600)),
        lambda token: "not-a-token",
        lambda token: "",
    ],
    ids=["signature", "expiry pushed back", "garbage", "empty"],
)
def test_a_forged_token_is_refused_and_changes_nothing(
    store: Store, clock: FrozenClock, forge: Any
) -> None:
    desk = _desk(store, clock)
    survey, token = _sent(desk, clock, _resolved(desk))
    assert desk.surveys is not None
    with pytest.raises(SurveyTokenRefused) as refused:
        desk.surveys.answer(forge(token), score=5)
    assert refused.value.reason == "invalid"
    assert desk.cases.get(survey.id).status == "sent"


def test_a_token_signed_with_another_desks_key_is_refused(clock: FrozenClock) -> None:
    rules = {"rules": [{"kinds": ["ticket"], "delay_hours": 0}]}
    ours = Desk(clock=clock, settings={"survey_key": "our secret"}, surveys=rules)
    _, token = _sent(ours, clock, _resolved(ours))
    theirs = Desk(ours.store, clock=clock, settings={"survey_key": "other"}, surveys=rules)
    assert theirs.surveys is not None
    with pytest.raises(SurveyTokenRefused):
        theirs.surveys.answer(token, score=5)


def test_a_negative_answer_needs_a_reason_and_a_score_on_the_scale(
    store: Store, clock: FrozenClock
) -> None:
    desk = _desk(store, clock)  # CSAT 1-5, negative below 3
    survey, token = _sent(desk, clock, _resolved(desk))
    assert desk.surveys is not None
    with pytest.raises(InvalidInput, match="reason: say what went wrong"):
        desk.surveys.answer(token, score=2)
    with pytest.raises(InvalidInput, match="score: the score must be from 1 to 5"):
        desk.surveys.answer(token, score=0, reason="bad")
    for not_a_score in (True, "5", 4.5):
        with pytest.raises(InvalidInput, match="score"):
            desk.surveys.answer(token, score=not_a_score)  # type: ignore[arg-type]
    assert desk.cases.get(survey.id).status == "sent"
    answered = desk.surveys.answer(token, score=2, reason="slow", comment="two weeks")
    assert isinstance(answered.details, SurveyDetails)
    assert (answered.details.negative, answered.details.reason) == (True, "slow")


# ---------------------------------------------------------------------- low scores


def test_a_low_score_opens_a_complaint_in_the_answers_transaction(
    store: Store, clock: FrozenClock
) -> None:
    desk = _desk(store, clock, survey="nps", low_score_action="complaint")
    ticket = _resolved(desk)
    survey, token = _sent(desk, clock, ticket)
    assert desk.surveys is not None
    desk.surveys.answer(token, score=9)  # a promoter: nothing
    assert [c.kind.value for c in desk.cases.for_ticket(ticket.id)] == ["survey"]

    other = _resolved(desk, customer="c-2")
    survey, token = _sent(desk, clock, other)
    desk.surveys.answer(token, score=3, reason="never called back")
    (complaint,) = [c for c in desk.cases.for_ticket(other.id) if c.kind.value == "complaint"]
    assert complaint.parent_id == survey.id
    assert complaint.customer_id == "c-2"
    assert complaint.complaint is not None
    assert "never called back" in complaint.complaint.summary


def test_a_low_score_reopens_the_ticket_once(store: Store, clock: FrozenClock) -> None:
    desk = _desk(store, clock, low_score_action="reopen")
    ticket = _resolved(desk)
    survey, token = _sent(desk, clock, ticket)
    assert desk.surveys is not None
    desk.surveys.answer(token, score=1, reason="still leaks")
    assert desk.get(ticket.id).status == "in_progress"
    answer = _answers(store, survey.id)[0]
    hook = desk._hooks.get("aftersales.feedback.low_score")
    assert hook is not None
    hook.handler(Notification("k", hook.name, answer, START, START))  # redelivered
    reopenings = [e for e in store.events(ticket.id) if e.trigger == "reopen"]
    assert len(reopenings) == 1
    assert survey.id in reopenings[0].payload["reason"]


def test_a_low_score_on_a_closed_ticket_opens_one_follow_up(
    store: Store, clock: FrozenClock
) -> None:
    desk = _desk(store, clock, after="closure", low_score_action="reopen")
    ticket = _resolved(desk)
    clock.advance(days=8)
    desk.run_due()  # auto-closed, surveyed
    survey, token = _sent(desk, clock, ticket)
    assert desk.surveys is not None
    desk.surveys.answer(token, score=1, reason="still leaks")
    hook = desk._hooks.get("aftersales.feedback.low_score")
    assert hook is not None
    hook.handler(Notification("k", hook.name, _answers(store, survey.id)[0], START, START))
    (follow_up,) = desk.find(follow_up_of=ticket.id)
    assert desk.get(ticket.id).status == "closed"
    assert survey.id in follow_up.description


def test_a_low_score_alerts_the_supervisor_with_the_answer(
    store: Store, clock: FrozenClock
) -> None:
    desk = _desk(store, clock, survey="ces", low_score_action="alert")
    alerts: list[Notification] = []
    desk.subscribe(alerts.append, triggers="alert", kinds="survey", name="supervisor")
    survey, token = _sent(desk, clock, _resolved(desk))
    assert desk.surveys is not None
    desk.surveys.answer(token, score=1, reason="five transfers")
    (alert,) = alerts
    assert alert.event.subject_id == survey.id
    assert alert.event.payload == {"score": 1, "reason": "five transfers"}
    assert desk.cases.get(survey.id).status == "answered"


# ---------------------------------------------------------------------- the message


def test_the_sent_event_carries_the_message_in_the_customers_language(
    store: Store, clock: FrozenClock
) -> None:
    desk = _desk(store, clock, survey="nps")
    desk.save_customer({"id": "wang", "name": "王芳", "language": "zh-CN"})
    desk.save_customer({"id": "anna", "name": "Anna", "language": "de"})
    wang = _resolved(desk, customer="wang")
    anna = _resolved(desk, customer="anna")
    desk.subscribe(lambda n: None, triggers="send", kinds="survey", name="sender")
    with capture_notifications(desk) as sent:
        clock.advance(hours=25)
        desk.run_due()
    messages: dict[str, Mapping[str, Any]] = {
        n.event.subject_id: n.event.changes["details"] for n in sent if n.handler == "sender"
    }
    chinese = messages[_surveys(desk, wang.id)[0].id]
    fallback = messages[_surveys(desk, anna.id)[0].id]
    assert (chinese["language"], chinese["survey"], chinese["scale"]) == ("zh", "nps", 10)
    assert chinese["question"] == "您有多大可能向朋友或同事推荐我们？"
    assert (fallback["language"], fallback["question"][:8]) == ("en", "How like")
    assert desk.surveys is not None
    answered = desk.surveys.answer(chinese["token"], score=10)
    assert answered.customer_id == "wang"


def test_the_customer_answers_under_the_default_permissions(clock: FrozenClock) -> None:
    agent = Principal.agent("li.agent")
    desk = Desk(
        clock=clock,
        permissions=default_permissions(),
        principals=MemoryDirectory([agent]),
        surveys={"rules": [{"kinds": ["ticket"], "low_score_action": "complaint"}]},
    )
    survey, token = _sent(desk, clock, _resolved(desk))
    assert desk.surveys is not None
    with pytest.raises(PermissionDenied):
        desk.cases.fire(survey.id, "answer", actor=agent, payload={"score": 5})
    desk.surveys.answer(token, score=1, reason="rude")
    assert desk.cases.get(survey.id).status == "answered"
    assert len(desk.cases.find(kind="complaint")) == 1


def test_surveys_is_none_without_rules() -> None:
    assert Desk().surveys is None
    assert SURVEY.name in Desk().cases.kinds
    assert isinstance(_desk(MemoryStore(), FrozenClock(START)).surveys, Surveys)


# ---------------------------------------------------------------------- figures


def test_nps_csat_and_ces_figures_are_counted_from_the_answers(
    store: Store, clock: FrozenClock
) -> None:
    rules = [
        {"kinds": ["ticket"], "channels": ["email"], "survey": "nps", "delay_hours": 24},
        {"kinds": ["ticket"], "channels": ["wechat"], "survey": "csat", "delay_hours": 24},
        {"kinds": ["ticket"], "channels": ["sms"], "survey": "ces", "delay_hours": 24},
    ]
    desk = Desk(store, clock=clock, surveys={"rules": rules})
    nps_tickets = [_resolved(desk, customer=f"n-{i}") for i in range(5)]
    csat_tickets = [_resolved(desk, customer=f"s-{i}", channel="wechat") for i in range(4)]
    ces_tickets = [_resolved(desk, customer=f"e-{i}", channel="sms") for i in range(2)]
    clock.advance(hours=25)
    desk.run_due()
    assert desk.surveys is not None
    answered_at = clock.now()
    scores = {
        **dict(zip([t.id for t in nps_tickets], [10, 9, 8, 6, 0], strict=True)),
        **dict(zip([t.id for t in csat_tickets], [5, 4, 3, 1], strict=True)),
        **dict(zip([t.id for t in ces_tickets], [7, 4], strict=True)),
    }
    for ticket_id, score in scores.items():
        (survey,) = _surveys(desk, ticket_id)
        assert isinstance(survey.details, SurveyDetails)
        assert survey.details.token is not None
        desk.surveys.answer(survey.details.token, score=score, reason="why")
    figures = survey_figures(store)
    nps, csat, ces = figures[SurveyType.NPS], figures[SurveyType.CSAT], figures[SurveyType.CES]
    assert (nps.answers, nps.promoters, nps.detractors, nps.score) == (5, 2, 2, 0.0)
    assert nps.distribution == {0: 1, 6: 1, 8: 1, 9: 1, 10: 1}
    assert (csat.answers, csat.score) == (4, 50.0)
    assert (ces.answers, ces.score) == (2, 5.5)
    assert survey_figures(store, answered_to=answered_at) == {}
    later = survey_figures(store, answered_from=answered_at, answered_to=answered_at + timedelta(1))
    assert later == figures


def test_a_survey_waits_while_its_ticket_is_reopened_and_goes_after_the_next_resolution(
    store: Store, clock: FrozenClock
) -> None:
    desk = _desk(store, clock)
    ticket = _resolved(desk)
    (survey,) = _surveys(desk, ticket.id)
    clock.advance(hours=2)
    desk.reopen(ticket.id, reason="still leaks")
    held = desk.cases.get(survey.id)
    assert (held.status, held.step_due_at) == ("on_hold", None)
    clock.advance(hours=30)
    assert desk.run_due().cases == ()  # the first resolution's delay has passed: not sent
    resolve = next(e for e in store.events(ticket.id) if e.trigger == "resolve")
    hook = desk._hooks.get(SCHEDULE_HOOK)
    assert hook is not None
    hook.handler(Notification("k", SCHEDULE_HOOK, resolve, START, START))  # a late redelivery
    assert desk.cases.get(survey.id).status == "on_hold"
    resolved_again = desk.fire(ticket.id, "resolve", payload={"resolution": "new kettle"})
    scheduled = desk.cases.get(survey.id)
    assert scheduled.status == "scheduled"
    assert scheduled.step_due_at == resolved_again.updated_at + timedelta(hours=24)
    assert [c.id for c in _surveys(desk, ticket.id)] == [survey.id]


def test_the_survey_of_a_reopened_ticket_merged_into_another_is_withdrawn(
    store: Store, clock: FrozenClock
) -> None:
    desk = _desk(store, clock)
    ticket = _resolved(desk)
    other = desk.open_ticket(customer="c-1", channel="email", subject="Kettle, again")
    (survey,) = _surveys(desk, ticket.id)
    desk.reopen(ticket.id, reason="still leaks")
    desk.merge(ticket.id, into=other.id)
    assert desk.cases.get(survey.id).status == "cancelled"
    clock.advance(days=3)
    assert desk.run_due().cases == ()


def test_what_the_customer_wrote_in_a_survey_is_erased_with_them(
    store: Store, clock: FrozenClock
) -> None:
    desk = _desk(store, clock)
    ticket = _resolved(desk)
    survey, token = _sent(desk, clock, ticket)
    assert desk.surveys is not None
    said = {"reason": "Rude on the phone", "comment": "Call me on 13800138000"}
    desk.surveys.answer(token, score=1, **said)
    desk.erase_customer(ticket.customer_id)
    erased = desk.cases.get(survey.id).details
    assert isinstance(erased, SurveyDetails)
    assert (erased.reason, erased.comment, erased.score) == ("[erased]", "[erased]", 1)
    written = " ".join(e.model_dump_json() for e in store.events(survey.id))
    assert "13800138000" not in written
    assert "Rude on the phone" not in written


def test_a_cases_survey_and_the_complaint_its_low_score_opens_keep_the_cases_order(
    store: Store, clock: FrozenClock
) -> None:
    rules = [
        {
            "kinds": ["complaint"],
            "after": "closure",
            "delay_hours": 0,
            "low_score_action": "complaint",
        }
    ]
    desk = Desk(store, clock=clock, surveys={"rules": rules})
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Late delivery")
    complaint = desk.cases.open_complaint(ticket.id, summary="Late", order_id="order-7")
    for trigger in ("acknowledge", "investigate"):
        desk.cases.fire(complaint.id, trigger)
    desk.cases.fire(complaint.id, "propose", payload={"proposal": "a voucher"})
    desk.cases.fire(complaint.id, "accept")
    desk.cases.fire(complaint.id, "close")
    desk.run_due()
    (survey,) = _surveys(desk, ticket.id)
    assert survey.order_id == "order-7"
    assert isinstance(survey.details, SurveyDetails)
    assert survey.details.token is not None
    assert desk.surveys is not None
    desk.surveys.answer(survey.details.token, score=1, reason="still late")
    opened = [c for c in desk.cases.for_ticket(ticket.id) if c.parent_id == survey.id]
    assert [(c.kind.value, c.order_id) for c in opened] == [("complaint", "order-7")]


def test_a_customer_opted_out_of_care_or_erased_is_not_surveyed(
    store: Store, clock: FrozenClock
) -> None:
    desk = _desk(store, clock)
    store.save_customer(Customer(id="c-1", name="Li Wei", opted_out_of_care=True))
    store.save_customer(Customer(id="c-2", name="Wang Fang"))
    store.save_customer(Customer(id="c-3", name="Zhao Min"))
    desk.erase_customer("c-3")
    assert _surveys(desk, _resolved(desk, customer="c-1").id) == []
    assert _surveys(desk, _resolved(desk, customer="c-3").id) == []
    assert len(_surveys(desk, _resolved(desk, customer="c-2").id)) == 1


def test_a_held_survey_is_withdrawn_when_its_customer_opted_out_meanwhile(
    store: Store, clock: FrozenClock
) -> None:
    desk = _desk(store, clock)
    store.save_customer(Customer(id="c-1", name="Li Wei"))
    ticket = _resolved(desk)
    (survey,) = _surveys(desk, ticket.id)
    desk.reopen(ticket.id, reason="still leaks")
    assert desk.cases.get(survey.id).status == "on_hold"
    store.save_customer(Customer(id="c-1", name="Li Wei", opted_out_of_care=True))
    desk.fire(ticket.id, "resolve", payload={"resolution": "new kettle"})
    assert desk.cases.get(survey.id).status == "cancelled"


def test_a_scheduled_survey_is_not_sent_to_a_customer_who_opted_out_since(
    store: Store, clock: FrozenClock
) -> None:
    desk = _desk(store, clock)
    store.save_customer(Customer(id="c-1", name="Li Wei"))
    store.save_customer(Customer(id="c-2", name="Wang Fang"))
    (kept,) = _surveys(desk, _resolved(desk, customer="c-2").id)
    (survey,) = _surveys(desk, _resolved(desk).id)
    store.save_customer(Customer(id="c-1", name="Li Wei", opted_out_of_care=True))
    clock.advance(hours=25)
    desk.run_due()
    assert desk.cases.get(survey.id).status == "cancelled"
    assert [e.trigger for e in store.events(survey.id)] == ["created", "cancel"]
    assert desk.cases.get(kept.id).status == "sent"
