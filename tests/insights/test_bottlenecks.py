"""Dwell times and bottlenecks (:mod:`aftersales.insights.bottlenecks`): a small fixed
history of tickets and a return, each stay checked against durations worked out by hand,
and every store (MemoryStore, SQLiteStore, SQLAlchemyStore on SQLite, PostgreSQL and
MariaDB) giving the same report on it and on a generated history.

PostgreSQL and MariaDB are taken from AFTERSALES_TEST_POSTGRES_URL and
AFTERSALES_TEST_MYSQL_URL (defaults: this machine's loopback servers); without them
those stores skip, naming the variable (in CI they fail instead).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from case_facts import claim_line
from insight_stores import MAKERS as ALL_MAKERS
from insight_stores import filled, sqlalchemy_sqlite

from aftersales import (
    CaseKind,
    Desk,
    FrozenClock,
    InvalidInput,
    MemoryStore,
    SQLiteStore,
    StorageError,
    Store,
)
from aftersales.insights import _dwell_sql
from aftersales.insights.bottlenecks import (
    Bottleneck,
    DwellQuery,
    DwellReport,
    StateDwell,
    bottlenecks,
    dwell_times,
)
from aftersales.insights.history import generate_history
from aftersales.storage.recorder import MemoryRecorder, RecordStore

UTC = timezone.utc
HOUR, DAY = 3600, 86400
MARCH_2 = datetime(2026, 3, 2, tzinfo=UTC)
MARCH_9 = datetime(2026, 3, 9, tzinfo=UTC)
GENERATED_START = datetime(2026, 6, 1, tzinfo=UTC)
GENERATED_DAYS = 60


def at(day: int, hour: int, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


# ----------------------------------------------------------------------- the fixed history

PREP = "classify, assign, start"

# name: (created, team, steps as (seconds after creation, what happens))
TICKETS: dict[str, tuple[datetime, str, list[tuple[int, str]]]] = {
    # waits on the customer 4 hours (messages on either side split nothing), resolved,
    # confirmed a day later, closed a day after that; its return is below
    "a1": (at(2, 9), "billing", [(0, PREP), (HOUR, "message"), (HOUR, "wait"),
                                 (5 * HOUR, "message"), (5 * HOUR, "resume"),
                                 (6 * HOUR, "resolve"), (30 * HOUR, "confirm"),
                                 (54 * HOUR, "close")]),
    # asks the customer after 2 hours and is still waiting on March 9
    "a2": (at(3, 9), "repairs", [(0, PREP), (2 * HOUR, "wait")]),
    # never classified: new for 4 days 12 hours by March 9
    "a3": (at(4, 12), "billing", [(HOUR, "message")]),
    # cancelled after 2 hours: a finished subject's last state is not waiting
    "a4": (at(5, 0), "repairs", [(0, PREP), (2 * HOUR, "cancel")]),
    # waits from March 8 22:00 and resumes after March 9: cut at March 9
    "a6": (at(8, 20), "billing", [(0, PREP), (2 * HOUR, "wait"), (8 * HOUR, "resume")]),
    # created before the week and at its end: in no count of it
    "a0": (at(1, 9), "billing", [(0, PREP), (HOUR, "wait")]),
    "a9": (MARCH_9, "billing", [(0, PREP), (HOUR, "wait")]),
}  # fmt: skip

RETURN_OPENED = at(2, 15)  # on a1; approved at once
# (seconds after the request, trigger, payload): awaiting goods a day, inspected after
# 2 hours, then left inspected (open) until March 9
RETURN_STEPS: list[tuple[int, str, dict[str, Any]]] = [
    (HOUR, "send_instructions", {"method": "label", "tracking": "SF1"}),
    (25 * HOUR, "receive", {"units": {"l1": 2}}),
    (27 * HOUR, "inspect", {"results": {"l1": ["restock", "restock"]}}),
]


def write_fixed_history(desk: Desk, clock: FrozenClock) -> None:
    ids: dict[str, str] = {}
    for name, (created, team, steps) in TICKETS.items():
        clock.set(created)
        ticket = desk.open_ticket(customer=f"customer-{name}", channel="email", subject=name)
        ids[name] = ticket.id
        for offset, step in steps:
            clock.set(created + timedelta(seconds=offset))
            if step == PREP:
                desk.classify(ticket.id, category="other", severity="low", priority="normal")
                desk.assign(ticket.id, assignee=f"agent-{team}", team=team)
                desk.fire(ticket.id, "start")
            elif step == "message":
                desk.add_message(ticket.id, "Any news?", author_id=f"customer-{name}")
            else:
                trigger = {"wait": "wait_for_customer"}.get(step, step)
                payload = {
                    "resolve": {"resolution": "done"},
                    "cancel": {"reason": "duplicate"},
                }.get(step)
                desk.fire(ticket.id, trigger, payload=payload)
    clock.set(RETURN_OPENED)
    case = desk.cases.request_return(ids["a1"], order_id="o-1", lines=[claim_line()])
    for offset, trigger, payload in RETURN_STEPS:
        clock.set(RETURN_OPENED + timedelta(seconds=offset))
        desk.cases.fire(case.id, trigger, payload=payload)


# ----------------------------------------------------------------------- the stores


MAKERS = {kind: make for kind, make in ALL_MAKERS.items() if kind != "public-api"}
"""Dwell times need SQL or MemoryStore's own objects: no public-API store."""


def populated(kind: str, folder: Path) -> Store:
    """A store holding the fixed history, then a generated one from June on (so it adds
    nothing to the fixed week)."""
    return filled(kind, folder, write_histories)


def write_histories(store: Store) -> None:
    clock = FrozenClock(at(1, 9))
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
    """The same histories on a MemoryStore: the report every store must give."""
    return populated("memory", Path("."))


def week(**options: Any) -> DwellQuery:
    return DwellQuery(created_from=MARCH_2, created_to=MARCH_9, **options)


def generated(**options: Any) -> DwellQuery:
    return DwellQuery(
        created_from=GENERATED_START,
        created_to=GENERATED_START + timedelta(days=GENERATED_DAYS),
        **options,
    )


def states(report: DwellReport) -> dict[tuple[str | None, str, str], StateDwell]:
    return {(s.group, s.kind, s.state): s for s in report.states}


def waits(report: DwellReport) -> dict[tuple[str, str, str | None], float]:
    """Each transition's total wait in seconds (one group)."""
    return {(t.kind, t.state, t.trigger): t.total_seconds for t in report.transitions}


# ----------------------------------------------------------------------- hand-computed

# The week's stays (seconds), created March 2 to 9 and cut at March 9 00:00:
# tickets
#   new:          a3 388800 (March 4 12:00 to 9 00:00, still new); a1 a2 a4 a6 0
#   classified, assigned: a1 a2 a4 a6 0 each
#   in_progress:  a1 3600 (to wait) and 3600 (to resolve); a2 7200 (wait); a4 7200
#                 (cancel: its cancelled state is not counted); a6 7200 (wait)
#   waiting_on_customer: a1 14400 (to resume; the messages inside split nothing); a2
#                 478800 (March 3 11:00 to 9 00:00, still there); a6 7200 (March 8 22:00
#                 to 9 00:00; resumed after)
#   resolved:     a1 86400 (to confirm)
#   confirmed:    a1 86400 (to close); closed: not counted
#   total 388800 + 28800 + 500400 + 86400 + 86400 = 1090800
# the return (a1's, billing)
#   requested 0 (approved at once), approved 3600, awaiting_goods 86400, received 7200,
#   inspected 453600 (March 3 18:00 to 9 00:00, open); total 550800
# everything: 1641600


def test_each_states_stays_match_the_hand_computed_durations(any_store: Store) -> None:
    report = dwell_times(any_store, week())
    found = states(report)
    assert set(found) == {
        (None, "ticket", state)
        for state in (
            "new", "classified", "assigned", "in_progress", "waiting_on_customer",
            "resolved", "confirmed",
        )
    } | {
        (None, "return", state)
        for state in ("requested", "approved", "awaiting_goods", "received", "inspected")
    }  # fmt: skip
    totals = {key[1:]: (s.dwell.count, s.total_seconds) for key, s in found.items()}
    assert totals == {
        ("ticket", "new"): (5, 388800.0),
        ("ticket", "classified"): (4, 0.0),
        ("ticket", "assigned"): (4, 0.0),
        ("ticket", "in_progress"): (5, 28800.0),
        ("ticket", "waiting_on_customer"): (3, 500400.0),
        ("ticket", "resolved"): (1, 86400.0),
        ("ticket", "confirmed"): (1, 86400.0),
        ("return", "requested"): (1, 0.0),
        ("return", "approved"): (1, 3600.0),
        ("return", "awaiting_goods"): (1, 86400.0),
        ("return", "received"): (1, 7200.0),
        ("return", "inspected"): (1, 453600.0),
    }
    # shares are of the kind's total: 500400 / 1090800, 453600 / 550800
    waiting = found[None, "ticket", "waiting_on_customer"]
    assert waiting.share == pytest.approx(500400 / 1090800)
    assert found[None, "return", "inspected"].share == pytest.approx(453600 / 550800)
    assert found[None, "ticket", "assigned"].share == 0.0
    # waiting on the customer: 7200 (bucket 51: 6888-8190 s), 14400 (55: 13777-16382 s),
    # 478800 (75: 440871-524286 s). Median rank 1.5 is half into bucket 55: 13777 +
    # 0.5 * 2606 = 15080. p90 rank 2.7 is 0.7 into bucket 75: 440871 + 0.7 * 83416.
    assert waiting.dwell.histogram == ((51, 1), (55, 1), (75, 1))
    assert waiting.dwell.median_seconds == 15080.0
    assert waiting.dwell.p90_seconds == pytest.approx(440871 + 0.7 * 83416)
    # in progress: 3600 twice (47: 3444-4094 s), 7200 three times (51): median rank 2.5
    # is 0.5 of bucket 51's 3 in: 6888 + 1303 / 6
    progress = found[None, "ticket", "in_progress"].dwell
    assert progress.histogram == ((47, 2), (51, 3))
    assert progress.median_seconds == pytest.approx(6888 + 1303 / 6)
    assert report.totals == ((None, 1641600.0),)


def test_the_waits_before_each_transition(any_store: Store) -> None:
    report = dwell_times(any_store, week())
    assert waits(report) == {
        ("ticket", "new", "classify"): 0.0,
        ("ticket", "new", None): 388800.0,
        ("ticket", "classified", "assign"): 0.0,
        ("ticket", "assigned", "start"): 0.0,
        ("ticket", "in_progress", "wait_for_customer"): 18000.0,
        ("ticket", "in_progress", "resolve"): 3600.0,
        ("ticket", "in_progress", "cancel"): 7200.0,
        ("ticket", "waiting_on_customer", "resume"): 14400.0,
        ("ticket", "waiting_on_customer", None): 486000.0,
        ("ticket", "resolved", "confirm"): 86400.0,
        ("ticket", "confirmed", "close"): 86400.0,
        ("return", "requested", "approve"): 0.0,
        ("return", "approved", "send_instructions"): 3600.0,
        ("return", "awaiting_goods", "receive"): 86400.0,
        ("return", "received", "inspect"): 7200.0,
        ("return", "inspected", None): 453600.0,
    }
    # ordered by kind, state, then trigger (still running last)
    keys = [(t.kind, t.state, t.trigger) for t in report.transitions]
    assert keys[:2] == [
        ("return", "approved", "send_instructions"),
        ("return", "awaiting_goods", "receive"),
    ]
    assert keys.index(("ticket", "new", "classify")) + 1 == keys.index(("ticket", "new", None))
    still = next(t for t in report.transitions if t.trigger is None and t.state == "new")
    assert still.share == pytest.approx(388800 / 1090800)


def test_the_bottlenecks_ranked_by_total_wait(any_store: Store) -> None:
    ranked = bottlenecks(any_store, week(), limit=6)
    assert [(b.rank, b.kind, b.state, b.trigger, b.total_seconds) for b in ranked] == [
        (1, "ticket", "waiting_on_customer", None, 486000.0),
        (2, "return", "inspected", None, 453600.0),
        (3, "ticket", "new", None, 388800.0),
        # ties by kind, state
        (4, "return", "awaiting_goods", "receive", 86400.0),
        (5, "ticket", "confirmed", "close", 86400.0),
        (6, "ticket", "resolved", "confirm", 86400.0),
    ]
    first = ranked[0]
    assert first == Bottleneck(
        rank=1,
        group=None,
        kind="ticket",
        state="waiting_on_customer",
        trigger=None,
        count=2,
        total_seconds=486000.0,
        share=pytest.approx(486000 / 1641600),
        # 7200 (51) and 478800 (75): rank 1 ends bucket 51, rank 1.8 is 0.8 into 75
        median_seconds=8191.0,
        p90_seconds=pytest.approx(440871 + 0.8 * 83416),
    )
    by_state = bottlenecks(any_store, week(), by="state", limit=None)
    assert [(b.kind, b.state) for b in by_state[:3]] == [
        ("ticket", "waiting_on_customer"),
        ("return", "inspected"),
        ("ticket", "new"),
    ]
    assert len(by_state) == 12
    assert {b.trigger for b in by_state} == {None}
    assert sum(b.share or 0 for b in by_state) == pytest.approx(1.0)
    assert by_state[0].share == pytest.approx(500400 / 1641600)


def test_rows_per_team_with_a_case_counted_with_its_tickets_team(any_store: Store) -> None:
    report = dwell_times(any_store, week(group_by="team"))
    # billing: a1 (194400), a6 (14400) and a1's return (550800); repairs: a2 (486000), a4
    # (7200); no team: a3 (388800), never assigned
    assert report.totals == (("billing", 759600.0), ("repairs", 493200.0), (None, 388800.0))
    found = states(report)
    assert found["billing", "return", "inspected"].total_seconds == 453600.0
    assert found["repairs", "ticket", "waiting_on_customer"].total_seconds == 478800.0
    assert found["repairs", "ticket", "waiting_on_customer"].share == pytest.approx(478800 / 493200)
    assert ("repairs", "return", "inspected") not in found
    ranked = bottlenecks(any_store, week(group_by="team"), limit=2)
    assert [(b.group, b.rank, b.state, b.trigger, b.total_seconds) for b in ranked] == [
        ("billing", 1, "inspected", None, 453600.0),
        # three waits of a day tie: by kind, state
        ("billing", 2, "awaiting_goods", "receive", 86400.0),
        ("repairs", 1, "waiting_on_customer", None, 478800.0),
        # a4's 7200 s before cancelling and a2's before waiting tie: by trigger
        ("repairs", 2, "in_progress", "cancel", 7200.0),
        (None, 1, "new", None, 388800.0),
    ]
    only_repairs = dwell_times(any_store, week(team="repairs"))
    assert only_repairs.totals == ((None, 493200.0),)


def test_a_shorter_period_and_an_earlier_as_of(any_store: Store) -> None:
    # created March 2 to 4: a1, a2 and the return; a3 (March 4 12:00) and later are not
    report = dwell_times(
        any_store, DwellQuery(created_from=MARCH_2, created_to=at(4, 0), as_of=MARCH_9)
    )
    found = states(report)
    assert found[None, "ticket", "new"].dwell.count == 2
    assert found[None, "ticket", "waiting_on_customer"].total_seconds == 14400 + 5 * DAY + 13 * HOUR
    # as of March 3 12:00: a1 resolved at March 2 15:00 and still so (confirmed at 15:00);
    # a2 in progress since 09:00, waiting since 11:00; the return awaiting goods
    # since March 2 16:00; a6 and the later are created after and count nothing
    early = dwell_times(any_store, week(as_of=at(3, 12)))
    assert waits(early) == {
        ("ticket", "new", "classify"): 0.0,
        ("ticket", "classified", "assign"): 0.0,
        ("ticket", "assigned", "start"): 0.0,
        ("ticket", "in_progress", "wait_for_customer"): 10800.0,
        ("ticket", "in_progress", "resolve"): 3600.0,
        ("ticket", "waiting_on_customer", "resume"): 14400.0,
        ("ticket", "waiting_on_customer", None): 3600.0,
        ("ticket", "resolved", None): 21 * HOUR,
        ("return", "requested", "approve"): 0.0,
        ("return", "approved", "send_instructions"): 3600.0,
        ("return", "awaiting_goods", None): 20 * HOUR,
    }


def test_only_some_kinds(any_store: Store) -> None:
    returns = dwell_times(any_store, week(kind="return"))
    by_member = dwell_times(any_store, week(kind=CaseKind.RETURN))
    assert (by_member.states, by_member.totals) == (returns.states, returns.totals)
    assert {s.kind for s in returns.states} == {"return"}
    assert returns.totals == ((None, 550800.0),)
    tickets = dwell_times(any_store, week(kind=["ticket"]))
    assert tickets.totals == ((None, 1090800.0),)
    everything = dwell_times(any_store, week())
    named = dwell_times(any_store, week(kind=("ticket", "return", "repair")))
    assert (named.states, named.transitions) == (everything.states, everything.transitions)


# ----------------------------------------------------------------------- every store agrees


@pytest.mark.parametrize(
    "query",
    [
        generated(),
        generated(group_by="team"),
        generated(kind=("repair", "refund"), as_of=GENERATED_START + timedelta(days=30)),
        generated(team=("care", "repairs"), group_by="team"),
    ],
    ids=["all", "per-team", "repairs-and-refunds-mid-period", "two-teams"],
)
def test_every_store_gives_the_reference_report_on_a_generated_history(
    any_store: Store, reference: Store, query: DwellQuery
) -> None:
    expected = dwell_times(reference, query)
    assert len(expected.transitions) > 5
    assert dwell_times(any_store, query) == expected
    assert bottlenecks(any_store, query, limit=None) == bottlenecks(reference, query, limit=None)


def test_sqlite_without_the_math_functions_counts_by_a_ladder(
    reference: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = populated("sqlite", tmp_path)
    for dialect in (_dwell_sql.Ladder(), _dwell_sql.Ladder(_dwell_sql.STRFTIME)):
        monkeypatch.setattr(_dwell_sql, "_sqlite_dialect", lambda execute, d=dialect: d)
        assert dwell_times(store, generated()) == dwell_times(reference, generated())
    store.close()


def test_the_dialect_probe_falls_back_where_sqlite_lacks_a_function() -> None:
    def lacking(*missing: str) -> Callable[[str], object]:
        def execute(sql: str) -> object:
            if any(name in sql for name in missing):
                raise sqlite3.OperationalError("no such function")
            return None

        return execute

    assert type(_dwell_sql._sqlite_dialect(lacking())) is _dwell_sql.SQLiteSeconds
    assert type(_dwell_sql._sqlite_dialect(lacking("log2"))) is _dwell_sql.Ladder
    strftime = _dwell_sql._sqlite_dialect(lacking("unixepoch"))
    assert "strftime" in strftime.micros("a", "b")


def test_a_fraction_just_under_a_second_is_not_rounded_up(tmp_path: Path) -> None:
    # SQLite parses times to the millisecond: .999700 would round to the next second
    created = datetime(2026, 3, 2, 9, 0, 0, 999_700, tzinfo=UTC)
    left = datetime(2026, 3, 2, 10, 0, 0, 100, tzinfo=UTC)
    found = []
    for kind in ("memory", "sqlite", "sqlalchemy-sqlite"):
        store = MAKERS[kind](tmp_path)
        clock = FrozenClock(created)
        desk = Desk(store, clock=clock)
        ticket = desk.open_ticket(customer="c", channel="email", subject="s")
        clock.set(left)
        desk.classify(ticket.id, category="other", severity="low", priority="normal")
        report = dwell_times(store, week())
        found.append(states(report)[None, "ticket", "new"].total_seconds)
        store.close()
    assert found == [3599.000400] * 3


# ----------------------------------------------------------------------- edges


def test_an_empty_store_gives_an_empty_report(tmp_path: Path) -> None:
    for store in (MemoryStore(), SQLiteStore(tmp_path / "empty.db")):
        report = dwell_times(store, week())
        assert (report.states, report.transitions, report.totals) == ((), (), ())
        assert bottlenecks(store, week()) == ()
        store.close()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"created_to": MARCH_2}, "created_to"),
        ({"created_to": datetime(2026, 3, 9)}, "created_to"),  # no timezone
        ({"kind": ()}, "kind"),
        ({"team": [""]}, "team"),
        ({"group_by": "channel"}, "group_by"),
        ({"as_of": "yesterday"}, "as_of"),
    ],
)
def test_a_bad_query_is_refused_naming_the_field(options: dict[str, Any], field: str) -> None:
    arguments: dict[str, Any] = {"created_from": MARCH_2, "created_to": MARCH_9, **options}
    with pytest.raises(InvalidInput) as raised:
        DwellQuery(**arguments)
    assert field in str(raised.value)


def test_bad_arguments_are_refused() -> None:
    store = MemoryStore()
    with pytest.raises(InvalidInput, match="DwellQuery"):
        dwell_times(store, {"created_from": MARCH_2})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="DwellQuery"):
        bottlenecks(store, "week")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="by"):
        bottlenecks(store, week(), by="kind")  # type: ignore[arg-type]
    for limit in (0, -1, True, 2.5):
        with pytest.raises(InvalidInput, match="limit"):
            bottlenecks(store, week(), limit=limit)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="RecordStore"):
        dwell_times(RecordStore(MemoryRecorder()), week())


def test_a_failing_database_raises_storage_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "broken.db")
    with sqlite3.connect(tmp_path / "broken.db") as conn:
        conn.execute("DROP TABLE events")
    with pytest.raises(StorageError, match="dwell times failed"):
        dwell_times(store, week())
    store.close()
    broken = sqlalchemy_sqlite(tmp_path)
    with sqlite3.connect(tmp_path / "sa.db") as conn:
        conn.execute("DROP TABLE events")
    with pytest.raises(StorageError, match="dwell times failed"):
        dwell_times(broken, week())
    broken.close()
