"""A message carries attachments and an external id on every store; a file that cannot be
kept stores nothing at all; read_attachment hands the bytes only to who may read them."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales import (
    Attachment,
    AttachmentRefused,
    Desk,
    FileBlobStore,
    FrozenClock,
    InvalidInput,
    MemoryBlobStore,
    MemoryStore,
    PermissionDenied,
    SQLiteStore,
    Store,
    TicketNotFound,
    Upload,
)
from aftersales.attachments import MAX_ATTACHMENTS
from aftersales.security import MemoryDirectory, Principal, default_permissions
from aftersales.storage.sqlalchemy import SQLAlchemyStore
from test_sqlalchemy_store import fresh_store, server_url

PDF = b"%PDF-1.7 the receipt"
PHOTO = b"\xff\xd8\xff\xe0 a photo of the broken kettle"
MESSAGE_ID = "<CAF=abc.123@mail.example.cn>"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["memory", "sqlite", "sqlalchemy-sqlite", "postgresql", "mariadb"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Opens the same database again on each call (a memory store: the same object)."""
    opened: list[Store] = []
    kind = request.param
    memory = MemoryStore()
    if kind in ("postgresql", "mariadb"):
        url = server_url(kind)
        fresh_store(url).close()
    else:
        url = f"sqlite:///{tmp_path / 'sa.db'}"

    def open_it() -> Store:
        if kind == "memory":
            return memory
        store: Store = (
            SQLiteStore(tmp_path / "desk.db") if kind == "sqlite" else SQLAlchemyStore(url)
        )
        opened.append(store)
        return store

    yield open_it
    for store in opened:
        store.close()


@pytest.fixture
def blobs() -> MemoryBlobStore:
    return MemoryBlobStore(max_bytes=1000)


@pytest.fixture
def desk(clock: FrozenClock, blobs: MemoryBlobStore) -> Desk:
    return Desk(clock=clock, blobs=blobs)


def _ticket(desk: Desk, customer: str = "c-1") -> str:
    return desk.open_ticket(customer=customer, channel="email", subject="Kettle leaks").id


def test_attachments_and_the_external_id_come_back_from_every_store(
    open_store: Callable[[], Store], clock: FrozenClock, tmp_path: Path
) -> None:
    blobs = FileBlobStore(tmp_path / "files")
    desk = Desk(open_store(), clock=clock, blobs=blobs)
    ticket_id = _ticket(desk)
    sent = desk.add_message(
        ticket_id,
        "Receipt and photo attached",
        author_id="c-1",
        author_role="customer",
        attachments=[
            Upload("C:\\scans\\receipt.pdf", PDF, "application/pdf"),
            Upload("kettle.jpg", PHOTO),
        ],
        external_id=MESSAGE_ID,
    )
    expected = (
        Attachment(
            name="receipt.pdf", content_type="application/pdf", size=len(PDF), sha256=_sha(PDF)
        ),
        Attachment(
            name="kettle.jpg", content_type="image/jpeg", size=len(PHOTO), sha256=_sha(PHOTO)
        ),
    )
    assert expected == sent.attachments
    assert sent.external_id == MESSAGE_ID
    again = Desk(open_store(), clock=clock, blobs=FileBlobStore(tmp_path / "files"))
    assert [sent] == again.messages(ticket_id)
    assert again.read_attachment(ticket_id, _sha(PDF)) == PDF
    assert again.read_attachment(ticket_id, _sha(PHOTO)) == PHOTO


def test_a_message_without_attachments_has_none_and_no_external_id(desk: Desk) -> None:
    message = desk.add_message(_ticket(desk), "hello", author_id="agent-1")
    assert message.attachments == ()
    assert message.external_id is None


def test_the_declared_content_type_is_not_what_is_stored(desk: Desk) -> None:
    # a sender calling an executable a PDF must not get it served as one
    message = desk.add_message(
        _ticket(desk),
        "see attached",
        author_id="c-1",
        attachments=[Upload("invoice.pdf", b"MZ\x90\x00 an executable", "application/pdf")],
    )
    assert message.attachments[0].content_type == "application/octet-stream"


def _stored(desk: Desk, blobs: MemoryBlobStore, ticket_id: str) -> tuple[Any, ...]:
    return (desk.get(ticket_id), desk.messages(ticket_id, include_internal=True), blobs._blobs)


@pytest.mark.parametrize(
    ("uploads", "reason"),
    [
        ([Upload("ok.pdf", PDF), Upload("empty.txt", b"")], "empty"),
        ([Upload("ok.pdf", PDF), Upload("big.bin", b"x" * 1001)], "too_large"),
        ([Upload("ok.pdf", PDF), Upload("../", PHOTO)], "bad_name"),
        ([Upload("ok.pdf", PDF), Upload("a\nb.jpg", PHOTO)], "bad_name"),
        ([Upload(f"{n}.txt", b"%d" % n) for n in range(MAX_ATTACHMENTS + 1)], "too_many"),
    ],
)
def test_a_file_that_cannot_be_kept_stores_nothing(
    desk: Desk, blobs: MemoryBlobStore, uploads: list[Upload], reason: str
) -> None:
    ticket_id = _ticket(desk)
    before = _stored(desk, blobs, ticket_id)
    with pytest.raises(AttachmentRefused) as caught:
        desk.add_message(ticket_id, "files", author_id="c-1", attachments=uploads)
    assert reason == caught.value.reason
    assert before == _stored(desk, blobs, ticket_id)
    assert blobs._blobs == {}


def test_twenty_files_are_allowed(desk: Desk) -> None:
    uploads = [Upload(f"{n}.txt", b"%d" % n) for n in range(MAX_ATTACHMENTS)]
    message = desk.add_message(_ticket(desk), "files", author_id="c-1", attachments=uploads)
    assert len(message.attachments) == MAX_ATTACHMENTS


def test_a_bad_message_keeps_no_file_either(desk: Desk, blobs: MemoryBlobStore) -> None:
    ticket_id = _ticket(desk)
    with pytest.raises(InvalidInput):
        desk.add_message(
            ticket_id, "", author_id="c-1", attachments=[Upload("ok.pdf", PDF)]
        )  # an empty body
    with pytest.raises(InvalidInput):
        desk.add_message(
            ticket_id,
            "x",
            author_id="c-1",
            attachments=[Upload("ok.pdf", PDF)],
            external_id="a\r\nBcc: x",
        )
    assert blobs._blobs == {}
    assert desk.get(ticket_id).version == 1


def test_attachments_that_are_not_uploads_are_invalid_input(desk: Desk) -> None:
    ticket_id = _ticket(desk)
    for wrong in (Upload("a.pdf", PDF), "a.pdf", [("a.pdf", PDF)], [Upload("a.pdf", "text")]):  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            desk.add_message(ticket_id, "x", author_id="c-1", attachments=wrong)  # type: ignore[arg-type]
    assert desk.messages(ticket_id) == []


def test_a_desk_without_a_blob_store_refuses_attachments_and_says_why(
    clock: FrozenClock,
) -> None:
    desk = Desk(clock=clock)
    ticket_id = _ticket(desk)
    with pytest.raises(AttachmentRefused, match="blob store") as caught:
        desk.add_message(ticket_id, "x", author_id="c-1", attachments=[Upload("a.pdf", PDF)])
    assert caught.value.reason == "no_blob_store"
    assert desk.messages(ticket_id) == []
    assert desk.add_message(ticket_id, "x", author_id="c-1").attachments == ()


def test_a_desk_refuses_a_blob_store_that_is_not_one(clock: FrozenClock) -> None:
    with pytest.raises(InvalidInput):
        Desk(clock=clock, blobs="files")  # type: ignore[arg-type]


def test_the_files_are_kept_under_the_ticket_they_are_written_on(
    desk: Desk, blobs: MemoryBlobStore
) -> None:
    duplicate = _ticket(desk)
    kept = _ticket(desk)
    desk.merge(duplicate, into=kept)
    message = desk.add_message(duplicate, "x", author_id="c-1", attachments=[Upload("a.pdf", PDF)])
    assert kept == message.ticket_id
    assert blobs.exists(kept, _sha(PDF))
    assert not blobs.exists(duplicate, _sha(PDF))


def test_a_merged_tickets_files_are_read_through_the_ticket_it_was_merged_into(
    desk: Desk,
) -> None:
    duplicate = _ticket(desk)
    kept = _ticket(desk)
    desk.add_message(duplicate, "x", author_id="c-1", attachments=[Upload("a.pdf", PDF)])
    desk.merge(duplicate, into=kept)
    assert desk.read_attachment(kept, _sha(PDF)) == PDF
    assert desk.read_attachment(duplicate, _sha(PDF)) == PDF


def test_reading_a_file_the_ticket_does_not_hold_is_refused(desk: Desk) -> None:
    mine = _ticket(desk)
    other = _ticket(desk, "c-2")
    desk.add_message(other, "x", author_id="c-2", attachments=[Upload("a.pdf", PDF)])
    with pytest.raises(AttachmentRefused) as caught:
        desk.read_attachment(mine, _sha(PDF))  # kept, but not on this ticket
    assert caught.value.reason == "unknown_blob"
    for bad in ("../" + "0" * 61, _sha(PDF).upper()):
        with pytest.raises(AttachmentRefused):
            desk.read_attachment(mine, bad)
    with pytest.raises(TicketNotFound):
        desk.read_attachment("no-such-ticket", _sha(PDF))


def test_a_desk_that_lost_its_blob_store_reads_no_file(clock: FrozenClock) -> None:
    store = MemoryStore()
    writing = Desk(store, clock=clock, blobs=MemoryBlobStore())
    ticket_id = _ticket(writing)
    writing.add_message(ticket_id, "x", author_id="c-1", attachments=[Upload("a.pdf", PDF)])
    with pytest.raises(AttachmentRefused) as caught:
        Desk(store, clock=clock).read_attachment(ticket_id, _sha(PDF))
    assert caught.value.reason == "unknown_blob"


def test_personal_data_in_a_file_name_is_redacted_like_a_body(clock: FrozenClock) -> None:
    desk = Desk(clock=clock, blobs=MemoryBlobStore(), settings={"redaction": {}})
    message = desk.add_message(
        _ticket(desk),
        "call 13912345678",
        author_id="c-1",
        attachments=[Upload("id-13912345678.jpg", PHOTO)],
    )
    assert "13912345678" not in message.model_dump_json()
    assert message.attachments[0].name.endswith(".jpg")
    for wrong in ("id.jpg", [("id.jpg", PHOTO)], [Upload(None, PHOTO)]):  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            desk.add_message(message.ticket_id, "x", author_id="c-1", attachments=wrong)  # type: ignore[arg-type]


NAMES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["../../x", "/etc/passwd", "C:\\x\\..\\y", "a\x00b", "..", "\u202e.exe"]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=NAMES)
def test_whatever_a_file_is_called_it_is_kept_under_the_stores_root(
    tmp_path: Path, clock: FrozenClock, name: str
) -> None:
    base = Path(tempfile.mkdtemp(dir=tmp_path))  # one per example: hypothesis reuses tmp_path
    root = base / "root"
    desk = Desk(clock=clock, blobs=FileBlobStore(root))
    ticket_id = _ticket(desk)
    upload = Upload(name, PHOTO)
    try:
        message = desk.add_message(ticket_id, "x", author_id="c-1", attachments=[upload])
    except AttachmentRefused as refused:
        reason: str | None = refused.reason
    else:
        reason = None
        [attachment] = message.attachments
        assert "/" not in attachment.name
        assert "\\" not in attachment.name
        assert desk.read_attachment(ticket_id, attachment.sha256) == PHOTO
    files = [path for path in base.rglob("*") if path.is_file()]
    assert all(path.resolve().is_relative_to(root.resolve()) for path in files)
    assert len(files) == (0 if reason == "bad_name" else 1)
    assert reason in (None, "bad_name")


# ------------------------------------------------------------------------ permissions

CUSTOMER = Principal.customer("c-1")
OTHER_CUSTOMER = Principal.customer("c-2")
AGENT = Principal.agent("agent-1", "care")


@pytest.fixture
def guarded(clock: FrozenClock) -> Desk:
    return Desk(
        clock=clock,
        blobs=MemoryBlobStore(),
        permissions=default_permissions(),
        principals=MemoryDirectory([CUSTOMER, OTHER_CUSTOMER, AGENT]),
    )


def test_a_customer_reads_the_files_of_their_tickets_public_replies_only(guarded: Desk) -> None:
    ticket_id = guarded.open_ticket(customer="c-1", channel="app", subject="Kettle").id
    guarded.add_message(
        ticket_id,
        "receipt",
        author_id=CUSTOMER.id,
        author_role="customer",
        attachments=[Upload("r.pdf", PDF)],
    )
    guarded.add_message(
        ticket_id,
        "supplier's photo",
        author_id="system",
        author_role="system",
        kind="internal_note",
        attachments=[Upload("p.jpg", PHOTO)],
    )
    assert guarded.read_attachment(ticket_id, _sha(PDF), actor=CUSTOMER) == PDF
    assert guarded.read_attachment(ticket_id, _sha(PDF), actor=CUSTOMER.id) == PDF
    with pytest.raises(AttachmentRefused):
        guarded.read_attachment(ticket_id, _sha(PHOTO), actor=CUSTOMER)
    assert guarded.read_attachment(ticket_id, _sha(PHOTO)) == PHOTO  # the system reads notes
    with pytest.raises(PermissionDenied) as caught:
        guarded.read_attachment(ticket_id, _sha(PDF), actor=OTHER_CUSTOMER)
    assert OTHER_CUSTOMER.id == caught.value.principal
