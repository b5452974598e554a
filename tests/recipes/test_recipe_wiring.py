"""The recipes' shared passes (examples/recipes/wiring.py): ``work_pass`` stops at its
budget between two deliveries and gives the rest back, and raises the due work's failure
after delivering the outbox, so the task that called it is retried."""

from __future__ import annotations

import importlib
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from recipes_support import TIMEOUT

from aftersales import Desk, FrozenClock, Notification, StorageError

wiring = importlib.import_module("wiring")  # importable once recipes_support has run


def _open_receipts(db: str, count: int) -> list[str]:
    opened = datetime.now(timezone.utc) - timedelta(hours=1)
    with wiring.build_desk(wiring.open_store(db), clock=FrozenClock(opened)) as desk:
        return [
            desk.open_ticket(customer=f"c-{n}", channel="email", subject="Kettle leaks").id
            for n in range(count)
        ]


def _statuses(db: str) -> list[tuple[str, bool]]:
    """Each receipt's delivery status, and whether a worker still holds it."""
    now = datetime.now(timezone.utc)
    with Desk(wiring.open_store(db)) as desk:
        return sorted(
            (str(n.status.value), n.lease_until is not None and n.lease_until > now)
            for n in desk.outbox()
            if n.handler == "receipt"
        )


def _budget_timers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if isinstance(t, threading.Timer)]


def test_a_pass_stops_at_its_budget_and_gives_back_what_it_did_not_deliver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite:///{tmp_path / 'desk.db'}"
    _open_receipts(db, 3)
    sent: list[str] = []

    def slow_receipt(notification: Notification) -> None:
        sent.append(notification.key)
        deadline = time.monotonic() + TIMEOUT
        while _budget_timers():  # this delivery outlasts the pass's budget
            assert time.monotonic() < deadline, "the budget never ran out"
            time.sleep(0.01)

    monkeypatch.setattr(wiring, "send_receipt", slow_receipt)
    with wiring.open_desk(db) as desk:
        done = wiring.work_pass(desk, budget=0.05)

    assert len(sent) == 1
    assert done["delivered"] == 1
    # the two left are free for the next pass at once, not held for the lease
    assert _statuses(db) == [("delivered", False), ("pending", False), ("pending", False)]


def test_a_pass_delivers_the_outbox_and_then_raises_the_due_works_failure(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'desk.db'}"
    _open_receipts(db, 2)

    def failing_due_work(*_: Any, **__: Any) -> None:
        raise StorageError("the database is restarting")

    with wiring.open_desk(db) as desk:
        desk.run_due = failing_due_work
        with pytest.raises(StorageError, match="restarting"):
            wiring.work_pass(desk)

    assert _statuses(db) == [("delivered", False), ("delivered", False)]
