"""Subscriptions: which handler hears which events."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import attrs

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.models.events import MESSAGE_ADDED, Event
from aftersales.notify._notification import Handler, Notification, leased


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

    - ``inline``: True (the default) delivers right after the commit, in the call that
      committed; False writes the row with the change, due at once and leased to nobody,
      and leaves it to :meth:`~aftersales.Desk.dispatch_outbox` (``aftersales worker``),
      so a sender's network round trip never lands inside ``desk.fire``.

    The ``name`` is written into the outbox, so a worker in another process that
    subscribes a handler under the same name can deliver what this one could not.
    """

    name: str
    handler: Handler
    triggers: frozenset[str] | None = attrs.field(default=None, converter=_frozen)
    entered: frozenset[str] | None = attrs.field(default=None, converter=_frozen)
    messages: bool = False
    kinds: frozenset[str] | None = attrs.field(default=None, converter=_frozen)
    inline: bool = True

    def matches(self, event: Event) -> bool:
        """Whether this subscription wants ``event``."""
        return self.wants(event.subject_kind, event.trigger, event.from_state, event.to_state)

    def wants(self, kind: str, trigger: str, from_state: str | None, to_state: str) -> bool:
        """Whether this subscription wants an event of these fields (:meth:`matches`, for a
        caller that read them from the event once for every subscription)."""
        kinds = self.kinds
        if kinds is not None and kind not in kinds:
            return False
        triggers = self.triggers
        if trigger == MESSAGE_ADDED:
            return self.messages or (triggers is not None and MESSAGE_ADDED in triggers)
        if triggers is not None and trigger not in triggers:
            return False
        entered = self.entered
        if entered is not None:
            return to_state in entered and from_state != to_state
        return triggers is not None or not self.messages


RowSource = Callable[[Sequence[Event], Any, datetime, datetime], list[Notification]]
"""What else decides outbox rows for a commit, beside the subscriptions (the automations'
rule sets): called with the unit's events, the subject after the change, the time and the
lease, it answers the rows to add (handlers registered with
:meth:`HookRegistry.add_handler`)."""


_WANTING_KEPT = 4096
"""The most (kind, trigger, from, to) combinations :class:`HookRegistry` remembers the
wanting subscriptions of: a workflow's transitions and messages are far fewer."""


class HookRegistry:
    """The subscriptions of one desk, and the row sources and handlers that capabilities
    (the automations) add."""

    __slots__ = ("_by_name", "_handlers", "_sources", "_wanting")

    def __init__(self) -> None:
        self._by_name: dict[str, Subscription] = {}
        self._handlers: dict[str, Subscription] = {}
        self._sources: list[RowSource] = []
        self._wanting: dict[tuple[str, str, str | None, str], tuple[Subscription, ...]] = {}
        """The subscriptions that want an event of each (kind, trigger, from state, to
        state) seen, in subscription order; emptied whenever one is added or removed."""

    def add(self, subscription: Subscription) -> Subscription:
        self._check_name(subscription)
        self._by_name[subscription.name] = subscription
        self._wanting.clear()
        return subscription

    def add_handler(self, subscription: Subscription) -> Subscription:
        """Deliver the rows named ``subscription.name`` to it, without matching it to
        events (a row source decides its rows)."""
        self._check_name(subscription)
        self._handlers[subscription.name] = subscription
        return subscription

    def add_source(self, source: RowSource) -> None:
        """Ask ``source`` for more rows on every commit (see :data:`RowSource`)."""
        self._sources.append(source)

    def remove_source(self, source: RowSource) -> None:
        """Stop asking ``source``, and forget nothing else."""
        if source in self._sources:
            self._sources.remove(source)

    def _check_name(self, subscription: Subscription) -> None:
        if not subscription.name or len(subscription.name) > 200:
            raise InvalidInput(
                "subscription", [FieldError(("name",), "must be 1 to 200 characters")]
            )
        if subscription.name in self._by_name or subscription.name in self._handlers:
            raise InvalidInput(
                "subscription",
                [FieldError(("name",), f"a handler named {subscription.name!r} is subscribed")],
            )

    def remove(self, name: str) -> None:
        self._by_name.pop(name, None)
        self._handlers.pop(name, None)
        self._wanting.clear()

    def get(self, name: str) -> Subscription | None:
        return self._by_name.get(name) or self._handlers.get(name)

    def __bool__(self) -> bool:
        return bool(self._by_name) or bool(self._sources)

    def notifications_for(
        self,
        events: Sequence[Event],
        now: datetime,
        lease_until: datetime,
        subject: object = None,
    ) -> list[Notification]:
        """One outbox entry per event and subscription that wants it, leased to this desk
        (unleased for a subscription that is not ``inline``), and the rows the sources add
        for the events on ``subject`` (after the change)."""
        entries: list[Notification] = []
        wanting = self._wanting
        for event in events:
            # read from the event's __dict__ once for every subscription: an attribute
            # read on a pydantic model goes through its __getattr__ hook
            values = event.__dict__
            fields = (
                values["subject_kind"],
                values["trigger"],
                values["from_state"],
                values["to_state"],
            )
            wanted = wanting.get(fields)
            if wanted is None:
                if len(wanting) >= _WANTING_KEPT:
                    wanting.clear()  # a guard only: a desk has far fewer
                wanted = wanting[fields] = tuple(
                    s for s in self._by_name.values() if s.wants(*fields)
                )
            if not wanted:
                continue
            prefix = f"{values['subject_id']}:{values['sequence']}:"  # Notification.key_for
            for subscription in wanted:
                name = subscription.name
                # a row for the worker is leased to nobody: any dispatch takes it now
                lease = lease_until if subscription.inline else None
                entries.append(leased(prefix + name, name, event, now, lease))
        for source in self._sources:
            entries.extend(source(events, subject, now, lease_until))
        return entries
