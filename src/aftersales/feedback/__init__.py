"""Following up on served customers: satisfaction surveys (CSAT, NPS, CES) and other
follow-up cases, opened once per subject when it is resolved or closed.

Give a desk its rules as data (``Desk(surveys={"rules": [...]})``, a
:class:`SurveySettings`); ``desk.surveys`` then schedules a survey (a case of kind
``"survey"``, :mod:`aftersales.cases.surveys`) after each subject a rule follows,
:meth:`~aftersales.CaseDesk.run_due` sends it after its delay and expires it after its
response window, and :meth:`Surveys.answer` records the answer a signed link brings.
See ``docs/how-to/surveys.md``.
"""

from aftersales.cases.surveys import LowScoreAction, SurveyDetails, SurveyType
from aftersales.feedback._figures import SurveyFigures, survey_figures
from aftersales.feedback._rules import DEFAULT_QUESTIONS, FollowUpRule, SurveySettings
from aftersales.feedback._surveys import (
    HOLD_HOOK,
    LOW_SCORE_HOOK,
    SCHEDULE_HOOK,
    Surveys,
    follow_up_id,
)

__all__ = [
    "DEFAULT_QUESTIONS",
    "HOLD_HOOK",
    "LOW_SCORE_HOOK",
    "SCHEDULE_HOOK",
    "FollowUpRule",
    "LowScoreAction",
    "SurveyDetails",
    "SurveyFigures",
    "SurveySettings",
    "SurveyType",
    "Surveys",
    "follow_up_id",
    "survey_figures",
]
