"""Define your own workflow as plain data (e.g. loaded from JSON) with a named guard.

Run: python examples/custom_workflow.py
"""

from aftersales import Refusal, TransitionContext, TransitionRefused, Workflow

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

from datetime import datetime, timezone  # noqa: E402

evening = TransitionContext(
    subject=None, subject_id="cb-1", state="requested", trigger="schedule", payload=None,
    actor="agent", now=datetime(2024, 3, 4, 20, tzinfo=timezone.utc),
)  # fmt: skip
try:
    workflow.decide(evening)
except TransitionRefused as refused:
    print(refused.refusal.code, "-", refused.refusal.message_zh)
