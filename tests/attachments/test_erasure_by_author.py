"""What a customer wrote on tickets that are not theirs (a reply on another customer's
thread, or on the ticket one of theirs was merged into) is found by its author: erasure
erases those messages and deletes the files only they carry, an access request lists
them, and retention of one closed ticket leaves every other ticket alone."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from aftersales import AttachmentRefused, Desk, FrozenClock, MemoryBlobStore, Store, Upload
from aftersales.security import CUSTOMER_PREFIX

ID_CARD = b"\xff\xd8\xff\xe0 id card of Wang Fang"
RECEIPT = b"%PDF-1.7 receipt"
PHOTO = b"\xff\xd8\xff\xe0 photo of the kettle"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def blobs() -> MemoryBlobStore:
    return MemoryBlobStore()


@pytest.fixture
def desk(store: Store, clock: FrozenClock, blobs: MemoryBlobStore) -> Desk:
    return Desk(store, clock=clock, blobs=blobs, settings={"retention_days": 30})


def _send(desk: Desk, ticket_id: str, author: str, body: str, *files: bytes) -> None:
    desk.add_message(
        ticket_id,
        body,
        author_id=author,
        author_role="customer",
        attachments=[Upload(f"file-{i}.bin", data) for i, data in enumerate(files)],
    )


def test_erasing_a_customer_erases_what_they_wrote_on_anothers_ticket_and_only_that(
    desk: Desk, blobs: MemoryBlobStore, clock: FrozenClock
) -> None:
    lis = desk.open_ticket(customer="li", channel="email", subject="Kettle").id
    wangs = desk.open_ticket(customer="wang", channel="email", subject="Toaster").id
    _send(desk, lis, "li", "my receipt", RECEIPT)
    clock.advance(minutes=1)
    _send(desk, lis, "wang", "mine leaks too, my id card", ID_CARD, RECEIPT)
    clock.advance(minutes=1)
    _send(desk, wangs, "wang", "and my toaster")
    version = desk.get(lis).version

    report = desk.erase_customer("wang")

    assert (report.messages, report.files) == (2, 1)  # the receipt is Li's too
    assert not blobs.exists(lis, _sha(ID_CARD))
    assert desk.read_attachment(lis, _sha(RECEIPT)) == RECEIPT
    bodies = [(m.author_id, m.body) for m in desk.messages(lis)]
    assert bodies == [("li", "my receipt"), ("wang", "[erased]")]
    names = [[a.name for a in m.attachments] for m in desk.messages(lis)]
    assert names == [["file-0.bin"], ["[erased]", "[erased]"]]
    ticket = desk.get(lis)
    assert (ticket.version, ticket.subject, ticket.customer_id) == (version + 1, "Kettle", "li")
    assert desk.verify_audit().ok
    _send(desk, lis, "li", "still open")  # the desk forgot its copy of the old version
    assert desk.erase_customer("wang").files == 0  # nothing left to delete


def test_a_customer_answering_as_a_portal_principal_is_found_too(
    desk: Desk, blobs: MemoryBlobStore
) -> None:
    lis = desk.open_ticket(customer="li", channel="email", subject="Kettle").id
    _send(desk, lis, CUSTOMER_PREFIX + "wang", "from the portal", ID_CARD)
    desk.save_customer({"id": "wang", "name": "Wang Fang"})

    assert desk.erase_customer("wang").files == 1

    assert not blobs.exists(lis, _sha(ID_CARD))
    assert [m.body for m in desk.messages(lis)] == ["[erased]"]


def test_an_access_request_lists_the_customers_messages_on_others_tickets_only(
    desk: Desk, clock: FrozenClock
) -> None:
    lis = desk.open_ticket(customer="li", channel="email", subject="Kettle").id
    zhaos = desk.open_ticket(customer="zhao", channel="email", subject="Iron").id
    wangs = desk.open_ticket(customer="wang", channel="email", subject="Toaster").id
    _send(desk, zhaos, "wang", "second", RECEIPT)
    clock.advance(minutes=1)
    _send(desk, lis, "li", "Li's own words")
    _send(desk, wangs, "wang", "on my ticket")
    clock.advance(minutes=1)
    _send(desk, lis, "wang", "third")
    clock.advance(minutes=-10)
    _send(desk, lis, "wang", "first")

    export = desk.export_customer("wang")

    elsewhere = export["messages_on_other_tickets"]
    assert [(m["ticket_id"], m["body"]) for m in elsewhere] == [
        (lis, "first"),
        (zhaos, "second"),
        (lis, "third"),
    ]
    assert elsewhere[1]["attachments"][0]["sha256"] == _sha(RECEIPT)
    assert [t["id"] for t in export["tickets"]] == [wangs]
    assert "Li's own words" not in str(export)
    assert desk.export_customer("li")["messages_on_other_tickets"] == []


def test_retention_of_a_closed_ticket_leaves_what_its_customer_wrote_elsewhere(
    desk: Desk, blobs: MemoryBlobStore, clock: FrozenClock
) -> None:
    old = desk.open_ticket(customer="wang", channel="email", subject="Toaster").id
    lis = desk.open_ticket(customer="li", channel="email", subject="Kettle").id
    _send(desk, old, "wang", "toaster", PHOTO)
    _send(desk, lis, "wang", "on Li's kettle", PHOTO)
    desk.cancel(old, reason="sorted out by phone")
    clock.advance(timedelta(days=31))

    assert desk.run_due().erased == (old,)

    with pytest.raises(AttachmentRefused):
        desk.read_attachment(old, _sha(PHOTO))
    assert desk.read_attachment(lis, _sha(PHOTO)) == PHOTO
    assert [m.body for m in desk.messages(lis)] == ["on Li's kettle"]
    assert desk.erase_customer("wang").files == 1  # an erasure does reach it
    assert not blobs.exists(lis, _sha(PHOTO))
