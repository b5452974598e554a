"""How the SQL stores' schema changed from version 1 to :data:`SCHEMA_VERSION`: the
migration steps as data (:data:`MIGRATIONS`, which each backend carries out with its own
statements), what a step fills from the rows' JSON, and each table as a version had it
(:func:`sqlite_create`, :func:`keyed`). The tables as they are now are declared in
:mod:`aftersales.storage._schema`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from aftersales.models import Case, Event, Message, Ticket
from aftersales.storage import _codec as codec
from aftersales.storage._codec import SCHEMA_VERSION, case_data, case_terms, read_case, ts
from aftersales.storage._schema import (
    INDEXES,
    TABLES,
    TENANT,
    indexes_of,
    sqlite_column,
    sqlite_index,
    sqlite_literal,
    table,
)

__all__ = [
    "FILLED",
    "MIGRATIONS",
    "AddColumn",
    "CreateIndex",
    "CreateTable",
    "DropIndex",
    "EventsByRowid",
    "ExactText",
    "FillFromData",
    "FillTicketTags",
    "MoveTermsOutOfData",
    "Rekey",
    "Step",
    "WidenIds",
    "added_later",
    "fill_sources",
    "filled_values",
    "keyed",
    "move_terms",
    "sqlite_create",
]


@attrs.frozen
class CreateTable:
    """Create the table (and its indexes) as it was at the step's version: without the
    columns and indexes that later steps add."""

    table: str


@attrs.frozen
class AddColumn:
    table: str
    column: str


@attrs.frozen
class CreateIndex:
    index: str


@attrs.frozen
class DropIndex:
    """Drop an index a later declaration replaced (nothing to do where it is missing)."""

    index: str
    table: str


@attrs.frozen
class FillTicketTags:
    """Write the ``ticket_tags`` rows of every ticket with tags, from its ``tags``
    column (filled by the step before)."""


@attrs.frozen
class Rekey:
    """Give the table its declared keys (:attr:`Table.primary_key`, :attr:`Table.unique`)
    in place of those it has: SQLite rebuilds the table, the others drop and add the
    constraints."""

    table: str


@attrs.frozen
class MoveTermsOutOfData:
    """Rows written before version 4 hold their lines' facts and decisions in ``data``. A
    step that leaves them alone rewrites ``data`` only, so they move to ``terms``."""


@attrs.frozen
class EventsByRowid:
    """SQLiteStore's version 1 made ``events`` a WITHOUT ROWID table; it becomes a rowid
    table. SQLite advises WITHOUT ROWID only for rows under about a twentieth of a page,
    and events run from 300 bytes to 2 KB (a return's first event holds its policy
    decision): in the clustered layout those spilled to overflow pages, and a subject's
    late event split full pages in the middle; appended rows with a small key index write
    about a fifth fewer pages per return. Nothing to do on other databases."""


@attrs.frozen
class FillFromData:
    """Fill the columns a version added to a table (what reports and erasure look up) from
    each row's JSON (``data``, and ``terms`` for cases), where the values have always been."""

    table: str
    version: int = 7


@attrs.frozen
class WidenIds:
    """Version 4 kept these ids in 64 characters (an Identifier has up to 128). SQLite
    does not enforce a VARCHAR's length: nothing to do there."""

    columns: tuple[tuple[str, str], ...]


@attrs.frozen
class ExactText:
    """Compare text exactly: on MySQL and MariaDB, convert every table to a binary
    collation without padding (their default folds case, accents, trailing spaces and
    emoji). Other databases compare exactly already."""


Step = (
    CreateTable
    | AddColumn
    | CreateIndex
    | MoveTermsOutOfData
    | EventsByRowid
    | WidenIds
    | ExactText
    | FillFromData
    | DropIndex
    | FillTicketTags
    | Rekey
)
"""One step of a migration; each backend carries out each kind with its own statements."""

FILLED: dict[int, dict[str, tuple[str, ...]]] = {
    7: {
        "tickets": (
            "category",
            "priority",
            "first_response_at",
            "resolved_at",
            "closed_at",
            "reopen_count",
        ),
        "events": ("kind", "to_state", "actor"),
    },
    8: {
        "tickets": (
            "sku",
            "satisfaction",
            "sla_first_response",
            "first_response_business_seconds",
            "sla_resolution",
            "resolution_business_seconds",
        ),
        "events": ("logged_seconds",),
        "messages": ("author_role", "kind"),
        "cases": (
            "sku",
            "product_category",
            "reason",
            "closed_at",
            "paid_at",
            "late",
            "part",
            "score",
            "failures",
            "handed_back_at",
        ),
    },
    9: {"messages": ("author_id",)},
    10: {"tickets": ("tags",)},
}
"""Version → the columns it added, per table, that :class:`FillFromData` fills."""


def fill_sources(table_name: str) -> tuple[str, ...]:
    """The columns :func:`filled_values` reads a row of ``table_name`` from."""
    return ("data", "terms") if table_name == "cases" else ("data",)


_INDEXED_IN_12 = ("tickets_merged_into", "tickets_follow_up_of")
"""Indexes of finds a desk runs that version 12 added: the messages of a ticket read the
tickets merged into it, return visits and surveys a ticket's follow-ups. Without them
each was a scan of the shop's tickets (at a million, on every messages view)."""

MIGRATIONS: dict[int, tuple[Step, ...]] = {
    2: (AddColumn("tickets", "sla_due_at"), CreateIndex("tickets_sla_due"), CreateTable("state")),
    3: (CreateTable("cases"),),
    4: (AddColumn("cases", "terms"), MoveTermsOutOfData(), EventsByRowid()),
    5: (
        WidenIds(
            (
                ("tickets", "id"),
                ("events", "subject_id"),
                ("messages", "id"),
                ("messages", "ticket_id"),
                ("outbox", "subject_id"),
                ("cases", "id"),
            )
        ),
        ExactText(),
        CreateIndex("tickets_parent"),
    ),
    6: (CreateTable("security_log"), CreateIndex("security_log_at")),
    7: (
        *(AddColumn(table, column) for table, columns in FILLED[7].items() for column in columns),
        *(FillFromData(table) for table in FILLED[7]),
        CreateIndex("events_waiting_on_customer"),
        CreateIndex("outbox_subject"),
    ),
    8: (
        *(AddColumn(table, column) for table, columns in FILLED[8].items() for column in columns),
        *(FillFromData(table, 8) for table in FILLED[8]),
        CreateIndex("cases_kind_created"),
        CreateIndex("events_time_logged"),
        CreateIndex("events_resolved"),
        CreateIndex("tickets_report"),
    ),
    9: (
        AddColumn("messages", "author_id"),
        FillFromData("messages", 9),
        CreateIndex("messages_author"),
    ),
    10: (
        AddColumn("tickets", "tags"),
        FillFromData("tickets", 10),
        CreateTable("ticket_tags"),
        FillTicketTags(),
        # every find in find order: the indexes that were not are replaced
        *(
            DropIndex(name, "tickets")
            for name in ("tickets_customer", "tickets_status", "tickets_assignee")
        ),
        DropIndex("tickets_due", "tickets"),
        *(
            CreateIndex(name)
            for name in (
                "tickets_customer",
                "tickets_status_category",
                "tickets_status",
                "tickets_assignee",
                "tickets_assignee_status",
                "tickets_team",
                "tickets_channel",
                "tickets_category",
                "tickets_priority",
                "tickets_due",
            )
        ),
    ),
    # several shops in one database: a tenant on every row ('' for the rows there are),
    # first in the per-shop keys and in every index
    11: (
        *(AddColumn(declared.name, TENANT) for declared in TABLES),
        *(
            Rekey(declared.name)
            for declared in TABLES
            if TENANT in declared.primary_key or declared.unique
        ),
        *(DropIndex(i.name, i.table) for i in INDEXES if i.name not in _INDEXED_IN_12),
        *(CreateIndex(i.name) for i in INDEXES if i.name not in _INDEXED_IN_12),
    ),
    12: tuple(CreateIndex(name) for name in _INDEXED_IN_12),
}
"""Schema version → the steps that upgrade the version before it to it. Version 1 is
where every database began; a new one is created at :data:`SCHEMA_VERSION` at once."""

assert max(MIGRATIONS) == SCHEMA_VERSION


def added_later(version: int) -> tuple[set[tuple[str, str]], set[str]]:
    """The columns (as ``(table, column)``) and indexes that steps after ``version``
    add."""
    columns: set[tuple[str, str]] = set()
    indexes: set[str] = set()
    for later in range(version + 1, SCHEMA_VERSION + 1):
        for step in MIGRATIONS[later]:
            if isinstance(step, AddColumn):
                columns.add((step.table, step.column))
            elif isinstance(step, CreateIndex):
                indexes.add(step.index)
    return columns, indexes


def filled_values(step: FillFromData, *sources: str | None) -> tuple[Any, ...]:
    """The columns ``step`` fills in one row, whose :func:`fill_sources` hold ``sources``;
    in :data:`FILLED` order."""
    data = sources[0]
    assert data is not None  # data is never NULL
    if step.table == "tickets":
        ticket = Ticket.model_validate_json(data)
        if step.version in (8, 10):
            row = dict(zip(codec.TICKET_COLUMNS, codec.ticket_row(ticket), strict=True))
            return tuple(row[column] for column in FILLED[step.version]["tickets"])
        return (
            ticket.category,
            ticket.priority,
            ts(ticket.first_response_at),
            ts(ticket.resolved_at),
            ts(ticket.closed_at),
            ticket.reopen_count,
        )
    if step.table == "cases":
        # (the columns of codec.case_row and case_key this version added, in FILLED order)
        case = read_case(data, sources[1] or None)
        key = dict(zip(codec.CASE_KEY_COLUMNS, codec.case_key(case), strict=True))
        row = dict(zip(codec.CASE_COLUMNS, codec.case_row(case), strict=True))
        return tuple({**key, **row}[column] for column in FILLED[8]["cases"])
    if step.table == "messages":  # (the columns of codec.message_row, in FILLED order)
        message = Message.model_validate_json(data)
        row = dict(zip(codec.MESSAGE_COLUMNS, codec.message_row(message), strict=True))
        return tuple(row[column] for column in FILLED[step.version]["messages"])
    event = Event.model_validate_json(data)
    if step.version == 8:
        return (codec.logged_seconds(event),)
    return (event.subject_kind, event.to_state, event.actor)


def move_terms(
    page: Callable[[object], list[tuple[Any, str]]],
    write: Callable[[list[tuple[str, str | None, Any]]], None],
    start: object,
) -> None:
    """Carry out :class:`MoveTermsOutOfData`: ``page(after)`` returns up to a thousand
    ``(key, data)`` rows with keys beyond ``after``, in key order; ``write`` takes
    ``(data, terms, key)`` rows."""
    last = start
    while rows := page(last):
        write(
            [
                (case_data(case), case_terms(case), key)
                for key, data in rows
                for case in (Case.model_validate_json(data),)
            ]
        )
        last = rows[-1][0]


# ------------------------------------------------------------------ tables as a version had them


def sqlite_create(name: str, version: int = SCHEMA_VERSION) -> list[str]:
    """The statements that create table ``name`` on SQLite as it was at ``version``, with
    its indexes and first rows."""
    columns, indexes = added_later(version)
    declared = table(name)
    definitions = [
        sqlite_column(column)
        for column in declared.columns
        if not column.rowid and (name, column.name) not in columns
    ]
    for key in declared.unique:
        definitions.append(f"UNIQUE ({', '.join(keyed(name, key, version))})")
    definitions.append(f"PRIMARY KEY ({', '.join(keyed(name, declared.primary_key, version))})")
    rowid = " WITHOUT ROWID" if declared.without_rowid else ""
    statements = [f"CREATE TABLE {name} (\n    " + ",\n    ".join(definitions) + "\n)" + rowid]
    statements += [sqlite_index(i) for i in indexes_of(name) if i.name not in indexes]
    written = [c.name for c in declared.columns if c.default is None and not c.rowid]
    for row in declared.rows:
        statements.append(
            f"INSERT INTO {name} ({', '.join(written)}) "
            f"VALUES ({', '.join(sqlite_literal(v) for v in row)})"
        )
    return statements


def keyed(name: str, key: tuple[str, ...], version: int = SCHEMA_VERSION) -> tuple[str, ...]:
    """The columns of table ``name``'s ``key`` at ``version``: without those later steps
    add (a key the tenant leads now was the rest of it before)."""
    columns, _ = added_later(version)
    return tuple(column for column in key if (name, column) not in columns)
