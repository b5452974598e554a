"""The one declaration of the SQL stores' tables, indexes and migrations, as data.

:class:`~aftersales.storage.recorder.SQLiteRecorder` renders its DDL from :data:`TABLES`
and :data:`INDEXES` (:func:`sqlite_create`, :func:`sqlite_index`); the SQLAlchemy recorder's
``sa.Table`` objects (``storage/_sqlalchemy/tables.py``) are built from them. A new
database is created as declared here, at :data:`SCHEMA_VERSION`; an older one
is brought up to it by the steps of :data:`MIGRATIONS`, which each backend carries out with
its own statements. A new indexed field is a column and an index here, a column in
:mod:`aftersales.storage._codec`, and one migration step.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

import attrs

from aftersales.models import Case, Event, Message, Ticket
from aftersales.storage import _codec as codec
from aftersales.storage._codec import SCHEMA_VERSION, case_data, case_terms, read_case, ts

__all__ = [
    "INDEXES",
    "MIGRATIONS",
    "PER_TENANT_KEYS",
    "SCHEMA_VERSION",
    "TABLES",
    "TENANT",
    "TENANT_LENGTH",
    "AddColumn",
    "Column",
    "CreateIndex",
    "CreateTable",
    "DropIndex",
    "EventsByRowid",
    "ExactText",
    "FillTicketTags",
    "Index",
    "MoveTermsOutOfData",
    "Rekey",
    "Step",
    "Table",
    "Type",
    "WidenIds",
    "move_terms",
    "sqlite_create",
    "sqlite_index",
]


class Type(Enum):
    """A column's kind of value. Every text type is ``TEXT`` on SQLite."""

    STRING = "string"  # VARCHAR(length): compared and indexed
    INTEGER = "integer"
    BIG_INTEGER = "big_integer"
    TEXT = "text"  # unbounded text, never indexed
    DATA = "data"  # a record's JSON (LONGTEXT on MySQL and MariaDB)


@attrs.frozen
class Column:
    name: str
    type: Type
    length: int | None = None
    nullable: bool = True
    unique: bool = False
    rowid: bool = False
    """The order of insertion, which SQLite keeps as its ``rowid``: the column exists on
    the other databases only."""
    default: str | None = None
    """The value rows written without the column get (so a column added to a table of
    rows can be NOT NULL)."""


def _id(name: str, *, nullable: bool = False) -> Column:
    """An Identifier: up to 128 characters."""
    return Column(name, Type.STRING, 128, nullable)


def _short(name: str, length: int = 32, *, nullable: bool = False) -> Column:
    return Column(name, Type.STRING, length, nullable)


def _time(name: str, *, nullable: bool = True) -> Column:
    """An instant as fixed-width UTC text (see :func:`aftersales.storage._codec.ts`)."""
    return Column(name, Type.STRING, 40, nullable)


def _data(name: str = "data", *, nullable: bool = False) -> Column:
    return Column(name, Type.DATA, nullable=nullable)


TENANT = "tenant"
"""The column on every table naming the shop a row belongs to ('' for the one shop of a
database that serves one): it leads every index and every key that is unique per shop
(see docs/how-to/several-shops.md)."""
TENANT_LENGTH = 64
_TENANT = Column(TENANT, Type.STRING, TENANT_LENGTH, nullable=False, default="")


@attrs.frozen
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...] = ()
    """Rows a new table starts with (their columns in :attr:`columns` order, those with
    a default left out)."""
    unique: tuple[tuple[str, ...], ...] = ()
    """Keys besides the primary key: no two rows have the same values of one."""
    without_rowid: bool = False
    """SQLite keeps the rows in their primary key's b-tree alone (small rows read in key
    order: one b-tree to write rather than a table and its key's index)."""

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)


@attrs.frozen
class Index:
    name: str
    table: str
    columns: tuple[str, ...]
    where: tuple[str, str] | None = None
    """``(column, condition)``: the index holds only the rows where ``column condition``
    holds, on databases with partial indexes (SQLite, PostgreSQL). Elsewhere it holds every
    row and starts with ``column`` (unless it has it already), so the rows the condition
    leaves out are still skipped by a range."""

    @property
    def condition(self) -> str | None:
        return None if self.where is None else f"{self.where[0]} {self.where[1]}"

    @property
    def full_columns(self) -> tuple[str, ...]:
        """The columns on a database without partial indexes."""
        if self.where is None or self.where[0] in self.columns:
            return self.columns
        if self.columns[:1] == ("tenant",):  # the tenant first, as in every index
            return ("tenant", self.where[0], *self.columns[1:])
        return (self.where[0], *self.columns)


TABLES: tuple[Table, ...] = (
    Table(
        "tickets",
        (
            _id("id"),
            Column("number", Type.INTEGER, nullable=False, unique=True),
            _short("workflow", 128),
            _short("status", 128),
            _short("status_category"),
            Column("version", Type.INTEGER, nullable=False),
            _short("customer_id", 128),
            _short("channel"),
            _short("assignee", 128, nullable=True),
            _short("team", 128, nullable=True),
            _short("merged_into", 128, nullable=True),
            _short("parent_id", 128, nullable=True),
            _short("follow_up_of", 128, nullable=True),
            _time("created_at", nullable=False),
            _time("due_at"),
            _time("sla_due_at"),
            _short("category", 200, nullable=True),
            _short("priority", 128, nullable=True),
            _time("first_response_at"),
            _time("resolved_at"),
            _time("closed_at"),
            Column("reopen_count", Type.INTEGER),
            _short("sku", 128, nullable=True),
            Column("satisfaction", Type.INTEGER),
            _short("sla_first_response", 16, nullable=True),
            Column("first_response_business_seconds", Type.INTEGER),
            _short("sla_resolution", 16, nullable=True),
            Column("resolution_business_seconds", Type.INTEGER),
            _data(),
            # the tags as a JSON array (NULL: none), so that a write can tell whether
            # they changed without reading the row first (see ticket_tags)
            _data("tags", nullable=True),
        ),
        ("id",),
    ),
    # One row per tag of a ticket, in the order finds read them: a query for a tag walks
    # its rows in (created_at, number) order. Written only when a ticket's tags change.
    Table(
        "ticket_tags",
        (
            Column("tag", Type.STRING, 64, nullable=False),
            _time("created_at", nullable=False),
            Column("number", Type.INTEGER, nullable=False),
        ),
        ("tag", "created_at", "number"),
        without_rowid=True,
    ),
    Table(
        "events",
        (
            _id("subject_id"),
            Column("sequence", Type.INTEGER, nullable=False),
            _short("trigger", 128),
            _time("at", nullable=False),
            _short("kind", 128, nullable=True),
            _short("to_state", 128, nullable=True),
            _short("actor", 128, nullable=True),
            Column("logged_seconds", Type.INTEGER),
            _data(),
        ),
        ("subject_id", "sequence"),
    ),
    Table(
        "messages",
        (
            _id("id"),
            _id("ticket_id"),
            _time("at", nullable=False),
            # messages with the same time: in the order the changes added them
            Column("position", Type.BIG_INTEGER, nullable=False, rowid=True),
            _short("author_role", 32, nullable=True),
            _short("kind", 32, nullable=True),
            _id("author_id", nullable=True),
            _data(),
        ),
        ("id",),
    ),
    Table("customers", (_short("id", 128), _data()), ("id",)),
    Table(
        "contact_points",
        (_short("channel"), _short("address", 200), _short("customer_id", 128)),
        ("channel", "address"),
    ),
    Table(
        "outbox",
        (
            _short("key", 255),
            _short("handler", 200),
            _id("subject_id"),
            Column("sequence", Type.INTEGER, nullable=False),
            _short("status", 16),
            Column("attempts", Type.INTEGER, nullable=False),
            _time("next_attempt_at", nullable=False),
            _time("lease_until"),
            Column("last_error", Type.TEXT),
            _time("created_at", nullable=False),
            _time("delivered_at"),
            _data("event"),
        ),
        ("key",),
    ),
    Table(
        "counters",
        (_short("name", 64), Column("value", Type.BIG_INTEGER, nullable=False)),
        ("name",),
        rows=(("ticket_number", 1),),
    ),
    Table(
        "state",
        (_short("key", 255), Column("value", Type.TEXT, nullable=False)),
        ("key",),
    ),
    Table(
        "cases",
        (
            _id("id"),
            _short("kind"),
            _short("ticket_id", 128),
            _short("order_id", 128, nullable=True),
            _short("serial", 128, nullable=True),
            _short("parent_id", 128, nullable=True),
            _short("customer_id", 128, nullable=True),
            _short("status", 128),
            _short("status_category"),
            Column("version", Type.INTEGER, nullable=False),
            _time("step_due_at"),
            _time("created_at", nullable=False),
            _short("sku", 128, nullable=True),
            _short("product_category", 200, nullable=True),
            _short("reason", 200, nullable=True),
            _time("closed_at"),
            _time("paid_at"),
            Column("late", Type.INTEGER),
            _short("part", 200, nullable=True),
            Column("score", Type.INTEGER),
            Column("failures", Type.INTEGER),
            _time("handed_back_at"),
            _data(),
            _data("terms", nullable=True),  # the lines' facts and decisions (see _codec)
        ),
        ("id",),
    ),
    Table(
        "security_log",
        (_id("id"), _short("kind"), _time("at", nullable=False), _data()),
        ("id",),
    ),
)

_NOT_NULL = "IS NOT NULL"
_FOUND_IN_ORDER = ("created_at", "number")
"""The order :meth:`Store.find` answers in: every index a find filters on ends with it,
so a page is read in order from the index, with no sort and no scan of the rest."""


def _find_index(name: str, columns: tuple[str, ...], where: tuple[str, str] | None = None) -> Index:
    """An index for finding tickets by ``columns`` (each equal to a value), in find
    order."""
    return Index(name, "tickets", (*columns, *_FOUND_IN_ORDER), where)


INDEXES: tuple[Index, ...] = (
    _find_index("tickets_customer", ("customer_id",)),
    # the open queue (status_category) and one status
    _find_index("tickets_status_category", ("status_category",)),
    _find_index("tickets_status", ("status",)),
    # my tickets, all of them or the open ones
    _find_index("tickets_assignee", ("assignee",), ("assignee", _NOT_NULL)),
    _find_index(
        "tickets_assignee_status", ("assignee", "status_category"), ("assignee", _NOT_NULL)
    ),
    # a team's queue
    _find_index("tickets_team", ("team", "status_category"), ("team", _NOT_NULL)),
    _find_index("tickets_channel", ("channel",)),
    _find_index("tickets_category", ("category",), ("category", _NOT_NULL)),
    _find_index("tickets_priority", ("priority",)),
    Index("tickets_created", "tickets", _FOUND_IN_ORDER),
    # due work, in the order it is handed out (the time, then the number; SLA
    # checkpoints the time, then the id)
    Index("tickets_due", "tickets", ("due_at", "number"), ("due_at", _NOT_NULL)),
    Index("tickets_sla_due", "tickets", ("sla_due_at", "id"), ("sla_due_at", _NOT_NULL)),
    # (in find order: with the tenant first, a parent's children were otherwise read
    # through tickets_created, every ticket of the tenant in find order)
    _find_index("tickets_parent", ("parent_id",), ("parent_id", _NOT_NULL)),
    Index("messages_ticket", "messages", ("ticket_id", "at")),
    # Erasing a customer finds what they wrote on any ticket, theirs or not.
    Index("messages_author", "messages", ("author_id", "at")),
    Index("outbox_pending", "outbox", ("next_attempt_at",), ("status", "= 'pending'")),
    Index("cases_ticket", "cases", ("ticket_id", "created_at")),
    Index("cases_order", "cases", ("order_id",), ("order_id", _NOT_NULL)),
    Index("cases_serial", "cases", ("serial",), ("serial", _NOT_NULL)),
    Index("cases_parent", "cases", ("parent_id",), ("parent_id", _NOT_NULL)),
    Index("cases_step_due", "cases", ("step_due_at", "id"), ("step_due_at", _NOT_NULL)),
    Index("security_log_at", "security_log", ("at", "id")),
    # Erasure finds the outbox rows of the subjects it rewrites.
    Index("outbox_subject", "outbox", ("subject_id", "sequence")),
    # First-contact resolution looks for a wait on the customer among a ticket's events:
    # the few events that enter that state, by subject (the ticket workflow's state).
    Index(
        "events_waiting_on_customer",
        "events",
        ("subject_id",),
        ("to_state", "= 'waiting_on_customer'"),
    ),
    # Case reports count a period's cases of a kind.
    Index("cases_kind_created", "cases", ("kind", "created_at")),
    # Workload reports sum the agent time logged in a period.
    Index("events_time_logged", "events", ("at",), ("logged_seconds", _NOT_NULL)),
    # Workload reports count the tickets each agent resolved in a period.
    Index("events_resolved", "events", ("at",), ("to_state", "= 'resolved'")),
    # The ticket KPIs of a period read this index alone: a year of a million tickets in
    # half the time (docs/reference/metrics.md).
    Index(
        "tickets_report",
        "tickets",
        (
            "created_at",
            "resolved_at",
            "closed_at",
            "first_response_at",
            "reopen_count",
            "satisfaction",
            "id",
        ),
    ),
)


PER_TENANT_KEYS = ("customers", "contact_points", "counters", "state", "ticket_tags")
"""Tables whose primary key is unique per shop (a customer id, an address, a counter's or
a state's name, a tag's row of a ticket number): the tenant leads it. Every other table's
key is an id unique across the database (random ids, an outbox key made of them); a
ticket's number is unique per shop (:attr:`Table.unique`)."""


def _with_tenant(declared: Table) -> Table:
    """``declared`` with the tenant column (last: where an upgrade adds it) and the tenant
    first in its per-shop keys."""
    columns = tuple(
        attrs.evolve(column, unique=False) if column.unique else column
        for column in declared.columns
    )
    unique = [*declared.unique]
    unique += [(TENANT, column.name) for column in declared.columns if column.unique]
    key = declared.primary_key
    if declared.name in PER_TENANT_KEYS:
        key = (TENANT, *key)
    return attrs.evolve(
        declared, columns=(*columns, _TENANT), primary_key=key, unique=tuple(unique)
    )


def _tenant_first(index: Index) -> Index:
    """Every query names its tenant: every index starts with it."""
    return attrs.evolve(index, columns=(TENANT, *index.columns))


TABLES = tuple(_with_tenant(declared) for declared in TABLES)
INDEXES = tuple(_tenant_first(index) for index in INDEXES)


def table(name: str) -> Table:
    return next(t for t in TABLES if t.name == name)


def indexes_of(table_name: str) -> tuple[Index, ...]:
    return tuple(index for index in INDEXES if index.table == table_name)


# ---------------------------------------------------------------------------- migrations


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
        *(DropIndex(index.name, index.table) for index in INDEXES),
        *(CreateIndex(index.name) for index in INDEXES),
    ),
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


# ---------------------------------------------------------------------------- SQLite DDL

_SQLITE_TYPES = dict.fromkeys(Type, "TEXT") | {Type.INTEGER: "INTEGER", Type.BIG_INTEGER: "INTEGER"}


def sqlite_column(column: Column) -> str:
    """A column's definition in SQLite DDL."""
    return (
        f"{column.name} {_SQLITE_TYPES[column.type]}"
        + ("" if column.nullable else " NOT NULL")
        + ("" if column.default is None else f" DEFAULT {_sqlite_literal(column.default)}")
        + (" UNIQUE" if column.unique else "")
    )


def sqlite_index(index: Index, *, if_not_exists: bool = False) -> str:
    """``CREATE INDEX`` for SQLite, partial where the index has a condition."""
    exists = "IF NOT EXISTS " if if_not_exists else ""
    where = "" if index.condition is None else f" WHERE {index.condition}"
    return (
        f"CREATE INDEX {exists}{index.name} ON {index.table} ({', '.join(index.columns)})" + where
    )


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
            f"VALUES ({', '.join(_sqlite_literal(v) for v in row)})"
        )
    return statements


def keyed(name: str, key: tuple[str, ...], version: int = SCHEMA_VERSION) -> tuple[str, ...]:
    """The columns of table ``name``'s ``key`` at ``version``: without those later steps
    add (a key the tenant leads now was the rest of it before)."""
    columns, _ = added_later(version)
    return tuple(column for column in key if (name, column) not in columns)


def _sqlite_literal(value: object) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"
