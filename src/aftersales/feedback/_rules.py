"""What a desk follows up on, as validated data: which subjects, once resolved or closed,
get which survey (or another follow-up case), after how long, answered within how long,
and what a negative answer sets off."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from typing_extensions import Self

from aftersales.cases.coupons import CouponOffer
from aftersales.cases.surveys import (
    DEFAULT_NEGATIVE_BELOW,
    DEFAULT_SCALE,
    LowScoreAction,
    SurveyType,
    score_range,
)
from aftersales.models._base import Identifier, Record, ShortText, Text
from aftersales.models.customer import Channel

__all__ = ["DEFAULT_QUESTIONS", "FollowUpRule", "SurveySettings"]

DEFAULT_QUESTIONS: dict[str, dict[SurveyType, str]] = {
    "en": {
        SurveyType.CSAT: "How satisfied are you with how we handled your request?",
        SurveyType.NPS: "How likely are you to recommend us to a friend or colleague?",
        SurveyType.CES: "How easy was it to get your issue handled?",
    },
    "zh": {
        SurveyType.CSAT: "您对本次服务的处理结果满意吗？",
        SurveyType.NPS: "您有多大可能向朋友或同事推荐我们？",
        SurveyType.CES: "本次问题处理起来对您来说有多容易？",
    },
}
"""The question of each survey type, per language: English and Chinese."""


class FollowUpRule(Record):
    """One follow-up: when a subject of ``kinds`` (``"ticket"`` or a case kind), reached
    on one of ``channels`` (its ticket's channel; None: any), enters one of ``states``
    (None: ``after`` says which: a state of the resolved or closed category for
    ``"resolution"``, of the closed category for ``"closure"``, never a cancellation,
    a merge or a refusal), open a case of kind ``opens`` for it once.

    A ``"survey"`` (the default) asks ``survey`` on ``scale``, ``delay_hours`` (24 by
    default) after the subject ended, to be answered within ``response_hours``; scores
    below ``negative_below`` are negative: they need a reason when ``reason_required`` and
    set off ``low_score_action`` (with ``"coupon"``, the goodwill ``coupon`` offer:
    amount, currency, valid_days). Another registered kind (a ``"return_visit"``) is
    opened by its opener, which takes the subject's ticket id and the keywords
    ``subject_id``, ``subject_kind``, ``id`` (derived from the subject), ``actor``,
    ``delay_hours`` when the rule names it, and ``options``; its own workflow then runs it.
    """

    kinds: Annotated[tuple[Identifier, ...], Field(min_length=1, max_length=100)]
    channels: Annotated[tuple[Channel, ...], Field(min_length=1)] | None = None
    after: Literal["resolution", "closure"] = "resolution"
    states: Annotated[tuple[Identifier, ...], Field(min_length=1, max_length=100)] | None = None
    opens: Identifier = "survey"
    survey: SurveyType = SurveyType.CSAT
    scale: Annotated[int, Field(ge=2, le=10)] | None = None
    delay_hours: Annotated[float, Field(ge=0, le=24 * 366)] | None = None
    response_hours: Annotated[float, Field(gt=0, le=24 * 366)] = 7 * 24.0
    negative_below: Annotated[int, Field(ge=0, le=11)] | None = None
    reason_required: bool = True
    low_score_action: LowScoreAction | None = None
    coupon: CouponOffer | None = None
    options: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if self.survey is SurveyType.NPS and self.scale not in (None, 10):
            raise ValueError("an NPS survey is scored 0 to 10 (scale 10)")
        if self.opens != "survey" and self.low_score_action is not None:
            raise ValueError("low_score_action is for surveys (opens='survey')")
        if (self.low_score_action is LowScoreAction.COUPON) != (self.coupon is not None):
            raise ValueError("a coupon offer goes with low_score_action 'coupon', and only")
        if self.opens == "survey" and self.options:
            raise ValueError("options are for other kinds than surveys")
        return self

    @property
    def survey_delay(self) -> timedelta:
        """How long after the subject ended its survey goes out (24 hours by default)."""
        return timedelta(hours=24.0 if self.delay_hours is None else self.delay_hours)

    @property
    def survey_scale(self) -> int:
        """The scale the survey is asked on."""
        return DEFAULT_SCALE[self.survey] if self.scale is None else self.scale

    @property
    def negative_threshold(self) -> int:
        """Scores below this are negative."""
        if self.negative_below is not None:
            return self.negative_below
        return DEFAULT_NEGATIVE_BELOW[self.survey]


class SurveySettings(Record):
    """A desk's follow-ups (``Desk(surveys=...)``): its ``rules``, the first that fits a
    subject applying; the ``language`` a survey is asked in when the customer has none
    (or one without a question) and the ``questions`` per language and survey type
    (English and Chinese by default).

    >>> settings = SurveySettings(rules=[{"kinds": ["ticket"], "survey": "nps"}])
    >>> settings.rules[0].negative_threshold
    7
    """

    rules: Annotated[tuple[FollowUpRule, ...], Field(min_length=1, max_length=1000)]
    language: ShortText = "en"
    questions: dict[ShortText, dict[SurveyType, Text]] = Field(
        default_factory=lambda: {lang: dict(q) for lang, q in DEFAULT_QUESTIONS.items()}
    )

    @model_validator(mode="after")
    def _asked(self) -> Self:
        asked = self.questions.get(self.language, {})
        for index, rule in enumerate(self.rules):
            if rule.opens == "survey" and rule.survey not in asked:
                raise ValueError(
                    f"rules[{index}]: no {rule.survey.value} question in the desk's "
                    f"language {self.language!r}"
                )
            scores = score_range(rule.survey, rule.survey_scale)
            if rule.negative_below is not None and rule.negative_below > scores.stop:
                raise ValueError(f"rules[{index}]: negative_below is beyond the scale")
        return self

    def question(self, language: str | None, survey: SurveyType) -> tuple[str, str]:
        """(the language, the question) a survey is asked in: the customer's language
        when the desk has the question in it (``zh-CN`` finds ``zh``), else the desk's."""
        for candidate in (language, (language or "").split("-")[0].lower()):
            if candidate and survey in self.questions.get(candidate, {}):
                return candidate, self.questions[candidate][survey]
        return self.language, self.questions[self.language][survey]
