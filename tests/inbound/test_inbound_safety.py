"""Mail built to hurt, forged threading, and a process that stops mid-mail: ingest_email
neither raises, nor writes strangers onto a ticket, nor stores one mail twice."""

from __future__ import annotations

import base64
import tracemalloc
from typing import Any

import pytest
from inbound_mailbox import DESK_DOMAIN, plain

from aftersales import Customer, Desk, InvalidInput
from aftersales.inbound import Outcome, find_thread, ingest_email, parse_email
from aftersales.inbound._thread import known_key
from aftersales.notify.mail_ids import message_id_for
from aftersales.storage import TicketQuery

SECRET = b"\x8f\x02 a secret both sides share"


def nested_parts(levels: int) -> bytes:
    part = b"Content-Type: text/plain\r\n\r\nhello\r\n"
    for level in range(levels):
        boundary = b"b%d" % level
        part = b'Content-Type: multipart/mixed; boundary="%s"\r\n\r\n--%s\r\n%s\r\n--%s--\r\n' % (
            boundary,
            boundary,
            part,
            boundary,
        )
    return b"From: Li <li@example.cn>\r\nSubject: deep\r\nMessage-ID: <deep@x>\r\n" + part


def forward_chain(levels: int, text: bytes = b"hello") -> bytes:
    part = b"Subject: s\r\nContent-Type: text/plain\r\n\r\n" + text + b"\r\n"
    for _ in range(levels):
        part = b"Subject: s\r\nContent-Type: message/rfc822\r\n\r\n" + part
    return part


def desk_id(ticket_id: str, secret: bytes | None = SECRET) -> str:
    return message_id_for(ticket_id, f"{ticket_id}:reply", DESK_DOMAIN, secret=secret)


def tickets_of(desk: Desk, customer_id: str | None) -> list[str]:
    return [t.id for t in desk.store.find(TicketQuery(customer_id=customer_id))]


def crash(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("the process died here")


# ---------------------------------------------------------------- mail built to hurt


def test_a_mail_nested_deeper_than_a_person_writes_is_read_for_its_headers_only() -> None:
    mail = parse_email(nested_parts(200))
    assert (mail.unreadable, mail.address, mail.display_name, mail.subject) == (
        "too_deep",
        "li@example.cn",
        "Li",
        "deep",
    )
    assert (mail.body, mail.attachments, mail.message_id) == ("", (), "<deep@x>")
    assert parse_email(nested_parts(100)).unreadable is None


def test_nesting_hidden_in_an_encoded_forward_is_caught_when_the_parser_gives_up() -> None:
    hidden = base64.encodebytes(forward_chain(3000))
    raw = (
        b"From: li@example.cn\r\nSubject: fw\r\nContent-Type: message/rfc822\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + hidden
    )
    mail = parse_email(raw)
    assert (mail.unreadable, mail.address, mail.body) == ("too_deep", "li@example.cn", "")


def test_a_mail_nested_too_deep_is_ignored_and_stores_nothing(desk: Desk) -> None:
    li = desk.save_customer(
        Customer(name="Li", contacts=[{"channel": "email", "address": "li@example.cn"}])
    )
    result = ingest_email(desk, nested_parts(2000))
    assert (result.outcome, result.reason, result.customer_id) == (
        Outcome.IGNORED,
        "too_deep",
        li.id,
    )
    assert tickets_of(desk, li.id) == []


def test_a_mail_over_max_bytes_is_ignored_unread(desk: Desk) -> None:
    raw = plain("li@example.cn", "Photos", "x" * 500, "<big@x>")
    too_large = ingest_email(desk, raw, max_bytes=len(raw) - 1)
    assert (too_large.outcome, too_large.reason) == (Outcome.IGNORED, "too_large")
    assert desk.find_customer("email", "li@example.cn") is None
    assert ingest_email(desk, raw, max_bytes=len(raw)).outcome is Outcome.OPENED


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"max_bytes": 0}, "max_bytes"),
        ({"max_bytes": True}, "max_bytes"),
        ({"max_bytes": "30M"}, "max_bytes"),
        ({"thread_secret": ""}, "thread_secret"),
        ({"thread_secret": b""}, "thread_secret"),
        ({"thread_secret": 42}, "thread_secret"),
    ],
)
def test_a_bad_size_limit_or_secret_is_refused_before_anything_is_stored(
    desk: Desk, arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        ingest_email(desk, plain("li@example.cn", "Hi", "hello", "<1@x>"), **arguments)
    assert raised.value.errors[0].location == (field,)
    assert desk.find_customer("email", "li@example.cn") is None


def test_a_chain_of_forwards_costs_memory_once_not_once_per_level() -> None:
    text = b"x" * 500_000
    peaks = []
    for levels in (1, 29):
        raw = b"From: li@example.cn\r\nMessage-ID: <f@x>\r\n" + forward_chain(levels, text)
        tracemalloc.start()
        mail = parse_email(raw)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert [len(a.data) > len(text) for a in mail.attachments] == [True]
    # each level serialised again would take ~29 times the mail; reading it takes ~10
    assert peaks[1] < 1.5 * peaks[0]


# ---------------------------------------------------------------- who may thread


def test_with_a_secret_only_a_signed_desk_id_threads_a_stranger(desk: Desk) -> None:
    li = ingest_email(desk, plain("li@example.cn", "Kettle", "leaks", "<1@x>"))
    ticket_id = li.ticket_id or ""
    answers = {
        "signed": desk_id(ticket_id),
        "unsigned": desk_id(ticket_id, secret=None),
        "other secret": desk_id(ticket_id, secret=b"not ours"),
    }
    reasons = {
        label: ingest_email(
            desk,
            plain("wang@example.cn", "Re", label, f"<{n}@w>", {"In-Reply-To": mid}),
            thread_secret=SECRET,
        )
        for n, (label, mid) in enumerate(answers.items())
    }
    assert {label: (r.reason, r.ticket_id == ticket_id) for label, r in reasons.items()} == {
        "signed": ("in_reply_to", True),
        "unsigned": ("new", False),
        "other secret": ("new", False),
    }
    own = plain("li@example.cn", "Re", "me", "<9@x>", {"References": desk_id(ticket_id, None)})
    mine = ingest_email(desk, own, thread_secret=SECRET)
    assert (mine.reason, mine.ticket_id) == ("references", ticket_id)
    assert [m.body for m in desk.messages(ticket_id)] == ["leaks", "signed", "me"]


def test_without_a_secret_a_desk_id_threads_only_the_ticket_s_own_customer(desk: Desk) -> None:
    li = ingest_email(desk, plain("li@example.cn", "Kettle", "leaks", "<1@x>"))
    ticket_id = li.ticket_id or ""
    signed = {"In-Reply-To": desk_id(ticket_id)}
    wang = ingest_email(desk, plain("wang@example.cn", "Re", "me too", "<2@w>", signed))
    again = ingest_email(desk, plain("li@example.cn", "Re", "still", "<3@x>", signed))
    assert (wang.reason, wang.ticket_id != ticket_id) == ("new", True)
    assert (again.reason, again.ticket_id) == ("in_reply_to", ticket_id)
    with pytest.raises(InvalidInput):
        find_thread(desk, parse_email(plain("li@example.cn", "a", "b", "<4@x>")), None,
                    thread_secret="")  # fmt: skip


# ---------------------------------------------------------------- a process that stops


def test_a_mail_redelivered_after_a_crash_right_after_its_ticket_opened_opens_one_ticket(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = plain("li@example.cn", "Kettle", "leaks", "<1@x>")
    with monkeypatch.context() as patched:
        patched.setattr("aftersales.inbound._ingest.mark_pending", crash)
        with pytest.raises(RuntimeError):
            ingest_email(desk, raw)
    again = ingest_email(desk, raw)
    assert (again.outcome, again.reason) == (Outcome.OPENED, "new")
    assert tickets_of(desk, again.customer_id) == [again.ticket_id]
    assert [m.body for m in desk.messages(again.ticket_id or "")] == ["leaks"]
    assert ingest_email(desk, raw).reason == "duplicate"


def test_a_follow_up_redelivered_after_a_crash_is_one_follow_up(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ingest_email(desk, plain("li@example.cn", "Kettle", "leaks", "<1@x>"))
    desk.cancel(first.ticket_id or "", reason="duplicate")
    other = ingest_email(desk, plain("li@example.cn", "Re: Kettle", "other", "<0@x>"))
    reply = plain("li@example.cn", "Re: Kettle", "again", "<2@x>", {"In-Reply-To": "<1@x>"})
    with monkeypatch.context() as patched:
        patched.setattr("aftersales.inbound._ingest.mark_pending", crash)
        with pytest.raises(RuntimeError):
            ingest_email(desk, reply)
    again = ingest_email(desk, reply)
    assert (again.outcome, again.reason) == (Outcome.OPENED, "follow_up")
    follow_ups = desk.find(follow_up_of=first.ticket_id)
    assert [t.id for t in follow_ups] == [again.ticket_id]
    assert again.ticket_id != other.ticket_id
    assert [m.body for m in desk.messages(again.ticket_id or "")] == ["again"]


def test_a_crash_before_the_ticket_opened_opens_it_once_on_redelivery(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = ingest_email(desk, plain("li@example.cn", "Parcel", "late", "<0@x>"))
    raw = plain("li@example.cn", "Kettle", "leaks", "<1@x>")
    with monkeypatch.context() as patched:
        patched.setattr(desk, "open_ticket", crash)
        with pytest.raises(RuntimeError):
            ingest_email(desk, raw)
    again = ingest_email(desk, raw)
    assert (again.outcome, again.reason) == (Outcome.OPENED, "new")
    assert tickets_of(desk, earlier.customer_id) == [earlier.ticket_id, again.ticket_id]


def test_a_reply_redelivered_after_a_crash_before_its_message_is_stored_once(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ingest_email(desk, plain("li@example.cn", "Kettle", "leaks", "<1@x>"))
    ticket_id = first.ticket_id or ""
    reply = plain("li@example.cn", "Re", "still", "<2@x>", {"In-Reply-To": desk_id(ticket_id)})
    with monkeypatch.context() as patched:
        patched.setattr(desk, "add_message", crash)
        with pytest.raises(RuntimeError):
            ingest_email(desk, reply, thread_secret=SECRET)
    again = ingest_email(desk, reply, thread_secret=SECRET)
    assert (again.outcome, again.reason, again.ticket_id) == (
        Outcome.THREADED,
        "in_reply_to",
        ticket_id,
    )
    assert [m.body for m in desk.messages(ticket_id)] == ["leaks", "still"]


def test_a_mail_whose_ticket_closed_before_redelivery_opens_a_follow_up(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ingest_email(desk, plain("li@example.cn", "Kettle", "leaks", "<1@x>"))
    ticket_id = first.ticket_id or ""
    reply = plain("li@example.cn", "Re", "still", "<2@x>", {"In-Reply-To": "<1@x>"})
    with monkeypatch.context() as patched:
        patched.setattr(desk, "add_message", crash)
        with pytest.raises(RuntimeError):
            ingest_email(desk, reply)
    desk.cancel(ticket_id, reason="spam")
    again = ingest_email(desk, reply)
    assert (again.outcome, again.reason) == (Outcome.OPENED, "follow_up")
    assert desk.get(again.ticket_id or "").follow_up_of == ticket_id
    assert [m.body for m in desk.messages(ticket_id)] == ["leaks"]


@pytest.mark.parametrize(
    "record",
    [
        "not json",
        "[1, 2]",
        '{"ticket": 5, "message": null}',
        '{"ticket": "t-gone", "message": null}',
        '{"ticket": "t-gone", "message": null, "outcome": "threaded", "reason": "token"}',
        '{"ticket": null, "message": null, "outcome": "opened", "reason": "new", "since": "?"}',
        '{"ticket": null, "message": null, "outcome": "opened", "reason": "new"}',
    ],
)
def test_an_index_entry_the_desk_cannot_use_is_passed_over(desk: Desk, record: str) -> None:
    desk.save_customer(
        Customer(name="Li", contacts=[{"channel": "email", "address": "li@example.cn"}])
    )
    desk.store.set_state(known_key("<1@x>"), record)
    result = ingest_email(desk, plain("li@example.cn", "Kettle", "leaks", "<1@x>"))
    assert (result.outcome, result.reason) == (Outcome.OPENED, "new")
    assert [m.body for m in desk.messages(result.ticket_id or "")] == ["leaks"]
