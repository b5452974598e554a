"""After "resolved": a repaired phone's survey, a complaint, a return visit, a care reminder.

Copy it as a template: the desk's follow-up rules and care plans are data. A repair closes;
run_due sends its CSAT survey two days later in the customer's language (Chinese); the
customer answers 2/5 through the survey link, which opens a complaint; the complaint's
closure schedules a return visit (回访) that comes due for the repair's agent; on the call
the phone still freezes, so a linked complaint opens. A month on, a care plan reminds the
customer to book a check-up. Then the customer's profile, the survey figures, the return
visit report and the feedback topics.

Run: python examples/customer_care.py [database.db]
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from aftersales import Desk, FrozenClock, Notification, SQLiteStore
from aftersales.cases.return_visits import ReturnVisitDetails
from aftersales.feedback import survey_figures
from aftersales.insights import feedback_topics, return_visit_report

FOLLOW_UPS = {
    "rules": [
        {"kinds": ["repair"], "after": "closure", "survey": "csat", "delay_hours": 48,
         "response_hours": 72, "low_score_action": "complaint"},
        {"kinds": ["complaint"], "after": "closure", "opens": "return_visit",
         "delay_hours": 24, "options": {"on_problem": "open_case"}},
    ]
}  # fmt: skip
CARE = {
    "plans": [{"id": "check-up", "on": "repair_closed", "action": "maintenance",
               "template": "check_up", "days": 30}],
    "templates": {"check_up": {"en": "A month since your repair: book a free check-up.",
                               "zh": "维修已满一个月，欢迎预约免费检测。"}},
}  # fmt: skip
PHONE: dict[str, Any] = {
    "line_id": "phone", "sku": "PHONE-X",
    "facts": {
        "jurisdiction": "cn", "product": {"category": "mobile_phone", "sku": "PHONE-X"},
        "order": {"purchased_at": "2024-01-10T10:00:00+08:00",
                  "delivered_at": "2024-01-11T10:00:00+08:00",
                  "unit_price": {"amount": "2999.00", "currency": "CNY"}},
        "claim": {"at": "2024-03-04T17:00:00+08:00", "kind": "warranty_repair"},
    },
}  # fmt: skip
survey_links: list[str] = []


def send_survey(notification: Notification) -> None:
    details = notification.event.changes["details"]
    survey_links.append(details["token"])  # a real sender puts it in the survey's link
    print(f"  [survey to customer, {details['language']}] {details['question']}")


def send_care(notification: Notification) -> None:
    details = notification.event.changes["details"]
    print(f"  [care to customer, {details['language']}] {details['texts'][details['language']]}")


def work(
    desk: Desk, clock: FrozenClock, case_id: str, *, hours: int, steps: dict[str, Any]
) -> None:
    """Fires each step in turn, ``hours`` apart, as the staff would over time."""
    for trigger, payload in steps.items():
        clock.advance(hours=hours)
        desk.cases.fire(case_id, trigger, payload=payload)


def main(path: Path) -> None:
    start = datetime(2024, 3, 4, 9, tzinfo=timezone.utc)
    clock = FrozenClock(start)
    settings = {"survey_key": "change me: the key that signs survey links"}
    store = SQLiteStore(path)
    with Desk(store, clock=clock, settings=settings, surveys=FOLLOW_UPS, care=CARE) as desk:
        desk.subscribe(send_survey, triggers="send", kinds="survey", name="survey-sender")
        desk.subscribe(send_care, triggers="fire", kinds="care", name="care-sender")
        desk.save_customer({"id": "wang", "name": "王芳", "language": "zh"})
        cases = desk.cases

        ticket = desk.open_ticket(customer="wang", channel="phone", subject="手机反复死机")
        desk.classify(ticket.id, category="repair_warranty", severity="medium")
        desk.fire(ticket.id, "assign", payload={"assignee": "li.wei", "team": "repairs"})
        desk.fire(ticket.id, "start")
        repair = cases.open_repair(ticket.id, serial="IMEI-7", line=PHONE, order_id="o-7")
        work(desk, clock, repair.id, hours=1, steps={
            "hand_in": {"site": "depot"}, "diagnose": {"diagnosis": "loose battery connector"},
            "start_repair": None, "finish_repair": None, "pass_qc": None, "hand_back": None,
            "close": None})  # fmt: skip
        print(f"repair {cases.get(repair.id).status}; the survey goes out in 48 hours")

        clock.advance(hours=48)
        desk.run_due()
        clock.advance(hours=3)
        surveys = desk.surveys
        assert surveys is not None  # the desk has follow-up rules
        survey = surveys.answer(survey_links[0], score=2, reason="修好后还是会死机")
        print(f"survey answered 2/5: {survey.status}; the ticket now carries "
              f"{[c.kind.value for c in cases.for_ticket(ticket.id)]}")  # fmt: skip

        (complaint,) = cases.find(kind="complaint")
        work(desk, clock, complaint.id, hours=2, steps={
            "acknowledge": None, "investigate": None,
            "propose": {"proposal": "再次免费检修并延保三个月"}, "accept": None,
            "close": None})  # fmt: skip
        (visit,) = cases.find(kind="return_visit")
        print(
            f"complaint closed; return visit {visit.status} for {visit.step_due_at:%Y-%m-%d %H:%M}"
        )

        clock.advance(hours=24)
        desk.run_due()
        due = cases.get(visit.id).details
        assert isinstance(due, ReturnVisitDetails)
        print(f"return visit due for {due.assignee} ({due.team}): {due.script[0].text}")
        answers = {"resolved": "没有，还是会死机", "fair": "态度还可以"}
        payload = {"answers": answers, "note": "修好后仍然每天死机"}
        cases.fire(visit.id, "problem_persists", payload=payload)
        desk.run_due()  # the visit's follow-up: the linked case
        called = cases.get(visit.id).details
        assert isinstance(called, ReturnVisitDetails)
        assert called.linked_case_id is not None
        linked = cases.get(called.linked_case_id)
        print(f"problem persists: linked {linked.kind.value} {linked.status}, parent is the visit")

        clock.advance(days=30)
        desk.run_due()  # the care plan's check-up reminder

        profile = desk.customer_profile("wang")
        kinds = {kind: len(found) for kind, found in profile.cases_by_kind().items()}
        print(f"\nprofile of {profile.customer.name}: {len(profile.tickets)} ticket, cases {kinds}")
        for answer in profile.surveys:
            print(f"  {answer.survey} survey: {answer.score}/{answer.scale}")
        for product in profile.products:
            status = product.remedy("repair")  # None: a line whose cases kept no facts
            if status is not None:
                print(f"  phone {product.serial}: repair {status.outcome} to {status.last_day}")

        end = clock.now() + timedelta(days=1)
        for survey_type, figures in survey_figures(store).items():
            print(f"{survey_type.value}: {figures.answers} answer(s), score {figures.score}%")
        visits = return_visit_report(store, start, end)
        print(f"return visits: {visits.outcomes}, satisfaction rate {visits.satisfaction_rate}")
        topics = feedback_topics(store, start, end, classifier=desk.classifier)
        for topic in topics.topics:
            print(f"topic {topic.topic}: {topic.keywords}")
        for reason in topics.low_score_reasons:
            print(f"low-score reason ({reason.answers}x, {reason.topic}): {reason.reason}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder) / "care.db")
