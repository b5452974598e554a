"""The RQ recipe (examples/recipes/rq_tasks.py, rq_cron.py) against a real Redis: the
jobs queued by hand or by RQ's cron scheduler, run by ``rq worker --burst``.

The server is AFTERSALES_TEST_REDIS_URL's (default database 15); each test uses a queue
of its own and deletes every key that names it, and the jobs it made.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from recipes_support import (
    BIN,
    DONE,
    RECIPES,
    TIMEOUT,
    observe,
    open_overdue_ticket,
    recipe_env,
    server_url,
)

redis = pytest.importorskip("redis")
pytest.importorskip("rq")

import rq_tasks  # noqa: E402 - after the skips: the recipe needs rq
from rq.cron import CronScheduler  # noqa: E402
from rq.job import Job  # noqa: E402


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, redis.Redis, str]]:
    """The server's URL, a connection and a queue of this test's own (the recipe's
    ``AFTERSALES_RQ_QUEUE``), whose keys and jobs are deleted afterwards."""
    url = server_url("redis")
    name = f"aftersales-recipes-{uuid.uuid4().hex}"
    monkeypatch.setenv("AFTERSALES_RQ_QUEUE", name)
    connection = redis.Redis.from_url(url)
    try:
        yield url, connection, name
    finally:
        _delete_keys_of(connection, name)
        connection.close()


def _delete_keys_of(connection: redis.Redis, queue: str) -> None:
    """Delete what RQ keeps of ``queue``: its keys, its jobs and their results, its
    workers' records and its cron jobs."""
    mine = queue.encode()
    jobs = [
        key.removeprefix(b"rq:job:")
        for key in connection.scan_iter("rq:job:*")
        if connection.type(key) == b"hash" and connection.hget(key, "origin") == mine
    ]
    workers = [
        key
        for key in connection.scan_iter("rq:worker:*")
        if connection.type(key) == b"hash" and connection.hget(key, "queues") == mine
    ]
    keys = [
        *connection.scan_iter(f"*{queue}*"),
        *(b"rq:job:" + job for job in jobs),
        *(b"rq:results:" + job for job in jobs),
        *workers,
    ]
    if keys:
        connection.delete(*keys)
    connection.srem("rq:queues", f"rq:queue:{queue}")
    connection.zrem("rq:cron_jobs", f"{queue}:run_due", f"{queue}:dispatch")


def run_burst_worker(url: str, queue: str, db: str) -> str:
    """``rq worker --burst --with-scheduler`` (as the recipe starts its workers) on
    ``queue``: it runs the queued jobs and exits.

    A worker still running after :data:`TIMEOUT` gets SIGABRT, on which Python's
    fault handler prints the stack of the worker and of its work horse: the failure
    shows where they were."""
    worker = subprocess.Popen(
        [str(BIN / "rq"), "worker", "--burst", "--with-scheduler", "--url", url, queue],
        cwd=RECIPES,
        env=recipe_env(AFTERSALES_DB=db, PYTHONFAULTHANDLER="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = worker.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        # the horse runs in a session of its own (RQ's fork calls setsid)
        subprocess.run(["pkill", "-ABRT", "-P", str(worker.pid)], check=False)
        os.killpg(worker.pid, signal.SIGABRT)
        try:
            output, _ = worker.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            output, _ = worker.communicate()
        pytest.fail(f"rq worker --burst still ran after {TIMEOUT:g} s:\n{output}")
    assert worker.returncode == 0, output
    return output


def test_the_queued_jobs_do_the_due_work_and_deliver_the_outbox(
    queue: tuple[str, redis.Redis, str], tmp_path: Path
) -> None:
    url, connection, name = queue
    db = f"sqlite:///{tmp_path / 'desk.db'}"
    ticket = open_overdue_ticket(db)

    jobs = rq_tasks.enqueue_due_work(connection)

    assert [job.origin for job in jobs] == [name, name]
    output = run_burst_worker(url, name, db)
    assert observe(db, ticket) == DONE
    assert [Job.fetch(job.id, connection=connection).get_status() for job in jobs] == [
        "finished",
        "finished",
    ], output
    assert Job.fetch(jobs[0].id, connection=connection).return_value() == {
        "sla_events": 1,
        "auto_closed": 0,
        "reminded": 0,
        "delivered": 2,
    }


def test_rqs_cron_scheduler_enqueues_both_jobs_from_the_recipes_schedule(
    queue: tuple[str, redis.Redis, str], tmp_path: Path
) -> None:
    url, connection, name = queue
    db = f"sqlite:///{tmp_path / 'desk.db'}"
    ticket = open_overdue_ticket(db)
    scheduler = CronScheduler(connection=connection)
    scheduler.load_config_from_file("rq_cron")  # what `rq cron rq_cron.py` loads

    enqueued = scheduler.enqueue_jobs()  # its first tick: every job is due

    assert sorted((job.name, job.queue_name, job.interval) for job in enqueued) == [
        (f"{name}:dispatch", name, 10),
        (f"{name}:run_due", name, 60),
    ]
    assert scheduler.enqueue_jobs() == []  # the next tick: none is due yet
    run_burst_worker(url, name, db)
    assert observe(db, ticket) == DONE
