"""Mail the desk must not answer: auto-replies, bounces, list mail (by their headers) and
senders writing faster than a person does (a loop between two auto-responders)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from aftersales.storage import Store

AUTOMATIC_REASONS = ("bounce", "auto_submitted", "auto_reply", "precedence", "mailing_list")
"""Why :func:`automatic_reason` calls a mail machine-sent, in the order it checks."""

_BULK = frozenset({"bulk", "junk", "list", "auto_reply", "auto-reply"})
_SUPPRESS = frozenset({"all", "autoreply"})
_DAEMONS = frozenset({"mailer-daemon", "postmaster"})
_NO = frozenset({"", "no", "false", "0"})
_STATE_PREFIX = "inbound:sender:"


def automatic_reason(
    headers: Sequence[tuple[str, str]], address: str | None, content_type: str
) -> str | None:
    """Why a mail with these (lower-case name, value) ``headers`` is machine-sent, or None.

    - ``bounce``: a delivery report (``multipart/report``), an empty ``Return-Path: <>``,
      or mail from ``MAILER-DAEMON`` or ``postmaster``;
    - ``auto_submitted``: ``Auto-Submitted`` other than ``no`` (RFC 3834);
    - ``auto_reply``: ``X-Autoreply``, ``X-Autorespond``, or
      ``X-Auto-Response-Suppress`` of ``All`` or ``AutoReply`` (Exchange);
    - ``precedence``: ``Precedence`` of ``bulk``, ``junk``, ``list`` or ``auto_reply``;
    - ``mailing_list``: ``List-Id`` or ``List-Unsubscribe``.

    >>> automatic_reason([("auto-submitted", "auto-replied")], "li@x.cn", "text/plain")
    'auto_submitted'
    >>> automatic_reason([("auto-submitted", "no")], "li@x.cn", "text/plain") is None
    True
    """
    first: dict[str, str] = {}
    for name, value in headers:
        first.setdefault(name, value.strip())
    local = (address or "").rpartition("@")[0].lower()
    if (
        content_type == "multipart/report"
        or first.get("return-path", "").replace(" ", "") == "<>"
        or local in _DAEMONS
    ):
        return "bounce"
    if _token(first.get("auto-submitted", "no")) != "no":
        return "auto_submitted"
    suppress = {
        part.strip().lower() for part in first.get("x-auto-response-suppress", "").split(",")
    }
    if (
        any(_token(first.get(name, "no")) not in _NO for name in ("x-autoreply", "x-autorespond"))
        or suppress & _SUPPRESS
    ):
        return "auto_reply"
    if _token(first.get("precedence", "")) in _BULK:
        return "precedence"
    if "list-id" in first or "list-unsubscribe" in first:
        return "mailing_list"
    return None


def _token(value: str) -> str:
    return value.split(";")[0].strip().lower()


def sender_key(address: str) -> str:
    """The state key counting mail from ``address``: a digest, so the state table holds
    no address that erasing the customer would have to find."""
    return _STATE_PREFIX + hashlib.sha256(address.lower().encode()).hexdigest()[:32]


def count_arrival(store: Store, address: str, now: datetime, window: timedelta, limit: int) -> int:
    """Record a mail from ``address`` at ``now`` and return how many arrived within
    ``window`` up to now, this one included.

    The times live in the store's state (``get_state``/``set_state``), so every process
    on one database counts the same sender together; at most ``limit + 1`` are kept. Two
    processes recording the same sender at the same instant may each miss the other's
    mail: the count is a loop breaker, not an exact tally.
    """
    key = sender_key(address)
    since = now - window
    try:
        kept = [datetime.fromisoformat(at) for at in json.loads(store.get_state(key) or "[]")]
    except (TypeError, ValueError):
        kept = []  # state written by something else: start counting again
    recent = sorted(at for at in kept if at.tzinfo is not None and since < at <= now)
    recent.append(now)
    recent = recent[-(limit + 1) :]
    store.set_state(key, json.dumps([at.isoformat() for at in recent]))
    return len(recent)
