"""The one declaration of the SQL stores' tables and indexes, as data.

:class:`~aftersales.storage.recorder.SQLiteRecorder` renders its DDL from :data:`TABLES`
and :data:`INDEXES` (:func:`sqlite_index`, and
:func:`aftersales.storage._schema_versions.sqlite_create`); the SQLAlchemy recorder's
``sa.Table`` objects (``storage/_sqlalchemy/tables.py``) are built from them. A new
database is created as declared here, at :data:`SCHEMA_VERSION`; an older one is brought
up to it by the steps of :data:`aftersales.storage._schema_versions.MIGRATIONS`. A new
indexed field is a column and an index here, a column in :mod:`aftersales.storage._codec`,
and one migration step there.
"""

from __future__ import annotations

from enum import Enum

import attrs

from aftersales.storage._codec import SCHEMA_VERSION

__all__ = [
    "INDEXES",
    "PER_TENANT_KEYS",
    "SCHEMA_VERSION",
    "TABLES",
    "TENANT",
    "TENANT_LENGTH",
    "Column",
    "Index",
    "Table",
    "Type",
    "indexes_of",
    "sqlite_column",
    "sqlite_index",
    "sqlite_literal",
    "table",
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
    # the tickets merged into one (whose messages its own show) and a ticket's follow-ups
    # (a return visit's and a survey's): few rows each, read on every messages view
    _find_index("tickets_merged_into", ("merged_into",), ("merged_into", _NOT_NULL)),
    _find_index("tickets_follow_up_of", ("follow_up_of",), ("follow_up_of", _NOT_NULL)),
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


# ---------------------------------------------------------------------------- SQLite DDL

_SQLITE_TYPES = dict.fromkeys(Type, "TEXT") | {Type.INTEGER: "INTEGER", Type.BIG_INTEGER: "INTEGER"}


def sqlite_column(column: Column) -> str:
    """A column's definition in SQLite DDL."""
    return (
        f"{column.name} {_SQLITE_TYPES[column.type]}"
        + ("" if column.nullable else " NOT NULL")
        + ("" if column.default is None else f" DEFAULT {sqlite_literal(column.default)}")
        + (" UNIQUE" if column.unique else "")
    )


def sqlite_index(index: Index, *, if_not_exists: bool = False) -> str:
    """``CREATE INDEX`` for SQLite, partial where the index has a condition."""
    exists = "IF NOT EXISTS " if if_not_exists else ""
    where = "" if index.condition is None else f" WHERE {index.condition}"
    return (
        f"CREATE INDEX {exists}{index.name} ON {index.table} ({', '.join(index.columns)})" + where
    )


def sqlite_literal(value: object) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"
