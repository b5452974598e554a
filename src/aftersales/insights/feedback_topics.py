"""What customers say in surveys and on return visits, grouped into topics (issue 18):
:func:`feedback_topics`.

Every text a customer gave in the period is one :class:`FeedbackText`: a survey's reason
and comment, a return visit's answers and the note of the call that reached the customer.
Its topic is the category a classifier gives it (the desk's, else the shipped
:class:`~aftersales.routing.RuleClassifier`), and its keywords are its words without stop
words (Chinese segmented by ``jieba`` with the ``kb`` extra, else cut into character
pairs, see :mod:`aftersales.insights._feedback_words`). The texts are then counted per
topic, per ISO week, per product and per channel, and the negative answers (a survey
scored below its ``negative_below``, a visit where the problem persists) per reason.

Personal data found in a text (phone numbers, e-mail addresses...) is redacted by
:class:`~aftersales.privacy.Redactor` before anything is returned, and left out of the
keywords; a text erased with its customer (``"[erased]"``) is left out and counted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from functools import cache
from typing import Literal

import attrs

from aftersales.cases.return_visits import ReturnVisitDetails, ReturnVisitOutcome
from aftersales.cases.surveys import SurveyDetails
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.insights._feedback_read import Answered, answered_cases
from aftersales.insights._feedback_words import (
    Segmentation,
    Segmenter,
    keywords,
    normalised_reason,
    script_of,
    segmenter,
)
from aftersales.models._base import parse_instant
from aftersales.privacy import Redactor
from aftersales.privacy.audit import ERASED
from aftersales.routing import Classifier, RuleClassifier
from aftersales.storage import Store

__all__ = [
    "FeedbackSource",
    "FeedbackText",
    "FeedbackTopics",
    "LowScoreReason",
    "TopicCount",
    "TopicTrend",
    "feedback_topics",
]

FeedbackSource = Literal["survey_reason", "survey_comment", "visit_answer", "visit_note"]
"""Where a text comes from: a survey's reason or comment, a return visit's answer to one
question of its script, or the note of the call."""


@attrs.frozen
class FeedbackText:
    """One text a customer gave, with its topic and keywords.

    ``text`` is redacted. ``at`` is when it was given (the survey's answer, the call),
    ``week`` that instant's ISO week in UTC (``"2026-W10"``). ``sku`` is the product of
    the case, else of the case it follows, else of its ticket's order line; ``channel`` the
    channel the ticket came by. ``negative`` marks a survey scored below its
    ``negative_below`` and a return visit where the problem persists; ``score`` is the
    survey's score (None on a visit). ``language`` is the text's script: ``"zh"`` when it
    holds Chinese characters, else ``"en"``."""

    case_id: str
    ticket_id: str
    source: FeedbackSource
    question: str | None
    text: str
    language: Literal["zh", "en"]
    at: datetime
    week: str
    sku: str | None
    channel: str | None
    topic: str
    keywords: tuple[str, ...]
    negative: bool
    score: int | None = None


@attrs.frozen
class TopicCount:
    """A topic over the period: how many texts, how many of them negative, and its most
    frequent keywords with the number of texts each occurs in."""

    topic: str
    texts: int
    negative: int
    keywords: tuple[tuple[str, int], ...]


@attrs.frozen
class TopicTrend:
    """The texts of one topic under one key: an ISO week, a SKU or a channel (None when the
    case has no product, or its ticket could not be read)."""

    key: str | None
    topic: str
    texts: int
    negative: int


@attrs.frozen
class LowScoreReason:
    """Why customers answered negatively: one normalised reason (a survey's reason, else its
    comment; a visit's note, else its answers), its topic, how many negative answers gave
    it, and a few redacted examples of what they said."""

    reason: str
    topic: str
    answers: int
    examples: tuple[str, ...]


@attrs.frozen
class FeedbackTopics:
    """The feedback given in [``period_from``, ``period_to``), in topics.

    ``topics`` is ordered by texts, most first; ``by_week``, ``by_product`` and
    ``by_channel`` by key, then texts; ``low_score_reasons`` by answers, most first.
    ``erased`` counts the texts left out because they were erased. ``segmentation`` says
    how Chinese was cut into words."""

    period_from: datetime
    period_to: datetime
    texts: tuple[FeedbackText, ...]
    topics: tuple[TopicCount, ...]
    by_week: tuple[TopicTrend, ...]
    by_product: tuple[TopicTrend, ...]
    by_channel: tuple[TopicTrend, ...]
    low_score_reasons: tuple[LowScoreReason, ...]
    erased: int
    segmentation: Segmentation

    @property
    def low_score_topics(self) -> tuple[TopicCount, ...]:
        """The topics of the negative texts, most negative first."""
        negative = [count for count in self.topics if count.negative]
        return tuple(sorted(negative, key=lambda count: (-count.negative, count.topic)))

    def topic(self, name: str) -> TopicCount | None:
        """The count of one topic, or None when no text has it."""
        return next((count for count in self.topics if count.topic == name), None)


@cache
def _shipped_classifier() -> RuleClassifier:
    return RuleClassifier()


def feedback_topics(
    store: Store,
    period_from: datetime,
    period_to: datetime,
    *,
    classifier: Classifier | None = None,
    language: str | None = None,
    redactor: Redactor | None = None,
    keywords_per_text: int = 5,
    top_keywords: int = 5,
    examples: int = 3,
) -> FeedbackTopics:
    """The survey and return-visit feedback given in [``period_from``, ``period_to``),
    grouped into topics: each text's topic is the category ``classifier`` gives it (pass
    ``desk.classifier``; the shipped rule classifier by default), with its first
    ``keywords_per_text`` keywords; counted per topic (``top_keywords`` keywords each), ISO
    week, product and channel; and the negative answers per reason, with up to
    ``examples`` examples each. ``language`` keeps only the surveys and visits held in
    that language (``"zh"`` matches ``"zh-CN"``); every language by default. ``redactor``
    redacts the texts returned (a default :class:`~aftersales.privacy.Redactor` unless
    given).

    >>> from datetime import datetime, timezone
    >>> from aftersales import MemoryStore
    >>> start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    >>> feedback_topics(MemoryStore(), start, start.replace(month=4)).topics
    ()
    """
    start = parse_instant("period_from", period_from)
    end = parse_instant("period_to", period_to)
    problems = [] if end > start else [FieldError(("period_to",), "must be after period_from")]
    limits = {"keywords_per_text": keywords_per_text, "top_keywords": top_keywords}
    limits["examples"] = examples
    problems += [
        FieldError((name,), "must be a whole number from 1 to 100")
        for name, value in limits.items()
        if type(value) is not int or not 1 <= value <= 100
    ]
    if language is not None and (not isinstance(language, str) or not language.strip()):
        problems.append(FieldError(("language",), "must be a language code such as 'zh'"))
    if classifier is not None and not isinstance(classifier, Classifier):
        problems.append(FieldError(("classifier",), "must have a classify(text) method"))
    if redactor is not None and not isinstance(redactor, Redactor):
        problems.append(FieldError(("redactor",), "must be an aftersales.privacy.Redactor"))
    if problems:
        raise InvalidInput("feedback_topics", problems)
    segment, segmentation = segmenter()
    reader = _Reader(
        classifier or _shipped_classifier(),
        redactor or Redactor(),
        segment,
        keywords_per_text,
    )
    wanted = None if language is None else _primary(language)
    texts: list[FeedbackText] = []
    reasons: list[_Reason] = []
    for answered in answered_cases(store, start, end):
        if wanted is not None and _primary(_language(answered)) != wanted:
            continue
        texts += reader.texts(answered, start, end, reasons)
    # stable: a case's texts stay in the order given (reason, comment; answers, note)
    texts.sort(key=lambda text: (text.at, text.case_id))
    return FeedbackTopics(
        period_from=start,
        period_to=end,
        texts=tuple(texts),
        topics=_topics(texts, top_keywords),
        by_week=_trends(texts, lambda text: text.week),
        by_product=_trends(texts, lambda text: text.sku),
        by_channel=_trends(texts, lambda text: text.channel),
        low_score_reasons=_low_score_reasons(reasons, examples),
        erased=reader.erased,
        segmentation=segmentation,
    )


def _primary(language: str) -> str:
    return language.strip().replace("_", "-").split("-")[0].lower()


def _language(answered: Answered) -> str:
    return str(getattr(answered.case.details, "language", ""))


def _week(at: datetime) -> str:
    year, week, _ = at.astimezone(timezone.utc).isocalendar()
    return f"{year}-W{week:02d}"


@attrs.frozen
class _Reason:
    """A negative answer's reason (redacted and normalised), its topic and example."""

    reason: str
    topic: str
    example: str
    given: tuple[datetime, str]
    """When and in which case: the examples come in that order on every store."""


@attrs.define
class _Reader:
    """Turns the surveys and visits read into texts: redacted, classified, with keywords."""

    classifier: Classifier
    redactor: Redactor
    segment: Segmenter
    keywords_per_text: int
    erased: int = 0

    def texts(
        self, answered: Answered, start: datetime, end: datetime, reasons: list[_Reason]
    ) -> list[FeedbackText]:
        details = answered.case.details
        if isinstance(details, SurveyDetails):
            return self._survey(answered, details, start, end, reasons)
        if isinstance(details, ReturnVisitDetails):
            return self._visit(answered, details, start, end, reasons)
        return []

    def _survey(
        self,
        answered: Answered,
        details: SurveyDetails,
        start: datetime,
        end: datetime,
        reasons: list[_Reason],
    ) -> list[FeedbackText]:
        at = details.answered_at
        if at is None or not start <= at < end:
            return []
        negative = bool(details.negative)
        said: list[tuple[FeedbackSource, str | None, str | None]] = [
            ("survey_reason", None, details.reason),
            ("survey_comment", None, details.comment),
        ]
        made = list(self._made(answered, at, negative, details.score, said))
        if negative:
            given = (at, answered.case.id)
            self._reason(reasons, details.reason or details.comment, details.comment, given)
        return made

    def _visit(
        self,
        answered: Answered,
        details: ReturnVisitDetails,
        start: datetime,
        end: datetime,
        reasons: list[_Reason],
    ) -> list[FeedbackText]:
        made: list[FeedbackText] = []
        negative = details.outcome is ReturnVisitOutcome.PROBLEM_PERSISTS or (
            answered.case.status == "following_up"
        )
        for attempt in details.attempts:
            if not attempt.reached or not start <= attempt.at < end:
                continue
            said: list[tuple[FeedbackSource, str | None, str | None]] = [
                ("visit_answer", question, text) for question, text in attempt.answers.items()
            ]
            said.append(("visit_note", None, attempt.note))
            made += self._made(answered, attempt.at, negative, None, said)
            if negative:
                answers = "; ".join(t for t in attempt.answers.values() if not _erased(t))
                given = (attempt.at, answered.case.id)
                self._reason(reasons, attempt.note or answers, attempt.note, given)
        return made

    def _made(
        self,
        answered: Answered,
        at: datetime,
        negative: bool,
        score: int | None,
        said: Iterable[tuple[FeedbackSource, str | None, str | None]],
    ) -> Iterator[FeedbackText]:
        case = answered.case
        for source, question, raw in said:
            if raw is None or not raw.strip():
                continue
            if _erased(raw):
                self.erased += 1
                continue
            text, plain = self._redacted(raw)
            words = keywords(plain, self.segment, self.keywords_per_text)
            classified = self.classifier.classify(plain)
            if not words and classified.category == "other":
                continue  # a bare "yes", "no" or "是的": nothing a topic could use
            yield FeedbackText(
                case_id=case.id,
                ticket_id=case.ticket_id,
                source=source,
                question=question,
                text=text,
                language=script_of(plain),
                at=at,
                week=_week(at),
                sku=answered.sku,
                channel=answered.channel,
                topic=classified.category,
                keywords=words,
                negative=negative,
                score=score,
            )

    def _redacted(self, raw: str) -> tuple[str, str]:
        """The text redacted, and the text with its personal data blanked out (what is
        classified and cut into keywords: a redaction token is no keyword)."""
        text, findings = self.redactor.redact_with_findings(raw)
        plain = raw
        for finding in sorted(findings, key=lambda f: f.start, reverse=True):
            plain = plain[: finding.start] + " " + plain[finding.end :]
        return text, plain

    def _reason(
        self,
        reasons: list[_Reason],
        reason: str | None,
        example: str | None,
        given: tuple[datetime, str],
    ) -> None:
        if reason is None or not reason.strip() or _erased(reason):
            return
        redacted, plain = self._redacted(reason)
        normalised = normalised_reason(redacted)
        if not normalised:
            return
        shown = redacted if example is None or _erased(example) else self._redacted(example)[0]
        topic = self.classifier.classify(plain).category
        reasons.append(_Reason(normalised, topic, shown, given))


def _erased(text: str) -> bool:
    return text.strip() == ERASED


def _topics(texts: list[FeedbackText], top: int) -> tuple[TopicCount, ...]:
    counts: Counter[str] = Counter()
    negative: Counter[str] = Counter()
    words: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for text in texts:
        counts[text.topic] += 1
        negative[text.topic] += text.negative
        words[text.topic].update(text.keywords)
    return tuple(
        TopicCount(topic, count, negative[topic], _top(words[topic], top))
        for topic, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    )


def _top(words: Counter[str], top: int) -> tuple[tuple[str, int], ...]:
    # most texts first, then alphabetical: the same order on every run
    return tuple(sorted(words.items(), key=lambda item: (-item[1], item[0]))[:top])


def _trends(
    texts: list[FeedbackText], key: Callable[[FeedbackText], str | None]
) -> tuple[TopicTrend, ...]:
    counts: Counter[tuple[str | None, str]] = Counter()
    negative: Counter[tuple[str | None, str]] = Counter()
    for text in texts:
        counts[key(text), text.topic] += 1
        negative[key(text), text.topic] += text.negative
    ordered = sorted(
        counts.items(),
        key=lambda item: (item[0][0] is None, item[0][0] or "", -item[1], item[0][1]),
    )
    return tuple(
        TopicTrend(group, topic, count, negative[group, topic]) for (group, topic), count in ordered
    )


def _low_score_reasons(reasons: list[_Reason], examples: int) -> tuple[LowScoreReason, ...]:
    grouped: dict[str, list[_Reason]] = defaultdict(list)
    for reason in sorted(reasons, key=lambda reason: reason.given):
        grouped[reason.reason].append(reason)
    rows = []
    for normalised, given in grouped.items():
        topics = Counter(reason.topic for reason in given)
        topic = min(topics, key=lambda name: (-topics[name], name))
        shown = tuple(dict.fromkeys(reason.example for reason in given))[:examples]
        rows.append(LowScoreReason(normalised, topic, len(given), shown))
    rows.sort(key=lambda row: (-row.answers, row.reason))
    return tuple(rows)
