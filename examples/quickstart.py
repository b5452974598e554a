"""Embed the ticket lifecycle in an app: open, classify, assign, resolve, confirm, close.

Run: python examples/quickstart.py
"""

from aftersales import Desk, TriggerNotAllowed

with Desk.sqlite("quickstart.db") as desk:
    ticket = desk.open_ticket(
        customer="cust-42", channel="wechat", subject="扫地机器人无法充电 / robot won't charge"
    )
    desk.classify(ticket.id, category="repair_warranty", severity="medium")
    desk.assign(ticket.id, assignee="li.wei", team="repairs")
    desk.fire(ticket.id, "start", actor="li.wei")
    desk.add_message(ticket.id, "请尝试清洁充电触点。", author_id="li.wei")
    desk.resolve(ticket.id, resolution="Charging contacts cleaned", actor="li.wei")
    desk.fire(ticket.id, "confirm", actor="cust-42")
    closed = desk.fire(ticket.id, "close", actor="li.wei")

    try:
        desk.fire(ticket.id, "start")
    except TriggerNotAllowed as error:
        print("refused:", error)

    print(f"{closed.display_number} is {closed.status} after {closed.version} events")
    for event in desk.history(ticket.id):
        print(f"  {event.sequence:>2} {event.trigger:<12} {event.from_state} -> {event.to_state}")
