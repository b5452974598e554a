"""The customer profile (issue 18, seeds S10): one view of a customer built from what the
desk stores, with each product's warranty status decided by the policy."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Any

import pytest
from case_facts import claim_line, phone

from aftersales import CustomerNotFound, Desk, FrozenClock, InvalidInput, PermissionDenied, Store
from aftersales.customers import ContactHours, CustomerProfile
from aftersales.feedback import SurveyDetails
from aftersales.models import Channel, Customer
from aftersales.policies import PolicySet
from aftersales.security import MemoryDirectory, Principal, default_permissions

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)  # the claim lines' day

WANG: dict[str, Any] = {
    "id": "wang",
    "name": "王芳",
    "tier": "gold",
    "language": "zh",
    "contacts": [
        {"channel": "wechat", "address": "wx-wang"},
        {"channel": "phone", "address": "+8613800000000"},
    ],
    "preferred_channel": "wechat",
    "contact_hours": [
        {
            "weekdays": [1, 2, 3, 4, 5],
            "start": "09:00",
            "end": "18:00",
            "time_zone": "Asia/Shanghai",
        }
    ],
    "tags": ["vip"],
}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def desk(store: Store, clock: FrozenClock) -> Desk:
    made = Desk(
        store,
        clock=clock,
        surveys={"rules": [{"kinds": ["ticket"], "survey": "nps", "delay_hours": 24}]},
    )
    made.save_customer(WANG)
    return made


def resolved(desk: Desk, channel: str = "email") -> str:
    ticket = desk.open_ticket(customer="wang", channel=channel, subject="发票")
    desk.classify(ticket.id, category="repair_warranty", severity="medium")
    desk.fire(ticket.id, "assign", payload={"assignee": "li.agent"})
    desk.fire(ticket.id, "start")
    return desk.fire(ticket.id, "resolve", payload={"resolution": "sent again"}).id


def test_the_profile_gathers_contacts_preferences_tickets_cases_complaints_and_surveys(
    desk: Desk, clock: FrozenClock
) -> None:
    ticket = desk.open_ticket(customer="wang", channel="phone", subject="手机反复重启")
    repair = desk.cases.open_repair(ticket.id, serial="IMEI-7", line=phone(), order_id="o-7")
    complaint = desk.cases.open_complaint(ticket.id, summary="等了太久", severity="high")
    answered = resolved(desk)
    clock.advance(hours=25)
    desk.run_due()  # sends the survey of the resolved ticket
    (survey,) = [c for c in desk.cases.for_ticket(answered) if c.kind.value == "survey"]
    assert isinstance(survey.details, SurveyDetails)
    assert survey.details.token is not None
    assert desk.surveys is not None
    desk.surveys.answer(survey.details.token, score=9)

    profile = desk.customer_profile("wang")

    assert isinstance(profile, CustomerProfile)
    assert profile.customer_id == "wang"
    assert [(c.channel, c.address) for c in profile.contacts] == [
        (Channel.WECHAT, "wx-wang"),
        (Channel.PHONE, "+8613800000000"),
    ]
    assert (profile.language, profile.preferred_channel, profile.tier, profile.tags) == (
        "zh",
        Channel.WECHAT,
        "gold",
        ("vip",),
    )
    assert profile.contact_hours == (
        ContactHours(
            weekdays=frozenset({1, 2, 3, 4, 5}),
            start=time(9),
            end=time(18),
            time_zone="Asia/Shanghai",
        ),
    )
    assert profile.channels == (Channel.WECHAT, Channel.PHONE, Channel.EMAIL)
    assert [(t.number, t.channel.value, t.status) for t in profile.tickets] == [
        (1, "phone", "new"),
        (2, "email", "resolved"),
    ]
    by_kind = profile.cases_by_kind()
    assert [c.id for c in by_kind["repair"]] == [repair.id]
    assert [c.id for c in by_kind["complaint"]] == [complaint.id]
    assert [(c.case_id, c.severity, c.status) for c in profile.complaints] == [
        (complaint.id, "high", "received")
    ]
    assert [(s.survey, s.score, s.scale, s.answered_at) for s in profile.surveys] == [
        ("nps", 9, 10, clock.now())
    ]


def test_each_product_gets_its_warranty_status_from_the_policy_on_the_day_asked(
    desk: Desk,
) -> None:
    ticket = desk.open_ticket(customer="wang", channel="phone", subject="手机反复重启")
    repair = desk.cases.open_repair(ticket.id, serial="IMEI-7", line=phone(), order_id="o-7")

    (today,) = desk.customer_profile("wang").products
    assert (today.order_id, today.line_id, today.sku, today.serial) == (
        "o-7",
        "phone",
        "SKU-phone",
        "IMEI-7",
    )
    assert today.case_ids == (repair.id,)
    assert today.purchased_at == datetime(2024, 1, 10, 2, 0, tzinfo=timezone.utc)
    assert today.delivered_at == datetime(2024, 1, 11, 2, 0, tzinfo=timezone.utc)
    repair_status = today.remedy("repair")
    return_status = today.remedy("return")
    assert repair_status is not None
    assert return_status is not None
    assert (repair_status.outcome, repair_status.last_day) == ("allowed", date(2025, 1, 10))
    assert "in_warranty" in repair_status.reasons
    assert (return_status.outcome, return_status.reasons) == ("refused", ("window_passed",))

    later = desk.customer_profile("wang", at=datetime(2025, 2, 1, tzinfo=timezone.utc))
    (expired,) = later.products
    assert later.at == datetime(2025, 2, 1, tzinfo=timezone.utc)
    expired_repair = expired.remedy("repair")
    assert expired_repair is not None
    assert (expired_repair.outcome, expired_repair.reasons) == ("refused", ("warranty_expired",))
    assert "warranty" in expired_repair.explanation


def test_a_given_policy_decides_instead_of_the_statutory_presets(desk: Desk) -> None:
    ticket = desk.open_ticket(customer="wang", channel="web_chat", subject="Return")
    desk.cases.request_return(ticket.id, order_id="o-8", lines=[claim_line("l1")])
    thirty_days = PolicySet.from_dict(
        {
            "name": "shop-30-day-return",
            "time_zone": "Asia/Shanghai",
            "rules": [
                {
                    "kind": "return_window",
                    "name": "30-day return",
                    "period": {"days": 30},
                    "start": "delivery",
                }
            ],
        }
    )
    statutory = desk.customer_profile("wang").products[0].remedy("return")
    shop = desk.customer_profile("wang", policy=thirty_days).products[0].remedy("return")
    assert statutory is not None
    assert shop is not None
    assert (statutory.outcome, statutory.last_day) == ("allowed", date(2024, 3, 6))
    assert (shop.outcome, shop.last_day) == ("allowed", date(2024, 3, 29))


def test_a_product_whose_claim_comes_before_its_delivery_says_why_it_has_no_answer(
    desk: Desk,
) -> None:
    ticket = desk.open_ticket(customer="wang", channel="web_chat", subject="Return")
    desk.cases.request_return(ticket.id, order_id="o-8", lines=[claim_line("l1")])
    before = datetime(2024, 2, 27, tzinfo=timezone.utc)  # bought, not delivered yet
    (product,) = desk.customer_profile("wang", at=before).products
    status = product.remedy("return")
    assert status is not None
    assert status.outcome is None
    assert "deliver" in status.explanation


def test_a_customer_with_no_history_has_an_empty_profile(desk: Desk) -> None:
    desk.save_customer({"id": "new", "name": "New"})
    profile = desk.customer_profile("new")
    assert (profile.tickets, profile.cases, profile.complaints, profile.surveys) == (
        (),
        (),
        (),
        (),
    )
    assert profile.products == ()
    assert profile.customer.opted_out_of_care is False


def test_an_unknown_customer_or_bad_input_is_refused(desk: Desk) -> None:
    with pytest.raises(CustomerNotFound):
        desk.customer_profile("nobody")
    with pytest.raises(InvalidInput):
        desk.customer_profile("")
    with pytest.raises(InvalidInput):
        desk.customer_profile("wang", policy="cn")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        desk.customer_profile("wang", at=datetime(2024, 3, 4))  # naive


def test_customer_records_saved_before_the_new_fields_load_with_their_defaults() -> None:
    old = Customer.model_validate_json('{"id": "c-1", "name": "Old", "tier": "gold"}')
    assert (old.preferred_channel, old.contact_hours, old.tags) == (None, (), ())
    assert (old.opted_out_of_care, old.merged_into) == (False, None)


@pytest.mark.parametrize(
    "hours",
    [
        {"start": "18:00", "end": "09:00"},
        {"start": "09:00", "end": "18:00", "time_zone": "Mars/Olympus"},
        {"start": "09:00", "end": "18:00", "weekdays": [0]},
        {"start": "09:00", "end": "18:00", "weekdays": []},
    ],
)
def test_contact_hours_that_cannot_be_met_are_refused(desk: Desk, hours: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        desk.save_customer({"id": "c-2", "name": "Li", "contact_hours": [hours]})
    with pytest.raises(CustomerNotFound):
        desk.get_customer("c-2")


def with_profile_grant() -> dict[str, Any]:
    """The shipped permission set and a grant of ``read_profile`` to customers and agents
    (the shipped set leaves profiles to supervisors)."""
    permissions = default_permissions().model_dump(mode="json")
    permissions["grants"].append(
        {"roles": ["customer", "agent"], "kinds": ["customer"], "triggers": ["read_profile"]}
    )
    return permissions


def test_with_permissions_a_customer_reads_their_own_profile_only(
    store: Store, clock: FrozenClock
) -> None:
    directory = MemoryDirectory(
        [
            Principal.customer("wang"),
            Principal.agent("agent-1", "care"),
            Principal("bot-1", {"bot"}),
        ]
    )
    desk = Desk(store, clock=clock, permissions=with_profile_grant(), principals=directory)
    desk.save_customer(WANG)
    desk.save_customer({"id": "li", "name": "Li"})
    assert desk.customer_profile("wang", actor="customer:wang").customer_id == "wang"
    assert desk.customer_profile("li", actor="agent-1").customer_id == "li"
    with pytest.raises(PermissionDenied):
        desk.customer_profile("li", actor="customer:wang")
    with pytest.raises(PermissionDenied):
        desk.customer_profile("wang", actor="bot-1")


def test_the_shipped_permissions_let_agents_and_the_customer_read_a_profile_not_a_bot(
    store: Store, clock: FrozenClock
) -> None:
    directory = MemoryDirectory(
        [
            Principal.agent("agent-1", "care"),
            Principal("sup-li", {"supervisor"}),
            Principal.customer("wang"),
            Principal.customer("li"),
            Principal("bot-1", {"bot"}),
        ]
    )
    desk = Desk(store, clock=clock, permissions=default_permissions(), principals=directory)
    desk.save_customer(WANG)
    for reader in ("sup-li", "agent-1", Principal.customer("wang")):
        assert desk.customer_profile("wang", actor=reader).customer_id == "wang"
    for refused in (Principal.customer("li"), "bot-1"):
        with pytest.raises(PermissionDenied):
            desk.customer_profile("wang", actor=refused)
