"""Merging two customer records that turn out to be one person (issue 18): contact points,
tickets and cases move in one transaction, each moved subject records it, the duplicate
stays marked; nothing is lost, a repeat changes nothing, bad input stores nothing."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from case_facts import phone

from aftersales import (
    ConcurrencyError,
    CustomerNotFound,
    Desk,
    FrozenClock,
    InvalidInput,
    PermissionDenied,
    Store,
)
from aftersales.customers import MergeReport
from aftersales.models import Channel, Customer
from aftersales.models.events import CUSTOMER_MERGED, RESERVED_TRIGGERS
from aftersales.security import MemoryDirectory, Principal, default_permissions
from aftersales.storage import CaseQuery, Rewrite, TicketQuery
from aftersales.tickets.customers import Customers

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def desk(store: Store, clock: FrozenClock) -> Desk:
    made = Desk(store, clock=clock)
    made.save_customer(
        {
            "id": "wang",
            "name": "王芳",
            "contacts": [{"channel": "phone", "address": "+8613800000000"}],
            "tags": ["vip"],
        }
    )
    made.save_customer(
        {
            "id": "wang-wechat",
            "name": "芳芳",
            "language": "zh",
            "preferred_channel": "wechat",
            "contacts": [
                {"channel": "wechat", "address": "wx-wang"},
                {"channel": "phone", "address": "+8613800000000x"},
            ],
            "tags": ["vip", "wechat-only"],
            "opted_out_of_care": True,
        }
    )
    return made


def snapshot(store: Store) -> tuple[Any, ...]:
    tickets = store.find(TicketQuery(limit=10_000))
    cases = store.find_cases(CaseQuery(limit=10_000))
    events = {s: store.events(s) for s in [t.id for t in tickets] + [c.id for c in cases]}
    customers = [store.get_customer(i) for i in ("wang", "wang-wechat")]
    return tickets, cases, events, customers


def test_the_duplicate_s_contacts_tickets_and_cases_move_to_the_kept_customer(
    desk: Desk, store: Store
) -> None:
    kept_ticket = desk.open_ticket(customer="wang", channel="phone", subject="电话")
    ticket = desk.open_ticket(customer="wang-wechat", channel="wechat", subject="手机反复重启")
    repair = desk.cases.open_repair(ticket.id, serial="IMEI-7", line=phone(), order_id="o-7")
    assert repair.customer_id == "wang-wechat"

    report = desk.merge_customers("wang-wechat", into="wang", actor="sup-li")

    assert isinstance(report, MergeReport)
    assert (report.duplicate_id, report.contacts, report.tickets, report.cases) == (
        "wang-wechat",
        2,
        1,
        1,
    )
    kept = desk.get_customer("wang")
    assert report.customer == kept
    assert [(c.channel, c.address) for c in kept.contacts] == [
        (Channel.PHONE, "+8613800000000"),
        (Channel.WECHAT, "wx-wang"),
        (Channel.PHONE, "+8613800000000x"),
    ]
    # the kept record's own values win; what it lacked comes from the duplicate
    assert (kept.name, kept.language, kept.preferred_channel) == ("王芳", "zh", Channel.WECHAT)
    assert kept.tags == ("vip", "wechat-only")
    assert kept.opted_out_of_care is True
    assert desk.find_customer("wechat", "wx-wang") == kept
    duplicate = desk.get_customer("wang-wechat")
    # the person lives on in the kept record only: erasing it leaves nothing behind here
    assert (duplicate.contacts, duplicate.merged_into, duplicate.name) == ((), "wang", "[erased]")
    assert (duplicate.tier, duplicate.language, duplicate.tags) == (None, None, ())
    assert duplicate.preferred_channel is None
    assert duplicate.contact_hours == ()

    assert desk.get(ticket.id).customer_id == "wang"
    assert desk.cases.get(repair.id).customer_id == "wang"
    assert [t.id for t in desk.customer_history("wang").tickets] == [kept_ticket.id, ticket.id]
    assert desk.customer_history("wang-wechat").tickets == ()
    for subject_id in (ticket.id, repair.id):
        last = store.events(subject_id)[-1]
        assert (last.trigger, last.actor) == (CUSTOMER_MERGED, "sup-li")
        assert last.payload == {"from_customer_id": "wang-wechat", "into_customer_id": "wang"}
    assert [e.trigger for e in store.events(kept_ticket.id)] == ["created"]
    assert desk.verify_audit().ok
    assert desk.replay(ticket.id) == desk.get(ticket.id)  # the event holds the move

    profile = desk.customer_profile("wang-wechat")  # follows the merge
    assert profile.customer_id == "wang"
    assert [t.id for t in profile.tickets] == [kept_ticket.id, ticket.id]
    assert [p.serial for p in profile.products] == ["IMEI-7"]


def test_a_moved_ticket_keeps_working_and_a_moved_address_finds_the_kept_customer(
    desk: Desk,
) -> None:
    ticket = desk.open_ticket(customer="wang-wechat", channel="wechat", subject="手机反复重启")
    desk.merge_customers("wang-wechat", into="wang")
    classified = desk.classify(ticket.id, category="repair_warranty", severity="medium")
    assert (classified.customer_id, classified.status) == ("wang", "classified")
    found = desk.find_customer("wechat", "wx-wang")
    assert found is not None
    assert found.id == "wang"


def test_merging_again_changes_nothing(desk: Desk, store: Store) -> None:
    desk.open_ticket(customer="wang-wechat", channel="wechat", subject="手机反复重启")
    desk.merge_customers("wang-wechat", into="wang")
    before = snapshot(store)
    again = desk.merge_customers("wang-wechat", into="wang")
    assert (again.contacts, again.tickets, again.cases) == (0, 0, 0)
    assert again.customer == desk.get_customer("wang")
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("duplicate", "into"),
    [
        ("wang", "wang"),  # into itself
        ("", "wang"),
        ("wang-wechat", 7),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(
    desk: Desk, store: Store, duplicate: Any, into: Any
) -> None:
    desk.open_ticket(customer="wang-wechat", channel="wechat", subject="手机反复重启")
    before = snapshot(store)
    with pytest.raises(InvalidInput):
        desk.merge_customers(duplicate, into=into)
    assert snapshot(store) == before


def test_a_ticket_opened_under_a_merged_id_goes_to_the_kept_record(desk: Desk) -> None:
    desk.merge_customers("wang-wechat", into="wang")
    late = desk.open_ticket(customer="wang-wechat", channel="wechat", subject="又坏了")
    assert late.customer_id == "wang"
    assert desk.get(late.id).customer_id == "wang"
    assert desk.get_customer("wang-wechat").merged_into == "wang"


def test_merging_again_moves_what_was_written_under_the_old_id_since(
    desk: Desk, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk.merge_customers("wang-wechat", into="wang")
    with monkeypatch.context() as racing:
        # an open that read the customer before the merge committed keeps the old id
        racing.setattr(Customers, "final_id", lambda self, customer_id: customer_id)
        late = desk.open_ticket(customer="wang-wechat", channel="wechat", subject="又坏了")
    assert late.customer_id == "wang-wechat"
    kept = desk.get_customer("wang")
    again = desk.merge_customers("wang-wechat", into="wang")
    assert (again.contacts, again.tickets, again.cases) == (0, 1, 0)
    assert desk.get(late.id).customer_id == "wang"
    assert store.events(late.id)[-1].trigger == CUSTOMER_MERGED
    assert desk.get_customer("wang") == kept


def test_what_was_written_under_an_id_of_a_merge_chain_moves_to_the_final_record(
    desk: Desk, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk.save_customer({"id": "wang-app", "name": "Wang"})
    desk.merge_customers("wang-wechat", into="wang")
    desk.merge_customers("wang", into="wang-app")
    with monkeypatch.context() as racing:
        racing.setattr(Customers, "final_id", lambda self, customer_id: customer_id)
        late = desk.open_ticket(customer="wang-wechat", channel="wechat", subject="又坏了")
    again = desk.merge_customers("wang-wechat", into="wang")
    assert (again.customer.id, again.tickets) == ("wang-app", 1)
    assert desk.get(late.id).customer_id == "wang-app"
    assert desk.merge_customers("wang-wechat", into="wang-app").tickets == 0


def test_merging_again_blanks_a_duplicate_that_kept_its_name(desk: Desk, store: Store) -> None:
    desk.merge_customers("wang-wechat", into="wang")
    # as merges before blanking left it: merged, its name kept
    store.save_customer(Customer(id="wang-wechat", name="芳芳", merged_into="wang"))
    again = desk.merge_customers("wang-wechat", into="wang")
    assert (again.contacts, again.tickets, again.cases) == (0, 0, 0)
    found = desk.get_customer("wang-wechat")
    assert (found.name, found.merged_into) == ("[erased]", "wang")


def test_a_merged_record_is_not_saved_over(desk: Desk, store: Store) -> None:
    desk.merge_customers("wang-wechat", into="wang")
    before = snapshot(store)
    with pytest.raises(InvalidInput, match="merged into 'wang'"):
        desk.save_customer({"id": "wang-wechat", "name": "芳芳"})
    assert snapshot(store) == before


def test_a_merged_record_can_be_neither_merged_elsewhere_nor_merged_into(
    desk: Desk, store: Store
) -> None:
    desk.save_customer({"id": "li", "name": "Li"})
    desk.merge_customers("wang-wechat", into="wang")
    before = snapshot(store)
    with pytest.raises(InvalidInput, match="merged into 'wang'"):
        desk.merge_customers("wang-wechat", into="li")
    with pytest.raises(InvalidInput, match="merged into 'wang'"):
        desk.merge_customers("li", into="wang-wechat")
    assert snapshot(store) == before
    assert desk.get_customer("li").merged_into is None


def test_an_unknown_customer_is_not_found_and_nothing_is_stored(desk: Desk, store: Store) -> None:
    before = snapshot(store)
    with pytest.raises(CustomerNotFound):
        desk.merge_customers("nobody", into="wang")
    with pytest.raises(CustomerNotFound):
        desk.merge_customers("wang-wechat", into="nobody")
    assert snapshot(store) == before


def test_too_many_contact_points_together_are_refused(store: Store, clock: FrozenClock) -> None:
    desk = Desk(store, clock=clock, settings={"max_contacts": 2})
    desk.save_customer(
        {"id": "a", "name": "A", "contacts": [{"channel": "email", "address": "a@x.org"}]}
    )
    desk.save_customer(
        {
            "id": "b",
            "name": "B",
            "contacts": [
                {"channel": "email", "address": "b@x.org"},
                {"channel": "sms", "address": "+1"},
            ],
        }
    )
    with pytest.raises(InvalidInput, match="max_contacts"):
        desk.merge_customers("b", into="a")
    assert desk.get_customer("b").merged_into is None
    assert len(desk.get_customer("a").contacts) == 1


def test_a_ticket_written_meanwhile_is_read_again_not_overwritten(
    desk: Desk, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticket = desk.open_ticket(customer="wang-wechat", channel="wechat", subject="手机反复重启")
    rewrite = store.rewrite
    outcomes: list[str] = []

    def another_writer_first(change: Rewrite) -> None:
        if not outcomes:  # between the merge's read and its write
            desk.add_message(ticket.id, "还在吗", author_id="wang-wechat", author_role="customer")
        try:
            rewrite(change)
        except ConcurrencyError:
            outcomes.append("refused")
            raise
        outcomes.append("written")

    monkeypatch.setattr(store, "rewrite", another_writer_first)
    report = desk.merge_customers("wang-wechat", into="wang")
    assert outcomes == ["refused", "written"]
    assert report.tickets == 1
    assert desk.get(ticket.id).customer_id == "wang"
    assert [m.body for m in desk.messages(ticket.id)] == ["还在吗"]
    assert [e.trigger for e in store.events(ticket.id)][-2:] == ["add_message", CUSTOMER_MERGED]


def test_with_permissions_only_supervisors_merge(store: Store, clock: FrozenClock) -> None:
    directory = MemoryDirectory(
        [Principal.agent("agent-1", "care"), Principal("sup-li", {"supervisor"})]
    )
    desk = Desk(store, clock=clock, permissions=default_permissions(), principals=directory)
    desk.save_customer({"id": "a", "name": "A"})
    desk.save_customer({"id": "b", "name": "B"})
    with pytest.raises(PermissionDenied):
        desk.merge_customers("b", into="a", actor="agent-1")
    assert desk.get_customer("b").merged_into is None
    assert desk.merge_customers("b", into="a", actor="sup-li").customer.id == "a"
    assert desk.get_customer("b").merged_into == "a"


def test_customer_merged_is_a_reserved_trigger() -> None:
    assert CUSTOMER_MERGED == "customer_merged"
    assert CUSTOMER_MERGED in RESERVED_TRIGGERS


def test_every_case_of_the_duplicate_moves_however_many_pages_they_fill(
    desk: Desk, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aftersales.customers import _desk as customers_desk

    monkeypatch.setattr(customers_desk, "_PAGE", 2)  # three repairs: two pages
    ticket = desk.open_ticket(customer="wang-wechat", channel="wechat", subject="手机反复重启")
    repairs = [
        desk.cases.open_repair(ticket.id, serial=f"IMEI-{n}", line=phone(), order_id=f"o-{n}")
        for n in range(3)
    ]

    report = desk.merge_customers("wang-wechat", into="wang")

    assert report.cases == 3
    assert [desk.cases.get(r.id).customer_id for r in repairs] == ["wang"] * 3
