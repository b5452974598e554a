"""Feedback analysis (issue 18): what customers said in surveys and on return visits,
grouped into topics (the classifier's category and keywords, Chinese segmented by jieba or
cut into character pairs without it), counted per ISO week, product and channel, and the
reasons of the negative answers; personal data redacted, erased texts left out; the same
on MemoryStore, SQLite and SQLAlchemy (over SQLite)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from case_facts import phone

from aftersales import Desk, FrozenClock, InvalidInput, MemoryStore, SQLiteStore, Store, Ticket
from aftersales.insights.feedback_topics import FeedbackTopics, feedback_topics
from aftersales.models import Case
from aftersales.models.ticket import Severity
from aftersales.privacy import RedactionSettings, Redactor
from aftersales.routing import Classification, InquiryContext

MONDAY = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)  # ISO week 2026-W10
NEXT_WEEK = MONDAY + timedelta(days=7)  # 2026-W11
END = MONDAY + timedelta(days=14)


@pytest.fixture(params=["memory", "sqlite", "sqlalchemy"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        made: Store = MemoryStore()
    elif request.param == "sqlite":
        made = SQLiteStore(tmp_path / "feedback.db")
    else:
        pytest.importorskip("sqlalchemy")
        from aftersales.storage.sqlalchemy import SQLAlchemyStore

        made = SQLAlchemyStore(f"sqlite:///{tmp_path / 'feedback-sa.db'}")
    yield made
    made.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(MONDAY)


@pytest.fixture
def desk(store: Store, clock: FrozenClock) -> Desk:
    return Desk(store, clock=clock)


def _ticket(desk: Desk, *, sku: str | None, channel: str, customer: str = "c-1") -> Ticket:
    line = None if sku is None else {"order_id": f"o-{sku}", "line_id": "l1", "sku": sku}
    ticket = desk.open_ticket(
        customer=customer, channel=channel, subject="After-sales", order_line=line
    )
    desk.classify(ticket.id, category="other", severity="low")
    desk.fire(ticket.id, "assign", payload={"assignee": "li.agent"})
    desk.fire(ticket.id, "start")
    return desk.fire(ticket.id, "resolve", payload={"resolution": "done"})


def survey(
    desk: Desk,
    *,
    score: int,
    reason: str | None = None,
    comment: str | None = None,
    sku: str | None = "KETTLE-1",
    channel: str = "email",
    language: str = "en",
    customer: str = "c-1",
) -> Case:
    """A CSAT survey (negative below 3 of 5) answered now."""
    ticket = _ticket(desk, sku=sku, channel=channel, customer=customer)
    opened = desk.cases.open(
        "survey",
        ticket.id,
        survey="csat",
        question="How satisfied are you?",
        language=language,
        send_at=desk.clock.now(),
    )
    desk.cases.fire(opened.id, "send")
    payload: dict[str, Any] = {"score": score, "reason": reason, "comment": comment}
    return desk.cases.fire(opened.id, "answer", payload=payload)


def visit(
    desk: Desk,
    *,
    answers: dict[str, str],
    note: str | None = None,
    problem: bool = False,
    sku: str | None = "PHONE-7",
    channel: str = "phone",
    language: str = "en",
) -> Case:
    """A return visit of a resolved ticket that reaches the customer now."""
    ticket = _ticket(desk, sku=sku, channel=channel)
    opened = desk.cases.open(
        "return_visit",
        ticket.id,
        subject_id=ticket.id,
        subject_kind="ticket",
        delay_hours=0,
        language=language,
        script=[{"id": "working", "text": "Is it working?"}, {"id": "how", "text": "How was it?"}],
    )
    trigger = "problem_persists" if problem else "satisfied"
    payload: dict[str, Any] = {"answers": answers, "note": note}
    return desk.cases.fire(opened.id, trigger, payload=payload)


def analysed(store: Store, **options: Any) -> FeedbackTopics:
    return feedback_topics(store, MONDAY, END, **options)


def repaired(desk: Desk) -> tuple[Ticket, Case]:
    """A phone repaired and closed on a ticket that names no order line: its product is
    the repair's line (SKU-phone)."""
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="My phone reboots")
    desk.classify(ticket.id, category="repair_warranty", severity="medium")
    desk.fire(ticket.id, "assign", payload={"assignee": "li.wei", "team": "repairs"})
    desk.fire(ticket.id, "start")
    line = phone(
        purchased="2026-01-10T10:00:00+08:00",
        delivered="2026-01-11T10:00:00+08:00",
        claim_at="2026-03-02T09:00:00+08:00",
    )
    repair = desk.cases.open_repair(ticket.id, serial="IMEI-7", line=line, order_id="o-7")
    for trigger, payload in (
        ("hand_in", {"site": "depot"}),
        ("diagnose", {"diagnosis": "loose battery connector"}),
        ("start_repair", None),
        ("finish_repair", None),
        ("pass_qc", None),
        ("hand_back", None),
        ("close", None),
    ):
        desk.cases.fire(repair.id, trigger, payload=payload)
    return ticket, desk.cases.get(repair.id)


# ---------------------------------------------------------------------- topics


def test_english_and_chinese_feedback_gets_the_classifiers_topic_and_its_keywords(
    desk: Desk, store: Store
) -> None:
    survey(desk, score=1, reason="Late delivery", comment="The couriers were late, twice!")
    survey(desk, score=2, reason="电池不耐用", comment="快递太慢了", language="zh")
    result = analysed(store)
    said = {text.text: text for text in result.texts}
    assert (said["Late delivery"].topic, said["Late delivery"].keywords) == (
        "delivery",
        ("late", "delivery"),
    )
    comment = said["The couriers were late, twice!"]
    assert (comment.source, comment.topic, comment.keywords) == (
        "survey_comment",
        "delivery",
        ("courier", "late", "twice"),
    )
    battery = said["电池不耐用"]
    assert (battery.source, battery.language, battery.topic) == (
        "survey_reason",
        "zh",
        "repair_warranty",
    )
    assert battery.keywords[0] == "电池"
    assert (said["快递太慢了"].topic, said["快递太慢了"].keywords[0]) == ("delivery", "快递")
    limited = analysed(store, keywords_per_text=2).texts
    assert [text.keywords for text in limited][:2] == [("late", "delivery"), ("courier", "late")]
    delivery = result.topic("delivery")
    assert delivery is not None
    assert (delivery.texts, delivery.negative) == (3, 3)
    assert delivery.keywords[0] == ("late", 2)
    assert [count.topic for count in result.topics] == ["delivery", "repair_warranty"]


def test_return_visit_answers_and_notes_are_feedback_but_a_bare_yes_is_not(
    desk: Desk, store: Store
) -> None:
    visit(
        desk,
        answers={"working": "No", "how": "Still not working after the repair"},
        note="The screen flickers again",
        problem=True,
    )
    visit(desk, answers={"working": "yes", "how": "是的"})
    result = analysed(store)
    assert [(text.source, text.question, text.text) for text in result.texts] == [
        ("visit_answer", "how", "Still not working after the repair"),
        ("visit_note", None, "The screen flickers again"),
    ]
    assert all(text.negative and text.score is None for text in result.texts)
    assert result.texts[0].topic == "repair_warranty"
    assert result.texts[1].keywords == ("screen", "flicker")


def test_the_desks_classifier_names_the_topics(desk: Desk, store: Store) -> None:
    class Battery:
        """A desk's own model: anything about the battery is a topic of its own."""

        def classify(self, text: str, context: InquiryContext | None = None) -> Classification:
            category = "battery" if "电池" in text or "battery" in text else "other"
            return Classification(category, Severity.LOW, 1.0)

    survey(desk, score=2, reason="电池不耐用", language="zh")
    survey(desk, score=1, reason="The battery drains overnight")
    result = analysed(store, classifier=Battery())
    (battery,) = result.topics
    assert (battery.topic, battery.texts, battery.negative) == ("battery", 2, 2)
    assert ("battery", 1) in battery.keywords
    assert ("电池", 1) in battery.keywords


# ---------------------------------------------------------------------- trends


def test_topics_are_counted_per_iso_week_product_and_channel(
    desk: Desk, store: Store, clock: FrozenClock
) -> None:
    survey(desk, score=1, reason="Late delivery", sku="KETTLE-1", channel="email")
    survey(desk, score=5, comment="fast delivery, thanks", sku="PHONE-7", channel="wechat")
    clock.advance(days=7, hours=3)
    survey(desk, score=2, reason="The courier lost my parcel", sku="KETTLE-1", channel="email")
    visit(desk, answers={"how": "invoice was wrong"}, sku=None, channel="phone", problem=True)
    result = analysed(store)
    weeks = [(row.key, row.topic, row.texts, row.negative) for row in result.by_week]
    assert weeks == [
        ("2026-W10", "delivery", 2, 1),
        ("2026-W11", "billing_invoice", 1, 1),
        ("2026-W11", "delivery", 1, 1),
    ]
    products = [(row.key, row.topic, row.texts, row.negative) for row in result.by_product]
    assert products == [
        ("KETTLE-1", "delivery", 2, 2),
        ("PHONE-7", "delivery", 1, 0),
        (None, "billing_invoice", 1, 1),
    ]
    channels = [(row.key, row.topic, row.texts) for row in result.by_channel]
    assert channels == [
        ("email", "delivery", 2),
        ("phone", "billing_invoice", 1),
        ("wechat", "delivery", 1),
    ]


def test_feedback_on_a_case_counts_under_that_cases_product(desk: Desk, store: Store) -> None:
    ticket, repair = repaired(desk)
    opened = desk.cases.open(
        "survey",
        ticket.id,
        survey="csat",
        question="How was the repair?",
        language="zh",
        send_at=desk.clock.now(),
        subject_id=repair.id,
        subject_kind="repair",
    )
    desk.cases.fire(opened.id, "send")
    desk.cases.fire(opened.id, "answer", payload={"score": 2, "reason": "修好又坏了"})
    (text,) = analysed(store).texts
    assert (text.sku, text.channel, text.topic) == ("SKU-phone", "app", "repair_warranty")


def test_only_the_period_and_the_language_asked_are_read(
    desk: Desk, store: Store, clock: FrozenClock
) -> None:
    clock.set(MONDAY - timedelta(minutes=1))
    survey(desk, score=1, reason="Too early: late delivery")
    visit(desk, answers={"how": "Too early: the repair failed"}, problem=True)  # still open
    ticket = _ticket(desk, sku=None, channel="email")
    after_the_end = desk.cases.open(
        "survey",
        ticket.id,
        survey="csat",
        question="How satisfied are you?",
        language="en",
        send_at=MONDAY,
        response_hours=30 * 24,
    )
    clock.set(MONDAY)
    desk.cases.fire(after_the_end.id, "send")
    survey(desk, score=1, reason="Late delivery")
    survey(desk, score=2, reason="快递太慢", language="zh-CN")
    clock.set(END)
    survey(desk, score=1, reason="Too late: late delivery")
    payload = {"score": 1, "reason": "Answered too late: late delivery"}
    desk.cases.fire(after_the_end.id, "answer", payload=payload)
    assert [text.text for text in analysed(store).texts] == ["Late delivery", "快递太慢"]
    assert [text.text for text in analysed(store, language="zh").texts] == ["快递太慢"]
    assert [text.text for text in analysed(store, language="en-GB").texts] == ["Late delivery"]


# ---------------------------------------------------------------------- low scores


def test_the_reasons_of_low_scores_are_counted_with_redacted_examples(
    desk: Desk, store: Store
) -> None:
    survey(
        desk,
        score=1,
        reason="Late delivery!",
        comment="Two weeks late. Call me on 13812345678",
    )
    survey(desk, score=2, reason="late  delivery", comment="mail li.lei@example.com")
    survey(desk, score=1, reason="送貨太慢。", language="zh")
    survey(desk, score=5, reason="Late delivery", comment="but a great kettle")  # not negative
    survey(desk, score=1, reason="?!")  # says nothing: no text, no reason
    visit(desk, answers={"how": "不好"}, note="师傅态度很差", problem=True, language="zh")
    result = analysed(store)
    reasons = [(row.reason, row.topic, row.answers) for row in result.low_score_reasons]
    assert reasons == [
        ("late delivery", "delivery", 2),
        ("师傅态度很差", "complaint", 1),
        ("送货太慢", "delivery", 1),
    ]
    assert result.low_score_reasons[0].examples == (
        "Two weeks late. Call me on [phone]",
        "mail [email]",
    )
    assert "13812345678" not in repr(result)
    assert "li.lei@example.com" not in repr(result)
    keywords = {word for text in result.texts for word in text.keywords}
    assert not keywords & {"li", "lei", "example", "com", "13812345678"}
    low = [(count.topic, count.negative) for count in result.low_score_topics]
    assert low == [("delivery", 3), ("other", 3), ("complaint", 1)]


def test_a_redactor_of_the_desks_settings_redacts_the_texts(desk: Desk, store: Store) -> None:
    survey(desk, score=1, reason="Late delivery", comment="call 13812345678")
    masked = Redactor(RedactionSettings(style="mask"))
    result = analysed(store, redactor=masked)
    assert [text.text for text in result.texts] == ["Late delivery", "call 138****5678"]
    assert result.low_score_reasons[0].examples == ("call 138****5678",)


def test_erased_texts_are_left_out(desk: Desk, store: Store) -> None:
    survey(desk, score=1, reason="Late delivery", comment="the courier was rude", customer="c-9")
    survey(desk, score=2, reason="Broken lid", customer="c-2")
    desk.erase_customer("c-9")
    result = analysed(store)
    assert [text.text for text in result.texts] == ["Broken lid"]
    assert result.erased == 2
    assert [row.reason for row in result.low_score_reasons] == ["broken lid"]


# ---------------------------------------------------------------------- stores, extras


def _history(desk: Desk, clock: FrozenClock) -> None:
    survey(desk, score=1, reason="Late delivery", comment="the courier was late")
    survey(desk, score=2, reason="电池不耐用", comment="用了两天就没电了", language="zh")
    clock.advance(days=8)
    ticket, repair = repaired(desk)
    opened = desk.cases.open(
        "return_visit",
        ticket.id,
        subject_id=repair.id,
        subject_kind="repair",
        delay_hours=0,
        language="zh",
    )
    answers = {"working": "还是坏了，会自动重启", "on_time": "准时"}
    desk.cases.fire(opened.id, "problem_persists", payload={"answers": answers, "note": "换主板"})
    visit(desk, answers={"how": "great service, thanks"})


def _seen(result: FeedbackTopics) -> tuple[object, ...]:
    """The analysis without the generated ids (each store makes its own)."""
    texts = sorted(
        (t.source, t.question, t.text, t.at, t.week, t.sku, t.channel, t.topic, t.keywords)
        for t in result.texts
    )
    return (
        texts,
        result.topics,
        result.by_week,
        result.by_product,
        result.by_channel,
        result.low_score_reasons,
        result.erased,
    )


class _OtherStore:
    """A store of another make (here a MemoryStore behind a proxy): read through the
    public API."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_every_store_gives_the_same_analysis(tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy")
    from aftersales.storage.sqlalchemy import SQLAlchemyStore

    stores: list[Store] = [
        MemoryStore(),
        SQLiteStore(tmp_path / "same.db"),
        SQLAlchemyStore(f"sqlite:///{tmp_path / 'same-sa.db'}"),
    ]
    seen = []
    for made in stores:
        clock = FrozenClock(MONDAY)
        _history(Desk(made, clock=clock), clock)
        seen.append(_seen(analysed(made)))
    seen.append(_seen(analysed(_OtherStore(stores[0]))))
    for made in stores:
        made.close()
    assert seen[0] == seen[1] == seen[2] == seen[3]
    texts = seen[0][0]
    assert isinstance(texts, list)
    assert len(texts) == 8
    repair_answer = next(text for text in texts if text[1] == "working")
    assert repair_answer[5:8] == ("SKU-phone", "app", "repair_warranty")


def test_without_jieba_chinese_is_cut_into_character_pairs(
    desk: Desk, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    survey(desk, score=2, reason="电池不耐用", comment="退款还没到账", language="zh")
    monkeypatch.setitem(sys.modules, "jieba", None)  # import jieba now raises ImportError
    result = analysed(store)
    assert result.segmentation == "bigrams"
    assert [(text.topic, text.keywords) for text in result.texts] == [
        ("repair_warranty", ("电池", "耐用")),
        ("return_refund", ("退款", "到账")),
    ]


def test_with_jieba_chinese_is_cut_into_dictionary_words(desk: Desk, store: Store) -> None:
    pytest.importorskip("jieba")
    survey(desk, score=2, reason="产品质量不好，用了两天就坏了", language="zh")
    result = analysed(store)
    assert result.segmentation == "jieba"
    (text,) = result.texts
    assert text.keywords[:2] == ("产品质量", "不好")
    assert "两天" in text.keywords


def test_bad_input_is_refused_naming_each_field(store: Store) -> None:
    with pytest.raises(InvalidInput) as refused:
        feedback_topics(
            store,
            END,
            MONDAY,
            classifier=object(),  # type: ignore[arg-type]
            language=" ",
            redactor="mask",  # type: ignore[arg-type]
            keywords_per_text=0,
            top_keywords=True,
            examples=101,
        )
    fields = sorted(str(error.location[0]) for error in refused.value.errors)
    assert fields == [
        "classifier",
        "examples",
        "keywords_per_text",
        "language",
        "period_to",
        "redactor",
        "top_keywords",
    ]
    with pytest.raises(InvalidInput):
        feedback_topics(store, datetime(2026, 3, 2), END)  # a naive instant


def test_a_store_of_another_make_is_read_a_page_of_cases_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aftersales.insights import _feedback_read

    store = MemoryStore()
    clock = FrozenClock(MONDAY)
    _history(Desk(store, clock=clock), clock)
    monkeypatch.setattr(_feedback_read, "_PAGE", 1)  # a page per case
    assert _seen(analysed(_OtherStore(store))) == _seen(analysed(store))
