"""Hooks that never lose work: a flaky mailer, retries by the time step, dead-letter review.

Run: python examples/hooks_and_outbox.py
"""

from datetime import datetime, timezone

from aftersales import Desk, FrozenClock, Notification, SQLiteStore

clock = FrozenClock(datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc))
sent: set[str] = set()
calls = 0


def email_customer(notification: Notification) -> None:
    """Pretend SMTP that is down for the first two attempts."""
    global calls
    calls += 1
    if calls <= 2:
        raise ConnectionError("SMTP server unavailable")
    if notification.key in sent:  # idempotent: a redelivery after a crash is ignored
        return
    sent.add(notification.key)
    print(f"mail: ticket {notification.event.subject_id[:8]} was {notification.event.trigger}d")


desk = Desk(SQLiteStore("hooks.db"), clock=clock, settings={"retry_backoff_seconds": 60})
desk.on_enter("resolved", email_customer, name="email_customer")

ticket = desk.open_ticket(customer="c-7", channel="email", subject="Refund not received")
desk.classify(ticket.id, category="return_refund", severity="high")
desk.assign(ticket.id, assignee="emma")
desk.fire(ticket.id, "start")
desk.resolve(ticket.id, resolution="Refund re-sent to the original card")
print(
    "after the transition:", desk.get(ticket.id).status, "| pending:", len(desk.outbox("pending"))
)

# Your scheduler (cron, Celery beat, APScheduler) calls run_due; here we move the clock.
for minutes in (1, 2, 4):
    clock.advance(minutes=minutes)
    report = desk.run_due()
    print(f"+{minutes} min: delivered={report.dispatch.delivered} failed={report.dispatch.failed}")

print("delivered:", len(desk.outbox("delivered")), "| dead:", len(desk.outbox("dead")))
desk.close()
