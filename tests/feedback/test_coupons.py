"""Coupons: issued with an unguessable code, redeemed once with it, expired by run_due at
their expiry, refused on bad input with nothing stored, and issued as goodwill after a
low survey score or when a complaint closes; on MemoryStore, SQLite and, with
AFTERSALES_TEST_POSTGRES_URL, PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aftersales import Desk, FrozenClock, InvalidInput, MemoryStore, SQLiteStore, Store, Ticket
from aftersales.cases.coupons import CouponDetails, coupon_code
from aftersales.exceptions import TransitionError, TransitionRefused, TriggerNotAllowed
from aftersales.feedback import SCHEDULE_HOOK, SurveyDetails, follow_up_id
from aftersales.models import Case
from aftersales.notify import Notification

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
        made = SQLiteStore(tmp_path / "coupons.db")
    else:
        made = _postgres_store()
    yield made
    made.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


def _ticket(desk: Desk, customer: str = "c-1") -> Ticket:
    return desk.open_ticket(customer=customer, channel="email", subject="Late parcel")


def _details(case: Case) -> CouponDetails:
    assert isinstance(case.details, CouponDetails)
    return case.details


def _coupons(desk: Desk, ticket_id: str) -> list[Case]:
    return [c for c in desk.cases.for_ticket(ticket_id) if c.kind.value == "coupon"]


def test_a_coupon_is_redeemed_once_with_its_code(store: Store, clock: FrozenClock) -> None:
    desk = Desk(store, clock=clock)
    ticket = _ticket(desk)
    coupon = desk.cases.open(
        "coupon", ticket.id, amount="20.00", currency="CNY", valid_days=30, reason="sorry"
    )
    details = _details(coupon)
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", details.code)
    assert (details.value.amount, details.value.currency) == (Decimal("20.00"), "CNY")
    assert details.expires_at == START + timedelta(days=30)
    assert (coupon.status, coupon.customer_id) == ("issued", "c-1")

    clock.advance(days=3)
    redeemed = desk.cases.fire(
        coupon.id, "redeem", payload={"code": details.code.lower(), "order_id": "o-9"}
    )
    assert redeemed.status == "redeemed"
    assert _details(redeemed).redeemed_at == START + timedelta(days=3)
    assert _details(redeemed).redeemed_order_id == "o-9"
    events = store.events(coupon.id)
    with pytest.raises(TriggerNotAllowed, match="redeemed"):
        desk.cases.fire(coupon.id, "redeem", payload={"code": details.code})
    assert store.events(coupon.id) == events
    assert desk.cases.get(coupon.id).version == redeemed.version


def test_a_wrong_code_redeems_nothing(store: Store, clock: FrozenClock) -> None:
    desk = Desk(store, clock=clock)
    coupon = desk.cases.open("coupon", _ticket(desk).id, amount=10, currency="EUR")
    with pytest.raises(TransitionRefused) as refused:
        desk.cases.fire(coupon.id, "redeem", payload={"code": "AAAA-BBBB-CCCC"})
    assert refused.value.refusal.code == "wrong_code"
    assert desk.cases.get(coupon.id) == coupon
    assert [e.trigger for e in store.events(coupon.id)] == ["created"]


def test_run_due_expires_a_coupon_once_at_its_expiry(store: Store, clock: FrozenClock) -> None:
    desk = Desk(store, clock=clock)
    coupon = desk.cases.open("coupon", _ticket(desk).id, amount=5, currency="CNY", valid_days=7)
    clock.advance(days=7, seconds=-1)
    desk.run_due()
    assert desk.cases.get(coupon.id).status == "issued"
    clock.advance(seconds=1)
    with pytest.raises(TransitionRefused) as refused:  # run_due has not run yet
        desk.cases.fire(coupon.id, "redeem", payload={"code": _details(coupon).code})
    assert refused.value.refusal.code == "coupon_expired"
    desk.run_due()
    desk.run_due()
    assert desk.cases.get(coupon.id).status == "expired"
    assert [e.trigger for e in store.events(coupon.id)] == ["created", "expire"]
    with pytest.raises(TransitionError):
        desk.cases.fire(coupon.id, "redeem", payload={"code": _details(coupon).code})


def test_a_revoked_coupon_cannot_be_spent(store: Store, clock: FrozenClock) -> None:
    desk = Desk(store, clock=clock)
    coupon = desk.cases.open("coupon", _ticket(desk).id, amount=5, currency="CNY")
    assert desk.cases.fire(coupon.id, "revoke").status == "revoked"
    with pytest.raises(TriggerNotAllowed):
        desk.cases.fire(coupon.id, "redeem", payload={"code": _details(coupon).code})


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"amount": 0, "currency": "CNY"}, "amount"),
        ({"amount": "-5", "currency": "CNY"}, "amount"),
        ({"amount": "NaN", "currency": "CNY"}, "amount"),
        ({"amount": 5, "currency": "cny"}, "currency"),
        ({"amount": 5, "currency": "CNY", "valid_days": 0}, "valid_days"),
        ({"amount": 5}, "currency"),
    ],
)
def test_bad_coupon_input_is_refused_and_stores_nothing(
    store: Store, clock: FrozenClock, fields: dict[str, Any], path: str
) -> None:
    desk = Desk(store, clock=clock)
    ticket = _ticket(desk)
    with pytest.raises(InvalidInput, match=path):
        desk.cases.open("coupon", ticket.id, **fields)
    assert _coupons(desk, ticket.id) == []


def test_codes_are_drawn_afresh() -> None:
    codes = {coupon_code() for _ in range(1000)}
    assert len(codes) == 1000


# ---------------------------------------------------------------------- goodwill


def _surveyed(desk: Desk, clock: FrozenClock, customer: str) -> tuple[Ticket, str]:
    ticket = _ticket(desk, customer)
    desk.classify(ticket.id, category="repair_warranty", severity="medium")
    desk.fire(ticket.id, "assign", payload={"assignee": "li.agent"})
    desk.fire(ticket.id, "start")
    desk.fire(ticket.id, "resolve", payload={"resolution": "refunded the postage"})
    clock.advance(hours=25)
    desk.run_due()
    (survey,) = [c for c in desk.cases.for_ticket(ticket.id) if c.kind.value == "survey"]
    assert isinstance(survey.details, SurveyDetails)
    assert survey.details.token is not None
    return ticket, survey.details.token


def test_a_low_score_issues_one_goodwill_coupon(store: Store, clock: FrozenClock) -> None:
    rule = {
        "kinds": ["ticket"],
        "delay_hours": 24,
        "low_score_action": "coupon",
        "coupon": {"amount": "15", "currency": "CNY", "valid_days": 60},
    }
    desk = Desk(store, clock=clock, surveys={"rules": [rule]})
    assert desk.surveys is not None
    happy, token = _surveyed(desk, clock, "c-1")
    desk.surveys.answer(token, score=5)
    assert _coupons(desk, happy.id) == []

    unhappy, token = _surveyed(desk, clock, "c-2")
    survey = desk.surveys.answer(token, score=1, reason="took three weeks")
    (coupon,) = _coupons(desk, unhappy.id)
    details = _details(coupon)
    assert coupon.id == follow_up_id("coupon", "survey", survey.id)
    assert (coupon.parent_id, coupon.customer_id, coupon.status) == (survey.id, "c-2", "issued")
    assert (details.value.amount, details.value.currency) == (Decimal("15"), "CNY")
    assert details.expires_at == clock.now() + timedelta(days=60)
    assert (details.subject_kind, details.subject_id) == ("survey", survey.id)


def test_a_coupon_action_needs_an_offer_and_an_offer_its_action() -> None:
    with pytest.raises(InvalidInput, match="coupon"):
        Desk(surveys={"rules": [{"kinds": ["ticket"], "low_score_action": "coupon"}]})
    offer = {"amount": 5, "currency": "CNY"}
    with pytest.raises(InvalidInput, match="coupon"):
        Desk(surveys={"rules": [{"kinds": ["ticket"], "coupon": offer}]})


def test_a_closed_complaint_issues_one_coupon_by_a_follow_up_rule(
    store: Store, clock: FrozenClock
) -> None:
    rule = {
        "kinds": ["complaint"],
        "after": "closure",
        "opens": "coupon",
        "options": {"amount": "30", "currency": "CNY", "reason": "goodwill after a complaint"},
    }
    desk = Desk(store, clock=clock, surveys={"rules": [rule]})
    ticket = _ticket(desk)
    complaint = desk.cases.open_complaint(ticket.id, summary="Rude courier", order_id="o-3")
    for trigger in ("acknowledge", "investigate"):
        desk.cases.fire(complaint.id, trigger)
    desk.cases.fire(complaint.id, "propose", payload={"proposal": "a voucher"})
    desk.cases.fire(complaint.id, "accept")
    assert _coupons(desk, ticket.id) == []
    desk.cases.fire(complaint.id, "close")
    desk.dispatch_outbox()
    (coupon,) = _coupons(desk, ticket.id)
    assert coupon.id == follow_up_id("coupon", "complaint", complaint.id)
    assert coupon.order_id == "o-3"
    assert _details(coupon).subject_id == complaint.id
    # the hook delivered again (at least once: a retry after a crash) issues nothing more
    (closed,) = [e for e in store.events(complaint.id) if e.trigger == "close"]
    subscription = desk._hooks.get(SCHEDULE_HOOK)
    assert subscription is not None
    for _ in range(2):
        subscription.handler(Notification("k", SCHEDULE_HOOK, closed, START, START))
    assert [c.id for c in _coupons(desk, ticket.id)] == [coupon.id]
