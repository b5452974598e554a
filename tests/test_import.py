"""Bulk import: batched, validated, with creation events, all or nothing per batch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from aftersales import Desk, InvalidInput, SQLiteStore, Store, Ticket
from aftersales.storage._schema import indexes_of

T0 = datetime(2023, 5, 1, 8, tzinfo=timezone.utc)


def _records(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"legacy-{n}",
            "channel": "email" if n % 2 else "wechat",
            "subject": f"Imported case {n}",
            "customer_id": f"c{n % 7}",
            "status": "closed" if n % 3 else "in_progress",
            "assignee": "li",
            "created_at": T0 + timedelta(hours=n),
            "updated_at": T0 + timedelta(hours=n, minutes=5),
        }
        for n in range(count)
    ]


def test_import_writes_tickets_with_their_creation_events(desk: Desk) -> None:
    assert desk.import_tickets(_records(2500), batch_size=1000) == 2500
    ticket = desk.get("legacy-4")
    assert (ticket.status, ticket.status_category.value, ticket.version) == ("closed", "closed", 1)
    assert ticket.created_at == T0 + timedelta(hours=4)
    assert [e.trigger for e in desk.history("legacy-4")] == ["created"]
    assert desk.history("legacy-4")[0].actor == "import"
    assert desk.replay("legacy-4") == ticket
    assert len(desk.find(customer_id="c1", limit=10_000)) == len(
        [n for n in range(2500) if n % 7 == 1]
    )
    numbers = [t.number for t in desk.find(limit=10_000)]
    assert len(set(numbers)) == 2500


def test_import_takes_ticket_objects_and_keeps_their_numbers(desk: Desk) -> None:
    record = Ticket.model_validate(
        {**_records(1)[0], "number": 900, "status_category": "open", "version": 4}
    )
    desk.import_tickets([record])
    assert (desk.get(900).id, desk.get(900).version) == ("legacy-0", 1)


def test_a_bad_record_names_its_position_and_its_batch_is_not_written(desk: Desk) -> None:
    records = _records(5)
    records[3]["channel"] = "pigeon"
    with pytest.raises(InvalidInput) as raised:
        desk.import_tickets(records, batch_size=10)
    assert raised.value.errors[0].location == (3, "channel")
    assert desk.find() == []
    records = _records(2)
    records[1]["status"] = "limbo"
    with pytest.raises(InvalidInput) as raised:
        desk.import_tickets(records)
    assert raised.value.errors[0].location == (1, "status")
    with pytest.raises(InvalidInput):
        desk.import_tickets([], batch_size=0)


def test_importing_an_existing_id_again_changes_nothing(desk: Desk) -> None:
    from aftersales import ConcurrencyError

    desk.import_tickets(_records(3))
    with pytest.raises(ConcurrencyError):
        desk.import_tickets([_records(5)[4], _records(3)[1]])
    assert len(desk.find()) == 3


def test_a_batch_is_one_transaction_however_many_statements_it_takes(desk: Desk) -> None:
    from aftersales import ConcurrencyError

    desk.import_tickets(_records(1))
    # 1,200 new tickets and, last, one that exists: SQLite writes them in three statements
    records = [*_records(1201)[1:], _records(1)[0]]
    with pytest.raises(ConcurrencyError):
        desk.import_tickets(records, batch_size=2000)
    assert [t.id for t in desk.find(limit=10_000)] == ["legacy-0"]
    assert desk.store.events("legacy-1") == []


def test_an_sqlite_older_than_3_32_gets_statements_within_its_999_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aftersales.storage.sqlite as sqlite_store

    statements: list[int] = []
    monkeypatch.setattr(sqlite_store, "_PARAMETERS_PER_STATEMENT", 999)
    desk = Desk(SQLiteStore(tmp_path / "old.db"))
    desk.store._conn.set_trace_callback(  # type: ignore[attr-defined]
        lambda sql: statements.append(sql.count("?")) if sql.startswith("INSERT INTO") else None
    )
    assert desk.import_tickets(_records(130), batch_size=130) == 130
    desk.store._conn.set_trace_callback(None)  # type: ignore[attr-defined]
    assert max(statements) <= 999
    assert len(desk.find(limit=1000)) == 130
    assert all(len(desk.history(f"legacy-{n}")) == 1 for n in range(130))
    desk.close()


def _ticket_indexes(store: SQLiteStore) -> set[str]:
    rows = store._conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'tickets_%'"
    )
    return {row[0] for row in rows}


def test_an_import_into_an_empty_sqlite_store_builds_its_indexes_once_at_the_end(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "import.db")
    indexes = _ticket_indexes(store)
    assert indexes == {index.name for index in indexes_of("tickets")}
    seen_during: list[set[str]] = []

    def records() -> Iterator[dict[str, Any]]:
        for number, record in enumerate(_records(30)):
            if number == 20:
                seen_during.append(_ticket_indexes(store))
            yield record

    desk = Desk(store)
    assert desk.import_tickets(records(), batch_size=10) == 30
    assert seen_during == [set()]  # dropped while the import ran
    assert _ticket_indexes(store) == indexes
    plan = " ".join(
        row[3]
        for row in store._conn.execute(
            "EXPLAIN QUERY PLAN SELECT data FROM tickets WHERE tenant = '' AND customer_id = 'c1'"
        )
    )
    assert "tickets_customer" in plan
    assert len(desk.find(customer_id="c1")) == len([n for n in range(30) if n % 7 == 1])
    # into a store that holds tickets, the indexes stay and are kept up row by row
    desk.import_tickets([{**r, "id": f"more-{r['id']}"} for r in _records(3)])
    assert _ticket_indexes(store) == indexes
    desk.close()


def test_an_import_that_fails_or_dies_midway_still_ends_with_every_index(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "import.db")
    indexes = _ticket_indexes(store)
    records = _records(30)
    records[25]["channel"] = "pigeon"
    desk = Desk(store)
    with pytest.raises(InvalidInput):
        desk.import_tickets(records, batch_size=10)
    assert len(desk.find(limit=100)) == 20  # the two batches before the bad record
    assert _ticket_indexes(store) == indexes
    # a process killed mid-import leaves them dropped: the next open builds them
    for name in indexes:
        store._conn.execute(f"DROP INDEX {name}")
    desk.close()
    reopened = SQLiteStore(tmp_path / "import.db")
    assert _ticket_indexes(reopened) == indexes
    reopened.close()


def test_import_derives_the_status_category_from_the_workflow(desk: Desk) -> None:
    record = {**_records(1)[0], "status": "closed", "status_category": "new"}
    desk.import_tickets([record])
    ticket = desk.get("legacy-0")
    assert (ticket.status, ticket.status_category.value, ticket.is_closed) == (
        "closed",
        "closed",
        True,
    )
    assert desk.replay("legacy-0") == ticket


def test_import_refuses_a_status_the_workflow_does_not_have(desk: Desk) -> None:
    records = _records(3)
    records[2].update(status="archived", status_category="closed")
    with pytest.raises(InvalidInput) as raised:
        desk.import_tickets(records)
    [error] = raised.value.errors
    assert error.location == (2, "status")
    assert "unknown status 'archived'; known: assigned, cancelled" in error.message
    assert desk.find() == []


def test_import_refuses_categories_priorities_and_tags_the_desk_does_not_allow(
    desk: Desk,
) -> None:
    records = _records(3)
    records[0]["category"] = "repair"
    records[1]["priority"] = "p1"
    records[2]["tags"] = [f"t{n}" for n in range(51)]
    for position in range(3):
        with pytest.raises(InvalidInput) as raised:
            desk.import_tickets([records[position]])
        assert raised.value.errors[0].location[0] == 0
    assert desk.find() == []
    desk.import_tickets([{**records[0], "category": "repair_warranty"}])
    assert desk.get("legacy-0").category == "repair_warranty"


@pytest.mark.parametrize("records", [" ", None, 42, {"id": "x"}, b"abc"])
def test_import_refuses_what_is_not_an_iterable_of_records(desk: Desk, records: object) -> None:
    with pytest.raises(InvalidInput, match="iterable of tickets or mappings"):
        desk.import_tickets(records)  # type: ignore[arg-type]


def test_an_import_without_priorities_takes_the_desks_default(store: Store) -> None:
    settings = {
        "priorities": ["p1", "p2"],
        "default_priority": "p2",
        "priority_for_severity": {"critical": "p1", "high": "p1", "medium": "p2", "low": "p2"},
    }
    desk = Desk(store, settings=settings)
    desk.import_tickets(_records(2))
    assert [t.priority for t in desk.find()] == ["p2", "p2"]


def _with_messages(record: dict[str, Any], *bodies: str) -> dict[str, Any]:
    return {
        **record,
        "messages": [
            {
                "id": f"{record['id']}-m{n}",
                "kind": "internal_note" if n else "public_reply",
                "author_id": record["customer_id"] if n == 0 else "li",
                "author_role": "customer" if n == 0 else "agent",
                "body": body,
                "channel": record["channel"],
                "at": record["created_at"] + timedelta(minutes=n),
            }
            for n, body in enumerate(bodies)
        ],
    }


def test_an_imported_ticket_keeps_the_messages_it_carries_as_written(desk: Desk) -> None:
    first, second = _records(2)
    desk.import_tickets(
        [_with_messages(first, "It leaks", "Courier booked"), _with_messages(second, "Hi")]
    )
    kept = desk.messages("legacy-0", include_internal=True)
    assert [(m.id, m.body, m.author_id, m.at) for m in kept] == [
        ("legacy-0-m0", "It leaks", "c0", T0),
        ("legacy-0-m1", "Courier booked", "li", T0 + timedelta(minutes=1)),
    ]
    assert [m.body for m in desk.messages("legacy-0")] == ["It leaks"]  # the note is internal
    assert [e.trigger for e in desk.history("legacy-0")] == ["created"]
    assert desk.replay("legacy-0") == desk.get("legacy-0")


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"ticket_id": "someone-else"}, "0.messages.0.ticket_id"),
        ({"author_role": "nobody"}, "0.messages.0.author_role"),
        ({"at": None}, "0.messages.0.at"),
    ],
)
def test_a_bad_message_names_its_place_and_nothing_is_stored(
    desk: Desk, change: dict[str, Any], where: str
) -> None:
    record = _with_messages(_records(1)[0], "It leaks")
    record["messages"][0].update(change)
    with pytest.raises(InvalidInput) as refused:
        desk.import_tickets([record])
    assert where in str(refused.value)
    assert desk.find() == []


@pytest.mark.parametrize("messages", ["It leaks", {"body": "It leaks"}, [42]])
def test_messages_that_are_not_a_list_of_messages_are_refused(desk: Desk, messages: object) -> None:
    record = {**_records(1)[0], "messages": messages}
    with pytest.raises(InvalidInput, match="messages"):
        desk.import_tickets([record])
    assert desk.find() == []
