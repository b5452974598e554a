"""Risk alerts that act (issue 20): a watch run every day records each new alert once, as
an event on its series and a notification to its hooks, stays quiet while the rise lasts,
alerts again when it comes back after clearing, keeps its state in the store across
desks, and stores nothing on bad input or a failed commit. And the daily series built
from the store's cases, counted the same on every store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from insight_stores import SERVERS, filled

from aftersales import ConcurrencyError, Desk, FrozenClock, InvalidInput
from aftersales.insights import (
    RISK_ALERT,
    RISK_KIND,
    Alert,
    AlertState,
    RateShift,
    RiskRule,
    RiskWatch,
    Series,
    alert_subject_id,
    case_series,
    generate_history,
    on_risk_alert,
    render_alert,
    verify_alerts,
    watch_risk,
)
from aftersales.models import CaseKind, Channel, Event
from aftersales.notify import DeliveryStatus, Notification
from aftersales.notify.senders import MemorySender, Recipient, SenderHandler, render_plain
from aftersales.storage import MemoryStore, SQLiteStore, Store
from aftersales.storage.recorder import MemoryRecorder, RecordStore

START = date(2024, 1, 1)
WEEK = (4, 5, 6, 5, 4, 6, 5)
"""A quiet week of returns: 35 a week, 5 a day on average."""
FIRST_RISE = range(100, 115)
SECOND_RISE = range(200, 215)
DAYS = 260


def counts_per_day() -> list[int]:
    """260 days of a SKU's returns: the quiet week over and over, three times as many on
    days 100-114 and again on days 200-214 (long after the first rise left the
    baseline)."""
    counts = [WEEK[day % 7] for day in range(DAYS)]
    for day in (*FIRST_RISE, *SECOND_RISE):
        counts[day] *= 3
    return counts


def quiet_per_day() -> list[int]:
    return [WEEK[day % 7] for day in range(DAYS)]


def morning_after(day: int) -> datetime:
    """When the daily run that judges ``day`` happens: the next morning."""
    return datetime.combine(START + timedelta(days=day + 1), datetime.min.time(), timezone.utc)


def daily_series(day: int) -> list[Series]:
    """What a run on the morning after ``day`` sees: every day up to ``day``."""
    return [
        Series("SKU-1", "return", START, counts_per_day()[: day + 1]),
        Series("SKU-2", "return", START, quiet_per_day()[: day + 1]),
    ]


def run_days(
    desk: Desk, days: range, received: list[Notification] | None = None
) -> dict[int, list[Alert]]:
    """Run the watch every morning for ``days``; the alerts recorded each day it raised
    some. The hook filling ``received`` has been called by the time each run returns."""
    raised = {}
    for day in days:
        before = None if received is None else len(received)
        run = watch_risk(desk, daily_series(day), name="returns", now=morning_after(day))
        if received is not None and before is not None:
            assert len(received) - before == len(run.alerts)
        if run.alerts:
            raised[day] = list(run.alerts)
    return raised


def when_and_what(alert: Alert) -> tuple[date, str, str]:
    return (alert.window_end, alert.key, alert.kind)


@pytest.fixture
def desk() -> Desk:
    return Desk(clock=FrozenClock(morning_after(DAYS)))


def test_a_rise_is_one_event_and_one_notification_then_nothing_while_it_lasts(
    desk: Desk,
) -> None:
    received: list[Notification] = []
    on_risk_alert(desk, received.append, name="buyer")
    raised = run_days(desk, range(70, DAYS), received)

    assert list(raised) != []
    first, second = sorted(raised)
    assert first in FIRST_RISE[:7]  # the rise is seen within its first week
    assert second in SECOND_RISE[:7]  # and again when it comes back after clearing
    assert [[a.key for a in raised[first]], [a.key for a in raised[second]]] == [["SKU-1"]] * 2
    events = desk.store.events(alert_subject_id("return", "SKU-1"))
    assert [(e.sequence, e.trigger, e.at) for e in events] == [
        (1, RISK_ALERT, morning_after(first)),
        (2, RISK_ALERT, morning_after(second)),
    ]
    assert [n.event for n in received] == events
    assert [n.key for n in received] == ["risk:return:SKU-1:1:buyer", "risk:return:SKU-1:2:buyer"]
    assert desk.store.events(alert_subject_id("return", "SKU-2")) == []
    # a delivery is acknowledged with the next commit (here the second alert's) or a flush
    assert [n.status for n in desk.outbox()] == [DeliveryStatus.DELIVERED, DeliveryStatus.PENDING]
    desk.flush()
    assert [n.status for n in desk.outbox()] == [DeliveryStatus.DELIVERED] * 2


def test_daily_runs_raise_what_one_run_over_the_whole_history_raises(desk: Desk) -> None:
    on_the_day = run_days(desk, range(70, DAYS))
    at_once = watch_risk(Desk(), daily_series(DAYS - 1), name="returns")
    on_the_day_alerts = [a for alerts in on_the_day.values() for a in alerts]
    assert sorted(on_the_day_alerts, key=when_and_what) == sorted(at_once.alerts, key=when_and_what)


def test_the_event_names_the_series_baseline_observed_value_and_evidence(desk: Desk) -> None:
    run = watch_risk(desk, daily_series(FIRST_RISE[6]), name="returns")
    (alert,) = run.alerts
    (event,) = run.events
    assert (event.subject_id, event.subject_kind, event.actor) == (
        "risk:return:SKU-1",
        RISK_KIND,
        "system",
    )
    assert (event.from_state, event.to_state) == (None, "alerted")
    payload = event.payload
    assert payload == {"watch": "returns", **alert.to_dict()}
    assert (payload["key"], payload["kind"], payload["method"]) == ("SKU-1", "return", "poisson")
    assert payload["baseline"] == pytest.approx(5.0)  # the quiet weeks: 5 a day
    assert payload["expected"] == pytest.approx(35.0)
    assert payload["observed"] > payload["expected"]
    assert payload["statistic"] <= payload["limit"] == 0.001
    assert payload["evidence"].startswith(f"P(X >= {payload['observed']} | Poisson(35)) = ")
    assert payload["severity"] == alert.severity.value
    assert desk.store.events(event.subject_id) == [event]


def test_the_alert_events_are_sealed_into_the_series_audit_chain(desk: Desk) -> None:
    run_days(desk, range(70, DAYS))
    subject = alert_subject_id("return", "SKU-1")
    events = desk.store.events(subject)
    chain = desk.pipeline.chain
    assert chain.verify(subject, events, events[-1].chain, len(events)) == []
    tampered = [events[0].model_copy(update={"payload": {"observed": 1}}), events[1]]
    assert chain.verify(subject, tampered, events[-1].chain, len(events)) != []


@pytest.mark.parametrize("kind", ["memory", "sqlite", "sqlalchemy", "recorder", "postgresql"])
def test_verify_alerts_checks_each_series_against_the_head_written_with_its_alerts(
    kind: str, tmp_path: Path
) -> None:
    desk = Desk(make_store(kind, tmp_path), clock=FrozenClock(morning_after(DAYS)))
    run_days(desk, range(70, DAYS))
    watch_risk(desk, daily_series(FIRST_RISE[6]), RiskRule(method="cusum"), name="charts")
    subject = alert_subject_id("return", "SKU-1")
    events = desk.store.events(subject)
    assert [e.sequence for e in events] == [1, 2, 3]
    assert desk.store.get_state(f"aftersales.risk_series:{subject}") == json.dumps(
        {"sequence": 3, "chain": events[-1].chain}
    )
    report = verify_alerts(desk)
    assert (report.ok, report.subjects, report.events, report.unchained) == (True, 1, 3, 0)
    assert verify_alerts(desk, [subject]) == report
    with pytest.raises(InvalidInput):
        verify_alerts(desk, [alert_subject_id("return", "SKU-2")])  # never alerted
    with pytest.raises(InvalidInput):
        verify_alerts(desk, subject)  # type: ignore[arg-type]
    if isinstance(desk.store, MemoryStore):
        desk.store._events[subject].pop()  # the latest alert removed
        assert [(f.sequence, f.problem) for f in verify_alerts(desk).findings] == [
            (None, "has version 3 but 2 events"),
            (None, "its last events were removed or replaced (the head does not match)"),
        ]
        del desk.store._state[f"aftersales.risk_series:{subject}"]
        assert [f.problem for f in verify_alerts(desk).findings] == [
            "has no head: it was removed or replaced"
        ]
    desk.close()


def test_the_state_survives_a_new_desk_on_the_same_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "watch.db"
    received: list[Notification] = []
    with Desk.sqlite(path) as desk:
        on_risk_alert(desk, received.append, name="buyer")
        before = run_days(desk, range(70, FIRST_RISE[10]), received)
        state = RiskWatch(desk, name="returns").state()
    assert len(before) == 1
    with Desk.sqlite(path) as desk:
        assert RiskWatch(desk, name="returns").state() == state
        on_risk_alert(desk, received.append, name="buyer")
        after = run_days(desk, range(FIRST_RISE[10], DAYS), received)
        assert [n.event.sequence for n in received] == [1, 2]
        assert desk.store.get_state("aftersales.risk_watch:returns") == (
            RiskWatch(desk, name="returns").state().to_json()
        )
    assert len(after) == 1  # the rise that lasted was not raised again; its return was
    assert min(after) in SECOND_RISE


def test_each_watch_keeps_its_own_state(desk: Desk) -> None:
    series = daily_series(FIRST_RISE[6])
    assert len(watch_risk(desk, series, name="returns").alerts) == 1
    assert len(watch_risk(desk, series, name="returns").alerts) == 0
    charts = watch_risk(desk, series, RiskRule(method="cusum"), name="charts")
    assert [a.method for a in charts.alerts] == ["cusum"]
    events = desk.store.events(alert_subject_id("return", "SKU-1"))
    assert [(e.sequence, e.payload["watch"]) for e in events] == [(1, "returns"), (2, "charts")]
    assert set(
        AlertState.from_json(desk.store.get_state("aftersales.risk_watch:charts") or "").series
    ) == {
        ("SKU-1", "return", "cusum"),
        ("SKU-2", "return", "cusum"),
    }


def test_several_rules_run_in_one_watch_each_with_its_own_cool_down(desk: Desk) -> None:
    rules = [RiskRule(), RiskRule(method="ewma")]
    first = watch_risk(desk, daily_series(FIRST_RISE[6]), rules, name="both")
    assert sorted(a.method for a in first.alerts) == ["ewma", "poisson"]
    assert watch_risk(desk, daily_series(FIRST_RISE[8]), rules, name="both").alerts == ()


def test_a_failing_hook_is_retried_like_every_notification(desk: Desk) -> None:
    calls: list[int] = []

    def flaky(notification: Notification) -> None:
        calls.append(notification.event.sequence)
        if len(calls) == 1:
            raise RuntimeError("mail server down")

    on_risk_alert(desk, flaky, name="mailer")
    run = watch_risk(desk, daily_series(FIRST_RISE[6]), name="returns")
    assert len(run.alerts) == 1
    assert calls == [1]
    (row,) = desk.outbox("pending")
    assert (row.attempts, row.last_error) == (1, "RuntimeError: mail server down")
    report = desk.dispatch_outbox(morning_after(DAYS) + timedelta(hours=1))
    assert (report.delivered, calls) == (1, [1, 1])


def test_a_sender_mails_each_alert_with_its_evidence(desk: Desk) -> None:
    mail = MemorySender()
    quality = Recipient(Channel.EMAIL, "quality@shop.example")
    handler = SenderHandler(mail, recipient={RISK_KIND: lambda _: quality}, render=render_alert)
    on_risk_alert(desk, handler, name="mail-quality")
    run = watch_risk(desk, daily_series(FIRST_RISE[6]), name="returns")
    (alert,) = run.alerts
    (message,) = mail.sent
    assert (message.recipient.address, message.key) == (
        "quality@shop.example",
        "risk:return:SKU-1:1:mail-quality",
    )
    assert message.body == (
        f"SKU-1 return: {alert.observed} from {alert.window_start} to {alert.window_end}, "
        f"35.0 expected (warning; {alert.evidence})"
    )
    ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle leaks")
    opened = desk.store.events(ticket.id)[0]
    assert render_alert(opened, quality) == render_plain(opened, quality)


def test_a_desk_with_permissions_records_the_alerts_of_its_scheduled_work() -> None:
    from aftersales.security import default_permissions

    desk = Desk(permissions=default_permissions(), clock=FrozenClock(morning_after(DAYS)))
    run = watch_risk(desk, daily_series(FIRST_RISE[6]), name="returns")
    assert [e.actor for e in run.events] == ["system"]
    assert desk.store.events(alert_subject_id("return", "SKU-1")) == list(run.events)


def test_a_subscriber_to_every_event_gets_the_alerts_too(desk: Desk) -> None:
    everything: list[Event] = []
    desk.subscribe(lambda n: everything.append(n.event), name="audit-log")
    watch_risk(desk, daily_series(FIRST_RISE[6]), name="returns")
    assert [e.trigger for e in everything] == [RISK_ALERT]


def test_a_failed_commit_stores_nothing_and_the_next_run_raises_the_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "crash.db")
    desk = Desk(store, clock=FrozenClock(morning_after(DAYS)))
    received: list[Notification] = []
    on_risk_alert(desk, received.append, name="buyer")
    atomically = store.recorder.atomically

    def crash_before_commit(work: Any, **options: Any) -> Any:
        def then_crash(records: Any) -> Any:
            work(records)
            raise OSError("disk unplugged")

        return atomically(then_crash, **options)

    monkeypatch.setattr(store.recorder, "atomically", crash_before_commit)
    with pytest.raises(Exception, match="disk unplugged"):
        watch_risk(desk, daily_series(FIRST_RISE[6]), name="returns")
    assert (store.get_state("aftersales.risk_watch:returns"), store.outbox(), received) == (
        None,
        [],
        [],
    )
    assert store.events(alert_subject_id("return", "SKU-1")) == []
    monkeypatch.undo()
    run = watch_risk(desk, daily_series(FIRST_RISE[6]), name="returns")
    assert [e.sequence for e in run.events] == [1]
    assert [n.event for n in received] == list(run.events)
    desk.close()


def two_desks(kind: str, folder: Path) -> tuple[Desk, Desk]:
    """Two desks on one store (a MemoryStore shared, or two connections to one file)."""
    clock = FrozenClock(morning_after(DAYS))
    if kind == "memory":
        shared = MemoryStore()
        return Desk(shared, clock=clock), Desk(shared, clock=clock)
    if kind == "postgresql":
        from aftersales.storage.sqlalchemy import SQLAlchemyStore

        first = make_store(kind, folder)
        assert isinstance(first, SQLAlchemyStore)
        return Desk(first, clock=clock), Desk(
            SQLAlchemyStore(first.engine.url.render_as_string(hide_password=False)), clock=clock
        )
    return Desk(SQLiteStore(folder / "race.db"), clock=clock), Desk.sqlite(folder / "race.db")


def race_after_first_read(store: Store, method: str, race: Any) -> list[str]:
    """Make ``race()`` commit right after the first call of ``store.<method>`` (inside the
    next run, between a read and its commit); the calls are listed in what it returns."""
    calls: list[str] = []
    read = getattr(store, method)

    def read_then_lose(*args: Any) -> Any:
        value = read(*args)
        calls.append(method)
        if len(calls) == 1:
            race()
        return value

    setattr(store, method, read_then_lose)
    return calls


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgresql"])
def test_two_runs_of_one_watch_at_once_record_the_alert_once(kind: str, tmp_path: Path) -> None:
    """A run that loses the race to another run of the same watch judges again on the
    state the other one stored: the alert is recorded once."""
    desk, other = two_desks(kind, tmp_path)
    series = daily_series(FIRST_RISE[6])
    other_run: list[Alert] = []
    race_after_first_read(
        desk.store,
        "get_state",
        lambda: other_run.extend(watch_risk(other, series, name="returns").alerts),
    )
    assert watch_risk(desk, series, name="returns").alerts == ()
    assert len(other_run) == 1
    assert [e.sequence for e in desk.store.events(alert_subject_id("return", "SKU-1"))] == [1]
    other.close()
    desk.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgresql"])
def test_two_watches_on_one_series_at_once_take_its_sequence_in_turn(
    kind: str, tmp_path: Path
) -> None:
    """Another watch records an alert on the series after this run read the series'
    events: this run's commit is refused on the sequence, and it is judged again."""
    desk, other = two_desks(kind, tmp_path)
    series = daily_series(FIRST_RISE[6])
    calls = race_after_first_read(
        desk.store,
        "events",
        lambda: watch_risk(other, series, RiskRule(method="cusum"), name="charts"),
    )
    run = watch_risk(desk, series, name="returns")
    assert len(calls) >= 2  # the series' events read again
    events = desk.store.events(alert_subject_id("return", "SKU-1"))
    assert [(e.sequence, e.payload["watch"]) for e in events] == [(1, "charts"), (2, "returns")]
    assert list(run.events) == events[1:]
    chain = desk.pipeline.chain
    assert chain.verify(events[0].subject_id, events, events[-1].chain, 2) == []
    other.close()
    desk.close()


def test_a_series_key_too_long_for_an_id_gets_a_hashed_subject(desk: Desk) -> None:
    key = "SKU-" + "x" * 124
    subject = alert_subject_id("return", key)
    assert subject.startswith("risk:")
    assert len(subject) == 5 + 64
    assert subject != alert_subject_id("repair", key)
    run = watch_risk(desk, [Series(key, "return", START, counts_per_day()[:107])])
    assert [(e.subject_id, e.payload["key"]) for e in run.events] == [(subject, key)]


def test_a_handler_name_is_taken_once_per_desk(desk: Desk) -> None:
    def page_the_buyer(notification: Notification) -> None:
        """A handler with a stable default name (module and qualified name)."""

    subscription = on_risk_alert(desk, page_the_buyer)
    assert subscription.name.endswith("page_the_buyer")
    with pytest.raises(InvalidInput, match="is subscribed"):
        on_risk_alert(desk, page_the_buyer)
    with pytest.raises(InvalidInput):
        on_risk_alert(object(), page_the_buyer)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda d: watch_risk(d, [Series("S", "return", START, [1])] * 2), ("series", 1)),
        (lambda d: watch_risk(d, ["not a series"]), ("series", 0)),  # type: ignore[list-item]
        (lambda d: watch_risk(d, Series("S", "return", START, [1])), ("series",)),  # type: ignore[arg-type]
        (lambda d: watch_risk(d, daily_series(120), [RiskRule(), RiskRule()]), ("rules",)),
        (lambda d: watch_risk(d, daily_series(120), []), ("rules",)),
        (lambda d: watch_risk(d, daily_series(120), ["poisson"]), ("rules", 0)),  # type: ignore[list-item]
        (lambda d: watch_risk(d, daily_series(120), name=""), ("name",)),
        (lambda d: watch_risk(d, daily_series(120), now=datetime(2024, 5, 1)), ("now",)),
        (lambda d: watch_risk(d, daily_series(120), RiskRule(method="binomial")), ("exposure",)),
        (lambda d: watch_risk("desk", daily_series(120)), ("desk",)),  # type: ignore[arg-type]
        (lambda d: on_risk_alert(d, "not callable"), ("handler",)),  # type: ignore[arg-type]
    ],
)
def test_bad_input_raises_invalid_input_and_stores_nothing(
    desk: Desk, call: Any, field: tuple[object, ...]
) -> None:
    received: list[Notification] = []
    on_risk_alert(desk, received.append, name="buyer")
    with pytest.raises(InvalidInput) as raised:
        call(desk)
    assert raised.value.errors[0].location == field
    assert desk.store.get_state("aftersales.risk_watch:default") is None
    assert desk.store.events(alert_subject_id("return", "SKU-1")) == []
    assert (desk.outbox(), received) == ([], [])


def test_a_store_the_watch_cannot_write_on_in_one_transaction_is_refused() -> None:
    assert isinstance(RiskWatch(Desk(RecordStore(MemoryRecorder())), name="w").state(), AlertState)
    with pytest.raises(InvalidInput, match="a risk watch writes on a MemoryStore"):
        RiskWatch(Desk(ByProtocol(MemoryStore())))


class ByProtocol:
    """A store by protocol only (every method the wrapped store's): no faster path knows
    it, and the watch cannot write its events on it."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


# ------------------------------------------------------------------ series from the store

HISTORY_START = datetime(2024, 3, 4, tzinfo=timezone.utc)
HISTORY_DAYS = 56
SHIFT = RateShift("JACKET-M", "return", from_day=35, factor=5.0)
RULE = RiskRule(baseline_windows=21, min_expected=0.5, significance=0.01)


def make_store(kind: str, folder: Path) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SQLiteStore(folder / "history.db")
    if kind == "recorder":
        return RecordStore(MemoryRecorder())
    if kind == "postgresql":
        from test_sqlalchemy_store import fresh_store, server_url  # type: ignore[import-not-found]

        made: Store = fresh_store(server_url(kind))
        return made
    pytest.importorskip("sqlalchemy")
    from aftersales.storage.sqlalchemy import SQLAlchemyStore

    return SQLAlchemyStore(f"sqlite:///{folder / 'sa.db'}")


def write_history(store: Store) -> Desk:
    """The generated history with a shift, on a desk whose clock it leaves at its end."""
    desk = Desk(store, clock=FrozenClock(HISTORY_START))
    generate_history(desk, tickets=400, start=HISTORY_START, days=HISTORY_DAYS, seed=7, shift=SHIFT)
    return desk


@pytest.fixture(scope="module", params=["memory", "sqlite", "sqlalchemy", "recorder", "postgresql"])
def history_desk(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Desk]:
    """A generated history with a shift, once per store (the tests only add alerts)."""
    folder = tmp_path_factory.mktemp("history")
    if request.param in ("sqlite", "recorder", *SERVERS):  # one SQLite file, copied
        kind = "public-api" if request.param == "recorder" else request.param
        store = filled(kind, folder, write_history)
        desk = Desk(store, clock=FrozenClock(HISTORY_START + timedelta(days=HISTORY_DAYS)))
    else:
        desk = write_history(make_store(request.param, folder))
    assert desk.clock.now() == HISTORY_START + timedelta(days=HISTORY_DAYS)
    yield desk
    desk.close()


def by_hand(store: Store, kind: str) -> dict[str, dict[date, int]]:
    """Cases of ``kind`` per first SKU (else their ticket's) and UTC creation day,
    counted case by case."""
    counted: dict[str, dict[date, int]] = {}
    for case in store.find_cases(_all_cases()):
        sku = next((line.sku for line in case.lines if line.sku), None)
        if sku is None:
            line = store.get(case.ticket_id).order_line
            sku = None if line is None else line.sku
        if case.kind.value == kind and sku is not None:
            day = case.created_at.astimezone(timezone.utc).date()
            counted.setdefault(sku, {}).setdefault(day, 0)
            counted[sku][day] += 1
    return counted


def _all_cases() -> Any:
    from aftersales.storage import CaseQuery

    return CaseQuery(limit=10_000)


def test_case_series_counts_a_kinds_cases_per_sku_and_day_on_every_store(
    history_desk: Desk,
) -> None:
    first = HISTORY_START.date()
    last = first + timedelta(days=HISTORY_DAYS + 10)  # cases opened after the last arrival
    for kind in ("return", "repair", "complaint"):
        made = case_series(history_desk.store, kind, first_day=first, last_day=last)
        expected = by_hand(history_desk.store, kind)
        slow = case_series(ByProtocol(history_desk.store), kind, first_day=first, last_day=last)
        assert slow == made
        assert [s.key for s in made] == sorted(expected)
        for series in made:
            assert (series.kind, series.start, len(series.counts)) == (kind, first, 67)
            assert series.exposure is None
            assert {
                first + timedelta(days=i): n for i, n in enumerate(series.counts) if n
            } == expected[series.key]


def test_case_series_takes_the_skus_tickets_as_exposure(history_desk: Desk) -> None:
    first = HISTORY_START.date()
    made = case_series(
        history_desk.store,
        CaseKind.RETURN,
        first_day=first,
        last_day=first + timedelta(days=HISTORY_DAYS - 1),
        exposure="tickets",
        skus=["NEVER-SOLD"],
    )
    slow = case_series(
        ByProtocol(history_desk.store),
        CaseKind.RETURN,
        first_day=first,
        last_day=first + timedelta(days=HISTORY_DAYS - 1),
        exposure="tickets",
        skus=["NEVER-SOLD"],
    )
    assert slow == made
    tickets = history_desk.find(limit=10_000)
    for series in made:
        assert series.exposure is not None
        per_day = [0.0] * HISTORY_DAYS
        for ticket in tickets:
            if ticket.order_line is not None and ticket.order_line.sku == series.key:
                per_day[(ticket.created_at.date() - first).days] += 1
        assert list(series.exposure) == per_day
    assert made[[s.key for s in made].index("NEVER-SOLD")].counts == (0,) * HISTORY_DAYS


def test_a_watch_on_the_stores_series_raises_the_injected_shift_once(
    history_desk: Desk,
) -> None:
    """Run every morning of the history's last four weeks on the series the store gives:
    the SKU whose returns were raised five-fold from day 35 alerts once, after the shift,
    and the daily runs raise exactly what one run at the end would."""
    received: list[Notification] = []
    on_risk_alert(history_desk, received.append, name="quality")
    first = HISTORY_START.date()
    raised: list[Alert] = []
    for day in range(28, HISTORY_DAYS):
        series = case_series(
            history_desk.store,
            "return",
            first_day=first,
            last_day=first + timedelta(days=day),
            exposure="tickets",
        )
        run = watch_risk(
            history_desk, series, RULE, name="returns", now=HISTORY_START + timedelta(days=day + 1)
        )
        raised.extend(run.alerts)
    jacket = [a for a in raised if a.key == "JACKET-M"]
    assert len(jacket) == 1
    assert (jacket[0].window_end - first).days >= SHIFT.from_day
    assert [n.event.payload["key"] for n in received] == [a.key for a in raised]
    at_once = watch_risk(Desk(), series, RULE, name="returns")
    assert sorted(at_once.alerts, key=when_and_what) == sorted(raised, key=when_and_what)


def test_case_series_with_sales_gives_a_series_per_sku_sold(desk: Desk) -> None:
    sales: dict[str, list[float]] = {"SKU-A": [100] * 7, "SKU-B": [50.5] * 7}
    made = case_series(
        desk.store, "return", first_day=START, last_day=START + timedelta(days=6), exposure=sales
    )
    assert [(s.key, s.counts, s.exposure) for s in made] == [
        ("SKU-A", (0,) * 7, (100.0,) * 7),
        ("SKU-B", (0,) * 7, (50.5,) * 7),
    ]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"kind": ""}, ("kind",)),
        ({"first_day": datetime(2024, 1, 1, tzinfo=timezone.utc)}, ("first_day",)),
        ({"last_day": START - timedelta(days=1)}, ("last_day",)),
        ({"last_day": START + timedelta(days=4000)}, ("last_day",)),
        ({"exposure": "sales"}, ("exposure",)),
        ({"exposure": {"SKU-A": [1, 2]}}, ("exposure", "SKU-A")),
        ({"exposure": {"SKU-A": [1, -2, 3]}}, ("exposure", "SKU-A", 1)),
        ({"exposure": {"SKU-A": "123"}}, ("exposure", "SKU-A")),
        ({"exposure": {"": [1, 2, 3]}}, ("exposure",)),
        ({"skus": "SKU-A"}, ("skus",)),
        ({"skus": ["SKU-A", 3]}, ("skus", 1)),
    ],
)
def test_case_series_refuses_bad_arguments(
    desk: Desk, arguments: dict[str, Any], field: tuple[object, ...]
) -> None:
    given: dict[str, Any] = {
        "kind": "return",
        "first_day": START,
        "last_day": START + timedelta(days=2),
        **arguments,
    }
    kind = given.pop("kind")
    with pytest.raises(InvalidInput) as raised:
        case_series(desk.store, kind, **given)
    assert raised.value.errors[0].location == field


def test_concurrency_error_is_raised_after_every_attempt_lost(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aftersales.insights import _watch_commit

    def always_moved(*_args: Any) -> None:
        raise ConcurrencyError("aftersales.risk_watch:returns", 0, None)

    monkeypatch.setattr(_watch_commit, "write", always_moved)
    with pytest.raises(ConcurrencyError):
        watch_risk(desk, daily_series(FIRST_RISE[6]), name="returns")
    assert desk.store.get_state("aftersales.risk_watch:returns") is None
