"""The trusted row decoders (issue 23): what a store wrote comes back as the very record
``model_validate_json`` gives (equal, same field types, same ``model_fields_set``, the
same JSON again), without validation, and the validator answers whatever the generated
code does not understand."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, WrapValidator
from pydantic_core import from_json

from aftersales import Desk, FrozenClock, InvalidInput, SQLiteStore
from aftersales.insights.history import generate_history
from aftersales.models import Case, Customer, Event, Message, Ticket
from aftersales.models._base import Record
from aftersales.models.case import register_kind
from aftersales.models.events import RESERVED_TRIGGERS, build_event
from aftersales.storage import _codec as codec
from aftersales.storage import _trusted
from aftersales.storage._trusted import (
    decoder,
    read_case,
    read_customer,
    read_event,
    read_message,
    read_ticket,
)

UTC = timezone.utc
STORED = (Ticket, Message, Event, Customer, Case)


def same_record(decoded: BaseModel, validated: BaseModel) -> None:
    """Equal, with the same types all the way down (repr shows an enum member against its
    str, a tuple against a list, timezone.utc against another UTC, Decimal('1.50') against
    Decimal('1.5')), the same fields set, and the same JSON again."""
    assert decoded == validated
    assert type(decoded) is type(validated)
    assert repr(decoded) == repr(validated)
    assert decoded.model_fields_set == validated.model_fields_set
    assert decoded.model_dump(exclude_unset=True) == validated.model_dump(exclude_unset=True)
    assert decoded.model_dump_json() == validated.model_dump_json()


def validated_case(data: str, terms: str | None) -> Case:
    """The case of its two columns by validation alone: each line's terms put back into
    its object, the whole validated (the codec's reader may be the trusted one)."""
    merged = json.loads(data)
    for line, part in zip(merged.get("lines", ()), json.loads(terms or "[]"), strict=True):
        line.update(part)
    return Case.model_validate_json(json.dumps(merged))


def same_case(decoded: Case, validated: Case) -> None:
    # (no fields-set check: a case read from two columns was always put together with
    # every field set, see _trusted._validated_case)
    assert decoded == validated
    assert repr(decoded) == repr(validated)
    assert decoded.model_dump_json() == validated.model_dump_json()


def built_without_validation(cls: type[BaseModel], text: str) -> BaseModel:
    """The record by the generated code alone: raises where the decoder would fall back
    to the validator, so a test through here shows the fast path was taken."""
    return decoder(cls).build(from_json(text))


# ---------------------------------------------------------------------------- strategies

identifiers = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=24
) | st.sampled_from(["agent-08", "客服-王芳", "returns", "customer-000030"])
chinese = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1)
short_texts = (
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1)
    | chinese
).map(lambda text: text[:200])
texts = short_texts | st.sampled_from(["收到的吸尘器无法充电，指示灯不亮。", "Bitte um Rückruf 🙏"])
zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))])
instants = st.datetimes(
    min_value=datetime(1901, 1, 1), max_value=datetime(2199, 1, 1), timezones=zones
)
enum_values = st.sampled_from
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(identifiers, inner, max_size=3),
    max_leaves=8,
)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def tickets(draw: st.DrawFn) -> Ticket:
    created = draw(instants)
    values: dict[str, Any] = {
        "id": draw(identifiers),
        "number": draw(st.integers(1, 2**40)),
        "workflow": draw(st.sampled_from(["ticket", "it_support", "售后"])),
        "channel": draw(enum_values(["email", "wechat", "phone", "web_chat", "qq"])),
        "subject": draw(short_texts),
        "description": draw(st.text(max_size=300) | chinese),
        "customer_id": draw(identifiers),
        "order_line": draw(
            optional(
                st.fixed_dictionaries(
                    {"order_id": identifiers, "line_id": identifiers},
                    optional={"sku": optional(identifiers)},
                )
            )
        ),
        "category": draw(optional(short_texts)),
        "severity": draw(optional(enum_values(["critical", "high", "medium", "low"]))),
        # shipped levels become the enum, a desk's own stay strings
        "priority": draw(enum_values(["urgent", "high", "normal", "low", "vip-rush", "紧急"])),
        "status": draw(identifiers),
        "status_category": draw(enum_values(["new", "open", "resolved", "closed"])),
        "assignee": draw(optional(identifiers)),
        "team": draw(optional(identifiers)),
        "tags": draw(st.lists(st.text(min_size=1, max_size=64) | chinese.map(lambda t: t[:64]))),
        "escalation_level": draw(st.integers(0, 5)),
        "resolution": draw(optional(texts)),
        "satisfaction": draw(optional(st.integers(1, 5))),
        "created_at": created,
        "updated_at": draw(instants),
        "first_response_at": draw(optional(instants)),
        "resolved_at": draw(optional(instants)),
        "closed_at": draw(optional(instants)),
        "reopen_count": draw(st.integers(0, 3)),
        "due_at": draw(optional(instants)),
        "sla_due_at": draw(optional(instants)),
        "sla_first_response": draw(optional(enum_values(["pending", "met", "breached"]))),
        "first_response_business_seconds": draw(optional(st.integers(0, 10**6))),
        "sla_resolution": draw(optional(enum_values(["pending", "met", "breached"]))),
        "version": draw(st.integers(1, 1000)),
        "audit_chain": draw(optional(st.text(max_size=64))),
    }
    return Ticket.model_validate(values)


attachments = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["充电器.jpg", "receipt.pdf", "a b.png"]),
        "content_type": st.sampled_from(["image/jpeg", "application/pdf", "image/png"]),
        "size": st.integers(1, 10**9),
        "sha256": st.text("0123456789abcdef", min_size=64, max_size=64),
    }
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    return Message.model_validate(
        {
            "id": draw(identifiers),
            "ticket_id": draw(identifiers),
            "kind": draw(enum_values(["public_reply", "internal_note"])),
            "author_id": draw(identifiers),
            "author_role": draw(enum_values(["customer", "agent", "bot", "system"])),
            "body": draw(texts),
            "channel": draw(enum_values(["email", "wechat", "sms"])),
            "at": draw(instants),
            "attachments": draw(st.lists(attachments, max_size=3)),
            "external_id": draw(optional(st.just("<wx-20240304-0001@example.com>"))),
        }
    )


@st.composite
def events(draw: st.DrawFn) -> Event:
    trigger = draw(st.sampled_from(sorted(RESERVED_TRIGGERS)) | identifiers)
    values = {
        "subject_id": draw(identifiers),
        "subject_kind": draw(st.sampled_from(["ticket", "return", "repair", "visit"])),
        "sequence": draw(st.integers(1, 10**6)),
        "trigger": trigger,
        "from_state": None if trigger == "created" else draw(optional(identifiers)),
        "to_state": draw(identifiers),
        "actor": draw(identifiers),
        "at": draw(instants),
        "payload": draw(st.dictionaries(identifiers, json_values, max_size=4)),
        "changes": draw(st.dictionaries(identifiers, json_values, max_size=4)),
        "chain": draw(optional(st.text("0123456789abcdef", min_size=64, max_size=64))),
        "salt": draw(optional(st.text("0123456789abcdef", min_size=32, max_size=32))),
        "erased": draw(optional(st.dictionaries(identifiers, identifiers, max_size=2))),
    }
    if draw(st.booleans()):  # as the library builds them
        values = {k: v for k, v in values.items() if k not in ("chain", "salt", "erased")}
        return build_event(**{**values, "at": values["at"].astimezone(UTC)})
    return Event.model_validate(values)


contact_hours = st.builds(
    lambda weekdays, start, hours, zone: {
        "weekdays": weekdays,
        "start": start,
        "end": time(min(23, start.hour + hours), 59),
        "time_zone": zone,
    },
    st.frozensets(st.integers(1, 7), min_size=1),
    st.times(max_value=time(22, 0)),
    st.integers(1, 8),
    st.sampled_from(["UTC", "Asia/Shanghai", "Europe/Berlin"]),
)


@st.composite
def customers(draw: st.DrawFn) -> Customer:
    contacts = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "channel": enum_values(["email", "phone", "wechat", "qq"]),
                    "address": st.sampled_from(["Wang.Fang@Example.com", "+8613800138000"])
                    | identifiers,
                }
            ),
            max_size=3,
        )
    )
    return Customer.model_validate(
        {
            "id": draw(identifiers),
            "name": draw(short_texts),
            "tier": draw(optional(st.sampled_from(["gold", "金卡"]))),
            "language": draw(optional(st.sampled_from(["zh", "en"]))),
            "contacts": contacts,
            "preferred_channel": draw(optional(enum_values(["email", "wechat"]))),
            "contact_hours": draw(st.lists(contact_hours, max_size=2)),
            "tags": draw(st.lists(st.text(min_size=1, max_size=64), max_size=3)),
            "opted_out_of_care": draw(st.booleans()),
            "merged_into": draw(optional(identifiers)),
        }
    )


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------- properties


def test_every_stored_model_has_generated_code() -> None:
    for cls in STORED:
        made = decoder(cls)
        assert made.supported, (cls.__name__, made.reason)


@PROPERTY
@given(ticket=tickets(), exclude_none=st.booleans())
def test_a_ticket_row_reads_back_as_validation_reads_it(ticket: Ticket, exclude_none: bool) -> None:
    # exactly the codec's serializer: every field (the default), or without the Nones (imports)
    text = str(codec.ticket_row(ticket, exclude_none=exclude_none)[-1])
    validated = Ticket.model_validate_json(text)
    same_record(read_ticket(text), validated)
    same_record(built_without_validation(Ticket, text), validated)
    assert validated == ticket


@PROPERTY
@given(message=messages())
def test_a_message_row_reads_back_as_validation_reads_it(message: Message) -> None:
    text = str(codec.message_row(message)[-1])
    validated = Message.model_validate_json(text)
    same_record(read_message(text), validated)
    same_record(built_without_validation(Message, text), validated)


@PROPERTY
@given(event=events())
def test_an_event_row_reads_back_as_validation_reads_it(event: Event) -> None:
    text = str(codec.event_row(event)[-1])
    validated = Event.model_validate_json(text)
    same_record(read_event(text), validated)
    same_record(built_without_validation(Event, text), validated)
    # the outbox keeps the same JSON (read_notification)
    same_record(read_event(event.model_dump_json()), validated)


@PROPERTY
@given(customer=customers())
def test_a_customer_row_reads_back_as_validation_reads_it(customer: Customer) -> None:
    text = codec.customer_data(customer)
    validated = Customer.model_validate_json(text)
    same_record(read_customer(text), validated)
    same_record(built_without_validation(Customer, text), validated)


@PROPERTY
@given(ticket=tickets(), dropped=st.sets(st.sampled_from(sorted(Ticket.model_fields))))
def test_a_row_written_before_a_field_existed_reads_back_as_validation_reads_it(
    ticket: Ticket, dropped: set[str]
) -> None:
    # Rows of older versions lack the fields added since (each with a default): the
    # record gets the defaults, and only the fields the row holds are set.
    row = json.loads(str(codec.ticket_row(ticket)[-1]))
    # (not the id: its default is a fresh one)
    optional_fields = {
        n
        for n, f in Ticket.model_fields.items()
        if f.default_factory is None and not f.is_required()
    }
    text = json.dumps({k: v for k, v in row.items() if k not in dropped & optional_fields})
    validated = Ticket.model_validate_json(text)
    same_record(read_ticket(text), validated)
    same_record(built_without_validation(Ticket, text), validated)


def test_rows_of_older_versions_without_the_later_fields() -> None:
    at = "2024-03-04T09:00:00Z"
    rows = {
        Event: {
            "subject_id": "t1",
            "sequence": 1,
            "trigger": "created",
            "from_state": None,
            "to_state": "new",
            "actor": "agent",
            "at": at,
            "payload": {},
            "changes": {"status": "new"},
        },
        Message: {
            "id": "m1",
            "ticket_id": "t1",
            "author_id": "c1",
            "author_role": "customer",
            "body": "你好",
            "channel": "email",
            "at": at,
        },
        Customer: {"id": "c1", "name": "王芳", "contacts": [], "tags": []},
        Ticket: {
            "id": "t1",
            "number": 1,
            "channel": "email",
            "subject": "s",
            "customer_id": "c1",
            "status": "new",
            "status_category": "new",
            "created_at": at,
            "updated_at": at,
        },
    }
    for cls, row in rows.items():
        text = json.dumps(row, ensure_ascii=False)
        validated = cls.model_validate_json(text)
        same_record(decoder(cls)(text), validated)
        same_record(built_without_validation(cls, text), validated)


class _Defaults(BaseModel):
    name: str
    level: tuple[int, ...] = (1, 2)
    notes: list[str] = ["first"]


def test_a_missing_field_gets_the_default_validation_gives() -> None:
    # pydantic-core puts a hashable default in as it is and copies an unhashable one
    # (deeply) for each record: the decoder does the same, so no record shares a list
    # with the model's default or with another record.
    defaults = _Defaults.model_fields
    validated = _Defaults.model_validate_json('{"name": "a"}')
    first = built_without_validation(_Defaults, '{"name": "a"}')
    second = built_without_validation(_Defaults, '{"name": "b"}')
    same_record(first, validated)
    assert first.level is defaults["level"].default is validated.level
    assert first.notes == ["first"]
    assert first.notes is not defaults["notes"].default
    assert first.notes is not second.notes


def test_a_key_a_model_ignores_is_dropped_as_validation_drops_it() -> None:
    # (extra="ignore", pydantic's default: a field a model no longer has, in older rows)
    text = '{"name": "a", "gone": 1, "notes": ["x"]}'
    validated = _Defaults.model_validate_json(text)
    same_record(built_without_validation(_Defaults, text), validated)
    assert validated.model_fields_set == {"name", "notes"}


def test_a_model_validator_that_changes_a_value_still_runs() -> None:
    # An address stored before e-mail addresses were lower-cased comes back lower-cased,
    # as validation gives it.
    text = json.dumps(
        {"id": "c1", "name": "Wang", "contacts": [{"channel": "email", "address": "Wang@X.CN"}]}
    )
    validated = Customer.model_validate_json(text)
    assert validated.contacts[0].address == "wang@x.cn"
    same_record(built_without_validation(Customer, text), validated)


class _VisitDetails(Record):
    window: datetime
    technician: str
    fee: Decimal = Decimal("0.00")


def test_a_registered_kinds_details_are_read_by_its_model() -> None:
    kind = register_kind("trusted-rows-visit", _VisitDetails)
    case = Case.model_validate(
        {
            "kind": kind,
            "workflow": "visit",
            "status": "scheduled",
            "status_category": "open",
            "ticket_id": "t1",
            "details": {
                "window": "2024-03-04T09:00:00+08:00",
                "technician": "李师傅",
                "fee": "12.50",
            },
            "created_at": datetime(2024, 3, 4, tzinfo=UTC),
            "updated_at": datetime(2024, 3, 4, tzinfo=UTC),
        }
    )
    data, terms = codec.case_data(case), codec.case_terms(case)
    validated = validated_case(data, terms)
    same_record(read_case(data, terms), validated)
    same_record(built_without_validation(Case, data), validated)
    assert read_case(data, terms).details == _VisitDetails(
        window=datetime(2024, 3, 4, 1, tzinfo=UTC), technician="李师傅", fee=Decimal("12.50")
    )


# ---------------------------------------------------------------------------- a store's rows


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite store's file after a generated history: every kind of row the desk
    writes (transitions of the ticket and case workflows, messages, cases with their
    terms, customers)."""
    path = tmp_path_factory.mktemp("trusted") / "history.sqlite"
    start = datetime(2024, 1, 1, tzinfo=UTC)
    store = SQLiteStore(path)
    try:
        generate_history(
            Desk(store, clock=FrozenClock(start)), tickets=30, start=start, days=20, seed=7
        )
    finally:
        store.close()
    return path


@pytest.mark.parametrize(
    ("table", "cls"),
    [("tickets", Ticket), ("messages", Message), ("events", Event), ("customers", Customer)],
)
def test_every_row_a_store_wrote_reads_back_as_validation_reads_it(
    history: Path, table: str, cls: type[BaseModel]
) -> None:
    with sqlite3.connect(history) as connection:
        rows = [data for (data,) in connection.execute(f"SELECT data FROM {table}")]
    assert rows
    for text in rows:
        validated = cls.model_validate_json(text)
        same_record(decoder(cls)(text), validated)
        same_record(built_without_validation(cls, text), validated)
        # what the store wrote, the decoded record writes again, byte for byte
        if table == "tickets":
            assert str(codec.ticket_row(read_ticket(text))[-1]) == text
        elif table == "events":
            assert str(codec.event_row(read_event(text))[-1]) == text


def test_every_case_a_store_wrote_reads_back_as_validation_reads_it(history: Path) -> None:
    with sqlite3.connect(history) as connection:
        rows = list(connection.execute("SELECT data, terms FROM cases"))
    assert any(terms for _, terms in rows), "the history has cases with policy decisions"
    for data, terms in rows:
        validated = validated_case(data, terms or None)
        decoded = read_case(data, terms or None)
        same_record(decoded, validated)
        # and the store writes the decoded case's columns as it writes the validated one's
        # (not always byte for byte the stored text: a decision the policies put together
        # without validation keeps its own key order, which any reading puts right)
        assert (codec.case_data(decoded), codec.case_terms(decoded)) == (
            codec.case_data(validated),
            codec.case_terms(validated),
        )
    with sqlite3.connect(history) as connection:
        triggers = {t for (t,) in connection.execute("SELECT DISTINCT trigger FROM events")}
    assert {"created", "add_message", "log_time"} <= triggers


# ---------------------------------------------------------------------------- the fallback


class _Odd(BaseModel):
    name: str
    # a wrap validator: the generator cannot reproduce it
    shout: Annotated[str, WrapValidator(lambda value, handler: handler(value).upper())]


class _HoldsOdd(BaseModel):
    odd: _Odd | None = None
    count: Annotated[int, Field(ge=0)] = 0


def test_a_model_the_generator_cannot_reproduce_is_validated_instead() -> None:
    made = decoder(_Odd)
    assert not made.supported
    assert made.reason is not None
    assert "wrap" in made.reason.lower()
    assert made('{"name": "a", "shout": "hi"}') == _Odd(name="a", shout="HI")
    # nor can a model that holds it
    holder = decoder(_HoldsOdd)
    assert not holder.supported
    text = '{"odd": {"name": "a", "shout": "hi"}, "count": 2}'
    assert holder(text) == _HoldsOdd.model_validate_json(text)
    with pytest.raises(_trusted.Unsupported):
        holder.build(json.loads(text))


@pytest.mark.parametrize(
    "change",
    [
        {"channel": "fax"},  # an enum value the model does not have
        {"created_at": "yesterday"},
        {"unknown": 1},  # a key the model does not have (extra="forbid")
    ],
)
def test_a_row_the_generated_code_does_not_expect_gets_the_validators_answer(
    change: dict[str, Any],
) -> None:
    at = datetime(2024, 3, 4, tzinfo=UTC)
    ticket = Ticket(
        number=1,
        channel="email",
        subject="s",
        customer_id="c",
        status="new",
        status_category="new",
        created_at=at,
        updated_at=at,
    )
    text = json.dumps({**json.loads(ticket.model_dump_json()), **change})
    with pytest.raises(InvalidInput) as validating:
        Ticket.model_validate_json(text)
    with pytest.raises(InvalidInput) as decoding:
        read_ticket(text)
    assert decoding.value.errors == validating.value.errors


def test_a_row_that_is_not_json_gets_the_validators_answer() -> None:
    with pytest.raises(InvalidInput):
        read_event("{not json")
    with pytest.raises(InvalidInput):
        read_case("[]", None)


def test_without_generated_code_a_case_is_read_by_validating_its_columns(
    history: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_trusted._CASE, "_build", None)
    with sqlite3.connect(history) as connection:
        rows = list(connection.execute("SELECT data, terms FROM cases WHERE terms IS NOT NULL"))
    assert rows
    for data, terms in rows:
        same_case(read_case(data, terms), validated_case(data, terms))


@PROPERTY
@given(ticket=tickets(), order=st.randoms(use_true_random=False))
def test_a_row_with_its_keys_in_another_order_reads_back_in_field_order(
    ticket: Ticket, order: Any
) -> None:
    # A record's JSON follows its fields' order in __dict__: a row whose keys come in
    # another order still gives the record validation gives, which writes them in order.
    items = list(json.loads(str(codec.ticket_row(ticket)[-1])).items())
    order.shuffle(items)
    text = json.dumps(dict(items))
    validated = Ticket.model_validate_json(text)
    same_record(read_ticket(text), validated)
    same_record(built_without_validation(Ticket, text), validated)
