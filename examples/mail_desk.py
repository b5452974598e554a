"""A desk that runs on email: inbound mail, rules, templates, escalation, macros, a worker.

Copy it as a template: one wiring function, build_desk, is shared by the web process and
the worker. A VIP customer writes in Chinese with a photo attached; the mail opens a
ticket, the rules tag it, raise its priority and acknowledge it in her language. Her
reply threads onto the same ticket; her out-of-office robot is ignored. An agent applies
a macro; the ticket breaches its SLA and escalates to the team lead, then the
supervisor. Once resolved, the web request returns at once and the worker mails the
templated "resolved" message.

Run: python examples/mail_desk.py [database.db]
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from aftersales import Desk, FileBlobStore, FrozenClock, SQLiteStore
from aftersales.automations import Automations, MacroBook
from aftersales.inbound import ingest_email
from aftersales.notify.mail_ids import message_id_for
from aftersales.notify.senders import MemorySender, SenderHandler, customer_recipients
from aftersales.notify.templates import TemplateRender, Templates
from aftersales.storage import Store
from aftersales.worker import Worker

DOMAIN = "shop.example"
SLA = {
    "name": "support",
    "calendar": {"time_zone": "Asia/Shanghai", "country": "CN",
                 "hours": {day: ["09:00-12:00", "13:30-18:00"]
                           for day in ("mon", "tue", "wed", "thu", "fri")}},
    "rules": [{"name": "default", "targets": {"first_response": {"minutes": 60},
                                              "resolution": {"minutes": 240}}}],
}  # fmt: skip
TEMPLATES = Templates({
    "ack": {"en": "Dear {{ customer.name }}, we received your mail about {{ about }}.",
            "zh": "{{ customer.name }}，您好：我们已收到您关于 {{ about }} 的邮件。"},
    "ask_photo": {"en": "Could you send us a photo of the label under the kettle?",
                  "zh": "麻烦您拍一张水壶底部铭牌的照片发给我们。"},
    "resolved": {"en": {"subject": "{{ about }} is resolved",
                        "body": "Dear {{ customer.name }},\n{{ ticket.resolution }}"},
                 "zh": {"subject": "{{ about }} 已解决",
                        "body": "{{ customer.name }}，您好：\n{{ ticket.resolution }}"}},
})  # fmt: skip
RULES = {"time_zone": "Asia/Shanghai", "rules": [
    {"name": "vip-first", "kind": "event", "when": {"triggers": ["created"]},
     "conditions": [{"field": "customer.tier", "op": "eq", "value": "vip"}],
     "actions": [{"do": "add_tags", "tags": ["vip"]}, {"do": "set_priority", "priority": "high"}]},
    {"name": "acknowledge-mail", "kind": "event", "when": {"triggers": ["created"]},
     "conditions": [{"field": "subject.channel", "op": "eq", "value": "email"}],
     "actions": [{"do": "send_message", "template": "ack"}]},
    {"name": "safety-first", "kind": "event", "when": {"triggers": ["classify"]},
     "conditions": [{"field": "subject.severity", "op": "eq", "value": "critical"}],
     "actions": [{"do": "set_priority", "priority": "urgent"}]},
    {"name": "nudge-waiting", "kind": "time", "categories": ["waiting_on_customer"],
     "since": "updated_at", "hours": 48,
     "conditions": [{"field": "subject.tags", "op": "not_contains", "value": "nudged"}],
     "actions": [{"do": "add_tags", "tags": ["nudged"]},
                 {"do": "add_note", "text": "No answer for two days: call the customer"}]},
    {"name": "breach", "kind": "escalation", "start": "sla_breached", "levels": [
        {"actions": [{"do": "assign", "assignee": "team-lead"}]},
        {"after_hours": 2, "business_hours": True,
         "actions": [{"do": "assign", "assignee": "supervisor"}]}]},
]}  # fmt: skip
MACROS = MacroBook([
    {"name": "ask-for-photo", "version": 1, "title": "Ask for a photo",
     "actions": [{"do": "send_message", "template": "ask_photo"}]},
    {"name": "ask-for-photo", "version": 2, "title": "Ask for a photo of the label",
     "actions": [{"do": "add_tags", "tags": ["photo-asked"]},
                 {"do": "send_message", "template": "ask_photo"}]},
])  # fmt: skip
# a 1x1 PNG's first bytes: enough for the desk to sniff its type
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
clock = FrozenClock(datetime(2024, 3, 4, 1, 0, tzinfo=timezone.utc))  # Mon 09:00 in Shanghai
folder = Path(tempfile.mkdtemp())
mailer = MemorySender()  # in production: SmtpSender("smtp.shop.example", 587, from_address=...)


def build_desk(store: Store) -> Desk:
    """The web app's wiring, and the worker's: `aftersales worker --app mail_desk:build_desk`."""
    desk = Desk(store, clock=clock, sla=SLA, blobs=FileBlobStore(folder / "files"))
    # Desk(automations=...) takes no templates or macros: install them, keep them on the desk
    desk.automations = Automations(desk, RULES, templates=TEMPLATES, macros=MACROS)
    render = TemplateRender(TEMPLATES, {"resolved": "resolved"}, desk)
    handler = SenderHandler(mailer, recipient=customer_recipients(desk, "email"), render=render)
    desk.on_enter("resolved", handler, name="mail-resolved", inline=False)  # the worker mails
    return desk


def mail(subject: str, body: str, **headers: str) -> EmailMessage:
    """A mail from the customer, as her mail client writes it."""
    message = EmailMessage()
    message["From"] = "王芳 <wang.fang@example.cn>"
    message["To"] = f"support@{DOMAIN}"
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


db = Path(sys.argv[1]) if len(sys.argv) > 1 else folder / "desk.db"
web = build_desk(SQLiteStore(db))
automations = web.automations
assert automations is not None
email = {"channel": "email", "address": "wang.fang@example.cn"}  # how ingest_email finds her
web.save_customer({"id": "c-wang", "name": "王芳", "tier": "vip", "language": "zh-CN",
                   "contacts": [email]})  # fmt: skip

print("1. A mail opens a ticket; the rules tag, prioritise and acknowledge it")
first = mail(
    "水壶漏水", "您好，水壶底部漏水，照片见附件。", Message_ID=make_msgid(domain="example.cn")
)
first.add_attachment(PNG, maintype="image", subtype="png", filename="kettle.png")
opened = ingest_email(web, first.as_bytes(), own_domains=[DOMAIN])
assert opened.ticket_id is not None  # only an ignored mail has no ticket
ticket = web.get(opened.ticket_id)
photo = next(m for m in web.messages(ticket.id) if m.attachments).attachments[0]
print(f"   {opened.outcome.value} ticket {ticket.display_number} for {opened.customer_id}, "
      f"with {photo.name} (sha256 {photo.sha256[:12]}…, {photo.content_type})")  # fmt: skip
for event in web.history(ticket.id):  # what the rules did, in the ticket's audit trail
    if event.trigger == "fields_set":
        changed = {field: event.changes[field] for field in event.payload["fields"]}
        print(f"   rule {event.payload['rule']} set {changed}")
acknowledgement = next(m.body for m in web.messages(ticket.id) if m.author_role == "system")
print(f"   acknowledgement: {acknowledgement}")
# the dry run: would classifying it "high" set off the rule that makes tickets urgent?
classify = {"category": "repair_warranty", "severity": "high"}
verdicts = {v.rule: v for v in automations.explain_trigger(ticket.id, "classify", payload=classify)}
verdict = verdicts["safety-first"]
condition = verdict.conditions[0]
print(f"   dry run: {verdict.rule} would fire: {verdict.would_fire} "
      f"({condition.field} is {condition.actual!r}, not {condition.value!r})")  # fmt: skip

print("2. Her reply threads onto the ticket; her out-of-office robot is ignored")
clock.advance(minutes=20)
sent_id = message_id_for(ticket.id, "ack", DOMAIN)  # the Message-ID SmtpSender gave the ack
reply = ingest_email(
    web, mail("Re: 水壶漏水", "补充：是底座漏水。", In_Reply_To=sent_id).as_bytes()
)
away = ingest_email(web, mail("自动回复", "我正在休假。", Auto_Submitted="auto-replied").as_bytes())
print(f"   reply: {reply.outcome.value} by {reply.reason}, same ticket: "
      f"{reply.ticket_id == ticket.id}")  # fmt: skip
print(f"   robot: {away.outcome.value} ({away.reason})")

print("3. An agent applies a macro; the SLA breaches and escalates")
web.classify(ticket.id, category="repair_warranty", severity="high")
web.assign(ticket.id, assignee="li")
web.fire(ticket.id, "start")
automations.apply_macro(ticket.id, "ask-for-photo", actor="li")
print(f"   macro ask-for-photo v{MACROS.get('ask-for-photo').version}: "
      f"{web.messages(ticket.id)[-1].body}")  # fmt: skip
worker = Worker(build_desk(SQLiteStore(db)))  # what `aftersales worker` runs, every few seconds
levels: list[int] = []
for hours in (5.5, 2):  # past the 4 business hours to resolve (lunch is 12:00-13:30)
    clock.advance(hours=hours)
    done = worker.run_once()
    assert done.due is not None  # None only when asked to stop before run_due
    escalated = web.get(ticket.id)
    levels.append(escalated.escalation_level)
    recorded = [f"{trigger} {metric}" for _, trigger, metric in done.due.sla_events]
    print(f"   +{hours} h: {recorded or 'no SLA event'}, level {escalated.escalation_level}, "
          f"assigned to {escalated.assignee}")  # fmt: skip

print("4. Resolved: the web request returns, the worker mails the customer")
web.resolve(ticket.id, resolution="新的密封圈已寄出，请查收。")
print(f"   after resolve: {len(mailer.sent)} mail sent, "
      f"{[row.handler for row in web.outbox('pending')]} waiting")  # fmt: skip
worker.run_once()
resolved_mail = mailer.sent[0]
print(f"   worker mailed {resolved_mail.recipient.address} ({resolved_mail.language}): "
      f"{resolved_mail.subject} / {resolved_mail.body.splitlines()[0]}")  # fmt: skip
web.close()
worker.desk.close()
