"""The shared field types every record validates with: instants, money and identifiers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from aftersales import Desk, InvalidInput, TicketNotFound, TransitionRefused
from aftersales.models import Customer, Money
from aftersales.models.events import Event

AT = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)


def event(**changes: object) -> Event:
    values: dict[str, object] = {
        "subject_id": "t-1",
        "sequence": 1,
        "trigger": "created",
        "from_state": None,
        "to_state": "new",
        "actor": "agent-1",
        "at": AT,
    }
    values.update(changes)
    return Event(**values)


@pytest.mark.parametrize(
    "at",
    [
        "1899-12-31T23:59:59+00:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "2201-01-01T00:00:00+00:00",
        "2200-12-31T23:00:00-05:00",  # 2201 in UTC
    ],
)
def test_an_instant_outside_the_years_1900_to_2200_is_invalid_input(at: str) -> None:
    with pytest.raises(InvalidInput, match="years 1900 to 2200"):
        event(at=at)


def test_instants_at_the_ends_of_the_supported_range_are_kept_in_utc() -> None:
    first = event(at="1900-01-01T00:00:00+00:00").at
    last = event(at=datetime(2200, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=8)))).at
    assert (first.year, last.year, last.hour) == (1900, 2200, 15)
    assert last.tzinfo == timezone.utc


@pytest.mark.parametrize(
    "amount", ["1e30", "1234567890123.1234567", "0.0000001", "NaN", "Infinity"]
)
def test_money_beyond_18_digits_or_6_decimal_places_is_invalid_input(amount: str) -> None:
    with pytest.raises(InvalidInput):
        Money(amount=Decimal(amount), currency="CNY")


def test_money_within_its_bounds_keeps_its_exact_amount() -> None:
    assert Money(amount=Decimal("999999999999.999999"), currency="CNY").amount == Decimal(
        "999999999999.999999"
    )


@pytest.mark.parametrize("value", ["a\x00b", "\ud800", "tab\there", "", "x" * 129, "del\x7f"])
def test_an_identifier_with_control_characters_a_lone_surrogate_or_bad_length_is_refused(
    value: str,
) -> None:
    with pytest.raises(InvalidInput):
        event(actor=value)
    with pytest.raises(InvalidInput):
        Customer(id=value, name="Li Wei")


@pytest.mark.parametrize("value", ["cust-42", "CUST-42 ", "李伟", "cust-😀", "𠀀𠀁", "a b"])
def test_identifiers_keep_every_printable_character_exactly(value: str) -> None:
    assert Customer(id=value, name="Li Wei").id == value


def test_events_name_their_subjects_kind_and_default_to_a_ticket() -> None:
    assert event().subject_kind == "ticket"
    assert event(subject_kind="return").subject_kind == "return"


@pytest.mark.parametrize(
    ("trigger", "payload"),
    [
        ("assign", {"assignee": "a\x00b", "team": "t"}),
        ("assign", {"assignee": "li.wei", "team": "t\x07"}),
        ("queue", {"team": "re\npairs"}),
        ("cancel", {"reason": "dup\x00"}),
    ],
)
def test_a_ticket_payload_the_ticket_could_not_hold_is_refused_before_it_is_stored(
    trigger: str, payload: dict[str, str]
) -> None:
    desk = Desk()
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle leaks")
    with pytest.raises(InvalidInput):
        desk.fire(ticket.id, trigger, payload=payload)
    assert desk.get(ticket.id) == desk.replay(ticket.id) == ticket


@pytest.mark.parametrize(
    "now",
    [
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone.utc),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(2200, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_due_work_and_dispatch_refuse_a_now_outside_the_supported_years(now: datetime) -> None:
    desk = Desk()
    with pytest.raises(InvalidInput, match="years 1900 to 2200"):
        desk.run_due(now)
    with pytest.raises(InvalidInput, match="years 1900 to 2200"):
        desk.dispatch_outbox(now)


def test_a_parent_with_open_children_cannot_be_merged_away() -> None:
    desk = Desk()
    parent = desk.open_ticket(customer="c-1", channel="email", subject="Order late")
    desk.open_ticket(customer="c-1", channel="email", subject="Item 2", parent_id=parent.id)
    target = desk.open_ticket(customer="c-1", channel="email", subject="Order late (again)")
    with pytest.raises(TransitionRefused) as refused:
        desk.merge(parent.id, into=target.id)
    assert refused.value.refusal.code == "children_open"
    assert desk.get(parent.id).status == "new"


def test_a_ticket_is_found_by_its_number_as_messages_show_it() -> None:
    desk = Desk()
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle leaks")
    assert desk.get(f"#{ticket.number}") == desk.get(ticket.number) == ticket
    with pytest.raises(TicketNotFound, match="#99"):
        desk.get("#99")
    with pytest.raises(InvalidInput):
        desk.get("#0")
