"""The tables of :class:`~aftersales.storage.recorder.SQLAlchemyRecorder` (so of
:class:`~aftersales.storage.sqlalchemy.SQLAlchemyStore`), built from the shared schema
declaration."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection

from aftersales.storage import _schema as schema

_ORDER_LOCK_SECONDS = 10
WRITE_ORDER = {"messages": ("position", "ticket_id")}
"""Tables whose rows keep the order they were written in a column (SQLite's rowid, which
the other databases lack): the column, and the column whose rows it counts. A message is
numbered one past the last of its ticket's; the ticket's own write (its version check)
already serialises the writers of one ticket."""
_PENDING: sa.ColumnClause[Any] = sa.literal_column("'pending'")
_PARTIAL_INDEXES = ("postgresql", "sqlite")
"""Databases with partial indexes (``CREATE INDEX ... WHERE``)."""

_DATA = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
_TYPES: dict[schema.Type, Any] = {
    schema.Type.INTEGER: sa.Integer,
    schema.Type.BIG_INTEGER: sa.BigInteger,
    schema.Type.TEXT: sa.Text,
    schema.Type.DATA: _DATA,
}
# utf8mb4 on MySQL and MariaDB: emoji and all of CJK. Their tables are then converted to
# a binary collation without padding (see _collate_exactly).
_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mariadb_charset": "utf8mb4"}


def _column(column: schema.Column, primary_key: bool) -> sa.Column[Any]:
    kind = sa.String(column.length) if column.type is schema.Type.STRING else _TYPES[column.type]
    return sa.Column(
        column.name,
        kind,
        primary_key=primary_key,
        nullable=column.nullable and not primary_key,
        unique=column.unique or None,
        autoincrement=False,
        server_default=None if column.default is None else sa.text(_literal(column.default)),
    )


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def unique_name(table: str, key: tuple[str, ...]) -> str:
    """The name of a :attr:`~aftersales.storage._schema.Table.unique` key's constraint."""
    return f"{table}_{'_'.join(key)}"


def unique_constraints(declared: schema.Table) -> list[sa.UniqueConstraint]:
    return [
        sa.UniqueConstraint(*key, name=unique_name(declared.name, key)) for key in declared.unique
    ]


def _has_partial_indexes(ddl: Any, target: Any, bind: Any, **kw: Any) -> bool:
    return bool(kw["dialect"].name in _PARTIAL_INDEXES)


def _has_no_partial_indexes(ddl: Any, target: Any, bind: Any, **kw: Any) -> bool:
    return not _has_partial_indexes(ddl, target, bind, **kw)


def _indexes(table: sa.Table, index: schema.Index) -> list[sa.Index]:
    """The index as declared (partial on the databases that have partial indexes), and,
    where its columns differ there, the full index for the others."""
    if index.condition is None:
        return [sa.Index(index.name, *(table.c[name] for name in index.columns))]
    where = sa.text(index.condition)
    partial = sa.Index(
        index.name,
        *(table.c[name] for name in index.columns),
        postgresql_where=where,
        sqlite_where=where,
    )
    if index.full_columns == index.columns:
        return [partial]
    full = sa.Index(index.name, *(table.c[name] for name in index.full_columns))
    partial.ddl_if(callable_=_has_partial_indexes)  # type: ignore[arg-type]
    full.ddl_if(callable_=_has_no_partial_indexes)  # type: ignore[arg-type]
    return [partial, full]


metadata = sa.MetaData()
"""The tables of :data:`aftersales.storage._schema.TABLES`, and ``aftersales_schema``."""
_INDEXES: dict[str, list[sa.Index]] = {}
for _declared in schema.TABLES:
    _table = sa.Table(
        _declared.name,
        metadata,
        *(_column(column, column.name in _declared.primary_key) for column in _declared.columns),
        # the key's columns in its order (the tenant first), not the columns' order
        sa.PrimaryKeyConstraint(*_declared.primary_key),
        *unique_constraints(_declared),
        **_MYSQL,
    )
    for _index in schema.indexes_of(_declared.name):
        _INDEXES[_index.name] = _indexes(_table, _index)
tickets, events, messages, customers, contact_points, outbox, counters, state, cases = (
    metadata.tables[name]
    for name in (
        "tickets",
        "events",
        "messages",
        "customers",
        "contact_points",
        "outbox",
        "counters",
        "state",
        "cases",
    )
)
schema_version = sa.Table(
    "aftersales_schema", metadata, sa.Column("version", sa.Integer, nullable=False), **_MYSQL
)


def _create_index(conn: Connection, name: str) -> None:
    """Create the declared index ``name``, in the form this database takes, unless the
    database has it already (one created with its table, or by hand)."""
    partial = conn.dialect.name in _PARTIAL_INDEXES
    made = _INDEXES[name]
    index = made[0] if partial or len(made) == 1 else made[1]
    index.create(conn, checkfirst=True)


_ACKNOWLEDGE_ONE = (  # rendered once (see _render): constants in SQL, not as parameters
    outbox.update()
    .where(
        outbox.c.key == sa.bindparam("key"),
        outbox.c.status == _PENDING,
        outbox.c.tenant == sa.bindparam("b_tenant"),
    )
    .values(
        status=sa.literal_column("'delivered'"),
        delivered_at=sa.bindparam("at"),
        lease_until=sa.null(),
    )
)
