"""The shop's desk, built the same way by the web app and by every worker process.

The recipes in this folder (Django, Celery, RQ, APScheduler, cron) all call
:func:`build_desk`, so the web process and the workers agree on the handlers' names, the
SLA policy and the settings. ``aftersales worker --app wiring:build_desk`` calls it too.

The store is named by one URL, ``AFTERSALES_DB``: a SQLite file (``sqlite:///desk.db``)
or a server (``postgresql+psycopg://shop@db/shop``, ``mysql+pymysql://...``).
"""

from __future__ import annotations

import logging
import os

from aftersales import Clock, Desk, Notification
from aftersales.storage import SQLiteStore, Store

DEFAULT_DB = "sqlite:///desk.db"
"""The store when ``AFTERSALES_DB`` is not set: ``desk.db`` in the current folder."""

SUPPORT_SLA = {
    "name": "shop",
    "calendar": {"always_open": True},
    "rules": [
        {
            "name": "default",
            "targets": {"first_response": {"minutes": 30}, "resolution": {"minutes": 1440}},
        }
    ],
}
"""First response within 30 minutes, resolution within a day, around the clock."""

logger = logging.getLogger("shop.notifications")


def send_receipt(notification: Notification) -> None:
    """Tell the customer their ticket was opened (a real shop calls its SMS or mail
    provider here, passing ``notification.key`` so a redelivery is deduplicated)."""
    logger.info("receipt for %s (%s)", notification.event.subject_id, notification.key)


def page_shift_lead(notification: Notification) -> None:
    """Page the shift lead when a ticket breaches its SLA."""
    logger.warning("SLA breached on %s (%s)", notification.event.subject_id, notification.key)


def build_desk(store: Store, *, clock: Clock | None = None) -> Desk:
    """The configured desk on ``store``: the SLA policy and the two senders (``clock``:
    the system clock unless a test gives a :class:`~aftersales.FrozenClock`).

    Both senders are subscribed with ``inline=False``: the process that commits a change
    only writes the notification, and a worker (Celery, RQ, APScheduler, cron or
    ``aftersales worker``) delivers it, so no web request waits on a provider.
    """
    desk = Desk(store, clock=clock, sla=SUPPORT_SLA, settings={"delivery_lease_seconds": 120})
    desk.on_transition(send_receipt, "created", name="receipt", inline=False)
    desk.on_transition(page_shift_lead, "sla_breached", name="page", inline=False)
    return desk


def open_store(url: str | None = None) -> Store:
    """The store ``url`` names (default: ``AFTERSALES_DB``, else :data:`DEFAULT_DB`)."""
    url = url or os.environ.get("AFTERSALES_DB", DEFAULT_DB)
    if url.startswith("sqlite:///"):
        return SQLiteStore(url.removeprefix("sqlite:///"))
    from aftersales.storage.sqlalchemy import SQLAlchemyStore  # the sql extra

    return SQLAlchemyStore(url)


def open_desk(url: str | None = None) -> Desk:
    """The configured desk on the store ``url`` names (see :func:`open_store`)."""
    return build_desk(open_store(url))
