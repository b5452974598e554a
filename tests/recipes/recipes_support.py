"""What the framework recipes' tests share: the servers (skipped outside CI, failed in
CI when missing), a ticket whose SLA is already breached, and what the store shows.

Servers come from AFTERSALES_TEST_POSTGRES_URL, AFTERSALES_TEST_REDIS_URL and
AFTERSALES_TEST_AMQP_URL (defaults: this machine's loopback servers).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from servers import no_server

from aftersales import Desk, FrozenClock

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "examples" / "recipes"
BIN = Path(sys.executable).parent
"""The folder of this Python's scripts (``aftersales``, ``celery``, ``rq``)."""
TIMEOUT = 60.0
"""The longest wait for a worker's observed progress (generous: a busy CI machine)."""

SERVERS = {
    "postgresql": (
        "AFTERSALES_TEST_POSTGRES_URL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    ),
    "redis": ("AFTERSALES_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
    "rabbitmq": ("AFTERSALES_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"),
}

if str(RECIPES) not in sys.path:
    sys.path.insert(0, str(RECIPES))  # the recipes import their wiring as a top-level module


def _probe(name: str, url: str) -> None:
    if name == "postgresql":
        import sqlalchemy

        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    elif name == "redis":
        import redis

        with redis.Redis.from_url(url, socket_connect_timeout=5) as connection:
            connection.ping()
    else:
        import kombu

        with kombu.Connection(url, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)


def server_url(name: str) -> str:
    """The URL of the ``name`` server; skip (fail in CI) when there is none."""
    variable, default = SERVERS[name]
    url = os.environ.get(variable, default)
    try:
        _probe(name, url)
    except Exception as error:  # noqa: BLE001 - any failure to connect means "no server"
        no_server(name, url, variable, error)
    return url


def open_overdue_ticket(db: str, *, subject: str = "Kettle leaks") -> str:
    """Open a ticket two hours ago with the recipes' desk (``wiring``) in the store ``db``:
    its receipt is pending for a worker and its 30-minute first response is overdue, so
    the next ``run_due`` records ``sla_breached`` and pages the shift lead."""
    import wiring

    opened = datetime.now(timezone.utc) - timedelta(hours=2)
    with wiring.build_desk(wiring.open_store(db), clock=FrozenClock(opened)) as desk:
        return desk.open_ticket(customer="c-1", channel="email", subject=subject).id


def observe(db: str, ticket_id: str) -> tuple[list[str], dict[str, str]]:
    """The ticket's triggers in order, and the delivery status of each of its
    notifications by handler, as the store ``db`` holds them now."""
    import wiring

    with Desk(wiring.open_store(db)) as desk:
        triggers = [event.trigger for event in desk.history(ticket_id)]
        statuses = {
            notification.handler: str(notification.status.value)
            for notification in desk.outbox()
            if notification.event.subject_id == ticket_id
        }
    return triggers, statuses


DONE = (["created", "sla_breached"], {"receipt": "delivered", "page": "delivered"})
"""What :func:`observe` shows once a worker did an overdue ticket's due work and
delivered its notifications."""


def wait_until(
    condition: Callable[[], bool],
    what: str,
    *,
    process: subprocess.Popen[str] | None = None,
    timeout: float = TIMEOUT,
) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds, or as soon as
    ``process`` (the worker under test) has exited."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"the worker exited ({process.returncode}) before {what}:\n{output}")
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[str], *, timeout: float = TIMEOUT) -> str:
    """SIGTERM ``process``, wait for it (SIGKILL after ``timeout``) and return its output."""
    if process.poll() is None:
        process.terminate()
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output or ""


def recipe_env(**extra: str) -> dict[str, str]:
    """The environment of a recipe's subprocess: this one, the recipes importable."""
    paths = [str(RECIPES), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), **extra}
