"""Reading one RFC 5322 mail into an :class:`InboundMail`, without a desk."""

from __future__ import annotations

import binascii
import email
import email.policy
import mimetypes
import quopri
import re
from collections.abc import Callable
from email.message import Message as MailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from typing import TypeVar

import attrs

from aftersales.attachments import Upload
from aftersales.exceptions import FieldError, InvalidInput
from aftersales.inbound._loops import automatic_reason
from aftersales.inbound._text import (
    clean,
    decode_bytes,
    decode_header_value,
    html_to_text,
    language_of,
    raw_text,
)

__all__ = ["InboundMail", "parse_email"]

_BARE_ID = re.compile(r"[^<>\s\x00-\x1f\x7f]{1,900}")
_MSG_ID = re.compile(f"<{_BARE_ID.pattern}>")
_BARE_ADDRESS = re.compile(r"[^<>\s\"(),;:]+@[^<>\s\"(),;:]+")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_MAX_ADDRESS = 200
_MAX_NAME = 200
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")
_MAX_DEPTH = 30
_MAX_CONTAINERS = 150
"""Multipart and message/* parts a mail may declare: the standard library's parser
recurses once per nested part and raises RecursionError near a thousand, and no mail a
person writes comes near this (a forward of a forward thirty deep declares ~90)."""
_CONTAINER = re.compile(rb"(?im)^content-type:[ \t]*(?:\r?\n[ \t]+)?(?:multipart|message)/")
T = TypeVar("T")


@attrs.frozen
class InboundMail:
    """One mail as the desk reads it (see :func:`parse_email`).

    ``address`` is the sender's address with its domain in lower case (None when the
    mail names no usable sender); ``display_name`` the name beside it. ``body`` is the
    text/plain part, or the HTML part as readable text, quoted history included.
    ``attachments`` are the files it carries, as :class:`~aftersales.attachments.Upload`
    (a mail forwarded as an attachment is one ``.eml`` file).
    ``message_id`` keeps its angle brackets; ``in_reply_to`` and ``references`` are the
    Message-IDs those headers name, in header order. ``automatic`` is why the mail is
    machine-sent (``auto_submitted``, ``precedence``, ``auto_reply``, ``mailing_list``,
    ``bounce``) or None for a person's mail. ``language`` comes from
    ``Content-Language``, else from a Chinese charset (``zh-CN`` for GB2312/GBK/GB18030,
    ``zh-TW`` for Big5, ``zh-HK`` for Big5-HKSCS). ``headers`` holds every header as
    (lower-case name, decoded value), in order. ``address_as_written`` is the sender's
    address as the mail spells it (None with ``address``). ``unreadable`` says why only
    the headers were read (``too_deep``: more nested parts than a person's mail has,
    which would exhaust the parser), else None.
    """

    address: str | None
    display_name: str | None
    subject: str
    body: str
    message_id: str | None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    attachments: tuple[Upload, ...] = ()
    automatic: str | None = None
    language: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    address_as_written: str | None = None
    unreadable: str | None = None

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), decoded, or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """The Message-IDs this mail answers, nearest first: ``In-Reply-To``, then
        ``References`` from the last (the parent) to the first (the thread's root)."""
        ids = [*self.in_reply_to, *reversed(self.references)]
        return tuple(dict.fromkeys(ids))


def parse_email(raw: bytes) -> InboundMail:
    """Read the RFC 5322 mail ``raw`` (bytes as delivered) into an :class:`InboundMail`.

    Never raises on what a mail contains: undecodable bytes are replaced, unknown
    charsets read as UTF-8 or Latin-1, a missing or unusable ``From`` gives ``address``
    None. ``raw`` that is not bytes, or is empty, raises :class:`~aftersales.InvalidInput`.

    >>> mail = parse_email(
    ...     b"From: =?gb2312?B?wO7AtA==?= <Li.Lai@Example.CN>\\r\\n"
    ...     b"Subject: Re: [#12] kettle\\r\\n"
    ...     b"Message-ID: <a1@example.cn>\\r\\n"
    ...     b"In-Reply-To: <aftersales.t-1.0123456789abcdef@desk.example>\\r\\n"
    ...     b"Content-Type: text/plain; charset=gb2312\\r\\n\\r\\n"
    ...     + "还是漏水".encode("gbk")
    ... )
    >>> mail.address, mail.display_name, mail.body, mail.language
    ('Li.Lai@example.cn', '李来', '还是漏水', 'zh-CN')
    >>> mail.thread_ids, mail.automatic
    (('<aftersales.t-1.0123456789abcdef@desk.example>',), None)
    """
    if not isinstance(raw, (bytes, bytearray)):
        raise InvalidInput("mail", [FieldError(("raw",), "must be the mail's bytes")])
    if not raw.strip():
        raise InvalidInput("mail", [FieldError(("raw",), "is empty")])
    data = bytes(raw)
    for containers, _ in enumerate(_CONTAINER.finditer(data), start=1):
        if containers > _MAX_CONTAINERS:
            return _headers_only(data, "too_deep")
    try:
        return _read(email.message_from_bytes(data, policy=email.policy.default))
    except RecursionError:
        # nesting the count above missed (parts inside encoded forwards): headers only
        return _headers_only(data, "too_deep")


def _headers_only(data: bytes, why: str) -> InboundMail:
    head = BytesParser(policy=email.policy.default).parsebytes(data, headersonly=True)
    return _read(head, unreadable=why)


def _read(message: MailMessage, depth: int = 0, unreadable: str | None = None) -> InboundMail:
    raw_items = [(str(name).lower(), str(value)) for name, value in message.raw_items()]
    headers = tuple((name, decode_header_value(value)) for name, value in raw_items)
    raw_headers = dict(reversed(raw_items))  # the first of a repeated header counts
    # Decoded: Python's own generator (and others) encode a long In-Reply-To as
    # RFC 2047 words, hiding the Message-IDs in it.
    decoded = dict(reversed(headers))
    written, name = _sender(raw_headers.get("from"))
    address = None if written is None else normal_address(written)
    # Only the outer mail's files are kept: a forwarded mail inside is one .eml file
    # already, and copying each level's files again would cost memory per level.
    found = _Parts(keep_files=depth == 0)
    if unreadable is None:
        found.walk(message, depth)
    body = found.body()
    if not body:
        body = next((inner.body for inner in found.forwarded if inner.body), "")
    mail_ids = _MSG_ID.findall(decoded.get("message-id", ""))
    bare_id = decoded.get("message-id", "").strip().strip("<>")
    if not mail_ids and _BARE_ID.fullmatch(bare_id):
        mail_ids = [f"<{bare_id}>"]
    return InboundMail(
        address=address,
        display_name=name,
        subject=decode_header_value(raw_headers.get("subject", "")),
        body=body,
        message_id=mail_ids[0] if mail_ids else None,
        in_reply_to=tuple(dict.fromkeys(_MSG_ID.findall(decoded.get("in-reply-to", "")))),
        references=tuple(dict.fromkeys(_MSG_ID.findall(decoded.get("references", "")))),
        attachments=tuple(found.attachments),
        automatic=automatic_reason(
            headers, address, _safely(message.get_content_type, "text/plain")
        ),
        language=_language(raw_headers.get("content-language"), found.charsets),
        headers=headers,
        address_as_written=written,
        unreadable=unreadable,
    )


def _sender(raw: str | None) -> tuple[str | None, str | None]:
    """The first usable address of a From header, as written, and the name beside it."""
    if raw is None:
        return None, None
    raw = raw_text(raw)  # an address in raw UTF-8 (RFC 6532) is text, not escapes
    none: list[tuple[str, str]] = []
    for name, address in _safely(lambda: getaddresses([raw]), none):
        if normal_address(address) is not None:
            return address.strip().strip("<>"), decode_header_value(name)[:_MAX_NAME] or None
    # What the parser could not split ("Li Wei li@x.cn") may still hold one address.
    bare = _BARE_ADDRESS.search(raw)
    if bare is None or normal_address(bare.group(0)) is None:
        return None, None
    return bare.group(0), None


def normal_address(address: str) -> str | None:
    """``address`` with its domain in lower case (domains are case-insensitive; the
    local part, strictly, is not), or None when it is no usable address.

    >>> normal_address(" Li.Wei@Example.COM "), normal_address("no-at-sign")
    ('Li.Wei@example.com', None)
    """
    local, at, domain = address.strip().strip("<>").rpartition("@")
    if not at or not local or not domain or "." not in domain.strip("."):
        return None
    value = f"{local}@{domain.lower()}"
    if len(value) > _MAX_ADDRESS or any(
        ch.isspace() or ord(ch) < 32 or ord(ch) == 127 or 0xD800 <= ord(ch) <= 0xDFFF
        for ch in value
    ):
        return None
    return value


def _language(content_language: str | None, charsets: list[str]) -> str | None:
    if content_language:
        first = content_language.split(",")[0].strip()
        if len(first) <= 35 and _LANGUAGE_TAG.fullmatch(first):  # RFC 5646's longest
            return first
    return next((lang for lang in map(language_of, charsets) if lang is not None), None)


class _Parts:
    """What a walk over a mail's MIME tree found: body texts, attachments, mails
    forwarded as attachments, and the charsets its text was labelled with."""

    def __init__(self, keep_files: bool = True) -> None:
        self.keep_files = keep_files
        self.plain: list[str] = []
        self.html: list[str] = []
        self.attachments: list[Upload] = []
        self.forwarded: list[InboundMail] = []
        self.charsets: list[str] = []

    def body(self) -> str:
        texts = self.plain or [html_to_text(html) for html in self.html]
        return "\n\n".join(text.strip() for text in texts if text.strip())

    def walk(self, part: MailMessage, depth: int) -> None:
        content_type = _safely(part.get_content_type, "application/octet-stream")
        if content_type in ("message/rfc822", "message/global"):
            self._forwarded(part, depth)
        elif content_type.startswith("message/"):
            return  # delivery and disposition reports: machine text, no body
        elif part.is_multipart():
            if depth < _MAX_DEPTH:  # a mail nested deeper is an attack, not a mail
                for child in part.get_payload():
                    self.walk(child, depth + 1)  # type: ignore[arg-type] # a list of parts
        elif _is_body(part, content_type):
            charset = _safely(part.get_content_charset, None)
            if charset:
                self.charsets.append(charset)
            text = clean(decode_bytes(_payload(part), charset))
            (self.plain if content_type == "text/plain" else self.html).append(text)
        elif self.keep_files:
            self._attach(_filename(part), _payload(part), content_type)

    def _attach(self, name: str | None, data: bytes, content_type: str) -> None:
        if not self.keep_files:
            return
        if name is None:
            extension = mimetypes.guess_extension(content_type) or ".bin"
            name = f"attachment-{len(self.attachments) + 1}{extension}"
        self.attachments.append(Upload(name, data, content_type))

    def _forwarded(self, part: MailMessage, depth: int) -> None:
        payload = _safely(lambda: part.get_payload(0), None)
        inner = payload if isinstance(payload, MailMessage) else MailMessage()
        encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if encoding in ("base64", "quoted-printable"):
            # RFC 2046 forbids encoding a message/rfc822 part; some clients do it anyway,
            # and the parser then reads the encoded text as the forwarded mail.
            text = _safely(inner.as_bytes, b"")
            decode = binascii.a2b_base64 if encoding == "base64" else quopri.decodestring
            source = _safely(lambda: decode(text), text)
            inner = email.message_from_bytes(source, policy=email.policy.default)
        data = _safely(inner.as_bytes, b"") if self.keep_files else b""
        name = _filename(part)
        if depth < _MAX_DEPTH:
            read = _read(inner, depth + 1)
            self.forwarded.append(read)
            subject = _UNSAFE_NAME.sub(" ", read.subject).strip()[:100]
            name = name or f"{subject or 'forwarded'}.eml"
        self._attach(name, data, "message/rfc822")


def _is_body(part: MailMessage, content_type: str) -> bool:
    if content_type not in ("text/plain", "text/html"):
        return False
    disposition = _safely(part.get_content_disposition, None)
    return disposition != "attachment" and _filename(part) is None


def _filename(part: MailMessage) -> str | None:
    name = _safely(part.get_filename, None)
    if not name:
        return None
    name = decode_header_value(str(name))
    # Only the last path element: a name such as ../../etc/passwd names a file, not a path.
    name = _UNSAFE_NAME.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    return name[:_MAX_NAME] or None


def _payload(part: MailMessage) -> bytes:
    data = _safely(lambda: part.get_payload(decode=True), None)
    return data if isinstance(data, bytes) else b""


def _safely(read: Callable[[], T], default: T) -> T:
    """What ``read`` returns, or ``default`` when the email package raises on a malformed
    header or part (its header parser has raised IndexError, AttributeError and others
    on mail in the wild): one broken header must not cost the customer's mail."""
    try:
        return read()
    except Exception:  # noqa: BLE001 - see the docstring
        return default
