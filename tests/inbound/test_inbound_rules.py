"""ingest_email's rules one at a time: threading and who may thread, closed and merged
tickets, cases, files the desk cannot keep, loops, and bad arguments."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from inbound_mailbox import DESK_DOMAIN, PDF, PNG, Scenario, mailbox, plain, with_files

from aftersales import Customer, Desk, FrozenClock, InvalidInput
from aftersales.attachments import MemoryBlobStore
from aftersales.inbound import Outcome, ingest_email, parse_email
from aftersales.inbound._loops import sender_key
from aftersales.inbound._thread import known_key
from aftersales.notify.mail_ids import message_id_for, ticket_token

SECRET = "thread-secret-for-tests"


def desk_id(subject_id: str, key: str = "k") -> str:
    """A Message-ID the desk's SmtpSender(thread_secret=SECRET) writes."""
    return message_id_for(subject_id, key, DESK_DOMAIN, secret=SECRET)


@pytest.fixture
def filing_desk(desk: Desk, clock: FrozenClock) -> Desk:
    return Desk(desk.store, clock=clock, blobs=MemoryBlobStore(max_bytes=1000))


def test_a_reply_to_the_desk_s_mail_about_a_case_lands_on_the_case_s_ticket(desk: Desk) -> None:
    opened = ingest_email(desk, plain("li@x.cn", "Parcel", "thrown", "<1@x>"))
    case = desk.cases.open_complaint(opened.ticket_id or "", summary="The courier threw it")
    reply = plain(
        "li@x.cn", "Re: complaint", "any news", "<2@x>", {"In-Reply-To": desk_id(case.id)}
    )
    result = ingest_email(desk, reply)
    assert (result.outcome, result.reason, result.ticket_id) == (
        Outcome.THREADED,
        "in_reply_to",
        opened.ticket_id,
    )


def test_a_desk_message_id_naming_nothing_known_opens_a_new_ticket(desk: Desk) -> None:
    reply = plain("li@x.cn", "Re: gone", "hello", "<1@x>", {"In-Reply-To": desk_id("t-gone")})
    assert ingest_email(desk, reply).reason == "new"


def test_a_colleague_answering_the_desk_s_mail_writes_on_that_ticket_as_themself(
    desk: Desk,
) -> None:
    opened = ingest_email(desk, plain("li@x.cn", "Parcel", "thrown", "<1@x>"))
    ticket = desk.get(opened.ticket_id or "")
    reply = plain(
        "Wang <wang@x.cn>", "Re", "I saw it too", "<2@x>", {"In-Reply-To": desk_id(ticket.id)}
    )
    result = ingest_email(desk, reply, thread_secret=SECRET)
    assert result.ticket_id == ticket.id
    assert result.customer_id not in (None, opened.customer_id)
    assert desk.get_customer(result.customer_id or "").name == "Wang"


def test_a_token_names_only_the_sender_s_own_ticket(desk: Desk) -> None:
    opened = ingest_email(desk, plain("li@x.cn", "Parcel", "thrown", "<1@x>"))
    token = ticket_token(desk.get(opened.ticket_id or "").number)
    own = ingest_email(desk, plain("li@x.cn", f"Re: {token}", "me again", "<2@x>"))
    other = ingest_email(desk, plain("eve@y.cn", f"Re: {token}", "let me in", "<3@y>"))
    missing = ingest_email(desk, plain("li@x.cn", "Re: [#999]", "which one", "<4@x>"))
    huge = ingest_email(desk, plain("li@x.cn", "Re: [#999999999999999999]", "?", "<5@x>"))
    assert (own.outcome, own.reason, own.ticket_id) == (Outcome.THREADED, "token", opened.ticket_id)
    assert (other.outcome, other.reason) == (Outcome.OPENED, "new")
    assert other.ticket_id != opened.ticket_id
    assert [m.body for m in desk.messages(opened.ticket_id or "")] == ["thrown", "me again"]
    assert (missing.reason, huge.reason) == ("new", "new")


def test_a_reply_to_a_resolved_ticket_is_added_to_it(desk: Desk) -> None:
    opened = ingest_email(desk, plain("li@x.cn", "Parcel", "thrown", "<1@x>"))
    ticket_id = opened.ticket_id or ""
    desk.classify(ticket_id, category="repair_warranty", severity="low")
    desk.assign(ticket_id, assignee="agent-1")
    desk.fire(ticket_id, "start")
    desk.resolve(ticket_id, resolution="Sent a new one")
    reply = plain("li@x.cn", "Re", "thanks", "<2@x>", {"In-Reply-To": desk_id(ticket_id)})
    result = ingest_email(desk, reply)
    assert (result.outcome, result.ticket_id) == (Outcome.THREADED, ticket_id)
    assert desk.get(ticket_id).status == "resolved"


def test_the_same_mail_twice_is_stored_once_even_when_the_index_was_lost(desk: Desk) -> None:
    raw = plain("li@x.cn", "Parcel", "thrown", "<1@x>")
    first = ingest_email(desk, raw)
    desk.store.set_state(known_key("<1@x>"), "not json")  # a process stopped before indexing
    again = ingest_email(desk, raw)
    assert (again.outcome, again.reason, again.ticket_id, again.message_id) == (
        Outcome.IGNORED,
        "duplicate",
        first.ticket_id,
        first.message_id,
    )
    reply = plain("li@x.cn", "Re: mine", "more", "<2@x>", {"In-Reply-To": "<1@x>"})
    assert ingest_email(desk, reply).reason == "known_message"


def test_a_reply_to_someone_else_s_mail_is_no_way_into_their_ticket(desk: Desk) -> None:
    first = ingest_email(desk, plain("li@x.cn", "Parcel", "thrown", "<1@x>"))
    reply = plain("eve@y.cn", "Re", "hi", "<2@y>", {"In-Reply-To": "<1@x>"})
    result = ingest_email(desk, reply)
    assert (result.reason, result.ticket_id != first.ticket_id) == ("new", True)


def test_a_mail_without_a_message_id_is_stored_and_cannot_be_recognised_again(
    desk: Desk,
) -> None:
    raw = plain("li@x.cn", "", "no id", None)
    first, second = ingest_email(desk, raw), ingest_email(desk, raw)
    assert (first.reason, second.reason) == ("new", "new")
    assert desk.get(first.ticket_id or "").subject == "(no subject)"
    assert desk.messages(first.ticket_id or "")[0].external_id is None


def test_a_message_id_too_long_to_keep_is_still_recognised_when_delivered_again(
    desk: Desk,
) -> None:
    long_id = f"<{'x' * 300}@x.cn>"
    raw = plain("li@x.cn", "Long", "id", long_id)
    first = ingest_email(desk, raw)
    assert desk.messages(first.ticket_id or "")[0].external_id is None
    assert ingest_email(desk, raw).reason == "duplicate"


def test_a_mail_with_no_text_is_kept_with_its_subject_as_the_message(desk: Desk) -> None:
    result = ingest_email(desk, b"From: li@x.cn\r\nSubject: Call me\r\n\r\n")
    assert desk.messages(result.ticket_id or "")[0].body == "Call me"
    empty = ingest_email(desk, b"From: li@x.cn\r\n\r\n")
    assert desk.messages(empty.ticket_id or "")[0].body == "(empty mail)"


def test_files_the_desk_cannot_keep_are_named_in_the_message_and_the_result(
    filing_desk: Desk,
) -> None:
    files = [
        ("receipt.pdf", PDF, "application/pdf"),
        ("huge.png", PNG * 100, "image/png"),
        ("empty.txt", b"", "text/plain"),
        ("\u202egnp.exe", PNG, "image/png"),  # a right-to-left override hides .exe
    ]
    result = ingest_email(filing_desk, with_files("li@x.cn", "Files", "see", files, "<1@x>"))
    assert result.dropped == (("huge.png", "too_large"), ("empty.txt", "empty"))
    message = filing_desk.messages(result.ticket_id or "")[0]
    assert [(a.name, a.content_type) for a in message.attachments] == [
        ("receipt.pdf", "application/pdf"),
        ("attachment-4.png", "image/png"),
    ]
    assert message.body == (
        "see\n[attachment not kept: huge.png (too_large)]\n[attachment not kept: empty.txt (empty)]"
    )


def test_a_desk_without_a_blob_store_keeps_the_mail_and_names_its_files(desk: Desk) -> None:
    raw = with_files("li@x.cn", "Files", "see", [("r.pdf", PDF, "application/pdf")], "<1@x>")
    result = ingest_email(desk, raw)
    assert result.dropped == (("r.pdf", "no_blob_store"),)
    assert desk.messages(result.ticket_id or "")[0].attachments == ()


def test_more_files_than_a_message_carries_keep_the_first_twenty(filing_desk: Desk) -> None:
    files = [(f"f{n}.png", PNG + bytes([n]), "image/png") for n in range(25)]
    result = ingest_email(filing_desk, with_files("li@x.cn", "Files", "see", files, "<1@x>"))
    assert [name for name, _ in result.dropped] == [f"f{n}.png" for n in range(20, 25)]
    assert len(filing_desk.messages(result.ticket_id or "")[0].attachments) == 20


def test_dropping_many_files_names_twenty_and_counts_the_rest(desk: Desk) -> None:
    files = [(f"f{n}.pdf", PDF, "application/pdf") for n in range(23)]
    result = ingest_email(desk, with_files("li@x.cn", "Files", "see", files, "<1@x>"))
    body = desk.messages(result.ticket_id or "")[0].body
    assert body.count("[attachment not kept:") == 20
    assert body.endswith("\n[and 3 more attachments not kept]")


def test_an_existing_customer_is_found_by_address_domain_in_any_case_and_merges_followed(
    desk: Desk,
) -> None:
    kept = desk.save_customer(
        Customer(name="Li", contacts=[{"channel": "email", "address": "x@y.cn"}])
    )
    old = desk.save_customer(
        Customer(name="Li Wei", contacts=[{"channel": "email", "address": "Li.Wei@example.cn"}])
    )
    desk.merge_customers(old.id, into=kept.id)
    result = ingest_email(desk, plain("Li.Wei@EXAMPLE.CN", "Hi", "hello", "<1@x>"))
    assert result.customer_id == kept.id
    lower = ingest_email(desk, plain("X@Y.CN", "Hi", "hello", "<2@x>"))
    assert lower.customer_id == kept.id


def test_a_customer_saved_by_another_process_meanwhile_is_the_one_used(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = ingest_email(desk, plain("li@x.cn", "Parcel", "thrown", "<1@x>"))
    reply = plain(
        "wang@x.cn", "Re", "me too", "<2@x>", {"In-Reply-To": desk_id(opened.ticket_id or "")}
    )
    wang = desk.save_customer(
        Customer(name="Wang", contacts=[{"channel": "email", "address": "wang@x.cn"}])
    )
    real = desk.find_customer
    calls: list[str] = []

    def late_find(channel: Any, address: str) -> Customer | None:
        calls.append(address)
        return None if len(calls) == 1 else real(channel, address)  # not yet seen, then saved

    monkeypatch.setattr(desk, "find_customer", late_find)
    monkeypatch.setattr(
        desk, "save_customer", lambda c: (_ for _ in ()).throw(InvalidInput("customer", []))
    )
    assert ingest_email(desk, reply, thread_secret=SECRET).customer_id == wang.id


def test_a_refused_customer_that_nobody_saved_is_an_error(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = ingest_email(desk, plain("li@x.cn", "Parcel", "thrown", "<1@x>"))
    reply = plain(
        "wang@x.cn", "Re", "me too", "<2@x>", {"In-Reply-To": desk_id(opened.ticket_id or "")}
    )
    refused = InvalidInput("customer", [])
    monkeypatch.setattr(desk, "save_customer", lambda c: (_ for _ in ()).throw(refused))
    with pytest.raises(InvalidInput):
        ingest_email(desk, reply, thread_secret=SECRET)


def test_the_loop_count_restarts_when_its_state_is_not_ours(desk: Desk, clock: FrozenClock) -> None:
    desk.store.set_state(sender_key("bot@x.cn"), '{"not": "a list"}')
    result = ingest_email(desk, plain("bot@x.cn", "a", "b", "<1@x>"), loop_limit=1)
    assert result.reason == "new"
    assert ingest_email(desk, plain("bot@x.cn", "a", "b", "<2@x>"), loop_limit=1).reason == (
        "repeated_sender"
    )


def test_loop_counting_runs_on_the_time_given(desk: Desk, clock: FrozenClock) -> None:
    base = clock.now()
    for n, minutes in enumerate((0, 1, 2, 30)):
        raw = plain("bot@x.cn", f"s{n}", "b", f"<{n}@x>")
        result = ingest_email(desk, raw, now=base + timedelta(minutes=minutes), loop_limit=2)
        assert result.reason == ("repeated_sender" if n == 2 else "new")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"loop_limit": 0}, "loop_limit"),
        ({"loop_limit": True}, "loop_limit"),
        ({"loop_window": timedelta(0)}, "loop_window"),
        ({"loop_window": 600}, "loop_window"),
        ({"own_domains": "desk.example.com"}, "own_domains"),
        ({"own_domains": [" . "]}, "own_domains"),
        ({"own_domains": [None]}, "own_domains"),
        ({"now": datetime(2024, 3, 4, 9, 0)}, "now"),
    ],
)
def test_bad_arguments_are_refused_and_store_nothing(
    desk: Desk, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        ingest_email(desk, plain("li@x.cn", "a", "b", "<1@x>"), **options)
    assert raised.value.errors[0].location == (field,)
    assert desk.find() == []


def test_mail_from_a_subdomain_of_the_desk_s_own_is_its_own_mail(desk: Desk) -> None:
    raw = plain("noreply@eu.desk.example.com", "Update", "moved", "<1@eu>")
    assert ingest_email(desk, raw, own_domains=["Desk.Example.com."]).reason == "own_mail"
    assert ingest_email(desk, raw).reason == "new"


def test_the_parse_helper_reads_what_ingest_stores(desk: Desk) -> None:
    raw = plain("Li <li@x.cn>", "Parcel", "thrown", "<1@x>")
    mail = parse_email(raw)
    result = ingest_email(desk, raw)
    ticket = desk.get(result.ticket_id or "")
    assert (ticket.subject, ticket.description) == (mail.subject, mail.body)


def test_a_known_customer_cannot_reach_another_s_ticket_by_mail_or_token(desk: Desk) -> None:
    li = ingest_email(desk, plain("li@x.cn", "Parcel", "thrown", "<1@x>"))
    eve = ingest_email(desk, plain("eve@y.cn", "Hello", "I exist", "<1@y>"))
    token = ticket_token(desk.get(li.ticket_id or "").number)
    by_mail = ingest_email(desk, plain("eve@y.cn", "Re", "hi", "<2@y>", {"In-Reply-To": "<1@x>"}))
    by_token = ingest_email(desk, plain("eve@y.cn", f"Re: {token}", "hi", "<3@y>"))
    assert (by_mail.reason, by_token.reason) == ("new", "new")
    assert by_mail.customer_id == by_token.customer_id == eve.customer_id
    assert li.ticket_id not in (by_mail.ticket_id, by_token.ticket_id)


def test_a_mangled_mail_is_stored_or_ignored_and_never_raises() -> None:
    rng = random.Random(19)
    desk = Desk(blobs=MemoryBlobStore())
    letters = [letter for letter in mailbox() if "-new-" in letter.name or "bounce" in letter.name]
    outcomes: set[Outcome] = set()
    for _ in range(400):
        raw = bytearray(rng.choice(letters).build(Scenario()))
        for _ in range(rng.randrange(1, 20)):
            position = rng.randrange(min(len(raw), 800))
            if rng.random() < 0.5:
                raw[position] = rng.randrange(256)
            else:
                raw.insert(position, rng.choice(b'\x00\r\n:<>@;="\xff\x80 ?\x7f\x01'))
        outcomes.add(ingest_email(desk, bytes(raw), loop_limit=10_000).outcome)
    assert outcomes == {Outcome.OPENED, Outcome.IGNORED}


def test_find_thread_tells_a_router_where_a_mail_would_go_without_storing_it(desk: Desk) -> None:
    from aftersales.inbound import find_thread

    first = ingest_email(desk, plain("li@x.cn", "Parcel", "thrown", "<1@x>"))
    reply = parse_email(plain("li@x.cn", "Re", "more", "<2@x>", {"References": "<1@x>"}))
    found = find_thread(desk, reply, first.customer_id)
    assert found is not None
    assert (found.ticket.id, found.reason) == (first.ticket_id, "known_message")
    assert find_thread(desk, reply, None) is None
    assert len(desk.messages(first.ticket_id or "")) == 1


@pytest.mark.parametrize(
    ("sender", "headers", "reason"),
    [
        ("MAILER-DAEMON@mx.example.net", {}, "bounce"),
        ("away@x.cn", {"Auto-Submitted": "auto-replied"}, "auto_submitted"),
        ("news@x.cn", {"List-Id": "<news.x.cn>"}, "mailing_list"),
    ],
)
def test_an_ignored_mail_from_a_stranger_leaves_no_customer_behind(
    desk: Desk, sender: str, headers: dict[str, str], reason: str
) -> None:
    result = ingest_email(desk, plain(sender, "Hi", "auto", "<1@x>", headers))
    assert (result.outcome, result.reason, result.customer_id) == (Outcome.IGNORED, reason, None)
    assert desk.find_customer("email", sender.lower()) is None
    assert desk.find_customer("email", sender) is None
