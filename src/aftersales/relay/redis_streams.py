"""Redis Streams: each notification an entry (``XADD``) of the stream of its subject kind,
its idempotency key both a field and, for ``dedupe_seconds``, a marker that drops a
second copy.

A batch is one server-side script call: the script adds the entries in order, sets the
marker ``<dedupe_prefix><key>`` (``SET NX EX``) in the same atomic step as each entry, so
a copy published again after a crash (at-least-once delivery) is dropped while its
marker lives, and skips the later entries of a subject once one of its entries failed.

Each entry has the fields ``key`` (the message id), ``subject`` (``<kind>:<id>``) and
``body`` (the event as JSON, see :func:`aftersales.relay.message_body`). Needs the
``relay`` extra (``redis``), imported when the publisher is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from aftersales.exceptions import DeliveryFailed, FieldError, InvalidInput
from aftersales.notify import Notification
from aftersales.relay._message import BrokerMessage, HeldBack, PublishResult, Route

if TYPE_CHECKING:
    import redis

__all__ = ["RedisStreamsPublisher"]

DEFAULT_DEDUPE_SECONDS = 3_600
"""How long a published key drops a second copy: longer than the relay's
``delivery_lease_seconds`` (a copy comes back once a crashed relay's lease has run out)
and than the longest retry window (a publish whose answer was lost is retried after the
desk's backoff)."""

# KEYS: stream and marker per message; ARGV: ttl, maxlen, then subject, key, body per message
_SCRIPT = """
local ttl = tonumber(ARGV[1])
local maxlen = tonumber(ARGV[2])
local failed = {}
local answers = {}
for i = 1, (#ARGV - 2) / 3 do
  local subject, key, body = ARGV[3 * i], ARGV[3 * i + 1], ARGV[3 * i + 2]
  local stream, marker = KEYS[2 * i - 1], KEYS[2 * i]
  if failed[subject] then
    answers[i] = 'held'
  else
    local fresh = true
    if ttl > 0 then
      fresh = redis.call('SET', marker, '1', 'NX', 'EX', ttl)
    end
    if not fresh then
      answers[i] = 'duplicate'
    else
      local added
      if maxlen > 0 then
        added = redis.pcall('XADD', stream, 'MAXLEN', '~', maxlen, '*',
                            'key', key, 'subject', subject, 'body', body)
      else
        added = redis.pcall('XADD', stream, '*', 'key', key, 'subject', subject, 'body', body)
      end
      if type(added) == 'table' and added.err then
        if ttl > 0 then redis.call('DEL', marker) end
        failed[subject] = true
        answers[i] = 'error: ' .. added.err
      else
        answers[i] = 'ok'
      end
    end
  end
end
return answers
"""


class RedisStreamsPublisher:
    """Publishes to Redis Streams at ``url`` (``redis://host:port/db``) or through
    ``client`` (a ``redis.Redis``; then ``url`` is not given, and :meth:`close` leaves
    the client open).

    - ``stream``: the stream per subject kind (see :class:`~aftersales.relay.Route`):
      ``"aftersales:{kind}"`` by default.
    - ``dedupe_seconds``: how long a key's marker drops a second copy (0: keep every
      copy; consumers then drop them by ``key``). Each marker costs Redis about 100
      bytes for that long.
    - ``dedupe_prefix``: the markers' key prefix.
    - ``maxlen``: trim each stream to about this many entries (``MAXLEN ~``); None keeps
      every entry. Trimming drops the oldest entries whether a consumer group has read
      them or not: a consumer that falls that far behind loses messages.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        stream: str | Mapping[str, str] = "aftersales:{kind}",
        dedupe_seconds: int = DEFAULT_DEDUPE_SECONDS,
        dedupe_prefix: str = "aftersales:relayed:",
        maxlen: int | None = None,
    ) -> None:
        if (url is None) == (client is None):
            raise InvalidInput("relay", [FieldError(("url",), "give either url or client")])
        if isinstance(dedupe_seconds, bool) or not isinstance(dedupe_seconds, int):
            raise InvalidInput("relay", [FieldError(("dedupe_seconds",), "must be an int")])
        if not 0 <= dedupe_seconds <= 30 * 86_400:
            raise InvalidInput(
                "relay", [FieldError(("dedupe_seconds",), "must be 0 to 2,592,000 seconds")]
            )
        if maxlen is not None and (
            isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1
        ):
            raise InvalidInput("relay", [FieldError(("maxlen",), "must be an int above 0")])
        self._stream = Route("stream", stream)
        Route("dedupe_prefix", dedupe_prefix)  # checks it
        self.dedupe_seconds = dedupe_seconds
        self.dedupe_prefix = dedupe_prefix
        self.maxlen = maxlen
        self._owns_client = client is None
        if client is None:
            import redis as redis_module

            assert url is not None
            _check_database(url)
            try:
                client = redis_module.Redis.from_url(url)
            except ValueError as error:
                raise InvalidInput("relay", [FieldError(("url",), str(error))]) from None
        self.client: Any = client
        self.duplicates = 0
        """Copies this publisher found already published (their marker alive) and
        dropped: the redeliveries the key absorbed."""
        self._script = self.client.register_script(_SCRIPT)

    def route(self, notification: Notification) -> tuple[str, str]:
        """The stream of ``notification`` (no exchange)."""
        return self.route_for_kind(notification.event.subject_kind)

    def route_for_kind(self, kind: str) -> tuple[str, str]:
        """The stream of subject kind ``kind`` (no exchange); DeliveryFailed (permanent)
        when ``stream`` has none for it."""
        return "", self._stream.for_kind(kind)

    def publish(self, messages: Sequence[BrokerMessage]) -> list[PublishResult]:
        """Add ``messages`` to their streams in one script call (see the module)."""
        if not messages:
            return []
        import redis as redis_module

        keys: list[str] = []
        args: list[bytes | str | int] = [self.dedupe_seconds, self.maxlen or 0]
        for message in messages:
            keys += (message.destination, self.dedupe_prefix + message.key)
            args += (message.subject, message.key, message.body)
        try:
            answers = self._script(keys=keys, args=args)
        except redis_module.RedisError as error:
            # whether the script ran is unknown: every entry is tried again (a copy that
            # did get through is dropped by its marker)
            failure = DeliveryFailed(f"Redis: {type(error).__name__}: {error}")
            return [failure] * len(messages)
        results: list[PublishResult] = []
        for answer in answers:
            text = answer.decode() if isinstance(answer, bytes) else str(answer)
            if text == "ok":
                results.append(None)
            elif text == "duplicate":
                self.duplicates += 1
                results.append(None)
            elif text == "held":
                results.append(HeldBack("an earlier entry of its subject failed"))
            else:
                results.append(DeliveryFailed(f"Redis: {text}"))
        return results

    def close(self) -> None:
        """Close the connections of the client made from ``url``; a ``client`` given is
        left open (its owner closes it)."""
        if self._owns_client:
            self.client.close()


def _check_database(url: str) -> None:
    """Refuse a URL whose path is not a database number: redis-py ignores such a path
    and connects to database 0, so the relay would publish where nobody reads."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return  # unix://: the path is the socket's; redis-py checks the scheme
    path = unquote(parts.path).strip("/")
    if path and not (path.isascii() and path.isdigit()):
        raise InvalidInput(
            "relay",
            [FieldError(("url",), f"{path!r} is not a database number (redis://host:port/db)")],
        )
