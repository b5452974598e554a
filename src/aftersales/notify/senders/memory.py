"""The reference sender: keeps what it sends in memory (httpx's ``MockTransport`` for
channels), for tests and for trying a desk's notifications out."""

from __future__ import annotations

from collections.abc import Callable

from aftersales.notify.senders._handler import OutgoingMessage

__all__ = ["MemorySender"]


class MemorySender:
    """Records every message in :attr:`sent`.

    ``respond``, when given, is called with each message first, as httpx's
    ``MockTransport`` calls its handler: raise from it to make the send fail (the
    message then goes to :attr:`failed` and the outbox retries it).

    >>> sender = MemorySender(respond=lambda message: None)
    >>> sender.sent, sender.failed
    ([], [])
    """

    __slots__ = ("failed", "respond", "sent")

    def __init__(self, respond: Callable[[OutgoingMessage], object] | None = None) -> None:
        self.respond = respond
        self.sent: list[OutgoingMessage] = []
        """The messages sent, in order."""
        self.failed: list[OutgoingMessage] = []
        """The messages whose send raised, in order (one entry per attempt)."""

    def send(self, message: OutgoingMessage) -> None:
        if self.respond is not None:
            try:
                self.respond(message)
            except BaseException:
                self.failed.append(message)
                raise
        self.sent.append(message)
