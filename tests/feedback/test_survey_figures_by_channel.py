"""Survey figures per channel the surveys were sent on, and filtered by channel: the same
counts on MemoryStore, SQLite and the SQL servers (the report groups and filters its
survey figures with them)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from aftersales import Desk, FrozenClock, InvalidInput, MemoryStore, SQLiteStore, Store
from aftersales.feedback import SurveyDetails, SurveyType, survey_figures, survey_figures_by_channel

START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
RULES = [
    {"kinds": ["ticket"], "channels": ["email"], "survey": "nps", "delay_hours": 24},
    {"kinds": ["ticket"], "channels": ["wechat"], "survey": "nps", "delay_hours": 24},
    {"kinds": ["ticket"], "channels": ["sms"], "survey": "csat", "delay_hours": 24},
]
SCORES = {"email": [10, 9, 2], "wechat": [10, 8], "sms": [5, 1]}


@pytest.fixture(params=["memory", "sqlite", "postgresql", "mariadb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        made: Store = MemoryStore()
    elif request.param == "sqlite":
        made = SQLiteStore(tmp_path / "surveys.db")
    else:
        pytest.importorskip("sqlalchemy")
        from test_sqlalchemy_store import fresh_store, server_url

        made = fresh_store(server_url(request.param))
    yield made
    made.close()


def answered(store: Store) -> datetime:
    """Surveys of tickets on three channels, answered with ``SCORES``; when answered."""
    clock = FrozenClock(START)
    desk = Desk(store, clock=clock, surveys={"rules": RULES})
    scored = []
    for channel, scores in SCORES.items():
        for index, score in enumerate(scores):
            ticket = desk.open_ticket(
                customer=f"{channel}-{index}", channel=channel, subject="The kettle leaks"
            )
            desk.classify(ticket.id, category="repair_warranty", severity="medium")
            desk.fire(ticket.id, "assign", payload={"assignee": "li.agent"})
            desk.fire(ticket.id, "start")
            desk.fire(ticket.id, "resolve", payload={"resolution": "replaced the seal"})
            scored.append((ticket.id, score))
    clock.advance(hours=25)
    desk.run_due()
    assert desk.surveys is not None
    for ticket_id, score in scored:
        (survey,) = [c for c in desk.cases.for_ticket(ticket_id) if c.kind.value == "survey"]
        assert isinstance(survey.details, SurveyDetails)
        assert survey.details.token is not None
        desk.surveys.answer(survey.details.token, score=score, reason="the seal")
    return clock.now()


def test_figures_per_channel_add_up_to_the_figures_of_every_channel(store: Store) -> None:
    at = answered(store)
    by_channel = survey_figures_by_channel(store)
    assert list(by_channel) == ["email", "sms", "wechat"]
    email, wechat = by_channel["email"][SurveyType.NPS], by_channel["wechat"][SurveyType.NPS]
    assert (email.answers, email.promoters, email.detractors, email.score) == (
        3,
        2,
        1,
        100 / 3,
    )
    assert (wechat.answers, wechat.score, wechat.distribution) == (2, 50.0, {8: 1, 10: 1})
    assert list(by_channel["sms"]) == [SurveyType.CSAT]
    assert by_channel["sms"][SurveyType.CSAT].score == 50.0
    every = survey_figures(store)
    assert every[SurveyType.NPS].answers == email.answers + wechat.answers
    assert every[SurveyType.NPS].distribution == {2: 1, 8: 1, 9: 1, 10: 2}
    assert survey_figures_by_channel(store, answered_to=at) == {}


def test_a_channel_filter_counts_the_surveys_sent_on_those_channels(store: Store) -> None:
    answered(store)
    email = survey_figures(store, channel=["email"])
    assert email == survey_figures_by_channel(store)["email"]
    both = survey_figures(store, channel=("email", "sms"))
    assert (both[SurveyType.NPS].answers, both[SurveyType.CSAT].answers) == (3, 2)
    assert survey_figures(store, channel="wechat")[SurveyType.NPS].answers == 2
    assert list(survey_figures_by_channel(store, channel=["sms", "wechat"])) == ["sms", "wechat"]
    assert survey_figures(store, channel=["phone"]) == {}


def test_an_unknown_channel_is_refused() -> None:
    with pytest.raises(InvalidInput, match="channel"):
        survey_figures(MemoryStore(), channel=["pigeon"])
