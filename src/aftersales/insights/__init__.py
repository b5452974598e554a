"""Insights: what the service's history says. Key figures computed where the data is
(:func:`ticket_metrics`), risk early warning (:func:`detect`, :func:`detect_many`), and a
generator of realistic histories to try them on (:func:`generate_history`)."""

from aftersales.insights.history import (
    DEFAULT_CATALOGUE,
    DEFAULT_TEAMS,
    CatalogueItem,
    HistorySummary,
    RateShift,
    generate_history,
)
from aftersales.insights.metrics import (
    AGEING_BUCKETS,
    Backlog,
    DurationStats,
    GroupBy,
    ReportQuery,
    TicketChange,
    TicketMetrics,
    TicketReport,
    TicketReportRow,
    ticket_metrics,
)
from aftersales.insights.report import Report, ReportTable, build_report
from aftersales.insights.risk import (
    Alert,
    AlertState,
    RiskRule,
    Series,
    SeriesState,
    Severity,
    binomial_upper_tail,
    detect,
    detect_many,
    poisson_upper_tail,
)

__all__ = [
    "AGEING_BUCKETS",
    "DEFAULT_CATALOGUE",
    "DEFAULT_TEAMS",
    "Alert",
    "AlertState",
    "Backlog",
    "CatalogueItem",
    "DurationStats",
    "GroupBy",
    "HistorySummary",
    "RateShift",
    "Report",
    "ReportQuery",
    "ReportTable",
    "RiskRule",
    "Series",
    "SeriesState",
    "Severity",
    "TicketChange",
    "TicketMetrics",
    "TicketReport",
    "TicketReportRow",
    "binomial_upper_tail",
    "build_report",
    "detect",
    "detect_many",
    "generate_history",
    "poisson_upper_tail",
    "ticket_metrics",
]
