"""Fixes from the senders' review: what a receiver reads in the headers, what a
receiver's own check refuses, how long an answer may take, and what is never sent."""

from __future__ import annotations

import gzip
import json
import time
import urllib.parse
from datetime import datetime, timezone

import httpx
import pytest

from aftersales import DeliveryFailed, Desk, FrozenClock, InvalidInput, Notification
from aftersales.models import Channel
from aftersales.notify.senders import (
    HttpSmsProvider,
    OutgoingMessage,
    Recipient,
    SmsSender,
    WebhookSender,
)
from aftersales.notify.senders.webhook import (
    Webhook,
    _read_answer,
    delivery_failure,
    idempotency_header,
    verify_signature,
)

START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
SECRET = "whsec_9f8e7d6c5b4a39281706"


def _notification(name: str) -> Notification:
    desk = Desk(clock=FrozenClock(START))
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="Kettle")
    event = desk.history(ticket.id)[0]
    return Notification(Notification.key_for(event, name), name, event, START, START)


def _capturing(status: int = 200, **answer: object) -> tuple[httpx.Client, list[httpx.Request]]:
    captured: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(status, **answer)  # type: ignore[arg-type]

    return httpx.Client(transport=httpx.MockTransport(respond)), captured


@pytest.mark.parametrize(
    ("key", "header"),
    [
        ("t1:3:crm", "t1:3:crm"),
        ("t1:3:工单同步", "t1:3:%E5%B7%A5%E5%8D%95%E5%90%8C%E6%AD%A5"),
        ("t1:3:50%", "t1:3:50%25"),  # else "50%" and a key "50%25" would share a header
        ("t1:3:line\nbreak", "t1:3:line%0Abreak"),
        ("t1:3:a b", "t1:3:a b"),
    ],
)
def test_an_idempotency_key_header_is_printable_ascii_and_unquotes_to_the_key(
    key: str, header: str
) -> None:
    assert (header, key) == (idempotency_header(key), urllib.parse.unquote(header))


def test_a_webhook_named_in_chinese_sends_the_key_encoded_in_the_header_and_raw_in_the_body() -> (
    None
):
    notification = _notification("工单同步")
    client, captured = _capturing(204)
    with client:
        Webhook("https://erp.example/hook", secret=SECRET, client=client)(notification)
    [request] = captured
    assert (
        urllib.parse.unquote(request.headers["Idempotency-Key"]),
        json.loads(request.content)["key"],
    ) == (notification.key, notification.key)
    assert request.headers["Idempotency-Key"].isascii()


def test_an_sms_provider_sends_a_non_ascii_key_encoded_in_the_header_and_raw_in_the_body() -> None:
    client, captured = _capturing(200)
    with client:
        HttpSmsProvider("https://sms.example/send", token="tok", client=client).send_sms(
            "+8613800000000", "您好", idempotency_key="t1:1:短信"
        )
    [request] = captured
    assert (request.headers["Idempotency-Key"], json.loads(request.content)["idempotency_key"]) == (
        "t1:1:%E7%9F%AD%E4%BF%A1",
        "t1:1:短信",
    )


@pytest.mark.parametrize("secret", ["", b""])
def test_a_receiver_check_with_an_empty_secret_is_refused_as_a_setting(
    secret: str | bytes,
) -> None:
    with pytest.raises(InvalidInput) as raised:
        verify_signature(secret, b"{}", {}, now=START)
    assert [error.location for error in raised.value.errors] == [("secret",)]


@pytest.mark.parametrize("tolerance", [float("nan"), float("inf"), -1, True, "300", None])
def test_a_tolerance_that_is_not_a_finite_number_of_seconds_is_refused(tolerance: object) -> None:
    with pytest.raises(InvalidInput) as raised:
        verify_signature(SECRET, b"{}", {}, now=START, tolerance=tolerance)  # type: ignore[arg-type]
    assert [error.location for error in raised.value.errors] == [("tolerance",)]


def test_a_zero_tolerance_accepts_a_request_signed_this_very_second() -> None:
    client, captured = _capturing(204)
    with client:
        Webhook("https://erp.example/hook", secret=SECRET, client=client, clock=FrozenClock(START))(
            _notification("erp")
        )
    [request] = captured
    assert verify_signature(SECRET, request.content, request.headers, now=START, tolerance=0)


@pytest.mark.parametrize("retry_after", ["0", "Sun, 01 Mar 2026 09:00:00 GMT"])
def test_a_retry_after_that_asks_for_now_or_the_past_leaves_the_usual_backoff(
    retry_after: str,
) -> None:
    answer = httpx.Response(503, headers={"Retry-After": retry_after})
    failure = delivery_failure(answer, now=START)
    assert failure is not None
    assert (failure.permanent, failure.retry_after) == (False, None)


def test_a_refusal_with_a_long_answer_names_its_start_and_is_not_read_to_the_end() -> None:
    long_answer = "quota exceeded " + "x" * 300_000
    client, _ = _capturing(422, text=long_answer)
    with client, pytest.raises(DeliveryFailed) as raised:
        Webhook("https://erp.example/hook", secret=SECRET, client=client)(_notification("erp"))
    assert str(raised.value).startswith("webhook answered 422 Unprocessable Entity: quota exceeded")
    assert raised.value.permanent is True


def test_a_compressed_answer_is_read_decompressed() -> None:
    client, _ = _capturing(
        400, content=gzip.compress(b"bad payload"), headers={"Content-Encoding": "gzip"}
    )
    with client, pytest.raises(DeliveryFailed) as raised:
        Webhook("https://erp.example/hook", secret=SECRET, client=client)(_notification("erp"))
    assert str(raised.value) == "webhook answered 400 Bad Request: bad payload"


def test_an_answer_that_cannot_be_decompressed_is_retried() -> None:
    client, _ = _capturing(200, content=b"not gzip", headers={"Content-Encoding": "gzip"})
    with client, pytest.raises(DeliveryFailed) as raised:
        Webhook("https://erp.example/hook", secret=SECRET, client=client)(_notification("erp"))
    assert "sent an answer that cannot be decoded" in str(raised.value)
    assert raised.value.permanent is False


def test_an_answer_whose_deadline_has_passed_is_not_read() -> None:
    answer = httpx.Response(200, content=b"late")
    assert _read_answer(answer, time.monotonic() - 1) is None


def test_a_repr_masks_credentials_in_the_url() -> None:
    url = "https://bot:s3cret@erp.example/hooks?token=abc&v=2&flag"
    with (
        WebhookSender(url, secret=SECRET) as sender,
        HttpSmsProvider(url, token="tok") as provider,
    ):
        assert (repr(sender), repr(provider)) == (
            "WebhookSender('https://***@erp.example/hooks?token=***&v=***&***', secret=...)",
            "HttpSmsProvider('https://***@erp.example/hooks?token=***&v=***&***', token=...)",
        )
        assert sender.url == url  # the requests still go where they were told


class _Phone:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def send_sms(self, to: str, text: str, *, idempotency_key: str) -> None:
        self.texts.append(text)


def _text(body: str, subject: str) -> OutgoingMessage:
    notification = _notification("sms")
    recipient = Recipient(Channel.SMS, "+8613800000000")
    return OutgoingMessage(notification.key, recipient, body, notification.event, subject)


@pytest.mark.parametrize("subject", ["", " \t"])
def test_a_message_with_a_blank_body_and_no_subject_is_dead_lettered_unsent(
    subject: str,
) -> None:
    phone = _Phone()
    with pytest.raises(DeliveryFailed) as raised:
        SmsSender(phone).send(_text("\n \n", subject))
    assert (phone.texts, raised.value.permanent) == ([], True)
    assert "blank" in str(raised.value)


def test_a_body_is_texted_stripped_before_the_subject() -> None:
    phone = _Phone()
    SmsSender(phone).send(_text("  Your kettle ships today \n", "Ticket #1"))
    assert phone.texts == ["Your kettle ships today"]
