"""The public Protocols and callable types in one place: what you implement to plug your
own clock, store (or a storage recorder), inventory, classifier, calendar, sender or hook
into a desk.

Each name is defined beside the code that uses it and only gathered here, so
``from aftersales.typing import Store`` is the one import an adapter needs::

    from aftersales.typing import Sender

    class SmsSender:  # satisfies Sender
        def send(self, message):
            ...
"""

from __future__ import annotations

from aftersales.cases._spec import Opener
from aftersales.cases.exchanges import Inventory
from aftersales.clock import Clock
from aftersales.notify import Handler
from aftersales.notify.senders import Sender
from aftersales.policies.dates import ClosedDays
from aftersales.routing.assign import StateStore
from aftersales.routing.classify import Classifier
from aftersales.storage import Store
from aftersales.storage.recorder import Recorder
from aftersales.workflows import Effect, Guard

__all__ = [
    "Classifier",
    "Clock",
    "ClosedDays",
    "Effect",
    "Guard",
    "Handler",
    "Inventory",
    "Opener",
    "Recorder",
    "Sender",
    "StateStore",
    "Store",
]
