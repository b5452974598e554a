"""Signed links and form tokens for the customer pages: HMAC-SHA256 with keys derived
from the shop's secret, one key per purpose, so a form token never passes for a link."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from typing import ClassVar

from aftersales.exceptions import FieldError, InvalidInput

__all__ = [
    "MIN_SECRET_BYTES",
    "LinkRefused",
    "check_form_token",
    "form_token",
    "form_token_nonce",
    "page_keys",
    "read_ticket_token",
    "ticket_token",
]

MIN_SECRET_BYTES = 16
"""The shortest secret the pages accept: anything shorter is guessable offline."""

_MAX_TOKEN = 400
_NONCE_BYTES = 12


class LinkRefused(InvalidInput):
    """A ticket link the pages refuse; nothing was shown or stored.

    ``reason`` says why, for the page the customer sees: ``"invalid"`` (malformed, or
    not signed with the shop's secret) or ``"expired"``.
    """

    code: ClassVar[str] = "link_refused"

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__("ticket link", [FieldError(("token",), message, reason)])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def page_keys(secret: str | bytes) -> tuple[bytes, bytes]:
    """The (ticket link, form) keys derived from ``secret``; InvalidInput when the secret
    is shorter than :data:`MIN_SECRET_BYTES` or not text or bytes."""
    raw = secret.encode() if isinstance(secret, str) else secret
    if not isinstance(raw, bytes) or len(raw) < MIN_SECRET_BYTES:
        raise InvalidInput(
            "customer pages",
            [FieldError(("secret",), f"must be a str or bytes of {MIN_SECRET_BYTES}+ bytes")],
        )
    links = hmac.new(raw, b"aftersales customer pages: ticket links v1", hashlib.sha256)
    forms = hmac.new(raw, b"aftersales customer pages: forms v1", hashlib.sha256)
    return links.digest(), forms.digest()


def _expiry(expires_at: datetime) -> int:
    if not isinstance(expires_at, datetime) or expires_at.tzinfo is None:
        raise InvalidInput(
            "ticket link", [FieldError(("expires_at",), "must be a timezone-aware datetime")]
        )
    return int(expires_at.timestamp())


def _ticket_signature(key: bytes, ticket_id: str, expires: int) -> str:
    return _b64(hmac.new(key, f"ticket\n{ticket_id}\n{expires}".encode(), hashlib.sha256).digest())


def ticket_token(ticket_id: str, *, secret: str | bytes, expires_at: datetime) -> str:
    """The URL-safe token of a link to ticket ``ticket_id`` for its customer, valid until
    ``expires_at``: ``<ticket id, base64>.<expiry, unix seconds>.<HMAC-SHA256>``.

    >>> from datetime import datetime, timezone
    >>> until = datetime(2030, 1, 1, tzinfo=timezone.utc)
    >>> token = ticket_token("t-1", secret="a long random secret", expires_at=until)
    >>> token.split(".")[:2]
    ['dC0x', '1893456000']
    >>> read_ticket_token(token, secret="a long random secret", now=until.replace(year=2029))
    't-1'
    """
    if not isinstance(ticket_id, str) or not ticket_id:
        raise InvalidInput("ticket link", [FieldError(("ticket_id",), "must be a ticket id")])
    links, _ = page_keys(secret)
    expires = _expiry(expires_at)
    signature = _ticket_signature(links, ticket_id, expires)
    return f"{_b64(ticket_id.encode())}.{expires}.{signature}"


def read_ticket_token(token: object, *, secret: str | bytes, now: datetime) -> str:
    """The ticket id a link's token names; :class:`LinkRefused` (``"invalid"``) for a
    token malformed or not signed with ``secret``, (``"expired"``) for one past its
    expiry at ``now``. The signature is checked before the expiry: an expired forgery
    is ``"invalid"``."""
    links, _ = page_keys(secret)
    invalid = LinkRefused("invalid", "this link is not valid")
    if not isinstance(token, str) or len(token) > _MAX_TOKEN or not token.isascii():
        raise invalid
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 12:
        raise invalid
    encoded, expires, signature = parts
    try:
        ticket_id = _unb64(encoded).decode()
    except (ValueError, UnicodeDecodeError):
        raise invalid from None
    expected = _ticket_signature(links, ticket_id, int(expires))
    if not ticket_id or not hmac.compare_digest(expected, signature):
        raise invalid
    if now.timestamp() >= int(expires):
        raise LinkRefused("expired", "this link has expired")
    return ticket_id


def _form_signature(key: bytes, purpose: str, expires: str, nonce: str) -> str:
    message = f"form\n{purpose}\n{expires}\n{nonce}".encode()
    return _b64(hmac.new(key, message, hashlib.sha256).digest())


def form_token(key: bytes, purpose: str, now: datetime, valid_seconds: int) -> str:
    """A token for one rendered form: ``<expiry>.<nonce>.<HMAC-SHA256 of the purpose,
    expiry and nonce>``. ``purpose`` binds it to the page's link and form
    (``"reply\\n<link token>"``); the random nonce names this one rendering, so a page
    can take what it sends once (:func:`form_token_nonce`)."""
    expires = str(int(now.timestamp()) + valid_seconds)
    nonce = _b64(secrets.token_bytes(_NONCE_BYTES))
    return f"{expires}.{nonce}.{_form_signature(key, purpose, expires, nonce)}"


def form_token_nonce(key: bytes, purpose: str, token: str, now: datetime) -> str | None:
    """The nonce of ``token`` when :func:`form_token` made it for ``purpose`` and it is
    not past its expiry at ``now``; None otherwise."""
    parts = token.split(".") if isinstance(token, str) and len(token) <= _MAX_TOKEN else []
    if len(parts) != 3 or not all(part.isascii() for part in parts):
        return None
    expires, nonce, signature = parts
    if not expires.isdigit() or len(expires) > 12 or not nonce:
        return None
    expected = _form_signature(key, purpose, expires, nonce)
    if not hmac.compare_digest(expected, signature) or now.timestamp() >= int(expires):
        return None
    return nonce


def check_form_token(key: bytes, purpose: str, token: str, now: datetime) -> bool:
    """Whether ``token`` was made by :func:`form_token` for ``purpose`` and is not past
    its expiry at ``now``."""
    return form_token_nonce(key, purpose, token, now) is not None
