"""Erasing a customer deletes their files and only theirs, erases the files' names, and an
access request lists what files their messages carry; retention does the same for a ticket."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from aftersales import AttachmentRefused, Desk, FileBlobStore, FrozenClock, MemoryBlobStore, Upload

RECEIPT = b"%PDF-1.7 receipt of Zhang Wei"
ID_CARD = b"\xff\xd8\xff\xe0 photo of an id card"
OTHERS = b"%PDF-1.7 receipt of Li Na"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "files"


@pytest.fixture
def desk(clock: FrozenClock, root: Path) -> Desk:
    return Desk(clock=clock, blobs=FileBlobStore(root))


def _send(desk: Desk, ticket_id: str, author: str, *files: tuple[str, bytes]) -> None:
    desk.add_message(
        ticket_id,
        "attached",
        author_id=author,
        author_role="customer",
        attachments=[Upload(name, data) for name, data in files],
    )


def test_erasing_a_customer_deletes_their_files_and_leaves_anothers(desk: Desk, root: Path) -> None:
    first = desk.open_ticket(customer="c-1", channel="email", subject="Kettle").id
    second = desk.open_ticket(customer="c-1", channel="email", subject="Toaster").id
    theirs = desk.open_ticket(customer="c-2", channel="email", subject="Kettle").id
    _send(desk, first, "c-1", ("receipt-zhang-wei.pdf", RECEIPT))
    _send(desk, second, "c-1", ("id-card.jpg", ID_CARD), ("receipt.pdf", RECEIPT))
    _send(desk, theirs, "c-2", ("receipt.pdf", RECEIPT), ("li-na.pdf", OTHERS))
    assert len(_files(root)) == 5  # the same bytes on two tickets: a file each

    report = desk.erase_customer("c-1")

    assert report.files == 3
    assert len(_files(root)) == 2
    assert desk.read_attachment(theirs, _sha(RECEIPT)) == RECEIPT  # the same bytes, theirs
    assert desk.read_attachment(theirs, _sha(OTHERS)) == OTHERS
    for ticket_id, data in ((first, RECEIPT), (second, ID_CARD), (second, RECEIPT)):
        with pytest.raises(AttachmentRefused) as caught:
            desk.read_attachment(ticket_id, _sha(data))
        assert caught.value.reason == "unknown_blob"
    names = [a.name for t in (first, second) for m in desk.messages(t) for a in m.attachments]
    assert names == ["[erased]"] * 3
    kept = [a.name for m in desk.messages(theirs) for a in m.attachments]
    assert kept == ["receipt.pdf", "li-na.pdf"]
    [message] = desk.messages(first)
    assert (message.attachments[0].size, message.attachments[0].sha256) == (
        len(RECEIPT),
        _sha(RECEIPT),
    )  # what was there stays countable, not readable
    assert desk.verify_audit().ok
    assert desk.erase_customer("c-1").files == 0  # nothing left to delete


def test_a_customers_files_on_a_ticket_theirs_was_merged_into_are_deleted(desk: Desk) -> None:
    mine = desk.open_ticket(customer="c-1", channel="email", subject="Kettle").id
    theirs = desk.open_ticket(customer="c-2", channel="email", subject="Kettle too").id
    desk.merge(mine, into=theirs)
    _send(desk, mine, "c-1", ("id-card.jpg", ID_CARD), ("receipt.pdf", RECEIPT))
    _send(desk, theirs, "c-2", ("receipt.pdf", RECEIPT), ("li-na.pdf", OTHERS))

    assert desk.erase_customer("c-1").files == 1

    assert desk.blobs is not None
    assert not desk.blobs.exists(theirs, _sha(ID_CARD))
    assert desk.read_attachment(theirs, _sha(RECEIPT)) == RECEIPT  # c-2 sent it too
    assert desk.read_attachment(theirs, _sha(OTHERS)) == OTHERS
    names = [[a.name for a in m.attachments] for m in desk.messages(theirs)]
    assert names == [["[erased]", "[erased]"], ["receipt.pdf", "li-na.pdf"]]


def test_a_failed_file_deletion_is_done_by_the_next_erasure(
    clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = MemoryBlobStore()
    desk = Desk(clock=clock, blobs=blobs)
    ticket_id = desk.open_ticket(customer="c-1", channel="email", subject="Kettle").id
    _send(desk, ticket_id, "c-1", ("id-card.jpg", ID_CARD))

    def broken(namespace: str) -> int:
        raise OSError("disk gone")

    monkeypatch.setattr(blobs, "delete_namespace", broken)
    with pytest.raises(OSError, match="disk gone"):
        desk.erase_customer("c-1")
    monkeypatch.undo()
    [message] = desk.messages(ticket_id)
    assert message.attachments[0].name == "[erased]"  # the rewrite had committed
    assert blobs.exists(ticket_id, _sha(ID_CARD))
    assert desk.erase_customer("c-1").files == 1
    assert not blobs.exists(ticket_id, _sha(ID_CARD))


def test_an_access_request_lists_the_files_a_customers_messages_carry(desk: Desk) -> None:
    ticket_id = desk.open_ticket(customer="c-1", channel="email", subject="Kettle").id
    _send(desk, ticket_id, "c-1", ("receipt.pdf", RECEIPT))
    export = desk.export_customer("c-1")
    [message] = export["tickets"][0]["messages"]
    assert message["attachments"] == [
        {
            "name": "receipt.pdf",
            "content_type": "application/pdf",
            "size": len(RECEIPT),
            "sha256": _sha(RECEIPT),
        }
    ]


def test_retention_deletes_a_closed_tickets_files_and_keeps_the_customers_others(
    clock: FrozenClock, root: Path
) -> None:
    desk = Desk(clock=clock, blobs=FileBlobStore(root), settings={"retention_days": 30})
    old = desk.open_ticket(customer="c-1", channel="email", subject="Kettle").id
    running = desk.open_ticket(customer="c-1", channel="email", subject="Toaster").id
    _send(desk, old, "c-1", ("receipt.pdf", RECEIPT))
    _send(desk, running, "c-1", ("receipt.pdf", RECEIPT))
    desk.cancel(old, reason="sorted out by phone")
    clock.advance(timedelta(days=31))

    assert desk.run_due().erased == (old,)

    with pytest.raises(AttachmentRefused):
        desk.read_attachment(old, _sha(RECEIPT))
    assert desk.read_attachment(running, _sha(RECEIPT)) == RECEIPT
    assert len(_files(root)) == 1


def test_erasure_on_a_desk_without_a_blob_store_deletes_no_file(clock: FrozenClock) -> None:
    desk = Desk(clock=clock)
    desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
    assert desk.erase_customer("c-1").files == 0


def test_files_of_a_ticket_that_moved_in_a_customer_merge_go_with_the_kept_customer(
    desk: Desk, root: Path
) -> None:
    desk.save_customer({"id": "c-dup", "name": "Wang Fang"})
    desk.save_customer({"id": "c-1", "name": "Wang Fang"})
    moved = desk.open_ticket(customer="c-dup", channel="email", subject="Kettle").id
    _send(desk, moved, "c-dup", ("id-card.jpg", ID_CARD))
    desk.merge_customers("c-dup", into="c-1")

    assert desk.erase_customer("c-1").files == 1

    assert _files(root) == set()
    with pytest.raises(AttachmentRefused):
        desk.read_attachment(moved, _sha(ID_CARD))
