"""What the relay puts on a broker: one message per notification, its routing per subject
kind, and the publisher interface the brokers implement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, Protocol, runtime_checkable

import attrs
import pydantic_core

from aftersales.exceptions import DeliveryFailed, FieldError, InvalidInput
from aftersales.notify import Notification

KIND = "{kind}"
"""The placeholder a route's name may hold: the subject kind is put in its place."""
ANY_KIND = "*"
"""The key of a route mapping that serves every subject kind it does not name."""


@attrs.frozen
class BrokerMessage:
    """One notification as a broker message: ``key`` (the notification's idempotency
    key) is its message id, ``body`` the event as JSON (see :func:`message_body`)."""

    key: str
    subject: str
    """``<subject_kind>:<subject_id>``: the unit whose messages keep their order."""
    destination: str
    """The stream (Redis) or routing key (RabbitMQ) the message goes to."""
    body: bytes
    exchange: str = ""
    """The exchange (RabbitMQ; unused by Redis)."""


class HeldBack(DeliveryFailed):
    """A publisher's answer for a message it did not send because an earlier message of
    the same subject in the batch failed (or the connection broke before it): the relay
    gives the notification back without counting an attempt."""

    code: ClassVar[str] = "held_back"


PublishResult = Exception | None
"""A publisher's answer for one message: None when the broker has it, :class:`HeldBack`
when it was not sent, another exception when sending it failed (an attempt)."""


@runtime_checkable
class Publisher(Protocol):
    """A broker. :meth:`publish` sends ``messages`` in the order given and answers one
    :data:`PublishResult` per message; after a message of a subject failed, it must not
    send the later messages of that subject (their answer is :class:`HeldBack`), so that
    a subject's messages reach the broker in order."""

    def publish(self, messages: Sequence[BrokerMessage]) -> list[PublishResult]: ...

    def close(self) -> None: ...


def message_body(notification: Notification) -> bytes:
    """The event of ``notification`` as compact JSON: ``key``, ``subject_kind``,
    ``subject_id``, ``sequence``, ``trigger``, ``from_state``, ``to_state``, ``actor``,
    ``payload`` and ``occurred_at`` (ISO 8601 with its offset)."""
    event = notification.event
    return pydantic_core.to_json(
        {
            "key": notification.key,
            "subject_kind": event.subject_kind,
            "subject_id": event.subject_id,
            "sequence": event.sequence,
            "trigger": event.trigger,
            "from_state": event.from_state,
            "to_state": event.to_state,
            "actor": event.actor,
            "payload": event.payload,
            "occurred_at": event.at,
        }
    )


def subject_of(notification: Notification) -> str:
    """The unit of order of ``notification``: its subject's kind and id."""
    event = notification.event
    return f"{event.subject_kind}:{event.subject_id}"


class Route:
    """A name per subject kind: one string for every kind (``{kind}`` in it stands for
    the kind, e.g. ``"aftersales.{kind}"``), or a mapping from kind to name whose
    :data:`ANY_KIND` (``"*"``) entry, if any, serves the other kinds. Anything else
    raises :class:`~aftersales.InvalidInput` naming ``field``."""

    __slots__ = ("_field", "_names", "_template")

    def __init__(self, field: str, value: str | Mapping[str, str], *, empty: bool = False) -> None:
        self._field = field
        self._template: str | None = None
        self._names: dict[str, str] = {}
        if isinstance(value, str):
            self._template = _checked(field, (field,), value, empty)
        elif isinstance(value, Mapping) and value:
            for kind, name in value.items():
                if not isinstance(kind, str) or not kind:
                    raise InvalidInput(
                        "relay", [FieldError((field,), f"{kind!r} is not a subject kind")]
                    )
                self._names[kind] = _checked(field, (field, kind), name, empty)
        else:
            raise InvalidInput(
                "relay",
                [FieldError((field,), "must be a name, or a non-empty mapping of kind to name")],
            )

    def for_kind(self, kind: str) -> str:
        """The name for subject kind ``kind``; DeliveryFailed (permanent: retrying
        cannot help) when the mapping names neither the kind nor ``"*"``."""
        template = self._template
        if template is None:
            template = self._names.get(kind, self._names.get(ANY_KIND))
            if template is None:
                known = ", ".join(sorted(self._names))
                raise DeliveryFailed(
                    f"no {self._field} for subject kind {kind!r} (routes: {known})",
                    permanent=True,
                )
        return template.replace(KIND, kind)


def _checked(field: str, location: tuple[str, ...], value: object, empty: bool) -> str:
    if not isinstance(value, str) or (not value and not empty) or len(value) > 255:
        raise InvalidInput(
            "relay", [FieldError(location, "must be a string of 1 to 255 characters")]
        )
    # only the literal "{kind}" is filled in (str.replace): any other brace would be
    # read one way by str.format and another by the fill, so it is refused
    if "{" in value.replace(KIND, "") or "}" in value.replace(KIND, ""):
        raise InvalidInput(
            "relay",
            [FieldError(location, f"{value!r}: no braces but the placeholder {KIND}")],
        )
    return value


def waves_by_subject(messages: Sequence[BrokerMessage]) -> list[list[int]]:
    """The indexes of ``messages`` by depth in their subject: the first of each subject,
    then the second, and so on. A publisher sends a wave, and the next only for the
    subjects whose message went through, so a subject never has two in flight."""
    waves: list[list[int]] = []
    depth: dict[str, int] = {}
    for index, message in enumerate(messages):
        level = depth.get(message.subject, 0)
        depth[message.subject] = level + 1
        if level == len(waves):
            waves.append([])
        waves[level].append(index)
    return waves
