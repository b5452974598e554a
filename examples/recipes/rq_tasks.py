"""RQ: the desk's due work and its outbox as jobs on a Redis queue.

    rq worker --with-scheduler --url redis://127.0.0.1:6379/0 aftersales   # as many as you like
    rq cron --url redis://127.0.0.1:6379/0 rq_cron.py      # the schedule: exactly one

``--with-scheduler`` matters: a failed job's retries (10 and 60 s later) are put back on
the queue by RQ's scheduler, which only a worker started with it runs (one of them takes
the scheduler's lock). Without it the retries wait forever in the scheduled registry.

With rq 3.0 and redis-py 8.2.0, a worker may take up to a minute to exit once it is
done or asked to stop (redis-py's pubsub thread stop() now waits for the thread, which
rq leaves waiting 60 s): keep redis-py below 8.2 until one of them changes, or allow a
deploy's stop that long.

Each job opens the desk (``AFTERSALES_DB``, see ``wiring``) and closes it when done: RQ's
default worker runs every job in a fork of its own, which must not share its parent's
database connections, and closing acknowledges the job's last deliveries. Both jobs are
safe to run twice and from many workers at once (each change checks its version, each
delivery is claimed with a lease), so a job retried or enqueued twice does no harm. Each
delivery is acknowledged in the store as soon as it is made: a worker killed mid-job (the
OOM killer, the job timeout, a cold shutdown) sends again only the notification it was
delivering.
"""

from __future__ import annotations

import os

from redis import Redis
from rq import Queue, Retry
from rq.job import Job
from wiring import deliver_outbox, open_desk, work_pass

DEFAULT_QUEUE = "aftersales"


def queue_name() -> str:
    """The queue of the jobs: ``AFTERSALES_RQ_QUEUE``, else ``aftersales``."""
    return os.environ.get("AFTERSALES_RQ_QUEUE", DEFAULT_QUEUE)


def run_due() -> dict[str, int]:
    """The due work: SLA warnings and breaches, auto-closing, reminders, time rules;
    then the outbox until it is empty."""
    with open_desk() as desk:
        return work_pass(desk)


def dispatch_outbox(limit: int = 100) -> dict[str, int]:
    """Deliver up to ``limit`` due notifications."""
    with open_desk() as desk:
        report = deliver_outbox(desk, limit)
    return {"delivered": report.delivered, "failed": report.failed, "dead": report.dead}


def enqueue_due_work(connection: Redis, name: str | None = None) -> list[Job]:
    """Queue both jobs (on ``name``, default :func:`queue_name`), e.g. from your own timer;
    a job that fails (the database restarting) is retried twice, 10 and 60 s later, by
    a worker started ``--with-scheduler``."""
    queue = Queue(name or queue_name(), connection=connection)
    retry = Retry(max=2, interval=[10, 60])
    return [
        queue.enqueue(run_due, job_timeout=300, result_ttl=3600, retry=retry),
        queue.enqueue(dispatch_outbox, job_timeout=300, result_ttl=3600, retry=retry),
    ]
