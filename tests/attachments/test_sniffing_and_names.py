"""A file's content type comes from its bytes, and its name is reduced to a base name
that holds no directory and no control character."""

from __future__ import annotations

import gzip
import io
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aftersales import AttachmentRefused
from aftersales.attachments import clean_name, sniff_content_type


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    zipfile.ZipFile(buffer, "w").close()
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (_zip(), "application/zip"),  # a .docx or .xlsx is a zip file
        (_empty_zip(), "application/zip"),
        (gzip.compress(b"log lines", mtime=0), "application/gzip"),
        ("订单号 12345，屏幕不亮\r\n\tthanks".encode(), "text/plain"),
        (b"plain ascii", "text/plain"),
        ("é".encode() * 5000, "text/plain"),  # longer than the probe, cut inside a character
        (b"MZ\x90\x00\x03", "application/octet-stream"),  # a Windows executable
        (b"\x7fELF\x02\x01", "application/octet-stream"),
        (b"text with a NUL\x00", "application/octet-stream"),
        (b"text with DEL\x7f", "application/octet-stream"),
        (b"\xc3\x28 not utf-8", "application/octet-stream"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_the_content_type_is_what_the_bytes_start_with(data: bytes, expected: str) -> None:
    assert expected == sniff_content_type(data)


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("invoice.pdf", "invoice.pdf"),
        ("../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("C:\\Users\\li\\Desktop\\发票.pdf", "发票.pdf"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("  spaced.txt  ", "spaced.txt"),
        ("n" * 255, "n" * 255),
    ],
)
def test_a_name_keeps_its_base_name_only(given_name: str, expected: str) -> None:
    assert expected == clean_name(given_name)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "dir/",
        "..",
        "a/..",
        ".",
        "n" * 256,
        "a\x00b.pdf",
        "line\nbreak.pdf",
        "tab\t.pdf",
        "invoice\u202efdp.exe",
        "lone\ud800.pdf",
        "bell\x07",
        None,
        b"bytes.pdf",
    ],
)
def test_a_name_with_nothing_usable_or_a_control_character_is_refused(bad: object) -> None:
    with pytest.raises(AttachmentRefused) as caught:
        clean_name(bad)
    assert caught.value.reason == "bad_name"


@given(st.text(max_size=300))
def test_a_name_either_is_refused_or_is_a_safe_base_name(name: str) -> None:
    try:
        cleaned = clean_name(name)
    except AttachmentRefused as refused:
        reason = refused.reason
        cleaned = None
    if cleaned is None:
        assert reason == "bad_name"
        return
    assert "/" not in cleaned
    assert "\\" not in cleaned
    assert cleaned not in ("", ".", "..")
    assert 1 <= len(cleaned) <= 255
    assert all(ord(char) >= 0x20 and char != "\x7f" for char in cleaned)
    assert cleaned in name
