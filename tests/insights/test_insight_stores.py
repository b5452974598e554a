"""The copy that fills the server stores of the insight tests (insight_stores.filled,
from a SQLiteStore in memory; the report's test copies a SQLite file) stores the rows a
desk writing on the store itself stores: every table, every column, with the ids made
the same way for both. It copies from any RecordStore (a MemoryRecorder's too)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from insight_stores import COPIED_TABLES, MAKERS, copy_rows, filled

from aftersales import ContactPoint, Customer, Desk, FrozenClock, MemoryStore, SQLiteStore, Store
from aftersales.insights import RiskRule, case_series, generate_history, watch_risk
from aftersales.storage.recorder import MemoryRecorder, RecordStore

sqlalchemy = pytest.importorskip("sqlalchemy")

START = datetime(2024, 3, 4, tzinfo=timezone.utc)
DAYS = 21
POLICY = {
    "name": "office hours",
    "calendar": {"hours": {str(day): ["09:00-17:00"] for day in range(5)}},
    "rules": [
        {
            "name": "standard",
            "targets": {"first_response": {"minutes": 240}, "resolution": {"minutes": 960}},
        }
    ],
}


def write(store: Store) -> None:
    """A history with every kind of row: tickets with SLA clocks, events, messages,
    outbox rows, cases, customers with contact points, and alerts kept as state."""
    contact = ContactPoint(channel="email", address="gold@example.com")
    store.save_customer(Customer(id="c-gold", name="Gold", tier="gold", contacts=[contact]))
    desk = Desk(store, clock=FrozenClock(START), sla=POLICY)
    generate_history(desk, tickets=24, start=START, days=DAYS, seed=3)
    returns = case_series(
        store,
        "return",
        first_day=START.date(),
        last_day=START.date() + timedelta(days=DAYS - 1),
        exposure="tickets",
    )
    watch_risk(desk, returns, RiskRule(baseline_windows=7, min_expected=0.1), name="returns")


@pytest.fixture
def same_ids(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """A function that restarts the ids (and survey tokens) the library makes, so two
    runs of :func:`write` make the same ones."""
    from aftersales.cases import surveys
    from aftersales.models import _base
    from aftersales.privacy import audit

    def restart() -> None:
        ticks = itertools.count(1_700_000_000_000_000_000, 1000)
        numbers = itertools.count()
        monkeypatch.setattr(_base, "time", SimpleNamespace(time_ns=lambda: next(ticks)))
        monkeypatch.setattr(
            _base, "os", SimpleNamespace(urandom=lambda n: next(numbers).to_bytes(n, "big"))
        )
        monkeypatch.setattr(audit, "_urandom", lambda n: next(numbers).to_bytes(n, "big"))
        monkeypatch.setattr(
            surveys, "secrets", SimpleNamespace(token_urlsafe=lambda n: f"t{next(numbers)}")
        )

    return restart


def dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, by primary key (all columns where there is none): on a
    SQLAlchemyStore from the database itself, on another RecordStore through its
    recorder (each table's rows in the order they were written, the contact points'
    owners and the ticket counter)."""
    from aftersales.storage.sqlalchemy import SQLAlchemyStore, metadata

    dumped: dict[str, list[tuple[Any, ...]]] = {}
    if isinstance(store, SQLAlchemyStore):
        with store.engine.connect() as conn:
            for table in metadata.sorted_tables:
                order = list(table.primary_key.columns) or list(table.columns)
                selected = conn.execute(sqlalchemy.select(table).order_by(*order))
                dumped[table.name] = [tuple(row) for row in selected]
        return dumped
    assert isinstance(store, RecordStore)
    recorder = store.recorder
    for table in (*COPIED_TABLES, "customers"):
        rows = recorder.reading(lambda records, t=table: records.select(t, {}))
        dumped[table] = [tuple(sorted(row.items())) for row in rows]  # as written
    contacts = [
        (contact.channel.value, contact.address)
        for row in dumped["customers"]
        for contact in Customer.model_validate_json(dict(row)["data"]).contacts
    ]
    owners = recorder.reading(lambda records: records.contact_owners(contacts))
    dumped["contact_points"] = list(zip(contacts, owners, strict=True))
    dumped["counters"] = [(recorder.atomically(lambda r: r.count("ticket_number")),)]
    return dumped


@pytest.mark.parametrize(
    ("kind", "from_recorder"),
    [
        ("public-api", False),
        ("sqlalchemy-sqlite", True),
        ("postgresql", False),
        ("mariadb", False),
    ],
)
def test_a_copied_history_holds_the_rows_the_desk_writes_on_the_store(
    kind: str, from_recorder: bool, tmp_path: Path, same_ids: Callable[[], None]
) -> None:
    (tmp_path / "written").mkdir()
    (tmp_path / "copied").mkdir()
    same_ids()
    written = MAKERS[kind](tmp_path / "written")
    try:
        write(written)
        expected = dump(written)
    finally:
        written.close()
    same_ids()
    source = RecordStore(MemoryRecorder()) if from_recorder else SQLiteStore(":memory:")
    write(source)
    copied = MAKERS[kind](tmp_path / "copied")
    try:
        assert isinstance(copied, RecordStore)
        copy_rows(source, copied)
        actual = dump(copied)
    finally:
        copied.close()
        source.close()
    assert {table: len(rows) for table, rows in expected.items()} == {
        table: len(rows) for table, rows in actual.items()
    }
    written_tables = ("tickets", "events", "messages", "cases", "customers", "contact_points")
    assert all(expected[table] for table in (*written_tables, "state", "counters"))
    assert expected == actual


@pytest.mark.parametrize("kind", ["memory", "sqlite", "public-api", "postgresql"])
def test_a_filled_store_holds_what_the_fill_wrote_and_takes_new_tickets(
    kind: str, tmp_path: Path
) -> None:
    from aftersales.storage import CaseQuery

    def next_ticket(store: Store) -> tuple[int, int, int]:
        """How many tickets and cases ``store`` holds, and the number it gives next."""
        desk = Desk(store, clock=FrozenClock(START + timedelta(days=DAYS)))
        held = len(desk.find(limit=1000)), len(store.find_cases(CaseQuery()))
        made = desk.open_ticket(customer="c-gold", channel="email", subject="after the fill")
        return (*held, made.number)

    reference = MemoryStore()
    write(reference)
    expected = next_ticket(reference)
    store = filled(kind, tmp_path, write)
    try:
        assert expected[:2] == (24, 4)
        assert next_ticket(store) == expected
        assert store.get_customer("c-gold").tier == "gold"
    finally:
        store.close()


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_a_server_database_emptied_for_reuse_is_the_one_a_fresh_store_makes(
    server: str,
) -> None:
    from insight_stores import _shape, emptied, server_store

    from aftersales.storage.sqlalchemy import SQLAlchemyStore
    from test_sqlalchemy_store import fresh_store, server_url

    def state(store: SQLAlchemyStore) -> tuple[Any, Any]:
        with store.engine.connect() as conn:
            shape = _shape(conn)
        return shape, dump(store)

    url = server_url(server)
    used = server_store(server)
    Desk(used, clock=FrozenClock(START)).open_ticket(customer="c", channel="email", subject="s")
    used.close()
    assert emptied(url)  # the tables kept, their rows deleted
    reused = SQLAlchemyStore(url)
    try:
        actual = state(reused)
    finally:
        reused.close()
    made = fresh_store(url)
    try:
        expected = state(made)
        assert dump(made)["counters"]  # the counters a fresh store starts with
    finally:
        made.close()
    assert actual == expected


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_a_server_database_of_another_shape_is_made_again(server: str) -> None:
    from insight_stores import emptied, server_store

    from test_sqlalchemy_store import server_url

    server_store(server).close()
    url = server_url(server)
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("DROP TABLE state"))
    engine.dispose()
    assert not emptied(url)
    store = server_store(server)
    try:
        assert store.get_state("missing") is None  # the table made again
    finally:
        store.close()
    assert emptied(url)
