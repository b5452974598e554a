"""The blob stores keep attachments' bytes content-addressed per namespace: the same bytes
once, nothing over the size limit, nothing outside the file store's root whatever the
namespace, and never a part-written file."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales import AttachmentRefused, InvalidInput, StorageError
from aftersales.attachments import BlobStore, FileBlobStore, MemoryBlobStore

PDF = b"%PDF-1.7 a receipt"
PNG = b"\x89PNG\r\n\x1a\n a photo"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["memory", "file"])
def make_blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., BlobStore]:
    def make(**options: int) -> BlobStore:
        if request.param == "memory":
            return MemoryBlobStore(**options)
        return FileBlobStore(tmp_path / "blobs", **options)

    return make


def _files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_both_stores_are_blob_stores(tmp_path: Path) -> None:
    assert isinstance(MemoryBlobStore(), BlobStore)
    assert isinstance(FileBlobStore(tmp_path), BlobStore)
    assert not isinstance(object(), BlobStore)


def test_a_blob_is_named_by_the_sha256_of_its_bytes_and_read_back(
    make_blobs: Callable[..., BlobStore],
) -> None:
    blobs = make_blobs()
    sha = blobs.put(PDF, namespace="t-1")
    assert _sha(PDF) == sha
    assert blobs.get("t-1", sha) == PDF
    assert blobs.exists("t-1", sha)
    assert not blobs.exists("t-2", sha)


def test_a_namespace_does_not_see_another_namespaces_blob(
    make_blobs: Callable[..., BlobStore],
) -> None:
    blobs = make_blobs()
    sha = blobs.put(PDF, namespace="t-1")
    with pytest.raises(AttachmentRefused) as caught:
        blobs.get("t-2", sha)
    assert caught.value.reason == "unknown_blob"


def test_the_same_bytes_put_twice_are_kept_once(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    first = blobs.put(PDF, namespace="t-1")
    second = blobs.put(PDF, namespace="t-1")
    assert first == second
    assert len(_files(tmp_path)) == 1
    blobs.put(PDF, namespace="t-2")  # another namespace keeps its own copy
    assert len(_files(tmp_path)) == 2


def test_the_file_lives_at_the_hashed_namespace_and_the_sha(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    sha = blobs.put(PNG, namespace="t-1")
    key = hashlib.sha256(b"t-1").hexdigest()[:32]
    assert [tmp_path / key / sha[:2] / sha] == _files(tmp_path)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_only_the_owner_may_read_the_directories_and_files(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    blobs = FileBlobStore(root)
    sha = blobs.put(PNG, namespace="t-1")
    path = root / hashlib.sha256(b"t-1").hexdigest()[:32] / sha[:2] / sha
    for directory in (path.parent, path.parent.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_blob_over_the_limit_is_refused_and_nothing_is_kept(
    make_blobs: Callable[..., BlobStore],
) -> None:
    blobs = make_blobs(max_bytes=10)
    assert blobs.max_bytes == 10
    blobs.put(b"x" * 10, namespace="t-1")
    with pytest.raises(AttachmentRefused) as caught:
        blobs.put(b"x" * 11, namespace="t-1")
    assert caught.value.reason == "too_large"
    assert not blobs.exists("t-1", _sha(b"x" * 11))


def test_the_default_limit_is_25_mib(tmp_path: Path) -> None:
    assert 25 * 2**20 == FileBlobStore(tmp_path).max_bytes == MemoryBlobStore().max_bytes


def test_an_empty_blob_is_refused(make_blobs: Callable[..., BlobStore]) -> None:
    with pytest.raises(AttachmentRefused) as caught:
        make_blobs().put(b"", namespace="t-1")
    assert caught.value.reason == "empty"


def test_bytes_like_data_is_kept_and_other_data_refused(
    make_blobs: Callable[..., BlobStore],
) -> None:
    blobs = make_blobs()
    assert _sha(PDF) == blobs.put(bytearray(PDF), namespace="t-1")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        blobs.put("text", namespace="t-1")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        blobs.put(PDF, namespace="")


@pytest.mark.parametrize(
    "sha", ["../../etc/passwd", "A" * 64, "0" * 63, "0" * 65, "", "/" + "0" * 63, 7]
)
def test_a_name_that_is_not_a_sha256_never_reaches_a_path(
    make_blobs: Callable[..., BlobStore], sha: Any
) -> None:
    blobs = make_blobs()
    for read in (blobs.get, blobs.exists, blobs.delete):
        with pytest.raises(AttachmentRefused) as caught:
            read("t-1", sha)
        assert caught.value.reason == "unknown_blob"


def test_deleting_a_namespace_removes_its_blobs_and_only_them(
    make_blobs: Callable[..., BlobStore],
) -> None:
    blobs = make_blobs()
    blobs.put(PDF, namespace="t-1")
    blobs.put(PNG, namespace="t-1")
    kept = blobs.put(PDF, namespace="t-2")
    assert blobs.delete_namespace("t-1") == 2
    assert blobs.delete_namespace("t-1") == 0
    assert blobs.delete_namespace("never-used") == 0
    assert not blobs.exists("t-1", _sha(PDF))
    assert blobs.get("t-2", kept) == PDF


def test_deleting_one_blob_says_whether_there_was_one(
    make_blobs: Callable[..., BlobStore],
) -> None:
    blobs = make_blobs()
    sha = blobs.put(PDF, namespace="t-1")
    other = blobs.put(PNG, namespace="t-1")
    assert blobs.delete("t-1", sha)
    assert not blobs.delete("t-1", sha)
    assert not blobs.exists("t-1", sha)
    assert blobs.exists("t-1", other)


def test_a_file_changed_on_disk_is_a_storage_error_not_wrong_bytes(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    sha = blobs.put(PDF, namespace="t-1")
    [path] = _files(tmp_path)
    path.write_bytes(b"tampered")
    with pytest.raises(StorageError):
        blobs.get("t-1", sha)


def test_a_failed_write_leaves_neither_the_blob_nor_a_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = FileBlobStore(tmp_path)

    def no_rename(source: str, target: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(StorageError, match="disk full"):
        blobs.put(PDF, namespace="t-1")
    monkeypatch.undo()
    assert _files(tmp_path) == []
    assert not blobs.exists("t-1", _sha(PDF))
    assert _sha(PDF) == blobs.put(PDF, namespace="t-1")  # and the next write works


def test_a_temporary_file_left_by_a_crash_is_not_a_blob(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    sha = blobs.put(PDF, namespace="t-1")
    [path] = _files(tmp_path)
    (path.parent / ".tmp-crashed").write_bytes(b"%PDF-half")
    assert blobs.delete_namespace("t-1") == 1
    assert _files(tmp_path) == []
    assert not blobs.exists("t-1", sha)


def test_the_root_is_made_when_missing_and_a_bad_limit_refused(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b"
    FileBlobStore(str(root))
    assert root.is_dir()
    for limit in (0, -1, 1.5, "10"):
        with pytest.raises(InvalidInput):
            FileBlobStore(root, max_bytes=limit)  # type: ignore[arg-type]


NAMESPACES = st.one_of(
    st.text(min_size=1, max_size=80),
    st.sampled_from(
        ["..", "../..", "../../etc", "/etc/passwd", "\\\\server\\share", "a\x00b", "C:\\x", "~"]
    ),
    st.builds(lambda a, b: f"{a}/../{b}", st.text(max_size=10), st.text(max_size=10)),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(namespace=NAMESPACES, data=st.binary(min_size=1, max_size=64))
def test_no_namespace_puts_a_file_outside_the_root(
    tmp_path: Path, namespace: str, data: bytes
) -> None:
    root = tmp_path / "root"
    blobs = FileBlobStore(root)
    sha = blobs.put(data, namespace=namespace)
    resolved = root.resolve()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert path.resolve().is_relative_to(resolved), path
    assert data == blobs.get(namespace, sha)
    assert blobs.delete_namespace(namespace) == 1
    assert root.is_dir()  # deleting a namespace never removes the root itself
