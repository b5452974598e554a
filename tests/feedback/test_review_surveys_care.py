"""Review of issue 18 (surveys, coupons, care): defects once proven by failing tests, now
fixed. MemoryStore only: none depends on the store."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from aftersales import Desk, FrozenClock, MemoryStore, Ticket
from aftersales.exceptions import SurveyTokenRefused
from aftersales.feedback import SurveyDetails, SurveyType, survey_figures
from aftersales.models.customer import Customer

START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)


def _desk(clock: FrozenClock) -> Desk:
    rule = {"kinds": ["ticket"], "delay_hours": 24, "response_hours": 72}
    return Desk(MemoryStore(), clock=clock, surveys={"rules": [rule]})


def _resolved(desk: Desk, customer: str = "c-1") -> Ticket:
    ticket = desk.open_ticket(customer=customer, channel="email", subject="The kettle leaks")
    desk.classify(ticket.id, category="repair_warranty", severity="medium")
    desk.fire(ticket.id, "assign", payload={"assignee": "li.agent"})
    desk.fire(ticket.id, "start")
    return desk.fire(ticket.id, "resolve", payload={"resolution": "replaced the seal"})


def _sent_token(desk: Desk, clock: FrozenClock, ticket: Ticket) -> tuple[str, str]:
    clock.advance(hours=25)
    desk.run_due()
    (survey,) = [c for c in desk.cases.for_ticket(ticket.id) if c.kind.value == "survey"]
    assert isinstance(survey.details, SurveyDetails)
    assert survey.status == "sent"
    assert survey.details.token is not None
    return survey.id, survey.details.token


def test_a_sent_survey_of_an_erased_customer_takes_no_answer() -> None:
    clock = FrozenClock(START)
    desk = _desk(clock)
    ticket = _resolved(desk)
    survey_id, token = _sent_token(desk, clock, ticket)
    assert ticket.customer_id is not None
    desk.erase_customer(ticket.customer_id)
    assert desk.surveys is not None
    with pytest.raises(SurveyTokenRefused):
        desk.surveys.answer(token, score=5, comment="Call me on 13800138000")
    written = " ".join(e.model_dump_json() for e in desk.store.events(survey_id))
    assert "13800138000" not in written


def test_run_due_never_sends_a_survey_to_a_customer_who_opted_out() -> None:
    clock = FrozenClock(START)
    desk = _desk(clock)
    for customer in ("c-1", "c-2"):
        desk.store.save_customer(Customer(id=customer, name=f"Customer {customer}"))
    first = _resolved(desk, "c-1")
    clock.advance(hours=1)
    second = _resolved(desk, "c-2")
    for customer in ("c-1", "c-2"):
        desk.store.save_customer(
            Customer(id=customer, name=f"Customer {customer}", opted_out_of_care=True)
        )
    clock.advance(hours=30)
    desk.run_due(limit=1)
    statuses = [
        c.status
        for ticket in (first, second)
        for c in desk.cases.for_ticket(ticket.id)
        if c.kind.value == "survey"
    ]
    assert "sent" not in statuses


def _answered_csat(desk: Desk, clock: FrozenClock, scale: int, score: int) -> None:
    ticket = desk.open_ticket(customer="c-9", channel="email", subject="Kettle")
    survey = desk.cases.open(
        "survey",
        ticket.id,
        survey="csat",
        scale=scale,
        question="How satisfied are you?",
        language="en",
        send_at=clock.now(),
    )
    desk.run_due()
    details = desk.cases.get(survey.id).details
    assert isinstance(details, SurveyDetails)
    assert details.token is not None
    assert desk.surveys is not None
    desk.surveys.answer(details.token, score=score)


def test_survey_figures_do_not_mix_scores_of_different_scales() -> None:
    clock = FrozenClock(START)
    desk = _desk(clock)
    _answered_csat(desk, clock, scale=5, score=5)
    _answered_csat(desk, clock, scale=10, score=5)
    mixed = survey_figures(desk.store)[SurveyType.CSAT]
    assert mixed.score == 50.0  # per-scale top two: right
    other = _desk(clock)
    _answered_csat(other, clock, scale=5, score=5)
    _answered_csat(other, clock, scale=5, score=5)
    top = survey_figures(other.store)[SurveyType.CSAT]
    assert (mixed.mean, mixed.distribution) != (top.mean, top.distribution)


def test_a_survey_refused_at_send_time_is_cancelled_not_retried() -> None:
    clock = FrozenClock(START)
    desk = _desk(clock)
    tickets = []
    for customer in ("c-1", "c-2", "c-3"):
        desk.store.save_customer(Customer(id=customer, name=f"Customer {customer}"))
        tickets.append(_resolved(desk, customer))
        clock.advance(hours=1)
    for customer in ("c-1", "c-2", "c-3"):
        desk.store.save_customer(
            Customer(id=customer, name=f"Customer {customer}", opted_out_of_care=True)
        )
    clock.advance(hours=30)
    desk.run_due(limit=1)
    statuses = [
        c.status
        for ticket in tickets
        for c in desk.cases.for_ticket(ticket.id)
        if c.kind.value == "survey"
    ]
    # one withdrawn before sending, one refused by 'send' and cancelled after, one left
    # for the next run (withdrawn then): none stays due to be refused on every run
    assert statuses.count("cancelled") == 2
    desk.run_due(limit=1)
    assert not desk.store.cases_due(clock.now(), 10)


def test_a_customer_who_opted_out_after_the_survey_was_sent_may_still_answer_it() -> None:
    clock = FrozenClock(START)
    desk = _desk(clock)
    desk.store.save_customer(Customer(id="c-1", name="Customer c-1"))
    ticket = _resolved(desk)
    _, token = _sent_token(desk, clock, ticket)
    desk.store.save_customer(Customer(id="c-1", name="Customer c-1", opted_out_of_care=True))
    assert desk.surveys is not None
    assert desk.surveys.answer(token, score=5).status == "answered"


def test_mixed_scales_are_mapped_onto_the_type_default_scale() -> None:
    clock = FrozenClock(START)
    desk = _desk(clock)
    _answered_csat(desk, clock, scale=5, score=5)
    _answered_csat(desk, clock, scale=10, score=5)
    mixed = survey_figures(desk.store)[SurveyType.CSAT]
    # 5 of 1-10 is 4/9 of the way up: 1 + 4 * 4/9 on 1-5
    assert mixed.scale == 5
    assert mixed.mean == pytest.approx((5 + 1 + 16 / 9) / 2)
    assert mixed.distribution == {3: 1, 5: 1}
    one = _desk(clock)
    _answered_csat(one, clock, scale=10, score=5)
    alone = survey_figures(one.store)[SurveyType.CSAT]
    assert (alone.scale, alone.mean, alone.distribution) == (10, 5.0, {5: 1})
