"""Webhooks against a real HTTP receiver on 127.0.0.1: signed, retried through the
outbox as the receiver asks, dead-lettered when it refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
from _receivers import Answer, HttpReceiver, closed_port

from aftersales import (
    Customer,
    DeliveryFailed,
    Desk,
    Event,
    FrozenClock,
    InvalidInput,
    Notification,
)
from aftersales.notify.senders import SenderHandler, customer_recipients
from aftersales.notify.senders.webhook import (
    Webhook,
    WebhookSender,
    delivery_failure,
    retry_after_seconds,
    verify_signature,
)

START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
SECRET = "whsec_9f8e7d6c5b4a39281706"


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as running:
        yield running


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def desk(clock: FrozenClock) -> Desk:
    return Desk(clock=clock, settings={"retry_backoff_seconds": 30, "max_delivery_attempts": 5})


@pytest.fixture
def sender(receiver: HttpReceiver, clock: FrozenClock) -> Iterator[WebhookSender]:
    with WebhookSender(receiver.url, secret=SECRET, clock=clock) as made:
        yield made


def _subscribe(desk: Desk, sender: WebhookSender) -> None:
    handler = SenderHandler(sender, recipient=customer_recipients(desk, "email"))
    desk.on_enter("resolved", handler, name="webhook")


def _resolve(desk: Desk, address: str = "li@x.cn") -> str:
    customer = Customer(
        name="Li Wei", language="zh", contacts=[{"channel": "email", "address": address}]
    )
    ticket = desk.open_ticket(customer=customer, channel="email", subject="水壶漏水")
    desk.classify(ticket.id, category="repair_warranty", severity="low")
    desk.assign(ticket.id, assignee="agent-7")
    desk.fire(ticket.id, "start")
    desk.resolve(ticket.id, resolution="Sent a new seal")
    return ticket.id


def _retry_when_due(desk: Desk, clock: FrozenClock) -> Notification:
    [row] = desk.outbox("pending")
    clock.set(row.next_attempt_at)
    desk.dispatch_outbox()
    [after] = [n for n in desk.outbox() if n.key == row.key]
    return after


def test_a_receiver_that_fails_three_times_gets_the_message_once_signed(
    receiver: HttpReceiver, desk: Desk, clock: FrozenClock, sender: WebhookSender
) -> None:
    receiver.script = [Answer(503), Answer(500), Answer(502)]
    _subscribe(desk, sender)
    ticket_id = _resolve(desk)
    row = desk.outbox("pending")[0]
    while row.status == "pending":
        row = _retry_when_due(desk, clock)
    requests = receiver.wait_for(4)
    assert [r.status for r in requests] == [503, 500, 502, 200]
    assert (row.status, row.attempts) == ("delivered", 3)
    assert [r.headers["Idempotency-Key"] for r in requests] == [row.key] * 4
    assert verify_signature(SECRET, requests[-1].body, requests[-1].headers, now=clock.now())
    sent = json.loads(requests[-1].body)
    assert sent["key"] == row.key
    assert sent["body"] == sent["subject"] == "Ticket #1: resolved"
    assert sent["recipient"] == {
        "channel": "email",
        "address": "li@x.cn",
        "customer_id": desk.get(ticket_id).customer_id,
        "language": "zh",
        "about": "Ticket #1",
        "ticket_number": 1,
    }
    assert {k: sent["event"][k] for k in ("id", "subject_kind", "trigger", "to", "at")} == {
        "id": f"{ticket_id}:5",
        "subject_kind": "ticket",
        "trigger": "resolve",
        "to": "resolved",
        "at": START.isoformat(),
    }
    assert requests[-1].headers["Content-Type"] == "application/json"
    assert requests[-1].headers["User-Agent"].startswith("aftersales/")


def test_every_retry_is_signed_at_its_own_time(
    receiver: HttpReceiver, desk: Desk, clock: FrozenClock, sender: WebhookSender
) -> None:
    receiver.script = [Answer(503)]
    _subscribe(desk, sender)
    _resolve(desk)
    _retry_when_due(desk, clock)
    first, second = receiver.wait_for(2)
    stamps = [int(r.headers["X-Aftersales-Timestamp"]) for r in (first, second)]
    assert stamps == [int(START.timestamp()), int(START.timestamp()) + 30]
    assert first.body == second.body
    assert not verify_signature(
        SECRET, first.body, first.headers, now=clock.now() + timedelta(minutes=5)
    )
    assert verify_signature(SECRET, second.body, second.headers, now=clock.now())


def test_a_receiver_that_always_fails_dead_letters_the_message_with_its_answer(
    receiver: HttpReceiver, desk: Desk, clock: FrozenClock, sender: WebhookSender
) -> None:
    receiver.default = Answer(503, body="upstream down")
    _subscribe(desk, sender)
    _resolve(desk)
    for _ in range(4):
        row = _retry_when_due(desk, clock)
    assert len(receiver.wait_for(5)) == 5
    assert (row.status, row.attempts) == ("dead", 5)
    assert row.last_error == (
        "DeliveryFailed: webhook answered 503 Service Unavailable: upstream down"
    )
    assert SECRET not in row.last_error


def test_a_429_with_retry_after_waits_exactly_as_long_as_asked(
    receiver: HttpReceiver, desk: Desk, clock: FrozenClock, sender: WebhookSender
) -> None:
    receiver.script = [Answer(429, {"Retry-After": "120"})]
    _subscribe(desk, sender)
    _resolve(desk)
    [row] = desk.outbox("pending")
    assert row.next_attempt_at == START + timedelta(seconds=120)
    clock.advance(seconds=119)
    assert desk.dispatch_outbox().delivered == 0
    assert len(receiver.requests) == 1
    clock.advance(seconds=1)
    assert desk.dispatch_outbox().delivered == 1
    assert [r.status for r in receiver.wait_for(2)] == [429, 200]


def test_a_retry_after_http_date_is_the_time_of_the_next_attempt(
    receiver: HttpReceiver, desk: Desk, sender: WebhookSender
) -> None:
    later = START + timedelta(minutes=10)
    receiver.script = [Answer(503, {"Retry-After": format_datetime(later, usegmt=True)})]
    _subscribe(desk, sender)
    _resolve(desk)
    [row] = desk.outbox("pending")
    assert row.next_attempt_at == later


def test_a_refusal_dead_letters_at_the_first_attempt(
    receiver: HttpReceiver, desk: Desk, sender: WebhookSender
) -> None:
    receiver.default = Answer(400, body='{"error": "unknown field"}')
    _subscribe(desk, sender)
    _resolve(desk)
    [row] = desk.outbox("dead")
    assert (row.attempts, row.last_error) == (
        1,
        'DeliveryFailed: webhook answered 400 Bad Request: {"error": "unknown field"}',
    )
    assert len(receiver.requests) == 1


def test_a_redirect_is_not_followed_and_says_to_give_the_final_url(
    receiver: HttpReceiver, desk: Desk, sender: WebhookSender
) -> None:
    receiver.default = Answer(301, {"Location": "https://elsewhere.example/hook"})
    _subscribe(desk, sender)
    _resolve(desk)
    [row] = desk.outbox("dead")
    assert row.last_error is not None
    assert row.last_error.startswith("DeliveryFailed: webhook answered 301 Moved Permanently")
    assert row.last_error.endswith("(redirects are not followed: give the final URL)")


def test_a_receiver_that_does_not_answer_in_time_is_retried(
    receiver: HttpReceiver, desk: Desk, clock: FrozenClock
) -> None:
    receiver.script = [Answer(stall=True)]
    with WebhookSender(receiver.url, secret=SECRET, timeout=0.5, clock=clock) as slow:
        _subscribe(desk, slow)
        _resolve(desk)
    [row] = desk.outbox("pending")
    assert (row.attempts, row.next_attempt_at) == (1, START + timedelta(seconds=30))
    assert row.last_error == "DeliveryFailed: webhook did not answer within 0.5 s (ReadTimeout)"
    assert len(receiver.wait_for(1)) == 1


def test_a_receiver_that_is_down_is_retried(desk: Desk, clock: FrozenClock) -> None:
    url = f"http://127.0.0.1:{closed_port()}/hook"
    with WebhookSender(url, secret=SECRET, clock=clock) as down:
        _subscribe(desk, down)
        _resolve(desk)
    [row] = desk.outbox("pending")
    assert row.last_error is not None
    assert row.last_error.startswith("DeliveryFailed: webhook unreachable: ConnectError")
    assert SECRET not in row.last_error


def test_the_webhook_hook_posts_each_event_signed(
    receiver: HttpReceiver, desk: Desk, clock: FrozenClock
) -> None:
    with Webhook(receiver.url, secret=SECRET, clock=clock, headers={"X-Shop": "north"}) as hook:
        desk.subscribe(hook, kinds="ticket", name="erp")
        ticket = desk.open_ticket(customer="c-1", channel="web_chat", subject="Kettle")
        desk.classify(ticket.id, category="repair_warranty", severity="low")
    created, classified = receiver.wait_for(2)
    assert [json.loads(r.body)["event"]["trigger"] for r in (created, classified)] == [
        "created",
        "classify",
    ]
    sent = json.loads(classified.body)
    assert sent["key"] == classified.headers["Idempotency-Key"] == f"{ticket.id}:2:erp"
    assert sent["event"]["payload"] == {
        "category": "repair_warranty",
        "severity": "low",
        "evidence": [],
    }
    assert (sent["event"]["from"], sent["event"]["to"], sent["event"]["sequence"]) == (
        "new",
        "classified",
        2,
    )
    assert classified.headers["X-Shop"] == "north"
    assert verify_signature(SECRET.encode(), classified.body, classified.headers, now=clock.now())
    desk.flush()
    assert len(desk.outbox("delivered")) == 2


def test_a_client_of_yours_is_used_and_left_open(
    receiver: HttpReceiver, clock: FrozenClock
) -> None:
    with httpx.Client() as client:
        hook = Webhook(receiver.url, secret=SECRET.encode(), client=client, clock=clock)
        desk = Desk(clock=clock)
        desk.subscribe(hook, kinds="ticket", name="erp")
        desk.open_ticket(customer="c-1", channel="app", subject="Kettle")
        hook.close()
        assert not client.is_closed
    [request] = receiver.wait_for(1)
    assert verify_signature(SECRET, request.body, request.headers, now=clock.now())
    assert repr(hook) == f"Webhook({receiver.url!r}, secret=...)"


def test_a_closed_sender_opens_a_new_connection_when_used_again(
    receiver: HttpReceiver, desk: Desk, sender: WebhookSender
) -> None:
    _subscribe(desk, sender)
    _resolve(desk)
    sender.close()
    _resolve(desk, "wang@x.cn")
    assert [json.loads(r.body)["recipient"]["ticket_number"] for r in receiver.wait_for(2)] == [
        1,
        2,
    ]
    assert sender.url == receiver.url


def test_a_signature_does_not_verify_when_anything_was_changed() -> None:
    captured: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(204)

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        hook = Webhook(
            "https://erp.example/hook", secret=SECRET, client=client, clock=FrozenClock(START)
        )
        hook(Notification("t:1:erp", "erp", _created_event(), START, START))
    [request] = captured
    headers = dict(request.headers)
    signed = request.content
    assert verify_signature(SECRET, signed, headers, now=START)
    assert not verify_signature(SECRET, signed + b" ", headers, now=START)
    assert not verify_signature("another-secret", signed, headers, now=START)
    stale = {**headers, "x-aftersales-timestamp": "1"}
    assert not verify_signature(SECRET, signed, stale, now=START)
    assert not verify_signature(SECRET, signed, {"x-aftersales-timestamp": "1"}, now=START)
    garbled = {**headers, "x-aftersales-timestamp": "soon"}
    assert not verify_signature(SECRET, signed, garbled, now=START)
    assert not verify_signature(SECRET, signed, headers, now=START + timedelta(seconds=301))
    assert verify_signature(SECRET, signed, headers, now=START - timedelta(seconds=300))
    rotated = {
        **headers,
        "x-aftersales-signature": "sha256=00, " + headers["x-aftersales-signature"],
    }
    assert verify_signature(SECRET, signed, rotated, now=START)


def test_a_signature_made_now_verifies_against_the_system_clock() -> None:
    captured: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        Webhook("https://erp.example/hook", secret=SECRET, client=client)(
            Notification("t:1:erp", "erp", _created_event(), START, START)
        )
    [request] = captured
    assert verify_signature(SECRET, request.content, dict(request.headers))
    stale = {**request.headers, "x-aftersales-timestamp": str(int(START.timestamp()))}
    assert not verify_signature(SECRET, request.content, stale)


def _created_event() -> Event:
    desk = Desk(clock=FrozenClock(START))
    ticket = desk.open_ticket(customer="c-1", channel="app", subject="Kettle")
    return desk.history(ticket.id)[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("0", 0.0),
        ("86400", 86_400.0),
        ("999999999999999999", 86_400.0),
        ("Mon, 02 Mar 2026 08:00:00 GMT", 0.0),
        ("Mon, 02 Mar 2026 09:00:30 -0000", 30.0),
        ("Tue, 02 Mar 2027 09:00:00 GMT", 86_400.0),
        ("-5", None),
        ("in a while", None),
        ("", None),
    ],
)
def test_retry_after_is_read_as_seconds_or_a_date_within_a_day(
    value: str | None, expected: float | None
) -> None:
    assert retry_after_seconds(value, START) == expected


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (408, False),
        (425, False),
        (429, False),
        (500, False),
        (599, False),
        (401, True),
        (404, True),
        (422, True),
    ],
)
def test_which_answers_are_retried(status: int, permanent: bool) -> None:
    failure = delivery_failure(httpx.Response(status), now=START, what="CRM")
    assert isinstance(failure, DeliveryFailed)
    assert (failure.permanent, str(failure).startswith(f"CRM answered {status}")) == (
        permanent,
        True,
    )
    assert delivery_failure(httpx.Response(204), now=START) is None


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"url": "ftp://erp.example/hook"}, "url"),
        ({"url": "/relative"}, "url"),
        ({"url": "http://"}, "url"),
        ({"url": "http://[::1"}, "url"),
        ({"url": None}, "url"),
        ({"secret": ""}, "secret"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": True}, "timeout"),
    ],
)
def test_a_webhook_refuses_a_bad_setting(arguments: dict[str, object], field: str) -> None:
    settings: dict[str, object] = {"url": "https://erp.example/hook", "secret": SECRET, **arguments}
    with pytest.raises(InvalidInput) as raised:
        WebhookSender(**settings)  # type: ignore[arg-type]
    assert raised.value.errors[0].location == (field,)
