"""Attachments: files a message carries, kept in a blob store.

A message's :class:`~aftersales.models.Attachment` records describe its files (name,
sniffed content type, size, SHA-256); the bytes live in a :class:`BlobStore`
(:class:`MemoryBlobStore`, :class:`FileBlobStore` or your own), one namespace per ticket,
so an erasure removes exactly the files of the tickets it erases. Give the desk a store
(``Desk(blobs=FileBlobStore("files"))``), attach :class:`Upload` objects to
:meth:`~aftersales.Desk.add_message` and read them back with
:meth:`~aftersales.Desk.read_attachment`.
"""

from aftersales.attachments._protocol import DEFAULT_MAX_BYTES, BlobStore
from aftersales.attachments._sniff import sniff_content_type
from aftersales.attachments._uploads import MAX_ATTACHMENTS, Upload, clean_name
from aftersales.attachments.filesystem import FileBlobStore
from aftersales.attachments.memory import MemoryBlobStore

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_ATTACHMENTS",
    "BlobStore",
    "FileBlobStore",
    "MemoryBlobStore",
    "Upload",
    "clean_name",
    "sniff_content_type",
]
