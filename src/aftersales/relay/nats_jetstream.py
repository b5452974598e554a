"""NATS JetStream: each notification a message on the subject of its subject kind, stored
by a stream, with the JetStream header ``Nats-Msg-Id`` = its idempotency key.

JetStream remembers the ids of the messages a stream stored for its duplicate window
(``duplicate_window``): a copy published again after a crash (at-least-once delivery)
within it is acknowledged as a duplicate and not stored twice. A message counts as
delivered only once JetStream acknowledged it (the publish ack names the stream and its
sequence). A batch goes out in waves like RabbitMQ's (see
:meth:`NatsJetStreamPublisher.publish`), so a refused message never has a later one of
its subject stored before it.

The relay is synchronous and nats-py is an asyncio client: the publisher runs the client
on an event loop of its own, in a daemon thread of its own, started at the first publish.
A thread (rather than running the loop only during each publish) keeps the client's
reader and its answers to the server's pings alive between batches, so a quiet relay's
connection is not dropped by the server, and works when the caller is itself inside a
running event loop (where ``run_until_complete`` is refused).

Needs the ``relay`` extra (``nats-py``), imported when the publisher connects.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import re
import threading
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from aftersales.exceptions import DeliveryFailed, FieldError, InvalidInput
from aftersales.notify import Notification
from aftersales.relay._message import (
    KIND,
    BrokerMessage,
    HeldBack,
    PublishResult,
    Route,
    waves_by_subject,
)

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext

__all__ = ["NatsJetStreamPublisher"]

logger = logging.getLogger("aftersales.relay")

DEFAULT_DUPLICATE_WINDOW = 3_600.0
"""Seconds a created stream remembers a message id: longer than the relay's
``delivery_lease_seconds`` (a copy comes back once a crashed relay's lease has run out)
and than the longest retry window (a publish whose ack was lost is retried after the
desk's backoff), as for Redis' ``dedupe_seconds``."""
NATS_SCHEMES = ("nats", "tls", "ws", "wss")
"""The URL schemes nats-py connects with."""

_TOKEN = re.compile(r"[^\s.*>]+")
"""One token of a subject to publish to: no whitespace, dot or wildcard."""
_STREAM_NAME = re.compile(r"[^\s.*>/\\]{1,255}")
"""A JetStream stream name: no whitespace, dot, wildcard or path separator."""

_T = TypeVar("_T")


class NatsJetStreamPublisher:
    """Publishes to NATS JetStream at ``url`` (``nats://host:port``, also ``tls://``,
    ``ws://``, ``wss://``; user and password in it as ``nats://user:password@host``), or
    through ``client`` (a connected ``nats.aio.client.Client``) together with ``loop``,
    the event loop it runs on, running in another thread: then :meth:`close` leaves the
    client open.

    - ``subject``: the NATS subject per subject kind (see :class:`~aftersales.relay.Route`),
      ``"aftersales.{kind}"`` by default.
    - ``stream``: the JetStream stream that must store every message (sent as the
      expected stream, so a message another stream captures is refused, not stored
      where its duplicate window may differ), ``"AFTERSALES"`` by default.
    - ``subjects``: the subjects of the stream when the publisher creates it
      (``("aftersales.>",)`` by default); must cover every subject of ``subject``.
    - ``duplicate_window``: seconds the created stream remembers a message id (see
      :data:`DEFAULT_DUPLICATE_WINDOW`). An existing stream is used as it is: its own
      duplicate window applies.
    - ``create_stream``: create the stream when it is missing (at the first publish);
      False publishes to a stream made by its operator, and every message fails (and
      is retried) until it exists.
    - ``timeout``: seconds to connect and to wait for a publish ack.
    """

    def __init__(
        self,
        url: str | None = "nats://127.0.0.1:4222",
        *,
        client: Client | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        subject: str | Mapping[str, str] = "aftersales.{kind}",
        stream: str = "AFTERSALES",
        subjects: Sequence[str] = ("aftersales.>",),
        duplicate_window: float = DEFAULT_DUPLICATE_WINDOW,
        create_stream: bool = True,
        timeout: float = 10.0,
    ) -> None:
        if client is not None:
            url = None
            if not isinstance(loop, asyncio.AbstractEventLoop) or not loop.is_running():
                raise InvalidInput(
                    "relay",
                    [FieldError(("loop",), "give the running event loop the client is on")],
                )
        elif loop is not None:
            raise InvalidInput("relay", [FieldError(("loop",), "only with client")])
        elif url is None:
            raise InvalidInput("relay", [FieldError(("url",), "give either url or client")])
        else:
            _check_url(url)
        if not isinstance(stream, str) or not _STREAM_NAME.fullmatch(stream):
            raise InvalidInput(
                "relay",
                [
                    FieldError(
                        ("stream",),
                        "must be 1 to 255 characters, no whitespace, '.', '*', '>', '/' or '\\'",
                    )
                ],
            )
        if isinstance(subjects, str) or not subjects:
            raise InvalidInput(
                "relay", [FieldError(("subjects",), "must be a non-empty list of subjects")]
            )
        for index, pattern in enumerate(subjects):
            if not isinstance(pattern, str) or not _is_subject(pattern, wildcards=True):
                raise InvalidInput(
                    "relay",
                    [FieldError(("subjects", str(index)), f"{pattern!r} is not a NATS subject")],
                )
        for name, value in (("duplicate_window", duplicate_window), ("timeout", timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InvalidInput("relay", [FieldError((name,), "must be seconds above 0")])
        if duplicate_window > 30 * 86_400:
            raise InvalidInput(
                "relay", [FieldError(("duplicate_window",), "must be at most 2,592,000 seconds")]
            )
        self._subject = Route("subject", subject)
        _check_subject_route(subject)
        self.url = url
        self.stream = stream
        self.subjects = tuple(subjects)
        self.duplicate_window = float(duplicate_window)
        self.create_stream = create_stream
        self.timeout = float(timeout)
        self.duplicates = 0
        """Copies JetStream acknowledged as duplicates (their id within the duplicate
        window) and did not store again: the redeliveries the key absorbed."""
        self._owns_client = client is None
        self._client: Any = client
        self._js: JetStreamContext | None = None
        self._loop = loop
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ routing

    def route(self, notification: Notification) -> tuple[str, str]:
        """The subject of ``notification`` (no exchange)."""
        return self.route_for_kind(notification.event.subject_kind)

    def route_for_kind(self, kind: str) -> tuple[str, str]:
        """The subject of subject kind ``kind`` (no exchange); DeliveryFailed (permanent)
        when ``subject`` has none for it, or the kind makes it no valid subject."""
        name = self._subject.for_kind(kind)
        if not _is_subject(name, wildcards=False):
            raise DeliveryFailed(
                f"subject kind {kind!r} makes {name!r}, not a NATS subject", permanent=True
            )
        return "", name

    # ------------------------------------------------------------------ the loop

    def _run(self, coroutine: Coroutine[Any, Any, _T], limit: float) -> _T:
        """Run ``coroutine`` on the publisher's loop and wait for it (at most ``limit``
        seconds: the coroutine's own timeouts come first)."""
        loop = self._loop
        if self._owns_client and (loop is None or not loop.is_running()):
            loop = self._start_loop()
        assert loop is not None
        if not loop.is_running():
            coroutine.close()
            raise RuntimeError("the client's event loop is not running")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coroutine.close()
            raise RuntimeError("publish called on the client's own event loop: it would block it")
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result(timeout=limit)
        except concurrent.futures.TimeoutError:  # not the builtin TimeoutError on 3.10
            future.cancel()
            raise

    def _start_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(started.set)
            loop.run_forever()

        thread = threading.Thread(target=serve, name="aftersales-nats", daemon=True)
        thread.start()
        started.wait()
        self._loop, self._thread = loop, thread
        return loop

    async def _jetstream(self) -> JetStreamContext:
        """The JetStream context, connecting (own client) and making sure of the stream
        first when there is none yet."""
        if self._js is not None and self._client is not None and not self._client.is_closed:
            return self._js
        if self._owns_client:
            import nats

            assert self.url is not None

            async def quiet(error: Exception) -> None:
                logger.debug("NATS: %s: %s", type(error).__name__, error)

            # no reconnecting inside the client: a broken connection fails its batch at
            # once (retried by the relay), and the next publish connects again. The first
            # connect tries twice, without a pause (nats-py's defaults try 60 times, 2 s
            # apart, and 0 attempts means forever)
            self._client = await nats.connect(
                self.url,
                connect_timeout=max(1, round(self.timeout)),
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0,
                error_cb=quiet,
            )
        js: JetStreamContext = self._client.jetstream(timeout=self.timeout)
        await self._ensure_stream(js)
        self._js = js
        return js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        from nats.js.errors import NotFoundError

        try:
            info = await js.stream_info(self.stream)
        except NotFoundError:
            if not self.create_stream:
                raise
            await js.add_stream(
                name=self.stream,
                subjects=list(self.subjects),
                duplicate_window=self.duplicate_window,
            )
            logger.info("created JetStream stream %r for %s", self.stream, list(self.subjects))
        else:
            window = info.config.duplicate_window or 0
            if window < self.duplicate_window:
                logger.warning(
                    "JetStream stream %r drops copies for %gs only (duplicate_window %gs)",
                    self.stream,
                    window,
                    self.duplicate_window,
                )

    # ------------------------------------------------------------------ publishing

    def publish(self, messages: Sequence[BrokerMessage]) -> list[PublishResult]:
        """Publish ``messages`` in waves: the first message of each subject, all of them
        acknowledged by JetStream, then the second of each subject whose first went
        through, and so on. A subject never has two messages in flight, so a refused one
        has no later one of its subject stored behind it; one round trip serves a whole
        wave. After a connection failure the rest is held back."""
        if not messages:
            return []
        with self._lock:  # one batch at a time: the waves keep each subject's order
            waves = waves_by_subject(messages)
            try:
                return self._run(self._publish(messages, waves), self.timeout * (len(waves) + 2))
            except Exception as error:  # noqa: BLE001 - the loop gave no answer: state unknown
                self._drop_client()
                return [DeliveryFailed(f"NATS: {type(error).__name__}: {error}")] * len(messages)

    async def _publish(
        self, messages: Sequence[BrokerMessage], waves: list[list[int]]
    ) -> list[PublishResult]:
        results: list[PublishResult] = [None] * len(messages)
        try:
            js = await self._jetstream()
        except Exception as error:  # noqa: BLE001 - no connection or no stream: retried
            await self._close_own()
            failure = DeliveryFailed(f"NATS: {_describe(error)}")
            return [failure] * len(messages)
        failed: set[str] = set()
        for number, wave in enumerate(waves):
            sending = [i for i in wave if messages[i].subject not in failed]
            for i in wave:
                if messages[i].subject in failed:
                    results[i] = HeldBack("an earlier message of its subject failed")
            answers = await self._send_wave(js, [messages[i] for i in sending])
            broken = False
            for i, answer in zip(sending, answers, strict=True):
                results[i] = answer if isinstance(answer, Exception) else None
                if isinstance(answer, BaseException):
                    failed.add(messages[i].subject)
                    if not isinstance(answer, DeliveryFailed):
                        results[i] = DeliveryFailed(f"NATS: {_describe(answer)}")
                        broken = True
            if broken or self._client is None or not self._client.is_connected:
                # the connection's state is unknown: the rest waits for the next publish
                await self._close_own()
                for later in waves[number + 1 :]:
                    for i in later:
                        results[i] = HeldBack("the connection to NATS broke")
                break
        return results

    async def _send_wave(
        self, js: JetStreamContext, wave: Sequence[BrokerMessage]
    ) -> list[BaseException | None]:
        """Publish ``wave`` (one message per subject) all at once and wait for every ack:
        None per message stored (or recognised as a copy), DeliveryFailed per refusal,
        the connection's own error otherwise."""
        from nats.errors import TimeoutError as NatsTimeout

        sent: list[asyncio.Future[Any] | BaseException] = []
        for message in wave:
            try:
                sent.append(
                    await js.publish_async(
                        message.destination,
                        message.body,
                        stream=self.stream,
                        headers={"Nats-Msg-Id": message.key, "Content-Type": "application/json"},
                    )
                )
            except Exception as error:  # noqa: BLE001 - one answer per message
                sent.append(error)
        futures = [item for item in sent if isinstance(item, asyncio.Future)]
        if futures:
            await asyncio.wait(futures, timeout=self.timeout)
        answers: list[BaseException | None] = []
        for message, item in zip(wave, sent, strict=True):
            if isinstance(item, BaseException):
                answers.append(self._failure(message, item))
            elif not item.done() or item.cancelled():
                item.cancel()
                answers.append(self._failure(message, NatsTimeout()))
            elif item.exception() is not None:
                answers.append(self._failure(message, item.exception()))
            else:
                if item.result().duplicate:
                    self.duplicates += 1
                answers.append(None)
        return answers

    def _failure(self, message: BrokerMessage, error: BaseException | None) -> BaseException:
        """``error`` of publishing ``message`` as DeliveryFailed when JetStream refused the
        message (the connection's own errors are given back as they are)."""
        from nats.errors import MaxPayloadError
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.errors import APIError, NoStreamResponseError

        assert error is not None
        if isinstance(error, NoStreamResponseError):
            return DeliveryFailed(
                f"NATS: no JetStream stream stores subject {message.destination!r}"
            )
        if isinstance(error, APIError):
            return DeliveryFailed(f"NATS: JetStream refused it: {_describe(error)}")
        if isinstance(error, MaxPayloadError):
            return DeliveryFailed(
                "NATS: the message is larger than the server's max_payload", permanent=True
            )
        if isinstance(error, NatsTimeout):
            # stored or not, unknown: published again, the copy is dropped by its id
            return DeliveryFailed(f"NATS: no JetStream ack within {self.timeout:g}s")
        return error

    # ------------------------------------------------------------------ closing

    async def _close_own(self) -> None:
        client, self._js = self._client, None
        if self._owns_client and client is not None:
            self._client = None
            with contextlib.suppress(Exception):  # a broken connection is dropped anyway
                await client.close()

    async def _shut_down(self) -> None:
        """Close the own client and end the loop's other tasks (a publish given up on)."""
        await self._close_own()
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _drop_client(self) -> None:
        """Forget the connection after the loop gave no answer (it is closed with the
        loop, or by its owner)."""
        self._js = None
        if self._owns_client:
            self._client = None

    def close(self) -> None:
        """Close the connection made from ``url`` and stop the publisher's thread (the
        next publish connects again); a ``client`` given is left open (its owner closes
        it)."""
        with self._lock:
            self._js = None
            if not self._owns_client:
                return
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            if loop is None or thread is None:
                return
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._shut_down(), loop).result(
                    timeout=self.timeout
                )
            self._client = None
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=self.timeout)
            if not thread.is_alive():
                loop.close()


def _describe(error: BaseException) -> str:
    text = str(error) or getattr(error, "description", "") or ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _is_subject(name: str, *, wildcards: bool) -> bool:
    """Whether ``name`` is a NATS subject (with ``wildcards``, a stream's subject filter:
    ``*`` for a token, ``>`` for the last ones)."""
    if not name or len(name) > 255:
        return False
    tokens = name.split(".")
    for position, token in enumerate(tokens):
        if wildcards and (token == "*" or (token == ">" and position == len(tokens) - 1)):
            continue
        if not _TOKEN.fullmatch(token):
            return False
    return True


def _check_subject_route(subject: str | Mapping[str, str]) -> None:
    """Refuse a ``subject`` that no kind can make valid (a wildcard, a space, an empty
    token), naming the field; the kind put in its place is checked at each routing."""
    pairs: list[tuple[tuple[str, ...], str]] = (
        [(("subject",), subject)]
        if isinstance(subject, str)
        else [(("subject", kind), name) for kind, name in subject.items()]
    )
    for location, name in pairs:
        if not _is_subject(name.replace(KIND, "kind"), wildcards=False):
            raise InvalidInput(
                "relay",
                [FieldError(location, f"{name!r} is not a NATS subject (no wildcards, spaces)")],
            )


def _check_url(url: object) -> None:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in NATS_SCHEMES or not parts.hostname:
        raise InvalidInput(
            "relay",
            [FieldError(("url",), "must be nats://user:password@host:port (or tls, ws, wss)")],
        )
    try:
        parts.port  # noqa: B018 - reading it checks it
    except ValueError:  # not a number, or out of range
        raise InvalidInput(
            "relay", [FieldError(("url",), "its port must be a number from 1 to 65535")]
        ) from None
