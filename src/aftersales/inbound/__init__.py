"""Inbound email: mail customers send becomes tickets and replies on them.

:func:`ingest_email` takes one RFC 5322 mail (the bytes a Postfix pipe, an IMAP poll or
a provider's webhook hands over) into a desk: it ignores auto-replies, bounces, list mail
and mail loops, finds or creates the sender's customer, threads the mail onto its ticket
(by the desk's own Message-IDs in ``In-Reply-To``/``References``, the customer's earlier
mail, or a ``[#12]`` token of the sender's own ticket) or opens a new one, and keeps its
files as attachments. :func:`parse_email` reads a mail without a desk, for those who
route mail themselves.

>>> from aftersales import Desk
>>> from aftersales.inbound import ingest_email
>>> desk = Desk()
>>> result = ingest_email(
...     desk,
...     b"From: Li Wei <li.wei@example.cn>\\r\\nSubject: Kettle leaks\\r\\n"
...     b"Message-ID: <m1@example.cn>\\r\\n\\r\\nIt leaks at the base.\\r\\n",
... )
>>> result.outcome.value, result.reason, desk.get(result.ticket_id).subject
('opened', 'new', 'Kettle leaks')
>>> away = ingest_email(
...     desk, b"From: li.wei@example.cn\\r\\nAuto-Submitted: auto-replied\\r\\n\\r\\nAway"
... )
>>> away.outcome.value, away.reason, away.customer_id == result.customer_id
('ignored', 'auto_submitted', True)
"""

from aftersales.inbound._ingest import (
    DEFAULT_LOOP_LIMIT,
    DEFAULT_LOOP_WINDOW,
    DEFAULT_MAX_BYTES,
    IngestResult,
    Outcome,
    ingest_email,
)
from aftersales.inbound._loops import AUTOMATIC_REASONS, automatic_reason
from aftersales.inbound._parse import InboundMail, normal_address, parse_email
from aftersales.inbound._text import decode_bytes, html_to_text
from aftersales.inbound._thread import Found, StoredMail, find_thread

__all__ = [
    "AUTOMATIC_REASONS",
    "DEFAULT_LOOP_LIMIT",
    "DEFAULT_LOOP_WINDOW",
    "DEFAULT_MAX_BYTES",
    "Found",
    "InboundMail",
    "IngestResult",
    "Outcome",
    "StoredMail",
    "automatic_reason",
    "decode_bytes",
    "find_thread",
    "html_to_text",
    "ingest_email",
    "normal_address",
    "parse_email",
]
