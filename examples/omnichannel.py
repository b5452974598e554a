"""One customer, many channels: find them by a WeChat OpenID and see their whole history.

Run: python examples/omnichannel.py
"""

from aftersales import Channel, ContactPoint, Customer, Desk

desk = Desk()  # in memory; Desk.sqlite("file.db") to keep it
desk.save_customer(
    Customer(
        id="wang-fang",
        name="王芳",
        tier="vip",
        contacts=(
            ContactPoint(channel=Channel.WECHAT, address="wx-o6_bmjrPTlm6"),
            ContactPoint(channel=Channel.PHONE, address="+86 138 0013 8000"),
            ContactPoint(channel=Channel.EMAIL, address="wang.fang@example.com"),
        ),
    )
)
desk.open_ticket(customer="wang-fang", channel="phone", subject="冰箱噪音大")
desk.open_ticket(customer="wang-fang", channel="email", subject="Invoice for order 1001")

# A WeChat message arrives: who is it, and what has happened before?
customer = desk.find_customer("wechat", "wx-o6_bmjrPTlm6")
assert customer is not None
desk.open_ticket(customer=customer, channel="wechat", subject="还没有收到发票")
history = desk.customer_history(customer.id)
print(customer.name, "has", len(history.tickets), "tickets on", [c.value for c in history.channels])
for ticket in history.tickets:
    print(f"  {ticket.display_number} [{ticket.channel.value}] {ticket.subject} - {ticket.status}")
