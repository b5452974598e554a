"""Webhooks: each notification POSTed as signed JSON to a URL (needs the ``webhooks``
extra, httpx: ``pip install "aftersales[webhooks]"``).

:class:`WebhookSender` is a :class:`~aftersales.notify.senders.Sender` (a customer's
rendered message, through a :class:`~aftersales.notify.senders.SenderHandler`);
:class:`Webhook` is a hook of its own that posts the event itself ("call this URL when a
ticket is escalated"). Both sign what they send the same way, Stripe-like::

    X-Aftersales-Timestamp: 1772442000
    X-Aftersales-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
    Idempotency-Key: <the notification's key, the same on every retry>

and a receiver checks them with :func:`verify_signature`. A key of anything but
printable ASCII travels percent-encoded in the header (:func:`idempotency_header`;
``urllib.parse.unquote`` gives it back), while the JSON body carries it as it is. The
answer steers the outbox: a 2xx delivers; 408, 425, 429 and 5xx are retried (after
``Retry-After`` when the receiver sends one, in seconds or as an HTTP date, and it
lies in the future); any other status dead-letters the notification at once
(:class:`~aftersales.DeliveryFailed` with ``permanent=True``: a message the receiver
refuses will not be accepted by retrying it); a timeout or a connection that fails is
retried. The timeout bounds the whole answer too: a receiver still answering after
``timeout`` seconds in all is given up (and retried later).

>>> from datetime import datetime, timezone
>>> from aftersales.notify.senders.webhook import retry_after_seconds
>>> now = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
>>> retry_after_seconds("120", now), retry_after_seconds("Mon, 02 Mar 2026 09:05:00 GMT", now)
(120.0, 300.0)
>>> retry_after_seconds("soon", now), retry_after_seconds("Sun, 01 Mar 2026 09:00:00 GMT", now)
(None, 0.0)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
import urllib.parse
from collections.abc import Mapping
from datetime import datetime, timezone
from email.message import Message
from email.utils import parsedate_to_datetime
from importlib import metadata
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from aftersales.clock import Clock, SystemClock
from aftersales.exceptions import DeliveryFailed, FieldError, InvalidInput
from aftersales.models import Event
from aftersales.notify._notification import Notification
from aftersales.notify._outbox import MAX_BACKOFF_SECONDS
from aftersales.notify.senders._handler import OutgoingMessage

if TYPE_CHECKING:
    import httpx

__all__ = [
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Webhook",
    "WebhookSender",
    "delivery_failure",
    "event_json",
    "idempotency_header",
    "retry_after_seconds",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Aftersales-Signature"
"""``sha256=`` and the hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under the secret."""
TIMESTAMP_HEADER = "X-Aftersales-Timestamp"
"""When the request was signed, in Unix seconds: a receiver refuses old ones (replays)."""
IDEMPOTENCY_HEADER = "Idempotency-Key"
"""The notification's key, the same on every retry: a receiver that keeps the keys it
has processed handles a message delivered twice (after a crash) once. Its value is
:func:`idempotency_header` of the key."""

RETRYABLE_STATUSES = frozenset({408, 425, 429})
"""Statuses below 500 that say "later" rather than "never"."""
_DETAIL = 200
"""Characters of a refusing receiver's answer kept in the error (why it refused)."""
_ANSWER_READ = 65_536
"""Bytes of an answer read at most: the status says what happened, the start of the
text says why; the rest is not waited for."""
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%") + " "
"""Characters an idempotency key keeps in a header: printable ASCII except ``%`` (which
encodes itself, so that no two keys share a header value)."""

try:
    _VERSION = metadata.version("aftersales")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    _VERSION = "0"
USER_AGENT = f"aftersales/{_VERSION}"


def _httpx() -> ModuleType:
    try:
        import httpx
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            'HTTP senders need the webhooks extra: pip install "aftersales[webhooks]"'
        ) from error
    return httpx


def idempotency_header(key: str) -> str:
    """The ``Idempotency-Key`` header's value for a notification's ``key``: the key
    itself when it is printable ASCII without ``%``, else the key percent-encoded as
    UTF-8 (RFC 3986); ``urllib.parse.unquote`` turns either back into the key. A header
    carries no other characters (a subscription named in Chinese would make every
    request fail); the JSON body keeps the key as it is.

    >>> idempotency_header("t1:3:crm"), idempotency_header("t1:3:工单")
    ('t1:3:crm', 't1:3:%E5%B7%A5%E5%8D%95')
    """
    return urllib.parse.quote(key, safe=_HEADER_SAFE)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds to wait that an HTTP ``Retry-After`` header asks for, either as seconds
    or as an HTTP date (counted from ``now``); between 0 and a day; None when absent or
    unreadable. A date in the past gives 0, which :func:`delivery_failure` treats as no
    ``Retry-After`` at all."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        seconds = float(text) if len(text) <= 12 else MAX_BACKOFF_SECONDS
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # "-0000": an HTTP date is in GMT
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_BACKOFF_SECONDS)


def delivery_failure(
    response: httpx.Response, *, now: datetime, what: str = "receiver"
) -> DeliveryFailed | None:
    """What an HTTP answer means for a delivery: None for a 2xx; a retryable
    :class:`~aftersales.DeliveryFailed` for 408, 425, 429 and 5xx (with the
    ``Retry-After`` it asked for, counted from ``now``, when that is later than now: a
    date in the past, from a receiver whose clock is behind, or ``0`` leaves the usual
    backoff, so that a failing receiver is not retried at once until dead-lettered); a
    permanent one for any other status. The error names the status and the start of
    the answer, never the request."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    reason = f"{what} answered {status} {response.reason_phrase}".rstrip()
    detail = " ".join(response.text.split())[:_DETAIL]
    if detail:
        reason = f"{reason}: {detail}"
    if status in RETRYABLE_STATUSES or status >= 500:
        asked = retry_after_seconds(response.headers.get("Retry-After"), now)
        return DeliveryFailed(reason, retry_after=asked if asked else None)
    if 300 <= status < 400:
        reason += " (redirects are not followed: give the final URL)"
    return DeliveryFailed(reason, permanent=True)


def event_json(event: Event) -> dict[str, Any]:
    """The event as a webhook sends it: ``id`` (``"<subject_id>:<sequence>"``, unique per
    event), ``subject_id``, ``subject_kind``, ``sequence``, ``trigger``, ``from``, ``to``,
    ``actor``, ``at`` (ISO 8601) and ``payload`` (the input the trigger was given)."""
    return {
        "id": f"{event.subject_id}:{event.sequence}",
        "subject_id": event.subject_id,
        "subject_kind": event.subject_kind,
        "sequence": event.sequence,
        "trigger": event.trigger,
        "from": event.from_state,
        "to": event.to_state,
        "actor": event.actor,
        "at": event.at.isoformat(),
        "payload": event.payload,
    }


def _signature(secret: bytes, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def _header(headers: Mapping[str, str] | Message, wanted: str) -> str | None:
    wanted = wanted.lower()
    for name, value in headers.items():
        if name.lower() == wanted:
            return str(value)
    return None


_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def verify_signature(
    secret: str | bytes,
    body: bytes,
    headers: Mapping[str, str] | Message,
    *,
    tolerance: float = 300,
    now: datetime | None = None,
) -> bool:
    """True when ``body`` with these request ``headers`` was signed with ``secret`` no
    more than ``tolerance`` seconds from ``now`` (the current time by default): for a
    receiver, before it trusts a webhook. ``headers`` is any mapping or
    :class:`email.message.Message` (``http.server``'s), read case-insensitively; the
    signature header may list several ``sha256=`` values (e.g. during a secret's
    rotation), any one of which may match. The comparison takes constant time.

    Raises :class:`~aftersales.InvalidInput` for an empty ``secret`` (an unset setting
    would trust anyone who signs with the empty key) and for a ``tolerance`` that is not
    a finite number of seconds, 0 or more.

    >>> from aftersales.notify.senders.webhook import _signature
    >>> signed = {"X-Aftersales-Timestamp": "1700000000",
    ...           "X-Aftersales-Signature": _signature(b"s3cret", "1700000000", b"{}")}
    >>> at = datetime.fromtimestamp(1700000060, timezone.utc)
    >>> verify_signature("s3cret", b"{}", signed, now=at)
    True
    >>> verify_signature("other", b"{}", signed, now=at), verify_signature(
    ...     "s3cret", b"{}", signed, now=at, tolerance=30)
    (False, False)
    """
    key = _checked_secret("secret", secret)
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, (int, float))
        or not math.isfinite(tolerance)
        or tolerance < 0
    ):
        raise InvalidInput(
            "tolerance", [FieldError(("tolerance",), "must be a finite number of seconds, >= 0")]
        )
    stamp = _header(headers, TIMESTAMP_HEADER)
    signatures = _header(headers, SIGNATURE_HEADER)
    if stamp is None or signatures is None or not _TIMESTAMP.fullmatch(stamp.strip()):
        return False
    stamp = stamp.strip()
    current = time.time() if now is None else now.timestamp()
    if not abs(current - int(stamp)) <= tolerance:  # written so that no NaN passes
        return False
    expected = _signature(key, stamp, body).encode()
    matched = False
    for candidate in signatures.split(","):
        # every candidate is compared, so the time taken does not say which one matched
        matched |= hmac.compare_digest(expected, candidate.strip().encode())
    return matched


def _checked_url(url: str) -> str:
    httpx = _httpx()
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInput("url", [FieldError(("url",), "must be an http:// or https:// URL")])
    return url


def _shown_url(url: str) -> str:
    """``url`` as reprs and logs show it: a user name, password and query values,
    where credentials often travel, are masked.

    >>> _shown_url("https://bot:s3cret@erp.example/hooks?token=abc&v=2")
    'https://***@erp.example/hooks?token=***&v=***'
    """
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "&".join(
        f"{field.partition('=')[0]}=***" if "=" in field else "***"
        for field in parts.query.split("&")
        if field
    )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _checked_timeout(timeout: float) -> float:
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise InvalidInput("timeout", [FieldError(("timeout",), "must be a positive number")])
    return float(timeout)


def _checked_secret(name: str, secret: str | bytes) -> bytes:
    if isinstance(secret, str):
        secret = secret.encode()
    if not isinstance(secret, bytes) or not secret:
        raise InvalidInput(name, [FieldError((name,), "must be a non-empty string")])
    return secret


class _Endpoint:
    """One URL posted to: the HTTP client, the timeout, and what an answer means."""

    __slots__ = ("_client", "_owned", "clock", "headers", "timeout", "url", "what")

    def __init__(
        self,
        url: str,
        *,
        what: str,
        timeout: float,
        headers: Mapping[str, str] | None,
        client: httpx.Client | None,
        clock: Clock | None,
    ) -> None:
        self.url = _checked_url(url)
        self.what = what
        self.timeout = _checked_timeout(timeout)
        self.headers = dict(headers or {})
        self.clock: Clock = SystemClock() if clock is None else clock
        self._owned = client is None
        self._client = client

    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = _httpx().Client(follow_redirects=False)
        return self._client

    def post(self, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """POST ``body``; the response (its first :data:`_ANSWER_READ` bytes read) when
        it is a 2xx, else DeliveryFailed. ``timeout`` bounds each network step (httpx's
        timeouts) and the answer in all: a receiver that answers a byte at a time is
        given up once ``timeout`` seconds have passed since the request began (checked
        as each piece of the body arrives; the status line and headers, which httpx
        reads whole, are bounded per read only)."""
        httpx = _httpx()
        sent = {
            **self.headers,
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            **headers,
        }
        late = f"{self.what} did not answer within {self.timeout:g} s"
        deadline = time.monotonic() + self.timeout
        try:
            with self.client().stream(
                "POST", self.url, content=body, headers=sent, timeout=self.timeout
            ) as streamed:
                answer = _read_answer(streamed, deadline)
        except httpx.TimeoutException as error:
            raise DeliveryFailed(f"{late} ({type(error).__name__})") from error
        except httpx.TransportError as error:
            raise DeliveryFailed(
                f"{self.what} unreachable: {type(error).__name__}: {error}"
            ) from error
        except httpx.DecodingError as error:
            raise DeliveryFailed(
                f"{self.what} sent an answer that cannot be decoded: {error}"
            ) from error
        if answer is None:
            raise DeliveryFailed(f"{late} (the answer was still arriving)")
        response = _answered(streamed, answer)
        failure = delivery_failure(response, now=self.clock.now(), what=self.what)
        if failure is not None:
            raise failure
        return response

    def close(self) -> None:
        if self._owned and self._client is not None:
            self._client.close()
            self._client = None


_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
"""Headers about the answer's body as it travelled, not as :func:`_read_answer` read it."""


def _read_answer(response: httpx.Response, deadline: float) -> bytes | None:
    """The start of ``response``'s body (decoded, at most :data:`_ANSWER_READ` bytes),
    or None when ``deadline`` (a :func:`time.monotonic` instant) passed first."""
    read: list[bytes] = []
    size = 0
    if time.monotonic() > deadline:
        return None
    # each chunk is checked as it arrives: httpx bounds each read, not the whole answer
    for chunk in response.iter_bytes():
        if time.monotonic() > deadline:
            return None
        read.append(chunk)
        size += len(chunk)
        if size >= _ANSWER_READ:
            break
    return b"".join(read)


def _answered(streamed: httpx.Response, answer: bytes) -> httpx.Response:
    """``streamed`` with the part of its body that was read, as a plain response."""
    response: httpx.Response = _httpx().Response(
        streamed.status_code,
        headers=[
            (name, value)
            for name, value in streamed.headers.multi_items()
            if name.lower() not in _BODY_HEADERS
        ],
        content=answer,
        request=streamed.request,
        extensions={"reason_phrase": streamed.reason_phrase.encode("ascii", "replace")},
    )
    return response


_C = TypeVar("_C", bound="_Closing")


class _Closing:
    """Closes the HTTP client it made (not one it was given) on :meth:`close` or at the
    end of a ``with`` block."""

    __slots__ = ("_endpoint",)

    _endpoint: _Endpoint

    def close(self) -> None:
        """Close the connections this object opened (it opens new ones if used again)."""
        self._endpoint.close()

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class _Signed(_Closing):
    __slots__ = ("_secret",)

    def __init__(
        self,
        url: str,
        *,
        secret: str | bytes,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._secret = _checked_secret("secret", secret)
        self._endpoint = _Endpoint(
            url, what="webhook", timeout=timeout, headers=headers, client=client, clock=clock
        )

    @property
    def url(self) -> str:
        """Where the requests go."""
        return self._endpoint.url

    def _post(self, key: str, document: Mapping[str, Any]) -> None:
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str)
        data = body.encode()
        stamp = str(int(self._endpoint.clock.now().timestamp()))
        self._endpoint.post(
            data,
            {
                IDEMPOTENCY_HEADER: idempotency_header(key),
                TIMESTAMP_HEADER: stamp,
                SIGNATURE_HEADER: _signature(self._secret, stamp, data),
            },
        )

    def __repr__(self) -> str:
        # the secret stays out of reprs, logs and tracebacks
        return f"{type(self).__name__}({_shown_url(self.url)!r}, secret=...)"


class WebhookSender(_Signed):
    """A :class:`~aftersales.notify.senders.Sender` that POSTs each message as signed
    JSON to ``url``: ``{"key", "subject", "body", "html", "language", "recipient":
    {"channel", "address", "customer_id", "language", "about", "ticket_number"},
    "event": {...}}`` (the event as :func:`event_json` writes it).

    ``secret`` signs every request (see the module's documentation); ``timeout`` bounds
    each request in seconds (each network step, and the answer in all); ``headers`` are
    sent too (ours win on a clash). ``client`` is an ``httpx.Client`` of yours (proxies,
    TLS settings, a ``MockTransport``), which you close; otherwise the sender makes one
    and :meth:`close` closes it. ``clock`` stamps the requests and reads ``Retry-After``
    dates (the system clock by default; give the desk's, so a retry lands when the
    receiver asked).
    """

    __slots__ = ()

    def send(self, message: OutgoingMessage) -> None:
        """POST ``message``; raises :class:`~aftersales.DeliveryFailed` when it did not
        arrive."""
        recipient = message.recipient
        self._post(
            message.key,
            {
                "key": message.key,
                "subject": message.subject,
                "body": message.body,
                "html": message.html,
                "language": message.language,
                "recipient": {
                    "channel": recipient.channel.value,
                    "address": recipient.address,
                    "customer_id": recipient.customer_id,
                    "language": recipient.language,
                    "about": recipient.about,
                    "ticket_number": recipient.ticket_number,
                },
                "event": event_json(message.event),
            },
        )


class Webhook(_Signed):
    """A hook that POSTs each notification's event, signed, to ``url``:
    ``{"key": <the notification's key>, "event": {...}}`` (see :func:`event_json`).
    Subscribe it like any handler, e.g. ``desk.subscribe(Webhook(url, secret=...),
    triggers="escalate", name="erp")``; its arguments are :class:`WebhookSender`'s."""

    __slots__ = ()

    def __call__(self, notification: Notification) -> None:
        """POST the notification; raises :class:`~aftersales.DeliveryFailed` when it did
        not arrive (the outbox retries it)."""
        self._post(
            notification.key, {"key": notification.key, "event": event_json(notification.event)}
        )
