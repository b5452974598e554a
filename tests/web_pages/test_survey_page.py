"""The survey page: the question of its kind on its scale, one answer, the thanks, and a
clear page for a link that cannot be answered."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from page_shop import PREFIX, Shop, form_field

from aftersales import Customer
from aftersales.exceptions import SurveyTokenRefused


def scores(html: str) -> list[int]:
    return [int(value) for value in re.findall(r'name="score" value="(\d+)"', html)]


@pytest.mark.parametrize(
    ("channel", "question", "scale", "hint"),
    [
        (
            "email",
            "How satisfied are you with how we handled your request?",
            list(range(1, 6)),
            "1 = very dissatisfied, 5 = very satisfied",
        ),
        (
            "wechat",
            "How likely are you to recommend us to a friend or colleague?",
            list(range(11)),
            "0 = not at all likely, 10 = extremely likely",
        ),
        (
            "sms",
            "How easy was it to get your issue handled?",
            list(range(1, 8)),
            "1 = very difficult, 7 = very easy",
        ),
    ],
)
def test_each_kind_of_survey_asks_its_question_on_its_scale(
    shop: Shop, channel: str, question: str, scale: list[int], hint: str
) -> None:
    ticket = shop.desk.open_ticket(customer="c-1", channel=channel, subject="Kettle leaks")
    token = shop.survey_token(ticket)
    page = shop.client.get(f"{PREFIX}/s/{token}")
    assert page.status_code == 200
    assert f'<legend lang="en">{question}</legend>' in page.text
    assert scores(page.text) == scale
    assert hint in page.text
    assert '<label for="reason">What could we have done better?</label>' in page.text


def test_an_answer_is_recorded_and_thanked_for_once(shop: Shop) -> None:
    token = shop.survey_token(shop.ticket)
    page = shop.client.get(f"{PREFIX}/s/{token}").text
    data = {
        "score": "4",
        "comment": "Quick <b>fix</b>",
        "form_token": form_field(page, "form_token"),
    }
    sent = shop.client.post(f"{PREFIX}/s/{token}", data=data, follow_redirects=False)
    assert sent.status_code == 303
    assert sent.headers["location"] == f"{PREFIX}/s/{token}/thanks"
    (survey,) = [c for c in shop.desk.cases.for_ticket(shop.ticket.id) if c.kind.value == "survey"]
    assert survey.status == "answered"
    assert (survey.details.score, survey.details.comment) == (4, "Quick <b>fix</b>")  # type: ignore[union-attr]
    thanks = shop.client.get(sent.headers["location"])
    assert (thanks.status_code, "Thank you for your answer." in thanks.text) == (200, True)
    again = shop.client.get(f"{PREFIX}/s/{token}")
    assert again.status_code == 410
    assert "This survey has been answered already." in again.text
    twice = shop.client.post(f"{PREFIX}/s/{token}", data={**data, "score": "1"})
    assert twice.status_code == 410
    assert survey == shop.desk.cases.get(survey.id)  # the second answer changed nothing


def test_a_negative_answer_needs_its_reason_and_keeps_what_was_entered(shop: Shop) -> None:
    token = shop.survey_token(shop.ticket)
    page = shop.client.get(f"{PREFIX}/s/{token}").text
    assert "Needed for an answer below 3." in page
    data = {"score": "2", "comment": "Took a week", "form_token": form_field(page, "form_token")}
    refused = shop.client.post(f"{PREFIX}/s/{token}", data=data)
    assert refused.status_code == 400
    assert "Please tell us what went wrong." in refused.text
    assert 'value="2" checked' in refused.text
    assert ">Took a week</textarea>" in refused.text
    assert shop.client.get(f"{PREFIX}/s/{token}").status_code == 200  # still open
    data["reason"] = "slow"
    assert shop.client.post(f"{PREFIX}/s/{token}", data=data).status_code == 200


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"score": ""}, "score", "Please choose an answer."),
        ({"score": "abc"}, "score", "Please choose an answer."),
        ({"score": "9"}, "score", "Please choose an answer."),  # off a CSAT's 1-5
        ({"reason": "x" * 201}, "reason", "Please keep this under 200 characters."),
        ({"reason": "bad\x00byte"}, "reason", "Please check this answer."),
        ({"comment": "x" * 10_001}, "comment", "Please keep this under 10000 characters."),
        ({"form_token": "1.forged"}, "form", "This form has expired."),
    ],
)
def test_a_bad_answer_is_named_and_stores_nothing(
    shop: Shop, changes: dict[str, str], field: str, message: str
) -> None:
    token = shop.survey_token(shop.ticket)
    page = shop.client.get(f"{PREFIX}/s/{token}").text
    data = {"score": "5", "form_token": form_field(page, "form_token"), **changes}
    refused = shop.client.post(f"{PREFIX}/s/{token}", data=data)
    assert refused.status_code == 400
    assert message in refused.text
    if field != "form":
        assert f'<a href="#{field}">{message}</a>' in refused.text
    assert shop.client.get(f"{PREFIX}/s/{token}").status_code == 200  # not answered


def test_a_forged_or_unknown_token_shows_an_invalid_link(shop: Shop) -> None:
    token = shop.survey_token(shop.ticket)
    encoded, expires, nonce, signature = token.split(".")
    for forged in (
        f"{encoded}.{int(expires) + 1}.{nonce}.{signature}",
        "garbage",
        shop.link().rsplit("/", 1)[1],  # a ticket link's token is no survey token
    ):
        for response in (
            shop.client.get(f"{PREFIX}/s/{forged}"),
            shop.client.post(f"{PREFIX}/s/{forged}", data={"score": "5"}),
            shop.client.get(f"{PREFIX}/s/{forged}/thanks"),
        ):
            assert response.status_code == 404
            assert "This link is not valid" in response.text


def test_a_token_of_a_survey_gone_or_replaced_is_invalid(shop: Shop) -> None:
    from aftersales.cases.surveys import survey_key, survey_token

    key = survey_key(shop.desk.settings)
    token = shop.survey_token(shop.ticket)
    (survey,) = [c for c in shop.desk.cases.for_ticket(shop.ticket.id) if c.kind.value == "survey"]
    expires = survey.details.expires_at  # type: ignore[union-attr]
    for other in (
        survey_token(key, "no-such-survey", expires, "nonce"),  # signed, names nothing
        survey_token(key, survey.id, expires, "another-nonce"),  # not the one sent
        survey_token(key, shop.ticket.id, expires, "nonce"),  # a ticket, not a survey
    ):
        assert shop.client.get(f"{PREFIX}/s/{other}").status_code == 404
    assert shop.client.get(f"{PREFIX}/s/{token}").status_code == 200


def test_an_expired_survey_says_so(shop: Shop) -> None:
    token = shop.survey_token(shop.ticket)
    shop.clock.advance(days=8)  # past the default week to answer
    page = shop.client.get(f"{PREFIX}/s/{token}")
    assert page.status_code == 410
    assert "The time to answer this survey has passed." in page.text
    shop.desk.run_due()  # the survey expires
    assert shop.client.get(f"{PREFIX}/s/{token}").status_code == 410


def test_a_survey_that_expires_while_the_form_is_open_says_so(shop: Shop) -> None:
    token = shop.survey_token(shop.ticket)
    page = shop.client.get(f"{PREFIX}/s/{token}").text
    shop.clock.advance(hours=7 * 24 - 1)
    data = {"score": "5", "form_token": form_field(page, "form_token")}
    late = shop.client.post(f"{PREFIX}/s/{token}", data=data)
    assert late.status_code == 400  # the form's own two hours passed first
    shop.clock.advance(minutes=59, seconds=59)
    data["form_token"] = form_field(late.text, "form_token")
    shop.clock.advance(seconds=1)
    refused = shop.client.post(f"{PREFIX}/s/{token}", data=data)
    assert refused.status_code == 410
    assert "The time to answer this survey has passed." in refused.text


@pytest.mark.parametrize("on_record", [False, True])
def test_an_erased_customers_survey_says_it_was_withdrawn(shop: Shop, on_record: bool) -> None:
    if on_record:
        shop.desk.save_customer(Customer(id="c-1", name="Ann Lee"))
    token = shop.survey_token(shop.ticket)
    shop.desk.erase_customer("c-1", actor="dpo")
    page = shop.client.get(f"{PREFIX}/s/{token}")
    assert page.status_code == 410
    assert "This survey was withdrawn." in page.text


def test_a_cancelled_survey_says_it_was_withdrawn(shop: Shop) -> None:
    token = shop.survey_token(shop.ticket)
    (survey,) = [c for c in shop.desk.cases.for_ticket(shop.ticket.id) if c.kind.value == "survey"]
    shop.desk.cases.fire(survey.id, "cancel")
    page = shop.client.get(f"{PREFIX}/s/{token}")
    assert (page.status_code, "This survey was withdrawn." in page.text) == (410, True)


def test_an_answer_that_loses_a_race_says_the_survey_is_answered(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = shop.survey_token(shop.ticket)
    page = shop.client.get(f"{PREFIX}/s/{token}").text
    surveys = shop.desk.surveys
    assert surveys is not None

    def answered_meanwhile(token: str, **answer: object) -> None:
        raise SurveyTokenRefused("used", "this survey has been answered already")

    monkeypatch.setattr(surveys, "answer", answered_meanwhile)
    data = {"score": "5", "form_token": form_field(page, "form_token")}
    refused = shop.client.post(f"{PREFIX}/s/{token}", data=data)
    assert (refused.status_code, "answered already" in refused.text) == (410, True)


def test_the_thanks_page_is_only_for_an_answered_survey(shop: Shop) -> None:
    token = shop.survey_token(shop.ticket)
    assert shop.client.get(f"{PREFIX}/s/{token}/thanks").status_code == 404


def test_a_desk_without_surveys_has_no_survey_page(make_shop: Callable[..., Shop]) -> None:
    shop = make_shop()
    token = shop.survey_token(shop.ticket)
    bare = make_shop()
    bare.desk.surveys = None
    assert bare.client.get(f"{PREFIX}/s/{token}").status_code == 404


def test_a_survey_in_chinese_is_asked_on_a_chinese_page(shop: Shop) -> None:
    shop.desk.save_customer(Customer(id="c-zh", name="李伟", language="zh-CN"))
    ticket = shop.desk.open_ticket(customer="c-zh", channel="email", subject="水壶漏水")
    token = shop.survey_token(ticket)
    page = shop.client.get(f"{PREFIX}/s/{token}").text
    assert '<html lang="zh">' in page
    assert '<legend lang="zh">您对本次服务的处理结果满意吗？</legend>' in page
    assert "1 = 非常不满意，5 = 非常满意" in page
    english = shop.client.get(f"{PREFIX}/s/{token}?lang=en").text
    assert '<html lang="en">' in english
    assert '<legend lang="zh">您对本次服务的处理结果满意吗？</legend>' in english
