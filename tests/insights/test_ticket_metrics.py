"""Ticket KPIs (:func:`aftersales.insights.metrics.ticket_metrics`): every metric of a small
fixed history checked against values worked out by hand, and every store (MemoryStore,
SQLiteStore, SQLAlchemyStore on SQLite, PostgreSQL and MariaDB, and a store read through
its public API only) giving the same report on it and on a generated history.

PostgreSQL and MariaDB are taken from AFTERSALES_TEST_POSTGRES_URL and
AFTERSALES_TEST_MYSQL_URL (defaults: this machine's loopback servers); without them
those stores skip, naming the variable (in CI they fail instead).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from insight_stores import MAKERS, filled, sqlalchemy_sqlite

from aftersales import (
    Customer,
    Desk,
    FrozenClock,
    InvalidInput,
    MemoryStore,
    SQLiteStore,
    StorageError,
    Store,
)
from aftersales.insights import _ticket_memory, _ticket_sql
from aftersales.insights import metrics as metrics_module
from aftersales.insights.history import generate_history
from aftersales.insights.metrics import (
    DurationStats,
    ReportQuery,
    Satisfaction,
    TicketReport,
    TicketReportRow,
    ticket_metrics,
)
from aftersales.storage.recorder import MemoryRecorder, RecordStore

UTC = timezone.utc
MARCH_2 = datetime(2026, 3, 2, tzinfo=UTC)  # the queried week: March 2 to 9
MARCH_9 = datetime(2026, 3, 9, tzinfo=UTC)
FEBRUARY_23 = datetime(2026, 2, 23, tzinfo=UTC)  # the week before
GENERATED_START = datetime(2026, 6, 1, tzinfo=UTC)
GENERATED_DAYS = 60

HOUR, DAY = 3600, 86400

# ----------------------------------------------------------------------- the fixed history

Step = tuple[int, str]  # (seconds after the ticket's creation, what happens)
PREP = "classify, assign, start"


def at(day: int, hour: int, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


# name: (created, channel, team or None, category, priority, steps)
HISTORY: dict[str, tuple[datetime, str, str | None, str | None, str, list[Step]]] = {
    # the queried week
    "t1": (MARCH_2, "email", "repairs", "repair_warranty", "high",
           [(0, PREP), (600, "reply"), (HOUR, "resolve"), (2 * HOUR, "confirm")]),
    "t2": (at(2, 10), "email", "repairs", "repair_warranty", "high",
           [(0, PREP), (1800, "reply"), (2 * DAY, "resolve")]),
    "t3": (at(3, 9), "email", "repairs", "repair_warranty", "high",
           [(0, PREP), (HOUR, "reply"), (3 * HOUR, "resolve"), (DAY, "reopen"),
            (2 * DAY, "resolve")]),
    "t4": (at(3, 12), "email", "repairs", "repair_warranty", "high",
           [(0, PREP), (1200, "wait"), (DAY, "resume"), (DAY + HOUR, "resolve")]),
    "t5": (at(4, 8), "phone", "billing", "billing_invoice", "normal",
           [(0, PREP), (300, "reply"), (900, "resolve")]),
    "t6": (at(4, 9), "phone", "billing", "billing_invoice", "normal",
           [(0, PREP), (2 * HOUR, "reply")]),
    "t7": (at(8, 20), "phone", "billing", "billing_invoice", "normal", [(0, "classify, assign")]),
    "t8": (at(5, 10), "phone", None, None, "normal", [(HOUR, "cancel")]),
    "t9": (at(6, 10), "web_chat", "repairs", "repair_warranty", "high",
           [(0, PREP), (HOUR, "reply"), (4 * HOUR, "resolve"), (5 * HOUR, "confirm"),
            (DAY, "close")]),
    "t10": (at(8, 10), "phone", "billing", "billing_invoice", "normal",
            [(0, PREP), (63, "reply"), (16 * HOUR, "resolve")]),
    # the week before, and older
    "t11": (at(24, 9, 2), "email", "repairs", "repair_warranty", "high",
            [(0, PREP), (HOUR, "reply"), (DAY, "resolve")]),
    "t12": (at(25, 9, 2), "phone", "billing", "billing_invoice", "normal",
            [(0, PREP), (600, "wait"), (6 * DAY - HOUR, "resume"), (6 * DAY, "resolve")]),
    "t13": (at(1, 9, 2), "email", "repairs", "repair_warranty", "high",
            [(0, "classify, assign")]),
    "t14": (at(26, 12, 2), "email", "repairs", "repair_warranty", "high",
            [(0, "classify, assign"), (6 * DAY, "cancel")]),
    # created when the queried week ends: in no count
    "t15": (MARCH_9, "email", "repairs", "repair_warranty", "high",
            [(0, PREP), (60, "reply")]),
    # older, resolved March 4 11:00 and reopened March 10 10:00 (its resolved_at cleared):
    # open at March 2, not at March 4 12:00 nor at March 9, open again from March 10
    "t16": (at(10, 9, 2), "email", "repairs", "repair_warranty", "high",
            [(0, PREP), (22 * DAY + 2 * HOUR, "resolve"), (28 * DAY + HOUR, "reopen")]),
}  # fmt: skip


def write_fixed_history(desk: Desk, clock: FrozenClock) -> None:
    for name, (created, channel, team, category, priority, steps) in HISTORY.items():
        clock.set(created)
        ticket = desk.open_ticket(customer=f"customer-{name}", channel=channel, subject=name)
        for offset, step in steps:
            clock.set(created + timedelta(seconds=offset))
            if step.startswith("classify"):
                assert category is not None
                desk.classify(ticket.id, category=category, severity="low", priority=priority)
                desk.assign(ticket.id, assignee=f"agent-{team}", team=team)
                if step == PREP:
                    desk.fire(ticket.id, "start")
            elif step == "reply":
                desk.add_message(ticket.id, "On it", author_id="agent")
            else:
                trigger = {"wait": "wait_for_customer"}.get(step, step)
                payload = {"resolve": {"resolution": "done"}, "reopen": {"reason": "again"},
                           "cancel": {"reason": "duplicate"}}.get(step)  # fmt: skip
                desk.fire(ticket.id, trigger, payload=payload)


# ----------------------------------------------------------------------- the stores


def populated(kind: str, folder: Path) -> Store:
    """A store holding the fixed history, then a generated one after it (created from
    June on, so it adds nothing to the fixed history's counts)."""
    return filled(kind, folder, write_histories)


def write_histories(store: Store) -> None:
    clock = FrozenClock(HISTORY["t4"][0])
    desk = Desk(store, clock=clock)
    write_fixed_history(desk, clock)
    clock.set(GENERATED_START)
    generate_history(desk, tickets=300, start=GENERATED_START, days=GENERATED_DAYS, seed=20)


@pytest.fixture(scope="module", params=list(MAKERS))
def any_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    store = populated(request.param, tmp_path_factory.mktemp(request.param))
    yield store
    store.close()


@pytest.fixture(scope="module")
def reference() -> Store:
    """The same histories on a MemoryStore, the report every store must give."""
    return populated("memory", Path("."))


def week(**options: Any) -> ReportQuery:
    return ReportQuery(created_from=MARCH_2, created_to=MARCH_9, **options)


def approx(value: float) -> Any:
    return pytest.approx(value)


def only_row(report: TicketReport) -> TicketReportRow:
    (row,) = report.rows
    assert row.group is None
    return row


# ----------------------------------------------------------------------- hand-computed


def test_every_metric_of_the_fixed_week_matches_the_hand_computed_value(any_store: Store) -> None:
    row = only_row(ticket_metrics(any_store, week()))
    metrics = row.current
    assert (metrics.period_from, metrics.period_to) == (MARCH_2, MARCH_9)
    # created in [March 2, March 9): t1 (at March 2 00:00 exactly) to t10; not t15 (March 9)
    assert metrics.created == 10
    # resolved: t1 t2 t3 t4 t5 t9 t10 (t6 t7 open, t8 cancelled)
    assert metrics.resolved == 7
    # reopened: t3; rate 1/7
    assert (metrics.reopened, metrics.reopen_rate) == (1, approx(1 / 7))
    # first contact: t1 t2 t5 t9 t10 (t3 reopened, t4 waited on the customer)
    assert metrics.first_contact_resolved == 5
    assert metrics.first_contact_resolution_rate == pytest.approx(5 / 7)
    # First responses (seconds, bucket floor(4 log2(s + 1))): t10 63 (24), t5 300 (32),
    # t1 600 (36), t4 1200 (40, entering waiting on the customer), t2 1800 (43),
    # t3 and t9 3600 (47), t6 7200 (51). Median: rank 4 of 8 ends bucket 40, which holds
    # 1023-1216 s: 1023 + 1/1 * (1217 - 1023) = 1217. p90: rank 7.2 is 0.2 into bucket 51
    # (6888-8190 s): 6888 + 0.2 * 1303 = 7148.6.
    first = metrics.first_response
    assert (first.count, first.median_seconds, first.p90_seconds) == (8, 1217.0, approx(7148.6))
    assert first.histogram == ((24, 1), (32, 1), (36, 1), (40, 1), (43, 1), (47, 2), (51, 1))
    # Resolutions: t5 900 (39), t1 3600 (47), t9 14400 (55), t10 57600 (63), t4 90000 (65),
    # t2 and t3 172800 (69; t3's latest resolution, 2 days after creation). Median: rank
    # 3.5, half into bucket 63 (55108-65534 s): 55108 + 0.5 * 10427 = 60321.5. p90: rank
    # 6.3, 1.3 of bucket 69's 2 (155871-185362 s): 155871 + 0.65 * 29492 = 175040.8.
    resolution = metrics.resolution
    assert (resolution.count, resolution.median_seconds) == (7, 60321.5)
    assert resolution.p90_seconds == approx(175040.8)
    assert resolution.histogram == ((39, 1), (47, 1), (55, 1), (63, 1), (65, 1), (69, 2))
    # Open at March 9 00:00: t7 (4 hours old), t10 (14 hours; resolved at 02:00 after),
    # t6 (4 days 15 hours), t13 (35 days 15 hours). Not t16, resolved March 4 (reopened
    # only after).
    assert metrics.backlog.as_of == MARCH_9
    assert (metrics.backlog.open, metrics.backlog.ageing) == (4, (2, 0, 1, 0, 1))
    assert row.previous is None
    assert row.change is None
    assert ticket_metrics(any_store, week()).total == row


def test_the_previous_week_and_the_change(any_store: Store) -> None:
    row = only_row(ticket_metrics(any_store, week(compare_previous=True)))
    before = row.previous
    assert before is not None
    assert row.change is not None
    assert (before.period_from, before.period_to) == (FEBRUARY_23, MARCH_2)
    # created February 23 to March 2: t11 t12 t14 (t13 is older); resolved t11 t12; first
    # contact t11 only (t12 waited on the customer)
    assert (before.created, before.resolved, before.reopened, before.reopen_rate) == (3, 2, 0, 0)
    assert (before.first_contact_resolved, before.first_contact_resolution_rate) == (1, 0.5)
    # first responses t12 600 (36), t11 3600 (47): median rank 1 ends bucket 36 (511-607
    # s): 608; p90 rank 1.8 is 0.8 into bucket 47 (3444-4094 s): 3444 + 0.8 * 651
    assert before.first_response.count == 2
    assert before.first_response.median_seconds == pytest.approx(608.0)
    assert before.first_response.p90_seconds == pytest.approx(3964.8)
    # resolutions t11 86400 (65: 77935-92680 s), t12 518400 (75: 440871-524286 s)
    assert before.resolution.median_seconds == pytest.approx(92681.0)
    assert before.resolution.p90_seconds == pytest.approx(440871 + 0.8 * 83416)
    # open at March 2 00:00: t12 (resolved March 3) 4 days 15 hours, t14 (cancelled
    # March 4) 3 days 12 hours, t16 (resolved March 4) 19 days 15 hours, t13 28 days 15
    # hours; t1, created at that instant, is not
    assert before.backlog.as_of == MARCH_2
    assert (before.backlog.open, before.backlog.ageing) == (4, (0, 0, 2, 2, 0))
    change = row.change
    assert (change.created, change.resolved, change.reopened) == (7, 5, 1)
    assert change.reopen_rate == pytest.approx(1 / 7)
    assert change.first_contact_resolved == 4
    assert change.first_contact_resolution_rate == pytest.approx(5 / 7 - 0.5)
    assert change.first_response_median_seconds == pytest.approx(1217.0 - 608.0)
    assert change.first_response_p90_seconds == pytest.approx(7148.6 - 3964.8)
    assert change.resolution_median_seconds == pytest.approx(60321.5 - 92681.0)
    assert change.resolution_p90_seconds == pytest.approx(175040.8 - 507603.8)
    assert change.backlog == 0


def test_rows_per_team_with_tickets_without_a_team_last(any_store: Store) -> None:
    report = ticket_metrics(any_store, week(group_by="team", compare_previous=True))
    assert [row.group for row in report.rows] == ["billing", "repairs", None]
    billing, repairs, no_team = (row.current for row in report.rows)
    # billing: t5 t6 t7 t10; resolved t5 (900 s) t10 (57600 s), both at first contact;
    # first responses t10 63 (24), t5 300 (32), t6 7200 (51): median 1.5 ranks in, half
    # into bucket 32 (255-303 s): 279.5
    assert (billing.created, billing.resolved, billing.first_contact_resolved) == (4, 2, 2)
    assert billing.first_response.median_seconds == pytest.approx(279.5)
    assert billing.first_response.p90_seconds == pytest.approx(6888 + 0.7 * 1303)
    assert billing.resolution.median_seconds == pytest.approx(1023.0)
    assert (billing.backlog.open, billing.backlog.ageing) == (3, (2, 0, 1, 0, 0))
    # repairs: t1 t2 t3 t4 t9, all resolved, t3 reopened, t4 waited; resolutions 3600
    # (47), 14400 (55), 90000 (65), 172800 twice (69): median rank 2.5 is half into
    # bucket 65 (77935-92680 s)
    assert (repairs.created, repairs.resolved, repairs.reopened) == (5, 5, 1)
    assert (repairs.first_contact_resolved, repairs.reopen_rate) == (3, 0.2)
    assert repairs.first_response.median_seconds == pytest.approx(1722 + 0.5 * 325)
    assert repairs.resolution.median_seconds == pytest.approx(85308.0)
    assert repairs.resolution.p90_seconds == pytest.approx(155871 + 0.75 * 29492)
    assert (repairs.backlog.open, repairs.backlog.ageing) == (1, (0, 0, 0, 0, 1))
    # no team: t8, cancelled before anyone had it
    assert (no_team.created, no_team.resolved, no_team.backlog.open) == (1, 0, 0)
    assert (no_team.reopen_rate, no_team.first_contact_resolution_rate) == (None, None)
    assert no_team.resolution == DurationStats(0, None, None, ())
    # the week before: repairs t11 t14 (t13 and t16 open since February), billing t12
    previous = {row.group: row.previous for row in report.rows}
    assert previous["repairs"] is not None
    assert previous["billing"] is not None
    assert (previous["repairs"].created, previous["repairs"].backlog.open) == (2, 3)
    assert (previous["billing"].created, previous["billing"].backlog.open) == (1, 1)
    # the total is the ungrouped report
    ungrouped = only_row(ticket_metrics(any_store, week(compare_previous=True)))
    assert report.total == ungrouped


def test_rows_per_channel_category_and_priority(any_store: Store) -> None:
    def created(group_by: str) -> dict[str | None, int]:
        report = ticket_metrics(any_store, week(group_by=group_by))
        return {row.group: row.current.created for row in report.rows}

    assert created("channel") == {"email": 4, "phone": 5, "web_chat": 1}
    assert created("category") == {"billing_invoice": 4, "repair_warranty": 5, None: 1}
    assert created("priority") == {"high": 5, "normal": 5}


def test_filters_keep_the_tickets_with_any_of_their_values(any_store: Store) -> None:
    email_or_chat = only_row(ticket_metrics(any_store, week(channel=["email", "web_chat"])))
    repairs = ticket_metrics(any_store, week(group_by="team")).rows[1]
    assert repairs.group == "repairs"
    assert email_or_chat.current == repairs.current
    billing = only_row(ticket_metrics(any_store, week(team="billing", priority="normal")))
    assert (billing.current.created, billing.current.backlog.open) == (4, 3)
    nothing = only_row(ticket_metrics(any_store, week(team="billing", category="repair_warranty")))
    assert (nothing.current.created, nothing.current.backlog.open) == (0, 0)


def test_backlog_measured_at_another_instant(any_store: Store) -> None:
    # March 4 12:00: open are t6 (3 hours old), t4 (resolved at 13:00; 1 day old exactly,
    # so in 1-3 days), t3 (1 day 3 hours: reopened at 09:00 and resolved again March 5, so
    # its first resolution is forgotten), t13 (31 days). Not t14, cancelled at 12:00 exactly,
    # nor t2, resolved at 10:00, nor t16, resolved at 11:00 (its reopening on March 10
    # cleared its resolved_at: it was resolved then all the same).
    row = only_row(ticket_metrics(any_store, week(as_of=at(4, 12))))
    assert row.current.backlog.as_of == at(4, 12)
    assert (row.current.backlog.open, row.current.backlog.ageing) == (4, (1, 2, 0, 0, 1))


def test_a_ticket_resolved_in_the_week_and_reopened_after_it_is_not_in_its_backlog(
    any_store: Store,
) -> None:
    # t16 (opened February 10) was resolved March 4 11:00 and reopened March 10: last
    # week's backlog must not change after the fact. Its reopening cleared resolved_at,
    # so only its history tells; t16 alone would fall in 7-30 days at these instants.
    for as_of, ageing in ((at(4, 12), (1, 2, 0, 0, 1)), (MARCH_9, (2, 0, 1, 0, 1))):
        backlog = only_row(ticket_metrics(any_store, week(as_of=as_of))).current.backlog
        assert (backlog.open, backlog.ageing) == (4, ageing)
    repairs = ticket_metrics(any_store, week(team="repairs", compare_previous=True)).total
    assert repairs.current.backlog.open == 1  # t13
    assert repairs.previous is not None
    assert repairs.previous.backlog.open == 3  # t13, t14 and t16, not yet resolved
    # the trend's slices alike; and once reopened it is open again: at March 16 t6, t7,
    # t15 (7 days or more) and t13, t16 (30 days or more)
    ends = [at(4, 12), MARCH_9, at(16, 0)]
    query = ReportQuery(created_from=MARCH_2, created_to=ends[-1])
    trend = metrics_module.slice_metrics(any_store, query, ends)
    assert [(point.backlog.open, point.backlog.ageing) for point in trend] == [
        (4, (1, 2, 0, 0, 1)),
        (4, (2, 0, 1, 0, 1)),
        (5, (0, 0, 0, 3, 2)),
    ]


# ----------------------------------------------------------------------- every store agrees

AGREEMENT_QUERIES: list[dict[str, Any]] = [
    {"group_by": group_by, "compare_previous": compare}
    for group_by in ("none", "channel", "category", "priority", "team")
    for compare in (False, True)
] + [
    {"channel": ["email", "phone"], "group_by": "team"},
    {"as_of": GENERATED_START},
    {"group_by": "product", "compare_previous": True},
    {"group_by": "tier", "compare_previous": True},
    {"tier": ["gold", "silver"], "group_by": "channel"},
    {"product": ["PHONE-X1", "KETTLE-K3"], "tier": "standard", "group_by": "tier"},
]


@pytest.mark.parametrize("options", AGREEMENT_QUERIES, ids=str)
def test_every_store_gives_the_reference_report_on_the_generated_history(
    any_store: Store, reference: Store, options: dict[str, Any]
) -> None:
    query = ReportQuery(
        created_from=GENERATED_START + timedelta(days=20),
        created_to=GENERATED_START + timedelta(days=GENERATED_DAYS),
        **options,
    )
    report = ticket_metrics(any_store, query)
    assert report == ticket_metrics(reference, query)
    assert report.total.current.created > 20  # the generated history is there
    assert report.total.current.satisfaction.rated > 0


def test_every_store_gives_the_reference_report_on_the_fixed_history(
    any_store: Store, reference: Store
) -> None:
    for options in AGREEMENT_QUERIES:
        if "as_of" in options:
            continue
        query = week(**options)
        assert ticket_metrics(any_store, query) == ticket_metrics(reference, query)


TREND_QUERIES: list[dict[str, Any]] = [
    {},
    {"channel": ["email", "phone"], "team": "repairs", "compare_previous": True},
    {"group_by": "team"},
]


@pytest.mark.parametrize("options", TREND_QUERIES, ids=str)
def test_a_trend_counts_each_slice_as_a_report_on_that_slice(
    any_store: Store, reference: Store, options: dict[str, Any]
) -> None:
    # the slices of a trend are counted in one pass: each must be what a report of its
    # own (ungrouped, its backlog at its end) says, on every store
    start = GENERATED_START - timedelta(days=100)  # the fixed history, then the generated
    ends = [start + timedelta(days=days) for days in (40, 95, 99, 100, 130, 160)]
    query = ReportQuery(created_from=start, created_to=ends[-1], **options)
    trend = metrics_module.slice_metrics(any_store, query, ends)
    expected = tuple(
        ticket_metrics(
            reference,
            query.model_copy(
                update={
                    "created_from": slice_from,
                    "created_to": slice_to,
                    "as_of": slice_to,
                    "group_by": "none",
                    "compare_previous": False,
                }
            ),
        ).total.current
        for slice_from, slice_to in zip([start, *ends[:-1]], ends, strict=True)
    )
    assert trend == expected
    assert sum(point.created for point in trend) > 20
    assert any(point.backlog.open for point in trend)


@pytest.mark.parametrize(
    "options", [{}, {"channel": "email"}, {"group_by": "channel"}, {"as_of": MARCH_9}], ids=str
)
def test_a_report_of_one_period_is_the_sum_of_its_trend_slices(
    any_store: Store, reference: Store, options: dict[str, Any]
) -> None:
    # an ungrouped report whose backlog is measured at its end is counted from its
    # slices alone: the same report as counted on its own
    start = GENERATED_START - timedelta(days=100)
    ends = [start + timedelta(days=days) for days in (40, 100, 130)]
    query = ReportQuery(created_from=start, created_to=ends[-1], **options)
    tickets, trend = metrics_module.report_metrics(any_store, query, ends)
    assert tickets == ticket_metrics(reference, query)
    assert trend == metrics_module.slice_metrics(reference, query, ends)
    assert metrics_module.report_metrics(any_store, query, []) == (tickets, ())


def test_a_store_read_page_by_page_counts_every_page(
    reference: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    public = RecordStore(MemoryRecorder())
    clock = FrozenClock(MARCH_2)
    write_fixed_history(Desk(public, clock=clock), clock)
    monkeypatch.setattr(_ticket_memory, "PAGE", 4)
    offsets = []
    find = public.find

    def recorded(asked: Any) -> Any:
        offsets.append(asked.offset)
        return find(asked)

    monkeypatch.setattr(public, "find", recorded)
    query = week(compare_previous=True, group_by="channel", channel="phone")
    assert ticket_metrics(public, query) == ticket_metrics(reference, query)
    assert len(offsets) > 1
    assert set(offsets) == {0}  # by cursor: an offset page reads every row before it


def test_only_a_store_without_a_faster_path_is_read_ticket_by_ticket(
    any_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(store: Store, plan: object) -> None:
        raise AssertionError("read ticket by ticket")

    monkeypatch.setattr(metrics_module, "store_tally", refuse)
    if type(any_store) is RecordStore:
        with pytest.raises(AssertionError, match="ticket by ticket"):
            ticket_metrics(any_store, week())
    else:  # SQL in the database, or MemoryStore's own objects
        assert only_row(ticket_metrics(any_store, week())).current.created == 10


def test_sqlite_without_math_functions_counts_in_python(
    any_store: Store, reference: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_ticket_sql, "sqlite_dialect", lambda execute: None)
    query = week(group_by="team", compare_previous=True)
    assert ticket_metrics(any_store, query) == ticket_metrics(reference, query)


def test_sqlite_before_unixepoch_counts_with_strftime(
    any_store: Store, reference: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = _ticket_sql.Dialect(_ticket_sql.STRFTIME)
    monkeypatch.setattr(_ticket_sql, "sqlite_dialect", lambda execute: older)
    for options in ({"group_by": "channel", "compare_previous": True}, {"as_of": at(4, 12)}):
        query = week(**options)
        assert ticket_metrics(any_store, query) == ticket_metrics(reference, query)


def test_the_sqlite_dialect_follows_what_the_build_has() -> None:
    def missing(name: str) -> Callable[[str], object]:
        def execute(sql: str) -> object:
            if name in sql:
                raise RuntimeError(f"no such function: {name}")
            return None

        return execute

    assert _ticket_sql.sqlite_dialect(missing("log2")) is None
    older = _ticket_sql.sqlite_dialect(missing("unixepoch"))
    assert older is not None
    assert "strftime" in older.micros("a", "b")
    newer = _ticket_sql.sqlite_dialect(missing("nothing"))
    assert newer is not None
    assert "unixepoch" in newer.micros("a", "b")
    assert "strftime" not in newer.micros("a", "b")


def test_a_failing_database_raises_storage_error(tmp_path: Path) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    store = sqlalchemy_sqlite(tmp_path)
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'sa.db'}")
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("DROP TABLE events"))
    engine.dispose()
    with pytest.raises(StorageError, match="ticket metrics failed"):
        ticket_metrics(store, week())
    store.close()


# ----------------------------------------------------------------------- edges


@pytest.mark.parametrize("kind", ["memory", "sqlite", "sqlalchemy-sqlite", "public-api"])
def test_an_empty_store_gives_zeros_and_nones(kind: str, tmp_path: Path) -> None:
    store = MAKERS[kind](tmp_path)
    report = ticket_metrics(store, week(compare_previous=True))
    row = only_row(report)
    for metrics in (row.current, row.previous):
        assert metrics is not None
        assert (metrics.created, metrics.resolved, metrics.reopened) == (0, 0, 0)
        assert (metrics.reopen_rate, metrics.first_contact_resolution_rate) == (None, None)
        assert metrics.first_response == DurationStats(0, None, None, ())
        assert (metrics.backlog.open, metrics.backlog.ageing) == (0, (0, 0, 0, 0, 0))
    assert row.change is not None
    assert row.change.resolution_median_seconds is None
    grouped = ticket_metrics(store, week(group_by="team"))
    assert grouped.rows == ()
    assert grouped.total.current.created == 0
    store.close()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"created_to": MARCH_2}, ("created_to",)),
        ({"created_to": FEBRUARY_23}, ("created_to",)),
        ({"created_from": datetime(2026, 3, 2)}, ("created_from",)),
        ({"as_of": datetime(2026, 3, 9)}, ("as_of",)),
        ({"group_by": "customer"}, ("group_by",)),
        ({"channel": "pigeon"}, ("channel", 0)),
        ({"team": []}, ("team",)),
        ({"category": ""}, ("category", 0)),
        ({"unknown": 1}, ("unknown",)),
        ({"compare_previous": "maybe"}, ("compare_previous",)),
    ],
)
def test_a_bad_query_raises_invalid_input_naming_the_field(
    options: dict[str, Any], field: tuple[object, ...]
) -> None:
    values: dict[str, Any] = {"created_from": MARCH_2, "created_to": MARCH_9, **options}
    with pytest.raises(InvalidInput) as raised:
        ReportQuery(**values)
    assert any(error.location[: len(field)] == field for error in raised.value.errors)


def test_the_query_must_be_a_report_query() -> None:
    with pytest.raises(InvalidInput, match="ReportQuery"):
        ticket_metrics(MemoryStore(), {"created_from": MARCH_2})  # type: ignore[arg-type]


def test_as_of_defaults_to_the_end_of_the_period_and_instants_become_utc() -> None:
    china = timezone(timedelta(hours=8))
    query = ReportQuery(created_from=MARCH_2.astimezone(china), created_to=MARCH_9, team=("x",))
    assert (query.as_of, query.backlog_at, query.created_from.tzinfo) == (MARCH_9, MARCH_9, UTC)
    assert query.team == ("x",)
    assert query.length == timedelta(days=7)


def test_durations_fall_in_log_spaced_buckets() -> None:
    bucket = _ticket_memory.duration_bucket
    # floor(4 log2(s + 1)): 0 s -> 0, 1 s -> 4, 3 s -> 8, 7 s -> 12 (exact powers of two
    # land on their bucket), 63 s -> 24; under a second is 0 s; negative counts as 0
    assert [bucket(s * 1_000_000) for s in (0, 1, 3, 7, 63)] == [0, 4, 8, 12, 24]
    assert bucket(999_999) == 0
    assert bucket(-5_000_000) == 0
    # bucket 24 holds 63 s to 75 s; every bucket is at most 19% (or one second) wide
    assert (_ticket_memory.bucket_floor(24), _ticket_memory.bucket_floor(25)) == (63, 76)
    for k in range(1, 120):
        low, high = _ticket_memory.bucket_floor(k), _ticket_memory.bucket_floor(k + 1)
        assert high - low <= max(1, 0.19 * (low + 1)) + 1
        assert low == high or bucket(low * 1_000_000) == k == bucket((high - 1) * 1_000_000)


def test_a_fraction_just_under_a_second_is_not_rounded_up_on_sqlite(tmp_path: Path) -> None:
    # SQLite parses times to the millisecond, rounding: 0.9997 s must not become 1 s more
    clock = FrozenClock(datetime(2024, 3, 4, 9, 0, 0, 999_700, tzinfo=timezone.utc))
    stores = [MemoryStore(), SQLiteStore(tmp_path / "desk.db")]
    reports = []
    for store in stores:
        desk = Desk(store, clock=FrozenClock(clock.now()))
        ticket = desk.open_ticket(customer="c-1", channel="email", subject="Kettle")
        desk.clock.advance(timedelta(seconds=2, microseconds=500))  # type: ignore[attr-defined]
        desk.add_message(ticket.id, "On it", author_id="agent-1")
        query = ReportQuery(
            created_from=datetime(2024, 3, 4, tzinfo=timezone.utc),
            created_to=datetime(2024, 3, 5, tzinfo=timezone.utc),
        )
        reports.append(ticket_metrics(store, query).total.current.first_response.histogram)
    assert reports[0] == reports[1]


# ----------------------------------------------------------------------- product, tier, CSAT

# name: (customer, SKU of the order line or None, satisfaction given at follow-up or None)
RATED: dict[str, tuple[str, str | None, int | None]] = {
    "a": ("c-gold", "K-1", 5),
    "b": ("c-gold", "K-2", 4),
    "c": ("c-silver", "K-1", 2),
    "d": ("c-plain", None, None),  # still open
    "e": ("c-unknown", "K-1", 3),  # a customer with no record
    "f": ("c-silver", "K-2", None),  # resolved, confirmed, never rated
}


@pytest.fixture(scope="module", params=list(MAKERS))
def rated_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    store = filled(request.param, tmp_path_factory.mktemp(f"rated-{request.param}"), write_rated)
    yield store
    store.close()


def write_rated(store: Store) -> None:
    clock = FrozenClock(MARCH_2)
    desk = Desk(store, clock=clock)
    for customer, tier in (("c-gold", "gold"), ("c-silver", "silver"), ("c-plain", None)):
        store.save_customer(Customer(id=customer, name=customer, tier=tier))
    for name, (customer, sku, score) in RATED.items():
        clock.advance(hours=1)
        line = None if sku is None else {"order_id": f"o-{name}", "line_id": "1", "sku": sku}
        ticket = desk.open_ticket(customer=customer, channel="email", subject=name, order_line=line)
        if sku is None:
            continue
        desk.classify(ticket.id, category="repair_warranty", severity="low")
        desk.assign(ticket.id, assignee="agent", team="repairs")
        desk.fire(ticket.id, "start")
        desk.fire(ticket.id, "resolve", payload={"resolution": "done"})
        desk.fire(ticket.id, "confirm")
        if score is not None:
            desk.fire(ticket.id, "follow_up", payload={"satisfaction": score})


def groups(report: TicketReport) -> dict[str | None, tuple[int, int, float | None, float | None]]:
    """Per group: created, rated, mean score, CSAT."""
    return {
        row.group: (
            row.current.created,
            row.current.satisfaction.rated,
            row.current.satisfaction.mean_score,
            row.current.satisfaction.csat,
        )
        for row in report.rows
    }


def test_satisfaction_counts_the_scores_given_for_the_period_tickets(rated_store: Store) -> None:
    satisfaction = only_row(ticket_metrics(rated_store, week())).current.satisfaction
    # rated: a 5, b 4, c 2, e 3 (d and f gave none): mean 14 / 4, CSAT 2 of 4 (a and b)
    assert satisfaction == Satisfaction(scores=(0, 1, 1, 1, 1), rated=4, mean_score=3.5, csat=0.5)
    before = ticket_metrics(rated_store, week(compare_previous=True)).total
    assert before.change is not None
    assert (before.change.rated, before.change.mean_score, before.change.csat) == (4, None, None)


def test_rows_per_product_and_per_customer_tier(rated_store: Store) -> None:
    by_product = groups(ticket_metrics(rated_store, week(group_by="product")))
    assert by_product == {
        "K-1": (3, 3, approx(10 / 3), approx(1 / 3)),  # a 5, c 2, e 3
        "K-2": (2, 1, 4.0, 1.0),  # b 4, f unrated
        None: (1, 0, None, None),  # d: no order line
    }
    by_tier = groups(ticket_metrics(rated_store, week(group_by="tier")))
    assert by_tier == {
        "gold": (2, 2, 4.5, 1.0),
        "silver": (2, 1, 2.0, 0.0),
        None: (2, 1, 3.0, 0.0),  # d (a customer without a tier), e (no customer record)
    }


def test_product_and_tier_filters_keep_the_tickets_with_any_of_their_values(
    rated_store: Store,
) -> None:
    def created(**options: Any) -> int:
        return only_row(ticket_metrics(rated_store, week(**options))).current.created

    assert created(product="K-1") == 3
    assert created(product=["K-1", "K-2"]) == 5
    assert created(tier="gold") == 2
    assert created(tier=["gold", "silver"]) == 4
    assert created(tier="gold", product="K-2") == 1
    assert created(tier="platinum") == 0
    backlog = only_row(ticket_metrics(rated_store, week(tier="gold"))).current.backlog
    assert backlog.open == 0  # d, the open one, is not gold
    assert only_row(ticket_metrics(rated_store, week(product="K-9"))).current.backlog.open == 0


def test_satisfaction_figures_from_counts_per_score() -> None:
    assert Satisfaction.of({}) == Satisfaction((0, 0, 0, 0, 0), 0, None, None)
    assert Satisfaction.of({1: 1, 5: 3}) == Satisfaction((1, 0, 0, 0, 3), 4, 4.0, 0.75)
