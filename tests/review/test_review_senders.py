"""Review of the senders (issue 19): defects found, each proved by a test that fails now
(strict xfail). A fixer removes the marker once the behaviour holds."""

from __future__ import annotations

import email
import hashlib
import hmac
import socket
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

_CHANNELS = str(Path(__file__).resolve().parents[1] / "channels")
if _CHANNELS not in sys.path:  # the scripted servers live beside the sender tests
    sys.path.insert(0, _CHANNELS)

from _receivers import Answer as _Answer  # noqa: E402
from _receivers import HttpReceiver as _HttpReceiver  # noqa: E402
from _receivers import ScriptedSmtp, SmtpReceiver  # noqa: E402

from aftersales import (  # noqa: E402
    Customer,
    DeliveryFailed,
    Desk,
    FrozenClock,
    Notification,
    SQLiteStore,
)
from aftersales.models import Channel  # noqa: E402
from aftersales.notify.mail_ids import message_id_for  # noqa: E402
from aftersales.notify.senders import (  # noqa: E402
    OutgoingMessage,
    Recipient,
    SenderHandler,
    SmsSender,
    SmtpSender,
    Webhook,
    WebhookSender,
    customer_recipients,
    verify_signature,
)
from aftersales.testing import capture_notifications  # noqa: E402
from aftersales.worker import Worker  # noqa: E402

START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
DOMAIN = "desk.shop.example"


def _message(
    recipient: Recipient | None = None, *, subject: str = "Ticket #1: resolved", body: str = "Hi"
) -> OutgoingMessage:
    desk = Desk(clock=FrozenClock(START))
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    event = desk.history(ticket.id)[0]
    key = Notification.key_for(event, "email")
    to = recipient or Recipient(Channel.EMAIL, "li@x.cn", ticket_number=ticket.number)
    return OutgoingMessage(key, to, body, event, subject)


class _RawSmtpReceiver(SmtpReceiver):
    """The aiosmtpd receiver, keeping the bytes on the wire too (a mail client reads
    those, not Python's decoded view)."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: list[bytes] = []
        self._raw_changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._raw_changed:
            self.raw.append(bytes(envelope.content))
            self._raw_changed.notify_all()
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def raw_server() -> Iterator[_RawSmtpReceiver]:
    with _RawSmtpReceiver() as running:
        yield running


def _header_on_the_wire(raw: bytes, name: str) -> str:
    """A header as a mail client reads the raw mail: unfolded, no RFC 2047 decoding
    (encoded words are not allowed in a msg-id, RFC 5322 3.6.4 / RFC 2047 5)."""
    parsed = email.message_from_bytes(raw)  # compat32: the value as written
    value = parsed[name]
    assert value is not None, f"no {name} header"
    return " ".join(str(value).split())


def test_references_goes_on_the_wire_as_a_plain_message_id_a_mail_client_can_thread(
    raw_server: _RawSmtpReceiver,
) -> None:
    message = _message()
    subject_id = message.event.subject_id  # an ordinary 32-character ticket id
    mailer = SmtpSender(
        "127.0.0.1",
        raw_server.port,
        from_address="Shop Support <support@shop.example>",
        domain=DOMAIN,
        clock=FrozenClock(START),
    )
    mailer.send(message)
    raw_server.wait_for(1)
    [raw] = raw_server.raw
    assert b"=?utf-8?" not in raw.split(b"\r\n\r\n", 1)[0]
    assert _header_on_the_wire(raw, "Message-ID") == message_id_for(subject_id, message.key, DOMAIN)
    assert _header_on_the_wire(raw, "References") == message_id_for(subject_id, subject_id, DOMAIN)


def test_a_message_id_for_an_id_that_needs_hex_stays_plain_on_the_wire() -> None:
    """Guard: the hex form of a non-ASCII id is folded but stays a plain msg-id."""
    base = _message()
    event = base.event.model_copy(update={"subject_id": "工单 1.2"})
    message = OutgoingMessage(base.key, base.recipient, "Hi", event, "Kettle")
    mailer = SmtpSender("127.0.0.1", from_address="a@shop.example", domain=DOMAIN)
    raw = mailer.compose(message).as_bytes()
    assert _header_on_the_wire(raw, "Message-ID") == message_id_for("工单 1.2", base.key, DOMAIN)


def _desk(path: Path, clock: FrozenClock, handlers: dict[str, list[str]]) -> Desk:
    desk = Desk(SQLiteStore(path), clock=clock)
    for name, seen in handlers.items():

        def hear(notification: Notification, seen: list[str] = seen) -> None:
            seen.append(notification.key)

        desk.on_transition(hear, "created", name=name, inline=False)
    return desk


def test_a_worker_without_a_rows_handler_leaves_it_to_the_worker_that_has_it(
    tmp_path: Path,
) -> None:
    clock = FrozenClock(START)
    path = tmp_path / "desk.db"
    mails: list[str] = []
    erp: list[str] = []
    web = _desk(path, clock, {"mail": [], "erp": []})
    mail_worker = _desk(path, clock, {"mail": mails})
    erp_worker = _desk(path, clock, {"erp": erp})
    ticket = web.open_ticket(customer="c-1", channel="email", subject="Kettle leaks")
    try:
        Worker(mail_worker).run_once()
        Worker(erp_worker).run_once()  # at the same instant: nothing else is due later
        assert (mails, erp) == ([f"{ticket.id}:1:mail"], [f"{ticket.id}:1:erp"])
    finally:
        for desk in (web, mail_worker, erp_worker):
            desk.close()


def test_capture_notifications_sees_what_a_worker_subscription_would_send() -> None:
    desk = Desk(clock=FrozenClock(START))
    desk.on_transition(lambda n: None, "created", name="mail", inline=False)
    with capture_notifications(desk) as sent:
        ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle leaks")
    assert [n.key for n in sent] == [f"{ticket.id}:1:mail"]


def test_a_worker_subscription_is_delivered_once_by_the_worker_never_by_the_commit(
    tmp_path: Path,
) -> None:
    """Guard for the inline=False contract the defects above rely on."""
    clock = FrozenClock(START)
    path = tmp_path / "desk.db"
    in_web: list[str] = []
    in_worker: list[str] = []
    web = _desk(path, clock, {"mail": in_web})
    worker = _desk(path, clock, {"mail": in_worker})
    ticket = web.open_ticket(customer="c-1", channel="email", subject="Kettle leaks")
    try:
        assert in_web == []
        Worker(worker).run_once()
        Worker(worker).run_once()
        clock.advance(days=1)
        Worker(worker).run_once()
        assert (in_web, in_worker) == ([], [f"{ticket.id}:1:mail"])
    finally:
        web.close()
        worker.close()


def _forged(secret: bytes, stamp: str, body: bytes) -> dict[str, str]:
    mac = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Aftersales-Timestamp": stamp, "X-Aftersales-Signature": f"sha256={mac}"}


def test_a_receiver_with_an_empty_secret_trusts_no_forged_request() -> None:
    body = b'{"key":"t:1:crm","body":"refund approved"}'
    stamp = str(int(START.timestamp()))
    forged = _forged(b"", stamp, body)
    try:
        accepted = verify_signature("", body, forged, now=START)
    except Exception:  # noqa: BLE001 - refusing the setting is as good as refusing it
        accepted = False
    assert accepted is False


def test_a_nan_tolerance_does_not_accept_a_replay_from_last_year() -> None:
    body = b"{}"
    old = _forged(b"s3cret", str(int(START.timestamp()) - 365 * 86_400), body)
    try:
        accepted = verify_signature("s3cret", body, old, now=START, tolerance=float("nan"))
    except Exception:  # noqa: BLE001 - refusing the setting is as good as refusing it
        accepted = False
    assert accepted is False


def test_a_server_that_wants_a_login_at_mail_from_keeps_the_mail_for_a_retry() -> None:
    with ScriptedSmtp(replies={"MAIL": "530 5.7.0 Authentication required"}) as scripted:
        mailer = SmtpSender(
            "127.0.0.1", scripted.port, from_address="a@shop.example", domain=DOMAIN
        )
        with pytest.raises(DeliveryFailed) as raised:
            mailer.send(_message())
    assert "530 5.7.0 Authentication required" in str(raised.value)
    assert raised.value.permanent is False


class _Phone:
    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def send_sms(self, to: str, text: str, *, idempotency_key: str) -> None:
        self.texts.append((to, text))


def test_a_blank_rendered_body_never_sends_an_empty_text() -> None:
    phone = _Phone()
    recipient = Recipient(Channel.SMS, "+8613800000000")
    SmsSender(phone).send(_message(recipient, subject="Ticket #1: resolved", body=" \n "))
    assert phone.texts == [("+8613800000000", "Ticket #1: resolved")]


def test_a_customer_without_an_address_on_the_channel_is_counted_delivered() -> None:
    """Observation, pinned: nobody to tell means delivered, nothing dead-lettered (the
    SenderHandler's docstring says so; the senders how-to does not)."""
    sent: list[OutgoingMessage] = []

    class Collect:
        def send(self, message: OutgoingMessage) -> None:
            sent.append(message)

    desk = Desk(clock=FrozenClock(START))
    handler = SenderHandler(Collect(), recipient=customer_recipients(desk, "email"))
    desk.on_transition(handler, "created", name="email")
    phone_only = Customer(name="Wang", contacts=[{"channel": "sms", "address": "+86138"}])
    desk.open_ticket(customer=phone_only, channel="sms", subject="Kettle leaks")
    desk.flush()
    assert (sent, len(desk.outbox("delivered")), desk.outbox("dead")) == ([], 1, [])


class _DrippingReceiver:
    """An HTTP server that answers 200 one byte at a time, each byte well within the
    sender's timeout, for far longer than the timeout in all: a receiver that never
    finishes answering."""

    def __init__(self, length: int, every: float) -> None:
        self.length = length
        self.every = every
        self.requests = 0
        self._stop = threading.Event()
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            connection, _ = self._socket.accept()
            with connection:
                if self._stop.is_set():
                    return
                self.requests += 1
                self._answer(connection)

    def _answer(self, connection: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = connection.recv(65536)
            if not chunk:
                return
            request += chunk
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {self.length}\r\nConnection: close\r\n\r\n"
        try:
            connection.sendall(head.encode())
            for _ in range(self.length):
                if self._stop.wait(self.every):
                    return
                connection.sendall(b".")
        except OSError:
            return  # the client gave up: what a timeout should do

    def __enter__(self) -> _DrippingReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        # a blocked accept() wakes for a last connection, not for a closed socket
        socket.create_connection(("127.0.0.1", self.port)).close()
        self._thread.join(60)
        self._socket.close()


def test_a_receiver_that_answers_one_byte_at_a_time_is_given_up_after_the_timeout() -> None:
    # 160 bytes every 0.05 s: 8 s in all against a 3 s timeout; no single wait nears 3 s
    with (
        _DrippingReceiver(length=160, every=0.05) as receiver,
        WebhookSender(receiver.url, secret="whsec-test", timeout=3.0) as hook,
        pytest.raises(DeliveryFailed) as raised,
    ):
        hook.send(_message())
    assert "did not answer within 3 s" in str(raised.value)
    assert raised.value.permanent is False


def test_a_customer_address_that_lists_two_mailboxes_mails_nobody_else(
    raw_server: _RawSmtpReceiver,
) -> None:
    listed = Customer(
        name="Li", contacts=[{"channel": "email", "address": "li@x.cn, boss@other.example"}]
    )
    mailer = SmtpSender(
        "127.0.0.1", raw_server.port, from_address="support@shop.example", domain=DOMAIN
    )
    refused_for_good = None
    try:
        mailer.send(_message(Recipient(Channel.EMAIL, listed.contacts[0].address)))
    except DeliveryFailed as refused:
        refused_for_good = refused.permanent  # refusing the address is as good
    assert refused_for_good in (None, True)
    assert [to for _, to in raw_server.envelopes] in ([], [["li@x.cn"]])


def test_a_webhook_subscribed_under_a_chinese_name_is_delivered(tmp_path: Path) -> None:
    with (
        _HttpReceiver() as receiver,
        # the desk's clock signs too, so the signature verifies at the desk's START
        Webhook(receiver.url, secret="whsec-test", clock=FrozenClock(START)) as hook,
    ):
        desk = Desk(clock=FrozenClock(START))
        desk.on_transition(hook, "created", name="工单同步")
        ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle leaks")
        desk.flush()
        [row] = desk.outbox()
        assert (row.key, row.attempts, row.last_error) == (f"{ticket.id}:1:工单同步", 0, None)
        [request] = receiver.wait_for(1)
        assert verify_signature("whsec-test", request.body, request.headers, now=START)


def test_a_retry_after_date_in_the_past_still_backs_off() -> None:
    clock = FrozenClock(START)
    yesterday = "Sun, 01 Mar 2026 09:00:00 GMT"  # a receiver whose clock is a day behind
    with (
        _HttpReceiver() as receiver,
        Webhook(receiver.url, secret="whsec-test", clock=clock) as hook,
    ):
        receiver.default = _Answer(503, {"Retry-After": yesterday})
        desk = Desk(clock=clock, settings={"retry_backoff_seconds": 30})
        desk.on_transition(hook, "created", name="erp", inline=False)
        desk.open_ticket(customer="c-1", channel="email", subject="Kettle leaks")
        desk.dispatch_outbox()
        receiver.wait_for(1)
        [row] = desk.outbox("pending")
        assert row.next_attempt_at > START
