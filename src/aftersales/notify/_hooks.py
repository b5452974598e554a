"""Subscriptions: which handler hears which events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models.events import MESSAGE_ADDED, Event
from aftersales.notify._notification import Handler, Notification


def _frozen(values: Iterable[str] | None) -> frozenset[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        return frozenset((values,))
    return frozenset(values)


@attrs.frozen
class Subscription:
    """A named handler and the events it wants.

    - ``triggers``: only events of these triggers (``"created"`` is a ticket's creation,
      ``"add_message"`` a message); None means every transition and creation.
    - ``entered``: only events that enter one of these states from another.
    - ``messages``: also (or, with ``triggers`` empty, only) messages added.
    - ``kinds``: only events of subjects of these kinds (``Event.subject_kind``:
      ``"ticket"``, ``"return"``, ``"refund"``...); None means every kind.
      :meth:`~aftersales.Desk.subscribe` checks the names against the kinds' workflows.

    The ``name`` is written into the outbox, so a worker in another process that
    subscribes a handler under the same name can deliver what this one could not.
    """

    name: str
    handler: Handler
    triggers: frozenset[str] | None = attrs.field(default=None, converter=_frozen)
    entered: frozenset[str] | None = attrs.field(default=None, converter=_frozen)
    messages: bool = False
    kinds: frozenset[str] | None = attrs.field(default=None, converter=_frozen)

    def matches(self, event: Event) -> bool:
        """Whether this subscription wants ``event``."""
        if self.kinds is not None and event.subject_kind not in self.kinds:
            return False
        if event.trigger == MESSAGE_ADDED:
            return self.messages or (self.triggers is not None and MESSAGE_ADDED in self.triggers)
        if self.triggers is not None and event.trigger not in self.triggers:
            return False
        if self.entered is not None:
            return event.to_state in self.entered and event.from_state != event.to_state
        return self.triggers is not None or not self.messages


class HookRegistry:
    """The subscriptions of one desk."""

    __slots__ = ("_by_name",)

    def __init__(self) -> None:
        self._by_name: dict[str, Subscription] = {}

    def add(self, subscription: Subscription) -> Subscription:
        if not subscription.name or len(subscription.name) > 200:
            raise InvalidInput(
                "subscription", [FieldError(("name",), "must be 1 to 200 characters")]
            )
        if subscription.name in self._by_name:
            raise InvalidInput(
                "subscription",
                [FieldError(("name",), f"a handler named {subscription.name!r} is subscribed")],
            )
        self._by_name[subscription.name] = subscription
        return subscription

    def remove(self, name: str) -> None:
        self._by_name.pop(name, None)

    def get(self, name: str) -> Subscription | None:
        return self._by_name.get(name)

    def __bool__(self) -> bool:
        return bool(self._by_name)

    def notifications_for(
        self, events: Sequence[Event], now: datetime, lease_until: datetime
    ) -> list[Notification]:
        """One outbox entry per event and subscription that wants it, leased to this desk."""
        entries: list[Notification] = []
        subscriptions = self._by_name.values()
        for event in events:
            prefix = f"{event.subject_id}:{event.sequence}:"  # Notification.key_for, inlined
            for subscription in subscriptions:
                if subscription.matches(event):
                    name = subscription.name
                    entries.append(Notification(prefix + name, name, event, now, now, lease_until))
        return entries
