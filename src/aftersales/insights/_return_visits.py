"""How return visits (回访) went over a period: :func:`return_visit_report`.

A return visit's outcome is its state (``satisfied``, ``problem_persists``,
``unreachable``), so the report is one GROUP BY over the ``cases`` table's ``status``
column for the visits created in the period (``kind`` and ``created_at`` are columns too,
under the ``cases_kind_created`` index) on SQLiteStore and SQLAlchemyStore; MemoryStore
counts its own objects, any other store is read through ``find_cases``. Every store gives
the same numbers.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from aftersales.cases.return_visits import RETURN_VISIT, RETURN_VISIT_WORKFLOW
from aftersales.exceptions import FieldError, InvalidInput, StorageError
from aftersales.models._base import parse_instant
from aftersales.models.case import Case
from aftersales.storage import CaseQuery, MemoryStore, SQLiteStore, Store, every_case
from aftersales.storage._codec import ts

if TYPE_CHECKING:  # the sql extra may be absent
    from aftersales.storage.sqlalchemy import SQLAlchemyStore

__all__ = ["ReturnVisitReport", "return_visit_report"]

_COUNT = (
    "SELECT status, COUNT(*) FROM cases"
    " WHERE tenant = :tenant AND kind = :kind"
    " AND created_at >= :period_from AND created_at < :period_to"
    " GROUP BY status"
)
_PAGE = 10_000
_OPEN = ("scheduled", "due", "retry_wait")


@attrs.frozen
class ReturnVisitReport:
    """The return visits created in [``period_from``, ``period_to``) and how they stand.

    ``problem_persists`` counts the visits whose follow-up (a reopened ticket, a linked
    case) is still under way too; ``open`` those not yet finished (scheduled, due, or
    waiting to call again)."""

    period_from: datetime
    period_to: datetime
    by_status: Mapping[str, int]

    def _count(self, *states: str) -> int:
        return sum(self.by_status.get(state, 0) for state in states)

    @property
    def scheduled(self) -> int:
        """Every visit created in the period."""
        return sum(self.by_status.values())

    @property
    def cancelled(self) -> int:
        return self._count("cancelled")

    @property
    def open(self) -> int:
        return self._count(*_OPEN)

    @property
    def satisfied(self) -> int:
        return self._count("satisfied")

    @property
    def problem_persists(self) -> int:
        return self._count("problem_persists", "following_up")

    @property
    def unreachable(self) -> int:
        return self._count("unreachable")

    @property
    def completed(self) -> int:
        """Visits with an outcome: satisfied, problem persists or unreachable."""
        return self.satisfied + self.problem_persists + self.unreachable

    @property
    def outcomes(self) -> dict[str, int]:
        """The count of each outcome."""
        return {
            "satisfied": self.satisfied,
            "problem_persists": self.problem_persists,
            "unreachable": self.unreachable,
        }

    @property
    def completion_rate(self) -> float | None:
        """Completed visits over the visits not cancelled; None without any."""
        due = self.scheduled - self.cancelled
        return None if due == 0 else self.completed / due

    @property
    def reach_rate(self) -> float | None:
        """Completed visits that reached the customer; None without any completed."""
        reached = self.satisfied + self.problem_persists
        return None if self.completed == 0 else reached / self.completed

    @property
    def satisfaction_rate(self) -> float | None:
        """Customers reached who were satisfied; None without any reached."""
        reached = self.satisfied + self.problem_persists
        return None if reached == 0 else self.satisfied / reached


def return_visit_report(
    store: Store, period_from: datetime, period_to: datetime
) -> ReturnVisitReport:
    """How the return visits created in [``period_from``, ``period_to``) went: counts per
    state and outcome, completion, reach and satisfaction rates.

    >>> from datetime import datetime, timezone
    >>> from aftersales import MemoryStore
    >>> start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    >>> return_visit_report(MemoryStore(), start, start.replace(month=4)).completion_rate
    """
    start = parse_instant("period_from", period_from)
    end = parse_instant("period_to", period_to)
    if end <= start:
        raise InvalidInput(
            "return_visit_report", [FieldError(("period_to",), "must be after period_from")]
        )
    return ReturnVisitReport(start, end, _counted(store, start, end))


def _counted(store: Store, start: datetime, end: datetime) -> dict[str, int]:
    params = {"kind": RETURN_VISIT.name, "period_from": ts(start), "period_to": ts(end)}
    params["tenant"] = getattr(store, "tenant", "")
    if isinstance(store, MemoryStore):
        with store._lock:
            cases = list(store._cases.values())
        return _tally(cases, start, end)
    if isinstance(store, SQLiteStore):

        def read(_records: object) -> list[tuple[str, int]]:
            conn: sqlite3.Connection = store.recorder._conn
            return [(row[0], row[1]) for row in conn.execute(_COUNT, params).fetchall()]

        return dict(store.recorder.reading(read))
    try:
        from aftersales.storage.sqlalchemy import SQLAlchemyStore
    except ImportError:  # pragma: no cover - without the sql extra
        pass
    else:
        if isinstance(store, SQLAlchemyStore):
            return _sqlalchemy_counted(store, params)
    return _tally(_every_visit(store), start, end)


def _sqlalchemy_counted(store: SQLAlchemyStore, params: Mapping[str, object]) -> dict[str, int]:
    import sqlalchemy as sa

    try:
        with store.engine.connect() as conn:
            rows = conn.execute(sa.text(_COUNT), params).all()
            conn.rollback()
    except sa.exc.SQLAlchemyError as error:
        raise StorageError(f"{store.dialect}: the return visit report failed: {error}") from error
    return {str(status): int(count) for status, count in rows}


def _every_visit(store: Store) -> list[Case]:
    """A store's return visits through its public API, state by state (``find_cases``
    filters by the shipped kinds only), a page at a time by cursor."""
    found: list[Case] = []
    for state in RETURN_VISIT_WORKFLOW.states:
        found += every_case(store, CaseQuery(status=state.name, limit=_PAGE))
    return found


def _tally(cases: Iterable[Case], start: datetime, end: datetime) -> dict[str, int]:
    kind = RETURN_VISIT.kind
    return dict(
        Counter(
            case.status for case in cases if case.kind is kind and start <= case.created_at < end
        )
    )
