"""How :class:`~aftersales.storage._record_store.RecordStore` writes a change's rows
through the :class:`~aftersales.storage.recorder.Records` port: a ticket's version check
and update, its tag rows, its events and outbox rows, a case, the security log."""

from __future__ import annotations

import json
from collections.abc import Sequence

from aftersales.exceptions import ConcurrencyError
from aftersales.models import Case, Event, Ticket
from aftersales.models.security import SecurityEntry
from aftersales.notify._notification import Notification
from aftersales.storage import _codec as codec
from aftersales.storage._protocol import id_taken
from aftersales.storage._recorder import Records, Row
from aftersales.storage._unit import CaseChange

KEY = ("id",)
CASE_KIND = ("kind", "data", "terms")


def case_of(row: Row) -> Case:
    """The case a row of ``cases`` holds."""
    return codec.read_case(row["data"], row["terms"] or None)


def stored_version(records: Records, table: str, key: str) -> int | None:
    rows = records.select(table, {"id": key}, limit=1, columns=("version",))
    return int(rows[0]["version"]) if rows else None


def log(
    records: Records,
    events: Sequence[Event],
    notifications: Sequence[Notification],
    rows: Sequence[tuple[object, ...]] | None = None,
) -> bool:
    """Append a change's events and outbox rows, serialising each event once (``rows``:
    the events' :func:`~._codec.event_row` when made, as a new ticket's are)."""
    event_rows: list[Row] = []
    event_json: dict[int, str] = {}
    if rows is None:
        rows = [codec.event_row(event) for event in events]
    for event, values in zip(events, rows, strict=True):
        row: Row = dict(zip(codec.EVENT_COLUMNS, values, strict=True))
        event_json[id(event)] = row["data"]
        event_rows.append(row)
    outbox = [
        dict(
            zip(
                codec.OUTBOX_COLUMNS,
                codec.notification_row(n, event_json.get(id(n.event))),
                strict=True,
            )
        )
        for n in notifications
    ]
    return records.append(event_rows, outbox)


def log_security(records: Records, entries: Sequence[SecurityEntry]) -> None:
    for entry in entries:
        records.insert(
            "security_log",
            {
                "id": entry.id,
                "kind": entry.kind,
                "at": codec.ts(entry.at),
                "data": entry.model_dump_json(),
            },
        )


def update_ticket(records: Records, ticket: Ticket, expected: int, row: Row) -> bool:
    """Write a ticket's new ``row`` over version ``expected``; False when it is not at
    that version. Its ``ticket_tags`` rows follow its tags: a write that keeps them (most
    of them) is one statement, as before tags were indexed."""
    tags = row["tags"]
    if records.update("tickets", ticket.id, expected, row, keeping={"tags": tags}):
        return True
    found = records.select("tickets", {"id": ticket.id}, limit=1, columns=("version", "tags"))
    if not found or found[0]["version"] != expected:
        return False
    if not records.update("tickets", ticket.id, expected, row):
        return False
    retag(records, ticket, json.loads(found[0]["tags"]) if found[0]["tags"] else ())
    return True


def retag(records: Records, ticket: Ticket, old: Sequence[str]) -> None:
    """Make the ticket's ``ticket_tags`` rows its tags, where they were ``old``."""
    created_at = codec.ts(ticket.created_at)
    new = set(ticket.tags)
    for tag in dict.fromkeys(old):
        if tag not in new:
            where = {"tag": tag, "created_at": created_at, "number": ticket.number}
            records.delete("ticket_tags", where)
    kept = set(old)
    for tag, created, number in codec.tag_rows(ticket):
        if tag not in kept:
            records.insert("ticket_tags", {"tag": tag, "created_at": created, "number": number})


def write_case(records: Records, change: CaseChange) -> None:
    case = change.case
    if change.order_check is not None and case.order_id is not None:
        kinds = {kind.value for kind in change.order_check_kinds}
        rows = records.select(
            "cases", {"order_id": case.order_id}, order=("created_at", "id"), columns=CASE_KIND
        )
        change.order_check([case_of(row) for row in rows if not kinds or row["kind"] in kinds])
    row = dict(zip(codec.CASE_COLUMNS, codec.case_row(case), strict=True))
    row["terms"] = codec.case_terms(case)
    if change.expected_version == 0:
        if records.select("tickets", {"id": case.id}, limit=1, columns=KEY):
            raise id_taken("case", case.id)
        row.update(zip(codec.CASE_KEY_COLUMNS, codec.case_key(case), strict=True))
        written = records.insert("cases", row)
    else:
        if not change.terms_changed:
            del row["terms"]
        written = records.update("cases", case.id, change.expected_version, row)
    if not written or not log(records, change.events, change.outbox):
        version = stored_version(records, "cases", case.id)
        if change.expected_version == 0 and version is None:
            raise id_taken("case", case.id)  # another tenant's subject has it
        raise ConcurrencyError(case.id, change.expected_version, version)
    if change.delivered:
        records.acknowledge(change.delivered, codec.ts(case.updated_at) or "")
