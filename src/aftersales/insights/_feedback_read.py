"""The survey and return-visit cases that may hold feedback given in a period, with the
product and channel each is counted under, for
:func:`aftersales.insights.feedback_topics.feedback_topics`.

The SQL stores select the cases in the database: only the two kinds, only the states that
hold an answer (an answered survey; a visit that reached the customer), created before the
period ends and not closed before it starts (under the ``cases_kind_created`` index),
joined to their ticket for its channel and SKU. The texts are in the cases' JSON, parsed
here; each answer's own time is then checked against the period. A MemoryStore reads its
own objects, any other store goes through ``find_cases``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from aftersales.cases.return_visits import RETURN_VISIT
from aftersales.cases.surveys import SURVEY
from aftersales.exceptions import StorageError
from aftersales.models.case import Case
from aftersales.models.ticket import Ticket
from aftersales.storage import CaseQuery, MemoryStore, SQLiteStore, Store, every_case
from aftersales.storage._codec import case_sku, read_case, ticket_sku, ts

if TYPE_CHECKING:  # the sql extra may be absent
    from aftersales.storage.sqlalchemy import SQLAlchemyStore

__all__ = ["Answered", "answered_cases"]

KINDS = (SURVEY.name, RETURN_VISIT.name)
ANSWERED_STATES = ("answered", "satisfied", "problem_persists", "following_up")
"""The states of a survey or return visit that hold what the customer said: a survey
answered; a visit that reached the customer (``following_up`` while its problem is handed
on)."""

_SELECT = (
    "SELECT c.data, t.channel, t.sku FROM cases c"
    " JOIN tickets t ON t.tenant = c.tenant AND t.id = c.ticket_id"
    " WHERE c.tenant = :tenant AND c.kind IN (:kind0, :kind1)"
    " AND c.status IN (:state0, :state1, :state2, :state3)"
    " AND c.created_at < :period_to"
    " AND (c.closed_at IS NULL OR c.closed_at >= :period_from)"
)
_SUBJECT_SKUS = "SELECT id, sku FROM cases WHERE tenant = {} AND id IN ({}) AND sku IS NOT NULL"
_CHUNK = 500
"""Subject ids per ``IN`` list: well under every database's limit on parameters."""
_PAGE = 10_000

_SkuReader = Callable[[list[str]], dict[str, str | None]]
"""Reads the SKUs of some subject cases, by id."""


@attrs.frozen
class Answered:
    """A survey or return visit, the channel its ticket came by and the product it is about
    (its own SKU, else its subject case's, else its ticket's)."""

    case: Case
    channel: str | None
    sku: str | None


def answered_cases(store: Store, start: datetime, end: datetime) -> list[Answered]:
    """The surveys and visits that may hold feedback given in [``start``, ``end``)."""
    params: dict[str, object] = {
        "period_from": ts(start),
        "period_to": ts(end),
        **{f"kind{i}": kind for i, kind in enumerate(KINDS)},
        **{f"state{i}": state for i, state in enumerate(ANSWERED_STATES)},
    }
    if isinstance(store, MemoryStore):
        return _memory(store, start, end)
    if isinstance(store, SQLiteStore):
        conn: sqlite3.Connection = store.recorder._conn
        tenant = params["tenant"] = store.tenant

        def read(_records: object) -> list[Answered]:
            rows = conn.execute(_SELECT, params).fetchall()
            return _with_subjects(rows, lambda ids: _sqlite_skus(conn, tenant, ids))

        return store.recorder.reading(read)
    try:
        from aftersales.storage.sqlalchemy import SQLAlchemyStore
    except ImportError:  # pragma: no cover - without the sql extra
        pass
    else:
        if isinstance(store, SQLAlchemyStore):
            params["tenant"] = store.tenant
            return _sqlalchemy(store, params)
    return _through_api(store, start, end)


def _may_hold(case: Case, start: datetime, end: datetime) -> bool:
    return (
        case.kind.value in KINDS
        and case.status in ANSWERED_STATES
        and case.created_at < end
        and (case.closed_at is None or case.closed_at >= start)
    )


def _subject_id(case: Case) -> str | None:
    """The case a visit or survey follows, when it follows a case rather than a ticket."""
    details = case.details
    subject_kind = getattr(details, "subject_kind", "ticket")
    return None if subject_kind == "ticket" else getattr(details, "subject_id", None)


def _memory(store: MemoryStore, start: datetime, end: datetime) -> list[Answered]:
    with store._lock:
        cases = [c for c in store._cases.values() if _may_hold(c, start, end)]
        tickets = {c.ticket_id: store._tickets.get(c.ticket_id) for c in cases}
        subjects = {
            subject: store._cases.get(subject)
            for subject in (_subject_id(c) for c in cases)
            if subject is not None
        }
    skus = {key: case_sku(found) for key, found in subjects.items() if found is not None}
    return [_answered(case, tickets.get(case.ticket_id), skus) for case in cases]


def _answered(case: Case, ticket: Ticket | None, skus: Mapping[str, str | None]) -> Answered:
    channel = None if ticket is None else ticket.channel.value
    return Answered(case, channel, _sku(case, None if ticket is None else ticket_sku(ticket), skus))


def _sku(case: Case, ticket_product: str | None, skus: Mapping[str, str | None]) -> str | None:
    subject = _subject_id(case)
    return case_sku(case) or (skus.get(subject) if subject else None) or ticket_product


def _with_subjects(rows: Iterable[Sequence[object]], subject_skus: _SkuReader) -> list[Answered]:
    read = [(read_case(str(row[0]), None), row[1], row[2]) for row in rows]
    wanted = sorted({s for case, _, _ in read if (s := _subject_id(case)) is not None})
    skus: dict[str, str | None] = {}
    for at in range(0, len(wanted), _CHUNK):
        skus.update(subject_skus(wanted[at : at + _CHUNK]))
    return [
        Answered(
            case,
            None if channel is None else str(channel),
            _sku(case, None if sku is None else str(sku), skus),
        )
        for case, channel, sku in read
    ]


def _sqlite_skus(conn: sqlite3.Connection, tenant: str, ids: list[str]) -> dict[str, str | None]:
    sql = _SUBJECT_SKUS.format("?", ", ".join("?" for _ in ids))
    return {str(key): str(sku) for key, sku in conn.execute(sql, [tenant, *ids]).fetchall()}


def _sqlalchemy(store: SQLAlchemyStore, params: Mapping[str, object]) -> list[Answered]:
    import sqlalchemy as sa

    try:
        with store.engine.connect() as conn:
            rows = conn.execute(sa.text(_SELECT), params).all()

            def skus(ids: list[str]) -> dict[str, str | None]:
                sql = _SUBJECT_SKUS.format(":tenant", ", ".join(f":id{i}" for i in range(len(ids))))
                values = {f"id{i}": v for i, v in enumerate(ids)}
                found = conn.execute(sa.text(sql), {"tenant": params["tenant"], **values})
                return {str(key): str(sku) for key, sku in found.all()}

            answered = _with_subjects(rows, skus)
            conn.rollback()
    except sa.exc.SQLAlchemyError as error:
        raise StorageError(f"{store.dialect}: feedback topics failed: {error}") from error
    return answered


def _through_api(store: Store, start: datetime, end: datetime) -> list[Answered]:
    """A store's surveys and visits through its public API, kind by kind and state by state
    (``find_cases`` has no period filter), a page at a time by cursor."""
    found: list[Case] = []
    for spec in (SURVEY, RETURN_VISIT):
        for state in ANSWERED_STATES:
            query = CaseQuery(kind=spec.kind, status=state, limit=_PAGE)
            found += [case for case in every_case(store, query) if _may_hold(case, start, end)]
    # a case's ticket and subject exist: the case was opened on them, and neither is deleted
    tickets = {case.ticket_id: store.get(case.ticket_id) for case in found}
    subjects = {subject for case in found if (subject := _subject_id(case)) is not None}
    skus = {subject: case_sku(store.get_case(subject)) for subject in subjects}
    return [_answered(case, tickets[case.ticket_id], skus) for case in found]
