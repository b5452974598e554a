"""The schedule of the RQ recipe, for RQ's own cron scheduler (new in RQ 2.4, in beta
there; this file is tested with RQ 3.0):

    rq cron --url redis://127.0.0.1:6379/0 rq_cron.py

Run exactly one: each scheduler enqueues the jobs on its own. A job no worker has taken
within its period expires (``ttl``): the next one does its work, so a time without
workers leaves no pile of identical jobs in Redis. (With an older RQ,
rq-scheduler's ``Scheduler(connection=redis).cron("* * * * *", func=run_due)`` does the
same; or put ``aftersales worker --once`` in cron, see the cron recipe.)
"""

from __future__ import annotations

from rq import cron
from rq_tasks import dispatch_outbox, queue_name, run_due

QUEUE = queue_name()

RUN_DUE_EVERY = 60
DISPATCH_EVERY = 10

cron.register(
    run_due,
    queue_name=QUEUE,
    interval=RUN_DUE_EVERY,
    ttl=RUN_DUE_EVERY - 5,
    job_timeout=300,
    name=f"{QUEUE}:run_due",
)
cron.register(
    dispatch_outbox,
    queue_name=QUEUE,
    interval=DISPATCH_EVERY,
    ttl=DISPATCH_EVERY - 1,
    job_timeout=300,
    name=f"{QUEUE}:dispatch",
)
