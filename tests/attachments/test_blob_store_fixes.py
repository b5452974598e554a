"""Fixes after the review of attachments: the file store reports a failing file system as
StorageError (and a root that is gone as such, never as "not kept"), a memory store's
limit is checked, and a file is read from whichever message still keeps a copy."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from aftersales import Desk, FrozenClock, InvalidInput, StorageError, Upload
from aftersales.attachments import FileBlobStore, MemoryBlobStore

PDF = b"%PDF-1.7 a receipt"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_every_operation_on_a_removed_root_says_the_store_is_gone(tmp_path: Path) -> None:
    root = tmp_path / "files"
    blobs = FileBlobStore(root)
    sha = blobs.put(PDF, namespace="t-1")
    shutil.rmtree(root)

    for attempt in (
        lambda: blobs.put(PDF, namespace="t-2"),
        lambda: blobs.get("t-1", sha),
        lambda: blobs.exists("t-1", sha),
        lambda: blobs.delete("t-1", sha),
        lambda: blobs.delete_namespace("t-1"),
    ):
        with pytest.raises(StorageError, match="is gone: its root directory was removed"):
            attempt()
    assert not root.exists()  # a put does not quietly make a new, empty root


def test_a_root_that_is_back_answers_as_before(tmp_path: Path) -> None:
    root = tmp_path / "files"
    blobs = FileBlobStore(root)
    sha = blobs.put(PDF, namespace="t-1")
    shutil.rmtree(root)
    root.mkdir()  # remounted, empty

    assert blobs.exists("t-1", sha) is False
    assert blobs.delete("t-1", sha) is False
    assert blobs.delete_namespace("t-1") == 0
    assert blobs.put(PDF, namespace="t-1") == sha
    assert blobs.get("t-1", sha) == PDF


def test_a_failed_write_is_a_storage_error_that_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = FileBlobStore(tmp_path)

    def full(source: str, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(StorageError, match="cannot write a blob: No space left on device"):
        blobs.put(PDF, namespace="t-1")
    monkeypatch.undo()
    assert _files(tmp_path) == []


def test_a_file_that_cannot_be_read_or_removed_is_a_storage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = FileBlobStore(tmp_path)
    sha = blobs.put(PDF, namespace="t-1")

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(StorageError, match="cannot read a blob: Permission denied"):
        blobs.get("t-1", sha)
    monkeypatch.setattr(Path, "is_file", denied)
    with pytest.raises(StorageError, match="cannot look for a blob: Permission denied"):
        blobs.exists("t-1", sha)
    monkeypatch.setattr(Path, "unlink", denied)
    with pytest.raises(StorageError, match="cannot delete a blob: Permission denied"):
        blobs.delete("t-1", sha)
    monkeypatch.setattr(shutil, "rmtree", denied)
    with pytest.raises(StorageError, match="cannot delete a namespace: Permission denied"):
        blobs.delete_namespace("t-1")
    monkeypatch.undo()
    assert blobs.get("t-1", sha) == PDF  # nothing was lost on the way


def test_an_error_without_a_text_is_named_by_its_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = FileBlobStore(tmp_path)

    def silent(*args: object, **kwargs: object) -> None:
        raise BlockingIOError

    monkeypatch.setattr(os, "fsync", silent)
    with pytest.raises(StorageError, match=r"cannot write a blob: BlockingIOError$"):
        blobs.put(PDF, namespace="t-1")


def test_a_root_that_cannot_be_made_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_bytes(b"not a directory")
    with pytest.raises(StorageError, match="cannot make its root"):
        FileBlobStore(tmp_path / "a-file" / "files")


@pytest.mark.parametrize("bad", [0, -1, "10", 2.5, True, None])
def test_both_stores_refuse_the_same_limits(tmp_path: Path, bad: object) -> None:
    with pytest.raises(InvalidInput):
        MemoryBlobStore(max_bytes=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        FileBlobStore(tmp_path, max_bytes=bad)  # type: ignore[arg-type]
    assert MemoryBlobStore(max_bytes=1).max_bytes == 1


def test_a_desk_without_a_blob_store_reads_no_file(clock: FrozenClock) -> None:
    desk = Desk(clock=clock)
    ticket_id = desk.open_ticket(customer="c-1", channel="email", subject="Kettle").id
    with pytest.raises(InvalidInput) as caught:
        desk.read_attachment(ticket_id, _sha(PDF))
    assert getattr(caught.value, "reason", None) == "unknown_blob"


def test_a_file_on_a_desk_whose_root_is_gone_is_a_storage_error_not_an_unknown_file(
    clock: FrozenClock, tmp_path: Path
) -> None:
    root = tmp_path / "files"
    desk = Desk(clock=clock, blobs=FileBlobStore(root))
    ticket_id = desk.open_ticket(customer="c-1", channel="email", subject="Kettle").id
    desk.add_message(ticket_id, "receipt", author_id="c-1", attachments=[Upload("r.pdf", PDF)])
    shutil.rmtree(root)
    with pytest.raises(StorageError, match="is gone"):
        desk.read_attachment(ticket_id, _sha(PDF))
