"""The Celery recipe (examples/recipes/celery_tasks.py) against a real RabbitMQ: a real
``celery worker`` (the solo pool) runs the tasks on a shared SQLite store.

The broker is AFTERSALES_TEST_AMQP_URL's; each run uses a queue of its own and deletes it.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from recipes_support import (
    BIN,
    DONE,
    RECIPES,
    observe,
    open_overdue_ticket,
    recipe_env,
    server_url,
    stop,
    wait_until,
)

pytest.importorskip("celery")

import celery_tasks


@pytest.fixture
def broker() -> Iterator[tuple[str, str]]:
    """The broker's URL and a queue of this test's own, deleted afterwards."""
    url = server_url("rabbitmq")
    queue = f"aftersales-recipes-{uuid.uuid4().hex}"
    celery_tasks.app.conf.broker_url = url
    try:
        yield url, queue
    finally:
        with celery_tasks.app.connection_for_write() as connection:
            channel = connection.default_channel
            channel.queue_delete(queue)
            channel.exchange_delete(queue)
        celery_tasks.app.close()  # the producers' connections


def without_heartbeats(url: str) -> str:
    """``url`` with AMQP heartbeats off: a worker's warm shutdown otherwise waits for its
    next heartbeat check (about 10 s) before it exits."""
    return f"{url}{'&' if '?' in url else '?'}heartbeat=0"


def test_the_beat_schedule_names_the_two_tasks() -> None:
    schedule = celery_tasks.app.conf.beat_schedule
    assert {entry["task"] for entry in schedule.values()} == {
        "aftersales.run_due",
        "aftersales.dispatch_outbox",
    }
    assert {entry["task"] for entry in schedule.values()} <= set(celery_tasks.app.tasks)


def test_a_lost_workers_task_runs_again_and_no_task_outlives_its_delivery_lease() -> None:
    import wiring

    conf = celery_tasks.app.conf
    with wiring.open_desk("sqlite:///:memory:") as desk:
        lease = desk.settings.delivery_lease_seconds
    # acks_late alone acknowledges the message of a task whose worker process died
    assert (conf.task_acks_late, conf.task_reject_on_worker_lost) == (True, True)
    # the pass stops delivering, then is interrupted, then killed: all before the lease
    assert celery_tasks.PASS_BUDGET < conf.task_soft_time_limit < conf.task_time_limit < lease


def test_a_celery_worker_delivers_the_outbox_and_does_the_due_work_once(
    broker: tuple[str, str], tmp_path: Path
) -> None:
    url, queue = broker
    db = f"sqlite:///{tmp_path / 'desk.db'}"
    first = open_overdue_ticket(db)
    worker = subprocess.Popen(
        [
            str(BIN / "celery"),
            "--app",
            "celery_tasks",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--hostname",
            f"{queue}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=RECIPES,
        env=recipe_env(
            AFTERSALES_DB=db,
            CELERY_BROKER_URL=without_heartbeats(url),
            AFTERSALES_CELERY_QUEUE=queue,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        celery_tasks.dispatch_outbox.apply_async(queue=queue)
        wait_until(
            lambda: observe(db, first) == (["created"], {"receipt": "delivered"}),
            "the dispatch task delivered the receipt",
            process=worker,
        )

        celery_tasks.run_due.apply_async(queue=queue)
        wait_until(lambda: observe(db, first) == DONE, "the run_due task", process=worker)

        # a redelivered or retried task does its work again: nothing happens twice
        celery_tasks.run_due.apply_async(queue=queue)
        second = open_overdue_ticket(db, subject="Second kettle")
        celery_tasks.run_due.apply_async(queue=queue)
        wait_until(lambda: observe(db, second) == DONE, "the second ticket", process=worker)
        assert observe(db, first) == DONE
    finally:
        output = stop(worker)
    assert worker.returncode == 0, output
    assert "Task aftersales.run_due" in output
