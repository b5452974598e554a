"""Files given with a message: checked, described and kept in the desk's blob store."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import attrs

from aftersales.attachments._protocol import BlobStore, check_blob, digest
from aftersales.attachments._sniff import sniff_content_type
from aftersales.exceptions import AttachmentRefused, FieldError, InvalidInput
from aftersales.models import Attachment
from aftersales.models.ticket import MAX_ATTACHMENT_NAME

__all__ = ["MAX_ATTACHMENTS", "Upload", "clean_name", "prepare_uploads"]

MAX_ATTACHMENTS = 20
"""The most files one message carries."""

# A right-to-left override (U+202E) shows "invoice<RLO>fdp.exe" as "invoiceexe.pdf".
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


@attrs.frozen
class Upload:
    """A file to attach to a message: its ``name`` as the sender gave it, its bytes, and
    the content type the sender declared (a hint the desk does not store: see
    :func:`~aftersales.attachments.sniff_content_type`)."""

    name: str
    data: bytes
    content_type: str | None = None


def clean_name(name: object) -> str:
    """The base name of ``name`` (directories of ``/`` and ``\\`` paths dropped), or
    AttachmentRefused ``bad_name`` when nothing usable is left: empty, ``.`` or ``..``,
    longer than 255 characters, or holding control characters.

    >>> clean_name("C:\\\\Users\\\\li\\\\invoice.pdf")
    'invoice.pdf'
    >>> clean_name("../../etc/passwd")
    'passwd'
    """
    if not isinstance(name, str):
        raise AttachmentRefused("bad_name", "an attachment's name must be text")
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if base in ("", ".", ".."):
        raise AttachmentRefused("bad_name", f"an attachment needs a file name, not {name!r}")
    if len(base) > MAX_ATTACHMENT_NAME:
        raise AttachmentRefused(
            "bad_name", f"an attachment's name may have at most {MAX_ATTACHMENT_NAME} characters"
        )
    if any(unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI_CONTROLS for char in base):
        raise AttachmentRefused("bad_name", "an attachment's name must not hold control characters")
    return base


def prepare_uploads(
    uploads: Sequence[Upload], blobs: BlobStore | None
) -> list[tuple[Attachment, bytes]]:
    """Each upload described (its name cleaned, its type sniffed) with its bytes, all
    checked before any is kept; AttachmentRefused for the first that cannot be."""
    if isinstance(uploads, Upload) or not isinstance(uploads, Sequence):
        raise InvalidInput(
            "message", [FieldError(("attachments",), "must be a sequence of Upload")]
        )
    if not uploads:
        return []
    if blobs is None:
        raise AttachmentRefused(
            "no_blob_store", "this desk keeps no attachments: give Desk(blobs=...) a blob store"
        )
    if len(uploads) > MAX_ATTACHMENTS:
        raise AttachmentRefused(
            "too_many", f"a message carries at most {MAX_ATTACHMENTS} attachments"
        )
    prepared: list[tuple[Attachment, bytes]] = []
    for upload in uploads:
        if not isinstance(upload, Upload):
            raise InvalidInput(
                "message", [FieldError(("attachments",), "each attachment must be an Upload")]
            )
        name = clean_name(upload.name)
        data = check_blob(upload.data, blobs.max_bytes)
        # The declared type is whatever the sender (or an attacker) wrote: stored, it
        # would make a browser or mail client treat an executable as a PDF. The bytes
        # decide.
        attachment = Attachment(
            name=name, content_type=sniff_content_type(data), size=len(data), sha256=digest(data)
        )
        prepared.append((attachment, data))
    return prepared


def keep_uploads(
    prepared: Sequence[tuple[Attachment, bytes]], blobs: BlobStore | None, namespace: str
) -> None:
    """Put the prepared files' bytes in ``namespace`` (before the message is committed:
    a blob left by a commit that fails is harmless, found by no message, kept once and
    erased with its namespace)."""
    if blobs is None:
        return
    for _, data in prepared:
        blobs.put(data, namespace=namespace)
