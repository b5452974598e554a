"""A blob store in memory: for tests and desks that keep nothing on disk."""

from __future__ import annotations

import threading

from aftersales.attachments._protocol import (
    DEFAULT_MAX_BYTES,
    check_blob,
    check_max_bytes,
    check_namespace,
    check_sha256,
    digest,
    unknown_blob,
)

__all__ = ["MemoryBlobStore"]


class MemoryBlobStore:
    """A :class:`~aftersales.attachments.BlobStore` in a dict, gone with the process.

    >>> blobs = MemoryBlobStore()
    >>> sha = blobs.put(b"hello", namespace="t-1")
    >>> blobs.get("t-1", sha)
    b'hello'
    >>> blobs.delete_namespace("t-1")
    1
    """

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = check_max_bytes(max_bytes)
        self._blobs: dict[str, dict[str, bytes]] = {}
        self._lock = threading.Lock()

    def put(self, data: bytes, *, namespace: str) -> str:
        """Keep ``data`` in ``namespace``; its SHA-256."""
        data = check_blob(data, self.max_bytes)
        namespace = check_namespace(namespace)
        sha256 = digest(data)
        with self._lock:
            self._blobs.setdefault(namespace, {}).setdefault(sha256, data)
        return sha256

    def get(self, namespace: str, sha256: str) -> bytes:
        """The blob's bytes; AttachmentRefused ``unknown_blob`` when not kept."""
        check_sha256(sha256)
        data = self._blobs.get(check_namespace(namespace), {}).get(sha256)
        if data is None:
            raise unknown_blob(sha256)
        return data

    def exists(self, namespace: str, sha256: str) -> bool:
        """Whether the namespace keeps the blob."""
        check_sha256(sha256)
        return sha256 in self._blobs.get(check_namespace(namespace), {})

    def delete(self, namespace: str, sha256: str) -> bool:
        """Remove one blob; whether there was one."""
        check_sha256(sha256)
        with self._lock:
            kept = self._blobs.get(check_namespace(namespace), {})
            return kept.pop(sha256, None) is not None

    def delete_namespace(self, namespace: str) -> int:
        """Remove the namespace's blobs; how many."""
        with self._lock:
            return len(self._blobs.pop(check_namespace(namespace), {}))
