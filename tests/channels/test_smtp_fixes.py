"""Fixes from the senders' review for email: message ids a mail client can read on the
wire, one mailbox per customer address, and a refused sender that is a setting to fix."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from _receivers import ScriptedSmtp, SmtpReceiver

from aftersales import DeliveryFailed, Desk, FrozenClock, Notification
from aftersales.models import Channel
from aftersales.notify.mail_ids import message_id_for
from aftersales.notify.senders import OutgoingMessage, Recipient, SmtpSender

START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
DOMAIN = "desk.shop.example"


@pytest.fixture
def server() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as running:
        yield running


def _message(address: str = "li@x.cn") -> OutgoingMessage:
    desk = Desk(clock=FrozenClock(START))
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    event = desk.history(ticket.id)[0]
    key = Notification.key_for(event, "email")
    recipient = Recipient(Channel.EMAIL, address, ticket_number=ticket.number)
    return OutgoingMessage(key, recipient, "Hi", event, "Kettle")


def _on_the_wire(raw: bytes, name: str) -> str:
    value = email.message_from_bytes(raw)[name]  # compat32: as written, never decoded
    assert value is not None
    return " ".join(str(value).split())


def test_signed_message_ids_stay_plain_on_the_wire_however_long() -> None:
    message = _message()
    subject_id = message.event.subject_id
    secret = "a-long-random-thread-secret"
    mailer = SmtpSender(
        "127.0.0.1",
        from_address="Shop Support <support@shop.example>",
        domain="a-rather-long-subdomain.of-the-support-desk.shop.example",
        thread_secret=secret,
    )
    raw = mailer.compose(message).as_bytes()
    head = raw.split(b"\n\n", 1)[0]
    expected_references = message_id_for(subject_id, subject_id, mailer.domain, secret=secret)
    assert len(expected_references) > 78  # longer than a folded line
    assert b"=?" not in head
    assert (_on_the_wire(raw, "Message-ID"), _on_the_wire(raw, "References")) == (
        message_id_for(subject_id, message.key, mailer.domain, secret=secret),
        expected_references,
    )


def test_a_named_address_is_mailed_to_its_one_mailbox(server: SmtpReceiver) -> None:
    mailer = SmtpSender("127.0.0.1", server.port, from_address="a@shop.example", domain=DOMAIN)
    mailer.send(_message('"Li, Wei" <li@x.cn>'))
    server.wait_for(1)
    assert [to for _, to in server.envelopes] == [["li@x.cn"]]


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("li@x.cn, boss@other.example", "the address names 2 mailboxes (or a group), not one"),
        ("friends: li@x.cn;", "the address names 1 mailboxes (or a group), not one"),
        ("undisclosed-recipients:;", "the address names 0 mailboxes (or a group), not one"),
        ("li@x.cn boss@other.example", "not an email address"),
        ("li@x.cn <boss@other.example>", "not an email address"),
        ("@x.cn", "not an email address"),
        ("", "not an email address"),
    ],
)
def test_an_address_that_is_not_one_mailbox_is_dead_lettered_unsent(
    server: SmtpReceiver, address: str, reason: str
) -> None:
    mailer = SmtpSender("127.0.0.1", server.port, from_address="a@shop.example", domain=DOMAIN)
    with pytest.raises(DeliveryFailed) as raised:
        mailer.send(_message(address))
    assert (str(raised.value), raised.value.permanent) == (f"{reason}: {address!r}", True)
    assert (server.attempts, server.envelopes) == (0, [])


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [
        ("530 5.7.0 Authentication required", False),
        ("535 Authentication credentials invalid", False),
        ("553 5.7.1 Sender address rejected: not owned by user desk", False),
        ("550 5.7.1 Client host rejected: access denied", False),
        ("552 5.3.4 Message size exceeds fixed limit", True),
        ("550 sender refused", True),
        ("451 4.3.0 try later", False),
    ],
)
def test_a_refused_sender_waits_for_its_settings_unless_the_mail_is_at_fault(
    reply: str, permanent: bool
) -> None:
    with ScriptedSmtp(replies={"MAIL": reply}) as scripted:
        mailer = SmtpSender(
            "127.0.0.1", scripted.port, from_address="a@shop.example", domain=DOMAIN
        )
        with pytest.raises(DeliveryFailed) as raised:
            mailer.send(_message())
    assert (str(raised.value), raised.value.permanent) == (
        f"SMTP server 127.0.0.1:{scripted.port} refused the mail: {reply}",
        permanent,
    )
