"""Text messages through a provider: SMS, and any channel that carries a short text to an
address (WeChat, Weibo, WhatsApp...) through the same interface.

An :class:`SmsProvider` is one method, ``send_sms(to, text, *, idempotency_key)``, that
raises :class:`~aftersales.DeliveryFailed` when the provider did not take the message
(``permanent=True`` when it never will, ``retry_after`` when it said when to come back).
:class:`SmsSender` makes a provider a :class:`~aftersales.notify.senders.Sender`; the
outbox retries, backs off and dead-letters as for any sender. :class:`HttpSmsProvider`
is the reference provider: JSON over HTTP, answered as a webhook is (needs the
``webhooks`` extra, httpx).

>>> from aftersales.notify.senders.sms import SmsSender
>>> class Phone:
...     def __init__(self):
...         self.texts = []
...     def send_sms(self, to, text, *, idempotency_key):
...         self.texts.append((to, text))
>>> phone = Phone()
>>> sender = SmsSender(phone, max_length=10)
>>> sender.text_for("Your kettle is on its way")
'Your kett…'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from aftersales.clock import Clock
from aftersales.exceptions import DeliveryFailed, FieldError, InvalidInput
from aftersales.models import Channel
from aftersales.notify.senders._handler import OutgoingMessage
from aftersales.notify.senders.webhook import (
    IDEMPOTENCY_HEADER,
    _checked_secret,
    _Closing,
    _Endpoint,
    _shown_url,
    idempotency_header,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_MAX_LENGTH", "HttpSmsProvider", "SmsProvider", "SmsSender"]

DEFAULT_MAX_LENGTH = 335
"""Characters (code points) of text sent at most; longer text is cut with an ellipsis.
335 fill five concatenated SMS parts of Chinese or other UCS-2 text (67 each). The cap
counts code points, not what the network counts: a character outside the Basic
Multilingual Plane (most emoji) takes two UCS-2 units, so such text can need a sixth
part; text of GSM-7 characters alone takes three parts for 335 characters (153 each,
765 in five; the few extension characters such as ``€`` count twice)."""


@runtime_checkable
class SmsProvider(Protocol):
    """Sends one text to one address, or raises :class:`~aftersales.DeliveryFailed`.

    ``idempotency_key`` is the same on every retry of one notification: pass it to a
    provider that deduplicates (most take a client reference or an idempotency key)."""

    def send_sms(self, to: str, text: str, *, idempotency_key: str) -> None: ...


class SmsSender:
    """A :class:`~aftersales.notify.senders.Sender` that texts each message's body
    through ``provider``.

    ``channel`` is the recipients' channel (``"sms"``; ``"wechat"``, ``"weibo"``... for
    a provider of that platform, with ``customer_recipients(desk, "wechat")`` finding
    the customer's address on it); a message for another channel is dead-lettered.
    ``max_length`` caps the text (see :data:`DEFAULT_MAX_LENGTH`)."""

    __slots__ = ("channel", "max_length", "provider")

    def __init__(
        self,
        provider: SmsProvider,
        *,
        channel: Channel | str = Channel.SMS,
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        if not callable(getattr(provider, "send_sms", None)):
            raise InvalidInput(
                "sms",
                [
                    FieldError(
                        ("provider",), "must have a send_sms(to, text, *, idempotency_key) method"
                    )
                ],
            )
        try:
            self.channel = Channel(channel)
        except ValueError:
            raise InvalidInput(
                "sms", [FieldError(("channel",), f"unknown channel {channel!r}")]
            ) from None
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise InvalidInput("sms", [FieldError(("max_length",), "must be at least 1")])
        self.provider = provider
        self.max_length = max_length

    def text_for(self, body: str) -> str:
        """The text sent for ``body``: stripped, and cut with ``…`` at ``max_length``."""
        text = body.strip()
        if len(text) > self.max_length:
            text = text[: self.max_length - 1] + "…"
        return text

    def send(self, message: OutgoingMessage) -> None:
        """Text ``message``: its body, or its subject when the body is blank; a message
        with neither is dead-lettered (:class:`~aftersales.DeliveryFailed` with
        ``permanent=True``: an empty text tells nobody anything, and a render gives the
        same blank text on every retry)."""
        recipient = message.recipient
        if recipient.channel is not self.channel:
            raise DeliveryFailed(
                f"this sender texts on {self.channel.value}; the recipient is on "
                f"{recipient.channel.value}",
                permanent=True,
            )
        text = self.text_for(message.body) or self.text_for(message.subject)
        if not text:
            raise DeliveryFailed(
                "the rendered message is blank (no body, no subject): nothing to text",
                permanent=True,
            )
        self.provider.send_sms(recipient.address, text, idempotency_key=message.key)


class HttpSmsProvider(_Closing):
    """The reference :class:`SmsProvider`: POSTs ``{"to", "text", "idempotency_key"}``
    (and ``"from": sender_id`` when given) as JSON to ``url``, with ``Authorization:
    Bearer <token>`` and the ``Idempotency-Key`` header (percent-encoded when the key
    is not printable ASCII, see
    :func:`~aftersales.notify.senders.webhook.idempotency_header`; the body's
    ``idempotency_key`` is the key as it is). Answers mean what they mean to a
    webhook (:func:`~aftersales.notify.senders.webhook.delivery_failure`): 2xx sent;
    408, 425, 429 and 5xx retried, after ``Retry-After``; any other status
    dead-letters. Most SMS gateways (or a small adapter in front of one) take this
    shape; for one that does not, write a provider of its own (see the senders how-to).

    ``timeout``, ``headers``, ``client`` and ``clock`` are as for
    :class:`~aftersales.notify.senders.webhook.WebhookSender`; :meth:`close` closes
    the client it made.
    """

    __slots__ = ("_token", "sender_id")

    def __init__(
        self,
        url: str,
        *,
        token: str,
        sender_id: str | None = None,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._token = _checked_secret("token", token).decode()
        self.sender_id = sender_id
        self._endpoint = _Endpoint(
            url, what="SMS provider", timeout=timeout, headers=headers, client=client, clock=clock
        )

    def __repr__(self) -> str:
        return f"HttpSmsProvider({_shown_url(self._endpoint.url)!r}, token=...)"

    def send_sms(self, to: str, text: str, *, idempotency_key: str) -> None:
        """POST the text; raises :class:`~aftersales.DeliveryFailed` when the provider
        did not take it."""
        document = {"to": to, "text": text, "idempotency_key": idempotency_key}
        if self.sender_id is not None:
            document["from"] = self.sender_id
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        self._endpoint.post(
            body,
            {
                IDEMPOTENCY_HEADER: idempotency_header(idempotency_key),
                "Authorization": f"Bearer {self._token}",
            },
        )
