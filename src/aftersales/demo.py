"""The scenario behind ``aftersales demo``: a day-to-week slice of a real service desk.

It runs on any desk (the CLI gives it a SQLite file) with a clock it can move, so a week
of waiting passes in a moment. Running it again on the same file adds another round of
tickets; numbers continue where the last run stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import attrs

from aftersales.desk import Desk
from aftersales.exceptions import AftersalesError
from aftersales.models import Channel, ContactPoint, Customer, Event, Ticket
from aftersales.notify import Notification

__all__ = ["CUSTOMERS", "SHOP_TIME", "DemoResult", "TimelineEntry", "local_time", "run_demo"]

SHOP_TIME = timezone(timedelta(hours=8), "UTC+08:00")
"""The shop's wall clock (China Standard Time, no daylight saving): the demo shows every
time in it, with the year and the offset."""


def local_time(at: datetime) -> str:
    """``at`` on the shop's clock, e.g. ``2026-03-02 09:15 +08:00``."""
    local = at.astimezone(SHOP_TIME)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:]}"


@attrs.frozen
class TimelineEntry:
    """One line of the demo's timeline."""

    at: datetime
    ticket: str
    what: str
    detail: str = ""


@attrs.frozen
class DemoResult:
    """What the demo did: the timeline, the tickets it touched and the refused trigger
    (also a line of the timeline)."""

    timeline: tuple[TimelineEntry, ...]
    tickets: tuple[Ticket, ...]
    refused: str
    notifications: int
    total_tickets: int
    wang_channels: tuple[Channel, ...]
    cases: tuple[tuple[str, str, str, str], ...] = ()
    """(ticket, case kind, status, detail) of each after-sales case the run opened."""


CUSTOMERS = (
    Customer(
        id="cust-wang-fang",
        name="王芳",
        tier="vip",
        language="zh",
        contacts=(
            ContactPoint(channel=Channel.WECHAT, address="wx-o6_bmjrPTlm6_2sgVt7hMZOPfL2M"),
            ContactPoint(channel=Channel.PHONE, address="+86 138 0013 8000"),
        ),
    ),
    Customer(
        id="cust-john-smith",
        name="John Smith",
        language="en",
        contacts=(
            ContactPoint(channel=Channel.EMAIL, address="john.smith@example.com"),
            ContactPoint(channel=Channel.WEB_CHAT, address="visitor-4471"),
        ),
    ),
    Customer(
        id="cust-li-lei",
        name="李雷",
        language="zh",
        contacts=(ContactPoint(channel=Channel.APP, address="app-user-99812"),),
    ),
    Customer(
        id="cust-maria-garcia",
        name="Maria Garcia",
        language="en",
        contacts=(ContactPoint(channel=Channel.PHONE, address="+34 600 123 456"),),
    ),
)


def run_demo(desk: Desk, advance: Callable[[timedelta], datetime]) -> DemoResult:
    """Run the scenario on ``desk``; ``advance`` moves the desk's clock forward."""
    timeline: list[TimelineEntry] = []
    numbers: dict[str, str] = {}
    case_labels: dict[str, str] = {}
    sent: list[Notification] = []

    def log_event(notification: Notification) -> None:
        event: Event = notification.event
        moved = (
            f"{event.from_state} → {event.to_state}" if event.from_state else f"→ {event.to_state}"
        )
        if event.trigger == "add_message":
            moved = f"{event.payload['kind']} by {event.payload['author_role']}"
        elif event.trigger == "auto_close":
            moved += " (never confirmed by the customer)"
        elif event.trigger == "merged_from" and "number" in event.payload:
            moved = f"#{event.payload['number']} merged into it"
        timeline.append(
            TimelineEntry(
                event.at,
                numbers.get(event.subject_id) or case_labels.get(event.subject_id, "?"),
                event.trigger,
                moved,
            )
        )

    def notify_customer(notification: Notification) -> None:
        sent.append(notification)

    desk.subscribe(log_event, triggers=None, name="demo.timeline")
    desk.subscribe(log_event, messages=True, name="demo.timeline.messages")
    desk.on_enter("resolved", notify_customer, name="demo.notify_customer")

    for customer in CUSTOMERS:
        desk.save_customer(customer)

    def opened(ticket: Ticket) -> Ticket:
        numbers[ticket.id] = ticket.display_number
        timeline[-1] = attrs.evolve(timeline[-1], ticket=ticket.display_number)
        return ticket

    def note(ticket: Ticket, what: str, detail: str) -> None:
        timeline.append(TimelineEntry(desk.clock.now(), ticket.display_number, what, detail))

    # 1. A washing machine leaks: WeChat, VIP, parts from the manufacturer, happy ending.
    washer = opened(
        desk.open_ticket(
            customer="cust-wang-fang",
            channel=Channel.WECHAT,
            subject="洗衣机漏水 / washing machine leaks",
            description="滚筒洗衣机底部漏水，已停用。",
            order_line={"order_id": "SO-20240301-17", "line_id": "1", "sku": "WM-8KG"},
        )
    )
    advance(timedelta(minutes=4))
    desk.classify(washer.id, category="repair_warranty", severity="high", actor="bot")
    desk.assign(washer.id, assignee="zhang.wei", team="repairs", actor="dispatcher")
    advance(timedelta(minutes=11))
    desk.fire(washer.id, "start", actor="zhang.wei")
    desk.add_message(washer.id, "您好，我们已安排工程师上门检测。", author_id="zhang.wei")
    advance(timedelta(hours=20))
    desk.fire(
        washer.id,
        "wait_for_third_party",
        actor="zhang.wei",
        payload={"note": "drain pump ordered from the manufacturer"},
    )

    # 2. A parcel arrives damaged: e-mail, escalation, reopen after a bad fix.
    advance(timedelta(hours=1))
    parcel = opened(
        desk.open_ticket(
            customer="cust-john-smith",
            channel=Channel.EMAIL,
            subject="Order A-1001 arrived damaged",
            description="The kettle's lid is cracked. I want this sorted today.",
        )
    )
    desk.classify(parcel.id, category="return_refund", severity="medium", actor="bot")
    desk.assign(parcel.id, assignee="emma", team="returns", actor="dispatcher")
    desk.fire(parcel.id, "start", actor="emma")
    advance(timedelta(minutes=30))
    desk.add_message(
        parcel.id,
        "I will dispute the charge with my bank.",
        author_id="cust-john-smith",
        author_role="customer",
    )
    desk.escalate(
        parcel.id,
        reason="customer threatens a chargeback",
        assignee="olivia",
        team="supervisors",
        actor="emma",
    )
    desk.resolve(parcel.id, resolution="Replacement lid shipped by courier", actor="olivia")

    # 3. The same customer writes again on web chat: a duplicate, merged.
    advance(timedelta(minutes=20))
    duplicate = opened(
        desk.open_ticket(
            customer="cust-john-smith", channel=Channel.WEB_CHAT, subject="Damaged kettle, again"
        )
    )
    desk.merge(duplicate.id, into=parcel.id, actor="emma")

    # 4. An invoice title is wrong: app, waits on the customer, never confirmed.
    advance(timedelta(hours=2))
    invoice = opened(
        desk.open_ticket(
            customer="cust-li-lei",
            channel=Channel.APP,
            subject="发票抬头错误",
            description="需要重开增值税普通发票，抬头应为公司名称。",
        )
    )
    desk.classify(invoice.id, category="billing_invoice", severity="low", actor="bot")
    desk.assign(invoice.id, assignee="chen.jing", team="billing", actor="dispatcher")
    desk.fire(invoice.id, "start", actor="chen.jing")
    desk.fire(
        invoice.id,
        "wait_for_customer",
        actor="chen.jing",
        payload={"note": "asked for the company tax number"},
    )
    advance(timedelta(hours=3))
    desk.add_message(  # the customer's reply puts the ticket back in progress
        invoice.id, "税号 91310000MA1FL0000X", author_id="cust-li-lei", author_role="customer"
    )
    desk.resolve(invoice.id, resolution="重开发票已发送至邮箱", actor="chen.jing")

    # 5. A question the customer answers herself in the FAQ: cancelled.
    question = opened(
        desk.open_ticket(
            customer="cust-maria-garcia",
            channel=Channel.PHONE,
            subject="How do I descale the coffee machine?",
        )
    )
    desk.cancel(question.id, reason="found the answer in the self-service FAQ", actor="bot")

    # A trigger the workflow refuses: confirming a cancelled ticket.
    try:
        desk.fire(question.id, "confirm", actor="maria")
    except AftersalesError as error:
        refused = str(error)
        note(question, "refused", refused)
    else:  # pragma: no cover - the workflow forbids it
        refused = ""

    # Days pass: parts arrive, the washer is fixed and confirmed; John's fix fails.
    advance(timedelta(days=2))
    desk.fire(washer.id, "resume", actor="zhang.wei")
    desk.resolve(washer.id, resolution="更换排水泵，试机正常", actor="zhang.wei")
    advance(timedelta(hours=5))
    desk.fire(washer.id, "confirm", actor="cust-wang-fang")
    reopened = desk.reopen(parcel.id, reason="replacement lid does not fit", actor="emma")
    desk.resolve(reopened.id, resolution="Full refund issued to the original card", actor="olivia")
    advance(timedelta(hours=2))
    desk.fire(parcel.id, "confirm", actor="cust-john-smith")
    desk.fire(parcel.id, "close", actor="emma")

    # A return visit a day later closes the washer ticket with a satisfaction score.
    advance(timedelta(days=1))
    desk.fire(
        washer.id,
        "follow_up",
        actor="survey",
        payload={"satisfaction": 5, "note": "回访：客户满意"},
    )
    desk.fire(washer.id, "close", actor="zhang.wei")

    # 王芳 calls about another appliance: her history spans WeChat and phone.
    again = opened(
        desk.open_ticket(
            customer="cust-wang-fang", channel=Channel.PHONE, subject="冰箱噪音大 / fridge is noisy"
        )
    )
    desk.classify(again.id, category="repair_warranty", severity="medium", actor="agent.wu")
    desk.assign(again.id, assignee="agent.wu", team="repairs", actor="dispatcher")
    desk.fire(again.id, "start", actor="agent.wu")
    history = desk.customer_history("cust-wang-fang")

    # 6. The same ticket carries two after-sales cases: a 三包 fridge repair that fails its
    #    quality check once, and a return of 2 of 3 bowls (one arrives chipped).
    def cases_opened(case_id: str, label: str) -> None:
        case_labels[case_id] = label
        for index, entry in enumerate(timeline):
            if entry.ticket == "?":
                timeline[index] = attrs.evolve(entry, ticket=label)

    today = desk.clock.now()
    fridge_facts = {
        "jurisdiction": "cn",
        "product": {"category": "refrigerator", "sku": "FRIDGE-300L"},
        "order": {
            "purchased_at": (today - timedelta(days=120)).isoformat(),
            "unit_price": {"amount": "3299.00", "currency": "CNY"},
        },
        "claim": {"at": today.isoformat(), "kind": "warranty_repair"},
    }
    repair = desk.cases.open_repair(
        again.id, serial="FR-2024-00731", line={"line_id": "1", "facts": fridge_facts}
    )
    cases_opened(repair.id, f"{again.display_number} repair")
    advance(timedelta(days=1))
    desk.cases.fire(repair.id, "hand_in", actor="zhao.gang", payload={"site": "on_site"})
    desk.cases.fire(
        repair.id, "diagnose", actor="zhao.gang", payload={"diagnosis": "压缩机继电器老化"}
    )
    desk.cases.fire(repair.id, "start_repair", actor="zhao.gang")
    desk.cases.fire(repair.id, "finish_repair", actor="zhao.gang")
    desk.cases.fire(repair.id, "fail_qc", actor="qc.liu", payload={"reason": "噪音仍超标"})
    desk.cases.fire(repair.id, "finish_repair", actor="zhao.gang")
    desk.cases.fire(repair.id, "pass_qc", actor="qc.liu")
    desk.cases.fire(repair.id, "hand_back", actor="zhao.gang")
    desk.cases.fire(repair.id, "close", actor="zhao.gang")

    bowls = {
        "jurisdiction": "cn",
        "product": {"category": "tableware", "sku": "BOWL-CELADON"},
        "order": {
            "purchased_at": (today - timedelta(days=4)).isoformat(),
            "delivered_at": (today - timedelta(days=3)).isoformat(),
            "unit_price": {"amount": "45.00", "currency": "CNY"},
            "quantity": 3,
        },
        "claim": {"at": today.isoformat(), "kind": "no_reason_return", "quantity": 2},
    }
    rma = desk.cases.request_return(
        again.id, order_id=f"SO-{again.number:06d}", lines=[{"line_id": "2", "facts": bowls}]
    )
    cases_opened(rma.id, f"{again.display_number} return")
    desk.cases.fire(rma.id, "send_instructions", payload={"method": "pickup"})
    advance(timedelta(days=1))
    desk.cases.fire(rma.id, "receive", actor="warehouse", payload={"units": {"2": 2}})
    desk.cases.fire(
        rma.id, "inspect", actor="warehouse", payload={"results": {"2": ["restock", "damaged"]}}
    )
    refunded = desk.cases.fire(rma.id, "refund", actor="warehouse")
    assert refunded.refund_case_id is not None
    refund = desk.cases.get(refunded.refund_case_id)
    cases_opened(refund.id, f"{again.display_number} refund")
    desk.cases.fire(refund.id, "process", actor="finance")
    desk.cases.fire(refund.id, "succeed", actor="finance", payload={"reference": "ALI-55120"})

    # Both cases are done: the agent resolves the ticket they hang on, 王芳 confirms.
    advance(timedelta(hours=2))
    desk.resolve(
        again.id,
        resolution="冰箱已修好，两只碗已退款 / fridge repaired, 2 bowls refunded",
        actor="agent.wu",
    )
    advance(timedelta(hours=3))
    desk.fire(again.id, "confirm", actor="cust-wang-fang")
    desk.fire(again.id, "close", actor="agent.wu")
    case_rows: list[tuple[str, str, str, str]] = []
    for case in desk.cases.for_ticket(again.id):
        detail = ""
        if case.refund is not None:
            detail = f"{case.refund.amount} by {case.refund.due_by}"
        elif case.repair is not None:
            detail = f"{case.repair.serial}, {case.repair.qc_failures} failed QC"
        elif case.lines and case.lines[0].decision is not None:
            decision = case.lines[0].decision
            detail = f"{decision.explain('en')}\n{decision.explain('zh')}"
        case_rows.append((again.display_number, case.kind.value, case.status, detail))

    # A week on, the time step auto-closes the invoice ticket nobody confirmed.
    now = advance(timedelta(days=8))
    desk.run_due(now)
    desk.flush()

    touched = tuple(desk.get(ticket_id) for ticket_id in numbers)
    return DemoResult(
        timeline=tuple(sorted(timeline, key=lambda entry: entry.at)),
        tickets=touched,
        refused=refused,
        notifications=len(sent),
        total_tickets=len(desk.find(limit=10_000)),
        wang_channels=history.channels,
        cases=tuple(case_rows),
    )
