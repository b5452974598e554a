"""APScheduler 3: the desk's due work and its outbox as two interval jobs.

    python apscheduler_jobs.py   # a process of its own, until Ctrl-C or SIGTERM

or inside your app's process, on the desk it already has::

    scheduler = schedule(desk, BackgroundScheduler(timezone="UTC"))
    scheduler.start()
    ...
    scheduler.shutdown()  # at exit: waits for the job under way
    desk.close()

The desk is safe to share between the scheduler's threads and the app's, and the jobs are
safe to overlap with other processes doing the same (``aftersales worker``, other app
instances): each change checks its version, each delivery is claimed with a lease. Each
delivery is acknowledged in the store as soon as it is made, so a process killed
mid-batch sends again only the notification it was delivering.
"""

from __future__ import annotations

import logging
import signal
from datetime import datetime, timezone
from functools import partial

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from wiring import deliver_outbox, open_desk, work_pass

from aftersales import Desk

RUN_DUE_EVERY = 60.0
"""Seconds between two runs of the due work."""
DISPATCH_EVERY = 10.0
"""Seconds between two outbox deliveries."""


def schedule(
    desk: Desk,
    scheduler: BaseScheduler,
    *,
    run_due_every: float = RUN_DUE_EVERY,
    dispatch_every: float = DISPATCH_EVERY,
) -> BaseScheduler:
    """Add the desk's two jobs to ``scheduler``, both first run at once. Each runs one
    at a time (``max_instances=1``), and the runs missed while the process was busy
    (or suspended) are done once, not once per missed tick (``coalesce``), however
    late: APScheduler's default ``misfire_grace_time`` of one second would drop them."""
    first = datetime.now(timezone.utc)
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    scheduler.add_job(
        partial(work_pass, desk),
        "interval",
        seconds=run_due_every,
        id="aftersales-run-due",
        next_run_time=first,
        **common,
    )
    scheduler.add_job(
        partial(deliver_outbox, desk),
        "interval",
        seconds=dispatch_every,
        id="aftersales-dispatch",
        next_run_time=first,
        **common,
    )
    return scheduler


def main() -> None:
    """Run the jobs in this process until Ctrl-C or SIGTERM, then close the desk."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    desk = open_desk()
    scheduler = schedule(desk, BlockingScheduler(timezone="UTC"))
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C
    try:
        scheduler.start()
    except KeyboardInterrupt:
        logging.getLogger(__name__).info("stopping")
    finally:
        if scheduler.running:
            scheduler.shutdown()  # waits for the job under way
        desk.close()


if __name__ == "__main__":
    main()
