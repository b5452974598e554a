"""The HTML report opened in headless Chromium (Debian's ``chromium``, driven by
Playwright): every chart is drawn, nothing is fetched, nothing is logged as an error.
The screenshot it takes is the one in the docs (docs/images/report.png), written there
when AFTERSALES_UPDATE_SCREENSHOTS is set (so a test run leaves the tree unchanged).

Without chromium or Playwright the test skips, naming what to install; in CI (``CI``
set) it fails instead, so the check cannot vanish from the pipeline in silence."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from aftersales import Desk, FrozenClock
from aftersales.insights import (
    RateShift,
    ReportQuery,
    RiskRule,
    build_report,
    case_series,
    generate_history,
    watch_risk,
)
from aftersales.storage import SQLiteStore

SCREENSHOT = Path(__file__).parent.parent.parent / "docs" / "images" / "report.png"
START = datetime(2024, 3, 4, tzinfo=timezone.utc)
DAYS = 84
POLICY = {
    "name": "office hours",
    "calendar": {"hours": {str(day): ["09:00-17:00"] for day in range(5)}},
    "rules": [
        {
            "name": "standard",
            "targets": {"first_response": {"minutes": 240}, "resolution": {"minutes": 960}},
        }
    ],
}

# For each chart: its size, and how many colours it has once drawn on a canvas (a blank
# or broken image has one or two).
CHART_PIXELS = """
images => images.map(image => {
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  let inked = 0;
  for (let i = 0; i < data.length; i += 4) {
    colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    if (data[i] < 200 || data[i + 1] < 200 || data[i + 2] < 200) inked += 1;
  }
  return {
    alt: image.alt,
    complete: image.complete,
    width: image.naturalWidth,
    height: image.naturalHeight,
    shownWidth: image.getBoundingClientRect().width,
    colours: colours.size,
    inked: inked / (data.length / 4),
  };
})
"""


SURVEY_RULES = [
    {"kinds": ["ticket"], "channels": ["email"], "survey": "nps", "delay_hours": 24},
    {"kinds": ["ticket"], "channels": ["wechat"], "survey": "csat", "delay_hours": 24},
    {"kinds": ["ticket"], "channels": ["sms"], "survey": "ces", "delay_hours": 24},
]
SURVEY_SCORES = {"email": [10, 10, 9, 9, 8, 7, 3], "wechat": [5, 5, 4, 4, 2], "sms": [1, 2, 2, 5]}


def answer_surveys(store: SQLiteStore, resolved_at: datetime) -> None:
    """Tickets resolved at ``resolved_at`` whose NPS, CSAT and CES surveys are answered
    a day later, for the surveys' charts."""
    clock = FrozenClock(resolved_at)
    desk = Desk(store, clock=clock, surveys={"rules": SURVEY_RULES})
    scored = []
    for channel, scores in SURVEY_SCORES.items():
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
        token = getattr(survey.details, "token", None)
        assert token is not None
        desk.surveys.answer(token, score=score, reason="the seal")


def unavailable(what: str) -> None:
    message = f"{what}; install Debian's chromium (apt-get install chromium) and playwright"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the HTML report in a browser: {message}")
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


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("matplotlib")
    folder = tmp_path_factory.mktemp("html")
    shift = RateShift("JACKET-M", "return", from_day=56, factor=5.0)
    store = SQLiteStore(folder / "history.db")
    with Desk(store, clock=FrozenClock(START), sla=POLICY) as desk:
        generate_history(desk, tickets=600, start=START, days=DAYS, seed=20, shift=shift)
        last_day = START.date() + timedelta(days=DAYS - 1)
        returns = case_series(
            store, "return", first_day=START.date(), last_day=last_day, exposure="tickets"
        )
        rule = RiskRule(baseline_windows=28, min_expected=0.5, significance=0.01)
        watch_risk(desk, returns, rule, name="returns")  # records the alerts as events
        answer_surveys(store, START + timedelta(days=DAYS - 10))
        query = ReportQuery(
            created_from=START, created_to=START + timedelta(days=DAYS), group_by="channel"
        )
        report = build_report(
            store,
            query,
            alerts="stored",
            dwell=True,
            sla=True,
            cases=True,
            workload=True,
            surveys=True,
        )
    assert report.alerts, "the injected shift raises an alert, so the alerts chart is drawn"
    return report.to_html(folder / "report.html")


def test_every_chart_of_the_html_report_renders_in_chromium(
    chromium: str, report_page: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import Request, sync_playwright

    errors: list[str] = []
    fetched: list[str] = []

    def only_the_page(route: Any, request: Request) -> None:
        if request.url == report_page.as_uri():
            route.continue_()
        else:
            fetched.append(request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 960, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.route("**/*", only_the_page)
            page.goto(report_page.as_uri(), wait_until="load")
            charts = page.eval_on_selector_all("img.chart", CHART_PIXELS)
            headings = page.eval_on_selector_all("h2", "hs => hs.map(h => h.textContent)")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()

    assert errors == []
    assert fetched == []  # self-contained: data: images only, nothing else asked for
    assert [c["alt"] for c in charts] == [
        "Tickets created and resolved per slice",
        "Volume by group",
        "Backlog over the period",
        "Backlog by age",
        "Time to first response and resolution",
        "Median resolution time per slice",
        "SLA compliance",
        "Satisfaction scores",
        "CSAT per slice",
        "Alerts: observed against expected",
        "Total time in each workflow state",
        "Survey scores: CES",
        "Survey scores: CSAT",
        "Survey scores: NPS",
    ]
    for chart in charts:
        assert chart["complete"], chart["alt"]
        assert chart["width"] > 300, chart
        assert chart["height"] > 100, chart
        assert 0 < chart["shownWidth"] <= 960, chart
        assert chart["colours"] > 10, chart  # axes, labels, bars: not a blank frame
        assert 0.01 < chart["inked"] < 0.9, chart
    assert headings[:3] == ["Key figures", "Volume", "Volume by channel"]
    for heading in (
        "SLA compliance",
        "Satisfaction",
        "Risk alerts",
        "Returns, refunds, repairs and complaints",
        "Workload and next response times",
        "Surveys: CSAT, NPS and CES",
    ):
        assert heading in headings
    image = shot.read_bytes()
    assert image.startswith(b"\x89PNG")
    if not os.environ.get("AFTERSALES_UPDATE_SCREENSHOTS"):
        return  # a test run leaves the tree as it found it; the docs' copy is made on demand
    # for the docs: 256 colours keep every line and label and a third of the bytes
    from PIL import Image  # matplotlib's own dependency

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(shot) as full:
        full.convert("RGB").quantize(256).save(SCREENSHOT, optimize=True)
