"""The rows the codec makes of tickets and events stay byte for byte what they were:
stored rows are compared (a write sets only the columns that differ from the row it
remembers), and an import's rows are the floor its benchmark measures against.

``_reference`` below is the codec's ticket and event encoding as it was before it was
made faster (attribute reads, ``datetime.isoformat``, ``TypeAdapter.dump_json``): every
row must equal what it makes, and a few rows are pinned to their exact text."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from test_trusted_rows import events, tickets

from aftersales.models import Event, Ticket
from aftersales.models.events import LOG_TIME, build_event
from aftersales.storage import _codec as codec

UTC = timezone.utc
_TAGS = TypeAdapter(tuple[str, ...])


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def _ticket_row(ticket: Ticket, exclude_none: bool, null: str | None) -> tuple[object, ...]:
    def enum(value: Any) -> Any:
        return None if value is None else value.value

    return (
        ticket.status,
        ticket.status_category.value,
        ticket.version,
        ticket.customer_id,
        ticket.channel.value,
        ticket.assignee or null,
        ticket.team or null,
        ticket.merged_into or null,
        ticket.parent_id or null,
        ticket.follow_up_of or null,
        _ts(ticket.due_at) or null,
        _ts(ticket.sla_due_at) or null,
        ticket.category or null,
        ticket.priority,
        _ts(ticket.first_response_at) or null,
        _ts(ticket.resolved_at) or null,
        _ts(ticket.closed_at) or null,
        ticket.reopen_count,
        (None if ticket.order_line is None else ticket.order_line.sku) or null,
        ticket.satisfaction,
        enum(ticket.sla_first_response),
        ticket.first_response_business_seconds,
        enum(ticket.sla_resolution),
        ticket.resolution_business_seconds,
        (_TAGS.dump_json(ticket.tags).decode() if ticket.tags else None) or null,
        ticket.model_dump_json(exclude_none=exclude_none),
    )


def _event_row(event: Event) -> tuple[object, ...]:
    logged = event.payload.get("logged_seconds") if event.trigger == LOG_TIME else None
    return (
        event.subject_id,
        event.sequence,
        event.trigger,
        _ts(event.at),
        event.subject_kind,
        event.to_state,
        event.actor,
        logged if type(logged) is int else None,
        event.model_dump_json(),
    )


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(ticket=tickets(), exclude_none=st.booleans(), null=st.sampled_from([None, ""]))
def test_a_ticket_row_is_what_it_was(ticket: Ticket, exclude_none: bool, null: str | None) -> None:
    row = codec.ticket_row(ticket, exclude_none=exclude_none, null=null)
    assert row == _ticket_row(ticket, exclude_none, null)
    assert [type(value) for value in row] == [
        type(value) for value in _ticket_row(ticket, exclude_none, null)
    ]
    assert codec.ticket_key(ticket) == (
        ticket.id,
        ticket.number,
        ticket.workflow,
        _ts(ticket.created_at),
    )
    assert codec.tag_rows(ticket) == [
        (tag, _ts(ticket.created_at), ticket.number) for tag in dict.fromkeys(ticket.tags)
    ]


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(event=events())
def test_an_event_row_is_what_it_was(event: Event) -> None:
    assert codec.event_row(event) == _event_row(event)


zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]
)


@given(
    instant=st.datetimes(datetime(1900, 1, 2), datetime(2200, 12, 30), timezones=zones)
    | st.datetimes(timezones=st.just(UTC))  # any year, padded to four digits below 1000
)
def test_an_instant_is_the_text_it_was(instant: datetime) -> None:
    codec._TS_TEXT.clear()  # made, then remembered
    assert codec.ts(instant) == _ts(instant)
    assert codec.ts(instant) == _ts(instant)


def test_pinned_rows() -> None:
    at = datetime(2024, 2, 29, 23, 59, 58, 7, tzinfo=timezone(timedelta(hours=8)))
    ticket = Ticket.model_validate(
        {
            "id": "t-1",
            "number": 7,
            "channel": "email",
            "subject": "Broken 电视",
            "customer_id": "c-1",
            "status": "closed",
            "status_category": "closed",
            "priority": "vip",
            "tags": ("b", "a", "b"),
            "created_at": at,
            "updated_at": at,
            "closed_at": datetime(1999, 12, 31, 23, 0, tzinfo=UTC),
        }
    )
    assert codec.ticket_row(ticket, exclude_none=True, null="") == (
        "closed",
        "closed",
        1,
        "c-1",
        "email",
        *[""] * 5,
        "",
        "",
        "",
        "vip",
        "",
        "",
        "1999-12-31T23:00:00.000000+00:00",
        0,
        "",
        None,
        None,
        None,
        None,
        None,
        '["b","a","b"]',
        '{"id":"t-1","number":7,"workflow":"ticket","channel":"email","subject":"Broken 电视",'
        '"description":"","customer_id":"c-1","priority":"vip","status":"closed",'
        '"status_category":"closed","tags":["b","a","b"],"escalation_level":0,'
        '"created_at":"2024-02-29T15:59:58.000007Z","updated_at":"2024-02-29T15:59:58.000007Z",'
        '"closed_at":"1999-12-31T23:00:00Z","reopen_count":0,"version":1}',
    )
    assert codec.ticket_key(ticket) == ("t-1", 7, "ticket", "2024-02-29T15:59:58.000007+00:00")
    assert codec.tag_rows(ticket) == [
        ("b", "2024-02-29T15:59:58.000007+00:00", 7),
        ("a", "2024-02-29T15:59:58.000007+00:00", 7),
    ]
    event = build_event(
        "t-1",
        "ticket",
        2,
        LOG_TIME,
        "open",
        "open",
        "li",
        at.astimezone(UTC),
        {"logged_seconds": 90},
        {},
    )
    assert codec.event_row(event) == (
        "t-1",
        2,
        LOG_TIME,
        "2024-02-29T15:59:58.000007+00:00",
        "ticket",
        "open",
        "li",
        90,
        '{"subject_id":"t-1","subject_kind":"ticket","sequence":2,"trigger":"log_time",'
        '"from_state":"open","to_state":"open","actor":"li","at":"2024-02-29T15:59:58.000007Z",'
        '"payload":{"logged_seconds":90},"changes":{},"chain":null,"salt":null,"erased":null}',
    )
