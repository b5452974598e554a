"""The shop's desk, built the same way by the web app and by every worker process.

The recipes in this folder (Django, Celery, RQ, APScheduler, cron) all call
:func:`build_desk`, so the web process and the workers agree on the handlers' names, the
SLA policy and the settings. ``aftersales worker --app wiring:build_desk`` calls it too.

The store is named by one URL, ``AFTERSALES_DB``: a SQLite file (``sqlite:///desk.db``)
or a server (``postgresql+psycopg://shop@db/shop``, ``mysql+pymysql://...``).

A task or job calls :func:`work_pass` (the due work, then the outbox) or
:func:`deliver_outbox` (one batch of the outbox). Both acknowledge each delivery as soon
as it is made, so a worker killed mid-batch (the OOM killer, a hard time limit, a
deploy's SIGKILL) sends again at most the one notification it was delivering, never the
ones it had already sent.
"""

from __future__ import annotations

import logging
import os
import threading

from aftersales import Clock, Desk, DispatchReport, Notification
from aftersales.security import default_permissions
from aftersales.storage import SQLiteStore, Store
from aftersales.worker import Worker

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

DELIVERY_LEASE_SECONDS = 120
"""How long a worker keeps the notifications it claimed before another may take them
(``delivery_lease_seconds``): more than twice the slowest delivery. A task's time limit
stays below it (see ``celery_tasks``), so no sender outlives its claim."""

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

    The permission set is the library's default one (customers, agents, supervisors;
    the workers act as ``system``). Both senders are subscribed with ``inline=False``:
    the process that commits a change only writes the notification, and a worker
    (Celery, RQ, APScheduler, cron or ``aftersales worker``) delivers it, so no web
    request waits on a provider.
    """
    desk = Desk(
        store,
        clock=clock,
        sla=SUPPORT_SLA,
        permissions=default_permissions(),
        settings={"delivery_lease_seconds": DELIVERY_LEASE_SECONDS},
    )
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


def work_pass(desk: Desk, *, budget: float | None = None) -> dict[str, int]:
    """One pass of :class:`~aftersales.worker.Worker`: the due work, then the outbox in
    batches until one delivers nothing, each delivery acknowledged as it is made.

    ``budget`` (seconds) stops the pass between two deliveries once it has run that
    long (the rows it claimed and did not deliver are released for the next). The due
    work failing (the database restarting) is raised after the deliveries, so the task
    that called it fails and is retried.
    """
    worker = Worker(desk)
    timer = None
    if budget is not None:
        timer = threading.Timer(budget, worker.request_stop)
        timer.daemon = True
        timer.start()
    try:
        done = worker.run_once()
    finally:
        if timer is not None:
            timer.cancel()
    if done.due_error is not None:
        raise done.due_error
    due = done.due
    return {
        "sla_events": 0 if due is None else len(due.sla_events),
        "auto_closed": 0 if due is None else len(due.auto_closed),
        "reminded": 0 if due is None else len(due.reminded),
        "delivered": done.dispatch.delivered,
    }


def deliver_outbox(desk: Desk, limit: int = 100) -> DispatchReport:
    """Deliver up to ``limit`` due notifications, each acknowledged before the next
    starts (the dispatch asks ``should_stop`` before every delivery: that is where the
    one just made is recorded)."""

    def acknowledge_the_last_and_go_on() -> bool:
        desk.flush()
        return False

    return desk.dispatch_outbox(limit=limit, should_stop=acknowledge_the_last_and_go_on)
