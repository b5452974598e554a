"""SLA compliance and business-hours durations, computed where the data is:
:func:`service_levels`.

Each ticket of a desk with an SLA policy keeps where its first response and resolution
targets stand (:class:`~aftersales.SLAOutcome`: pending, met or breached) and, once met,
the business seconds they took on the rule's calendar, pauses left out; this module counts
them per group with one statement on the SQL stores and in Python on the others. The
definitions are in ``docs/reference/metrics.md``.

>>> from datetime import datetime, timezone
>>> from aftersales import Desk, FrozenClock
>>> from aftersales.insights import ReportQuery
>>> from aftersales.insights.service_levels import service_levels
>>> monday = datetime(2024, 3, 4, 10, tzinfo=timezone.utc)
>>> tuesday = datetime(2024, 3, 5, tzinfo=timezone.utc)
>>> policy = {"name": "std", "calendar": {"hours": {str(d): ["09:00-17:00"] for d in range(5)}},
...           "rules": [{"name": "all", "targets": {"first_response": {"minutes": 60}}}]}
>>> desk = Desk(clock=FrozenClock(monday), sla=policy)
>>> ticket = desk.open_ticket(customer="c-1", channel="email", subject="Broken kettle")
>>> _ = desk.clock.advance(minutes=45)
>>> _ = desk.add_message(ticket.id, "We are on it", author_id="li")
>>> report = service_levels(desk.store, ReportQuery(created_from=monday, created_to=tuesday))
>>> first = report.total.first_response
>>> first.met, first.breached, first.compliance, first.business.median_seconds is not None
(1, 0, 1.0, True)
"""

from __future__ import annotations

from collections import defaultdict

import attrs

from aftersales.insights._sla_tally import METRICS, SLARow, rows_of
from aftersales.insights.metrics import DurationStats, ReportQuery
from aftersales.storage import Store

__all__ = ["ServiceLevel", "ServiceLevelReport", "ServiceLevelRow", "service_levels"]


@attrs.frozen
class ServiceLevel:
    """One SLA metric over a group's tickets: how many met their target, missed it or
    are still running, and the business-hours durations of the ones met (on time or
    late)."""

    metric: str
    """``first_response`` or ``resolution``."""
    met: int
    breached: int
    """Missed: met late, or past the target and not met yet."""
    pending: int
    """Running, paused or warned, within the target so far."""
    business: DurationStats
    """Business seconds to the first response (resolution), of the tickets that got one."""

    @property
    def tickets(self) -> int:
        """The tickets with this metric's target."""
        return self.met + self.breached + self.pending

    @property
    def compliance(self) -> float | None:
        """met ÷ (met + breached): the share of settled targets that were met; None before
        any is settled."""
        settled = self.met + self.breached
        return None if settled == 0 else self.met / settled


@attrs.frozen
class ServiceLevelRow:
    """One group's metrics (``group`` None: every ticket, or no grouping)."""

    group: str | None
    first_response: ServiceLevel
    resolution: ServiceLevel


@attrs.frozen
class ServiceLevelReport:
    """:func:`service_levels`'s answer: a row per group value (sorted, the tickets
    without one last), and the total."""

    query: ReportQuery
    rows: tuple[ServiceLevelRow, ...]
    total: ServiceLevelRow


def _level(metric: str, rows: list[SLARow]) -> ServiceLevel:
    outcomes: dict[str, int] = defaultdict(int)
    histogram: dict[int, int] = defaultdict(int)
    for _, _, outcome, bucket, count in rows:
        outcomes[outcome] += count
        if bucket is not None:
            histogram[bucket] += count
    return ServiceLevel(
        metric=metric,
        met=outcomes["met"],
        breached=outcomes["breached"],
        pending=outcomes["pending"],
        business=DurationStats.of(histogram),
    )


def _row(group: str | None, rows: list[SLARow]) -> ServiceLevelRow:
    first, resolution = (
        _level(name, [row for row in rows if row[1] == name]) for name, _, _ in METRICS
    )
    return ServiceLevelRow(group, first, resolution)


def service_levels(store: Store, query: ReportQuery) -> ServiceLevelReport:
    """SLA compliance and business-hours durations of first response and resolution for
    the tickets created in ``query``'s period passing its filters, per ``query.group_by``
    (``compare_previous`` and ``as_of`` do not apply: an outcome is as of each ticket's
    last change, a target missed since then counted once ``run_due`` records it).

    Tickets without an SLA target are not counted; a desk without an SLA policy gets
    rows of zeros.
    """
    plan = query._plan()
    rows = rows_of(store, plan)
    by_group: dict[str | None, list[SLARow]] = defaultdict(list)
    for row in rows:
        by_group[row[0]].append(row)
    ordered = sorted(by_group, key=lambda group: (group is None, group or ""))
    grouped = query.group_by != "none"
    return ServiceLevelReport(
        query=query,
        rows=tuple(_row(group, by_group[group]) for group in ordered) if grouped else (),
        total=_row(None, rows),
    )
