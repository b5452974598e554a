"""SQLiteStore writes a ticket's new version by setting only the columns that changed
(issue 23): SQLite rewrites every index one of whose columns is in the SET list, changed
or not. The version it changes is the row it last committed, or else the stored row,
read by key; either way the stored row ends as a full write would leave it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from aftersales import ConcurrencyError, Desk, FrozenClock, SQLiteStore
from aftersales.models import Ticket
from aftersales.storage import _codec as codec

COLUMNS = ", ".join(codec.TICKET_COLUMNS)


def stored_columns(path: Path, ticket_id: str) -> tuple[object, ...]:
    with sqlite3.connect(path) as connection:
        row: tuple[object, ...] = connection.execute(
            f"SELECT {COLUMNS} FROM tickets WHERE id = ?", (ticket_id,)
        ).fetchone()
    return row


def tag_rows(path: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT tag, number FROM ticket_tags ORDER BY tag").fetchall()


def ticket_updates(store: SQLiteStore, write: object) -> list[str]:
    """The UPDATEs of tickets that ``write`` (a callable) runs on ``store``."""
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    try:
        write()  # type: ignore[operator]
    finally:
        store._conn.set_trace_callback(None)
    return [s for s in statements if s.startswith("UPDATE tickets")]


def set_columns(update: str) -> set[str]:
    sets = update.split(" SET ", 1)[1].split(" WHERE ", 1)[0]
    return {assignment.split("=", 1)[0].strip() for assignment in sets.split(", ")}


@pytest.fixture
def opened(tmp_path: Path, clock: FrozenClock) -> tuple[Path, str]:
    """A database of one assigned ticket, written by a desk that is closed again."""
    path = tmp_path / "tickets.db"
    with SQLiteStore(path) as store:
        desk = Desk(store, clock=clock)
        ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
        desk.classify(ticket.id, category="repair_warranty", severity="high")
        desk.assign(ticket.id, assignee="agent-1", team="repairs")
    return path, ticket.id


def test_a_ticket_read_fresh_is_updated_in_the_columns_that_changed_only(
    opened: tuple[Path, str], clock: FrozenClock
) -> None:
    path, ticket_id = opened
    with SQLiteStore(path) as store:  # remembers no row of the ticket
        desk = Desk(store, clock=clock)
        [update] = ticket_updates(
            store, lambda: desk.assign(ticket_id, assignee="agent-2", team="repairs")
        )
        ticket = desk.get(ticket_id)
    assert set_columns(update) == {"assignee", "version", "data"}
    # as a full write leaves it: absent values NULL, as the codec's row has them
    assert stored_columns(path, ticket_id) == codec.ticket_row(ticket)


def test_a_fresh_update_compares_with_the_stored_row_not_with_the_record(
    opened: tuple[Path, str], clock: FrozenClock
) -> None:
    # a column that disagrees with the ticket's JSON (written by hand, or by an older
    # version) is set from the ticket again, as a full write would
    path, ticket_id = opened
    with sqlite3.connect(path) as connection:
        connection.execute(
            "UPDATE tickets SET team = 'stale', sku = 'X1' WHERE id = ?", (ticket_id,)
        )
    with SQLiteStore(path) as store:
        desk = Desk(store, clock=clock)
        [update] = ticket_updates(
            store, lambda: desk.assign(ticket_id, assignee="agent-2", team="repairs")
        )
        ticket = desk.get(ticket_id)
    assert {"team", "sku"} <= set_columns(update)
    assert stored_columns(path, ticket_id) == codec.ticket_row(ticket)


def test_a_fresh_update_keeps_the_tag_rows_in_step(
    opened: tuple[Path, str], clock: FrozenClock
) -> None:
    path, ticket_id = opened
    number = stored_number(path, ticket_id)
    for tags, expected in (
        (("vip", "repeat"), [("repeat", number), ("vip", number)]),  # from none
        (("vip",), [("vip", number)]),
        ((), []),
    ):
        with SQLiteStore(path) as store:
            desk = Desk(store, clock=clock)
            ticket = desk.get(ticket_id)
            retagged = Ticket.model_validate(
                {**ticket.model_dump(), "tags": tags, "version": ticket.version + 1}
            )
            commit_version(store, retagged, ticket.version)
        assert tag_rows(path) == expected
        assert stored_columns(path, ticket_id) == codec.ticket_row(retagged)


def test_a_fresh_update_of_a_version_that_moved_is_refused(
    opened: tuple[Path, str], clock: FrozenClock
) -> None:
    path, ticket_id = opened
    with SQLiteStore(path) as store:
        ticket = store.get(ticket_id)
        moved = Ticket.model_validate({**ticket.model_dump(), "version": ticket.version + 1})
        with pytest.raises(ConcurrencyError) as raised:
            commit_version(store, moved, ticket.version - 1)
    assert (raised.value.expected_version, raised.value.actual_version) == (
        ticket.version - 1,
        ticket.version,
    )
    assert stored_columns(path, ticket_id) == codec.ticket_row(ticket)


def stored_number(path: Path, ticket_id: str) -> int:
    with sqlite3.connect(path) as connection:
        number: int = connection.execute(
            "SELECT number FROM tickets WHERE id = ?", (ticket_id,)
        ).fetchone()[0]
    return number


def commit_version(store: SQLiteStore, ticket: Ticket, expected: int) -> None:
    from aftersales.storage import Change

    store.commit(Change(ticket, expected, ()))
