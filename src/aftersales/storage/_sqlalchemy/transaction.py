""":class:`_Transaction`: the :class:`~aftersales.storage.recorder.Records` of
:class:`~aftersales.storage.recorder.SQLAlchemyRecorder`, one transaction (or one read) on
one connection, running the statements the recorder renders and keeps."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import compress
from operator import ne
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from aftersales.exceptions import AftersalesError
from aftersales.models import Event
from aftersales.notify._notification import Notification
from aftersales.storage import _codec as codec
from aftersales.storage import _schema as schema
from aftersales.storage._recorder import Row
from aftersales.storage._sqlalchemy.driver import Result, driver_of, send
from aftersales.storage._sqlalchemy.finding import (
    count_statement,
    filter_parameters,
    select_statement,
)
from aftersales.storage._sqlalchemy.tables import (
    _ACKNOWLEDGE_ONE,
    _PENDING,
    contact_points,
    counters,
    metadata,
    outbox,
    tickets,
)

if TYPE_CHECKING:
    from aftersales.storage._sqlalchemy.recorder import SQLAlchemyRecorder

_DUPLICATE_KEY = 1062
"""MariaDB's and MySQL's error number for a taken key (``ER_DUP_ENTRY``)."""
_ONE: sa.ColumnClause[Any] = sa.literal_column("1")


def _number(error: IntegrityError) -> object:
    """The driver's error number (MariaDB and MySQL drivers give it first)."""
    args = getattr(error.orig, "args", ())
    return args[0] if args else None


_TENANT = schema.TENANT
_EVENT_NAMES = (*codec.EVENT_COLUMNS, _TENANT)
_OUTBOX_NAMES = (*codec.OUTBOX_COLUMNS, _TENANT)
_ACKNOWLEDGED = ("key", "at", "b_tenant")
"""The parameters of :data:`_ACKNOWLEDGE_ONE`."""
_TICKET_POSITIONS = tuple(range(len(codec.TICKET_COLUMNS)))
_TICKET_TAGS = codec.TICKET_COLUMNS.index("tags")
_TICKET_VERSION = codec.TICKET_COLUMNS.index("version")
_TICKET_KEY = ("b_id", "b_version", "b_tenant")
"""The parameters of a ticket's UPDATE after its SET list: its id, the version it
replaces, its tenant."""


TicketRow = tuple[Any, ...]
"""A ticket's :data:`~aftersales.storage._codec.TICKET_COLUMNS`, as
:func:`~aftersales.storage._codec.ticket_row` makes them: what a recorder keeps of the
ticket rows it committed."""


def _ticket_row(row: Mapping[str, Any]) -> TicketRow | None:
    """A ticket's row written by name, as :data:`TicketRow` (None unless it has every
    column)."""
    try:
        return tuple(row[name] for name in codec.TICKET_COLUMNS)
    except KeyError:
        return None


def _ticket_update(names: Sequence[str]) -> Any:
    """The UPDATE of a ticket that sets the columns ``names`` over the version it checks."""
    return (
        tickets.update()
        .where(
            tickets.c.id == sa.bindparam("b_id"),
            tickets.c.version == sa.bindparam("b_version"),
            tickets.c.tenant == sa.bindparam("b_tenant"),
        )
        .values({name: sa.bindparam(name) for name in names})
    )


class _Transaction:
    """The :class:`~aftersales.storage.recorder.Records` of one transaction (or one
    read) on one connection."""

    __slots__ = ("_conn", "_driver", "_recorder", "_tenant", "written")

    def __init__(self, recorder: SQLAlchemyRecorder, conn: Connection) -> None:
        self._recorder = recorder
        self._conn = conn
        self._driver = driver_of(recorder._direct, conn)
        self._tenant = recorder.tenant
        self.written: list[tuple[tuple[str, str], int, TicketRow]] = []
        """The ticket rows this transaction wrote: (tenant, id), version, the whole row;
        the recorder keeps them once it commits (see :meth:`update`)."""

    def _send(self, sql: str, params: Any) -> Result:
        """Execute ``sql`` with ``params`` (see :func:`~.driver.send`)."""
        return send(self._conn, self._driver, sql, params)

    def _run(
        self, shape: tuple[Any, ...], build: Callable[[], Any], params: Mapping[str, Any]
    ) -> Result:
        sql, ordered = self._recorder.rendered(shape, build)
        return self._send(sql, params if ordered is None else ordered(params))

    def _run_each(
        self, shape: tuple[Any, ...], build: Callable[[], Any], rows: Sequence[Mapping[str, Any]]
    ) -> int:
        """Execute the statement once per row (one executemany for several); the rows
        it changed."""
        if len(rows) == 1:
            return int(self._run(shape, build, rows[0]).rowcount)
        sql, ordered = self._recorder.rendered(shape, build)
        values: Any = list(rows) if ordered is None else [ordered(row) for row in rows]
        return int(self._send(sql, values).rowcount)

    def _execute(
        self,
        shape: tuple[Any, ...],
        build: Callable[[], Any],
        names: tuple[str, ...],
        rows: Sequence[Sequence[Any]],
    ) -> Result:
        """Execute the statement once per row of values in the order of ``names`` (one
        executemany for several)."""
        sql, bind = self._recorder.prepared(shape, build, names)
        if len(rows) == 1:
            params: Any = rows[0] if bind is None else bind(rows[0])
        else:
            params = list(rows) if bind is None else [bind(row) for row in rows]
        return self._send(sql, params)

    def _insert_rows(
        self, table: str, names: tuple[str, ...], rows: Sequence[Sequence[Any]]
    ) -> bool:
        """Insert ``rows`` of values in the order of ``names``; False when a key is taken
        (some of them may then be written: the caller abandons the transaction)."""
        recorder = self._recorder
        try:
            written = self._execute(
                ("insert", table, names), lambda: recorder._insert(table, names), names, rows
            ).rowcount
        except IntegrityError as error:  # MariaDB, MySQL: the statement wrote nothing
            if recorder._conflict_free or _number(error) != _DUPLICATE_KEY:
                raise  # not a taken key (those are skipped or caught): a StorageError
            return False
        return int(written) == len(rows)

    # ------------------------------------------------------------------ subjects

    def insert(self, table: str, row: Mapping[str, Any]) -> bool:
        if not self.insert_many(table, (row,)):
            return False
        if table == "tickets":
            known = _ticket_row(row)
            if known is not None:
                self.written.append(((self._tenant, row["id"]), row["version"], known))
        return True

    def insert_many(self, table: str, rows: Sequence[Mapping[str, Any]]) -> bool:
        """Insert ``rows`` (all with the same columns); False when a key is taken (some
        of them may then be written: the caller abandons the transaction)."""
        tenant = self._tenant
        if _TENANT in rows[0]:  # a row read back: it goes to this tenant
            rows = [{**row, _TENANT: tenant} for row in rows]
            return self._insert_rows(table, tuple(rows[0]), [tuple(row.values()) for row in rows])
        names = (*rows[0], _TENANT)
        return self._insert_rows(table, names, [(*row.values(), tenant) for row in rows])

    def append_log(self, events: Sequence[Event], notifications: Sequence[Notification]) -> bool:
        """:meth:`append` of a change's events and outbox rows, in the codec's tuples
        rather than rows by name (each event serialised once); False when a key is
        taken."""
        tenant = self._tenant
        event_json: dict[int, str] = {}
        event_rows = []
        for event in events:
            row = codec.event_row(event)
            event_json[id(event)] = cast(str, row[-1])  # the event's JSON, last
            event_rows.append((*row, tenant))
        outbox_rows = [
            (*codec.notification_row(n, event_json.get(id(n.event))), tenant) for n in notifications
        ]
        return (not event_rows or self._insert_rows("events", _EVENT_NAMES, event_rows)) and (
            not outbox_rows or self._insert_rows("outbox", _OUTBOX_NAMES, outbox_rows)
        )

    def update_ticket(self, key: str, expected: int, row: TicketRow) -> bool | None:
        """Write a ticket's ``row`` over version ``expected``, setting only the columns
        that differ from that version as this recorder committed it (see :meth:`update`:
        compared in C, ``map`` and ``compress``, as SQLiteStore does); whether it was
        there to write. None, with nothing written, when that version is not known or
        its tags differ: the caller then writes it as :class:`RecordStore` does, reading
        what it needs and rewriting the ticket's tag rows."""
        tenant = self._tenant
        known = self._recorder.known_ticket(tenant, key, expected)
        if known is None or known[_TICKET_TAGS] != row[_TICKET_TAGS]:
            return None
        changed = tuple(compress(_TICKET_POSITIONS, map(ne, row, known))) or _TICKET_POSITIONS
        columns = tuple(codec.TICKET_COLUMNS[i] for i in changed)
        values = (*(row[i] for i in changed), key, expected, tenant)
        written = self._execute(
            ("update ticket", changed),
            lambda: _ticket_update(columns),
            (*columns, *_TICKET_KEY),
            (values,),
        ).rowcount
        # The version check is the UPDATE's own: no other writer slips in between.
        if int(written) != 1:
            return False
        self.written.append(((tenant, key), row[_TICKET_VERSION], row))
        return True

    def update(
        self,
        table: str,
        key: str,
        version: int,
        row: Mapping[str, Any],
        *,
        keeping: Mapping[str, Any] | None = None,
    ) -> bool:
        """Write ``row`` over version ``version`` of the row ``key`` (its ``keeping``
        columns holding those values too); whether it was there to write.

        A ticket's row that this recorder committed at that version is known (a version
        is written once: every write checks the one it replaces), so only the columns
        that differ from it are set, and the version check stands for ``keeping``: SQLite
        rewrites every index whose column is in the SET list, changed or not, and a
        transition changes few indexed columns (as SQLiteStore does)."""
        columns = tuple(row)
        kept = tuple(keeping or {})
        known = self._recorder.known_row(self._tenant, table, key, version)
        if known is not None and known.keys() >= {*columns, *kept}:
            if any(known[name] != value for name, value in (keeping or {}).items()):
                return False  # that version holds other values: the UPDATE would match none
            columns = tuple(c for c in columns if known[c] != row[c]) or columns
            kept = ()

        def build() -> Any:
            declared = metadata.tables[table]
            return (
                declared.update()
                .where(
                    declared.c.id == sa.bindparam("b_id"),
                    declared.c.version == sa.bindparam("b_version"),
                    declared.c.tenant == sa.bindparam("b_tenant"),
                    *(
                        declared.c[name].is_not_distinct_from(
                            sa.bindparam(f"k_{name}", type_=declared.c[name].type)
                        )
                        for name in kept
                    ),
                )
                .values({c: sa.bindparam(c) for c in columns})
            )

        params = {c: row[c] for c in columns}
        params.update(b_id=key, b_version=version, b_tenant=self._tenant)
        if kept:
            params.update({f"k_{name}": value for name, value in (keeping or {}).items()})
        # The version check is the UPDATE's own: no other writer slips in between.
        if int(self._run(("update", table, columns, kept), build, params).rowcount) != 1:
            return False
        if table == "tickets":
            now = _ticket_row({**(known or {}), **row})
            if now is not None:
                self.written.append(((self._tenant, key), row["version"], now))
        return True

    def delete(self, table: str, where: Mapping[str, Any]) -> int:
        where = {_TENANT: self._tenant, **where}
        keys = tuple(where)

        def build() -> Any:
            declared = metadata.tables[table]
            return declared.delete().where(
                *(declared.c[name] == sa.bindparam(f"w_{name}") for name in keys)
            )

        params = {f"w_{name}": value for name, value in where.items()}
        return int(self._run(("delete", table, keys), build, params).rowcount)

    def rewrite(self, table: str, where: Mapping[str, Any], row: Mapping[str, Any]) -> int:
        columns = tuple(row)
        where = {_TENANT: self._tenant, **where}
        keys = tuple(where)

        def build() -> Any:
            declared = metadata.tables[table]
            return (
                declared.update()
                .where(*(declared.c[name] == sa.bindparam(f"w_{name}") for name in keys))
                .values({c: sa.bindparam(c) for c in columns})
            )

        params = {**row, **{f"w_{name}": value for name, value in where.items()}}
        return int(self._run(("rewrite", table, keys, columns), build, params).rowcount)

    def select(
        self,
        table: str,
        where: Mapping[str, Any],
        *,
        since: Mapping[str, Any] | None = None,
        until: Mapping[str, Any] | None = None,
        order: Sequence[str] = (),
        limit: int | None = None,
        offset: int = 0,
        columns: Sequence[str] = (),
        after: Mapping[str, Any] | None = None,
        tags: Sequence[str] = (),
    ) -> list[Row]:
        since, until, after = since or {}, until or {}, after or {}
        where = {_TENANT: self._tenant, **where}
        paged = limit is not None or offset > 0
        shape = (
            "select",
            table,
            *where,
            "|",
            *since,
            "|",
            *until,
            "|",
            *order,
            "|",
            *columns,
            paged,
            "|",
            *after,
            len(tags),
        )
        names = tuple(columns) or tuple(metadata.tables[table].c.keys())
        params = filter_parameters(where, since, until, after, tags, limit, offset, paged=paged)

        def build() -> Any:
            fixed = (tuple(where), tuple(since), tuple(until), tuple(order), tuple(after))
            return select_statement(table, names, *fixed, len(tags), paged)

        rows = self._run(shape, build, params).fetchall()
        return [dict(zip(names, row, strict=True)) for row in rows]

    def count_rows(
        self,
        table: str,
        where: Mapping[str, Any],
        *,
        since: Mapping[str, Any] | None = None,
        until: Mapping[str, Any] | None = None,
        limit: int | None = None,
        offset: int = 0,
        after: Mapping[str, Any] | None = None,
        tags: Sequence[str] = (),
    ) -> int:
        since, until, after = since or {}, until or {}, after or {}
        where = {_TENANT: self._tenant, **where}  # every row counted is the tenant's
        shape = ("count", table, *where, "|", *since, "|", *until, "|", *after, len(tags))
        found = self._run(
            shape,
            lambda: count_statement(
                table, tuple(where), tuple(since), tuple(until), tuple(after), len(tags)
            ),
            filter_parameters(where, since, until, after, tags, limit, offset),
        )
        return int(found.scalar_one())

    def due(
        self,
        table: str,
        column: str,
        at: str,
        order: Sequence[str],
        limit: int,
        *,
        columns: Sequence[str] = (),
    ) -> list[Row]:
        declared = metadata.tables[table]
        names = tuple(columns) or tuple(declared.c.keys())

        def build() -> Any:
            c = declared.c
            return (
                sa.select(*(c[name] for name in names))
                .where(
                    c.tenant == sa.bindparam("b_tenant"),
                    c[column].isnot(None),
                    c[column] <= sa.bindparam("at"),
                )
                .order_by(*(c[name] for name in order))
                .limit(sa.bindparam("p_limit"))
                .offset(sa.bindparam("p_offset"))
            )

        shape = ("due", table, column, tuple(order), names)
        params = {"b_tenant": self._tenant, "at": at, "p_limit": limit, "p_offset": 0}
        rows = self._run(shape, build, params).fetchall()
        return [dict(zip(names, row, strict=True)) for row in rows]

    def append(
        self, events: Sequence[Mapping[str, Any]], outbox: Sequence[Mapping[str, Any]]
    ) -> bool:
        return (not events or self.insert_many("events", events)) and (
            not outbox or self.insert_many("outbox", outbox)
        )

    # ------------------------------------------------------------------ outbox

    def claim(self, now: str, lease_until: str, limit: int) -> list[Row]:
        recorder = self._recorder

        def build() -> Any:
            statement = (
                sa.select(*(outbox.c[name] for name in codec.OUTBOX_COLUMNS))
                .where(
                    outbox.c.tenant == sa.bindparam("b_tenant"),
                    outbox.c.status == _PENDING,  # as the partial index says it
                    outbox.c.next_attempt_at <= sa.bindparam("now"),
                    sa.or_(
                        outbox.c.lease_until.is_(None),
                        outbox.c.lease_until <= sa.bindparam("now"),
                    ),
                )
                .order_by(outbox.c.next_attempt_at, outbox.c.key)
                .limit(sa.bindparam("p_limit"))
                .offset(sa.bindparam("p_offset"))
            )
            if recorder._skip_locked:  # many workers at once, each on rows of its own
                statement = statement.with_for_update(skip_locked=True)
            return statement

        found = self._run(
            ("claim",),
            build,
            {"b_tenant": self._tenant, "now": now, "p_limit": limit, "p_offset": 0},
        ).fetchall()
        rows = [dict(zip(codec.OUTBOX_COLUMNS, row, strict=True)) for row in found]
        if rows:
            self._run_each(
                ("lease",),
                lambda: (
                    outbox.update()
                    .where(
                        outbox.c.key == sa.bindparam("b_key"),
                        outbox.c.tenant == sa.bindparam("b_tenant"),
                    )
                    .values(lease_until=sa.bindparam("lease_until"))
                ),
                [
                    {"b_key": row["key"], "b_tenant": self._tenant, "lease_until": lease_until}
                    for row in rows
                ],
            )
        return rows

    def acknowledge(self, keys: Sequence[str], at: str) -> None:
        if keys:
            tenant = self._tenant
            self._execute(
                ("acknowledge",),
                lambda: _ACKNOWLEDGE_ONE,
                _ACKNOWLEDGED,
                [(key, at, tenant) for key in keys],
            )

    def fail(self, key: str, error: str, retry_at: str | None, status: str) -> None:
        def build() -> Any:
            values: dict[str, Any] = {
                "attempts": outbox.c.attempts + _ONE,
                "last_error": sa.bindparam("last_error"),
                "lease_until": sa.null(),
                "status": sa.bindparam("status"),
            }
            if retry_at is not None:
                values["next_attempt_at"] = sa.bindparam("next_attempt_at")
            return (
                outbox.update()
                .where(
                    outbox.c.key == sa.bindparam("b_key"),
                    outbox.c.status == _PENDING,
                    outbox.c.tenant == sa.bindparam("b_tenant"),
                )
                .values(values)
            )

        params = {"last_error": error, "status": status, "b_key": key, "b_tenant": self._tenant}
        if retry_at is not None:
            params["next_attempt_at"] = retry_at
        self._run(("fail", retry_at is not None), build, params)

    # ------------------------------------------------------------------ customers, counters

    def contact_owners(self, contacts: Sequence[tuple[str, str]]) -> list[str | None]:
        def build() -> Any:
            return sa.select(contact_points.c.customer_id).where(
                contact_points.c.tenant == sa.bindparam("b_tenant"),
                contact_points.c.channel == sa.bindparam("channel"),
                contact_points.c.address == sa.bindparam("address"),
            )

        owners: list[str | None] = []
        for channel, address in contacts:
            params = {"b_tenant": self._tenant, "channel": channel, "address": address}
            found = self._run(("owner",), build, params).scalar()
            owners.append(None if found is None else str(found))
        return owners

    def put_customer(
        self, customer_id: str, data: str, contacts: Sequence[tuple[str, str]]
    ) -> None:
        recorder, tenant = self._recorder, self._tenant
        self._run(
            ("release contacts",),
            lambda: contact_points.delete().where(
                contact_points.c.tenant == sa.bindparam("b_tenant"),
                contact_points.c.customer_id == sa.bindparam("b_customer_id"),
            ),
            {"b_tenant": tenant, "b_customer_id": customer_id},
        )
        self.put("customers", {"id": customer_id, "data": data})
        rows = [
            {"channel": channel, "address": address, "customer_id": customer_id, _TENANT: tenant}
            for channel, address in sorted(set(contacts))
        ]
        if rows:
            columns = ("channel", "address", "customer_id", _TENANT)
            self._run_each(
                ("put", "contact_points", columns),
                lambda: recorder._upsert("contact_points", columns),
                rows,
            )

    def count(self, name: str, *, add: int = 0, at_least: int = 0) -> int:
        value = counters.c.value
        if add or at_least:
            added = value + sa.bindparam("add") if add else value
            if not at_least:
                raised: Any = added
            elif not add:
                raised = sa.bindparam("at_least")
            else:
                raised = sa.case(
                    (added >= sa.bindparam("at_least"), added), else_=sa.bindparam("at_least")
                )

            def build() -> Any:
                statement = counters.update().where(
                    counters.c.tenant == sa.bindparam("b_tenant"),
                    counters.c.name == sa.bindparam("b_name"),
                )
                if not add:  # a counter already past it is neither written nor locked
                    statement = statement.where(value < sa.bindparam("at_least"))
                return statement.values(value=raised)

            params = {"b_tenant": self._tenant, "b_name": name, "add": add, "at_least": at_least}
            shape = ("count", bool(add), bool(at_least))
            changed = self._run(shape, build, params).rowcount
            if not changed and name == "ticket_number" and self._counter(name) is None:
                # a tenant's first ticket: its numbers start at 1, as a new database's do
                # (a concurrent first one may have made the row: then it is counted on)
                self.insert("counters", {"name": name, "value": 1})
                self._run(shape, build, params)
        found = self._counter(name)
        if found is None:
            raise AftersalesError(f"no counter {name!r}")
        return int(found)

    def _counter(self, name: str) -> Any:
        return self._run(
            ("counter",),
            lambda: sa.select(counters.c.value).where(
                counters.c.tenant == sa.bindparam("b_tenant"),
                counters.c.name == sa.bindparam("b_name"),
            ),
            {"b_tenant": self._tenant, "b_name": name},
        ).scalar()

    def put(self, table: str, row: Mapping[str, Any]) -> None:
        row = {**row, _TENANT: self._tenant}
        columns = tuple(row)
        recorder = self._recorder
        self._run(("put", table, columns), lambda: recorder._upsert(table, columns), row)
