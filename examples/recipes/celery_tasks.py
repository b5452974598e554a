"""Celery: the desk's due work and its outbox as two tasks, scheduled by celery beat.

    celery -A celery_tasks worker --loglevel INFO   # as many workers as you like
    celery -A celery_tasks beat                     # exactly one beat

The broker is RabbitMQ (``CELERY_BROKER_URL``, default the local one) and there is no
result backend: what a task did is in the desk's store (``AFTERSALES_DB``, see
``wiring``), and its return value is only logged. Both tasks are safe to run twice and
from many workers at once (each change checks its version, each delivery is claimed with a
lease), so a message redelivered after a lost worker (``task_acks_late`` with
``task_reject_on_worker_lost``) or a retry after a database error does no harm. Each
delivery is acknowledged in the store as soon as it is made: a worker killed mid-batch
sends again only the notification it was delivering.

``run_due`` starts no delivery after ``PASS_BUDGET`` seconds (a ``dispatch_outbox`` batch
none after half the lease); a task is interrupted at its soft time limit and killed at
its hard one, which is below the delivery lease (``wiring.DELIVERY_LEASE_SECONDS``): a
stuck sender never outlives its claim, so no other worker takes the notification while
it is still being sent. (Celery enforces time limits in the prefork pool, the default.)
"""

from __future__ import annotations

import os
import threading
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown, worker_shutdown
from wiring import DELIVERY_LEASE_SECONDS, deliver_outbox, open_desk, work_pass

from aftersales import Desk, StorageError

QUEUE = os.environ.get("AFTERSALES_CELERY_QUEUE", "aftersales")
"""The queue both tasks go to (and the worker reads, by default)."""
RUN_DUE_EVERY = 60.0
DISPATCH_EVERY = 10.0
HARD_TIME_LIMIT = DELIVERY_LEASE_SECONDS - 10
"""A task still running then is killed: before its claims' lease ends."""
SOFT_TIME_LIMIT = HARD_TIME_LIMIT - 20
"""A task still running then gets ``SoftTimeLimitExceeded`` (a delivery under way is
recorded as failed, to be retried)."""
PASS_BUDGET = DELIVERY_LEASE_SECONDS / 3
"""A pass starts no delivery after this long; the rows left go to the next."""

app = Celery(
    "shop", broker=os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
)
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    # a worker lost mid-task (killed, out of memory) leaves its message to another: the
    # tasks are safe to repeat. Without task_reject_on_worker_lost, acks_late acknowledges
    # the message of a task whose worker process died, and it is lost.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_soft_time_limit=SOFT_TIME_LIMIT,
    task_time_limit=HARD_TIME_LIMIT,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    beat_schedule={
        # a tick that waited longer than its period is dropped: the next one does its work
        "aftersales-run-due": {
            "task": "aftersales.run_due",
            "schedule": RUN_DUE_EVERY,
            "options": {"expires": RUN_DUE_EVERY - 5},
        },
        "aftersales-dispatch-outbox": {
            "task": "aftersales.dispatch_outbox",
            "schedule": DISPATCH_EVERY,
            "options": {"expires": DISPATCH_EVERY - 1},
        },
    },
)

_lock = threading.Lock()
_desk: Desk | None = None


def desk() -> Desk:
    """This worker process's desk, opened by its first task (a forked pool process
    opens its own connections, never its parent's)."""
    global _desk
    with _lock:  # --pool threads: one desk for all the threads
        if _desk is None:
            _desk = open_desk()
        return _desk


@worker_process_init.connect
def _forget_the_parents_desk(**_: Any) -> None:
    global _desk
    _desk = None  # inherited through fork: its connections belong to the parent


@worker_process_shutdown.connect
@worker_shutdown.connect
def close_desk(**_: Any) -> None:
    """Close the process's desk (acknowledging its last deliveries) when it stops."""
    global _desk
    with _lock:
        if _desk is not None:
            _desk.close()
            _desk = None


@app.task(
    name="aftersales.run_due",
    autoretry_for=(StorageError,),
    retry_backoff=True,
    max_retries=5,
)
def run_due() -> dict[str, int]:
    """The due work: SLA warnings and breaches, auto-closing, reminders, time rules;
    then the outbox, until it is empty or the pass has run ``PASS_BUDGET`` seconds."""
    return work_pass(desk(), budget=PASS_BUDGET)


@app.task(
    name="aftersales.dispatch_outbox",
    autoretry_for=(StorageError,),
    retry_backoff=True,
    max_retries=5,
)
def dispatch_outbox(limit: int = 100) -> dict[str, int]:
    """Deliver up to ``limit`` due notifications; a full batch queues the next at once."""
    report = deliver_outbox(desk(), limit)
    if report.delivered + report.failed + report.dead >= limit:
        dispatch_outbox.delay(limit)  # more may be waiting: no need to wait for beat
    return {"delivered": report.delivered, "failed": report.failed, "dead": report.dead}
