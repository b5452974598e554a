"""Following up on served customers: satisfaction surveys (CSAT, NPS, CES) and other
follow-up cases, opened once per subject when it is resolved or closed; care plans
(``Desk(care=...)``, :class:`CareSettings`): care messages, maintenance reminders and
coupons scheduled for a delivered or repaired product (``docs/how-to/care-plans.md``).

Give a desk its rules as data (``Desk(surveys={"rules": [...]})``, a
:class:`SurveySettings`); ``desk.surveys`` then schedules a survey (a case of kind
``"survey"``, :mod:`aftersales.cases.surveys`) after each subject a rule follows,
:meth:`~aftersales.CaseDesk.run_due` sends it after its delay and expires it after its
response window, and :meth:`Surveys.answer` records the answer a signed link brings.
See ``docs/how-to/surveys.md``.
"""

from aftersales.cases.surveys import LowScoreAction, SurveyDetails, SurveyType
from aftersales.feedback._care import (
    CARE_HOOK,
    Care,
    CarePlan,
    CareSettings,
    add_months,
    known_failure_age,
)
from aftersales.feedback._figures import (
    SurveyFigures,
    survey_figures,
    survey_figures_by_channel,
)
from aftersales.feedback._rules import DEFAULT_QUESTIONS, FollowUpRule, SurveySettings
from aftersales.feedback._surveys import (
    HOLD_HOOK,
    LOW_SCORE_HOOK,
    SCHEDULE_HOOK,
    Surveys,
    follow_up_id,
)

__all__ = [
    "CARE_HOOK",
    "DEFAULT_QUESTIONS",
    "HOLD_HOOK",
    "LOW_SCORE_HOOK",
    "SCHEDULE_HOOK",
    "Care",
    "CarePlan",
    "CareSettings",
    "FollowUpRule",
    "LowScoreAction",
    "SurveyDetails",
    "SurveyFigures",
    "SurveySettings",
    "SurveyType",
    "Surveys",
    "add_months",
    "follow_up_id",
    "known_failure_age",
    "survey_figures",
    "survey_figures_by_channel",
]
