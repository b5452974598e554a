from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from aftersales import (
    Channel,
    ContactPoint,
    Customer,
    InvalidInput,
    Money,
    Order,
    OrderLine,
    Priority,
    Product,
    Ticket,
)

SHANGHAI = timezone(timedelta(hours=8))


def _ticket(**fields: object) -> Ticket:
    values: dict[str, object] = {
        "number": 1,
        "channel": "email",
        "subject": "Hello",
        "customer_id": "c1",
        "status": "new",
        "status_category": "new",
        "created_at": datetime(2024, 3, 4, 9, tzinfo=timezone.utc),
        "updated_at": datetime(2024, 3, 4, 9, tzinfo=timezone.utc),
    }
    values.update(fields)
    return Ticket.model_validate(values)


def test_a_naive_datetime_is_rejected_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as raised:
        _ticket(created_at=datetime(2024, 3, 4, 9))
    assert [e.location for e in raised.value.errors] == [("created_at",)]
    assert "timezone" in str(raised.value)


def test_times_are_kept_in_utc_whatever_zone_they_arrive_in() -> None:
    ticket = _ticket(created_at=datetime(2024, 3, 4, 17, tzinfo=SHANGHAI))
    assert ticket.created_at == datetime(2024, 3, 4, 9, tzinfo=timezone.utc)
    assert ticket.created_at.utcoffset() == timedelta(0)


def test_every_problem_is_reported_at_once_and_as_our_error() -> None:
    with pytest.raises(InvalidInput) as raised:
        _ticket(channel="carrier pigeon", number=0, subject="")
    locations = sorted(e.location for e in raised.value.errors)
    assert locations == [("channel",), ("number",), ("subject",)]
    assert isinstance(raised.value, ValueError)


def test_json_input_errors_are_ours_too() -> None:
    with pytest.raises(InvalidInput):
        Ticket.model_validate_json('{"number": "x"}')


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(InvalidInput) as raised:
        _ticket(colour="red")
    assert raised.value.errors[0].kind == "extra_forbidden"


def test_records_are_immutable() -> None:
    ticket = _ticket()
    with pytest.raises(Exception, match="frozen"):
        ticket.subject = "changed"  # type: ignore[misc]


def test_channels_cover_the_seed_documents() -> None:
    assert {c.value for c in Channel} >= {
        "phone", "email", "web_chat", "app", "wechat", "qq", "weibo", "sms", "letter",
        "in_store", "on_site", "self_service", "bot",
    }  # fmt: skip


def test_a_customer_knows_its_address_on_each_channel() -> None:
    customer = Customer(
        name="王芳", contacts=(ContactPoint(channel=Channel.WECHAT, address="wx-1"),)
    )
    assert customer.address_on(Channel.WECHAT) == "wx-1"
    assert customer.address_on(Channel.EMAIL) is None
    assert len(customer.id) == 32


def test_money_is_decimal_with_an_iso_currency() -> None:
    price = Money(amount=Decimal("19.99"), currency="EUR")
    assert str(price) == "19.99 EUR"
    with pytest.raises(InvalidInput):
        Money(amount=Decimal("1"), currency="euro")
    with pytest.raises(InvalidInput):
        Money(amount=Decimal("NaN"), currency="EUR")


def test_an_order_finds_its_lines_and_a_line_knows_its_total() -> None:
    line = OrderLine(
        line_id="1",
        product=Product(sku="KTL-1", name="Kettle", warranty_terms="cn-sanbao"),
        quantity=3,
        unit_price=Money(amount=Decimal("10.50"), currency="CNY"),
    )
    order = Order(
        order_id="SO-1",
        customer_id="c1",
        purchased_at=datetime(2024, 3, 1, tzinfo=timezone.utc),
        lines=(line,),
    )
    assert order.line("1") == line
    assert order.line("2") is None
    assert line.total == Money(amount=Decimal("31.50"), currency="CNY")


def test_an_order_needs_at_least_one_line_and_a_positive_quantity() -> None:
    with pytest.raises(InvalidInput):
        Order(
            order_id="SO-1",
            customer_id="c1",
            purchased_at=datetime(2024, 3, 1, tzinfo=timezone.utc),
            lines=(),
        )
    with pytest.raises(InvalidInput):
        OrderLine.model_validate(
            {
                "line_id": "1",
                "product": {"sku": "A", "name": "A"},
                "quantity": 0,
                "unit_price": {"amount": "1", "currency": "CNY"},
            }
        )


def test_a_ticket_shows_its_number_the_way_people_quote_it() -> None:
    assert _ticket(number=42).display_number == "#42"
    assert not _ticket().is_closed
    assert _ticket(status="closed", status_category="closed").is_closed


def test_ids_made_one_after_another_sort_in_that_order() -> None:
    from aftersales.models import new_id

    ids = [new_id() for _ in range(1000)]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert len(set(ids)) == 1000
    # within one microsecond the random tail decides; across microseconds time does
    firsts = [i[:14] for i in ids]
    assert firsts == sorted(firsts)


def test_a_ticket_keeps_shipped_priorities_as_the_enum_and_others_as_text() -> None:
    base = {
        "number": 1,
        "channel": "email",
        "subject": "s",
        "customer_id": "c",
        "status": "new",
        "status_category": "new",
        "created_at": "2024-01-01T00:00:00+00:00",
        "updated_at": "2024-01-01T00:00:00+00:00",
    }
    assert Ticket.model_validate({**base, "priority": "high"}).priority is Priority.HIGH
    custom = Ticket.model_validate({**base, "priority": "p1"})
    assert (custom.priority, type(custom.priority)) == ("p1", str)
    assert Ticket.model_validate_json(custom.model_dump_json()) == custom
    with pytest.raises(InvalidInput):
        Ticket.model_validate({**base, "priority": "bad\x00"})


def test_tags_and_contacts_have_a_hard_bound_on_the_records() -> None:
    with pytest.raises(InvalidInput, match="tags"):
        Ticket.model_validate(
            {
                "number": 1,
                "channel": "email",
                "subject": "s",
                "customer_id": "c",
                "status": "new",
                "status_category": "new",
                "created_at": "2024-01-01T00:00:00+00:00",
                "updated_at": "2024-01-01T00:00:00+00:00",
                "tags": [str(n) for n in range(1001)],
            }
        )
    with pytest.raises(InvalidInput, match="contacts"):
        Customer(
            id="c",
            name="n",
            contacts=[ContactPoint(channel="sms", address=str(n)) for n in range(1001)],
        )


def test_a_case_has_a_json_schema_for_what_it_serializes_with_its_kind_as_a_name() -> None:
    # web frameworks build their response models from the serialization schema
    from aftersales import Case, CaseKind, Desk

    schema = Case.model_json_schema(mode="serialization")
    assert schema["properties"]["kind"] == {"title": "Kind", "type": "string"}
    desk = Desk()
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="Rude courier")
    complaint = desk.cases.open_complaint(ticket.id, summary="The courier shouted")
    assert complaint.kind is CaseKind.COMPLAINT
    assert complaint.model_dump()["kind"] is CaseKind.COMPLAINT
    assert complaint.model_dump(mode="json")["kind"] == "complaint"
    assert Case.model_validate_json(complaint.model_dump_json()) == complaint
