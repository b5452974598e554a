"""What a blob store is: where the bytes of attachments live, by namespace and SHA-256."""

from __future__ import annotations

import hashlib
import re
from typing import Protocol, runtime_checkable

from aftersales.exceptions import AttachmentRefused, FieldError, InvalidInput

__all__ = [
    "DEFAULT_MAX_BYTES",
    "BlobStore",
    "check_max_bytes",
    "check_namespace",
    "check_sha256",
    "digest",
]

DEFAULT_MAX_BYTES = 25 * 2**20
"""The largest blob a store takes unless told otherwise: 25 MiB, what the big mail
services let one message carry."""

_SHA256 = re.compile(r"[0-9a-f]{64}")


@runtime_checkable
class BlobStore(Protocol):
    """Where attachments' bytes are kept, content-addressed within a namespace.

    The desk uses the id of the ticket a message is written on as the namespace, so
    erasing a ticket's personal data (or every ticket of a customer) removes exactly its
    files with :meth:`delete_namespace`, wherever the ticket moves (a customer merge
    moves tickets, not files). The same bytes put twice in one namespace are kept once.
    """

    max_bytes: int
    """The largest blob :meth:`put` takes; larger raises AttachmentRefused ``too_large``."""

    def put(self, data: bytes, *, namespace: str) -> str:
        """Keep ``data`` in ``namespace`` and return its SHA-256 (64 lower-case hex
        digits). AttachmentRefused: ``empty``, ``too_large``."""
        ...

    def get(self, namespace: str, sha256: str) -> bytes:
        """The bytes kept under ``sha256`` in ``namespace``; AttachmentRefused
        ``unknown_blob`` when there are none (never kept, or erased)."""
        ...

    def exists(self, namespace: str, sha256: str) -> bool:
        """Whether ``namespace`` keeps a blob of that SHA-256."""
        ...

    def delete(self, namespace: str, sha256: str) -> bool:
        """Remove one blob; whether there was one."""
        ...

    def delete_namespace(self, namespace: str) -> int:
        """Remove every blob of ``namespace`` (erasure); the number removed."""
        ...


def digest(data: bytes) -> str:
    """The SHA-256 of ``data`` as a blob store names it."""
    return hashlib.sha256(data).hexdigest()


def check_max_bytes(max_bytes: object) -> int:
    """``max_bytes`` if it is an int of at least 1 (a store's size limit), else
    InvalidInput: a limit of 0 would refuse every file, and one of another type would
    fail each :meth:`BlobStore.put` later with an error of its own."""
    if type(max_bytes) is not int or max_bytes < 1:
        raise InvalidInput("blob store", [FieldError(("max_bytes",), "must be an int >= 1")])
    return max_bytes


def check_namespace(namespace: object) -> str:
    """``namespace`` if it is non-empty text, else InvalidInput."""
    if not isinstance(namespace, str) or not namespace:
        raise InvalidInput("blob", [FieldError(("namespace",), "must be non-empty text")])
    return namespace


def check_sha256(sha256: object) -> str:
    """``sha256`` if it is 64 lower-case hex digits, else AttachmentRefused ``unknown_blob``
    (it cannot name a blob, and must never reach a path)."""
    if not isinstance(sha256, str) or _SHA256.fullmatch(sha256) is None:
        raise AttachmentRefused(
            "unknown_blob", "a blob is named by its SHA-256: 64 lower-case hex digits"
        )
    return sha256


def check_blob(data: object, max_bytes: int) -> bytes:
    """``data`` as bytes if a store may keep it: AttachmentRefused ``empty`` or
    ``too_large`` otherwise (InvalidInput when it is not bytes)."""
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise InvalidInput("blob", [FieldError(("data",), "must be bytes")])
    if not data:
        raise AttachmentRefused("empty", "an attachment must not be empty")
    if len(data) > max_bytes:
        raise AttachmentRefused(
            "too_large", f"an attachment may hold at most {max_bytes} bytes, not {len(data)}"
        )
    return data


def unknown_blob(sha256: str) -> AttachmentRefused:
    """The error for a blob a namespace does not keep."""
    return AttachmentRefused("unknown_blob", f"no blob {sha256} is kept here")
