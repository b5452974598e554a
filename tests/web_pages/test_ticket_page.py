"""The ticket page: what its customer sees through a signed link, what nobody else sees,
and the customer's reply."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi import FastAPI
from page_shop import HEADPHONES, PREFIX, SECRET, Shop, TestClient, form_field, without_grant

from aftersales import MessageKind
from aftersales.security import default_permissions
from aftersales.web.pages import SECURITY_HEADERS, customer_pages, ticket_link
from aftersales.web.pages import _ticket as ticket_module


def test_the_customer_sees_the_status_and_public_messages(shop: Shop) -> None:
    page = shop.client.get(shop.link())
    assert page.status_code == 200
    html = page.text
    assert '<html lang="en">' in html
    assert "<title>Your request #1 · Customer service</title>" in html
    assert "Received" in html  # the status as the customer reads it
    assert "Sorry to hear that! Could you try the other cable?" in html
    assert "The left side is silent" in html


def test_internal_notes_and_staff_logins_are_never_shown(shop: Shop) -> None:
    html = shop.client.get(shop.link()).text
    assert "refund limit 500" not in html
    assert "angry" not in html
    assert "li.agent" not in html  # the service team answers, not a login
    notes = shop.desk.messages(shop.ticket.id, include_internal=True)
    assert MessageKind.INTERNAL_NOTE in {note.kind for note in notes}  # it is there


def test_text_the_customer_wrote_is_escaped(shop: Shop) -> None:
    html = shop.client.get(shop.link()).text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html
    assert "Headphones &lt;b&gt;buzz&lt;/b&gt;" in html


def test_every_page_sends_the_headers_of_a_page_with_a_secret_in_its_url(shop: Shop) -> None:
    for response in (
        shop.client.get(shop.link()),
        shop.client.get(shop.link() + "x"),
        shop.client.post(shop.link() + "/reply", data={"body": "hi"}),
    ):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
    assert "script-src" not in SECURITY_HEADERS["Content-Security-Policy"]  # none at all


def test_a_forged_link_shows_a_clear_404_without_the_tickets_data(shop: Shop) -> None:
    token = shop.link().rsplit("/", 1)[1]
    encoded, expires, signature = token.split(".")
    later = f"{PREFIX}/t/{encoded}.{int(expires) + 999}.{signature}"
    for path in (later, f"{PREFIX}/t/garbage", later + "/return", later + "/return/x"):
        page = shop.client.get(path)
        assert page.status_code == 404, path
        assert "This link is not valid" in page.text
        assert "buzz" not in page.text
        assert "silent" not in page.text


def test_an_expired_link_shows_a_clear_403_without_the_tickets_data(shop: Shop) -> None:
    link = shop.link(days=1)
    shop.clock.advance(days=1)
    page = shop.client.get(link)
    assert page.status_code == 403
    assert "<h1>Link expired</h1>" in page.text
    assert "buzz" not in page.text
    reply = shop.client.post(link + "/reply", data={"body": "still there?", "form_token": "x"})
    assert reply.status_code == 403
    assert "?lang=zh" not in reply.text  # no language link to an address that takes posts
    for response in (
        shop.client.get(link + "/return"),
        shop.client.post(link + "/return", data={"action": "submit"}),
        shop.client.get(link + "/return/x"),
    ):
        assert (response.status_code, "Link expired" in response.text) == (403, True)
    assert [m.body for m in shop.desk.messages(shop.ticket.id)][-1] != "still there?"


def test_another_customers_ticket_is_unreachable_with_my_link(shop: Shop) -> None:
    mine = shop.link().rsplit("/", 1)[1]
    _, expires, signature = mine.split(".")
    theirs = base64.urlsafe_b64encode(shop.other.id.encode()).rstrip(b"=").decode()
    page = shop.client.get(f"{PREFIX}/t/{theirs}.{expires}.{signature}")
    assert page.status_code == 404
    assert "Invoice" not in page.text
    assert "Berlin" not in page.text
    # the other customer's own link shows only theirs
    their_page = shop.client.get(shop.link(shop.other)).text
    assert "Berlin" in their_page
    assert "silent" not in their_page


def test_a_link_to_a_ticket_that_is_gone_is_invalid(shop: Shop) -> None:
    expires = shop.clock.now() + timedelta(days=1)
    link = ticket_link(PREFIX, "no-such-ticket", secret=SECRET, expires_at=expires)
    for response in (
        shop.client.get(link),
        shop.client.get(link + "/return"),
        shop.client.post(link + "/return", data={}),
        shop.client.get(link + "/return/x"),
        shop.client.post(link + "/reply", data={"body": "hello"}),
    ):
        assert response.status_code == 404
        assert "This link is not valid" in response.text


def test_the_customer_replies_and_is_sent_back_to_the_page(shop: Shop) -> None:
    page = shop.client.get(shop.link()).text
    sent = shop.client.post(
        shop.link() + "/reply",
        data={
            "body": "  Tried it: still <i>silent</i>  ",
            "form_token": form_field(page, "form_token"),
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303  # see other: reloading the page posts nothing again
    assert sent.headers["location"] == shop.link() + "?sent=1"
    reply = shop.desk.messages(shop.ticket.id)[-1]
    assert (reply.body, reply.author_id, reply.author_role.value) == (
        "Tried it: still <i>silent</i>",
        "customer:c-1",
        "customer",
    )
    shown = shop.client.get(sent.headers["location"]).text
    assert "Your reply was sent. Thank you." in shown
    assert "Tried it: still &lt;i&gt;silent&lt;/i&gt;" in shown


def test_a_reply_resumes_a_ticket_waiting_on_the_customer(shop: Shop) -> None:
    desk = shop.desk
    desk.classify(shop.ticket.id, category="repair_warranty", severity="medium")
    desk.fire(shop.ticket.id, "assign", payload={"assignee": "li.agent"})
    desk.fire(shop.ticket.id, "start")
    desk.fire(shop.ticket.id, "wait_for_customer")
    page = shop.client.get(shop.link()).text
    assert "Waiting for your reply" in page
    data = {"body": "Here is the photo", "form_token": form_field(page, "form_token")}
    shop.client.post(shop.link() + "/reply", data=data)
    assert desk.get(shop.ticket.id).status == "in_progress"


def test_a_reply_without_a_valid_form_token_stores_nothing(shop: Shop) -> None:
    before = shop.desk.messages(shop.ticket.id)
    for token in (
        "",
        "1.forged",
        form_field(shop.client.get(shop.link(shop.other)).text, "form_token"),
    ):
        refused = shop.client.post(shop.link() + "/reply", data={"body": "hi", "form_token": token})
        assert refused.status_code == 400
        assert "This form has expired" in refused.text
        assert 'name="body" rows="5" required aria-invalid="true">hi</textarea>' in refused.text
    assert shop.desk.messages(shop.ticket.id) == before


def test_a_form_older_than_its_minutes_is_shown_again_with_a_fresh_token(shop: Shop) -> None:
    token = form_field(shop.client.get(shop.link()).text, "form_token")
    shop.clock.advance(minutes=121)
    refused = shop.client.post(shop.link() + "/reply", data={"body": "late", "form_token": token})
    assert refused.status_code == 400
    fresh = form_field(refused.text, "form_token")
    assert fresh != token
    sent = shop.client.post(shop.link() + "/reply", data={"body": "late", "form_token": fresh})
    assert sent.status_code == 200  # followed the redirect
    assert shop.desk.messages(shop.ticket.id)[-1].body == "late"


def test_an_empty_or_too_long_reply_is_refused(make_shop: Callable[..., Shop]) -> None:
    shop = make_shop(max_reply=20)
    before = shop.desk.messages(shop.ticket.id)
    for body, message in (("   ", "Please write a reply."), ("x" * 21, "under 20 characters")):
        token = form_field(shop.client.get(shop.link()).text, "form_token")
        refused = shop.client.post(shop.link() + "/reply", data={"body": body, "form_token": token})
        assert refused.status_code == 400
        assert message in refused.text
    assert shop.desk.messages(shop.ticket.id) == before


def test_a_closed_ticket_shows_its_messages_and_takes_no_reply(shop: Shop) -> None:
    token = form_field(shop.client.get(shop.link()).text, "form_token")
    shop.desk.fire(shop.ticket.id, "cancel", payload={"reason": "solved by phone"})
    page = shop.client.get(shop.link()).text
    assert "This request is closed." in page
    assert 'name="body"' not in page
    assert "Request a return" not in page
    assert shop.client.get(shop.link() + "/return").status_code == 404
    refused = shop.client.post(shop.link() + "/reply", data={"body": "hi", "form_token": token})
    assert refused.status_code == 400
    assert shop.desk.messages(shop.ticket.id)[-1].body != "hi"


def test_a_reply_to_a_merged_ticket_goes_where_it_was_merged_if_it_is_the_same_customers(
    shop: Shop,
) -> None:
    desk = shop.desk
    kept = desk.open_ticket(customer="c-1", channel="email", subject="Headphones again")
    desk.merge(shop.ticket.id, into=kept.id)
    shop.clock.advance(minutes=1)
    page = shop.client.get(shop.link()).text
    assert "Headphones again" in page  # the kept ticket, with the merged one's messages
    assert "Could you try the other cable?" in page
    data = {"body": "Any news?", "form_token": form_field(page, "form_token")}
    shop.client.post(shop.link() + "/reply", data=data)
    assert [m.body for m in desk.messages(kept.id)][-1] == "Any news?"


def test_a_ticket_merged_into_another_customers_takes_no_reply(shop: Shop) -> None:
    desk = shop.desk
    token = form_field(shop.client.get(shop.link()).text, "form_token")
    desk.merge(shop.ticket.id, into=shop.other.id)
    page = shop.client.get(shop.link()).text
    assert 'name="body"' not in page
    assert "Berlin" not in page  # the other customer's messages stay theirs
    shop.client.post(shop.link() + "/reply", data={"body": "Any news?", "form_token": token})
    assert [m.body for m in desk.messages(shop.other.id)][-1] != "Any news?"


def test_a_reply_on_a_desk_with_permissions_is_the_customers_own(
    make_shop: Callable[..., Shop],
) -> None:
    shop = make_shop(desk_options={"permissions": default_permissions()})
    page = shop.client.get(shop.link()).text
    data = {"body": "From the page", "form_token": form_field(page, "form_token")}
    assert shop.client.post(shop.link() + "/reply", data=data).status_code == 200
    reply = shop.desk.messages(shop.ticket.id)[-1]
    assert (reply.body, reply.author_id) == ("From the page", "customer:c-1")
    assert [entry.kind for entry in shop.desk.security_log()] == []  # nothing refused


def test_a_reply_the_desk_refuses_is_said_so_and_stores_nothing(
    make_shop: Callable[..., Shop],
) -> None:
    shop = make_shop(desk_options={"permissions": without_grant("ticket", "add_message")})
    before = shop.desk.messages(shop.ticket.id)
    page = shop.client.get(shop.link()).text
    data = {"body": "From the page", "form_token": form_field(page, "form_token")}
    refused = shop.client.post(shop.link() + "/reply", data=data)
    assert refused.status_code == 400
    assert "Your reply could not be sent." in refused.text
    assert shop.desk.messages(shop.ticket.id) == before
    assert [entry.principal for entry in shop.desk.security_log()] == ["customer:c-1"]


def test_the_pages_answer_under_any_prefix(make_shop: Callable[..., Shop]) -> None:
    for prefix in ("", "/shop/de/hilfe"):
        shop = make_shop(prefix=prefix)
        link = ticket_link(
            prefix or "/", shop.ticket.id, secret=SECRET, expires_at=shop.clock.now() + timedelta(1)
        )
        page = shop.client.get(link).text
        assert f'href="{prefix}/pages.css"' in page
        assert f'action="{link}/reply"' in page
        assert f'href="{link}/return"' in page
    mounted = FastAPI()
    mounted.mount("/sub", FastAPI(routes=customer_pages(shop.desk, secret=SECRET).routes))
    with TestClient(mounted) as client:
        token = link.rsplit("/", 1)[1]
        page = client.get(f"/sub/t/{token}").text
    assert f'action="/sub/t/{token}/reply"' in page


def test_the_stylesheet_is_served_with_the_pages(shop: Shop) -> None:
    css = shop.client.get(f"{PREFIX}/pages.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "main {" in css.text


def test_the_language_is_the_parameter_else_the_browsers_else_the_shops(
    make_shop: Callable[..., Shop],
) -> None:
    shop = make_shop()
    zh = shop.client.get(shop.link() + "?lang=zh")
    assert '<html lang="zh">' in zh.text
    assert "您的服务单 #1" in zh.text
    assert f'action="{shop.link()}/reply?lang=zh"' in zh.text  # the choice is kept
    assert f'href="{shop.link()}?lang=en"' in zh.text  # and can be switched
    browser = shop.client.get(shop.link(), headers={"Accept-Language": "fr;q=1, zh-CN;q=0.8"})
    assert '<html lang="zh">' in browser.text
    weights = shop.client.get(shop.link(), headers={"Accept-Language": "zh;q=0.5, en;q=x, de"})
    assert '<html lang="zh">' in weights.text  # a weight that is no number counts as 0
    unknown = shop.client.get(shop.link(), headers={"Accept-Language": "fr"})
    assert '<html lang="en">' in unknown.text
    chinese_shop = make_shop(language="zh")
    assert '<html lang="zh">' in chinese_shop.client.get(chinese_shop.link()).text


def test_the_tickets_return_case_is_listed_and_other_cases_are_not(shop: Shop) -> None:
    shop.desk.cases.open_complaint(shop.ticket.id, summary="The agent was rude")
    rma = shop.desk.cases.request_return(
        shop.ticket.id,
        order_id="SO-1",
        lines=[
            {
                "line_id": "L1",
                "facts": {
                    **HEADPHONES.facts,
                    "claim": {"at": shop.clock.now(), "kind": "no_reason_return"},
                },
            }
        ],
    )
    page = shop.client.get(shop.link()).text
    assert f'href="{shop.link()}/return/{rma.id}">Return</a>: Approved' in page
    assert "rude" not in page
    assert "Complaint" not in page


def test_a_reply_sent_twice_is_stored_once_and_the_customer_told_it_went(shop: Shop) -> None:
    page = shop.client.get(shop.link()).text
    data = {"body": "Still silent", "form_token": form_field(page, "form_token")}
    first = shop.client.post(shop.link() + "/reply", data=data, follow_redirects=False)
    again = shop.client.post(shop.link() + "/reply", data=data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    bodies = [message.body for message in shop.desk.messages(shop.ticket.id)]
    assert bodies.count("Still silent") == 1


def test_a_sent_forms_token_does_not_carry_another_text(shop: Shop) -> None:
    page = shop.client.get(shop.link()).text
    token = form_field(page, "form_token")
    shop.client.post(shop.link() + "/reply", data={"body": "First", "form_token": token})
    other = shop.client.post(shop.link() + "/reply", data={"body": "Second", "form_token": token})
    assert other.status_code == 400
    assert "This form has expired" in other.text
    assert "Second" in other.text  # kept in the form, to send with the fresh token
    assert "Second" not in [message.body for message in shop.desk.messages(shop.ticket.id)]


def test_message_times_are_on_the_shops_clock_with_their_offset(
    make_shop: Callable[..., Shop],
) -> None:
    utc = make_shop()
    assert ">2024-06-05 02:00 UTC</time>" in utc.client.get(utc.link()).text
    shanghai = make_shop(timezone="Asia/Shanghai")
    page = shanghai.client.get(shanghai.link()).text
    assert ">2024-06-05 10:00 UTC+08:00</time>" in page
    assert 'datetime="2024-06-05T02:00:00+00:00"' in page  # the instant, for machines


def test_a_browser_that_refuses_a_language_with_q0_never_gets_it(shop: Shop) -> None:
    refused = shop.client.get(shop.link(), headers={"Accept-Language": "zh;q=0, fr"})
    assert '<html lang="en">' in refused.text


def test_an_erased_tickets_link_is_invalid(shop: Shop) -> None:
    shop.desk.erase_customer("c-1")
    page = shop.client.get(shop.link())
    assert page.status_code == 404
    assert "[erased]" not in page.text
    assert shop.client.get(shop.link() + "/return").status_code == 404


def test_a_link_follows_merges_to_the_ticket_kept_last(shop: Shop) -> None:
    desk = shop.desk
    middle = desk.open_ticket(customer="c-1", channel="email", subject="Headphones again")
    last = desk.open_ticket(customer="c-1", channel="email", subject="Headphones, third mail")
    desk.merge(shop.ticket.id, into=middle.id)
    desk.merge(middle.id, into=last.id)
    page = shop.client.get(shop.link()).text
    assert "Headphones, third mail" in page
    assert 'name="body"' in page


def test_the_returns_of_a_merged_ticket_stay_on_its_link(shop: Shop) -> None:
    rma = shop.desk.cases.request_return(
        shop.ticket.id,
        order_id="SO-1",
        lines=[
            {
                "line_id": "L1",
                "facts": {
                    **HEADPHONES.facts,
                    "claim": {"at": shop.clock.now(), "kind": "no_reason_return"},
                },
            }
        ],
    )
    kept = shop.desk.open_ticket(customer="c-1", channel="email", subject="Headphones again")
    shop.desk.merge(shop.ticket.id, into=kept.id)
    page = shop.client.get(shop.link()).text
    assert f'href="{shop.link()}/return/{rma.id}">Return</a>: Approved' in page
    assert shop.client.get(f"{shop.link()}/return/{rma.id}").status_code == 200


def test_a_link_through_more_merges_than_the_pages_follow_is_invalid(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ticket_module, "MAX_MERGES", 2)
    desk = shop.desk
    middle = desk.open_ticket(customer="c-1", channel="email", subject="Headphones again")
    desk.merge(shop.ticket.id, into=middle.id)
    beside = desk.open_ticket(customer="c-1", channel="email", subject="Headphones, by phone")
    desk.merge(beside.id, into=middle.id)
    shown = shop.client.get(shop.link()).text  # one merge: shown, its duplicates' cases too
    assert "Headphones again" in shown
    last = desk.open_ticket(customer="c-1", channel="email", subject="Headphones, third mail")
    desk.merge(middle.id, into=last.id)
    assert shop.client.get(shop.link()).status_code == 404
