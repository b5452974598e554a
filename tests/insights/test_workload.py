"""Workload and next response times (:mod:`aftersales.insights.workload`): every figure
of a small fixed history checked against values worked out by hand, and every store
(MemoryStore, SQLiteStore, SQLAlchemyStore on SQLite, PostgreSQL and MariaDB, and a store
read through its public API only) giving the same reports on it and on a generated
history with time logged and replies added.

PostgreSQL and MariaDB are taken from AFTERSALES_TEST_POSTGRES_URL and
AFTERSALES_TEST_MYSQL_URL (defaults: this machine's loopback servers); without them
those stores skip, naming the variable (in CI they fail instead).
"""

from __future__ import annotations

import importlib
import random
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from insight_stores import MAKERS, filled, sqlalchemy_sqlite

from aftersales import (
    Desk,
    FrozenClock,
    InvalidInput,
    MemoryStore,
    SQLiteStore,
    StorageError,
    Store,
)
from aftersales.insights import _dwell_sql, _workload_memory, _workload_sql
from aftersales.insights._ticket_sql import Dialect
from aftersales.insights.history import generate_history
from aftersales.insights.metrics import DurationStats
from aftersales.insights.workload import (
    NextResponseQuery,
    NextResponseReport,
    WorkloadQuery,
    WorkloadReport,
    WorkloadRow,
    next_response_times,
    workload,
)
from aftersales.storage import TicketQuery
from aftersales.storage.recorder import MemoryRecorder, RecordStore

UTC = timezone.utc
MARCH_2 = datetime(2026, 3, 2, tzinfo=UTC)  # the queried week: March 2 to 9
MARCH_9 = datetime(2026, 3, 9, tzinfo=UTC)
GENERATED_START = datetime(2026, 6, 1, tzinfo=UTC)
GENERATED_DAYS = 30

# the module itself: the package exports its function under the same name
workload_module = importlib.import_module("aftersales.insights.workload")


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# ----------------------------------------------------------------------- the fixed history
#
# ana works in repairs, bo in billing. Each ticket: (created, channel, team, assignee),
# then its steps at their instants, in order.

TICKETS: dict[str, tuple[datetime, str, str, str]] = {
    "t1": (at(2, 9), "email", "repairs", "ana"),
    "t2": (at(3, 10), "phone", "billing", "bo"),
    "t3": (at(4, 9), "web_chat", "repairs", "ana"),
    "t4": (at(5, 9), "phone", "billing", "bo"),
    "t5": (at(1, 9), "email", "repairs", "ana"),
    "t6": (at(8, 10), "email", "billing", "bo"),
    "t7": (at(25, 9, month=2), "email", "repairs", "ana"),
}

Step = tuple[datetime, str, str, Any]  # (when, ticket, what, detail)
STEPS: list[Step] = [
    # t5, before the week: an hour logged on March 1 is not in it, half an hour is; the
    # bot answers first on March 1, then answers the customer's March 2 08:10 message
    # at 08:12 (120 s)
    (at(1, 10), "t5", "bot", None),
    (at(1, 23), "t5", "log", ("ana", 60)),
    (at(2, 8), "t5", "log", ("ana", 30)),
    (at(2, 8, 10), "t5", "customer", None),
    (at(2, 8, 12), "t5", "bot", None),
    # t1: ana answers at 09:10 (the first response); the customer writes at 10:00, ana
    # replies at 10:45 (2,700 s); an hour logged in two entries; ana resolves it
    (at(2, 9, 10), "t1", "reply", "ana"),
    (at(2, 9, 30), "t1", "log", ("ana", 20)),
    (at(2, 10), "t1", "customer", None),
    (at(2, 10, 45), "t1", "reply", "ana"),
    (at(2, 11), "t1", "log", ("ana", 40)),
    (at(2, 12), "t1", "resolve", "ana"),
    # bo's 5 minutes on t1 once resolved: his entry keeps the state, it resolves nothing
    (at(2, 13), "t1", "log", ("bo", 5)),
    # t2: bo answers at 10:05; the customer writes at 11:00 and 11:01; bo's internal note
    # at 11:30 is no reply; bo replies at 13:00 (7,200 s and 7,140 s); 90 minutes by bo
    # on the ticket, 30 by bo and 15 by ana on its complaint
    (at(3, 10, 5), "t2", "reply", "bo"),
    (at(3, 11), "t2", "customer", None),
    (at(3, 11, 1), "t2", "customer", None),
    (at(3, 11, 30), "t2", "note", "bo"),
    (at(3, 13), "t2", "reply", "bo"),
    (at(3, 13, 5), "t2", "log", ("bo", 90)),
    (at(3, 13, 10), "t2", "complaint", None),
    (at(3, 14), "t2", "log case", ("bo", 30)),
    (at(3, 14, 30), "t2", "log case", ("ana", 15)),
    # t3: the bot answers first; the customer's 09:20 message is never answered
    (at(4, 9), "t3", "bot", None),
    (at(4, 9), "t3", "customer", None),  # at the first response's instant: not after it
    (at(4, 9, 20), "t3", "customer", None),
    (at(4, 9, 25), "t3", "system", None),  # a system message answers nobody
    (at(4, 9, 30), "t3", "log", ("ana", 10)),
    # t4: the customer writes before the first response (not a next response); bo
    # resolves it, the customer reopens it, bo resolves it again (one ticket resolved)
    (at(5, 9, 1), "t4", "customer", None),
    (at(5, 9, 30), "t4", "reply", "bo"),
    (at(5, 12), "t4", "resolve", "bo"),
    (at(6, 9), "t4", "reopen", None),
    (at(6, 10), "t4", "resolve", "bo"),
    # t6: answered at 10:05; the customer's 20:00 message is answered March 9 08:00,
    # after the week (43,200 s); bo's 5 minutes at March 9 00:00 are not in the week
    (at(8, 10, 5), "t6", "reply", "bo"),
    (at(8, 20), "t6", "customer", None),
    (at(9, 0), "t6", "log", ("bo", 5)),
    (at(9, 8), "t6", "reply", "bo"),
    # t7: resolved by ana at the instant the week ends: neither resolved in it nor open
    (at(9, 0), "t7", "resolve", "ana"),
]


def write_fixed_history(desk: Desk, clock: FrozenClock) -> None:
    ids: dict[str, str] = {}
    for name, (created, channel, team, assignee) in sorted(
        TICKETS.items(), key=lambda item: item[1][0]
    ):
        clock.set(created)
        ticket_id = desk.open_ticket(customer=f"c-{name}", channel=channel, subject=name).id
        desk.classify(ticket_id, category="repair_warranty", severity="low")
        desk.assign(ticket_id, assignee=assignee, team=team)
        desk.fire(ticket_id, "start", actor=assignee)
        ids[name] = ticket_id
    complaints: dict[str, str] = {}
    for when, name, what, detail in sorted(STEPS, key=lambda step: step[0]):
        clock.set(when)
        ticket_id = ids[name]
        if what == "log":
            desk.log_time(ticket_id, minutes=detail[1], actor=detail[0])
        elif what == "log case":
            desk.cases.log_time(complaints[name], minutes=detail[1], actor=detail[0])
        elif what == "complaint":
            complaints[name] = desk.cases.open_complaint(ticket_id, summary="Rude").id
        elif what == "reply":
            desk.add_message(ticket_id, "On it", author_id=detail)
        elif what == "note":
            desk.add_message(ticket_id, "Ask billing", author_id=detail, kind="internal_note")
        elif what == "bot":
            desk.add_message(ticket_id, "Try this", author_id="bot", author_role="bot")
        elif what == "system":
            desk.add_message(ticket_id, "Received", author_id="mailer", author_role="system")
        elif what == "customer":
            desk.add_message(ticket_id, "Any news?", author_id=f"c-{name}", author_role="customer")
        elif what == "resolve":
            desk.resolve(ticket_id, resolution="Fixed", actor=detail)
        else:
            assert what == "reopen"
            desk.reopen(ticket_id, reason="Still broken", actor=f"c-{name}")


def add_generated_history(desk: Desk, clock: FrozenClock) -> None:
    """A generated history (from June, after the fixed one) with time logged on its
    tickets and cases and agents' replies (some internal notes) to its customers'
    messages, at times out of order with the events already written."""
    clock.set(GENERATED_START)
    generate_history(desk, tickets=150, start=GENERATED_START, days=GENERATED_DAYS, seed=20)
    rng = random.Random(7)
    for ticket in desk.find(TicketQuery(created_from=GENERATED_START, limit=1000)):
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            clock.set(ticket.created_at + timedelta(minutes=rng.randint(1, 60 * 24 * 8)))
            agent = rng.choice([ticket.assignee or "agent-x", "ana", "bo"])
            desk.log_time(ticket.id, minutes=rng.randint(1, 240), actor=agent)
        for case in desk.cases.for_ticket(ticket.id):
            clock.set(case.created_at + timedelta(minutes=rng.randint(1, 3000)))
            desk.cases.log_time(case.id, minutes=rng.randint(1, 100), actor=rng.choice("ab"))
        for message in desk.messages(ticket.id):
            if message.author_role.value == "customer" and rng.random() < 0.6:
                clock.set(message.at + timedelta(minutes=rng.randint(0, 3000)))
                kind = rng.choice(("public_reply", "public_reply", "internal_note"))
                desk.add_message(ticket.id, "Reply", author_id="ana", kind=kind)
        if rng.random() < 0.3:  # a customer writes again; someone may answer
            clock.set(ticket.created_at + timedelta(hours=rng.randint(1, 24 * 20)))
            desk.add_message(ticket.id, "And?", author_id="c", author_role="customer")
            clock.advance(timedelta(minutes=rng.randint(0, 600)))
            desk.add_message(
                ticket.id, "Here", author_id="bot", author_role=rng.choice(("bot", "system"))
            )
    # a customer message on a duplicate of a duplicate, answered where the merges end
    # (another team's ticket), which is resolved in the period and reopened after it
    clock.set(GENERATED_START + timedelta(days=10))
    chain: list[str] = []
    for team in ("care", "billing", "repairs"):
        chain.append(desk.open_ticket(customer="c", channel="email", subject=team).id)
        desk.classify(chain[-1], category="repair_warranty", severity="low")
        desk.assign(chain[-1], assignee="ana", team=team)
        desk.fire(chain[-1], "start", actor="ana")
        desk.add_message(chain[-1], "Which model?", author_id="ana")
    clock.advance(timedelta(hours=1))
    desk.add_message(chain[0], "KT-200", author_id="c", author_role="customer")
    desk.merge(chain[0], into=chain[1], actor="ana")
    desk.merge(chain[1], into=chain[2], actor="ana")
    clock.advance(timedelta(hours=1))
    desk.add_message(chain[0], "A new lid", author_id="ana")  # written on chain[2]
    clock.set(GENERATED_START + timedelta(days=GENERATED_DAYS - 6))
    desk.resolve(chain[2], resolution="New lid", actor="ana")
    clock.advance(timedelta(days=2))  # after the period the comparisons ask for
    desk.reopen(chain[2], reason="Leaks", actor="c")


# ----------------------------------------------------------------------- the stores


def populated(kind: str, folder: Path) -> Store:
    return filled(kind, folder, write_histories)


def write_histories(store: Store) -> None:
    clock = FrozenClock(at(1, 0, month=2))
    desk = Desk(store, clock=clock)
    write_fixed_history(desk, clock)
    add_generated_history(desk, clock)


@pytest.fixture(scope="module", params=list(MAKERS))
def any_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    store = populated(request.param, tmp_path_factory.mktemp(request.param))
    yield store
    store.close()


@pytest.fixture(scope="module")
def reference() -> Store:
    """The same histories on a MemoryStore: what every store must report."""
    return populated("memory", Path("."))


def week_workload(**options: Any) -> WorkloadQuery:
    return WorkloadQuery(period_from=MARCH_2, period_to=MARCH_9, **options)


def week_responses(**options: Any) -> NextResponseQuery:
    return NextResponseQuery(period_from=MARCH_2, period_to=MARCH_9, **options)


def rows(report: WorkloadReport) -> dict[str | None, WorkloadRow]:
    return {row.group: row for row in report.rows}


def stats(count: int, median: float, p90: float) -> Any:
    return pytest.approx((count, median, p90))


def summary(duration: DurationStats) -> tuple[int, float | None, float | None]:
    return (duration.count, duration.median_seconds, duration.p90_seconds)


# ----------------------------------------------------------------------- hand-computed


def test_each_agents_workload_in_the_fixed_week(any_store: Store) -> None:
    report = workload(any_store, week_workload())
    assert [row.group for row in report.rows] == ["ana", "bo"]
    ana, bo = report.rows
    # ana: t5 30 min (its hour on March 1 is before the week), t1 20 + 40, t3 10, 15 on
    # t2's complaint: 5 entries, 115 min; on tickets t1 t3 t5 and one case
    assert (ana.logged_seconds, ana.entries, ana.tickets, ana.cases) == (6900, 5, 3, 1)
    # handling per ticket (seconds, bucket floor(4 log2(s + 1))): t3 600 (36), t2 900
    # (39, through its complaint), t5 1800 (43), t1 3600 (47). Median: rank 2 ends bucket
    # 39 (861-1022 s): 1023. p90: rank 3.6 is 0.6 into bucket 47 (3444-4094 s):
    # 3444 + 0.6 * 651 = 3834.6
    assert summary(ana.handling) == stats(4, 1023.0, 3834.6)
    assert ana.handling.histogram == ((36, 1), (39, 1), (43, 1), (47, 1))
    # open at March 9 00:00 and hers: t3 and t5 (t1 resolved, t7 resolved at that
    # instant); resolved in the week by her: t1 (t7 at its end is not in it)
    assert (ana.open_assigned, ana.resolved) == (2, 1)
    # bo: 90 min on t2, 30 on its complaint, 5 on t1 (his 5 minutes on t6 are at March 9
    # 00:00); handling t1 300 s (32: 255-303 s), t2 7200 s (51: 6888-8190 s): median rank
    # 1 ends bucket 32, p90 rank 1.8 is 0.8 into bucket 51
    assert (bo.logged_seconds, bo.entries, bo.tickets, bo.cases) == (7500, 3, 2, 1)
    assert summary(bo.handling) == stats(2, 304.0, 6888 + 0.8 * 1303)
    # open: t2 and t6; resolved: t4, twice, counted once
    assert (bo.open_assigned, bo.resolved) == (2, 1)


def test_each_teams_workload_and_everyones(any_store: Store) -> None:
    report = rows(workload(any_store, week_workload(group_by="team")))
    assert list(report) == ["billing", "repairs"]
    billing, repairs = report["billing"], report["repairs"]
    # billing: t2 90 min, its complaint 30 + 15 (ana's help counts on the ticket's team)
    assert (billing.logged_seconds, billing.entries, billing.tickets, billing.cases) == (
        8100,
        3,
        1,
        1,
    )
    assert summary(billing.handling) == stats(1, 7539.5, 8060.7)  # 8100 s, bucket 51
    assert (billing.open_assigned, billing.resolved) == (2, 1)
    # repairs: t1 3900 (47, bo's 5 minutes with ana's hour), t3 600 (36), t5 1800 (43):
    # median rank 1.5, half into bucket 43 (1722-2046 s); p90 rank 2.7, 0.7 into bucket 47
    assert (repairs.logged_seconds, repairs.entries, repairs.tickets, repairs.cases) == (
        6300,
        5,
        3,
        0,
    )
    assert summary(repairs.handling) == stats(3, 1722 + 0.5 * 325, 3444 + 0.7 * 651)
    assert (repairs.open_assigned, repairs.resolved) == (2, 1)
    everyone = workload(any_store, week_workload(group_by="none")).rows
    assert len(everyone) == 1
    (total,) = everyone
    assert total.group is None
    assert (total.logged_seconds, total.entries, total.tickets, total.cases) == (14400, 8, 4, 1)
    # 600 (36), 1800 (43), 3900 (47), 8100 (51): median ends bucket 43 (2047), p90 0.6
    # into bucket 51
    assert summary(total.handling) == stats(4, 2047.0, 6888 + 0.6 * 1303)
    assert (total.open_assigned, total.resolved) == (4, 2)


def test_workload_filters_keep_the_tickets_with_any_of_their_values(any_store: Store) -> None:
    # the phone tickets are t2 and t4: ana's 15 minutes on t2's complaint, bo's t2 work
    phone = rows(workload(any_store, week_workload(channel="phone")))
    assert list(phone) == ["ana", "bo"]
    assert (phone["ana"].logged_seconds, phone["ana"].tickets, phone["ana"].cases) == (900, 0, 1)
    assert (phone["ana"].open_assigned, phone["ana"].resolved) == (0, 0)
    assert summary(phone["ana"].handling) == stats(1, 861 + 0.5 * 162, 861 + 0.9 * 162)
    assert (phone["bo"].logged_seconds, phone["bo"].open_assigned, phone["bo"].resolved) == (
        7200,
        1,
        1,
    )
    repairs = rows(workload(any_store, week_workload(team=["repairs"])))
    assert list(repairs) == ["ana", "bo"]
    assert (repairs["ana"].logged_seconds, repairs["ana"].cases) == (6000, 0)
    assert (repairs["bo"].logged_seconds, repairs["bo"].resolved) == (300, 0)
    both = workload(any_store, week_workload(channel=["email", "phone", "web_chat"]))
    assert both.rows == workload(any_store, week_workload()).rows


def test_next_response_times_in_the_fixed_week(any_store: Store) -> None:
    report = next_response_times(any_store, week_responses())
    assert isinstance(report, NextResponseReport)
    (row,) = report.rows
    assert row.group is None
    assert report.total == row
    # answered: t5 120 s (27, by the bot), t1 2700 s (45), t2 7200 and 7140 s (51 both;
    # bo's note is no reply). Median: rank 2 ends bucket 45 (2435-2895 s): 2896. p90:
    # rank 3.6 is 1.6 of bucket 51's 2 (6888-8190 s): 6888 + 0.8 * 1303. Not counted:
    # t4's message before its first response. Still waiting at March 9: t3's (the bot
    # answered before it, a system message after it) and t6's (answered after the week)
    assert summary(row.next_response) == stats(4, 2896.0, 6888 + 0.8 * 1303)
    assert row.next_response.histogram == ((27, 1), (45, 1), (51, 2))
    assert row.unanswered == 2
    # counted up to March 10, t6's wait ends: 43,200 s (61)
    later = next_response_times(any_store, week_responses(as_of=at(10, 0))).total
    assert later.next_response.histogram == ((27, 1), (45, 1), (51, 2), (61, 1))
    assert later.unanswered == 1


def test_next_response_times_per_team_and_channel(any_store: Store) -> None:
    teams = next_response_times(any_store, week_responses(group_by="team"))
    assert [row.group for row in teams.rows] == ["billing", "repairs"]
    billing, repairs = teams.rows
    assert (billing.next_response.histogram, billing.unanswered) == (((51, 2),), 1)
    assert (repairs.next_response.histogram, repairs.unanswered) == (((27, 1), (45, 1)), 1)
    # median: rank 1 ends bucket 27 (107-126 s); p90: rank 1.8 is 0.8 into bucket 45
    assert summary(repairs.next_response) == stats(2, 127.0, 2435 + 0.8 * 461)
    assert teams.total == next_response_times(any_store, week_responses()).total
    channels = next_response_times(any_store, week_responses(group_by="channel"))
    counts = {row.group: (row.next_response.count, row.unanswered) for row in channels.rows}
    assert counts == {"email": (2, 1), "phone": (2, 0), "web_chat": (0, 1)}
    email = next_response_times(any_store, week_responses(channel="email", team="repairs"))
    assert (email.total.next_response.count, email.total.unanswered) == (2, 0)


# ----------------------------------------------------------------------- every store agrees

WORKLOAD_OPTIONS: list[dict[str, Any]] = [
    {"group_by": group_by} for group_by in ("agent", "team", "none")
] + [
    {"channel": ["email", "phone"], "group_by": "team"},
    {"team": ["care", "repairs"]},
]
RESPONSE_OPTIONS: list[dict[str, Any]] = [
    {"group_by": group_by} for group_by in ("none", "team", "channel")
] + [
    {"as_of": GENERATED_START + timedelta(days=45), "group_by": "team"},
    {"channel": "email", "team": ["care", "repairs"]},
]


def generated(**options: Any) -> dict[str, Any]:
    return {
        "period_from": GENERATED_START + timedelta(days=5),
        "period_to": GENERATED_START + timedelta(days=GENERATED_DAYS - 5),
        **options,
    }


@pytest.mark.parametrize("options", WORKLOAD_OPTIONS, ids=str)
def test_every_store_gives_the_reference_workload_on_the_generated_history(
    any_store: Store, reference: Store, options: dict[str, Any]
) -> None:
    query = WorkloadQuery(**generated(**options))
    report = workload(any_store, query)
    assert report == workload(reference, query)
    assert sum(row.entries for row in report.rows) > 50  # the generated history is there
    assert sum(row.resolved for row in report.rows) > 20


@pytest.mark.parametrize("options", RESPONSE_OPTIONS, ids=str)
def test_every_store_gives_the_reference_response_times_on_the_generated_history(
    any_store: Store, reference: Store, options: dict[str, Any]
) -> None:
    query = NextResponseQuery(**generated(**options))
    report = next_response_times(any_store, query)
    assert report == next_response_times(reference, query)
    assert report.total.next_response.count > 5
    assert report.total.unanswered > 0  # the latest customer messages wait still


def test_every_store_gives_the_reference_reports_on_the_fixed_history(
    any_store: Store, reference: Store
) -> None:
    for options in WORKLOAD_OPTIONS:
        query = week_workload(**options)
        assert workload(any_store, query) == workload(reference, query)
    for options in RESPONSE_OPTIONS[:3]:
        asked = week_responses(**options)
        assert next_response_times(any_store, asked) == next_response_times(reference, asked)


def test_only_a_store_without_a_faster_path_is_read_ticket_by_ticket(
    any_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(store: Store, plan: object) -> None:
        raise AssertionError("read ticket by ticket")

    monkeypatch.setattr(workload_module, "store_workload", refuse)
    monkeypatch.setattr(workload_module, "store_responses", refuse)
    if type(any_store) is RecordStore:
        with pytest.raises(AssertionError, match="ticket by ticket"):
            workload(any_store, week_workload())
        with pytest.raises(AssertionError, match="ticket by ticket"):
            next_response_times(any_store, week_responses())
    else:  # SQL in the database, or MemoryStore's own objects
        assert rows(workload(any_store, week_workload()))["ana"].entries == 5
        assert next_response_times(any_store, week_responses()).total.unanswered == 2


def test_sqlite_without_math_functions_buckets_by_comparisons(
    any_store: Store, reference: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ladder = _dwell_sql.Ladder()
    monkeypatch.setattr(_workload_sql, "_sqlite_dialect", lambda execute: ladder)
    for group_by in ("agent", "team"):
        query = WorkloadQuery(**generated(group_by=group_by))
        assert workload(any_store, query) == workload(reference, query)
    query_responses = NextResponseQuery(**generated(group_by="channel"))
    assert next_response_times(any_store, query_responses) == next_response_times(
        reference, query_responses
    )


def test_the_time_logged_is_read_through_its_partial_index(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "plan.db")
    plan = week_workload()._plan("agent", MARCH_9)
    sql, params = _workload_sql.logged_statement(plan, Dialect())
    conn = sqlite3.connect(tmp_path / "plan.db")
    scoped = {**params, "tenant": ""}
    steps = " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", scoped))
    assert "events_time_logged" in steps
    conn.close()
    store.close()


def test_a_failing_database_raises_storage_error(tmp_path: Path) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    store = sqlalchemy_sqlite(tmp_path)
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'sa.db'}")
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("DROP TABLE events"))
    engine.dispose()
    with pytest.raises(StorageError, match="workload report failed"):
        workload(store, week_workload())
    store.close()
    sqlite_store = SQLiteStore(tmp_path / "plain.db")
    with sqlite3.connect(tmp_path / "plain.db") as conn:
        conn.execute("DROP TABLE messages")
    with pytest.raises(StorageError, match="workload report failed"):
        next_response_times(sqlite_store, week_responses())
    sqlite_store.close()


# ----------------------------------------------------------------------- edges


@pytest.mark.parametrize("kind", ["memory", "sqlite", "sqlalchemy-sqlite", "public-api"])
def test_an_empty_store_gives_no_agents_and_zeros(kind: str, tmp_path: Path) -> None:
    store = MAKERS[kind](tmp_path)
    assert workload(store, week_workload()).rows == ()
    (everyone,) = workload(store, week_workload(group_by="none")).rows
    nothing = DurationStats(0, None, None, ())
    assert everyone == WorkloadRow(None, 0, 0, 0, 0, nothing, 0, 0)
    responses = next_response_times(store, week_responses())
    assert responses.rows == (responses.total,)
    assert (responses.total.next_response, responses.total.unanswered) == (nothing, 0)
    assert next_response_times(store, week_responses(group_by="team")).rows == ()
    store.close()


def test_a_report_row_is_found_by_its_group(reference: Store) -> None:
    report = workload(reference, week_workload())
    ana = report.row("ana")
    assert ana is not None
    assert ana.entries == 5
    assert report.row("nobody") is None


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"period_to": MARCH_2}, ("period_to",)),
        ({"period_from": datetime(2026, 3, 2)}, ("period_from",)),
        ({"group_by": "customer"}, ("group_by",)),
        ({"channel": "pigeon"}, ("channel", 0)),
        ({"team": []}, ("team",)),
        ({"unknown": 1}, ("unknown",)),
    ],
)
def test_a_bad_query_raises_invalid_input_naming_the_field(
    options: dict[str, Any], field: tuple[object, ...]
) -> None:
    values: dict[str, Any] = {"period_from": MARCH_2, "period_to": MARCH_9, **options}
    for query in (WorkloadQuery, NextResponseQuery):
        with pytest.raises(InvalidInput) as raised:
            query(**values)
        assert any(error.location[: len(field)] == field for error in raised.value.errors)


def test_replies_are_counted_up_to_the_end_of_the_period_at_least() -> None:
    with pytest.raises(InvalidInput) as raised:
        week_responses(as_of=at(8, 0))
    assert raised.value.errors[0].location[0] == "as_of"
    assert week_responses().until == MARCH_9
    with pytest.raises(InvalidInput):
        week_workload(group_by="channel")
    with pytest.raises(InvalidInput):
        week_responses(group_by="agent")


def test_the_query_and_store_must_be_the_right_kinds() -> None:
    with pytest.raises(InvalidInput, match="WorkloadQuery"):
        workload(MemoryStore(), week_responses())  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="NextResponseQuery"):
        next_response_times(MemoryStore(), {"period_from": MARCH_2})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="Store"):
        workload("desk.db", week_workload())  # type: ignore[arg-type]


def test_a_store_read_through_its_api_pages_through_its_tickets(
    reference: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    public = RecordStore(MemoryRecorder())
    clock = FrozenClock(at(1, 0, month=2))
    write_fixed_history(Desk(public, clock=clock), clock)
    monkeypatch.setattr(_workload_memory, "PAGE", 2)
    for group_by in ("agent", "team"):
        assert workload(public, week_workload(group_by=group_by)).rows == (
            workload(reference, week_workload(group_by=group_by)).rows
        )
    assert next_response_times(public, week_responses()) == next_response_times(
        reference, week_responses()
    )
