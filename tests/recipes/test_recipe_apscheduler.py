"""The APScheduler recipe (examples/recipes/apscheduler_jobs.py): its interval jobs in a
BackgroundScheduler of this process, and the script on its own until SIGTERM."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from recipes_support import (
    DONE,
    RECIPES,
    TIMEOUT,
    observe,
    open_overdue_ticket,
    recipe_env,
    stop,
    wait_until,
)

pytest.importorskip("apscheduler")

import apscheduler_jobs
import wiring
from apscheduler.schedulers.background import BackgroundScheduler


def test_the_jobs_do_the_due_work_and_deliver_the_outbox_in_the_background(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'desk.db'}"
    overdue = open_overdue_ticket(db)
    desk = wiring.open_desk(db)
    # the due work runs once now and then not for an hour: later deliveries are the
    # dispatch job's
    scheduler = apscheduler_jobs.schedule(
        desk, BackgroundScheduler(timezone="UTC"), run_due_every=3600, dispatch_every=0.1
    )
    scheduler.start()
    try:
        wait_until(lambda: observe(db, overdue) == DONE, "the due work at start")
        later = open_overdue_ticket(db, subject="Second kettle")
        wait_until(
            lambda: observe(db, later) == (["created"], {"receipt": "delivered"}),
            "the dispatch job delivered the second receipt",
        )
        assert {job.id for job in scheduler.get_jobs()} == {
            "aftersales-run-due",
            "aftersales-dispatch",
        }
    finally:
        scheduler.shutdown()
        desk.close()


def test_the_script_runs_the_jobs_until_sigterm(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'desk.db'}"
    overdue = open_overdue_ticket(db)
    process = subprocess.Popen(
        [sys.executable, "apscheduler_jobs.py"],
        cwd=RECIPES,
        env=recipe_env(AFTERSALES_DB=db),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: observe(db, overdue) == DONE, "the due work", process=process)
    finally:
        output = stop(process)
    assert process.returncode == 0, output
    assert "stopping" in output


def test_a_due_run_missed_by_half_a_minute_runs_once_and_does_the_due_work(
    tmp_path: Path,
) -> None:
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobEvent

    db = f"sqlite:///{tmp_path / 'desk.db'}"
    overdue = open_overdue_ticket(db)
    desk = wiring.open_desk(db)
    outcomes: list[int] = []
    decided = threading.Event()

    def on_event(event: JobEvent) -> None:
        if event.job_id == "aftersales-run-due":
            outcomes.append(event.code)
            decided.set()

    scheduler = apscheduler_jobs.schedule(
        desk, BackgroundScheduler(timezone="UTC"), run_due_every=3600, dispatch_every=3600
    )
    scheduler.add_listener(on_event, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    scheduler.start(paused=True)
    try:
        # the process was suspended for half a minute: the run due then is late
        late = datetime.now(timezone.utc) - timedelta(seconds=30)
        scheduler.modify_job("aftersales-run-due", next_run_time=late)
        scheduler.resume()
        assert decided.wait(TIMEOUT), "the scheduler neither ran nor dropped the late run"
        wait_until(lambda: observe(db, overdue) == DONE, "the late run's due work")
    finally:
        scheduler.shutdown()
        desk.close()
    assert outcomes == [EVENT_JOB_EXECUTED]
