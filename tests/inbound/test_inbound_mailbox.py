"""The proof of issue 19: 200 real .eml messages, each lands on the right ticket or is
ignored as it must be, on a memory and a SQLite desk."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

from inbound_mailbox import DESK_DOMAIN, Letter, Scenario, chinese, mailbox, plain

from aftersales import Desk, FrozenClock, SQLiteStore
from aftersales.attachments import MemoryBlobStore
from aftersales.inbound import ingest_email, parse_email
from aftersales.models import AuthorRole, Channel, Message
from aftersales.storage import TicketQuery


def test_the_mailbox_holds_200_letters_of_every_kind() -> None:
    letters = mailbox()
    kinds = Counter(letter.name.split("-", 1)[1] for letter in letters)
    assert len(letters) == 200
    assert len({letter.name for letter in letters}) == 200
    for kind in (
        "new-gbk",
        "new-big5",
        "new-html-only",
        "new-alternative",
        "new-attachments",
        "reply-to-desk",
        "reply-to-own-mail",
        "forward-attached",
        "forward-quoted",
        "reply-by-token",
        "someone-elses-token",
        "duplicate",
        "bounce-report",
        "repeated-sender",
        "reply-to-closed",
    ):
        assert kinds[kind] >= 2, kind


def test_every_letter_lands_on_its_ticket_or_is_ignored_for_its_reason(
    desk: Desk, clock: FrozenClock, tmp_path: Path
) -> None:
    desk = Desk(desk.store, clock=clock, blobs=MemoryBlobStore())
    scenario = Scenario()
    outcomes: Counter[tuple[str, str]] = Counter()
    for letter in mailbox():
        clock.advance(seconds=5) if letter.burst else clock.advance(minutes=2)
        if letter.before is not None:
            letter.before(desk, scenario)
        # a real .eml file on disk, read back as a mail delivery agent hands it over
        path = tmp_path / f"{letter.name}.eml"
        path.write_bytes(letter.build(scenario))
        raw = path.read_bytes()
        expect = letter.expect
        tickets_before = len(desk.find(limit=1000))
        stored_before = _stored(desk) if expect.outcome == "ignored" else None
        result = ingest_email(desk, raw, own_domains=[DESK_DOMAIN])
        assert (result.outcome.value, result.reason) == (expect.outcome, expect.reason), letter.name
        outcomes[(expect.outcome, expect.reason)] += 1
        if expect.outcome == "ignored":
            assert len(desk.find(limit=1000)) == tickets_before, letter.name
            assert _stored(desk) == stored_before, letter.name
            if expect.reason == "duplicate":
                assert result.ticket_id == scenario.tickets[expect.ticket or ""].id, letter.name
            else:
                assert result.ticket_id is None, letter.name
            continue
        _check_stored(desk, scenario, letter, raw, result.ticket_id, result.message_id)
    assert sum(outcomes.values()) == 200
    assert outcomes[("opened", "new")] == 20 + 15 + 10 + 10 + 10 + 15 + 5 + 10
    assert outcomes[("ignored", "repeated_sender")] == 2
    opened = [count for (outcome, _), count in outcomes.items() if outcome == "opened"]
    assert len(desk.find(limit=1000)) == sum(opened)


def _stored(desk: Desk) -> tuple[int, int]:
    """How many tickets and messages the desk holds."""
    tickets = desk.find(limit=1000)
    return len(tickets), sum(len(desk.store.messages(ticket.id)) for ticket in tickets)


def _check_stored(
    desk: Desk,
    scenario: Scenario,
    letter: Letter,
    raw: bytes,
    ticket_id: str | None,
    message_id: str | None,
) -> None:
    expect = letter.expect
    assert ticket_id is not None
    ticket = desk.get(ticket_id)
    if expect.outcome == "opened":
        assert ticket_id not in {t.id for t in scenario.tickets.values()}, letter.name
        assert ticket.channel is Channel.EMAIL
        scenario.tickets[expect.ticket or ""] = ticket
        if expect.follow_up_of is not None:
            assert ticket.follow_up_of == scenario.tickets[expect.follow_up_of].id
    else:
        assert ticket_id == scenario.tickets[expect.ticket or ""].id, letter.name
    stored = [m for m in desk.messages(ticket_id) if m.id == message_id]
    assert len(stored) == 1, letter.name
    message: Message = stored[0]
    assert message.author_role is AuthorRole.CUSTOMER
    assert message.channel is Channel.EMAIL
    assert message.external_id == parse_email(raw).message_id
    assert desk.get_customer(message.author_id).id == ticket.customer_id or expect.reason in (
        "in_reply_to",
        "references",
    )
    for words in expect.text:
        assert words in message.body, (letter.name, message.body)
    got = sorted((a.name, a.content_type, a.sha256) for a in message.attachments)
    want = sorted(expect.files)
    assert len(got) == len(want), letter.name
    for (name, content_type, digest), (w_name, w_type, w_digest) in zip(got, want, strict=True):
        assert name == w_name
        assert w_type in ("", content_type)
        assert w_digest in (None, digest)
        assert len(desk.read_attachment(ticket_id, digest)) > 0


def test_a_sender_from_another_process_counts_toward_the_same_loop_limit(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "shared.db"
    first, second = SQLiteStore(path), SQLiteStore(path)
    try:
        desks = [Desk(first, clock=clock), Desk(second, clock=clock)]
        results = []
        for n in range(4):
            clock.advance(seconds=10)
            raw = plain(
                "robot@loop.example.org", f"Ack {n}", f"Got it {n}", f"<ack{n}@loop.example.org>"
            )
            results.append(
                ingest_email(desks[n % 2], raw, loop_limit=3, loop_window=timedelta(minutes=1))
            )
        assert [r.reason for r in results] == ["new", "new", "new", "repeated_sender"]
        clock.advance(minutes=2)
        raw = plain("robot@loop.example.org", "Later", "Calm again", "<ack9@loop.example.org>")
        assert (
            ingest_email(desks[0], raw, loop_limit=3, loop_window=timedelta(minutes=1)).reason
            == "new"
        )
        assert len(desks[0].find(customer_id=results[0].customer_id)) == 4
    finally:
        first.close()
        second.close()


def test_tickets_opened_by_mail_name_the_customer_created_from_the_sender(desk: Desk) -> None:
    raw = chinese(
        "陳大文", "Chan.TaiMan@HiNet.example.TW", "洗衣機漏水", "漏水了", "big5", "<b1@hinet>"
    )
    result = ingest_email(desk, raw)
    customer = desk.get_customer(result.customer_id or "")
    assert customer.name == "陳大文"
    assert customer.language == "zh-TW"
    assert customer.address_on(Channel.EMAIL) == "chan.taiman@hinet.example.tw"
    assert desk.find(TicketQuery(customer_id=customer.id))[0].description == "漏水了"
