"""Cases in :class:`~aftersales.storage.sqlalchemy.SQLAlchemyStore`: their writes (with
the order locks) and reads."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from aftersales.exceptions import (
    AftersalesError,
    CaseNotFound,
    ConcurrencyError,
    StorageError,
)
from aftersales.models import Case
from aftersales.storage import _codec as codec
from aftersales.storage._protocol import (
    check_id,
    check_limit,
    id_taken,
)
from aftersales.storage._sqlalchemy.connection import (
    SQLAlchemyConnection,
)
from aftersales.storage._sqlalchemy.tables import (
    _ORDER_LOCK_SECONDS,
    cases,
)
from aftersales.storage._unit import CaseChange, CaseQuery


class SQLAlchemyCases(SQLAlchemyConnection):
    """The case writes and reads."""

    def commit_cases(self, changes: Sequence[CaseChange]) -> None:
        try:
            with self._order_locks(changes) as locked, self._begin(locked) as conn:
                for change in changes:
                    self._write_case(conn, change)
        except IntegrityError:
            raise self._why_cases_not_written(changes) from None

    def _why_cases_not_written(self, changes: Sequence[CaseChange]) -> AftersalesError:
        """The error for case changes that broke a constraint, found once their
        transaction has rolled back: a new case whose id a ticket has (their events share
        one log), or a case that someone else wrote first."""
        with self._read() as conn:
            for change in changes:
                case = change.case
                actual = conn.execute(
                    sa.select(cases.c.version).where(cases.c.id == case.id)
                ).scalar()
                if actual != (change.expected_version or None):
                    return ConcurrencyError(case.id, change.expected_version, actual)
                if change.expected_version == 0 and self._version(conn, case.id) is not None:
                    return id_taken("case", case.id)
        first = changes[0]
        return ConcurrencyError(first.case.id, first.expected_version, None)

    def _write_case(self, conn: Connection, change: CaseChange) -> None:
        case = change.case
        if change.order_check is not None and case.order_id is not None:
            self._lock_order(conn, case.order_id)
            found = sa.select(cases.c.data, cases.c.terms).where(cases.c.order_id == case.order_id)
            if change.order_check_kinds:
                found = found.where(cases.c.kind.in_([k.value for k in change.order_check_kinds]))
            change.order_check(
                [
                    codec.read_case(row[0], row[1])
                    for row in conn.execute(found.order_by(cases.c.created_at, cases.c.id))
                ]
            )
        row = dict(zip(codec.CASE_COLUMNS, codec.case_row(case), strict=True))
        if change.expected_version == 0 or change.terms_changed:
            row["terms"] = codec.case_terms(case)
        if change.expected_version == 0:
            if not change.events and self._version(conn, case.id) is not None:
                raise id_taken("case", case.id)  # see _write
            self._run(
                conn,
                "insert_case",
                {**row, **dict(zip(codec.CASE_KEY_COLUMNS, codec.case_key(case), strict=True))},
            )
        else:
            updated = self._run(
                conn,
                "update_case_terms" if "terms" in row else "update_case",
                {**row, "b_id": case.id, "b_version": change.expected_version},
            )
            if updated != 1:
                actual = conn.execute(
                    sa.select(cases.c.version).where(cases.c.id == case.id)
                ).scalar()
                raise ConcurrencyError(case.id, change.expected_version, actual)
        self._append_log(conn, change.events, change.outbox)
        if change.delivered:
            self._acknowledge(conn, change.delivered, case.updated_at)

    def _lock_order(self, conn: Connection, order_id: str) -> None:
        """Keep every other writer from adding a case to this order until the commit, so
        that the order check's answer holds (a row lock cannot: the case is not there yet).
        PostgreSQL's advisory lock ends with the transaction; MySQL and MariaDB took theirs
        before it began (see :meth:`_order_locks`); SQLite's BEGIN IMMEDIATE holds the only
        write lock."""
        if self.dialect == "postgresql":
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"aftersales.order:{order_id}"},
            )

    @contextmanager
    def _order_locks(self, changes: Sequence[CaseChange]) -> Iterator[Connection | None]:
        """On MySQL and MariaDB, a named lock per checked order around the transaction:
        their named locks belong to the session, so they are taken before the transaction
        and released after it, and the connection holding them is the one to write on
        (None elsewhere: write on any). One connection per commit, as on other databases:
        two would let a busy pool's writers each hold one and wait for a second."""
        orders = sorted(  # one order of taking them everywhere: no deadlock
            {c.case.order_id for c in changes if c.order_check and c.case.order_id}
        )
        if not orders or self.dialect not in ("mysql", "mariadb"):
            yield None
            return
        names = [
            "aftersales.order:" + hashlib.sha1(order.encode(), usedforsecurity=False).hexdigest()
            for order in orders
        ]  # a name may be at most 64 characters long
        with self._read() as conn:
            try:
                for name in names:
                    taken = conn.execute(
                        sa.text("SELECT GET_LOCK(:name, :seconds)"),
                        {"name": name, "seconds": _ORDER_LOCK_SECONDS},
                    ).scalar()
                    if taken != 1:
                        raise StorageError(f"{self.dialect}: order lock {name} still busy")
                # The write's snapshot starts with its first read, after the locks.
                conn.commit()
                yield conn
            finally:
                conn.execute(sa.text("SELECT RELEASE_ALL_LOCKS()"))
                conn.commit()

    def _cases(self, statement: sa.Select[Any]) -> list[Case]:
        with self._read() as conn:
            return [codec.read_case(row[0], row[1]) for row in conn.execute(statement)]

    def get_case(self, case_id: str) -> Case:
        check_id(case_id, "case_id")
        found = self._cases(sa.select(cases.c.data, cases.c.terms).where(cases.c.id == case_id))
        if not found:
            raise CaseNotFound(case_id)
        return found[0]

    def find_cases(self, query: CaseQuery) -> list[Case]:
        statement = sa.select(cases.c.data, cases.c.terms)
        for column, value in (
            (cases.c.ticket_id, query.ticket_id),
            (cases.c.order_id, query.order_id),
            (cases.c.serial, query.serial),
            (cases.c.parent_id, query.parent_id),
            (cases.c.customer_id, query.customer_id),
            (cases.c.kind, query.kind and query.kind.value),
            (cases.c.status, query.status),
            (cases.c.status_category, query.status_category and query.status_category.value),
        ):
            if value is not None:
                statement = statement.where(column == value)
        return self._cases(statement.order_by(cases.c.created_at, cases.c.id).limit(query.limit))

    def cases_due(self, before: datetime, limit: int) -> list[Case]:
        check_limit(limit)
        return self._cases(
            sa.select(cases.c.data, cases.c.terms)
            .where(cases.c.step_due_at.isnot(None), cases.c.step_due_at <= codec.ts(before))
            .order_by(cases.c.step_due_at, cases.c.id)
            .limit(limit)
        )
