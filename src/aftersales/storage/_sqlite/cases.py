"""Cases in :class:`~aftersales.storage.sqlite.SQLiteStore`: their writes (with the
order check under the write lock) and reads."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from aftersales.exceptions import CaseNotFound, ConcurrencyError
from aftersales.models import Case
from aftersales.storage import _codec as codec
from aftersales.storage._protocol import check_id, check_limit, id_taken
from aftersales.storage._sqlite.connection import SQLiteConnection
from aftersales.storage._sqlite.statements import (
    _CASE_INSERT,
    _CASE_SELECT,
    _CASE_UPDATE,
    _CASE_UPDATE_TERMS,
    _acknowledge,
    _append_log,
    _read_case,
)
from aftersales.storage._unit import CaseChange, CaseQuery


class SQLiteCases(SQLiteConnection):
    """The case writes and reads."""

    def commit_cases(self, changes: Sequence[CaseChange]) -> None:
        self._atomically(lambda conn: self._write_cases(conn, changes))

    def _write_cases(self, conn: sqlite3.Connection, changes: Sequence[CaseChange]) -> None:
        for change in changes:
            case = change.case
            row = codec.case_row(case, null="")
            if change.order_check is not None and case.order_id is not None:
                # BEGIN IMMEDIATE holds the write lock: nobody adds a case before COMMIT
                kinds = [kind.value for kind in change.order_check_kinds]
                of_kinds = f" AND kind IN ({','.join('?' * len(kinds))})" if kinds else ""
                change.order_check(
                    [
                        _read_case(found)
                        for found in conn.execute(
                            f"SELECT {_CASE_SELECT} FROM cases WHERE order_id = ?{of_kinds} "
                            "ORDER BY created_at, id",
                            (case.order_id, *kinds),
                        )
                    ]
                )
            if (
                change.expected_version == 0
                and conn.execute("SELECT 1 FROM tickets WHERE id = ?", (case.id,)).fetchone()
            ):
                raise id_taken("case", case.id)
            try:
                if change.expected_version == 0:
                    conn.execute(
                        _CASE_INSERT,
                        (*row, codec.case_terms(case) or "", *codec.case_key(case, null="")),
                    )
                elif (
                    conn.execute(
                        _CASE_UPDATE_TERMS,
                        (*row, codec.case_terms(case) or "", case.id, change.expected_version),
                    )
                    if change.terms_changed
                    else conn.execute(_CASE_UPDATE, (*row, case.id, change.expected_version))
                ).rowcount != 1:
                    raise ConcurrencyError(
                        case.id, change.expected_version, self._case_version(case.id)
                    )
                # an event sequence already taken means another writer got there first
                _append_log(conn, change.events, change.outbox)
            except sqlite3.IntegrityError:
                raise ConcurrencyError(
                    case.id, change.expected_version, self._case_version(case.id)
                ) from None
            if change.delivered:
                _acknowledge(conn, change.delivered, case.updated_at)

    def _case_version(self, case_id: str) -> int | None:
        row = self._conn.execute("SELECT version FROM cases WHERE id = ?", (case_id,)).fetchone()
        return None if row is None else int(row[0])

    def get_case(self, case_id: str) -> Case:
        check_id(case_id, "case_id")
        with self._guard():
            row = self._conn.execute(
                f"SELECT {_CASE_SELECT} FROM cases WHERE id = ?", (case_id,)
            ).fetchone()
        if row is None:
            raise CaseNotFound(case_id)
        return _read_case(row)

    def find_cases(self, query: CaseQuery) -> list[Case]:
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (
            ("ticket_id", query.ticket_id),
            ("order_id", query.order_id),
            ("serial", query.serial),
            ("parent_id", query.parent_id),
            ("customer_id", query.customer_id),
            ("kind", query.kind and query.kind.value),
            ("status", query.status),
            ("status_category", query.status_category and query.status_category.value),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._guard():
            rows = self._conn.execute(
                f"SELECT {_CASE_SELECT} FROM cases {where} ORDER BY created_at, id LIMIT ?",
                (*params, query.limit),
            ).fetchall()
        return [_read_case(row) for row in rows]

    def cases_due(self, before: datetime, limit: int) -> list[Case]:
        check_limit(limit)
        with self._guard():
            rows = self._conn.execute(
                f"SELECT {_CASE_SELECT} FROM cases "
                "WHERE step_due_at IS NOT NULL AND step_due_at <= ? "
                "ORDER BY step_due_at, id LIMIT ?",
                (codec.ts(before), limit),
            ).fetchall()
        return [_read_case(row) for row in rows]
