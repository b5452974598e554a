"""An import renders each ticket's JSON once (the creation event's changes, the ticket's
row and the event's row are that one text) and writes the rows it wrote when each was
rendered on its own: the rows are compared here with those the general codec makes of
the ticket as the import validates it and of its creation event, sealed under the same
salts. Every store inserts a new ticket's rows through the codec
(:func:`~aftersales.storage._codec.new_ticket_rows`): SQLiteStore's batched import, and
RecordStore's (SQLAlchemyStore, any recorder), which writes a ticket's JSON with its
Nones."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic_core import to_json
from test_trusted_rows import events, tickets

from aftersales import Desk, InvalidInput, SQLiteStore
from aftersales.models import Channel, Event, Priority, Ticket
from aftersales.models.events import build_event
from aftersales.privacy import audit
from aftersales.storage import _codec as codec
from aftersales.storage._unit import Change
from aftersales.storage.recorder import MemoryRecorder, RecordStore
from aftersales.storage.sqlalchemy import SQLAlchemyStore
from aftersales.tickets._commands import creation_event
from aftersales.tickets._importing import _with_head

UTC = timezone.utc
T0 = datetime(2024, 2, 29, 23, 59, 58, 7, tzinfo=UTC)
SETTINGS: dict[str, Any] = {"priorities": ["urgent", "high", "normal", "low", "vip-rush"]}


def _varied() -> list[dict[str, Any]]:
    """Records with every kind of value a ticket holds, given in the forms an import
    takes (enums or their values, instants in any zone or as ISO text)."""
    statuses = ["new", "in_progress", "waiting_on_customer", "resolved", "closed"]
    records: list[dict[str, Any]] = []
    for n in range(40):
        at = T0 + timedelta(hours=n, microseconds=n * 37 % 3)
        record: dict[str, Any] = {
            "id": f"imp-{n}",
            "number": 100 + n,
            "channel": ["email", Channel.WECHAT, "phone", "web_chat"][n % 4],
            "subject": ["Broken 电视", 'He said "no" \\ again', "line\nbreak\u2028", "ok"][n % 4],
            "description": "收到的吸尘器无法充电。" * (n % 3),
            "customer_id": f"c-{n % 7}",
            "priority": ["high", Priority.LOW, "vip-rush", None][n % 4],
            "status": statuses[n % len(statuses)],
            "tags": [["b", "a", "b"], [], ["标签"], ["x" * 64]][n % 4],
            "created_at": at if n % 5 else at.astimezone(timezone(timedelta(hours=8))),
            "updated_at": (at + timedelta(minutes=5)).isoformat() if n % 3 else at,
        }
        if n % 2:
            record["assignee"], record["team"] = "客服-王芳", "returns"
            record["first_response_at"] = at + timedelta(minutes=1)
        if n % 3 == 0:
            record["order_line"] = {"order_id": f"o-{n}", "line_id": "1"}
            if n % 2:
                record["order_line"]["sku"] = "SKU-9"
        if n % 4 == 1:
            record.update(
                severity="high",
                category="billing_invoice",
                satisfaction=4,
                resolution="Refunded 🙏",
                escalation_level=2,
                reopen_count=1,
                sla_rule="gold",
                sla_due_at=at + timedelta(days=1),
                due_at=at + timedelta(days=2, microseconds=1),
                sla_first_response="met",
                first_response_business_seconds=60,
                sla_resolution="breached",
                resolution_business_seconds=3600,
                merged_into="imp-0",
                parent_id="imp-1",
                follow_up_of="imp-2",
                self_served_by="faq",
            )
        if statuses[n % len(statuses)] in ("resolved", "closed"):
            record["resolved_at"] = at + timedelta(hours=1)
        if statuses[n % len(statuses)] == "closed":
            record["closed_at"] = at + timedelta(hours=2)
        records.append(record)
    return records


def _salts(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = itertools.count(1)
    monkeypatch.setattr(audit, "_urandom", lambda size: next(counter).to_bytes(size, "big"))


def _expected(desk: Desk, records: list[dict[str, Any]], exclude_none: bool) -> dict[str, Any]:
    """The rows of ``records`` as the codec makes them of each ticket (validated as the
    import validates it) and of its creation event: how they were written before."""
    core = desk._core
    tickets, events, tags = [], [], []
    for record in records:
        values = {k: v for k, v in record.items() if k != "messages"}
        values.update(
            workflow=core.workflow.name,
            status_category=core.workflow.category_of(values["status"]),
            priority=values["priority"] or core.settings.default_priority,
            audit_chain=None,
        )
        ticket = Ticket.model_validate(values)
        created = creation_event(ticket, "import", exclude_none=True)
        sealed, head = core.pipeline.chain.seal([created], None)
        ticket = ticket.model_copy(update={"audit_chain": head})
        tickets.append(
            (*codec.ticket_row(ticket, exclude_none=exclude_none), *codec.ticket_key(ticket))
        )
        events.append(codec.event_row(sealed[0]))
        tags += codec.tag_rows(ticket)
    return {"tickets": tickets, "events": events, "tags": sorted(tags, key=lambda t: (t[2], t[0]))}


def _written(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    columns = ", ".join(codec.TICKET_COLUMNS + codec.TICKET_KEY_COLUMNS)
    found = {
        "tickets": conn.execute(f"SELECT {columns} FROM tickets ORDER BY number").fetchall(),
        "events": conn.execute(
            f"SELECT {', '.join(codec.EVENT_COLUMNS)} FROM events ORDER BY rowid"
        ).fetchall(),
        "tags": conn.execute(
            "SELECT tag, created_at, number FROM ticket_tags ORDER BY number, tag"
        ).fetchall(),
    }
    conn.close()
    return found


def test_an_import_writes_the_rows_it_wrote_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _varied()
    desk = Desk(SQLiteStore(tmp_path / "import.db"), settings=SETTINGS)
    _salts(monkeypatch)
    assert desk.import_tickets(records, batch_size=16) == len(records)
    _salts(monkeypatch)
    expected = _expected(desk, records, exclude_none=True)
    desk.close()
    assert _written(tmp_path / "import.db") == expected
    assert expected["tags"][:2] == [  # one row per distinct tag
        ("a", "2024-02-29T23:59:58.000007+00:00", 100),
        ("b", "2024-02-29T23:59:58.000007+00:00", 100),
    ]


def test_an_import_on_sqlalchemy_writes_the_rows_the_codec_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # RecordStore's rows: the ticket's JSON with its Nones, as every other write of it
    records = _varied()
    desk = Desk(SQLAlchemyStore(f"sqlite:///{tmp_path / 'import.db'}"), settings=SETTINGS)
    _salts(monkeypatch)
    assert desk.import_tickets(records, batch_size=16) == len(records)
    _salts(monkeypatch)
    expected = _expected(desk, records, exclude_none=False)
    desk.close()
    assert _written(tmp_path / "import.db") == expected


def _recorded(recorder: MemoryRecorder) -> dict[str, Any]:
    """What ``recorder`` holds, as :func:`_written` reads a database."""

    def read(table: str, columns: tuple[str, ...], order: tuple[str, ...]) -> list[Any]:
        rows = recorder.reading(lambda r: r.select(table, {}, order=order, columns=columns))
        return [tuple(row[name] for name in columns) for row in rows]

    return {
        "tickets": read("tickets", codec.TICKET_COLUMNS + codec.TICKET_KEY_COLUMNS, ("number",)),
        "events": read("events", codec.EVENT_COLUMNS, ()),
        "tags": read("ticket_tags", ("tag", "created_at", "number"), ("number", "tag")),
    }


def test_an_import_through_a_recorder_writes_the_rows_the_codec_makes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = _varied()
    recorder = MemoryRecorder()
    desk = Desk(RecordStore(recorder), settings=SETTINGS)
    _salts(monkeypatch)
    assert desk.import_tickets(records, batch_size=16) == len(records)
    _salts(monkeypatch)
    expected = _expected(desk, records, exclude_none=False)
    assert _recorded(recorder) == expected


def test_a_batch_carrying_messages_writes_the_rows_it_wrote_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a batch with messages takes the general write (the ticket's JSON keeps its Nones)
    records = _varied()[:6]
    records[2]["messages"] = [
        {
            "author_id": "c-2",
            "author_role": "customer",
            "body": "你好",
            "channel": "email",
            "at": T0,
        }
    ]
    desk = Desk(SQLiteStore(tmp_path / "import.db"), settings=SETTINGS)
    _salts(monkeypatch)
    assert desk.import_tickets(records) == len(records)
    _salts(monkeypatch)
    expected = _expected(desk, records, exclude_none=False)
    desk.close()
    assert _written(tmp_path / "import.db") == expected


def test_a_bad_record_in_a_batch_stores_none_of_it(tmp_path: Path) -> None:
    records = _varied()[:5]
    records[3]["created_at"] = "yesterday"
    desk = Desk(SQLiteStore(tmp_path / "import.db"), settings=SETTINGS)
    with pytest.raises(InvalidInput) as raised:
        desk.import_tickets(records)
    assert raised.value.errors[0].location[:2] == (3, "created_at")
    desk.close()
    assert _written(tmp_path / "import.db") == {"tickets": [], "events": [], "tags": []}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(ticket=tickets())
def test_a_new_tickets_json_is_its_creation_changes_with_its_head(ticket: Ticket) -> None:
    new = ticket.model_copy(update={"audit_chain": None})
    rendered = to_json(creation_event(new, "import", exclude_none=True).changes).decode()
    assert rendered == new.model_dump_json(exclude_none=True)
    head = "0123456789abcdef" * 4
    assert _with_head(rendered, head) == new.model_copy(
        update={"audit_chain": head}
    ).model_dump_json(exclude_none=True)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(event=events())
def test_an_events_json_around_its_rendered_changes_is_the_models(event: Event) -> None:
    changes = to_json(event.changes).decode()
    assert codec.event_json(event, changes) == event.model_dump_json()
    assert codec.event_row(event, changes, codec.ts(event.at)) == codec.event_row(event)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(ticket=tickets())
def test_a_ticket_row_with_its_rendered_json_is_the_same_row(ticket: Ticket) -> None:
    data = ticket.model_dump_json(exclude_none=True)
    values = ticket.model_dump(mode="json", exclude_none=True)
    assert codec.ticket_row(
        ticket, exclude_none=True, null="", data=data, values=values
    ) == codec.ticket_row(ticket, exclude_none=True, null="")
    created = codec.ts_of_json(values["created_at"])
    assert codec.ticket_key(ticket, created) == codec.ticket_key(ticket)


@given(
    instant=st.datetimes(datetime(1900, 1, 2), datetime(2200, 12, 30), timezones=st.just(UTC))
    | st.datetimes(datetime(1900, 1, 2), datetime(2200, 12, 30)).map(
        lambda at: at.replace(microsecond=0, tzinfo=UTC)
    )
)
def test_an_instants_text_from_its_json_is_its_text(instant: datetime) -> None:
    assert codec.ts_of_json(to_json(instant).decode()[1:-1]) == codec.ts(instant)


def test_an_events_json_around_its_changes_where_other_fields_hold_their_name() -> None:
    event = build_event(
        "t-1",
        "ticket",
        1,
        "created",
        None,
        "new",
        "import",
        T0,
        {"changes": None, "note": '"changes":null'},
        {"changes": None, "subject": '"changes":null'},
    )
    event = event.model_copy(update={"erased": {"changes": "seal"}, "chain": "ab", "salt": "cd"})
    changes = to_json(event.changes).decode()
    assert codec.event_json(event, changes) == event.model_dump_json()


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(ticket=tickets(), exclude_none=st.booleans(), null=st.sampled_from([None, ""]))
def test_a_new_tickets_rows_from_its_rendered_text_are_the_codecs(
    ticket: Ticket, exclude_none: bool, null: str | None
) -> None:
    # as an import makes them: the creation event's changes rendered once, the ticket's
    # JSON that text with its audit head
    new = ticket.model_copy(update={"audit_chain": None})
    created = creation_event(new, "import", exclude_none=True)
    head = "0123456789abcdef" * 4
    ticket = new.model_copy(update={"audit_chain": head})
    rendered = to_json(created.changes).decode()
    imported = codec.NewTicket(
        ticket, 0, (created,), data=_with_head(rendered, head), changes=rendered
    )
    rows = codec.new_ticket_rows(imported, exclude_none=exclude_none, null=null)
    assert rows == codec.new_ticket_rows(
        Change(ticket, 0, (created,)), exclude_none=exclude_none, null=null
    )
    assert rows == (
        codec.ticket_row(ticket, exclude_none=exclude_none, null=null),
        codec.ticket_key(ticket),
        [codec.event_row(created, null=null)],
        codec.tag_rows(ticket) if ticket.tags else [],
    )
