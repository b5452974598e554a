"""The figure families a :class:`~aftersales.insights.Report` holds when asked: SLA
compliance (:func:`~aftersales.insights.service_levels`), case KPIs
(:func:`~aftersales.insights.case_metrics`), workload and next response times
(:func:`~aftersales.insights.workload`, :func:`~aftersales.insights.next_response_times`):
each family's query made from the report's :class:`~aftersales.insights.ReportQuery`, and
each family's tables (and the dwell times' and the escalation levels' tables).

A family whose query cannot apply one of the report's filters is left out (None) rather
than counted over other tickets than the report's: case metrics filter by product (SKU)
and channel only, workload and next responses by team and channel only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from aftersales.insights.bottlenecks import DwellReport
from aftersales.insights.case_metrics import (
    CaseGroupBy,
    CaseReport,
    CaseReportQuery,
    CaseReportRow,
    case_metrics,
)
from aftersales.insights.metrics import DurationStats, ReportQuery, TicketMetrics, TicketReport
from aftersales.insights.service_levels import (
    ServiceLevel,
    ServiceLevelReport,
    ServiceLevelRow,
    service_levels,
)
from aftersales.insights.workload import (
    NextResponseQuery,
    NextResponseReport,
    NextResponseRow,
    WorkloadQuery,
    WorkloadReport,
    next_response_times,
    workload,
)
from aftersales.storage import Store

__all__ = [
    "CASE_COLUMNS",
    "CASE_FILTERS",
    "DWELL_COLUMNS",
    "ESCALATION_COLUMNS",
    "NEXT_RESPONSE_COLUMNS",
    "PART_COLUMNS",
    "REASON_COLUMNS",
    "SERVICE_LEVEL_COLUMNS",
    "WAIT_COLUMNS",
    "WORKLOAD_COLUMNS",
    "WORKLOAD_FILTERS",
    "case_query",
    "case_tables",
    "cases_of",
    "dwell_rows",
    "escalation_rows",
    "next_response_query",
    "next_response_table",
    "service_level_table",
    "service_levels_of",
    "unapplied_filters",
    "waits_rows",
    "workload_of",
    "workload_query",
    "workload_table",
]

Cell = str | int | float | None
Rows = tuple[tuple[Cell, ...], ...]

_TOTAL = "(total)"
_NO_GROUP = "(none)"
_FILTERS = ("channel", "category", "priority", "team", "product", "tier")

CASE_FILTERS = ("channel", "product")
"""The report filters case metrics apply (as ``channel`` and ``sku``)."""

WORKLOAD_FILTERS = ("channel", "team")
"""The report filters workload and next response times apply."""


def unapplied_filters(query: ReportQuery, applied: Sequence[str]) -> list[str]:
    """The filters ``query`` sets that a family cannot apply."""
    return [name for name in _FILTERS if name not in applied and getattr(query, name) is not None]


def _name(group: str | None) -> str:
    return _NO_GROUP if group is None else group


def _stats(stats: DurationStats) -> tuple[Cell, ...]:
    return (stats.count, stats.median_seconds, stats.p90_seconds)


# ---------------------------------------------------------------------------------------
# Escalation levels

ESCALATION_COLUMNS = ("group", "period", "level", "tickets", "reached")
"""The ``escalations`` table: the tickets at each level now, and at it or above."""


def escalation_rows(tickets: TicketReport) -> Rows:
    """A row per group (and the total when grouped), period and escalation level, from 0
    to the highest any ticket of the report is at, so every group lists the same levels."""
    named = [(_name(row.group), row) for row in tickets.rows]
    if tickets.query.group_by != "none":
        named.append((_TOTAL, tickets.total))
    periods: list[tuple[str, str, TicketMetrics]] = []
    for name, row in named:
        periods.append((name, "current", row.current))
        if row.previous is not None:
            periods.append((name, "previous", row.previous))
    shown = [
        (name, period, m.escalations) for name, period, m in periods if m.escalations is not None
    ]
    top = max((len(figures.levels) for _, _, figures in shown), default=1)
    return tuple(
        (name, period, level, sum(figures.levels[level : level + 1]), figures.reached(level))
        for name, period, figures in shown
        for level in range(top)
    )


# ---------------------------------------------------------------------------------------
# Dwell times

DWELL_COLUMNS = (
    "group",
    "kind",
    "state",
    "stays",
    "median_seconds",
    "p90_seconds",
    "total_seconds",
    "share",
)


def dwell_rows(dwell: DwellReport) -> Rows:
    """A row per group, kind and state."""
    return tuple(
        (
            _name(each.group),
            each.kind,
            each.state,
            each.dwell.count,
            each.dwell.median_seconds,
            each.dwell.p90_seconds,
            each.total_seconds,
            each.share,
        )
        for each in dwell.states
    )


_BOTTLENECKS_PER_GROUP = 10
WAIT_COLUMNS = ("rank", "group", "kind", "state", "leaving_by", *DWELL_COLUMNS[3:])


def waits_rows(dwell: DwellReport) -> Rows:
    """The waits before each transition, longest total first within each group: where the
    process loses time (at most ten per group)."""
    ranked = sorted(
        dwell.transitions,
        key=lambda t: (t.group is None, t.group or "", -t.total_seconds, t.kind, t.state),
    )
    rows: list[tuple[Cell, ...]] = []
    rank, group = 0, object()
    for wait in ranked:
        rank = rank + 1 if wait.group == group else 1
        group = wait.group
        if rank <= _BOTTLENECKS_PER_GROUP:
            rows.append(
                (
                    rank,
                    _name(wait.group),
                    wait.kind,
                    wait.state,
                    wait.trigger,
                    wait.dwell.count,
                    wait.dwell.median_seconds,
                    wait.dwell.p90_seconds,
                    wait.total_seconds,
                    wait.share,
                )
            )
    return tuple(rows)


# ---------------------------------------------------------------------------------------
# SLA compliance

SERVICE_LEVEL_COLUMNS = (
    "group",
    "metric",
    "tickets",
    "met",
    "breached",
    "pending",
    "compliance",
    "business_count",
    "business_median_seconds",
    "business_p90_seconds",
)


def service_levels_of(store: Store, query: ReportQuery) -> ServiceLevelReport:
    """The SLA figures of the report's tickets: every filter and grouping applies."""
    return service_levels(store, query)


def _level_cells(group: str, level: ServiceLevel) -> tuple[Cell, ...]:
    return (
        group,
        level.metric,
        level.tickets,
        level.met,
        level.breached,
        level.pending,
        level.compliance,
        *_stats(level.business),
    )


def service_level_table(report: ServiceLevelReport) -> Rows:
    """A row per group and metric, then the total's (``(total)`` when grouped, the one
    ``(none)`` row otherwise)."""
    named: list[tuple[str, ServiceLevelRow]] = [(_name(row.group), row) for row in report.rows]
    named.append((_TOTAL if report.query.group_by != "none" else _NO_GROUP, report.total))
    return tuple(
        _level_cells(name, level)
        for name, row in named
        for level in (row.first_response, row.resolution)
    )


# ---------------------------------------------------------------------------------------
# Case metrics

_CASE_GROUPS: dict[str, CaseGroupBy] = {"product": "sku", "channel": "channel"}


def case_query(query: ReportQuery) -> CaseReportQuery:
    """The case query of the report's period: its product and channel filters, grouped by
    SKU (or by channel when the report groups by channel)."""
    return CaseReportQuery(
        period_from=query.created_from,
        period_to=query.created_to,
        sku=query.product,
        channel=query.channel,
        group_by=_CASE_GROUPS.get(query.group_by, "sku"),
    )


def cases_of(store: Store, query: ReportQuery) -> CaseReport | None:
    """The case figures of the report's period, None when it filters by what cases cannot
    be filtered by (category, priority, team, tier)."""
    if unapplied_filters(query, CASE_FILTERS):
        return None
    return case_metrics(store, case_query(query))


CASE_COLUMNS = (
    "group",
    "tickets",
    "returns",
    "returned_units",
    "return_rate",
    "units_sold",
    "unit_return_rate",
    "refunds_paid",
    "refunds_late",
    "late_refund_rate",
    "refund_lead_time_median_seconds",
    "refund_lead_time_p90_seconds",
    "repairs",
    "repeat_repairs",
    "repeat_rate",
    "repair_turnaround_median_seconds",
    "repair_turnaround_p90_seconds",
    "complaints",
    "complaint_rate",
)
REASON_COLUMNS = ("group", "reason", "returns")
PART_COLUMNS = (
    "part",
    "repairs",
    "repeat_repairs",
    "repeat_rate",
    "turnaround_median_seconds",
    "turnaround_p90_seconds",
)


def _case_cells(group: str, row: CaseReportRow) -> tuple[Cell, ...]:
    returns, refunds, repairs = row.returns, row.refunds, row.repairs
    return (
        group,
        returns.tickets,
        returns.returns,
        returns.returned_units,
        returns.return_rate,
        returns.units_sold,
        returns.unit_return_rate,
        refunds.paid,
        refunds.late,
        refunds.late_rate,
        refunds.lead_time.median_seconds,
        refunds.lead_time.p90_seconds,
        repairs.repairs,
        repairs.repeats,
        repairs.repeat_rate,
        repairs.turnaround.median_seconds,
        repairs.turnaround.p90_seconds,
        row.complaints.complaints,
        row.complaints.complaint_rate,
    )


def case_tables(report: CaseReport) -> tuple[Rows, Rows, Rows]:
    """The ``cases`` rows (a row per group, then ``(total)``), the ``return_reasons``
    rows (per group and reason; the total's under ``(total)``) and the ``repair_parts``
    rows."""
    named = [(_name(row.group), row) for row in report.rows]
    if report.query.group_by != "none":
        named.append((_TOTAL, report.total))
    cases = tuple(_case_cells(name, row) for name, row in named)
    reasons = tuple(
        (name, reason, returns) for name, row in named for reason, returns in row.returns.reasons
    )
    parts = tuple(
        (
            part.part,
            part.repairs.repairs,
            part.repairs.repeats,
            part.repairs.repeat_rate,
            part.repairs.turnaround.median_seconds,
            part.repairs.turnaround.p90_seconds,
        )
        for part in report.parts
    )
    return cases, reasons, parts


# ---------------------------------------------------------------------------------------
# Workload and next response times


def workload_query(query: ReportQuery) -> WorkloadQuery:
    """The workload of the report's period (events in it) on its teams' and channels'
    tickets: per team when the report groups by team, per agent otherwise."""
    group: Literal["agent", "team"] = "team" if query.group_by == "team" else "agent"
    return WorkloadQuery(
        period_from=query.created_from,
        period_to=query.created_to,
        team=query.team,
        channel=query.channel,
        group_by=group,
    )


def next_response_query(query: ReportQuery) -> NextResponseQuery:
    """The customer messages written in the report's period on its teams' and channels'
    tickets, answered by the report's ``as_of`` (its period's end when earlier), per team
    or channel when the report groups by one."""
    group: Literal["none", "team", "channel"] = "none"
    if query.group_by == "team":
        group = "team"
    elif query.group_by == "channel":
        group = "channel"
    return NextResponseQuery(
        period_from=query.created_from,
        period_to=query.created_to,
        as_of=max(query.backlog_at, query.created_to),
        team=query.team,
        channel=query.channel,
        group_by=group,
    )


def workload_of(
    store: Store, query: ReportQuery
) -> tuple[WorkloadReport, NextResponseReport] | None:
    """The workload and next response times of the report's period, None when it filters
    by what they cannot be filtered by (category, priority, product, tier)."""
    if unapplied_filters(query, WORKLOAD_FILTERS):
        return None
    return (
        workload(store, workload_query(query)),
        next_response_times(store, next_response_query(query)),
    )


WORKLOAD_COLUMNS = (
    "group",
    "logged_seconds",
    "entries",
    "tickets",
    "cases",
    "handled_tickets",
    "handling_median_seconds",
    "handling_p90_seconds",
    "open_assigned",
    "resolved",
)


def workload_table(report: WorkloadReport) -> Rows:
    """A row per agent (or team; one row for everyone when nothing was logged)."""
    return tuple(
        (
            _name(row.group),
            row.logged_seconds,
            row.entries,
            row.tickets,
            row.cases,
            *_stats(row.handling),
            row.open_assigned,
            row.resolved,
        )
        for row in report.rows
    )


NEXT_RESPONSE_COLUMNS = ("group", "answered", "median_seconds", "p90_seconds", "unanswered")


def next_response_table(report: NextResponseReport) -> Rows:
    """A row per group, then ``(total)`` (the one ``(none)`` row when ungrouped)."""
    named: list[tuple[str, NextResponseRow]] = [(_name(row.group), row) for row in report.rows]
    if report.query.group_by != "none":
        named.append((_TOTAL, report.total))
    return tuple((name, *_stats(row.next_response), row.unanswered) for name, row in named)
