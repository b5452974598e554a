"""A blob store on a file system, content-addressed and written atomically."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from os import PathLike
from pathlib import Path

from aftersales.attachments._protocol import (
    DEFAULT_MAX_BYTES,
    check_blob,
    check_namespace,
    check_sha256,
    digest,
    unknown_blob,
)
from aftersales.exceptions import FieldError, InvalidInput, StorageError

__all__ = ["FileBlobStore"]

_DIRECTORY_MODE = 0o700
_TEMPORARY_PREFIX = ".tmp-"


class FileBlobStore:
    """A :class:`~aftersales.attachments.BlobStore` in a directory.

    A blob lives at ``root/<namespace key>/<sha[:2]>/<sha>``: the namespace key is the
    first 32 hex digits of the SHA-256 of the namespace, so no namespace (a ticket id
    with ``../``, ``/``, a NUL or any other text) can name a path outside ``root``, and
    the blob's own name is its validated SHA-256. Writes go to a temporary file in the
    blob's directory, are flushed to disk and then renamed over the final name
    (``os.replace``), so a reader sees the whole blob or none, never part of one.
    Directories are made readable by the owner only (``0o700``, files ``0o600``): the
    files are customers' documents.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     blobs = FileBlobStore(root)
    ...     sha = blobs.put(b"%PDF-1.7", namespace="../../etc")
    ...     blobs.get("../../etc", sha)
    b'%PDF-1.7'
    """

    def __init__(self, root: str | PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if type(max_bytes) is not int or max_bytes < 1:
            raise InvalidInput("blob store", [FieldError(("max_bytes",), "must be an int >= 1")])
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.root.mkdir(mode=_DIRECTORY_MODE, parents=True, exist_ok=True)

    def _directory(self, namespace: str) -> Path:
        text = check_namespace(namespace).encode("utf-8", "surrogatepass")
        return self.root / hashlib.sha256(text).hexdigest()[:32]

    def _path(self, namespace: str, sha256: str) -> Path:
        check_sha256(sha256)
        return self._directory(namespace) / sha256[:2] / sha256

    def put(self, data: bytes, *, namespace: str) -> str:
        """Keep ``data`` in ``namespace``; its SHA-256 (kept once however often put)."""
        data = check_blob(data, self.max_bytes)
        sha256 = digest(data)
        path = self._path(namespace, sha256)
        if path.is_file():
            return sha256
        # one at a time: mkdir(parents=True) would make the namespace's directory with
        # the default mode, readable by everyone
        path.parent.parent.mkdir(mode=_DIRECTORY_MODE, exist_ok=True)
        path.parent.mkdir(mode=_DIRECTORY_MODE, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=_TEMPORARY_PREFIX, dir=path.parent)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _sync_directory(path.parent)
        return sha256

    def get(self, namespace: str, sha256: str) -> bytes:
        """The blob's bytes; AttachmentRefused ``unknown_blob`` when not kept,
        StorageError when the file no longer holds what was put."""
        path = self._path(namespace, sha256)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise unknown_blob(sha256) from None
        if digest(data) != sha256:
            raise StorageError(f"blob {sha256} is damaged: its bytes have another SHA-256")
        return data

    def exists(self, namespace: str, sha256: str) -> bool:
        """Whether the namespace keeps the blob."""
        return self._path(namespace, sha256).is_file()

    def delete(self, namespace: str, sha256: str) -> bool:
        """Remove one blob; whether there was one."""
        try:
            self._path(namespace, sha256).unlink()
        except FileNotFoundError:
            return False
        return True

    def delete_namespace(self, namespace: str) -> int:
        """Remove the namespace's directory and every blob in it; how many blobs."""
        directory = self._directory(namespace)
        if not directory.is_dir():
            return 0
        removed = sum(
            1
            for _, _, files in os.walk(directory)
            for name in files
            if not name.startswith(_TEMPORARY_PREFIX)
        )
        shutil.rmtree(directory)
        return removed


def _sync_directory(directory: Path) -> None:
    """Make the rename durable: on POSIX a rename is on disk once its directory is."""
    if os.name != "posix":  # pragma: no cover - Windows cannot open a directory
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
