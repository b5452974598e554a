"""The hook side of :class:`aftersales.Desk`: subscriptions and the outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from aftersales._validation import check_count, check_text
from aftersales.exceptions import FieldError, InvalidInput, StorageError
from aftersales.models.events import TICKET_KIND
from aftersales.notify._hooks import HookRegistry, Subscription
from aftersales.notify._notification import DeliveryStatus, Handler, Notification
from aftersales.notify._outbox import Deliver, DispatchReport, Outbox
from aftersales.notify._subscriptions import ALL_KINDS, checked_subscription

if TYPE_CHECKING:
    from aftersales.storage import Store
    from aftersales.workflows import Workflow


class DeskHooks:
    """Subscribing handlers to a desk's events, and its outbox (a base of the desk)."""

    store: Store
    _hooks: HookRegistry
    _outbox: Outbox
    _checked_now: Callable[[datetime | None], datetime]

    def _subject_workflows(self) -> dict[str, Workflow]:
        raise NotImplementedError  # pragma: no cover - Desk's

    def subscribe(
        self,
        handler: Handler,
        *,
        triggers: Iterable[str] | str | None = None,
        entered: Iterable[str] | str | None = None,
        messages: bool = False,
        kinds: Iterable[str] | str = ALL_KINDS,
        name: str | None = None,
        inline: bool = True,
    ) -> Subscription:
        """Call ``handler`` after each committed event it matches (see :class:`Subscription`).

        ``kinds`` says whose events: ``"ticket"``, a case kind the desk registers
        (``"return"``, ``"exchange"``, ``"refund"``, ``"repair"``, ``"complaint"``,
        ``"visit"``...), several of them, or ``"all"`` (the default here;
        :meth:`on_transition`, :meth:`on_enter` and :meth:`on_message` default to
        ``"ticket"``). ``triggers`` and ``entered`` must name triggers and states of those
        kinds' workflows (the ticket's is the desk's own); an unknown name raises
        :class:`~aftersales.InvalidInput` naming the known ones, rather than a
        subscription that never fires.

        ``name`` defaults to the handler's module and qualified name; it must be unique
        per desk and stable across restarts, because the outbox refers to it.

        ``inline=False`` leaves the delivery to :meth:`dispatch_outbox` (a worker,
        ``aftersales worker``) instead of the call that committed: subscribe network
        senders so in a web process, and the same handler the same way in the worker.
        """
        subscription = checked_subscription(
            handler,
            workflows=self._subject_workflows(),
            triggers=triggers,
            entered=entered,
            messages=messages,
            kinds=kinds,
            name=name,
            inline=inline,
        )
        return self._hooks.add(subscription)

    def on_transition(
        self,
        handler: Handler,
        *triggers: str,
        kinds: Iterable[str] | str = TICKET_KIND,
        name: str | None = None,
        inline: bool = True,
    ) -> Subscription:
        """Subscribe to every transition and creation of tickets, or only to ``triggers``
        (``kinds``: whose events; ``inline``: see :meth:`subscribe`)."""
        return self.subscribe(
            handler, triggers=triggers or None, kinds=kinds, name=name, inline=inline
        )

    def on_enter(
        self,
        state: str,
        handler: Handler,
        *,
        kinds: Iterable[str] | str = TICKET_KIND,
        name: str | None = None,
        inline: bool = True,
    ) -> Subscription:
        """Subscribe to a ticket entering ``state`` (or a case, with ``kinds``: e.g.
        ``desk.on_enter("refunded", send_sms, kinds="return")``; ``inline``: see
        :meth:`subscribe`)."""
        return self.subscribe(handler, entered=state, kinds=kinds, name=name, inline=inline)

    def on_message(
        self, handler: Handler, *, name: str | None = None, inline: bool = True
    ) -> Subscription:
        """Subscribe to messages added to tickets (``inline``: see :meth:`subscribe`)."""
        return self.subscribe(handler, messages=True, kinds=TICKET_KIND, name=name, inline=inline)

    def unsubscribe(self, name: str) -> None:
        """Stop calling the handler subscribed under ``name``."""
        self._hooks.remove(check_text("name", name, 200))

    def flush(self) -> None:
        """Record deliveries not yet acknowledged in the store.

        Deliveries are acknowledged in the next commit to save a write each; ``flush``
        (also called by :meth:`close`, :meth:`run_due` and :meth:`dispatch_outbox`)
        acknowledges them now.
        """
        self._outbox.flush()

    def dispatch_outbox(
        self,
        now: datetime | None = None,
        *,
        limit: int = 100,
        should_stop: Callable[[], bool] | None = None,
    ) -> DispatchReport:
        """Deliver pending notifications that are due, e.g. retries after failures, and
        those a process that crashed wrote but could not deliver (after their short
        ``inline_lease_seconds``).

        Safe to run from several workers at once: each claims its rows with a lease of
        ``delivery_lease_seconds``. ``limit`` (1 to 1,000,000) caps the rows claimed.

        ``should_stop`` is asked before each delivery (never during one): when it says
        True, the claimed rows not delivered yet are released for any worker to claim at
        once (counted in ``released``) and the deliveries made are acknowledged. A pass
        also starts no delivery once half the lease has gone by, and releases the rest.
        :class:`aftersales.worker.Worker` runs this in a loop.
        """
        limit = check_count("limit", limit)
        if should_stop is not None and not callable(should_stop):
            raise InvalidInput(
                "should_stop", [FieldError(("should_stop",), "must be callable or None")]
            )
        return self._outbox.dispatch_due(self._checked_now(now), limit, should_stop=should_stop)

    def outbox(self, status: DeliveryStatus | str | None = None) -> list[Notification]:
        """The outbox, e.g. ``desk.outbox("dead")`` to review dead-lettered notifications."""
        if status is not None:
            try:
                status = DeliveryStatus(status)
            except ValueError:
                raise InvalidInput(
                    "status", [FieldError(("status",), f"unknown delivery status {status!r}")]
                ) from None
        return self.store.outbox(status)

    def requeue_dead_letters(
        self, keys: Iterable[str] | None = None, *, now: datetime | None = None
    ) -> int:
        """Give dead-lettered notifications another chance: those of ``keys`` (their
        idempotency keys, as :meth:`outbox` shows them), or every dead one when ``keys``
        is None. Returns how many were moved back to pending.

        Each starts again with no attempts made and is due at once (``now``), so the next
        :meth:`dispatch_outbox` (a worker, ``aftersales worker``) delivers it to its
        handler, with the full ``max_delivery_attempts`` before it can be dead-lettered
        again. Its ``last_error`` is kept, saying why it died, until a new failure
        replaces it. Keys of rows that are not dead (pending, delivered) or unknown are
        left alone: requeueing twice moves a row once.

        A store written before this operation (without ``requeue_dead``) raises
        :class:`~aftersales.StorageError` and moves nothing."""
        at = self._checked_now(now)
        requeue = getattr(self.store, "requeue_dead", None)
        if requeue is None:
            raise StorageError(
                f"{type(self.store).__name__} cannot requeue dead letters: it has no "
                "requeue_dead (see the Store protocol)"
            )
        if keys is None:
            return int(requeue(None, at))
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Iterable):
            raise InvalidInput(
                "keys", [FieldError(("keys",), "must be an iterable of keys, or None for all")]
            )
        chosen = [check_text("keys", key, 1000) for key in keys]
        return int(requeue(chosen, at)) if chosen else 0

    # Where deliveries go: aftersales.testing.capture_notifications swaps it.

    @property
    def _deliver(self) -> Deliver:
        return self._outbox.deliver

    @_deliver.setter
    def _deliver(self, deliver: Deliver) -> None:
        self._outbox.deliver = deliver
