"""The report's survey family: the CSAT, NPS and CES figures of the surveys answered in
the report's period (:func:`~aftersales.feedback.survey_figures`), a row per survey type,
and the distribution of their scores.

Survey figures are counted over the answered surveys' cases, which carry no ticket
category, priority, team, product or tier and are not grouped: a report filtered by any
of those (or by channel) leaves the family out rather than count other answers than the
report's.
"""

from __future__ import annotations

from aftersales.cases.surveys import SurveyType
from aftersales.feedback import SurveyFigures, survey_figures
from aftersales.insights.metrics import ReportQuery
from aftersales.storage import Store

__all__ = [
    "SURVEY_COLUMNS",
    "SURVEY_FILTERS",
    "SURVEY_SCORE_COLUMNS",
    "survey_score_table",
    "survey_table",
    "surveys_of",
]

Cell = str | int | float | None
Rows = tuple[tuple[Cell, ...], ...]

SURVEY_FILTERS: tuple[str, ...] = ()
"""The report filters survey figures apply: none (only the period)."""

SURVEY_COLUMNS = ("survey", "answers", "score", "mean", "promoters", "detractors")
SURVEY_SCORE_COLUMNS = ("survey", "score", "answers")


def surveys_of(store: Store, query: ReportQuery) -> dict[SurveyType, SurveyFigures] | None:
    """The figures of the surveys answered in the report's period, None when the report
    filters by anything (survey figures cannot be filtered)."""
    filters = ("channel", "category", "priority", "team", "product", "tier")
    if any(getattr(query, name) is not None for name in filters):
        return None
    return survey_figures(store, answered_from=query.created_from, answered_to=query.created_to)


def survey_table(figures: dict[SurveyType, SurveyFigures]) -> Rows:
    """A row per survey type answered: ``score`` is its headline (CSAT: % of the top two
    scores; NPS: % promoters less % detractors; CES: the mean score); promoters and
    detractors for NPS only."""
    return tuple(
        (
            kind.value,
            each.answers,
            each.score,
            each.mean,
            each.promoters if kind is SurveyType.NPS else None,
            each.detractors if kind is SurveyType.NPS else None,
        )
        for kind, each in figures.items()
    )


def survey_score_table(figures: dict[SurveyType, SurveyFigures]) -> Rows:
    """The answers per survey type and score."""
    return tuple(
        (kind.value, score, answers)
        for kind, each in figures.items()
        for score, answers in each.distribution.items()
    )
