"""Review of the risk watch (issue 20): what a user relies on, checked where the code
might let it down. The first tests proved a defect each (they were strict xfails until
it was fixed) and now guard its fix; the others guard what was found sound."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from aftersales import Desk, FrozenClock, InvalidInput, PermissionDenied
from aftersales.insights import (
    AlertState,
    RiskRule,
    RiskWatch,
    Series,
    alert_subject_id,
    case_series,
    on_risk_alert,
    verify_alerts,
    watch_risk,
)
from aftersales.notify import DeliveryStatus, Notification
from aftersales.notify.senders import MemorySender, SenderHandler, customer_recipients
from aftersales.security import MemoryDirectory, Principal, default_permissions
from aftersales.storage import MemoryStore, SQLiteStore, Store
from aftersales.storage.recorder import MemoryRecorder, RecordStore

START = date(2024, 1, 1)
WEEK = (4, 5, 6, 5, 4, 6, 5)
"""A quiet week of returns: 35 a week, 5 a day on average."""
FIRST_RISE = range(100, 115)
SECOND_RISE = range(200, 215)
DAYS = 260


def counts_per_day() -> list[int]:
    """A SKU's returns: the quiet week over and over, three times as many on days 100-114
    and on days 200-214."""
    counts = [WEEK[day % 7] for day in range(DAYS)]
    for day in (*FIRST_RISE, *SECOND_RISE):
        counts[day] *= 3
    return counts


def quiet_per_day() -> list[int]:
    return [WEEK[day % 7] for day in range(DAYS)]


def morning_after(day: int) -> datetime:
    return datetime.combine(START + timedelta(days=day + 1), datetime.min.time(), timezone.utc)


def daily_series(day: int) -> list[Series]:
    """What a run on the morning after ``day`` sees: every day up to ``day``."""
    return [
        Series("SKU-1", "return", START, counts_per_day()[: day + 1]),
        Series("SKU-2", "return", START, quiet_per_day()[: day + 1]),
    ]


def at(day: date, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, micro, timezone.utc)


def make_store(kind: str, folder: Path) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SQLiteStore(folder / "review.db")
    if kind == "recorder":
        return RecordStore(MemoryRecorder())
    pytest.importorskip("sqlalchemy")
    from aftersales.storage.sqlalchemy import SQLAlchemyStore

    return SQLAlchemyStore(f"sqlite:///{folder / 'review-sa.db'}")


def open_ticket(desk: Desk, sku: str, order_id: str = "o-1") -> str:
    ticket = desk.open_ticket(
        customer="c-1",
        channel="email",
        subject=f"About my {sku}",
        order_line={"order_id": order_id, "line_id": "l1", "sku": sku},
    )
    return ticket.id


def open_return(desk: Desk, sku: str, order_id: str) -> None:
    """A return of the one unit of ``sku`` bought in ``order_id``, opened at the desk's
    clock."""
    now = desk.clock.now()
    delivered = now - timedelta(days=2)
    desk.cases.request_return(
        open_ticket(desk, sku, order_id),
        order_id=order_id,
        lines=[
            {
                "line_id": "l1",
                "sku": sku,
                "facts": {
                    "jurisdiction": "cn",
                    "product": {"category": "apparel", "sku": sku},
                    "order": {
                        "purchased_at": (delivered - timedelta(days=2)).isoformat(),
                        "delivered_at": delivered.isoformat(),
                        "unit_price": {"amount": 100, "currency": "CNY"},
                        "quantity": 1,
                    },
                    "claim": {"at": now.isoformat(), "kind": "no_reason_return", "quantity": 1},
                },
            }
        ],
    )


# ------------------------------------------------------------------ defects (fixed)


@pytest.mark.parametrize("kind", ["memory", "sqlite", "sqlalchemy", "recorder"])
def test_complaints_count_under_the_sku_of_their_ticket(kind: str, tmp_path: Path) -> None:
    day = date(2024, 3, 4)
    desk = Desk(make_store(kind, tmp_path), clock=FrozenClock(at(day, 10)))
    for _ in range(3):
        desk.cases.open_complaint(open_ticket(desk, "KETTLE-1"), summary="It leaks")
    about_nothing = desk.open_ticket(customer="c-2", channel="email", subject="Rude courier")
    desk.cases.open_complaint(about_nothing.id, summary="Rude courier")  # no SKU: not counted
    made = case_series(desk.store, "complaint", first_day=day, last_day=day)
    assert [(s.key, s.counts) for s in made] == [("KETTLE-1", (3,))]
    desk.close()


def test_an_unknown_case_kind_is_invalid_input() -> None:
    desk = Desk(clock=FrozenClock(at(START, 10)))
    with pytest.raises(InvalidInput) as raised:
        case_series(desk.store, "returns", first_day=START, last_day=START)
    (error,) = raised.value.errors
    assert error.location == ("kind",)
    assert "'returns'" in error.message
    assert "'return'" in error.message  # the known kinds, to spot the typo


def test_a_principal_without_a_grant_on_risk_alerts_records_none() -> None:
    permissions = default_permissions()
    agent = Principal("agent-7", frozenset({"agent"}))
    assert not permissions.may_fire(agent, "risk", "risk_alert")
    desk = Desk(permissions=permissions, clock=FrozenClock(morning_after(DAYS)))
    with pytest.raises(PermissionDenied):
        watch_risk(desk, daily_series(FIRST_RISE[6]), name="returns", actor=agent)
    assert desk.store.events(alert_subject_id("return", "SKU-1")) == []
    assert desk.store.get_state("aftersales.risk_watch:returns") is None
    # the roles were the run's only: the system's run then records the alert
    assert len(watch_risk(desk, daily_series(FIRST_RISE[6]), name="returns").alerts) == 1


def test_deleting_the_latest_alert_of_a_series_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    desk = Desk(SQLiteStore(path), clock=FrozenClock(morning_after(DAYS)))
    watch = RiskWatch(desk, name="returns")
    assert len(watch.run(daily_series(FIRST_RISE[6])).alerts) == 1
    assert len(watch.run(daily_series(SECOND_RISE[6])).alerts) == 1
    subject = alert_subject_id("return", "SKU-1")
    assert [e.sequence for e in desk.store.events(subject)] == [1, 2]
    report = verify_alerts(desk)
    assert (report.ok, report.subjects, report.events) == (True, 1, 2)
    desk.close()
    with sqlite3.connect(path) as tamper:  # someone with the database file
        tamper.execute("DELETE FROM events WHERE subject_id = ? AND sequence = 2", (subject,))
    tamper.close()
    desk = Desk(SQLiteStore(path), clock=FrozenClock(morning_after(DAYS)))
    assert [e.sequence for e in desk.store.events(subject)] == [1]
    report = verify_alerts(desk)
    assert not report.ok
    assert {(f.subject_id, f.sequence) for f in report.findings} == {(subject, None)}
    assert verify_alerts(desk, [subject]).findings == report.findings
    # the series' next alert goes on from its head: the gap stays visible
    run = watch_risk(desk, daily_series(FIRST_RISE[6]), RiskRule(method="cusum"), name="c")
    assert [e.sequence for e in run.events] == [3]
    assert (3, "stored at position 2: an event is missing or out of order") in {
        (f.sequence, f.problem) for f in verify_alerts(desk).findings
    }
    desk.close()


def test_a_binomial_watch_is_not_stopped_by_a_return_on_a_day_without_sales() -> None:
    days = FIRST_RISE[6] + 1
    rising = Series("SKU-1", "return", START, counts_per_day()[:days], [100] * days)
    returns = [0] * days
    sales = [20.0] * days
    returns[50], sales[50] = 1, 0.0  # a Sunday: nothing sold, one return came back
    other = Series("SKU-2", "return", START, returns, sales)
    desk = Desk(clock=FrozenClock(morning_after(DAYS)))
    run = watch_risk(desk, [rising, other], RiskRule(method="binomial"), name="returns")
    assert [a.key for a in run.alerts] == ["SKU-1"]


def test_two_series_are_two_subjects() -> None:
    assert alert_subject_id("return", "SKU-1") != alert_subject_id("repair", "SKU-1")


def test_series_whose_names_contain_colons_are_two_subjects() -> None:
    assert alert_subject_id("A", "B:C") != alert_subject_id("A:B", "C")
    assert alert_subject_id("return", "SKU:1") == "risk:return:SKU:1"  # still readable


def test_a_customer_sender_on_every_event_is_not_failed_by_alerts() -> None:
    desk = Desk(clock=FrozenClock(morning_after(DAYS)))
    mail = MemorySender()
    desk.subscribe(SenderHandler(mail, recipient=customer_recipients(desk, "email")), name="mail")
    assert len(watch_risk(desk, daily_series(FIRST_RISE[6]), name="returns").alerts) == 1
    desk.flush()  # a delivery is acknowledged with the next commit or a flush
    assert [(n.status, n.last_error) for n in desk.outbox()] == [(DeliveryStatus.DELIVERED, None)]
    assert mail.sent == []  # an alert has no customer to tell


def test_a_series_gone_for_longer_than_every_window_is_forgotten_without_repeats() -> None:
    desk = Desk(clock=FrozenClock(morning_after(DAYS)))
    watch = RiskWatch(desk, name="returns")
    retired = Series("RETIRED", "return", START, counts_per_day()[:150])
    raised = watch.run([retired, *daily_series(149)]).alerts
    assert sorted(a.key for a in raised) == ["RETIRED", "SKU-1"]
    # the retired SKU is no longer sold; the rest go on for 110 days (far past 56 + 7 + 7)
    watch.run(daily_series(DAYS - 1))
    assert ("RETIRED", "return", "poisson") not in watch.state().series
    # and forgetting it does not raise its old rise again if its history comes back
    assert watch.run([retired]).alerts == ()


# ------------------------------------------------------------------ sound (these hold)


def test_a_crash_after_the_commit_delivers_the_alert_once_and_never_raises_it_again(
    tmp_path: Path,
) -> None:
    """The process dies after the commit, while the hook runs: the outbox row is there,
    a worker delivers it once, and the next run records nothing again."""
    path = tmp_path / "crash.db"
    desk = Desk(SQLiteStore(path), clock=FrozenClock(morning_after(FIRST_RISE[6])))

    def killed(_notification: Notification) -> None:
        raise SystemExit("killed after the commit")

    on_risk_alert(desk, killed, name="buyer")
    with pytest.raises(SystemExit):
        watch_risk(desk, daily_series(FIRST_RISE[6]), name="returns")
    desk.close()

    received: list[Notification] = []
    clock = FrozenClock(morning_after(FIRST_RISE[6]) + timedelta(hours=1))
    worker = Desk(SQLiteStore(path), clock=clock)
    on_risk_alert(worker, received.append, name="buyer")
    assert worker.dispatch_outbox().delivered == 1
    assert worker.dispatch_outbox().delivered == 0
    assert [n.key for n in received] == ["risk:return:SKU-1:1:buyer"]
    assert watch_risk(worker, daily_series(FIRST_RISE[8]), name="returns").alerts == ()
    worker.flush()
    assert [n.status for n in worker.outbox()] == [DeliveryStatus.DELIVERED]
    worker.close()


def test_a_refused_actor_from_the_directory_stores_nothing_and_is_logged() -> None:
    agent = Principal("agent-7", frozenset({"agent"}))
    desk = Desk(
        permissions=default_permissions(),
        principals=MemoryDirectory([agent]),
        clock=FrozenClock(morning_after(DAYS)),
    )
    with pytest.raises(PermissionDenied):
        watch_risk(desk, daily_series(FIRST_RISE[6]), name="returns", actor="agent-7")
    assert desk.store.get_state("aftersales.risk_watch:returns") is None
    assert desk.store.events(alert_subject_id("return", "SKU-1")) == []
    assert desk.outbox() == []
    assert [(e.kind, e.principal) for e in desk.security_log()] == [("refused", "agent-7")]
    # the system's scheduled run then records the alert
    assert len(watch_risk(desk, daily_series(FIRST_RISE[6]), name="returns").alerts) == 1


@pytest.mark.parametrize("kind", ["memory", "sqlite", "sqlalchemy", "recorder"])
def test_case_series_counts_utc_days_at_midnight_on_every_store(kind: str, tmp_path: Path) -> None:
    """Returns just before and at midnight UTC, and one stamped in another timezone, count
    on their UTC day on every store; the day after the period is left out."""
    first = date(2024, 3, 4)
    clock = FrozenClock(at(first, 9))
    desk = Desk(make_store(kind, tmp_path), clock=clock)
    east = timezone(timedelta(hours=8))
    for number, when in enumerate(
        (
            at(first),  # the first instant of the first day
            at(first, 23, 59, 59, 999_999),  # the last instant of the first day
            at(first + timedelta(days=1)),  # the second day
            datetime(2024, 3, 6, 7, 30, tzinfo=east),  # 2024-03-05 23:30 UTC
            at(first + timedelta(days=2)),  # the day after the period
        )
    ):
        clock.set(when)
        open_return(desk, "JACKET-M", f"o-{number}")
    made = case_series(
        desk.store, "return", first_day=first, last_day=first + timedelta(days=1), skus=["QUIET"]
    )
    assert [(s.key, s.counts) for s in made] == [("JACKET-M", (2, 2)), ("QUIET", (0, 0))]
    desk.close()


def test_sales_of_zero_and_skus_without_cases_give_series_that_alert_on_nothing() -> None:
    desk = Desk(clock=FrozenClock(at(START, 9)))
    sales: dict[str, list[float]] = {"NEW": [0.0] * 90, "SOLD": [10.0] * 90}
    made = case_series(
        desk.store, "return", first_day=START, last_day=START + timedelta(days=89), exposure=sales
    )
    assert [(s.key, sum(s.counts), s.exposure and sum(s.exposure)) for s in made] == [
        ("NEW", 0, 0.0),
        ("SOLD", 0, 900.0),
    ]
    assert watch_risk(desk, made, name="returns").alerts == ()


def test_an_alerts_time_given_in_another_timezone_is_recorded_in_utc() -> None:
    desk = Desk(clock=FrozenClock(morning_after(DAYS)))
    local = datetime(2024, 4, 17, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    run = watch_risk(desk, daily_series(FIRST_RISE[6]), name="returns", now=local)
    (event,) = run.events
    assert event.at == local
    assert event.at.tzinfo == timezone.utc


def test_the_state_a_run_stores_is_what_the_next_run_reads(tmp_path: Path) -> None:
    desk = Desk(SQLiteStore(tmp_path / "state.db"), clock=FrozenClock(morning_after(DAYS)))
    run = watch_risk(desk, daily_series(FIRST_RISE[6]), name="returns")
    stored = desk.store.get_state("aftersales.risk_watch:returns")
    assert stored is not None
    assert AlertState.from_json(stored) == run.state
    assert run.state.in_alert() == [("SKU-1", "return", "poisson")]
    desk.close()


def test_a_store_without_a_faster_path_counts_cases_of_the_kind_past_one_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through find_cases (no period filter): every page of the kind is read, however
    old its cases, and only the period's are counted."""
    from aftersales.insights import _watch_series

    monkeypatch.setattr(_watch_series, "PAGE", 2)
    clock = FrozenClock(at(START, 9))
    desk = Desk(clock=clock)
    open_return(desk, "JACKET-M", "o-1")
    open_return(desk, "JACKET-M", "o-2")
    today = START + timedelta(days=400)
    clock.set(at(today, 9))
    slow = ByProtocol(desk.store)
    made = case_series(slow, "return", first_day=today, last_day=today)  # type: ignore[arg-type]
    assert made == []  # the old returns are read, and outside the period
    for order in ("o-3", "o-4", "o-5"):
        open_return(desk, "JACKET-M", order)
    paged = case_series(slow, "return", first_day=today, last_day=today)  # type: ignore[arg-type]
    assert paged == case_series(desk.store, "return", first_day=today, last_day=today)
    assert paged != []


class ByProtocol:
    """A store by protocol only: no faster path knows it."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)
