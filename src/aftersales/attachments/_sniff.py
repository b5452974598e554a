"""The content type of a file, from its first bytes."""

from __future__ import annotations

import codecs

__all__ = ["OCTET_STREAM", "sniff_content_type"]

OCTET_STREAM = "application/octet-stream"

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    # .docx, .xlsx, .odt... are zip files: told apart only by unpacking them
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
)
_TEXT_PROBE = 8192
_TEXT_CONTROLS = frozenset(b"\t\n\r\x0c")


def sniff_content_type(data: bytes) -> str:
    """The content type ``data`` starts like: PDF, PNG, JPEG, GIF, WebP, zip (which
    includes Office documents), gzip, UTF-8 text without control characters
    (``text/plain``), else ``application/octet-stream``.

    >>> sniff_content_type(b"%PDF-1.7 ...")
    'application/pdf'
    >>> sniff_content_type("你好".encode())
    'text/plain'
    >>> sniff_content_type(b"MZ\\x90\\x00")
    'application/octet-stream'
    """
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "text/plain" if _is_text(data[:_TEXT_PROBE], len(data) > _TEXT_PROBE) else OCTET_STREAM


def _is_text(head: bytes, cut: bool) -> bool:
    """Whether ``head`` is UTF-8 text (a character cut at the end of a probe is fine)."""
    if not head or any(byte < 0x20 and byte not in _TEXT_CONTROLS for byte in head):
        return False
    if b"\x7f" in head:
        return False
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=not cut)
    except UnicodeDecodeError:
        return False
    return True
