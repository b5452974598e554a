"""Text messages through a provider: the HTTP reference provider against a real local
receiver, and a provider of another platform (WeChat) through the same interface."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import pytest
from _receivers import Answer, HttpReceiver

from aftersales import Customer, DeliveryFailed, Desk, FrozenClock, InvalidInput
from aftersales.notify.senders import (
    HttpSmsProvider,
    SenderHandler,
    SmsProvider,
    SmsSender,
    customer_recipients,
)

START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
TOKEN = "sk_live_51Hc8a2"


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
def provider(receiver: HttpReceiver, clock: FrozenClock) -> Iterator[HttpSmsProvider]:
    with HttpSmsProvider(receiver.url, token=TOKEN, sender_id="SHOP", clock=clock) as made:
        yield made


def _subscribe(desk: Desk, sender: SmsSender, channel: str = "sms") -> None:
    handler = SenderHandler(sender, recipient=customer_recipients(desk, channel))
    desk.on_transition(handler, "created", name=channel)


def _open(desk: Desk, channel: str = "sms", address: str = "+8613800000000") -> str:
    customer = Customer(name="王芳", contacts=[{"channel": channel, "address": address}])
    return desk.open_ticket(customer=customer, channel=channel, subject="快递丢了").id


def test_a_new_ticket_texts_the_customer_through_the_http_provider(
    receiver: HttpReceiver, desk: Desk, provider: HttpSmsProvider
) -> None:
    _subscribe(desk, SmsSender(provider))
    ticket_id = _open(desk)
    [request] = receiver.wait_for(1)
    key = f"{ticket_id}:1:sms"
    assert json.loads(request.body) == {
        "to": "+8613800000000",
        "text": "Ticket #1: new",
        "idempotency_key": key,
        "from": "SHOP",
    }
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Idempotency-Key"] == key
    desk.flush()
    assert [n.key for n in desk.outbox("delivered")] == [key]


def test_a_provider_that_is_busy_gets_the_text_once_when_it_asked(
    receiver: HttpReceiver, desk: Desk, clock: FrozenClock, provider: HttpSmsProvider
) -> None:
    receiver.script = [Answer(503, {"Retry-After": "300"}), Answer(500)]
    _subscribe(desk, SmsSender(provider))
    _open(desk)
    [row] = desk.outbox("pending")
    assert row.next_attempt_at == START + timedelta(seconds=300)
    clock.set(row.next_attempt_at)
    desk.dispatch_outbox()
    [row] = desk.outbox("pending")
    assert row.last_error == "DeliveryFailed: SMS provider answered 500 Internal Server Error"
    clock.set(row.next_attempt_at)
    assert desk.dispatch_outbox().delivered == 1
    requests = receiver.wait_for(3)
    assert [r.status for r in requests] == [503, 500, 200]
    assert len({r.headers["Idempotency-Key"] for r in requests}) == 1


def test_a_provider_that_refuses_the_token_dead_letters_without_showing_it(
    receiver: HttpReceiver, desk: Desk, provider: HttpSmsProvider
) -> None:
    receiver.default = Answer(401, body="bad token")
    _subscribe(desk, SmsSender(provider))
    _open(desk)
    [row] = desk.outbox("dead")
    assert row.last_error == "DeliveryFailed: SMS provider answered 401 Unauthorized: bad token"
    assert TOKEN not in repr(provider)
    assert repr(provider) == f"HttpSmsProvider({receiver.url!r}, token=...)"


def test_without_a_sender_id_the_provider_picks_the_sender(
    receiver: HttpReceiver, clock: FrozenClock
) -> None:
    with HttpSmsProvider(receiver.url, token=TOKEN, clock=clock) as plain:
        plain.send_sms("+8613800000000", "您好", idempotency_key="k-1")
    [request] = receiver.wait_for(1)
    assert json.loads(request.body) == {
        "to": "+8613800000000",
        "text": "您好",
        "idempotency_key": "k-1",
    }


def test_a_long_text_is_cut_to_the_providers_length() -> None:
    sender = SmsSender(_Recorder(), max_length=12)
    assert sender.text_for("  Your kettle is on its way  ") == "Your kettle…"
    assert sender.text_for("On its way") == "On its way"


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send_sms(self, to: str, text: str, *, idempotency_key: str) -> None:
        self.sent.append((to, text, idempotency_key))


class _WeChatTemplateMessages:
    """A WeChat official account's template messages, as the how-to shows (in memory)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []

    def send_sms(self, to: str, text: str, *, idempotency_key: str) -> None:
        if not to.startswith("o"):
            raise DeliveryFailed("errcode 40003: invalid openid", permanent=True)
        self.sent.append({"touser": to, "data": {"first": {"value": text}}})


def test_another_platform_plugs_in_as_a_provider_on_its_own_channel(desk: Desk) -> None:
    wechat = _WeChatTemplateMessages()
    assert isinstance(wechat, SmsProvider)
    _subscribe(desk, SmsSender(wechat, channel="wechat"), channel="wechat")
    _open(desk, "wechat", "oAbC123openid")
    _open(desk, "wechat", "not-an-openid")
    assert wechat.sent == [
        {"touser": "oAbC123openid", "data": {"first": {"value": "Ticket #1: new"}}}
    ]
    [row] = desk.outbox("dead")
    assert row.last_error == "DeliveryFailed: errcode 40003: invalid openid"


def test_a_message_for_another_channel_is_dead_lettered(desk: Desk) -> None:
    recorder = _Recorder()
    _subscribe(desk, SmsSender(recorder), channel="email")
    _open(desk, "email", "li@x.cn")
    [row] = desk.outbox("dead")
    assert row.last_error == ("DeliveryFailed: this sender texts on sms; the recipient is on email")
    assert recorder.sent == []


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"provider": object()}, "provider"),
        ({"channel": "pigeon"}, "channel"),
        ({"max_length": 0}, "max_length"),
        ({"max_length": True}, "max_length"),
    ],
)
def test_an_sms_sender_refuses_a_bad_setting(arguments: dict[str, object], field: str) -> None:
    settings: dict[str, object] = {"provider": _Recorder(), **arguments}
    provider = settings.pop("provider")
    with pytest.raises(InvalidInput) as raised:
        SmsSender(provider, **settings)  # type: ignore[arg-type]
    assert raised.value.errors[0].location == (field,)


def test_the_http_provider_refuses_an_empty_token() -> None:
    with pytest.raises(InvalidInput) as raised:
        HttpSmsProvider("https://sms.example/send", token="")
    assert raised.value.errors[0].location == ("token",)


def test_a_handler_texts_only_the_kinds_it_maps_and_customers_it_finds(desk: Desk) -> None:
    recorder = _Recorder()
    find = customer_recipients(desk, "sms")
    handler = SenderHandler(SmsSender(recorder), recipient={"complaint": find})
    desk.subscribe(handler, triggers=["created"], kinds="all", name="sms")
    ticket_id = _open(desk)  # a ticket: not in the mapping
    complaint = desk.cases.open_complaint(ticket_id, summary="The parcel never came")
    no_phone = desk.open_ticket(customer="c-unknown", channel="app", subject="Kettle")
    desk.cases.open_complaint(no_phone.id, summary="No such customer")
    assert recorder.sent == [
        (
            "+8613800000000",
            f"Complaint {complaint.id} (ticket #1): received",
            f"{complaint.id}:1:sms",
        )
    ]
    series = desk.history(ticket_id)[0].model_copy(update={"subject_kind": "risk_series"})
    assert find(series) is None
    email_only = Customer(name="Ann", contacts=[{"channel": "email", "address": "ann@x.cn"}])
    ticket = desk.open_ticket(customer=email_only, channel="email", subject="Toaster")
    assert find(desk.history(ticket.id)[0]) is None


def test_a_handler_sends_nothing_when_its_finder_finds_nobody(desk: Desk) -> None:
    recorder = _Recorder()
    desk.on_transition(SenderHandler(SmsSender(recorder), recipient=lambda event: None), name="x")
    _open(desk)
    assert recorder.sent == []


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: SenderHandler(object(), recipient=lambda e: None), "sender"),  # type: ignore[arg-type]
        (lambda: SenderHandler(SmsSender(_Recorder()), recipient="sms"), "recipient"),  # type: ignore[arg-type]
        (lambda: customer_recipients(Desk(), "pigeon"), "channel"),
    ],
)
def test_a_handler_refuses_what_cannot_send(make: Callable[[], object], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        make()
    assert raised.value.errors[0].location == (field,)
