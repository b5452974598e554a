"""How :class:`~aftersales.storage._sqlalchemy.transaction._Transaction` builds a find's
SELECT: the order that keeps pages apart, the tag filter read from ``ticket_tags``, and
the COUNT of a ``count_rows``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from aftersales.storage import _schema as schema
from aftersales.storage._sqlalchemy.tables import WRITE_ORDER, metadata

_TENANT = schema.TENANT
_ONE: sa.ColumnClause[Any] = sa.literal_column("1")

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


def count_statement(
    table: str,
    where: Sequence[str],
    since: Sequence[str],
    until: Sequence[str],
    after: Sequence[str],
    tags: int,
) -> Any:
    """The statement of a ``count_rows``: the rows a select with the same filters reads
    (bound as that select binds them: ``w_``, ``s_``, ``u_``, ``a_``, ``g_`` and the page
    ``p_limit``, ``p_offset``), counted in a subquery that stops at its LIMIT, with no
    ORDER BY: the database reads the index of the filters alone (a covering one where
    there is), and never the rows."""
    declared = metadata.tables[table]
    c = declared.c
    keyset = [c[name] for name in after]
    inner = sa.select(_ONE)
    if tags:
        inner, in_rows = _tagged(inner, declared, tags)
        keyset = [in_rows.get(column.name, column) for column in keyset]
    else:
        inner = inner.select_from(declared)
    inner = (
        inner.where(*(c[name] == sa.bindparam(f"w_{name}") for name in where))
        .where(*(c[name] >= sa.bindparam(f"s_{name}") for name in since))
        .where(*(c[name] < sa.bindparam(f"u_{name}") for name in until))
    )
    if after:
        inner = inner.where(
            sa.tuple_(*keyset) > sa.tuple_(*(sa.bindparam(f"a_{name}") for name in after))
        )
    page = inner.limit(sa.bindparam("p_limit")).offset(sa.bindparam("p_offset"))
    return sa.select(sa.func.count()).select_from(page.subquery("counted"))


def count_parameters(
    where: Mapping[str, Any],
    since: Mapping[str, Any],
    until: Mapping[str, Any],
    after: Mapping[str, Any],
    tags: Sequence[str],
    limit: int | None,
    offset: int,
) -> dict[str, Any]:
    """The parameters of :func:`count_statement`, by name."""
    params = {f"w_{name}": value for name, value in where.items()}
    params.update({f"s_{name}": value for name, value in since.items()})
    params.update({f"u_{name}": value for name, value in until.items()})
    params.update({f"a_{name}": value for name, value in after.items()})
    params.update({f"g_{i}": tag for i, tag in enumerate(tags)})
    params["p_limit"] = _NO_LIMIT if limit is None else limit
    params["p_offset"] = offset
    return params
