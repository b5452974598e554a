"""Review of attachments (issue 19): defects found, each proved by a test that fails now
(strict xfail). A fixer removes the marker once the behaviour holds."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage

import pytest

from aftersales import (
    Customer,
    Desk,
    FrozenClock,
    InvalidInput,
    MemoryBlobStore,
    Store,
    Upload,
)
from aftersales.inbound import ingest_email
from aftersales.notify.mail_ids import message_id_for
from aftersales.settings import DeskSettings

PHOTO = b"\xff\xd8\xff\xe0 photo of the kettle"
ID_CARD = b"\xff\xd8\xff\xe0 id card of Wang Fang"
SECRET = "thread-secret"  # the desk signs its Message-IDs: anyone answering one threads


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_erasing_a_customer_deletes_the_files_they_sent_on_someone_elses_ticket(
    store: Store, clock: FrozenClock
) -> None:
    blobs = MemoryBlobStore()
    desk = Desk(store, clock=clock, blobs=blobs)
    opened = ingest_email(
        desk, b"From: li@example.cn\r\nSubject: Kettle\r\nMessage-ID: <1@example.cn>\r\n\r\nLeaks"
    )
    ticket_id = opened.ticket_id or ""
    reply = EmailMessage()
    reply["From"] = "Wang Fang <wang@example.com>"
    reply["Subject"] = "Re: Kettle"
    reply["Message-ID"] = "<2@example.com>"
    reply["In-Reply-To"] = message_id_for(ticket_id, "ack", "desk.example.com", secret=SECRET)
    reply.set_content("Mine leaks too, my id card for the warranty is attached")
    reply.add_attachment(ID_CARD, maintype="image", subtype="jpeg", filename="id-card.jpg")
    wang = ingest_email(desk, reply.as_bytes(), thread_secret=SECRET)
    assert wang.ticket_id == ticket_id  # written on Li's ticket

    report = desk.erase_customer(wang.customer_id or "")

    assert report.files == 1
    assert not blobs.exists(ticket_id, _sha(ID_CARD))


def test_retention_of_a_merged_duplicate_leaves_the_open_ticket_it_went_into_alone(
    store: Store, clock: FrozenClock
) -> None:
    blobs = MemoryBlobStore()
    desk = Desk(store, clock=clock, blobs=blobs, settings=DeskSettings(retention_days=30))
    li = desk.save_customer(Customer(name="Li"))
    duplicate = desk.open_ticket(customer=li.id, channel="email", subject="Kettle")
    kept = desk.open_ticket(customer=li.id, channel="email", subject="Kettle leaks")
    desk.merge(duplicate.id, into=kept.id)
    desk.add_message(
        kept.id,
        "photo",
        author_id=li.id,
        author_role="customer",
        attachments=[Upload("kettle.jpg", PHOTO)],
    )
    clock.advance(days=40)

    assert desk.run_due().erased == (duplicate.id,)  # closed by the merge 40 days ago

    assert desk.get(kept.id).status == "new"
    assert [m.body for m in desk.messages(kept.id)] == ["photo"]
    assert desk.read_attachment(kept.id, _sha(PHOTO)) == PHOTO


def test_a_file_still_kept_for_a_later_message_is_read_after_an_older_copy_was_erased(
    store: Store, clock: FrozenClock
) -> None:
    blobs = MemoryBlobStore()
    desk = Desk(store, clock=clock, blobs=blobs, settings=DeskSettings(retention_days=30))
    li = desk.save_customer(Customer(name="Li"))
    duplicate = desk.open_ticket(customer=li.id, channel="email", subject="Kettle")
    desk.add_message(
        duplicate.id,
        "photo",
        author_id=li.id,
        author_role="customer",
        attachments=[Upload("kettle.jpg", PHOTO)],
    )
    clock.advance(hours=1)
    kept = desk.open_ticket(customer=li.id, channel="email", subject="Kettle leaks")
    desk.merge(duplicate.id, into=kept.id)
    desk.add_message(
        kept.id,
        "Is this your kettle?",
        author_id="agent-1",
        author_role="agent",
        attachments=[Upload("kettle.jpg", PHOTO)],
    )
    clock.advance(days=40)
    assert desk.run_due().erased == (duplicate.id,)
    assert blobs.exists(kept.id, _sha(PHOTO))  # the agent's copy is kept

    assert desk.read_attachment(kept.id, _sha(PHOTO)) == PHOTO


@pytest.mark.parametrize("bad", [0, -1, "10", 2.5])
def test_a_memory_blob_store_refuses_a_limit_that_is_not_a_positive_int(bad: object) -> None:
    with pytest.raises(InvalidInput):
        MemoryBlobStore(max_bytes=bad)  # type: ignore[arg-type]
