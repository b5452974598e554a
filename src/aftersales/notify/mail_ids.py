"""How mail the desk sends names its ticket, so that replies find their way back.

The SMTP sender gives each message a ``Message-ID`` that carries the subject's id, and a
subject line that carries the ticket's token (``[#12]``); inbound mail
(:func:`aftersales.inbound.ingest_email`) reads them back from ``In-Reply-To``,
``References`` and the subject. Both sides use these functions, so the format lives in one
place.

Anyone can write a Message-ID of this shape naming any ticket id. Given a ``secret``
(the same on the sending and the receiving side), an id also carries a code only the
holder of the secret can make (HMAC-SHA256 of the subject id and the mail's digest), and
:func:`subject_id_from_message_id` with that secret names the subject only when the
code is right. Without a secret, the id names a subject it merely claims.

>>> mid = message_id_for("t-7f3a", "t-7f3a:4:email", "desk.example.com")
>>> mid
'<aftersales.t-7f3a.260aed28549f42b1@desk.example.com>'
>>> subject_id_from_message_id(mid)
't-7f3a'
>>> signed = message_id_for("t-7f3a", "t-7f3a:4:email", "desk.example.com", secret="s3cret")
>>> signed
'<aftersales.t-7f3a.260aed28549f42b1.1d1dbd9b893be5c4@desk.example.com>'
>>> subject_id_from_message_id(signed, secret="s3cret")
't-7f3a'
>>> subject_id_from_message_id(signed, secret="another") is None
True
>>> subject_id_from_message_id(mid, secret="s3cret") is None  # claimed, not proven
True
>>> subject_id_from_message_id("<CAF=abc@mail.gmail.com>") is None
True
>>> subject_id_from_message_id("<aftersales-x.ff.0123456789abcdef@d.example>") is None
True
>>> subject_id_from_message_id(message_id_for("工单 1.2", "k", "d.example"))
'工单 1.2'
>>> ticket_token(12), ticket_number_in("Re: [#12] Kettle leaks")
('[#12]', 12)
"""

from __future__ import annotations

import hashlib
import hmac
import re

from aftersales.exceptions import FieldError, InvalidInput

__all__ = [
    "message_id_for",
    "subject_id_from_message_id",
    "thread_key",
    "ticket_number_in",
    "ticket_token",
]

_SAFE = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_ID = re.compile(
    r"<aftersales(-x)?\.([A-Za-z0-9_\-]{1,512})\.([0-9a-f]{16})(?:\.([0-9a-f]{16}))?@[^<>\s@]+>"
)
_TOKEN = re.compile(r"\[#(\d{1,18})\]")
_MAC_CONTEXT = b"aftersales message-id v1\x00"


def thread_key(secret: object, field: str = "secret") -> bytes | None:
    """``secret`` (text or bytes) as the key that signs and checks Message-IDs, or None
    for None; an empty or non-text secret raises :class:`~aftersales.InvalidInput`
    (an empty key would make every code guessable).

    >>> thread_key("s3cret"), thread_key(None)
    (b's3cret', None)
    """
    if secret is None:
        return None
    if isinstance(secret, str):
        secret = secret.encode("utf-8", "surrogatepass")
    if not isinstance(secret, (bytes, bytearray)) or not secret:
        raise InvalidInput("mail_ids", [FieldError((field,), "must be non-empty text or bytes")])
    return bytes(secret)


def _code(key: bytes, id_part: str, digest: str) -> str:
    message = _MAC_CONTEXT + f"{id_part}.{digest}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:16]


def message_id_for(
    subject_id: str, key: str, domain: str, *, secret: bytes | str | None = None
) -> str:
    """The ``Message-ID`` of the mail sent for the notification ``key`` about
    ``subject_id``: the same on every retry, so a receiver that keeps Message-IDs drops a
    copy sent twice after a crash. With ``secret`` it ends in a code that proves the desk
    made it (see :func:`subject_id_from_message_id`)."""
    signing = thread_key(secret)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    if _SAFE.fullmatch(subject_id):
        prefix, id_part = "aftersales", subject_id
    else:
        # an id with characters a Message-ID cannot carry (spaces, dots, non-ASCII) goes as hex
        prefix, id_part = "aftersales-x", subject_id.encode().hex()
    code = "" if signing is None else "." + _code(signing, id_part, digest)
    return f"<{prefix}.{id_part}.{digest}{code}@{domain}>"


def subject_id_from_message_id(message_id: str, *, secret: bytes | str | None = None) -> str | None:
    """The subject id in a ``Message-ID`` of the desk's shape, or None for anyone else's.

    With ``secret``, None too for an id whose code is missing or wrong: only an id made
    by :func:`message_id_for` under that secret names its subject. Without one, any id
    of the desk's shape names the subject it claims."""
    checking = thread_key(secret)
    match = _ID.fullmatch(message_id.strip())
    if match is None:
        return None
    encoded, id_part, digest, code = match.groups()
    if checking is not None and (
        code is None or not hmac.compare_digest(code, _code(checking, id_part, digest))
    ):
        return None
    if encoded is None:
        return str(id_part)
    try:
        return bytes.fromhex(id_part).decode()
    except ValueError:
        return None


def ticket_token(number: int) -> str:
    """The token that names ticket ``number`` in a mail subject: ``[#12]``."""
    return f"[#{number}]"


def ticket_number_in(subject: str) -> int | None:
    """The ticket number of the first token in ``subject``, or None."""
    match = _TOKEN.search(subject)
    return None if match is None else int(match.group(1))
