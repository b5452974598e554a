"""Case writes of :class:`~aftersales.SQLiteStore`, in statements of their own: the generic
port path (:class:`~aftersales.storage.recorder.RecordStore`) costs a full return about a
fifth more instructions. Reads go through the port."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from aftersales.exceptions import ConcurrencyError
from aftersales.storage import _codec as codec
from aftersales.storage._protocol import id_taken
from aftersales.storage._sqlite.statements import (
    _CASE_INSERT,
    _CASE_SELECT,
    _CASE_UPDATE,
    _CASE_UPDATE_TERMS,
    _acknowledge,
    _append_log,
    _read_case,
)
from aftersales.storage._unit import CaseChange


def _version(conn: sqlite3.Connection, case_id: str, tenant: str) -> int | None:
    row = conn.execute(
        "SELECT version FROM cases WHERE tenant = ? AND id = ?", (tenant, case_id)
    ).fetchone()
    return None if row is None else int(row[0])


def write_cases(conn: sqlite3.Connection, changes: Sequence[CaseChange], tenant: str) -> None:
    """Write case changes in the open transaction (``BEGIN IMMEDIATE`` holds the write
    lock, so the order check reads every case of the order as it stays until COMMIT)."""
    for change in changes:
        case = change.case
        row = codec.case_row(case, null="")
        if change.order_check is not None and case.order_id is not None:
            # BEGIN IMMEDIATE holds the write lock: nobody adds a case before COMMIT
            kinds = [kind.value for kind in change.order_check_kinds]
            # +kind: not an index term. Else, for one kind (a refund's check), SQLite
            # reads every case of that kind through cases_kind_created, which also gives
            # the order: a return then costs more the more refunds the shop has made.
            of_kinds = f" AND +kind IN ({','.join('?' * len(kinds))})" if kinds else ""
            change.order_check(
                [
                    _read_case(found)
                    for found in conn.execute(
                        f"SELECT {_CASE_SELECT} FROM cases "
                        f"WHERE tenant = ? AND order_id = ?{of_kinds} ORDER BY created_at, id",
                        (tenant, case.order_id, *kinds),
                    )
                ]
            )
        if (  # ids are unique across tenants: a ticket of any tenant's holds its id
            change.expected_version == 0
            and conn.execute("SELECT 1 FROM tickets WHERE id = ?", (case.id,)).fetchone()
        ):
            raise id_taken("case", case.id)
        try:
            if change.expected_version == 0:
                conn.execute(
                    _CASE_INSERT,
                    (*row, codec.case_terms(case) or "", *codec.case_key(case, null=""), tenant),
                )
            elif (
                conn.execute(
                    _CASE_UPDATE_TERMS,
                    (
                        *row,
                        codec.case_terms(case) or "",
                        case.id,
                        change.expected_version,
                        tenant,
                    ),
                )
                if change.terms_changed
                else conn.execute(_CASE_UPDATE, (*row, case.id, change.expected_version, tenant))
            ).rowcount != 1:
                raise ConcurrencyError(
                    case.id, change.expected_version, _version(conn, case.id, tenant)
                )
            # an event sequence already taken means another writer got there first
            _append_log(conn, change.events, change.outbox, tenant)
        except sqlite3.IntegrityError:
            if (
                change.expected_version == 0
                and conn.execute(
                    "SELECT 1 FROM cases WHERE id = ? AND tenant <> ?", (case.id, tenant)
                ).fetchone()
            ):
                raise id_taken("case", case.id) from None  # another tenant's: only "taken"
            raise ConcurrencyError(
                case.id, change.expected_version, _version(conn, case.id, tenant)
            ) from None
        if change.delivered:
            _acknowledge(conn, change.delivered, case.updated_at, tenant)
