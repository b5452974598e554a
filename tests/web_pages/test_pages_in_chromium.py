"""The customer pages in headless Chromium (Debian's ``chromium``, driven by Playwright)
against a real uvicorn server on 127.0.0.1: the customer replies on their ticket, checks
and sends a return, answers a survey; every field has a label, the stylesheet applies
under the page's Content-Security-Policy, nothing is logged as an error and nothing is
fetched from elsewhere.

The screenshots in the docs (docs/images/pages-ticket.png, pages-return.png,
pages-survey.png) are the ones these tests take, written there when
AFTERSALES_UPDATE_SCREENSHOTS is set (so a test run leaves the tree unchanged).

Without chromium or Playwright the tests skip, naming what to install; in CI (``CI``
set) they fail instead, so the check cannot vanish from the pipeline in silence."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from fastapi import FastAPI
from page_shop import HEADPHONES, KETTLE, NOW, SECRET, make_desk

from aftersales import Desk, FrozenClock, Ticket
from aftersales.web.pages import customer_pages, survey_link, ticket_link

LINES = [HEADPHONES, attrs.evolve(KETTLE, title="Electric kettle 1.7 l")]

IMAGES = Path(__file__).parent.parent.parent / "docs" / "images"
LABELLED = """
() => [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
  .filter(field => field.labels.length === 0 && !field.closest("fieldset legend"))
  .map(field => field.name)
"""


def unavailable(what: str) -> None:
    message = f"{what}; install Debian's chromium (apt-get install chromium) and playwright"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the customer pages in a browser: {message}")
    pytest.skip(message)


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        unavailable("no chromium on PATH")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("no playwright (pip install playwright; no browser download needed)")
    assert found is not None
    return found


@attrs.define
class LiveShop:
    """A desk with a customer's ticket and a survey to answer, served on a real port."""

    desk: Desk
    clock: FrozenClock
    ticket: Ticket
    base: str
    survey_token: str

    def ticket_url(self) -> str:
        expires = self.clock.now() + timedelta(days=30)
        return ticket_link(self.base + "/help", self.ticket.id, secret=SECRET, expires_at=expires)


def fill_desk(desk: Desk, clock: FrozenClock) -> tuple[Ticket, str]:
    """A ticket of a customer talking with the service team, and an earlier ticket whose
    satisfaction survey has just been sent."""
    kettle = desk.open_ticket(customer="c-1", channel="email", subject="The kettle leaks")
    desk.classify(kettle.id, category="repair_warranty", severity="medium")
    desk.fire(kettle.id, "assign", payload={"assignee": "li.agent"})
    desk.fire(kettle.id, "start")
    desk.fire(kettle.id, "resolve", payload={"resolution": "Replaced the seal"})
    clock.advance(hours=2)
    desk.run_due()
    (survey,) = [c for c in desk.cases.for_ticket(kettle.id) if c.kind.value == "survey"]
    token = getattr(survey.details, "token", None)
    assert isinstance(token, str)
    ticket = desk.open_ticket(
        customer="c-1", channel="email", subject="Wireless headphones: the left side is silent"
    )
    desk.add_message(
        ticket.id,
        "The left earbud stopped playing two days after delivery.",
        author_id="customer:c-1",
        author_role="customer",
    )
    clock.advance(minutes=42)
    desk.add_message(
        ticket.id, "Warranty case, offer a return first", author_id="li.agent", kind="internal_note"
    )
    desk.add_message(
        ticket.id,
        "Sorry to hear that! Please hold both buttons for ten seconds to reset them, "
        "and tell us if the left side plays again.",
        author_id="li.agent",
    )
    desk.classify(ticket.id, category="repair_warranty", severity="medium")
    desk.fire(ticket.id, "assign", payload={"assignee": "li.agent"})
    desk.fire(ticket.id, "start")
    desk.fire(ticket.id, "wait_for_customer")
    clock.advance(minutes=30)
    return ticket, token


@pytest.fixture(scope="module")
def live_shop() -> Iterator[LiveShop]:
    import uvicorn

    clock = FrozenClock(NOW - timedelta(hours=3))
    desk = make_desk(clock)
    ticket, token = fill_desk(desk, clock)
    app = FastAPI()
    pages = customer_pages(desk, secret=SECRET, orders=lambda ticket: LINES)
    app.include_router(pages, prefix="/help")
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))  # a free port, whatever else runs on the machine
    port = listening.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none", http="h11")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:  # poll for readiness; the deadline is generous on purpose
        assert thread.is_alive(), "the server stopped before it started"
        assert time.monotonic() < deadline, "the server did not start within a minute"
        time.sleep(0.01)
    try:
        yield LiveShop(desk, clock, ticket, f"http://127.0.0.1:{port}", token)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        listening.close()


@pytest.fixture
def page(chromium: str, live_shop: LiveShop) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    elsewhere: list[str] = []

    def only_the_shop(route: Any, request: Any) -> None:
        if request.url.startswith(live_shop.base + "/"):
            route.continue_()
        else:
            elsewhere.append(request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            # full-page screenshots grow from a short viewport to the page's own height
            opened = browser.new_page(viewport={"width": 820, "height": 560})
            opened.on("console", lambda m: errors.append(m.text) if shown(m) else None)
            opened.on("pageerror", lambda error: errors.append(str(error)))
            opened.route("**/*", only_the_shop)
            yield opened
        finally:
            browser.close()
    assert errors == []  # no script error, no stylesheet or form refused by the CSP
    assert elsewhere == []


def shown(message: Any) -> bool:
    """Whether a console message is an error: a page answered 400 (a form shown again
    with what to correct) or 410 (a survey answered) is one the test asked for."""
    expected = "Failed to load resource: the server responded with a status of 4"
    return bool(message.type == "error" and not message.text.startswith(expected))


def check_page(page: Any) -> None:
    """Every field has a label, and the stylesheet applies (the CSP lets it in)."""
    # after a click the new document may be parsed before its stylesheet has arrived:
    # the load event waits for the stylesheet
    page.wait_for_load_state("load")
    assert page.evaluate(LABELLED) == []
    header = page.eval_on_selector("header.site", "e => getComputedStyle(e).backgroundColor")
    assert header == "rgb(11, 92, 173)"
    assert page.get_attribute("html", "lang") in ("en", "zh")


def screenshot(page: Any, name: str, tmp_path: Path) -> None:
    """Take the page's screenshot; into the docs when AFTERSALES_UPDATE_SCREENSHOTS is set."""
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG")
    if not os.environ.get("AFTERSALES_UPDATE_SCREENSHOTS"):
        return  # a test run leaves the tree as it found it; the docs' copy is made on demand
    from PIL import Image  # matplotlib's own dependency, in the test extra

    IMAGES.mkdir(parents=True, exist_ok=True)
    with Image.open(shot) as full:
        full.convert("RGB").quantize(128).save(IMAGES / name, optimize=True)


def test_the_customer_replies_on_their_ticket_in_chromium(
    page: Any, live_shop: LiveShop, tmp_path: Path
) -> None:
    page.goto(live_shop.ticket_url())
    check_page(page)
    assert page.text_content("h1") == "Your request #2"
    assert page.text_content(".status") == "Waiting for your reply"
    assert "Warranty case" not in page.content()  # the internal note stays internal
    screenshot(page, "pages-ticket.png", tmp_path)
    page.get_by_label("Your reply").fill("Reset them: the left side is still silent <sigh>.")
    page.get_by_role("button", name="Send reply").click()
    page.wait_for_url("**?sent=1")
    assert page.text_content("[role=status]") == "Your reply was sent. Thank you."
    mine = page.locator(".message-item.mine .text").all_text_contents()
    assert mine[-1] == "Reset them: the left side is still silent <sigh>."
    assert live_shop.desk.get(live_shop.ticket.id).status == "in_progress"  # resumed
    page.get_by_role("link", name="中文").click()
    assert page.get_attribute("html", "lang") == "zh"
    assert page.text_content(".status") == "处理中"


def test_the_customer_checks_and_sends_a_return_in_chromium(
    page: Any, live_shop: LiveShop, tmp_path: Path
) -> None:
    page.goto(live_shop.ticket_url())
    page.get_by_role("link", name="Request a return").click()
    page.wait_for_url("**/return")
    check_page(page)
    assert page.get_by_label(LINES[1].title).is_visible()  # every line the shop lists
    page.get_by_label(HEADPHONES.title).check()
    page.get_by_label("It is faulty or not as described").check()
    page.get_by_label("How many?").fill("1")
    page.get_by_label("Condition of the item").select_option("opened")
    page.get_by_label("Anything we should know?").fill("The left earbud is silent")
    assert page.get_by_role("button", name="Send return request").count() == 0
    page.get_by_role("button", name="Check").click()
    decision = page.locator("section.decision")
    assert decision.locator(".outcome").text_content() == "A return is possible."
    explanation = decision.locator(".explanation li").all_text_contents()
    assert explanation[0] == "7-day tier from 2024-06-03: refund, exchange, repair"
    assert live_shop.desk.cases.find(kind="return") == []  # checked, not sent
    screenshot(page, "pages-return.png", tmp_path)
    page.get_by_role("button", name="Send return request").click()
    page.wait_for_url("**/return/*")
    (case,) = live_shop.desk.cases.find(kind="return")
    assert page.text_content("code") == case.id
    assert page.text_content(".status") == "Approved"
    assert case.lines[0].facts.claim.defect == "The left earbud is silent"
    page.go_back()  # the form page after the redirect: nothing is sent twice
    assert len(live_shop.desk.cases.find(kind="return")) == 1
    page.goto(live_shop.ticket_url())
    assert page.get_by_role("link", name="Return", exact=True).count() == 1


def test_the_customer_answers_a_survey_in_chromium(
    page: Any, live_shop: LiveShop, tmp_path: Path
) -> None:
    page.goto(survey_link(live_shop.base + "/help", live_shop.survey_token))
    check_page(page)
    legend = "How satisfied are you with how we handled your request?"
    assert page.text_content("legend") == legend
    screenshot(page, "pages-survey.png", tmp_path)
    page.get_by_label("2", exact=True).check()
    page.get_by_role("button", name="Send answer").click()
    assert page.text_content("[role=alert]").strip() == "Please tell us what went wrong."
    assert page.get_by_label("2", exact=True).is_checked()  # what was entered stays
    page.get_by_label("What could we have done better?").fill("It took a week")
    page.get_by_label("Anything else?").fill("But the new seal holds.")
    page.get_by_role("button", name="Send answer").click()
    page.wait_for_url("**/thanks")
    assert page.text_content("h1") == "Thank you"
    (survey,) = live_shop.desk.cases.find(kind="survey", status="answered")
    assert (survey.details.score, survey.details.reason) == (2, "It took a week")  # type: ignore[union-attr]
    page.go_back()
    page.reload()
    assert page.text_content("h1") == "Already answered"
