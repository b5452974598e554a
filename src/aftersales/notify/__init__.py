"""Hooks that never lose work: subscriptions, notifications and the outbox they live in."""

from aftersales.notify._hooks import HookRegistry, Subscription
from aftersales.notify._notification import DeliveryStatus, Handler, Notification
from aftersales.notify._outbox import DispatchReport, NotAttempted
from aftersales.notify._subscriptions import ALL_KINDS

__all__ = [
    "ALL_KINDS",
    "DeliveryStatus",
    "DispatchReport",
    "Handler",
    "HookRegistry",
    "NotAttempted",
    "Notification",
    "Subscription",
]
