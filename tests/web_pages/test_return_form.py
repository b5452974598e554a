"""The return form: the policy's decision is shown before the request is sent, the
request opens the return case the page then shows, and nothing else gets through."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from page_shop import HEADPHONES, KETTLE, Shop, form_field, without_grant

from aftersales import InvalidInput
from aftersales.policies import Facts, PolicySet
from aftersales.web.pages import ReturnableLine

SHOP_POLICY = Path(__file__).parents[2] / "examples" / "shop_policy.json"


def entries(shop: Shop, item: ReturnableLine = HEADPHONES, **changes: str) -> dict[str, str]:
    """A filled return form, as the browser sends it after loading the page."""
    page = shop.client.get(shop.link() + "/return").text
    return {
        "line": item.key,
        "kind": "no_reason_return",
        "quantity": "1",
        "condition": "opened",
        "details": "",
        "form_token": form_field(page, "form_token"),
        "action": "check",
        **changes,
    }


def returns(shop: Shop) -> list[Any]:
    return [c for c in shop.desk.cases.for_ticket(shop.ticket.id) if c.kind.value == "return"]


def test_the_form_lists_the_shops_lines_for_the_ticket(shop: Shop) -> None:
    page = shop.client.get(shop.link() + "/return")
    assert page.status_code == 200
    assert "Headphones X" in page.text
    assert "order SO-1 · 2 bought" in page.text
    assert "Kettle &lt;Deluxe&gt;" in page.text  # the shop's text is escaped too
    assert 'value="check"' in page.text
    assert 'value="submit"' not in page.text  # nothing is sent before a check


def test_check_shows_the_decision_then_submit_opens_the_case(shop: Shop) -> None:
    checked = shop.client.post(shop.link() + "/return", data=entries(shop))
    assert checked.status_code == 200
    html = checked.text
    assert "A return is possible." in html
    assert "within the 7-day no-reason return window, which ends on 2024-06-10" in html
    assert "Refund: 1299.00 CNY" in html
    assert returns(shop) == []  # a check stores nothing
    submit = {
        **entries(shop),
        "action": "submit",
        "checked_token": form_field(html, "checked_token"),
    }
    sent = shop.client.post(shop.link() + "/return", data=submit, follow_redirects=False)
    assert sent.status_code == 303
    (case,) = returns(shop)
    assert sent.headers["location"] == f"{shop.link()}/return/{case.id}"
    assert (case.status, case.order_id, case.lines[0].line_id, case.lines[0].quantity) == (
        "approved",
        "SO-1",
        "L1",
        1,
    )
    assert shop.desk.cases.history(case.id)[0].actor == "customer:c-1"
    shown = shop.client.get(sent.headers["location"])
    assert shown.status_code == 200
    assert case.id in shown.text
    assert "Approved" in shown.text
    assert "Headphones X × 1" in shown.text
    assert "within the 7-day no-reason return window" in shown.text


def test_what_the_customer_says_goes_into_the_claim(shop: Shop) -> None:
    said = entries(shop, kind="quality_return", details="Left <ear> silent")
    checked = shop.client.post(shop.link() + "/return", data=said).text
    assert 'value="Left &lt;ear&gt; silent"' in checked
    submit = {**said, "action": "submit", "checked_token": form_field(checked, "checked_token")}
    shop.client.post(shop.link() + "/return", data=submit)
    (case,) = returns(shop)
    claim = case.lines[0].facts.claim
    assert (claim.kind.value, claim.reason, claim.defect, claim.condition.value) == (
        "quality_return",
        "Left <ear> silent",
        "Left <ear> silent",
        "opened",
    )
    assert claim.at == shop.clock.now()


def test_the_decision_is_explained_in_the_customers_language(shop: Shop) -> None:
    checked = shop.client.post(
        shop.link() + "/return?lang=zh", data=entries(shop, kind="quality_return")
    )
    assert '<html lang="zh">' in checked.text
    assert "可以退货。" in checked.text
    assert "收货后 6 个月内出现的瑕疵由经营者承担举证责任" in checked.text
    by_browser = shop.client.post(
        shop.link() + "/return", data=entries(shop), headers={"Accept-Language": "zh-CN"}
    )
    assert "在七日无理由退货期限内，截止日期为 2024-06-10" in by_browser.text


def test_entries_changed_after_the_check_are_checked_again_not_sent(shop: Shop) -> None:
    checked = shop.client.post(shop.link() + "/return", data=entries(shop)).text
    changed = {
        **entries(shop, quantity="2"),
        "action": "submit",
        "checked_token": form_field(checked, "checked_token"),
    }
    again = shop.client.post(shop.link() + "/return", data=changed)
    assert again.status_code == 200
    assert "Your entries changed since the check" in again.text
    assert returns(shop) == []


def test_a_refused_return_is_explained_and_cannot_be_sent(shop: Shop) -> None:
    checked = shop.client.post(shop.link() + "/return", data=entries(shop, item=KETTLE))
    assert "A return is not possible." in checked.text
    assert "the 7-day no-reason return window ended on 2024-05-09" in checked.text
    assert "reply on your request" in checked.text
    assert 'name="checked_token"' not in checked.text
    forced = {**entries(shop, item=KETTLE), "action": "submit", "checked_token": "1.x"}
    assert shop.client.post(shop.link() + "/return", data=forced).status_code == 200
    assert returns(shop) == []


def test_the_desks_own_policy_decides(make_shop: Callable[..., Shop]) -> None:
    policy = PolicySet.from_json(SHOP_POLICY.read_text("utf-8"))
    shop = make_shop(desk_options={"policy": policy})
    shop.clock.advance(days=8)  # past China's 7 days, within the shop's 15
    checked = shop.client.post(shop.link() + "/return", data=entries(shop))
    assert "A return is possible." in checked.text
    assert "15-day return" in checked.text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"line": "nope"}, "Please choose an item."),
        ({"kind": "exchange"}, "Please choose a reason."),
        ({"condition": "like new"}, "Please choose the condition."),
        ({"quantity": "3"}, "Please enter a number from 1 to 2."),
        ({"quantity": "0"}, "Please enter a number from 1 to 2."),
        ({"quantity": "-1"}, "Please enter a number from 1 to 2."),
        ({"details": "x" * 201}, "Please keep this under 200 characters."),
        ({"form_token": "1.forged"}, "This form has expired."),
    ],
)
def test_bad_entries_are_named_and_nothing_is_decided_or_stored(
    shop: Shop, changes: dict[str, str], message: str
) -> None:
    refused = shop.client.post(shop.link() + "/return", data=entries(shop, **changes))
    assert refused.status_code == 400
    assert message in refused.text
    assert "What our policy says" not in refused.text
    assert returns(shop) == []


def test_the_same_units_cannot_be_returned_twice(shop: Shop) -> None:
    def send() -> Any:
        checked = shop.client.post(shop.link() + "/return", data=entries(shop, quantity="2"))
        submit = {
            **entries(shop, quantity="2"),
            "action": "submit",
            "checked_token": form_field(checked.text, "checked_token"),
        }
        return shop.client.post(shop.link() + "/return", data=submit)

    assert send().status_code == 200
    again = send()
    assert again.status_code == 400
    assert "This return cannot be requested online" in again.text
    assert len(returns(shop)) == 1


def test_a_return_the_desk_refuses_to_the_customer_stores_nothing(
    make_shop: Callable[..., Shop],
) -> None:
    shop = make_shop(desk_options={"permissions": without_grant("return", "created")})
    checked = shop.client.post(shop.link() + "/return", data=entries(shop))
    submit = {
        **entries(shop),
        "action": "submit",
        "checked_token": form_field(checked.text, "checked_token"),
    }
    refused = shop.client.post(shop.link() + "/return", data=submit)
    assert refused.status_code == 400
    assert returns(shop) == []


def test_order_facts_the_policy_cannot_read_are_not_checked_online(
    make_shop: Callable[..., Shop],
) -> None:
    broken = ReturnableLine("SO-2", "L1", "Broken record", {"jurisdiction": "cn"})
    shop = make_shop(orders=lambda ticket: [broken])
    refused = shop.client.post(shop.link() + "/return", data=entries(shop, item=broken))
    assert refused.status_code == 400
    assert "We cannot check this item online." in refused.text


def test_without_order_lines_there_is_no_return_form(make_shop: Callable[..., Shop]) -> None:
    shop = make_shop(orders=None)
    assert "Request a return" not in shop.client.get(shop.link()).text
    assert shop.client.get(shop.link() + "/return").status_code == 404
    assert shop.client.post(shop.link() + "/return", data={}).status_code == 404
    nothing = make_shop(orders=lambda ticket: [])
    page = nothing.client.get(nothing.link() + "/return")
    assert "There is nothing on this request that can be returned online." in page.text


def test_a_return_case_is_shown_only_under_its_own_tickets_link(shop: Shop) -> None:
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
    complaint = shop.desk.cases.open_complaint(shop.ticket.id, summary="rude")
    assert shop.client.get(f"{shop.link()}/return/{rma.id}").status_code == 200
    for path in (
        f"{shop.link(shop.other)}/return/{rma.id}",  # another customer's link
        f"{shop.link()}/return/{complaint.id}",  # not a return
        f"{shop.link()}/return/no-such-case",
    ):
        page = shop.client.get(path)
        assert page.status_code == 404, path
        assert "Approved" not in page.text
        assert "Headphones" not in page.text


def test_a_returnable_line_takes_facts_and_leaves_out_their_claim() -> None:
    facts = Facts.model_validate(
        {**HEADPHONES.facts, "claim": {"at": "2024-06-05T10:00:00+08:00", "kind": "exchange"}}
    )
    line = ReturnableLine("SO-1", "L1", "Headphones X", facts)
    assert "claim" not in line.facts
    assert line.quantity == 2
    assert ReturnableLine("SO-1", "L9", "Gift card", {"order": {"quantity": "2"}}).quantity == 1
    assert json.dumps(sorted(line.facts)) == '["confirmed_non_returnable_at_checkout", ' + (
        '"jurisdiction", "order", "product", "repairs", "retailer_policy_posted", "vehicle", '
        '"withdrawal_information_given_at"]'
    )
    with pytest.raises(InvalidInput) as refused:
        ReturnableLine("SO-1", "L1", "Headphones X", "facts")  # type: ignore[arg-type]
    assert refused.value.errors[0].location == ("facts",)


def test_send_pressed_twice_shows_the_one_case_it_opened(shop: Shop) -> None:
    checked = shop.client.post(shop.link() + "/return", data=entries(shop, quantity="2"))
    submit = {
        **entries(shop, quantity="2"),
        "action": "submit",
        "checked_token": form_field(checked.text, "checked_token"),
    }
    first = shop.client.post(shop.link() + "/return", data=submit, follow_redirects=False)
    again = shop.client.post(shop.link() + "/return", data=submit, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert len(returns(shop)) == 1


@pytest.mark.parametrize("quantity", ["²", "١", "1" * 13, "0000000000002", "1.0", "+1"])
def test_a_quantity_that_is_no_plain_number_is_named(shop: Shop, quantity: str) -> None:
    refused = shop.client.post(shop.link() + "/return", data=entries(shop, quantity=quantity))
    assert refused.status_code == 400
    assert "Please enter a number from 1 to 2." in refused.text
    assert returns(shop) == []


def test_a_quantity_with_leading_zeros_is_the_number_it_spells(shop: Shop) -> None:
    checked = shop.client.post(shop.link() + "/return", data=entries(shop, quantity=" 0002 "))
    assert checked.status_code == 200
    assert "A return is possible." in checked.text
