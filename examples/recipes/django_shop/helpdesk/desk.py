"""The project's desk: built by one factory for the web processes and the worker, on
the database Django uses.

:func:`get_desk` keeps one desk per process, created on first use, so a server that forks
its workers after loading the app (gunicorn ``--preload``) opens the connections in each
worker, never in the parent. The worker command builds its own with :func:`open_desk`.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Mapping
from typing import Any

from aftersales import Clock, Desk, Notification
from aftersales.storage import Store

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

DRIVERS = {
    "django.db.backends.postgresql": "postgresql+psycopg",
    "django.db.backends.mysql": "mysql+pymysql",
}
"""SQLAlchemy's driver for each of Django's database engines."""
SOCKET_PARAMETERS = {
    "django.db.backends.postgresql": "host",
    "django.db.backends.mysql": "unix_socket",
}
"""The driver's query parameter for a ``HOST`` that is a Unix socket's path."""
DJANGO_ONLY_OPTIONS = frozenset({"isolation_level", "server_side_binding", "pool", "assume_role"})
"""``OPTIONS`` that Django reads itself and no driver takes."""

logger = logging.getLogger("helpdesk.notifications")
_lock = threading.Lock()
_desk: Desk | None = None


def send_receipt(notification: Notification) -> None:
    """Tell the customer their ticket was opened (a real shop calls its mail or SMS
    provider here with ``notification.key``, so a redelivery is deduplicated)."""
    logger.info("receipt for %s (%s)", notification.event.subject_id, notification.key)


def page_shift_lead(notification: Notification) -> None:
    """Page the shift lead when a ticket breaches its SLA."""
    logger.warning("SLA breached on %s (%s)", notification.event.subject_id, notification.key)


def build_desk(store: Store, *, clock: Clock | None = None) -> Desk:
    """The configured desk on ``store``. The senders are subscribed with
    ``inline=False``: a request only writes the notification, the worker delivers it."""
    from django.conf import settings

    desk = Desk(store, clock=clock, sla=SUPPORT_SLA, settings=settings.AFTERSALES_SETTINGS)
    desk.on_transition(send_receipt, "created", name="receipt", inline=False)
    desk.on_transition(page_shift_lead, "sla_breached", name="page", inline=False)
    return desk


def store_url(database: Mapping[str, Any]) -> str:
    """The SQLAlchemy URL of one of Django's ``DATABASES`` entries: the same server,
    database and user, a Unix-socket ``HOST`` (``/var/run/postgresql``) as the driver's
    socket parameter, and the ``OPTIONS`` that are the driver's (``sslmode``,
    ``connect_timeout``, ``charset``...) as the URL's query, so the desk connects the
    way Django does. Options that are not text or numbers go to :func:`connect_args`."""
    from sqlalchemy.engine import URL

    engine = database["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return f"sqlite:///{database['NAME']}"
    if engine not in DRIVERS:
        raise ValueError(f"aftersales has no SQLAlchemy driver for {engine}")
    query = {
        name: str(value)
        for name, value in _driver_options(database).items()
        if isinstance(value, (str, int, float)) and not isinstance(value, bool)
    }
    host = database.get("HOST") or None
    port = int(database["PORT"]) if database.get("PORT") else None
    if host is not None and host.startswith("/"):
        # a socket folder (PostgreSQL) or file (MySQL): a URL's host cannot hold a path
        query[SOCKET_PARAMETERS[engine]] = host
        if port is not None and engine == "django.db.backends.postgresql":
            query["port"] = str(port)  # names the socket file, .s.PGSQL.<port>
        host = port = None
    url = URL.create(
        DRIVERS[engine],
        username=database.get("USER") or None,
        password=database.get("PASSWORD") or None,
        host=host,
        port=port,
        database=database["NAME"],
        query=query,
    )
    return url.render_as_string(hide_password=False)


def connect_args(database: Mapping[str, Any]) -> dict[str, Any]:
    """The driver's ``OPTIONS`` a URL cannot carry (MySQL's ``ssl`` dict, booleans), for
    SQLAlchemy's ``connect_args``."""
    return {
        name: value
        for name, value in _driver_options(database).items()
        if isinstance(value, bool) or not isinstance(value, (str, int, float))
    }


def _driver_options(database: Mapping[str, Any]) -> dict[str, Any]:
    options = database.get("OPTIONS") or {}
    return {name: value for name, value in options.items() if name not in DJANGO_ONLY_OPTIONS}


def open_store(database: Mapping[str, Any] | None = None) -> Store:
    """The desk's store in ``database`` (default: Django's ``default`` database); its
    tables are created on first use."""
    from django.conf import settings

    from aftersales.storage.sqlalchemy import SQLAlchemyStore

    database = database or settings.DATABASES["default"]
    extra = connect_args(database)
    if extra:
        return SQLAlchemyStore(store_url(database), connect_args=extra)
    return SQLAlchemyStore(store_url(database))


def open_desk() -> Desk:
    """A new configured desk on Django's database; close it when done."""
    return build_desk(open_store())


def get_desk() -> Desk:
    """This process's desk, created on first use and closed at exit."""
    global _desk
    with _lock:
        if _desk is None:
            _desk = open_desk()
            atexit.register(_desk.close)
        return _desk
