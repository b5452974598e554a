"""The race and crash contracts (aftersales.testing.contracts) on every shipped store,
and delivery and odd-text tests on every store that several processes can share.

Four processes fire random valid triggers on the same tickets; a child is killed with
SIGKILL at random points inside transitions; two writers race for the last units of an
order line. Afterwards no update is lost, every ticket's events replay to its stored
state, versions are gapless, and every notification of a committed transition reaches an
idempotent receiver.
"""

from __future__ import annotations

import multiprocessing
import random
from datetime import datetime, timezone
from pathlib import Path

import pytest

from aftersales import Desk, FrozenClock, MemoryStore, Notification, SQLiteStore, Store
from aftersales.testing.contracts import CrashContract, RaceContract

sqlalchemy = pytest.importorskip(
    "sqlalchemy", reason='needs the sql extra: pip install "aftersales[sql]"'
)

from aftersales.storage.sqlalchemy import SQLAlchemyStore  # noqa: E402
from test_sqlalchemy_store import fresh_store, server_url  # noqa: E402

FORK = multiprocessing.get_context("fork")


class TestMemoryStoreRaces(RaceContract):
    def make_store(self) -> Store:
        self.shared = MemoryStore()
        return self.shared

    def open_store(self) -> Store:
        return self.shared  # one store in one process: its lock is the only connection


class TestRecordStoreRaces(RaceContract):
    def make_store(self) -> Store:
        from aftersales.storage.recorder import MemoryRecorder, RecordStore

        self.shared = RecordStore(MemoryRecorder())
        return self.shared

    def open_store(self) -> Store:
        return self.shared  # one recorder in one process: its lock is the only connection


class TestSQLiteStoreRacesAndCrashes(CrashContract):
    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.path = tmp_path / "shared.db"

    def make_store(self) -> Store:
        return SQLiteStore(self.path)

    def open_store(self) -> Store:
        return SQLiteStore(self.path)


class TestRecordStoreOnSQLiteRacesAndCrashes(CrashContract):
    """The generic store over the SQLite recorder, several processes on one file."""

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.path = tmp_path / "shared.db"

    def make_store(self) -> Store:
        from aftersales.storage.recorder import RecordStore, SQLiteRecorder

        return RecordStore(SQLiteRecorder(self.path))

    def open_store(self) -> Store:
        from aftersales.storage.recorder import RecordStore, SQLiteRecorder

        return RecordStore(SQLiteRecorder(self.path))


class _ServerRacesAndCrashes(CrashContract):
    server = ""

    def make_store(self) -> Store:
        self.url = server_url(self.server)
        return fresh_store(self.url)

    def open_store(self) -> Store:
        return SQLAlchemyStore(self.url)


class TestPostgreSQLRacesAndCrashes(_ServerRacesAndCrashes):
    server = "postgresql"


class TestMariaDBRacesAndCrashes(_ServerRacesAndCrashes):
    server = "mariadb"


class TestSQLAlchemyOnSQLiteRaces(RaceContract):
    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.url = f"sqlite:///{tmp_path / 'sa.db'}"

    def make_store(self) -> Store:
        return SQLAlchemyStore(self.url)

    def open_store(self) -> Store:
        return SQLAlchemyStore(self.url)


def _store(spec: str) -> Store:
    kind, _, location = spec.partition(":")
    return SQLiteStore(location) if kind == "sqlite" else SQLAlchemyStore(location)


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'shared.db'}"
    url = server_url(request.param)
    fresh_store(url).close()
    return f"sql:{url}"


def test_flaky_and_failing_receivers_on_every_store(spec: str) -> None:
    rng = random.Random(3)
    received: set[str] = set()

    def sometimes(notification: Notification) -> None:
        if rng.random() < 0.3:
            raise TimeoutError("flaky")
        received.add(notification.key)

    def never(notification: Notification) -> None:
        raise ConnectionRefusedError("endpoint gone")

    clock = FrozenClock(datetime(2024, 3, 4, 9, tzinfo=timezone.utc))
    desk = Desk(
        _store(spec),
        clock=clock,
        settings={
            "max_delivery_attempts": 12,  # 0.3**12: a flaky receiver never exhausts them
            "retry_backoff_seconds": 1,
        },
    )
    desk.on_transition(sometimes, name="flaky")
    desk.on_transition(never, name="never")
    ids = [desk.open_ticket(customer="c", channel="app", subject=f"t{n}").id for n in range(20)]
    for ticket_id in ids:
        desk.classify(ticket_id, category="other", severity="low")
    for _ in range(12):  # one round per attempt, the clock past every backoff and lease
        clock.advance(hours=2)
        desk.dispatch_outbox(limit=1000)
    assert desk.outbox("pending") == []
    assert len(received) == 40
    dead = desk.outbox("dead")
    assert len(dead) == 40
    assert {n.last_error for n in dead} == {"ConnectionRefusedError: endpoint gone"}
    desk.close()


ODD_TEXT = [
    "'; DROP TABLE tickets; --",
    'quote " and \\ backslash and % percent _ underscore',
    "emoji 🙂🔥 and 中文 and 繁體 and ｆｕｌｌ－ｗｉｄｔｈ",
    "NUL-free control \t\r\n chars",
    "x" * 10_000,
]


def test_odd_text_round_trips_byte_for_byte_and_bad_values_change_nothing(spec: str) -> None:
    from aftersales import InvalidInput

    desk = Desk(_store(spec))
    for text in ODD_TEXT:
        ticket = desk.open_ticket(
            customer="c'; --",
            channel="email",
            subject=text[:200],
            description=text,
            tags=[text[:64]],
        )
        desk.add_message(ticket.id, text, author_id="agent 'x'")
        stored = desk.get(ticket.id)
        assert (stored.subject, stored.description, stored.tags) == (text[:200], text, (text[:64],))
        assert desk.messages(ticket.id)[0].body == text
        assert desk.find(customer_id="c'; --")[-1].id == ticket.id
    before = len(desk.find(limit=1000))
    for bad in (
        {"subject": "x" * 201},
        {"channel": "pigeon"},
        {"subject": 42},
        {"priority": "whenever"},
        {"customer": "c" * 129},
    ):
        fields = {"customer": "c", "channel": "email", "subject": "s", **bad}
        with pytest.raises(InvalidInput):
            desk.open_ticket(**fields)  # type: ignore[arg-type]
    assert len(desk.find(limit=1000)) == before
    ticket_id = desk.find(limit=1)[0].id
    with pytest.raises(InvalidInput):
        desk.fire(ticket_id, "classify", payload={"category": "x", "severity": "apocalyptic"})
    with pytest.raises(InvalidInput):
        desk.assign(ticket_id, assignee="a" * 129)
    assert len(desk.history(ticket_id)) == 2
    desk.close()
