"""The shared field types every record validates with: instants, money and identifiers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from aftersales import InvalidInput
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
