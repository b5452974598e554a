"""Care plans over a simulated year (FrozenClock, run_due once a day): every care message,
maintenance reminder and coupon fires exactly once on its day, in the customer's
language; scheduling again schedules nothing twice; none fires after the customer is
erased or opts out; on MemoryStore, SQLite and, with AFTERSALES_TEST_POSTGRES_URL,
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from case_facts import phone

from aftersales import Desk, FrozenClock, InvalidInput, MemoryStore, SQLiteStore, Store
from aftersales.cases.care import CareDetails, care_action_id
from aftersales.cases.coupons import CouponDetails
from aftersales.feedback import add_months, known_failure_age
from aftersales.models import Case
from aftersales.models.customer import Customer

START = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)

PLANS: list[dict[str, Any]] = [
    {"id": "welcome", "action": "message", "template": "welcome", "days": 1},
    {
        "id": "filter",
        "skus": ["PURIFIER-1"],
        "action": "maintenance",
        "template": "filter",
        "every_months": 6,
        "times": 4,
    },
    {
        "id": "warranty-ends",
        "action": "message",
        "template": "warranty_ends",
        "start": "warranty_end",
        "days": -30,
    },
    {
        "id": "pump-check",
        "action": "maintenance",
        "template": "pump_check",
        "start": "failure_age",
        "days": -14,
    },
    {
        "id": "loyalty",
        "action": "coupon",
        "days": 100,
        "coupon": {"amount": "50", "currency": "CNY", "valid_days": 30},
    },
    {
        "id": "after-repair",
        "on": "repair_closed",
        "action": "message",
        "template": "welcome",
        "days": 2,
    },
]
TEMPLATES = {
    "welcome": {"en": "Welcome!", "zh": "欢迎！"},
    "filter": {"en": "Time to change the filter.", "zh": "该更换滤芯了。"},
    "warranty_ends": {
        "en": "Your warranty ends soon: extend it?",
        "zh": "保修即将到期，是否延保？",
    },
    "pump_check": {"en": "Book a pump check-up.", "zh": "请预约水泵检查。"},
}
CARE = {"plans": PLANS, "templates": TEMPLATES, "failure_ages": {"PURIFIER-1": 200}}


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
        made = SQLiteStore(tmp_path / "care.db")
    else:
        made = _postgres_store()
    yield made
    made.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


def _desk(store: Store, clock: FrozenClock, customer: str = "c-1") -> tuple[Desk, str]:
    desk = Desk(store, clock=clock, care=CARE)
    store.save_customer(Customer(id=customer, name="Li Wei", language="zh-CN"))
    ticket = desk.open_ticket(customer=customer, channel="wechat", subject="Order 77 delivered")
    return desk, ticket.id


def _deliver(desk: Desk, ticket_id: str, serial: str = "SN-1") -> list[Case]:
    assert desk.care is not None
    return desk.care.delivered(
        ticket_id,
        serial=serial,
        sku="PURIFIER-1",
        delivered_at=START,
        warranty_until=add_months(START, 12),
        order_id="o-77",
    )


def _year(desk: Desk, clock: FrozenClock, store: Store, ids: list[str]) -> dict[str, list[int]]:
    """Run a year day by day: on which days each action fired (by its id)."""

    def firings(case_id: str) -> int:
        return sum(e.trigger in ("fire", "issue") for e in store.events(case_id))

    before = {case_id: firings(case_id) for case_id in ids}
    fired: dict[str, list[int]] = {case_id: [] for case_id in ids}
    for day in range(1, 400):
        clock.advance(days=1)
        desk.run_due()
        for case_id in ids:
            fired[case_id] += [day] * (firings(case_id) - before[case_id] - len(fired[case_id]))
    return fired


def _details(case: Case) -> CareDetails:
    assert isinstance(case.details, CareDetails)
    return case.details


def test_every_action_fires_once_on_its_day_over_a_year(store: Store, clock: FrozenClock) -> None:
    desk, ticket_id = _desk(store, clock)
    scheduled = _deliver(desk, ticket_id)
    due = {c.id: (_details(c).plan_id, (_details(c).due_at - START).days) for c in scheduled}
    assert sorted(due.values(), key=lambda v: v[1]) == [
        ("welcome", 1),
        ("loyalty", 100),
        ("filter", 181),  # 5 July: six calendar months
        ("pump-check", 186),  # 200 days, less 14
        ("warranty-ends", 335),
        ("filter", 365),
        ("filter", 546),
        ("filter", 730),
    ]
    fired = _year(desk, clock, store, list(due))
    for case_id, (_, day) in due.items():
        assert fired[case_id] == ([day] if day < 400 else []), due[case_id]
    welcome = desk.cases.get(care_action_id("welcome", "SN-1", 0))
    assert welcome.status == "done"
    assert welcome.order_id == "o-77"
    (fire,) = [e for e in store.events(welcome.id) if e.trigger == "fire"]
    sent = fire.changes["details"]
    assert (sent["language"], sent["texts"][sent["language"]]) == ("zh", "欢迎！")
    assert sent["template"] == "welcome"


def test_a_coupon_action_issues_one_coupon(store: Store, clock: FrozenClock) -> None:
    desk, ticket_id = _desk(store, clock)
    _deliver(desk, ticket_id)
    clock.advance(days=100)
    desk.run_due()
    desk.run_due()
    coupons = [c for c in desk.cases.for_ticket(ticket_id) if c.kind.value == "coupon"]
    (coupon,) = coupons
    care_id = care_action_id("loyalty", "SN-1", 0)
    assert (coupon.parent_id, coupon.customer_id, coupon.order_id) == (care_id, "c-1", "o-77")
    assert isinstance(coupon.details, CouponDetails)
    assert str(coupon.details.value) == "50 CNY"


def test_scheduling_again_schedules_nothing_twice(store: Store, clock: FrozenClock) -> None:
    desk, ticket_id = _desk(store, clock)
    first = _deliver(desk, ticket_id)
    assert len(first) == 8
    assert _deliver(desk, ticket_id) == []
    clock.advance(days=2)
    desk.run_due()
    assert _deliver(desk, ticket_id) == []  # the fired welcome is not scheduled again
    care = [c for c in desk.cases.for_ticket(ticket_id) if c.kind.value == "care"]
    assert sorted(c.id for c in care) == sorted(c.id for c in first)
    assert len(_deliver(desk, ticket_id, serial="SN-2")) == 8  # another unit: its own care


def test_nothing_fires_after_the_customer_is_erased(store: Store, clock: FrozenClock) -> None:
    desk, ticket_id = _desk(store, clock)
    scheduled = _deliver(desk, ticket_id)
    clock.advance(days=2)
    desk.run_due()  # the welcome went out
    desk.erase_customer("c-1")
    fired = _year(desk, clock, store, [c.id for c in scheduled])
    assert [case_id for case_id, days in fired.items() if days] == []
    statuses = sorted(desk.cases.get(c.id).status for c in scheduled)
    assert statuses == ["cancelled"] * 5 + ["done"] + ["scheduled"] * 2  # due after the year
    assert not [c for c in desk.cases.for_ticket(ticket_id) if c.kind.value == "coupon"]
    assert desk.care is not None
    assert desk.care.delivered(ticket_id, serial="SN-9", delivered_at=clock.now()) == []


def test_nothing_fires_after_the_customer_opts_out(store: Store, clock: FrozenClock) -> None:
    desk, ticket_id = _desk(store, clock)
    scheduled = _deliver(desk, ticket_id)
    clock.advance(days=150)
    desk.run_due()
    customer = store.get_customer("c-1")
    store.save_customer(customer.model_copy(update={"opted_out_of_care": True}))
    fired = _year(desk, clock, store, [c.id for c in scheduled])
    assert [case_id for case_id, days in fired.items() if days] == []
    assert desk.care is not None
    assert desk.care.withdraw("c-1") != []  # those due after the year, withdrawn at once
    assert {desk.cases.get(c.id).status for c in scheduled} == {"done", "cancelled"}


def test_a_closed_repair_schedules_its_plans_once(store: Store, clock: FrozenClock) -> None:
    desk, ticket_id = _desk(store, clock)
    line = phone(
        purchased="2025-12-20T10:00:00+08:00",
        delivered="2025-12-21T10:00:00+08:00",
        claim_at="2026-01-05T17:00:00+08:00",
    )
    repair = desk.cases.open_repair(ticket_id, serial="IMEI-7", line=line, order_id="o-7")
    for trigger, payload in (
        ("hand_in", {"site": "depot"}),
        ("diagnose", {"diagnosis": "loose battery connector"}),
        ("start_repair", None),
        ("finish_repair", None),
        ("pass_qc", None),
        ("hand_back", None),
        ("close", None),
    ):
        desk.cases.fire(repair.id, trigger, payload=payload)
    desk.dispatch_outbox()
    desk.dispatch_outbox()
    (care,) = [c for c in desk.cases.for_ticket(ticket_id) if c.kind.value == "care"]
    assert care.id == care_action_id("after-repair", "IMEI-7", 0)
    assert (_details(care).due_at, care.order_id) == (START + timedelta(days=2), "o-7")


def test_failure_ages_are_learned_from_the_stored_repairs(store: Store, clock: FrozenClock) -> None:
    desk, ticket_id = _desk(store, clock)
    assert desk.care is not None
    for index, days in enumerate((300, 320, 340, 360, 380)):  # units delivered so long ago
        delivered = START - timedelta(days=days)
        line = phone(
            purchased=delivered.isoformat(),
            delivered=delivered.isoformat(),
            claim_at=START.isoformat(),
        )
        desk.cases.open_repair(ticket_id, serial=f"K-{index}", line=line, assess=False)
    assert desk.care.learn_failure_ages(min_failures=6) == {}
    assert desk.care.learn_failure_ages() == {"SKU-phone": 320}
    (check,) = [
        c
        for c in desk.care.delivered(ticket_id, serial="K-9", sku="SKU-phone", delivered_at=START)
        if _details(c).plan_id == "pump-check"
    ]
    assert _details(check).due_at == START + timedelta(days=320 - 14)


def test_bad_plans_refuse_to_build_the_desk() -> None:
    for plan in (
        {"id": "x", "action": "message"},  # no template
        {"id": "x", "action": "coupon"},  # no offer
        {"id": "x", "action": "message", "template": "welcome", "times": 3},
        {"id": "x", "action": "message", "template": "nope"},
        {
            "id": "x",
            "on": "repair_closed",
            "action": "message",
            "template": "welcome",
            "start": "warranty_end",
        },
    ):
        with pytest.raises(InvalidInput, match=r"CareSettings: plans(\.0|\[0\])"):
            Desk(care={"plans": [plan], "templates": TEMPLATES})


def test_a_delivery_with_bad_facts_schedules_nothing(store: Store, clock: FrozenClock) -> None:
    desk, ticket_id = _desk(store, clock)
    assert desk.care is not None
    with pytest.raises(InvalidInput, match="delivered_at"):
        desk.care.delivered(ticket_id, serial="SN-1", delivered_at="soon")  # type: ignore[arg-type]
    assert [c for c in desk.cases.for_ticket(ticket_id) if c.kind.value == "care"] == []


def test_the_known_failure_age_is_the_lower_quartile_of_enough_failures() -> None:
    assert known_failure_age([400, 200, 300, 500, 600]) == 300
    assert known_failure_age([200, 300]) is None
    assert known_failure_age([10, 20], min_failures=2) == 12


def test_months_are_calendar_months_clamped_to_the_months_end() -> None:
    assert add_months(datetime(2026, 1, 31, tzinfo=timezone.utc), 1).day == 28
    assert add_months(datetime(2026, 11, 30, tzinfo=timezone.utc), 3) == datetime(
        2027, 2, 28, tzinfo=timezone.utc
    )
    assert add_months(START, 12) - START == timedelta(days=365)
