"""Insights: what the service's history says (risk early warning so far)."""

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
    "Alert",
    "AlertState",
    "RiskRule",
    "Series",
    "SeriesState",
    "Severity",
    "binomial_upper_tail",
    "detect",
    "detect_many",
    "poisson_upper_tail",
]

from aftersales.insights.history import (
    DEFAULT_CATALOGUE,
    DEFAULT_TEAMS,
    CatalogueItem,
    HistorySummary,
    RateShift,
    generate_history,
)

__all__ += [
    "DEFAULT_CATALOGUE",
    "DEFAULT_TEAMS",
    "CatalogueItem",
    "HistorySummary",
    "RateShift",
    "generate_history",
]

from aftersales.insights.metrics import (  # noqa: E402 - appended after the other parts
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

__all__ += [
    "AGEING_BUCKETS",
    "Backlog",
    "DurationStats",
    "GroupBy",
    "ReportQuery",
    "TicketChange",
    "TicketMetrics",
    "TicketReport",
    "TicketReportRow",
    "ticket_metrics",
]
