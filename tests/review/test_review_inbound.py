"""Review of inbound email (issue 19): defects found, each proved by a test that fails
now (strict xfail). A fixer removes the marker once the behaviour holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aftersales import Customer, Desk, FrozenClock, MemoryStore, SQLiteStore, Store
from aftersales.attachments import MemoryBlobStore
from aftersales.inbound import Outcome, ingest_email
from aftersales.storage import TicketQuery
from aftersales.storage.sqlalchemy import SQLAlchemyStore


def mail(sender: str, subject: str, body: str, message_id: str, **headers: str) -> bytes:
    lines = [f"From: {sender}", f"Subject: {subject}", f"Message-ID: {message_id}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()


@pytest.fixture(params=["memory", "sqlite", "sqlalchemy-sqlite"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "sqlite":
        made = SQLiteStore(tmp_path / "t.db")
    else:
        made = SQLAlchemyStore(f"sqlite:///{tmp_path / 'sa.db'}")
    yield made
    made.close()


@pytest.fixture
def mail_desk(any_store: Store, clock: FrozenClock) -> Desk:
    return Desk(any_store, clock=clock, blobs=MemoryBlobStore())


def nested_multipart(levels: int) -> bytes:
    part = b"Content-Type: text/plain\r\n\r\nhello\r\n"
    for level in range(levels):
        boundary = b"b%d" % level
        part = (
            b'Content-Type: multipart/mixed; boundary="'
            + boundary
            + b'"\r\n\r\n--'
            + boundary
            + b"\r\n"
            + part
            + b"\r\n--"
            + boundary
            + b"--\r\n"
        )
    return b"From: li@example.cn\r\nSubject: deep\r\nMessage-ID: <deep@example.cn>\r\n" + part


def nested_forwards(levels: int) -> bytes:
    part = b"Subject: s\r\n\r\nhello\r\n"
    for _ in range(levels):
        part = b"Subject: s\r\nContent-Type: message/rfc822\r\n\r\n" + part
    return b"From: li@example.cn\r\nMessage-ID: <fwd@example.cn>\r\n" + part


@pytest.mark.parametrize("build", [nested_multipart, nested_forwards])
def test_a_deeply_nested_mail_is_taken_or_ignored_without_raising(
    clock: FrozenClock, build: Any
) -> None:
    desk = Desk(clock=clock, blobs=MemoryBlobStore())
    result = ingest_email(desk, build(2000))
    assert result.outcome in (Outcome.OPENED, Outcome.IGNORED)


def test_a_desk_message_id_the_desk_never_sent_does_not_open_a_ticket_to_strangers(
    desk: Desk,
) -> None:
    victim = ingest_email(desk, mail("li@example.cn", "Kettle", "leaks", "<1@example.cn>"))
    forged = f"<aftersales.{victim.ticket_id}.0000000000000000@attacker.example>"
    raw = mail(
        "eve@evil.example", "Re", "send the refund to me", "<2@evil.example>", In_Reply_To=forged
    )
    result = ingest_email(desk, raw)
    assert (result.outcome, result.reason) == (Outcome.OPENED, "new")
    assert [m.body for m in desk.messages(victim.ticket_id or "")] == ["leaks"]


@pytest.mark.parametrize(
    ("saved", "sender"),
    [
        ("Wang.Fang@Example.com", "Wang.Fang@Example.com"),  # spelled the same way
        ("Wang.Fang@example.com", "wang.fang@example.com"),  # all in lower case
    ],
)
def test_a_saved_customer_is_found_by_their_address_as_the_how_to_says(
    desk: Desk, saved: str, sender: str
) -> None:
    wang = desk.save_customer(
        Customer(name="Wang Fang", contacts=[{"channel": "email", "address": saved}])
    )
    result = ingest_email(desk, mail(sender, "Parcel", "where is it", "<1@example.com>"))
    assert result.customer_id == wang.id


def test_a_mail_redelivered_after_a_crash_before_its_message_was_stored_opens_one_ticket(
    mail_desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = mail("li@example.cn", "Kettle", "leaks", "<1@example.cn>")
    real_add = mail_desk.add_message

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the process died here")

    monkeypatch.setattr(mail_desk, "add_message", crash)
    with pytest.raises(RuntimeError):
        ingest_email(mail_desk, raw)
    monkeypatch.setattr(mail_desk, "add_message", real_add)
    again = ingest_email(mail_desk, raw)
    tickets = mail_desk.store.find(TicketQuery(customer_id=again.customer_id))
    assert [t.id for t in tickets] == [again.ticket_id]
    assert [m.body for m in mail_desk.messages(again.ticket_id or "")] == ["leaks"]


def test_a_reply_redelivered_after_a_crash_before_indexing_is_stored_once_on_an_older_ticket(
    mail_desk: Desk, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ingest_email(mail_desk, mail("li@example.cn", "Kettle", "leaks", "<1@example.cn>"))
    clock.advance(days=10)
    reply = mail(
        "li@example.cn", "Re: Kettle", "still", "<2@example.cn>", In_Reply_To="<1@example.cn>"
    )

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the process died here")

    with monkeypatch.context() as patched:
        patched.setattr("aftersales.inbound._ingest.remember", crash)
        with pytest.raises(RuntimeError):
            ingest_email(mail_desk, reply)
    again = ingest_email(mail_desk, reply)
    assert (again.outcome, again.reason) == (Outcome.IGNORED, "duplicate")
    assert [m.body for m in mail_desk.messages(first.ticket_id or "")] == ["leaks", "still"]
