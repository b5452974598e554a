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
