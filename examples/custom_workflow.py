"""Define your own workflow as plain data (e.g. loaded from JSON) with a named guard, and
run a desk's tickets on it with ``Desk(workflow=...)``.

Run: python examples/custom_workflow.py
"""

from datetime import datetime, timezone

from aftersales import Desk, FrozenClock, Refusal, TransitionContext, TransitionRefused, Workflow

CALLBACK_REQUEST = {
    "name": "callback",
    "initial": "requested",
    "states": [
        {"name": "requested", "category": "new"},
        {"name": "scheduled", "category": "open"},
        {"name": "done", "category": "closed"},
        {"name": "withdrawn", "category": "closed"},
    ],
    "transitions": [
        {"trigger": "schedule", "source": "requested", "dest": "scheduled",
         "guards": ["within_office_hours"]},
        {"trigger": "call", "source": "scheduled", "dest": "done"},
        {"trigger": "withdraw", "source": ["requested", "scheduled"], "dest": "withdrawn"},
    ],
}  # fmt: skip


def within_office_hours(context: TransitionContext) -> Refusal | None:
    if 9 <= context.now.hour < 18:
        return None
    return Refusal("outside_office_hours", "we call back between 09:00 and 18:00",
                   "回电时间为 09:00-18:00")  # fmt: skip


workflow = Workflow.from_dict(CALLBACK_REQUEST, guards={"within_office_hours": within_office_hours})
print(workflow.to_mermaid())

# Every ticket this desk opens runs on the callback workflow and carries its name.
clock = FrozenClock(datetime(2024, 3, 4, 20, 0, tzinfo=timezone.utc))  # a Monday, 20:00
with Desk(workflow=workflow, clock=clock) as desk:
    ticket = desk.open_ticket(customer="cust-42", channel="phone", subject="Please call me back")
    print(f"{ticket.display_number} runs on {ticket.workflow!r}, status {ticket.status!r}")
    try:
        desk.fire(ticket.id, "schedule", actor="agent-7")
    except TransitionRefused as refused:
        print("refused:", refused.refusal.code, "-", refused.refusal.message_zh)

    clock.advance(hours=13)  # 09:00 on Tuesday
    desk.fire(ticket.id, "schedule", actor="agent-7")
    done = desk.fire(ticket.id, "call", actor="agent-7")
    print(f"{done.display_number} is {done.status!r} ({done.status_category.value})")
    for event in desk.history(ticket.id):
        print(f"  {event.sequence} {event.trigger:<9} {event.from_state} -> {event.to_state}")
