"""How :class:`~aftersales.storage._sqlalchemy.transaction._Transaction` builds a find's
SELECT: the order that keeps pages apart, and the tag filter read from ``ticket_tags``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from aftersales.storage import _schema as schema
from aftersales.storage._sqlalchemy.tables import WRITE_ORDER, metadata

_TENANT = schema.TENANT

_NO_LIMIT = 2**62
"""The LIMIT of a select that skips rows but takes all the rest: MariaDB and MySQL have
no OFFSET without a LIMIT. A LIMIT is always bound with its OFFSET: given a LIMIT only,
SQLAlchemy's SQLite dialect adds an OFFSET parameter of its own, which a pre-rendered
statement cannot bind."""
_KEYS = {
    declared.name: (
        frozenset(declared.primary_key),
        *(frozenset(key) for key in declared.unique),
        *(frozenset((c.name,)) for c in declared.columns if c.unique),
    )
    for declared in schema.TABLES
}
"""Each table's keys: a row is the only one with its values of any of them."""


def _order_of(table: str, fixed: Sequence[str], order: Sequence[str]) -> tuple[str, ...]:
    """``order``, then what orders its ties, unless its columns and the ``fixed`` ones
    (equal to one value) hold a key already: the order of writing where the table keeps
    it, else the table's key (so that pages never overlap)."""
    named = {*fixed, *order, _TENANT}  # every statement names its tenant
    if any(key <= named for key in _KEYS[table]):
        return tuple(order)
    written = WRITE_ORDER.get(table)
    tail = (written[0],) if written else schema.table(table).primary_key
    return (*order, *(c for c in tail if c not in named))


def _tagged(statement: Any, tickets: sa.Table, count: int) -> tuple[Any, dict[str, Any]]:
    """``statement`` on tickets limited to those with the ``count`` tags bound as
    ``g_0``, ``g_1``...: read from the first tag's ``ticket_tags`` rows, in find order,
    each other tag looked up by its row's whole key; and the columns of find order in
    those rows."""
    rows = [metadata.tables["ticket_tags"].alias(f"g{i}") for i in range(count)]
    first = rows[0]
    statement = statement.select_from(
        first.join(
            tickets,
            sa.and_(
                tickets.c.tenant == first.c.tenant,
                # (tenant, number) is unique: a created_at equality too makes PostgreSQL
                # multiply the selectivities, expect one row and pick a scan and a sort
                tickets.c.number == first.c.number,
            ),
        )
    ).where(first.c.tenant == sa.bindparam(f"w_{_TENANT}"), first.c.tag == sa.bindparam("g_0"))
    for i, other in enumerate(rows[1:], start=1):
        statement = statement.where(
            sa.exists()
            .where(
                other.c.tenant == first.c.tenant,
                other.c.tag == sa.bindparam(f"g_{i}"),
                other.c.created_at == first.c.created_at,
                other.c.number == first.c.number,
            )
            .correlate(first)
        )
    return statement, {"created_at": first.c.created_at, "number": first.c.number}
