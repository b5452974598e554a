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


def _filtered(
    statement: Any,
    declared: sa.Table,
    where: Sequence[str],
    since: Sequence[str],
    until: Sequence[str],
    after: Sequence[str],
    tags: int,
) -> tuple[Any, dict[str, Any]]:
    """``statement`` narrowed to the rows of a select's filters (bound as ``w_``, ``s_``,
    ``u_``, ``a_`` and ``g_`` parameters: :func:`filter_parameters`), and the columns the
    tag join reads in the table's place, by name."""
    c = declared.c
    in_rows: dict[str, Any] = {}
    if tags:
        statement, in_rows = _tagged(statement, declared, tags)
    statement = (
        statement.where(*(c[name] == sa.bindparam(f"w_{name}") for name in where))
        .where(*(c[name] >= sa.bindparam(f"s_{name}") for name in since))
        .where(*(c[name] < sa.bindparam(f"u_{name}") for name in until))
    )
    if after:
        keyset = [in_rows.get(name, c[name]) for name in after]
        statement = statement.where(
            sa.tuple_(*keyset) > sa.tuple_(*(sa.bindparam(f"a_{name}") for name in after))
        )
    return statement, in_rows


def _paged(statement: Any) -> Any:
    return statement.limit(sa.bindparam("p_limit")).offset(sa.bindparam("p_offset"))


def select_statement(
    table: str,
    names: Sequence[str],
    where: Sequence[str],
    since: Sequence[str],
    until: Sequence[str],
    order: Sequence[str],
    after: Sequence[str],
    tags: int,
    paged: bool,
) -> Any:
    """The statement of a ``select``: the ``names`` columns of the filters' rows in
    ``order`` (the columns :func:`_order_of` gives), a page of them when ``paged``."""
    declared = metadata.tables[table]
    c = declared.c
    columns = sa.select(*(c[name] for name in names))
    statement, in_rows = _filtered(columns, declared, where, since, until, after, tags)
    ordered = [in_rows.get(name, c[name]) for name in _order_of(table, where, order)]
    statement = statement.order_by(*ordered)
    return _paged(statement) if paged else statement


def count_statement(
    table: str,
    where: Sequence[str],
    since: Sequence[str],
    until: Sequence[str],
    after: Sequence[str],
    tags: int,
) -> Any:
    """The statement of a ``count_rows``: the rows a select with the same filters reads,
    counted in a subquery that stops at its LIMIT, with no ORDER BY: the database reads
    the index of the filters alone (a covering one where there is), and never the rows."""
    declared = metadata.tables[table]
    one = sa.select(_ONE) if tags else sa.select(_ONE).select_from(declared)
    inner, _ = _filtered(one, declared, where, since, until, after, tags)
    return sa.select(sa.func.count()).select_from(_paged(inner).subquery("counted"))


def filter_parameters(
    where: Mapping[str, Any],
    since: Mapping[str, Any],
    until: Mapping[str, Any],
    after: Mapping[str, Any],
    tags: Sequence[str],
    limit: int | None,
    offset: int,
    *,
    paged: bool = True,
) -> dict[str, Any]:
    """The parameters of :func:`select_statement` and :func:`count_statement`, by name."""
    params = {f"w_{name}": value for name, value in where.items()}
    params.update({f"s_{name}": value for name, value in since.items()})
    params.update({f"u_{name}": value for name, value in until.items()})
    params.update({f"a_{name}": value for name, value in after.items()})
    params.update({f"g_{i}": tag for i, tag in enumerate(tags)})
    if paged:
        params["p_limit"] = _NO_LIMIT if limit is None else limit
        params["p_offset"] = offset
    return params
