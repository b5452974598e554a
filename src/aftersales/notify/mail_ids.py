"""How mail the desk sends names its ticket, so that replies find their way back.

The SMTP sender gives each message a ``Message-ID`` that carries the subject's id, and a
subject line that carries the ticket's token (``[#12]``); inbound mail
(:func:`aftersales.inbound.ingest_email`) reads them back from ``In-Reply-To``,
``References`` and the subject. Both sides use these functions, so the format lives in one
place.

>>> mid = message_id_for("t-7f3a", "t-7f3a:4:email", "desk.example.com")
>>> mid
'<aftersales.t-7f3a.260aed28549f42b1@desk.example.com>'
>>> subject_id_from_message_id(mid)
't-7f3a'
>>> subject_id_from_message_id("<CAF=abc@mail.gmail.com>") is None
True
>>> subject_id_from_message_id(message_id_for("工单 1.2", "k", "d.example"))
'工单 1.2'
>>> ticket_token(12), ticket_number_in("Re: [#12] Kettle leaks")
('[#12]', 12)
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "message_id_for",
    "subject_id_from_message_id",
    "ticket_number_in",
    "ticket_token",
]

_SAFE = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_ID = re.compile(r"<aftersales(-x)?\.([A-Za-z0-9_\-]{1,512})\.[0-9a-f]{16}@[^<>\s@]+>")
_TOKEN = re.compile(r"\[#(\d{1,18})\]")


def message_id_for(subject_id: str, key: str, domain: str) -> str:
    """The ``Message-ID`` of the mail sent for the notification ``key`` about
    ``subject_id``: the same on every retry, so a receiver that keeps Message-IDs drops a
    copy sent twice after a crash."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    if _SAFE.fullmatch(subject_id):
        return f"<aftersales.{subject_id}.{digest}@{domain}>"
    # an id with characters a Message-ID cannot carry (spaces, dots, non-ASCII) goes as hex
    return f"<aftersales-x.{subject_id.encode().hex()}.{digest}@{domain}>"


def subject_id_from_message_id(message_id: str) -> str | None:
    """The subject id in a ``Message-ID`` this desk made, or None for anyone else's."""
    match = _ID.fullmatch(message_id.strip())
    if match is None:
        return None
    if match.group(1) is None:
        return match.group(2)
    try:
        return bytes.fromhex(match.group(2)).decode()
    except ValueError:
        return None


def ticket_token(number: int) -> str:
    """The token that names ticket ``number`` in a mail subject: ``[#12]``."""
    return f"[#{number}]"


def ticket_number_in(subject: str) -> int | None:
    """The ticket number of the first token in ``subject``, or None."""
    match = _TOKEN.search(subject)
    return None if match is None else int(match.group(1))
