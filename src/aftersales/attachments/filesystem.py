"""A blob store on a file system, content-addressed and written atomically."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from os import PathLike
from pathlib import Path

from aftersales.attachments._protocol import (
    DEFAULT_MAX_BYTES,
    check_blob,
    check_max_bytes,
    check_namespace,
    check_sha256,
    digest,
    unknown_blob,
)
from aftersales.exceptions import StorageError

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
        self.max_bytes = check_max_bytes(max_bytes)
        self.root = Path(root)
        try:
            self.root.mkdir(mode=_DIRECTORY_MODE, parents=True, exist_ok=True)
        except OSError as error:
            raise StorageError(
                f"blob store at {self.root} cannot make its root: {_reason(error)}"
            ) from error

    @contextlib.contextmanager
    def _failing(self, action: str) -> Iterator[None]:
        """Turn the file system's errors into StorageError: a caller handles one error
        type for every store, and learns when the root itself is gone."""
        try:
            yield
        except OSError as error:
            self._check_root()
            raise StorageError(
                f"blob store at {self.root} cannot {action}: {_reason(error)}"
            ) from error

    def _check_root(self) -> None:
        """StorageError when the root is no longer a directory: "not kept" would then be
        a guess (an unmounted disk still holds the files, which an erasure must delete)."""
        if not os.path.isdir(self.root):
            raise StorageError(
                f"blob store at {self.root} is gone: its root directory was removed or unmounted"
            )

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
        with self._failing("write a blob"):
            if path.is_file():
                return sha256
            # one at a time: mkdir(parents=True) would make the namespace's directory with
            # the default mode, readable by everyone (and would remake a removed root)
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
        StorageError when the file no longer holds what was put, or cannot be read."""
        path = self._path(namespace, sha256)
        with self._failing("read a blob"):
            try:
                data = path.read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                self._check_root()
                raise unknown_blob(sha256) from None
        if digest(data) != sha256:
            raise StorageError(f"blob {sha256} is damaged: its bytes have another SHA-256")
        return data

    def exists(self, namespace: str, sha256: str) -> bool:
        """Whether the namespace keeps the blob (StorageError when the root is gone)."""
        path = self._path(namespace, sha256)
        with self._failing("look for a blob"):
            if path.is_file():
                return True
        self._check_root()
        return False

    def delete(self, namespace: str, sha256: str) -> bool:
        """Remove one blob; whether there was one (StorageError when the root is gone:
        the file may still be on a disk that is not mounted)."""
        path = self._path(namespace, sha256)
        with self._failing("delete a blob"):
            try:
                path.unlink()
            except FileNotFoundError:
                self._check_root()
                return False
        return True

    def delete_namespace(self, namespace: str) -> int:
        """Remove the namespace's directory and every blob in it; how many blobs."""
        directory = self._directory(namespace)
        with self._failing("delete a namespace"):
            if not directory.is_dir():
                self._check_root()
                return 0
            removed = sum(
                1
                for _, _, files in os.walk(directory)
                for name in files
                if not name.startswith(_TEMPORARY_PREFIX)
            )
            shutil.rmtree(directory)
        return removed


def _reason(error: OSError) -> str:
    """What went wrong, without the path (a file's path is the root and hashes)."""
    return error.strerror or str(error) or type(error).__name__


def _sync_directory(directory: Path) -> None:
    """Make the rename durable: on POSIX a rename is on disk once its directory is."""
    if os.name != "posix":  # pragma: no cover - Windows cannot open a directory
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
