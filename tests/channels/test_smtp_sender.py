"""Email against a real SMTP server on 127.0.0.1 (aiosmtpd): templated in the customer's
language, named so replies thread, retried on 4xx and dead-lettered on 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest
from _receivers import ScriptedSmtp, SmtpReceiver, closed_port

from aftersales import Customer, DeliveryFailed, Desk, FrozenClock, InvalidInput, Notification
from aftersales.models import Channel
from aftersales.notify.mail_ids import (
    message_id_for,
    subject_id_from_message_id,
    ticket_number_in,
)
from aftersales.notify.senders import (
    MemorySender,
    OutgoingMessage,
    Recipient,
    SenderHandler,
    SmtpSender,
    customer_recipients,
)
from aftersales.notify.templates import TemplateRender, Templates

START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
DOMAIN = "desk.shop.example"
TEMPLATES = Templates(
    {
        "resolved": {
            "en": {
                "subject": "{{ about }} is resolved",
                "body": "Hello {{ customer.name }},\n\nwe fixed it: {{ event.payload.resolution }}",
                "html": "<p>Hello {{ customer.name }},</p><p>we fixed it.</p>",
            },
            "zh": {
                "subject": "{{ about }} 已解决",
                "body": "{{ customer.name }}，您好：\n\n已处理：{{ event.payload.resolution }}",
            },
        }
    }
)


@pytest.fixture
def server() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as running:
        yield running


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def desk(clock: FrozenClock) -> Desk:
    return Desk(clock=clock, settings={"retry_backoff_seconds": 30, "max_delivery_attempts": 5})


def _mailer(server: SmtpReceiver, clock: FrozenClock, **options: object) -> SmtpSender:
    return SmtpSender(
        "127.0.0.1",
        server.port,
        from_address="Shop Support <support@shop.example>",
        domain=DOMAIN,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )


def _subscribe(desk: Desk, sender: SmtpSender) -> None:
    render = TemplateRender(TEMPLATES, "resolved", desk)
    handler = SenderHandler(sender, recipient=customer_recipients(desk, "email"), render=render)
    desk.on_enter("resolved", handler, name="email")


def _resolve(desk: Desk, name: str, language: str, address: str) -> str:
    customer = Customer(
        name=name, language=language, contacts=[{"channel": "email", "address": address}]
    )
    ticket = desk.open_ticket(customer=customer, channel="email", subject="Kettle leaks")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="agent-7")
    desk.fire(ticket.id, "start")
    desk.resolve(ticket.id, resolution="换了新密封圈")
    return ticket.id


def _text(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content()).replace("\r\n", "\n")


def test_a_resolved_ticket_mails_each_customer_once_in_their_language(
    server: SmtpReceiver, desk: Desk, clock: FrozenClock
) -> None:
    _subscribe(desk, _mailer(server, clock))
    chinese = _resolve(desk, "李伟", "zh", "li@x.cn")
    english = _resolve(desk, "Ann Lee", "en", "ann@x.example")
    clock.advance(hours=1)
    desk.dispatch_outbox()  # nothing is due again: each mail went once
    li, ann = server.wait_for(2)
    assert len(server.mails) == 2
    assert server.envelopes == [
        ("support@shop.example", ["li@x.cn"]),
        ("support@shop.example", ["ann@x.example"]),
    ]
    assert (li["Subject"], _text(li)) == (
        "[#1] Ticket #1 已解决",
        "李伟，您好：\n\n已处理：换了新密封圈\n",
    )
    assert (ann["Subject"], _text(ann)) == (
        "[#2] Ticket #2 is resolved",
        "Hello Ann Lee,\n\nwe fixed it: 换了新密封圈\n",
    )
    assert (li["Content-Language"], ann["Content-Language"]) == ("zh", "en")
    assert (li.get_content_type(), li.get_body(("html",))) == ("text/plain", None)
    html = ann.get_body(("html",))
    assert isinstance(html, EmailMessage)
    assert html.get_content().rstrip() == "<p>Hello Ann Lee,</p><p>we fixed it.</p>"
    [li_row, ann_row] = sorted(desk.outbox(), key=lambda n: n.key != f"{chinese}:5:email")
    assert li["Message-ID"] == message_id_for(chinese, li_row.key, DOMAIN)
    assert ann["Message-ID"] == message_id_for(english, ann_row.key, DOMAIN)
    assert subject_id_from_message_id(li["Message-ID"]) == chinese
    assert subject_id_from_message_id(li["References"]) == chinese
    assert ticket_number_in(f"Re: {li['Subject']}") == 1
    assert li["Auto-Submitted"] == "auto-generated"
    assert li["From"] == "Shop Support <support@shop.example>"
    assert parsedate_to_datetime(li["Date"]) == START


def test_a_template_without_a_subject_gets_the_plain_one(desk: Desk) -> None:
    captured = MemorySender()
    render = TemplateRender(Templates({"resolved": "Hello {{ customer.name }}"}), "resolved", desk)
    handler = SenderHandler(captured, recipient=customer_recipients(desk, "email"), render=render)
    desk.on_enter("resolved", handler, name="email")
    _resolve(desk, "Ann Lee", "en", "ann@x.example")
    mailer = SmtpSender("127.0.0.1", from_address="a@shop.example", domain=DOMAIN)
    [sent] = captured.sent
    assert (sent.subject, sent.body) == ("Ticket #1: resolved", "Hello Ann Lee")
    assert mailer.compose(sent)["Subject"] == "[#1] Ticket #1: resolved"


def test_a_mail_refused_with_550_is_dead_lettered_at_once(
    server: SmtpReceiver, desk: Desk, clock: FrozenClock
) -> None:
    server.rcpt_replies = ["550 5.1.1 <li@x.cn>: mailbox unavailable"]
    _subscribe(desk, _mailer(server, clock))
    _resolve(desk, "李伟", "zh", "li@x.cn")
    [row] = desk.outbox("dead")
    assert (row.attempts, row.last_error) == (
        1,
        f"DeliveryFailed: SMTP server 127.0.0.1:{server.port} refused the recipient: "
        "550 5.1.1 <li@x.cn>: mailbox unavailable",
    )
    assert server.mails == []


def test_a_mail_deferred_with_451_is_delivered_once_later(
    server: SmtpReceiver, desk: Desk, clock: FrozenClock
) -> None:
    server.rcpt_replies = ["451 4.7.1 greylisted, try again later"]
    _subscribe(desk, _mailer(server, clock))
    ticket_id = _resolve(desk, "李伟", "zh", "li@x.cn")
    [row] = desk.outbox("pending")
    assert row.last_error is not None
    assert row.last_error.endswith("451 4.7.1 greylisted, try again later")
    clock.set(row.next_attempt_at)
    assert desk.dispatch_outbox().delivered == 1
    [mail] = server.wait_for(1)
    assert server.attempts == 2
    assert mail["Message-ID"] == message_id_for(ticket_id, row.key, DOMAIN)
    clock.advance(days=1)
    desk.dispatch_outbox()
    assert len(server.mails) == 1


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [("554 5.7.1 message looks like spam", True), ("452 4.3.1 queue full", False)],
)
def test_a_refusal_after_the_message_is_sent_is_final_only_when_5xx(
    server: SmtpReceiver, clock: FrozenClock, reply: str, permanent: bool
) -> None:
    server.data_replies = [reply]
    with pytest.raises(DeliveryFailed) as raised:
        _mailer(server, clock).send(_message())
    assert raised.value.permanent is permanent
    assert str(raised.value) == f"SMTP server 127.0.0.1:{server.port} refused the mail: {reply}"


def test_an_unreachable_server_is_retried(desk: Desk, clock: FrozenClock) -> None:
    down = SmtpSender("127.0.0.1", closed_port(), from_address="a@shop.example", domain=DOMAIN)
    _subscribe(desk, down)
    _resolve(desk, "李伟", "zh", "li@x.cn")
    [row] = desk.outbox("pending")
    assert row.last_error is not None
    assert "unreachable: ConnectionRefusedError" in row.last_error


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"starttls": True}, "cannot start a session: SMTPNotSupportedError: STARTTLS"),
        ({"use_ssl": True}, "unreachable: SSLError"),
        (
            {"username": "desk", "password": "pw-7f3a"},
            "cannot start a session: SMTPNotSupportedError: SMTP AUTH",
        ),
    ],
)
def test_a_server_without_tls_or_login_is_a_setting_to_fix_so_the_mail_waits(
    server: SmtpReceiver, clock: FrozenClock, options: dict[str, object], reason: str
) -> None:
    with pytest.raises(DeliveryFailed) as raised:
        _mailer(server, clock, **options).send(_message())
    assert raised.value.permanent is False
    assert str(raised.value).startswith(f"SMTP server 127.0.0.1:{server.port} {reason}")
    assert "pw-7f3a" not in str(raised.value)
    assert server.mails == []


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ({"greeting": "554 5.7.1 no mail from your network"}, "answered 554 5.7.1 no mail"),
        ({"replies": {"EHLO": "502 no", "HELO": "502 no"}}, "answered 502 no"),
        ({"hang_up_on": "DATA"}, "lost the connection: SMTPServerDisconnected"),
    ],
)
def test_a_server_that_turns_the_session_down_keeps_the_mail_for_a_retry(
    clock: FrozenClock, script: dict[str, object], reason: str
) -> None:
    with ScriptedSmtp(**script) as scripted:  # type: ignore[arg-type]
        mailer = SmtpSender(
            "127.0.0.1", scripted.port, from_address="a@shop.example", domain=DOMAIN, clock=clock
        )
        with pytest.raises(DeliveryFailed) as raised:
            mailer.send(_message())
    assert raised.value.permanent is False
    assert str(raised.value).startswith(f"SMTP server 127.0.0.1:{scripted.port} {reason}")


def test_an_international_address_to_a_server_without_smtputf8_is_dead_lettered(
    clock: FrozenClock,
) -> None:
    with ScriptedSmtp() as scripted:
        mailer = SmtpSender(
            "127.0.0.1", scripted.port, from_address="a@shop.example", domain=DOMAIN, clock=clock
        )
        with pytest.raises(DeliveryFailed) as raised:
            mailer.send(_message(Recipient(Channel.EMAIL, "李伟@例子.中国")))
    assert raised.value.permanent is True
    assert "SMTPUTF8" in str(raised.value)
    assert "MAIL" not in scripted.commands


def test_only_email_recipients_with_an_address_are_mailed(clock: FrozenClock) -> None:
    mailer = SmtpSender("127.0.0.1", from_address="a@shop.example", domain=DOMAIN)
    with pytest.raises(DeliveryFailed) as raised:
        mailer.send(_message(Recipient(Channel.SMS, "+8613800000000")))
    assert (raised.value.permanent, str(raised.value)) == (
        True,
        "SmtpSender sends email; the recipient is on sms",
    )
    with pytest.raises(DeliveryFailed) as raised:
        mailer.compose(_message(Recipient(Channel.EMAIL, "li@x.cn\nBcc: all@x.cn")))
    assert raised.value.permanent is True
    with pytest.raises(DeliveryFailed) as raised:
        mailer.compose(_message(Recipient(Channel.EMAIL, "nobody")))
    assert str(raised.value) == "not an email address: 'nobody'"


def test_the_subject_carries_the_ticket_token_once_and_stays_on_one_line() -> None:
    mailer = SmtpSender("127.0.0.1", from_address="a@shop.example", domain=DOMAIN)
    numbered = Recipient(Channel.EMAIL, "li@x.cn", ticket_number=12)
    assert mailer.subject_for(_message(numbered, subject="[#12] Kettle")) == "[#12] Kettle"
    assert mailer.subject_for(_message(numbered, subject="Kettle\n\tleaks")) == "[#12] Kettle leaks"
    assert mailer.subject_for(_message(numbered, subject="", body="\nFirst line\nmore")) == (
        "[#12] First line"
    )
    assert mailer.subject_for(_message(subject="Kettle")) == "Kettle"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"host": " "}, "host"),
        ({"port": 0}, "port"),
        ({"port": True}, "port"),
        ({"from_address": "support"}, "from_address"),
        ({"domain": "desk example"}, "domain"),
        ({"starttls": True, "use_ssl": True}, "starttls"),
        ({"username": "desk"}, "username"),
        ({"timeout": -1}, "timeout"),
    ],
)
def test_an_smtp_sender_refuses_a_bad_setting(arguments: dict[str, object], field: str) -> None:
    settings: dict[str, object] = {
        "host": "127.0.0.1",
        "from_address": "a@shop.example",
        "domain": DOMAIN,
        **arguments,
    }
    with pytest.raises(InvalidInput) as raised:
        SmtpSender(**settings)  # type: ignore[arg-type]
    assert raised.value.errors[0].location == (field,)
    assert repr(SmtpSender("mx", 587, from_address="a@b.c", domain=DOMAIN)) == (
        "SmtpSender('mx', 587, from_address='a@b.c')"
    )


def test_a_sender_with_a_thread_secret_signs_its_message_ids_for_inbound_mail() -> None:
    signed = SmtpSender("mx", from_address="a@b.c", domain=DOMAIN, thread_secret="s3cret")
    plain = SmtpSender("mx", from_address="a@b.c", domain=DOMAIN)
    message = _message()
    subject_id = message.event.subject_id
    mail = signed.compose(message)
    assert mail["Message-ID"] == message_id_for(subject_id, message.key, DOMAIN, secret=b"s3cret")
    for header in ("Message-ID", "References"):
        assert subject_id_from_message_id(str(mail[header]), secret="s3cret") == subject_id
        assert subject_id_from_message_id(str(mail[header]), secret="other") is None
    unsigned = str(plain.compose(message)["Message-ID"])
    assert subject_id_from_message_id(unsigned, secret="s3cret") is None
    for bad in ("", b"", 42):
        with pytest.raises(InvalidInput) as raised:
            SmtpSender("mx", from_address="a@b.c", domain=DOMAIN, thread_secret=bad)  # type: ignore[arg-type]
        assert raised.value.errors[0].location == ("thread_secret",)


def _message(
    recipient: Recipient | None = None, *, subject: str = "Ticket #1: resolved", body: str = "Hi"
) -> OutgoingMessage:
    desk = Desk(clock=FrozenClock(START))
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    event = desk.history(ticket.id)[0]
    key = Notification.key_for(event, "email")
    to = recipient or Recipient(Channel.EMAIL, "li@x.cn")
    return OutgoingMessage(key, to, body, event, subject)
