"""The report's survey family: the CSAT, NPS and CES figures of the surveys answered in
the report's period (:func:`~aftersales.feedback.survey_figures`), a row per survey type
(per channel the surveys were sent on, then the total, when the report groups by
channel), and the distribution of their scores.

Survey figures are counted over the answered surveys' cases, which carry the channel
they were sent on but no ticket category, priority, team, product or tier: a report
filtered by any of those leaves the family out rather than count other answers than the
report's.
"""

from __future__ import annotations

from aftersales.cases.surveys import SurveyType
from aftersales.feedback import SurveyFigures, survey_figures, survey_figures_by_channel
from aftersales.insights._report_families import unapplied_filters
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
Figures = dict[SurveyType, SurveyFigures]

SURVEY_FILTERS = ("channel",)
"""The report filters survey figures apply (the channel a survey was sent on)."""

SURVEY_COLUMNS = ("group", "survey", "answers", "score", "mean", "promoters", "detractors")
SURVEY_SCORE_COLUMNS = ("group", "survey", "score", "answers")


def surveys_of(
    store: Store, query: ReportQuery
) -> tuple[Figures, dict[str | None, Figures] | None] | None:
    """The figures of the surveys answered in the report's period on its channels, and
    per channel when the report groups by channel; None when the report filters by what
    surveys cannot be filtered by (category, priority, team, product, tier)."""
    if unapplied_filters(query, SURVEY_FILTERS):
        return None
    start, end, channel = query.created_from, query.created_to, query.channel
    total = survey_figures(store, answered_from=start, answered_to=end, channel=channel)
    if query.group_by != "channel":
        return total, None
    groups = survey_figures_by_channel(store, answered_from=start, answered_to=end, channel=channel)
    return total, groups


def _named(total: Figures, groups: dict[str | None, Figures] | None) -> list[tuple[str, Figures]]:
    if groups is None:
        return [("(none)", total)]
    named = [("(none)" if name is None else name, figures) for name, figures in groups.items()]
    return [*named, ("(total)", total)]


def survey_table(total: Figures, groups: dict[str | None, Figures] | None) -> Rows:
    """A row per group (channel) and survey type answered, then the total's (the one
    ``(none)`` group when ungrouped): ``score`` is the type's headline (CSAT: % of the top
    two scores; NPS: % promoters less % detractors; CES: the mean score); promoters and
    detractors for NPS only."""
    return tuple(
        (
            name,
            kind.value,
            each.answers,
            each.score,
            each.mean,
            each.promoters if kind is SurveyType.NPS else None,
            each.detractors if kind is SurveyType.NPS else None,
        )
        for name, figures in _named(total, groups)
        for kind, each in figures.items()
    )


def survey_score_table(total: Figures, groups: dict[str | None, Figures] | None) -> Rows:
    """The answers per group, survey type and score."""
    return tuple(
        (name, kind.value, score, answers)
        for name, figures in _named(total, groups)
        for kind, each in figures.items()
        for score, answers in each.distribution.items()
    )
