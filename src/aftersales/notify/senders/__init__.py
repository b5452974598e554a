"""Senders: how notifications leave the library on a channel (email, SMS, a webhook...).

The channels in the box: :class:`SmtpSender` (email, :mod:`smtplib`),
:class:`WebhookSender` (signed JSON over HTTP; :class:`Webhook` posts any event without
a customer) and :class:`SmsSender` with an :class:`SmsProvider` (:class:`HttpSmsProvider`
over HTTP; WeChat, Weibo and the like plug in as providers). The HTTP ones need the
``webhooks`` extra (httpx), imported when first used.

A channel is a :class:`Sender` (one method, ``send(message)``) and a
:class:`SenderHandler` adapts it to a desk's hooks: for each notification it finds the
recipient by the event's ``subject_kind`` (a ticket's customer, or the customer of the
ticket a case belongs to), renders the text and sends it. A sender that raises leaves the
notification in the outbox, retried with backoff and dead-lettered after
``DeskSettings.max_delivery_attempts``, like any other hook.

:class:`MemorySender` is the reference sender (httpx's ``MockTransport`` for channels):
it records what was sent and can be told to fail.

>>> from aftersales import Customer, Desk
>>> from aftersales.notify.senders import MemorySender, SenderHandler, customer_recipients
>>> desk = Desk()
>>> outbox = MemorySender()
>>> handler = SenderHandler(outbox, recipient=customer_recipients(desk, "email"))
>>> _ = desk.on_enter("resolved", handler, name="email")
>>> customer = Customer(name="Li Wei", contacts=[{"channel": "email", "address": "li@x.cn"}])
>>> ticket = desk.open_ticket(customer=customer, channel="email", subject="Kettle leaks")
>>> _ = desk.classify(ticket.id, category="repair_warranty", severity="low")
>>> _ = desk.assign(ticket.id, assignee="agent-7")
>>> _ = desk.fire(ticket.id, "start")
>>> _ = desk.resolve(ticket.id, resolution="Sent a new seal")
>>> [(m.recipient.address, m.body) for m in outbox.sent] == [("li@x.cn", "Ticket #1: resolved")]
True
"""

from aftersales.notify.senders._handler import (
    OutgoingMessage,
    Recipient,
    Render,
    Rendered,
    Sender,
    SenderHandler,
    customer_recipients,
    render_plain,
)
from aftersales.notify.senders.memory import MemorySender
from aftersales.notify.senders.sms import HttpSmsProvider, SmsProvider, SmsSender
from aftersales.notify.senders.smtp import SmtpSender
from aftersales.notify.senders.webhook import Webhook, WebhookSender, verify_signature

__all__ = [
    "HttpSmsProvider",
    "MemorySender",
    "OutgoingMessage",
    "Recipient",
    "Render",
    "Rendered",
    "Sender",
    "SenderHandler",
    "SmsProvider",
    "SmsSender",
    "SmtpSender",
    "Webhook",
    "WebhookSender",
    "customer_recipients",
    "render_plain",
    "verify_signature",
]
