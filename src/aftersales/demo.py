"""The scenario behind ``aftersales demo``: five days at a small shop's service desk.

Two inquiries arrive late on a Friday, one on WeChat in Chinese and one by e-mail in
English. The library classifies and routes them, runs their first-response SLA on the
shop's business hours (the weekend does not count, so the e-mail's warning and breach
come on Monday morning), decides the return the e-mail asks for under China's 7-day
no-reason rule and explains it in English and Chinese, takes it through to its refund,
surveys both customers and sums the week up in a few key figures.

The desk :func:`demo_desk` builds has the SLA policy and the surveys; :func:`run_demo`
also runs on a plain desk (it then skips what the desk cannot do). Each run on the same
store is a new round, a week after the last one, so the rounds' figures never mix: a run
claims its round before it writes anything, so a run after an interrupted one, or two runs
on one file at the same time, each play a week of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from aftersales._demo_records import (
    DemoResult,
    Kpis,
    Numbering,
    PolicyStory,
    Routed,
    SlaStory,
    Surveyed,
    TimelineEntry,
)
from aftersales._demo_story import (
    CUSTOMERS,
    KETTLE,
    ROUTING,
    SHOP_TIME,
    SLA_POLICY,
    SURVEY_SCORES,
    SURVEYS,
    WASHER,
    Inquiry,
    kettle_facts,
    local_time,
)
from aftersales.clock import Clock
from aftersales.desk import Desk
from aftersales.exceptions import SurveyTokenRefused
from aftersales.feedback import SurveyType
from aftersales.insights import ReportQuery, build_report
from aftersales.models import Event, StatusCategory, Ticket
from aftersales.notify import Notification
from aftersales.policies import Party, decide
from aftersales.routing import Router, RouteRequest, RoutingConfig, RuleClassifier
from aftersales.sla import Metric
from aftersales.storage import Store, TicketQuery, every_ticket
from aftersales.storage.recorder import Records, RecordStore

__all__ = [
    "CUSTOMERS",
    "FIRST_STORY_DAY",
    "SHOP_TIME",
    "DemoResult",
    "Kpis",
    "Numbering",
    "PolicyStory",
    "Routed",
    "SlaStory",
    "Surveyed",
    "TimelineEntry",
    "demo_desk",
    "local_time",
    "run_demo",
    "story_start",
]

FIRST_STORY_DAY = datetime(2026, 3, 6, 16, 30, tzinfo=SHOP_TIME)
"""Round 1 opens on Friday 6 March 2026 at 16:30, the shop's time; round n a week later
each time, so a round's tickets and figures never fall in another round's week."""

_ROUNDS_KEY = "aftersales.demo.rounds"


def story_start(store: Store) -> tuple[int, datetime]:
    """The round a new run on ``store`` plays (1 on a fresh store) and when it opens."""
    played = int(store.get_state(_ROUNDS_KEY) or 0)
    return played + 1, _round_opening(played + 1)


def _round_opening(round_number: int) -> datetime:
    return FIRST_STORY_DAY + timedelta(weeks=round_number - 1)


def _claim_round(store: Store) -> int:
    """Take the next round for this run, before the run writes anything: a run that is
    interrupted keeps its round (the next run plays the week after it), and of two runs
    at once on one store each gets a round of its own. On a store built on a recorder the
    read and the write are one transaction; another store's are two calls, which one
    process at a time is enough for."""

    def claim(records: Records) -> int:
        rows = records.select("state", {"key": _ROUNDS_KEY}, columns=("value",))
        claimed = int(rows[0]["value"]) + 1 if rows else 1
        records.put("state", {"key": _ROUNDS_KEY, "value": str(claimed)})
        return claimed

    if isinstance(store, RecordStore):
        return store.recorder.atomically(claim, hold=(_ROUNDS_KEY,))
    claimed, _ = story_start(store)
    store.set_state(_ROUNDS_KEY, str(claimed))
    return claimed


_PAGE = 10_000


def _ticket_numbers(store: Store) -> tuple[int, int]:
    """How many tickets ``store`` holds and the highest number one has (0 when none)."""
    if isinstance(store, RecordStore):
        rows = store.recorder.reading(
            lambda records: records.select("tickets", {}, columns=("number",))
        )
        numbers = [int(row["number"]) for row in rows]
    else:
        numbers = [ticket.number for ticket in every_ticket(store, TicketQuery(limit=_PAGE))]
    return len(numbers), max(numbers, default=0)


def demo_desk(store: Store, clock: Clock) -> Desk:
    """The demo's desk on ``store``: the SLA policy, the classifier's categories, routing
    rules and surveys of :mod:`aftersales._demo_story`. It reserves ticket numbers one at
    a time, so a run's numbers follow the last run's (a desk's default reserves 20 at a
    time, and numbers a process reserved but did not use are skipped)."""
    return Desk(
        store,
        clock=clock,
        settings={"number_block_size": 1, "survey_key": "the demo's own survey secret"},
        sla=SLA_POLICY,
        classifier=RuleClassifier(),
        routing=ROUTING,
        surveys=SURVEYS,
    )


def run_demo(desk: Desk, advance: Callable[[timedelta], datetime]) -> DemoResult:
    """Run one round of the scenario on ``desk``; ``advance`` moves the desk's clock
    forward. The round opens on its Friday (see :func:`story_start`): a clock that is
    earlier is moved there first; a later one opens the round at its own time.

    Inquiries are classified and routed with the desk's classifier and router, or the
    demo's when the desk has none; on a desk without an SLA policy or surveys those
    sections come back empty."""
    tickets_before, highest_before = _ticket_numbers(desk.store)
    round_number = _claim_round(desk.store)
    started = _round_opening(round_number)
    now = desk.clock.now()
    if now < started:
        now = advance(started - now)
    opened_at = now
    timeline: list[TimelineEntry] = []
    labels: dict[str, str] = {}
    survey_links: list[tuple[str, dict[str, Any]]] = []

    def ticket_label(ticket_id: str) -> str:
        """The ticket's display number; an earlier round's tickets (closing, or left
        open by an interrupted run) are named too."""
        if ticket_id not in labels:
            labels[ticket_id] = desk.get(ticket_id).display_number
        return labels[ticket_id]

    def label_of(event: Event) -> str:
        if event.subject_kind == "ticket" or event.subject_id in labels:
            return ticket_label(event.subject_id)
        ticket_id = desk.cases.get(event.subject_id).ticket_id
        parent = "?" if ticket_id is None else ticket_label(ticket_id)
        labels[event.subject_id] = f"{parent} {event.subject_kind}"
        return labels[event.subject_id]

    def log_event(notification: Notification) -> None:
        event = notification.event
        moved = f"{event.from_state or ''} → {event.to_state}".lstrip()
        if event.trigger == "add_message":
            moved = f"{event.payload['kind']} by {event.payload['author_role']}"
        timeline.append(TimelineEntry(event.at, label_of(event), event.trigger, moved))

    def keep_survey_link(notification: Notification) -> None:
        event = notification.event
        survey_links.append((event.subject_id, dict(event.changes["details"])))

    desk.subscribe(log_event, triggers=None, name="demo.timeline")
    desk.subscribe(log_event, messages=True, name="demo.timeline.messages")
    desk.subscribe(keep_survey_link, triggers="send", kinds="survey", name="demo.survey_sender")
    for customer in CUSTOMERS:
        desk.save_customer(customer)

    router = desk.router or Router(RoutingConfig.model_validate(ROUTING), desk.store)
    classifier = desk.classifier or RuleClassifier()

    def open_and_route(inquiry: Inquiry) -> tuple[Ticket, Routed]:
        ticket = desk.open_ticket(
            customer=inquiry.customer,
            channel=inquiry.channel,
            subject=inquiry.subject,
            description=inquiry.description,
        )
        text = f"{inquiry.subject}\n{inquiry.description}"
        found = classifier.classify(text)
        ticket = desk.fire(
            ticket.id,
            "classify",
            actor="classifier",
            payload={
                "category": found.category,
                "severity": found.severity,
                "confidence": found.confidence,
                "evidence": found.evidence,
            },
        )
        request = RouteRequest(
            category=found.category,
            severity=found.severity,
            channel=ticket.channel,
            language=inquiry.language,
        )
        loads = {
            agent.id: desk.store.count(
                TicketQuery(assignee=agent.id, status_category=StatusCategory.OPEN, limit=10_000)
            )
            for agent in router.config.agents
        }
        chosen = router.route(request, loads, desk.clock.now())
        assert chosen.agent is not None  # the demo's agents all have room
        ticket = desk.assign(ticket.id, assignee=chosen.agent, team=chosen.team, actor="router")
        routed = Routed(
            ticket=ticket.display_number,
            channel=ticket.channel,
            customer=inquiry.customer,
            text=inquiry.subject,
            at=ticket.created_at,
            category=found.category,
            severity=found.severity.value,
            confidence=found.confidence,
            evidence=found.evidence,
            team=chosen.team,
            agent=chosen.agent,
            rule=chosen.rule,
            reason=chosen.reason,
        )
        return ticket, routed

    def run_due_at(at: datetime) -> None:
        advance(at - desk.clock.now())
        for ticket_id, kind, metric in desk.run_due().sla_events:
            sla_events.append((desk.clock.now(), ticket_label(ticket_id), kind, metric))

    sla_events: list[tuple[datetime, str, str, str]] = []

    # Friday 16:30: 王芳 writes on WeChat; the repairs agent answers within minutes.
    washer, washer_routed = open_and_route(WASHER)
    advance(timedelta(minutes=12))
    desk.fire(washer.id, "start", actor="zhao.gang")
    desk.add_message(washer.id, "您好，周一上午安排师傅上门检修。", author_id="zhao.gang")

    # Friday 17:20: John e-mails; nobody answers before the shop closes at 18:00.
    run_due_at(opened_at + KETTLE.after)
    kettle, kettle_routed = open_and_route(KETTLE)

    # Monday: the first-response clock ran 40 minutes on Friday and resumes at 09:00, so
    # it warns at 09:50 and breaches at 10:20; the SLA says when (a round opened at
    # another time warns and breaches at other times).
    for checkpoint in _first_response_checkpoints(desk, kettle.id, opened_at):
        run_due_at(checkpoint)
    advance(timedelta(minutes=10))
    desk.fire(kettle.id, "start", actor="shift.lead")
    desk.add_message(
        kettle.id,
        "Sorry for the wait. Your return is approved: a courier collects the kettle tomorrow.",
        author_id="shift.lead",
    )
    delivered = opened_at - timedelta(days=2)  # Wednesday: day 1 of 7 is Thursday
    rma = desk.cases.request_return(
        kettle.id,
        order_id=f"A-{1000 + kettle.number}",
        lines=[{"line_id": "1", "facts": kettle_facts(delivered, desk.clock.now())}],
        actor="shift.lead",
        instructions={"method": "pickup"},
    )
    decision = rma.lines[0].decision
    assert decision is not None
    # The same check on its own, no desk needed: the claim a day after the window.
    late = decide(kettle_facts(delivered, delivered + timedelta(days=8)))

    # Monday 11:00: the washer's drain pump is replaced on site.
    advance(timedelta(minutes=30))
    desk.resolve(washer.id, resolution="更换排水泵，试机正常", actor="zhao.gang")
    run_due_at(desk.clock.now() + timedelta(hours=2))  # the survey goes out
    advance(timedelta(minutes=5))
    surveyed: list[Surveyed] = []

    def answer_surveys() -> None:
        """Each customer follows the link a survey sender would have mailed them."""
        while desk.surveys is not None and survey_links:
            case_id, details = survey_links.pop(0)
            survey = desk.cases.get(case_id)
            if survey.ticket_id not in (washer.id, kettle.id):
                continue  # an earlier round's ticket (its run interrupted): not this week's
            score = SURVEY_SCORES[survey.customer_id or ""]
            try:
                desk.surveys.answer(str(details["token"]), score=score)
            except SurveyTokenRefused:
                # a run of a later week on the same store, meanwhile, expired it
                continue
            surveyed.append(
                Surveyed(
                    ticket=ticket_label(survey.ticket_id),
                    survey=str(details["survey"]),
                    language=str(details["language"]),
                    question=str(details["question"]),
                    score=score,
                    scale=int(details["scale"]),
                )
            )

    answer_surveys()

    # Tuesday 15:00: the courier brings the kettle back; it is refunded the same hour.
    advance(timedelta(days=1, hours=3, minutes=55))
    desk.cases.fire(rma.id, "receive", actor="warehouse", payload={"units": {"1": 1}})
    desk.cases.fire(rma.id, "inspect", actor="warehouse", payload={"results": {"1": ["restock"]}})
    refunded = desk.cases.fire(rma.id, "refund", actor="warehouse")
    assert refunded.refund_case_id is not None
    desk.cases.fire(refunded.refund_case_id, "process", actor="finance")
    reference = f"ALI-{kettle.number:06d}"
    desk.cases.fire(
        refunded.refund_case_id, "succeed", actor="finance", payload={"reference": reference}
    )
    refund = desk.cases.get(refunded.refund_case_id).refund
    assert refund is not None
    desk.resolve(
        kettle.id, resolution=f"Refunded {refund.amount} to the original card", actor="shift.lead"
    )
    run_due_at(desk.clock.now() + timedelta(hours=2))
    advance(timedelta(minutes=20))
    answer_surveys()
    desk.flush()

    tickets = (desk.get(washer.id), desk.get(kettle.id))
    return DemoResult(
        numbering=Numbering(
            round=round_number,
            tickets_before=tickets_before,
            first=tickets[0].number,
            last=tickets[-1].number,
            expected_first=highest_before + 1,
        ),
        started=opened_at,
        routed=(washer_routed, kettle_routed),
        sla=tuple(_sla_story(desk, ticket, sla_events) for ticket in tickets if desk.sla),
        sla_events=tuple(sla_events),
        policy=PolicyStory(
            ticket=kettle.display_number,
            outcome=decision.outcome.value,
            policy=decision.policy,
            explain_en=decision.explain("en"),
            explain_zh=decision.explain("zh"),
            window_last_day=str(decision.window.last_day) if decision.window else "-",
            return_shipping_paid_by=_party(decision.return_shipping_paid_by),
            refund_amount=str(refund.amount),
            refund_due_by=str(refund.due_by),
            refund_status=desk.cases.get(refunded.refund_case_id).status,
            refund_reference=refund.reference or "",
            late_outcome=late.outcome.value,
            late_explain_en=late.explain("en"),
            late_explain_zh=late.explain("zh"),
        ),
        surveys=tuple(surveyed),
        kpis=_kpis(desk, opened_at),
        timeline=tuple(sorted(timeline, key=lambda entry: entry.at)),
        tickets=tickets,
        total_tickets=_ticket_numbers(desk.store)[0],
    )


def _first_response_checkpoints(
    desk: Desk, ticket_id: str, opened_at: datetime
) -> tuple[datetime, ...]:
    """When the ticket's first response warns and when it breaches, as the desk's SLA
    computes them on its business hours; on a desk without an SLA, the round's Monday
    09:50 and 10:20 (what the demo's SLA gives a round opened on its Friday)."""
    if desk.sla is None:
        monday = opened_at + timedelta(days=3)
        return (monday - timedelta(hours=6, minutes=40), monday - timedelta(hours=6, minutes=10))
    first = desk.sla_status(ticket_id).metrics[Metric.FIRST_RESPONSE]
    warning = () if first.warning_at is None else (first.warning_at,)
    return (*warning, first.due_at)


def _party(party: Party | None) -> str:
    return "-" if party is None else party.value


def _sla_story(
    desk: Desk, ticket: Ticket, events: list[tuple[datetime, str, str, str]]
) -> SlaStory:
    assert desk.sla is not None
    status = desk.sla_status(ticket.id)
    first = status.metrics[Metric.FIRST_RESPONSE]
    (rule,) = [rule for rule in desk.sla.rules if rule.name == status.rule]

    def when(kind: str) -> datetime | None:
        times = [
            at
            for at, label, what, metric in events
            if label == ticket.display_number
            and what == kind
            and metric == Metric.FIRST_RESPONSE.value
        ]
        return times[0] if times else None

    breached_at = when("sla_breached")
    return SlaStory(
        ticket=ticket.display_number,
        rule=rule.name,
        target_minutes=int(rule.targets[Metric.FIRST_RESPONSE].minutes),
        due_at=first.due_at,
        met_at=first.met_at,
        warned_at=when("sla_warning"),
        breached_at=breached_at,
        escalated_to=desk.sla.escalation.assignee if breached_at and desk.sla.escalation else None,
    )


def _kpis(desk: Desk, opened_at: datetime) -> Kpis:
    """The round's week in figures, as :func:`~aftersales.insights.build_report` counts
    them from the store (the round's Friday, midnight, and the six days after)."""
    week_from = opened_at.astimezone(SHOP_TIME).replace(hour=0, minute=0)
    query = ReportQuery(created_from=week_from, created_to=week_from + timedelta(days=7))
    report = build_report(desk.store, query, trend_points=0, sla=True, surveys=True)
    tickets = report.tickets.total.current
    first = report.service_levels.total.first_response if report.service_levels else None
    csat = (report.surveys or {}).get(SurveyType.CSAT)
    return Kpis(
        created=tickets.created,
        resolved=tickets.resolved,
        first_response_median_seconds=tickets.first_response.median_seconds,
        resolution_median_seconds=tickets.resolution.median_seconds,
        first_response_met=first.met if first else 0,
        first_response_breached=first.breached if first else 0,
        first_response_compliance=first.compliance if first else None,
        csat=None if csat is None else csat.score,
        survey_answers=0 if csat is None else csat.answers,
        survey_mean=None if csat is None else csat.mean,
    )
